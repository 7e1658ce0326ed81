"""The warehouse of the real KRX fixtures: facts, securities and calendar against the JSON."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pandas as pd
import pytest

from pipelines.calendar import (
    HISTORY_START,
    rebalance_effective_sessions,
    sessions_between,
    shift_sessions,
)
from pipelines.defs.assets.dbt import DbtCommand
from tests.helpers import (
    REAL_LANDING,
    REFERENCE_REBALANCE_DAYS,
    krx_int,
    query,
    records,
    rows,
    run_dbt,
)


def test_real_build_warns_on_the_missing_usdkrw_and_fails_on_nothing(real):
    """Without an ECOS file usdkrw is null: a missing input, so the not_null test warns (a gap)
    and the build succeeds."""
    assert real.build.returncode == 0
    assert real.build.failures() == []
    statuses = {r["unique_id"].split(".")[2]: r["status"] for r in real.build.results}
    assert statuses["not_null_fct_market_short_balances_usdkrw"] == "warn"
    assert rows(real.db, "select count(*), count(usdkrw) from marts.fct_short_balances") == [
        (919, 0)
    ]


def test_every_dbt_unit_test_passes_and_builds_leave_them_out(real, tmp_path):
    """The project's unit tests check logic on fixed inputs, so the pipeline's builds leave
    them out; here they all run (on a copy of the fixtures' warehouse, which holds the
    relations their inputs are typed from) and pass."""
    manifest = json.loads((real.target / "manifest.json").read_text())
    unit_tests = set(manifest["unit_tests"])
    assert len(unit_tests) >= 10
    assert not unit_tests & {r["unique_id"] for r in real.build.results}
    db = tmp_path / "real.duckdb"
    shutil.copyfile(real.db, db)
    run = run_dbt(db, tmp_path / "target", DbtCommand(["test", "--select", "test_type:unit"]))
    assert run.returncode == 0, run.output[-3000:]
    ran = {r["unique_id"]: r["status"] for r in run.results if r["unique_id"] in unit_tests}
    assert ran == dict.fromkeys(unit_tests, "pass")


def test_real_balances_fact_values(real):
    balances = {
        r["ISU_CD"]: r for r in records(REAL_LANDING / "krx/short_balance/KOSPI/2021-01-27.json")
    }
    fact = query(real.db, "select * from marts.fct_short_balances").set_index("ticker")
    assert set(fact.index) == set(balances)
    row = fact.loc["095570"]  # AJ네트웍스: 33,055 shares at 4,080 KRW
    assert (row.balance_qty, row.balance_krw, row.listed_shares) == (33055, 134864400, 46822295)
    assert row.close_krw == pytest.approx(4080)
    assert row.balance_ratio_pct == pytest.approx(0.07)
    assert row.published_on == pd.Timestamp("2021-01-29")  # T+2 session
    assert "00104K" in fact.index  # alphanumeric tickers survive
    # no ECOS file: no rate on or before the session, so no dollar figures
    assert fact.usdkrw.isna().all() and fact.usdkrw_rate_date.isna().all()
    assert fact.balance_usd.isna().all()


def test_real_trading_shares(real):
    trades = records(REAL_LANDING / "krx/short_trading/KOSDAQ/2021-01-04.json")
    fact = query(
        real.db, "select * from marts.fct_short_trades where trade_date = '2021-01-04'"
    ).set_index("ticker")
    assert len(fact) == len(trades)
    for r in trades:
        got = fact.loc[r["ISU_CD"]]
        total, short = krx_int(r["ACC_TRDVOL"]), krx_int(r["CVSRTSELL_TRDVOL"])
        assert got.short_volume == short and got.total_volume == total
        if total == 0:
            assert pd.isna(got.short_volume_share_pct)
        else:
            assert got.short_volume_share_pct == pytest.approx(100 * short / total)


def test_real_securities_master_and_daily_names(real):
    sec = query(real.db, "select * from marts.dim_securities")
    # KOSDAQ GLOBAL is KOSDAQ; the ISIN and listing date come from the master
    posco = sec[sec.ticker == "009520"].iloc[0]
    assert (posco["market"], posco["isin"], posco["listed_on"]) == (
        "KOSDAQ",
        "KR7009520008",
        pd.Timestamp("1997-11-10"),
    )
    # Kia was 기아차 in the 2021 daily files and is 기아 in the 2026 master: two versions
    kia = sec[sec.ticker == "000270"].sort_values("valid_from")
    assert list(kia.name) == ["기아차", "기아"]
    assert list(kia.is_current) == [False, True]
    assert kia.valid_to.iloc[0] == kia.valid_from.iloc[1] == pd.Timestamp("2026-01-25")
    assert sec.groupby("ticker").is_current.sum().eq(1).all()


def test_calendar_rebalance_days_and_publication(real):
    cal = query(real.db, "select * from marts.dim_trading_calendar order by session_date")
    days = [d.date() for d in cal.session_date]
    assert days == sessions_between(HISTORY_START, days[-1])
    effective = [d.date() for d in cal[cal.is_index_rebalance_effective].session_date]
    last = dt.date(2026, 12, 31)
    assert [d for d in effective if d <= last] == rebalance_effective_sessions(HISTORY_START, last)
    assert set(REFERENCE_REBALANCE_DAYS) <= set(effective)
    for _, row in cal.iloc[:-2].iterrows():
        d = row.session_date.date()
        assert row.balance_published_on.date() == shift_sessions(d, 2)
        assert row.week_start.date() == d - dt.timedelta(days=d.weekday())
        assert row.month.date() == d.replace(day=1)
