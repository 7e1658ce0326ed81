"""Rebuilding a built warehouse: incremental windows, retired tables, no securities master."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from pipelines.defs.assets.dbt import DbtCommand, build_dbt_command
from tests.helpers import rows, run_dbt, table_checksums


@pytest.mark.slow
def test_incremental_window_is_idempotent_and_half_open(sample, tmp_path):
    wh, _ = sample
    db = tmp_path / "incremental.duckdb"
    shutil.copy(wh.db, db)
    target = tmp_path / "target"
    day, next_day = dt.date(2021, 6, 10), dt.date(2021, 6, 11)  # Thursday, Friday (both sessions)

    with duckdb.connect(str(db), read_only=True) as con:
        before = table_checksums(con)
    rerun = run_dbt(db, target, build_dbt_command((day, next_day)))
    assert rerun.returncode == 0, rerun.output[-5000:]
    with duckdb.connect(str(db), read_only=True) as con:
        after = table_checksums(con)
    assert after == before

    # change the raw balances of both days; a run for [day, next_day) rebuilds only `day`
    ticker = rows(
        db,
        "select ticker from marts.fct_short_balances where trade_date = ? "
        "order by balance_qty desc",
        [day],
    )[0][0]
    with duckdb.connect(str(db)) as con:
        con.execute(
            "update raw.krx_short_balance set bal_qty = bal_qty + 1000 "
            "where isu_cd = ? and trade_date in (?, ?)",
            [ticker, day, next_day],
        )
    old = dict(
        rows(
            db,
            "select trade_date, balance_qty from marts.fct_short_balances "
            "where ticker = ? and trade_date in (?, ?)",
            [ticker, day, next_day],
        )
    )
    sql_rest = "select count(*), sum(hash(t)) from marts.{table} t where trade_date not in (?, ?)"
    untouched = {
        table: rows(db, sql_rest.format(table=table), [day, next_day])
        for table in ("fct_short_balances", "short_squeeze_watch", "top_short_balances")
    }
    boundary = run_dbt(db, target, build_dbt_command((day, next_day)))
    assert boundary.returncode == 0, boundary.output[-5000:]
    new = dict(
        rows(
            db,
            "select trade_date, balance_qty from marts.fct_short_balances "
            "where ticker = ? and trade_date in (?, ?)",
            [ticker, day, next_day],
        )
    )
    assert new[day] == old[day] + 1000
    assert new[next_day] == old[next_day]  # the window's end is exclusive
    watch = dict(
        rows(
            db,
            "select trade_date, balance_qty from marts.short_squeeze_watch "
            "where ticker = ? and trade_date in (?, ?)",
            [ticker, day, next_day],
        )
    )
    assert watch == new
    # the market totals against the raw rows: the window's session holds the change, the next
    # session still the totals from before it
    totals = {
        (d, market): delta
        for d, market, delta in rows(
            db,
            "select m.trade_date, m.market, m.total_balance_qty - s.qty "
            "from marts.fct_market_short_balances m "
            "join (select trade_date, market, sum(bal_qty) as qty "
            "from raw.krx_short_balance group by all) s using (trade_date, market) "
            "where m.trade_date in (?, ?)",
            [day, next_day],
        )
    }
    market = rows(
        db, "select distinct market from raw.krx_short_balance where isu_cd = ?", [ticker]
    )
    assert len(totals) == 4 and len(market) == 1
    assert totals == {key: -1000 if key == (next_day, market[0][0]) else 0 for key in totals}
    for table, checksum in untouched.items():
        assert rows(db, sql_rest.format(table=table), [day, next_day]) == checksum, table


def test_a_run_drops_the_tables_of_retired_models_and_nothing_else(sample, tmp_path):
    """A warehouse built by an earlier version keeps the table of a model since renamed
    (``retired_tables`` in dbt_project.yml): any dbt run drops it, and leaves a table of the
    user's own in the same schema."""
    wh, _ = sample
    db = tmp_path / "upgraded.duckdb"
    shutil.copy(wh.db, db)
    with duckdb.connect(str(db)) as con:
        con.execute("create table intermediate.int_security_observations as select 1 as x")
        con.execute("create table intermediate.my_notes as select 2 as y")
    run = run_dbt(db, tmp_path / "target", DbtCommand(["run", "--select", "stg_xkrx__sessions"]))
    assert run.returncode == 0, run.output[-3000:]
    tables = rows(
        db,
        "select table_name from information_schema.tables "
        "where table_schema = 'intermediate' and table_catalog = current_database() order by 1",
    )
    assert ("int_security_observations",) not in tables
    assert ("my_notes",) in tables and ("int_security_daily_observations",) in tables


@pytest.mark.slow
def test_daily_files_alone_build_every_fact_and_mart(sample, tmp_path):
    """No securities master at all: every model still builds; ISIN and listing date are null."""
    wh, truth = sample
    db = tmp_path / "no_master.duckdb"
    shutil.copy(wh.db, db)
    with duckdb.connect(str(db)) as con:
        con.execute("delete from raw.krx_securities")
        facts_before = {
            t: con.execute(f"select count(*), sum(hash(x)) from marts.{t} x").fetchone()
            for t in ("fct_short_balances", "short_eligibility_daily", "fct_market_short_balances")
        }
    build = run_dbt(db, tmp_path / "target", build_dbt_command(None, full_refresh=True))
    assert build.returncode == 0, build.output[-5000:]
    with duckdb.connect(str(db), read_only=True) as con:
        for table, checksum in facts_before.items():
            assert con.execute(
                f"select count(*), sum(hash(x)) from marts.{table} x"
            ).fetchone() == (checksum), table
        tickers, with_isin = con.execute(
            "select count(distinct ticker), count(isin) from marts.dim_securities"
        ).fetchone()
    assert tickers == len(truth.securities) and with_isin == 0
