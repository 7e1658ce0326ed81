"""fct_short_balances: the USD/KRW rate carried to each session and the T+2 publication."""

from __future__ import annotations

import shutil
from bisect import bisect_right

import duckdb
import pytest

from pipelines.calendar import shift_sessions
from pipelines.defs.assets.dbt import DbtCommand
from tests.helpers import query, rows, run_dbt


@pytest.mark.slow
def test_balances_carry_the_last_rate_on_or_before_their_session(sample, tmp_path):
    """Every ticker-day: the last ECOS rate published on or before its session, balance_usd
    from it, and the T+2 publication session. The sample's ECOS series has a rate on every
    session, so a copy loses its Monday rates first and its facts are rebuilt."""
    wh, _ = sample
    db = tmp_path / "gaps.duckdb"
    shutil.copy(wh.db, db)
    with duckdb.connect(str(db)) as con:
        con.execute("delete from raw.ecos_usdkrw where dayofweek(time) = 1")
        rates = con.execute("select time, data_value from raw.ecos_usdkrw order by 1").fetchall()
    run = run_dbt(db, tmp_path / "target", DbtCommand(["build", "--select", "fct_short_balances"]))
    assert run.returncode == 0, run.output[-3000:]
    rate_days = [d for d, _ in rates]
    fact = query(
        db,
        "select trade_date, balance_krw, usdkrw, usdkrw_rate_date, balance_usd, published_on "
        "from marts.fct_short_balances",
    )
    assert len(fact) == rows(db, "select count(*) from raw.krx_short_balance")[0][0]
    carried = 0
    for day, group in fact.groupby("trade_date"):
        session = day.date()
        position = bisect_right(rate_days, session)
        assert position > 0  # the sample's ECOS series starts on or before its first session
        rate_day, rate = rates[position - 1]
        carried += rate_day < session
        assert (group.usdkrw_rate_date.dt.date == rate_day).all()
        assert (group.usdkrw == rate).all()
        assert group.balance_usd.to_numpy() == pytest.approx(group.balance_krw / rate)
        assert (group.published_on.dt.date == shift_sessions(session, 2)).all()
    assert carried > 200  # the Mondays take the Friday's rate
