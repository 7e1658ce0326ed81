"""The dbt warehouse: values of the facts, dimensions and marts, checked independently.

Two warehouses are built once per module, each in its own DuckDB file:

* the real KRX responses of ``tests/fixtures/krx-real`` (no ECOS file: the usdkrw test must fail);
* a synthetic landing zone from ``pipelines.sample.generator`` (demo scale, 2020-01-02 to
  2025-04-30: all five short-sale regimes, semi-annual rebalances, ad-hoc index changes, renames,
  a market transfer), compared with the generator's truth and with figures recomputed in Python.

dbt runs as a subprocess (the project's ``dbt`` next to this interpreter) with
``KRX_DUCKDB_PATH`` pointing at the module's file and its artifacts in a temporary target folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines import settings
from pipelines.calendar import (
    HISTORY_START,
    rebalance_effective_sessions,
    sessions_between,
    shift_sessions,
)
from pipelines.raw.load import load_landing
from pipelines.raw.tables import create_raw_schema, write_sessions
from pipelines.regimes import REGIMES, regime_on
from pipelines.transform.assets import (
    WINDOW_ENV,
    DbtCommand,
    build_dbt_command,
    window_environment,
)
from tests.helpers import REAL_LANDING, krx_int, records, table_checksums

DBT = Path(sys.executable).parent / "dbt"
PROJECT_DIR = settings.DBT_PROJECT_DIR
SAMPLE_START, SAMPLE_END = dt.date(2020, 1, 2), dt.date(2025, 4, 30)
BAN_DAY = dt.date(2021, 1, 27)  # the real balance file: during the 2020-21 ban

#: Regular rebalance days as published (effective the session after the June/December expiry).
REFERENCE_REBALANCE_DAYS = [
    dt.date(*d)
    for d in [
        (2019, 6, 14), (2019, 12, 13), (2020, 6, 12), (2020, 12, 11), (2021, 6, 11),
        (2021, 12, 10), (2022, 6, 10), (2022, 12, 9), (2023, 6, 9), (2023, 12, 15),
        (2024, 6, 14), (2024, 12, 13), (2025, 6, 13), (2025, 12, 12), (2026, 6, 12),
        (2026, 12, 11),
    ]
]  # fmt: skip


# --- running dbt ------------------------------------------------------------------------------


@dataclass
class DbtRun:
    returncode: int
    results: list[dict]
    output: str
    seconds: float

    def failures(self) -> list[str]:
        """Unique ids of nodes that errored or failed (warnings excluded)."""
        return sorted(r["unique_id"] for r in self.results if r["status"] in ("error", "fail"))


def run_dbt(db: Path, target: Path, command: DbtCommand) -> DbtRun:
    env = {
        **{k: v for k, v in os.environ.items() if k not in WINDOW_ENV},
        **command.env,
        settings.DUCKDB_ENV: str(db),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target / "logs"),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(DBT),
            *command.args,
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
        ],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.monotonic() - started
    results_path = target / "run_results.json"
    results = json.loads(results_path.read_text())["results"] if results_path.exists() else []
    return DbtRun(proc.returncode, results, proc.stdout + proc.stderr, seconds)


def load_raw(db: Path, landing: Path) -> None:
    with duckdb.connect(str(db)) as con:
        create_raw_schema(con)
        write_sessions(con)
        report = load_landing(con, landing)
    assert not report.rejected, report.errors()


def query(db: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchdf()


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@dataclass
class Warehouse:
    db: Path
    target: Path
    build: DbtRun


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Warehouse:
    """The real KRX fixtures loaded and built (there is no ECOS file)."""
    base = tmp_path_factory.mktemp("dbt_real")
    db, target = base / "real.duckdb", base / "target"
    load_raw(db, REAL_LANDING)
    return Warehouse(db, target, run_dbt(db, target, build_dbt_command(None)))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A demo-scale sample over all five regimes, loaded and built; returns (warehouse, truth)."""
    from pipelines.sample.generator import generate

    base = tmp_path_factory.mktemp("dbt_sample")
    db, target, landing = base / "sample.duckdb", base / "target", base / "landing"
    truth = generate(landing, SAMPLE_START, SAMPLE_END, seed=7, scale="demo")
    load_raw(db, landing)
    build = run_dbt(db, target, build_dbt_command(None))
    assert build.returncode == 0, build.output[-5000:]
    return Warehouse(db, target, build), truth


# --- the dbt-args builder (pure) --------------------------------------------------------------


def test_build_dbt_command_without_window_builds_everything():
    assert build_dbt_command(None) == DbtCommand(["build"], {})


def test_build_dbt_command_passes_the_half_open_window_as_iso_dates():
    command = build_dbt_command((dt.date(2021, 1, 27), dt.date(2021, 1, 28)))
    assert command.args == ["build"]  # no --vars: they would cost a full re-parse per run
    assert command.env == {"KRX_DBT_MIN_DATE": "2021-01-27", "KRX_DBT_MAX_DATE": "2021-01-28"}


def test_build_dbt_command_full_refresh_drops_the_window():
    assert build_dbt_command(None, True) == DbtCommand(["build", "--full-refresh"], {})
    window = (dt.date(2021, 1, 27), dt.date(2021, 1, 28))
    assert build_dbt_command(window, True) == DbtCommand(["build", "--full-refresh"], {})


def test_window_environment_sets_and_restores_the_window(monkeypatch):
    monkeypatch.setenv("KRX_DBT_MIN_DATE", "2000-01-01")
    monkeypatch.delenv("KRX_DBT_MAX_DATE", raising=False)
    with window_environment({}):  # an unwindowed op never inherits a window
        assert "KRX_DBT_MIN_DATE" not in os.environ and "KRX_DBT_MAX_DATE" not in os.environ
    command = build_dbt_command((dt.date(2021, 1, 27), dt.date(2021, 1, 28)))
    with window_environment(command.env):
        assert os.environ["KRX_DBT_MIN_DATE"] == "2021-01-27"
        assert os.environ["KRX_DBT_MAX_DATE"] == "2021-01-28"
    assert os.environ["KRX_DBT_MIN_DATE"] == "2000-01-01" and "KRX_DBT_MAX_DATE" not in os.environ


def test_build_dbt_command_rejects_an_empty_window():
    with pytest.raises(ValueError, match="empty dbt window"):
        build_dbt_command((dt.date(2021, 1, 28), dt.date(2021, 1, 28)))


def test_each_warehouse_keeps_its_own_dbt_target_per_op(tmp_path):
    from pipelines.transform.assets import op_target_path

    full, month = tmp_path / "full" / "krx_short.duckdb", tmp_path / "month" / "krx_short.duckdb"
    other = tmp_path / "full" / "scratch.duckdb"
    targets = {op_target_path(db, op) for db in (full, month, other) for op in ("a", "b")}
    assert len(targets) == 6
    assert op_target_path(full, "a") == tmp_path / "full" / "dbt-target" / "krx_short" / "a"


def test_dbt_assets_split_into_three_acyclic_ops():
    import dagster as dg

    from pipelines.transform.assets import (
        dbt_asset_defs,
        dbt_resource,
        krx_dbt_foundation,
        krx_dbt_incremental,
        krx_dbt_rollups,
    )

    def keys(assets_def):
        return {k.to_user_string() for k in assets_def.keys}

    incremental = {
        "marts/fct_short_balances",
        "marts/fct_short_trades",
        "marts/fct_index_levels",
        "marts/short_eligibility_daily",
        "marts/top_short_balances",
        "marts/short_squeeze_watch",
        "marts/fct_stock_prices",
        "marts/fct_foreign_holdings",
        "marts/fct_short_trades_by_investor",
        "marts/sector_short_balances",
        "intermediate/int_market_daily_totals",
        "intermediate/int_security_daily_observations",
    }
    assert keys(krx_dbt_incremental) == incremental
    assert krx_dbt_incremental.partitions_def is not None
    assert {
        "marts/dim_trading_calendar",
        "marts/dim_short_sale_regimes",
        "marts/dim_index_memberships",
        "seeds/short_sale_regimes",
        "staging/stg_krx__short_balances",
    } <= keys(krx_dbt_foundation)
    assert {
        "marts/fct_market_short_balances",
        "marts/post_exclusion_residuals",
        "marts/index_weekly_returns",
        "marts/dim_securities",
    } <= keys(krx_dbt_rollups)
    # the foundation never reads what the later ops write
    later = keys(krx_dbt_incremental) | keys(krx_dbt_rollups)
    assert not {k.to_user_string() for k in krx_dbt_foundation.dependency_keys} & later
    assert not {k.to_user_string() for k in krx_dbt_incremental.dependency_keys} & keys(
        krx_dbt_rollups
    )
    # the dbt sources are the raw assets' keys
    upstream = set().union(*(a.dependency_keys for a in dbt_asset_defs)) - set().union(
        *(a.keys for a in dbt_asset_defs)
    )
    assert {k.path[0] for k in upstream} == {"raw"}
    assert {k.path[1] for k in upstream} >= {"krx_short_balance", "xkrx_sessions", "ecos_usdkrw"}
    assert {
        krx_dbt_foundation.group_names_by_key[dg.AssetKey(["staging", "stg_xkrx__sessions"])],
        krx_dbt_rollups.group_names_by_key[dg.AssetKey(["marts", "dim_securities"])],
    } == {"staging", "marts"}
    for assets_def in dbt_asset_defs:
        assert assets_def.op.pool == "duckdb"
    defs = dg.Definitions(assets=dbt_asset_defs, resources={"dbt": dbt_resource()})
    defs.resolve_all_job_defs()


# --- real KRX fixtures ------------------------------------------------------------------------


def test_real_build_fails_only_on_the_missing_usdkrw(real):
    """Without an ECOS file usdkrw is null and the error-severity test says so; nothing else."""
    assert real.build.returncode == 1
    failures = real.build.failures()
    assert len(failures) == 1
    assert failures[0].startswith("test.krx_short.not_null_fct_market_short_balances_usdkrw.")
    assert rows(real.db, "select count(*), count(usdkrw) from marts.fct_short_balances") == [
        (919, 0)
    ]


def test_real_kospi_market_figures_2021_01_27(real):
    balances = records(REAL_LANDING / "krx/short_balance/KOSPI/2021-01-27.json")
    levels = records(REAL_LANDING / "krx/index_ohlcv/KOSPI/2021.json")
    level = next(r for r in levels if r["TRD_DD"] == "2021/01/27")
    total_krw = sum(krx_int(r["BAL_AMT"]) for r in balances)
    with_balance = sum(krx_int(r["BAL_QTY"]) > 0 for r in balances)
    market_cap = krx_int(level["MKTCAP"])

    got = query(
        real.db,
        "select * from marts.fct_market_short_balances where trade_date = ? and market = 'KOSPI'",
        [BAN_DAY],
    ).iloc[0]
    assert got.total_balance_krw == total_krw
    assert got.tickers_with_balance == with_balance
    assert got.tickers_reported == len(balances) == 919
    assert got.market_cap_krw == market_cap
    assert got.balance_to_market_cap_pct == pytest.approx(100 * total_krw / market_cap)
    assert got.index_close == pytest.approx(3122.56)
    assert got.regime_id == 2 and got.regime_scope == "market_makers_only"
    assert pd.isna(got.usdkrw) and pd.isna(got.total_balance_usd)
    assert got.is_high_since_regime_start and got.change_since_regime_start_pct == 0


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


def test_real_everyone_is_ineligible_during_the_ban(real):
    got = query(
        real.db,
        "select is_eligible, scope, reason, count(*) as n from marts.short_eligibility_daily "
        "where trade_date = ? group by all",
        [BAN_DAY],
    )
    assert got.to_dict("records") == [
        {
            "is_eligible": False,
            "scope": "market_makers_only",
            "reason": "market-wide ban (market makers and liquidity providers exempt)",
            "n": 919,
        }
    ]


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


# --- the synthetic sample ---------------------------------------------------------------------


def test_sample_eligibility_matches_truth_in_every_regime(sample):
    wh, truth = sample
    got = query(wh.db, "select * from marts.short_eligibility_daily")
    seen_regimes = set()
    reasons = set()
    for r in got.itertuples(index=False):
        day = r.trade_date.date()
        assert r.regime_id == regime_on(day).regime_id
        assert r.is_eligible == truth.eligible(day, r.ticker), (day, r.ticker, r.reason)
        assert r.is_index_member == truth.is_member(r.index_code, day, r.ticker)
        seen_regimes.add(r.regime_id)
        reasons.add(r.reason)
    assert seen_regimes == {regime.regime_id for regime in REGIMES}
    assert {
        "all listed stocks eligible",
        "market-wide ban (market makers and liquidity providers exempt)",
        "KOSPI200 constituent under the constituents-only regime",
        "KOSDAQ150 constituent under the constituents-only regime",
        "not a KOSPI200 constituent under the constituents-only regime",
        "not a KOSDAQ150 constituent under the constituents-only regime",
    } == reasons
    # one row per ticker in that session's balance or trading files
    expected = rows(
        wh.db,
        "select count(*) from (select trade_date, ticker from marts.fct_short_balances "
        "union select trade_date, ticker from marts.fct_short_trades)",
    )
    assert expected == [(len(got),)]


def test_sample_memberships_match_truth_and_snapshots(sample):
    wh, truth = sample
    got = rows(
        wh.db,
        "select index_code, ticker, valid_from, valid_to, entry_kind, exit_kind "
        "from marts.dim_index_memberships order by all",
    )
    expected = sorted(
        (index_code, *interval)
        for index_code, intervals in truth.memberships.items()
        for interval in intervals
    )
    assert got == expected
    assert {r[4] for r in got} == {"initial", "regular_rebalance", "ad_hoc"}
    assert {r[5] for r in got} == {None, "regular_rebalance", "ad_hoc"}
    # a ticker that left and came back has two intervals
    per_ticker = defaultdict(int)
    for r in got:
        per_ticker[r[:2]] += 1
    assert max(per_ticker.values()) >= 2
    # every snapshot is reproduced by the intervals (membership changes only at snapshots)
    for index_code, snapshots in truth.snapshots.items():
        for day, members in snapshots.items():
            inside = sorted(
                r[1]
                for r in got
                if r[0] == index_code and r[2] <= day and (r[3] is None or day < r[3])
            )
            assert inside == sorted(members), (index_code, day)


def test_sample_residual_decay_after_leaving_kosdaq150(sample):
    wh, truth = sample
    residuals = query(wh.db, "select * from marts.post_exclusion_residuals")
    balances = query(wh.db, "select trade_date, ticker, balance_qty from marts.fct_short_balances")
    by_ticker = {
        ticker: sorted(zip(g.trade_date.dt.date, g.balance_qty, strict=True))
        for ticker, g in balances.groupby("ticker")
    }
    sessions = sessions_between(HISTORY_START, SAMPLE_END)
    position = {d: i for i, d in enumerate(sessions)}

    def independent(ticker, excluded_on, re_entered_on):
        series = by_ticker.get(ticker, [])
        before = [q for d, q in series if d < excluded_on]
        after = [
            (d, q)
            for d, q in series
            if d >= excluded_on and (re_entered_on is None or d < re_entered_on)
        ]
        if not before:
            return None, None, None
        at = before[-1]
        half = next((d for d, q in after if q <= at / 2), None)
        zero = next((d for d, q in after if q == 0), None)

        def steps(d):
            return None if d is None else position[d] - position[excluded_on]

        return at, steps(half), steps(zero)

    for r in residuals.itertuples(index=False):
        excluded_on = r.excluded_on.date()
        re_entered = None if pd.isna(r.re_entered_on) else r.re_entered_on.date()
        at, to_half, to_zero = independent(r.ticker, excluded_on, re_entered)
        assert r.balance_at_exclusion_qty == at
        assert (None if pd.isna(r.sessions_to_half) else r.sessions_to_half) == to_half
        assert (None if pd.isna(r.sessions_to_zero) else r.sessions_to_zero) == to_zero

    # the generator's record of every exclusion of a still-listed member
    got = {
        (r.index_code, r.ticker, r.excluded_on.date()): r for r in residuals.itertuples(index=False)
    }
    for index_code, ticker, excluded_on, balance, zero_on in truth.residuals:
        r = got[(index_code, ticker, excluded_on)]
        assert r.balance_at_exclusion_qty == balance
        assert (None if pd.isna(r.reached_zero_on) else r.reached_zero_on.date()) == zero_on

    # a designated KOSDAQ 150 leaver with a large balance decays to half within the sample
    leavers = residuals[
        (residuals.index_code == "KOSDAQ150") & residuals.ticker.isin(truth.designated_leavers)
    ]
    assert len(leavers) >= 1
    leaver = leavers.iloc[0]
    assert leaver.balance_at_exclusion_qty > 0
    assert leaver.sessions_to_half is not None and leaver.sessions_to_half > 0
    assert leaver.latest_balance_qty < leaver.balance_at_exclusion_qty


def test_sample_top50_matches_an_independent_ranking(sample):
    wh, _ = sample
    balances = query(
        wh.db,
        "select trade_date, market, ticker, balance_qty, balance_krw, balance_ratio_pct "
        "from marts.fct_short_balances where balance_qty > 0",
    )
    ranked = balances.sort_values(
        ["trade_date", "market", "balance_ratio_pct", "balance_krw", "ticker"],
        ascending=[True, True, False, False, True],
    )
    ranked["rank"] = ranked.groupby(["trade_date", "market"]).cumcount() + 1
    expected = ranked[ranked["rank"] <= 50][["trade_date", "market", "rank", "ticker"]]
    got = query(
        wh.db,
        "select trade_date, market, rank, ticker from marts.top_short_balances "
        "order by trade_date, market, rank",
    )
    assert got.values.tolist() == expected.values.tolist()
    assert got["rank"].max() == 50


def test_sample_weekly_streaks_across_holiday_weeks(sample):
    wh, _ = sample
    levels = query(
        wh.db, "select trade_date, index_code, close from marts.fct_index_levels order by 1, 2"
    )
    levels["week_start"] = levels.trade_date - pd.to_timedelta(levels.trade_date.dt.weekday, "D")
    expected = {}
    for index_code, g in levels.groupby("index_code"):
        previous, streak = None, 0
        for week_start, w in g.groupby("week_start"):
            close = w.sort_values("trade_date").close.iloc[-1]
            ret = None if previous is None else 100 * (close / previous - 1)
            streak = streak + 1 if ret is not None and ret > 0 else 0
            expected[(week_start, index_code)] = (close, ret, streak, len(w))
            previous = close
    got = query(wh.db, "select * from marts.index_weekly_returns")
    assert len(got) == len(expected)
    holiday_weeks_continuing_a_streak = 0
    for r in got.itertuples(index=False):
        close, ret, streak, sessions = expected[(r.week_start, r.index_code)]
        assert r.close == pytest.approx(close)
        assert (
            ret is None and pd.isna(r.weekly_return_pct)
        ) or r.weekly_return_pct == pytest.approx(ret)
        assert r.positive_week_streak == streak
        assert r.sessions == sessions
        if sessions < 5 and streak > 1:
            holiday_weeks_continuing_a_streak += 1
    assert holiday_weeks_continuing_a_streak > 0
    # Chuseok 2020 (Sep 30 - Oct 2 closed) is a two-session week
    chuseok = got[(got.week_start == pd.Timestamp("2020-09-28"))]
    assert set(chuseok.sessions) == {2} and len(chuseok) == 4


def test_sample_securities_scd2_matches_truth(sample):
    wh, truth = sample
    versions = defaultdict(list)
    for ticker, valid_from, name, market in rows(
        wh.db,
        "select ticker, valid_from, name, market from marts.dim_securities order by all",
    ):
        versions[ticker].append((valid_from, name, market))
    assert set(versions) == set(truth.securities)
    for ticker, sec in truth.securities.items():
        changes = sorted({d for d, _ in sec.names} | {d for d, _ in sec.markets})
        expected = []
        for day in changes:
            version = (
                [n for d, n in sec.names if d <= day][-1],
                [m for d, m in sec.markets if d <= day][-1],
            )
            if not expected or expected[-1][1:] != version:
                expected.append((day, *version))
        assert versions[ticker] == expected, ticker
    assert truth.renames and truth.market_changes


def test_sample_market_totals(sample):
    wh, _ = sample
    market = query(
        wh.db, "select * from marts.fct_market_short_balances order by market, trade_date"
    )
    sums = query(
        wh.db,
        "select trade_date, market, sum(balance_krw) as krw, count_if(balance_qty > 0) as n "
        "from marts.fct_short_balances group by all",
    ).set_index(["trade_date", "market"])
    caps = query(
        wh.db,
        "select trade_date, index_code as market, market_cap_krw from marts.fct_index_levels "
        "where index_code in ('KOSPI', 'KOSDAQ')",
    ).set_index(["trade_date", "market"])
    rates = rows(wh.db, "select rate_date, usdkrw from staging.stg_ecos__usdkrw_rates order by 1")
    rate_days = [d for d, _ in rates]
    assert market.usdkrw.notna().all()
    for market_name, g in market.groupby("market"):
        start_value, high, regime = None, None, None
        for r in g.itertuples(index=False):
            key = (r.trade_date, market_name)
            assert r.total_balance_krw == sums.loc[key, "krw"]
            assert r.tickers_with_balance == sums.loc[key, "n"]
            assert r.market_cap_krw == caps.loc[key, "market_cap_krw"]
            assert r.usdkrw == rates[bisect_right(rate_days, r.trade_date.date()) - 1][1]
            assert r.total_balance_usd == pytest.approx(r.total_balance_krw / r.usdkrw)
            if regime != regime_on(r.trade_date.date()).regime_id:
                regime = regime_on(r.trade_date.date()).regime_id
                start_value, high = r.total_balance_krw, r.total_balance_krw
            high = max(high, r.total_balance_krw)
            assert r.regime_id == regime
            assert r.change_since_regime_start_pct == pytest.approx(
                100 * (r.total_balance_krw / start_value - 1)
            )
            assert r.is_high_since_regime_start == (r.total_balance_krw >= high)


def readme_queries() -> list[str]:
    """The SQL examples of the README, in order."""
    text = (settings.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_queries_answer_on_the_sample(sample):
    """Each SQL example of the README runs on the sample and gives what the raw rows say."""
    wh, truth = sample
    top, market, residuals, eligibility = readme_queries()
    # the ten biggest balance ratios per market on the day, from the raw rows
    got = rows(wh.db, top)
    raw = rows(
        wh.db,
        "select market, isu_cd, isu_abbrv, bal_rto, bal_amt from raw.krx_short_balance "
        "where trade_date = '2021-01-27' and bal_qty > 0",
    )
    expected = []
    for name in ("KOSDAQ", "KOSPI"):
        ranked = sorted((r for r in raw if r[0] == name), key=lambda r: (-r[3], -r[4], r[1]))
        expected += [(name, rank, *r[1:]) for rank, r in enumerate(ranked[:10], start=1)]
    assert got == expected and len(got) == 20
    # both markets on every session from the day, with the raw balance totals
    got = rows(wh.db, market)
    totals = dict(
        ((day, name), krw)
        for day, name, krw in rows(
            wh.db,
            "select trade_date, market, sum(bal_amt) from raw.krx_short_balance "
            "where trade_date >= '2025-03-31' group by all",
        )
    )
    assert [(day, name) for day, name, *_ in got] == sorted(totals)
    assert all(r[2] == totals[r[0], r[1]] and r[6] == 5 for r in got)  # 5: full resumption
    # KOSDAQ 150 leavers still carrying a balance, biggest at exclusion first
    got = rows(wh.db, residuals)
    since = defaultdict(set)  # (ticker, exclusion day) -> raw balances on or after it
    for ticker, excluded_on, qty in rows(
        wh.db,
        "select b.isu_cd, r.excluded_on, b.bal_qty from raw.krx_short_balance b join ("
        f"{residuals.rstrip().rstrip(';')}) r on b.isu_cd = r.ticker "
        "and b.trade_date >= r.excluded_on",
    ):
        since[ticker, excluded_on].add(qty)
    assert got and all(r[3] > 0 and r[3] in since[r[0], r[1]] for r in got)
    assert [r[2] for r in got] == sorted((r[2] for r in got), reverse=True)
    # who could be shorted under the constituents-only regime: the constituents, per the truth
    day = dt.date(2022, 6, 10)
    got = {(name, eligible): n for name, eligible, _, n in rows(wh.db, eligibility)}
    tickers = rows(
        wh.db,
        "select market, isu_cd from raw.krx_short_balance where trade_date = ? "
        "union select market, isu_cd from raw.krx_short_trading where trade_date = ?",
        [day, day],
    )
    expected = defaultdict(int)
    for name, ticker in tickers:
        expected[name, truth.eligible(day, ticker)] += 1
    assert got == expected and all(expected.values())


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


def test_sample_squeeze_watch(sample):
    wh, _ = sample
    watch = query(wh.db, "select * from marts.short_squeeze_watch").set_index(
        ["ticker", "trade_date"]
    )
    bal = query(wh.db, "select ticker, trade_date, balance_qty from marts.fct_short_balances")
    vol = query(wh.db, "select ticker, trade_date, total_volume from marts.fct_short_trades")
    sessions = sessions_between(HISTORY_START, SAMPLE_END)
    index = {d: i for i, d in enumerate(sessions)}
    balance = {(t, d.date()): q for t, d, q in bal.itertuples(index=False)}
    volumes = {(t, d.date()): v for t, d, v in vol.itertuples(index=False)}
    tickers = watch.groupby(level=0).balance_qty.max().nlargest(3).index
    checked = 0
    for ticker in tickers:
        for (_, day), r in watch.loc[[ticker]].iterrows():
            d = day.date()
            i = index[d]
            back5 = balance.get((ticker, sessions[i - 5])) if i >= 5 else None
            change5 = None if back5 is None else r.balance_qty - back5
            assert (
                None if pd.isna(r.balance_qty_change_5d) else r.balance_qty_change_5d
            ) == change5
            window = [
                volumes[(ticker, s)]
                for s in sessions[max(i - 19, 0) : i + 1]
                if (ticker, s) in volumes
            ]
            if window and sum(window):
                avg = sum(window) / len(window)
                assert r.avg_volume_20d == pytest.approx(avg)
                assert r.days_to_cover == pytest.approx(r.balance_qty / avg)
            checked += 1
    assert checked > 500


# --- incremental runs (slow: two more dbt builds) ---------------------------------------------


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
    totals = dict(
        rows(
            db,
            "select m.trade_date, m.total_balance_qty - s.qty "
            "from marts.fct_market_short_balances m "
            "join (select trade_date, market, sum(balance_qty) as qty "
            "from marts.fct_short_balances group by all) s using (trade_date, market) "
            "where m.trade_date in (?, ?)",
            [day, next_day],
        )
    )
    assert set(totals.values()) == {0}
    for table, checksum in untouched.items():
        assert rows(db, sql_rest.format(table=table), [day, next_day]) == checksum, table


# --- the Dagster ops (slow: dbt in process, one parse for all invocations) ---------------------


@pytest.mark.slow
def test_dagster_ops_build_a_partition_with_checks_and_row_counts(sample, tmp_path, monkeypatch):
    import dagster as dg

    from pipelines.resources import connect
    from pipelines.transform.assets import dbt_asset_defs, dbt_resource

    wh, _ = sample
    db = tmp_path / "dagster.duckdb"
    shutil.copy(wh.db, db)
    monkeypatch.setenv(settings.DUCKDB_ENV, str(db))
    first, second = "2021-06-11", "2021-06-14"
    count_sql = "select count(*) from {} where trade_date = ?"
    expected = rows(db, count_sql.format("staging.stg_krx__short_balances"), [second])[0][0]
    others_sql = (
        "select count(*), sum(hash(x)) from marts.fct_short_balances x "
        "where trade_date <> ? and trade_date <> ?"
    )
    others = rows(db, others_sql, [first, second])
    with duckdb.connect(str(db)) as con:  # the second run must put these back
        con.execute("delete from marts.fct_short_balances where trade_date = ?", [second])
    target = PROJECT_DIR / "target"
    results = {}
    with dg.instance_for_test() as instance:
        for key in (first, second):  # two runs in one process: one parse, two windows
            results[key] = dg.materialize(
                dbt_asset_defs,
                resources={"dbt": dbt_resource()},
                instance=instance,
                partition_key=key,
                raise_on_error=False,
            )
    result = results[first]
    assert result.success and results[second].success
    materialized = {
        e.asset_key.to_user_string(): e.materialization
        for e in result.get_asset_materialization_events()
    }
    assert materialized["marts/fct_short_balances"].partition == first
    assert materialized["marts/dim_trading_calendar"].partition is None
    count = rows(db, "select count(*) from marts.fct_short_balances")[0][0]
    row_counts = [
        {
            e.asset_key.to_user_string(): e.materialization.metadata.get("dagster/row_count")
            for e in results[key].get_asset_materialization_events()
        }["marts/fct_short_balances"].value
        for key in (first, second)
    ]
    assert row_counts == [count - expected, count]  # the second run put its session back
    assert "dagster/row_count" not in materialized["staging/stg_krx__short_balances"].metadata
    checks = result.get_asset_check_evaluations()
    assert len(checks) > 100 and all(c.passed for c in checks)
    assert {(c.asset_key, c.check_name) for c in checks} == {
        (c.asset_key, c.check_name) for c in results[second].get_asset_check_evaluations()
    }
    # the second window rebuilt exactly its session
    assert rows(db, count_sql.format("marts.fct_short_balances"), [second])[0][0] == expected > 0
    assert rows(db, others_sql, [first, second]) == others
    # dbt has let go of the file: this process can open it for writing again
    with connect(db, lock_timeout_s=0) as con:
        assert con.execute("select 1").fetchone() == (1,)
    # each op keeps its artifacts per warehouse beside the warehouse file, none in the project;
    # the project was parsed once, in the parse folder
    ops = tmp_path / "dbt-target" / "dagster"
    assert sorted(p.name for p in ops.iterdir()) == [
        "krx_dbt_foundation",
        "krx_dbt_incremental",
        "krx_dbt_rollups",
        "parse",
    ]
    assert (ops / "parse" / "partial_parse.msgpack").exists()
    parse_log = (ops / "parse" / "dbt.log").read_text(encoding="utf-8")
    assert parse_log.count("Running with dbt=") == 1
    for op in ("krx_dbt_foundation", "krx_dbt_incremental", "krx_dbt_rollups"):
        assert (ops / op / "run_results.json").exists(), op
        assert "Partial parsing" not in (ops / op / "dbt.log").read_text(encoding="utf-8"), op
    assert not [p for p in target.iterdir() if p.is_dir() and p.name.startswith("krx_dbt")]


@pytest.mark.slow
def test_a_failing_dbt_test_fails_the_op_after_recording_its_events(sample, tmp_path, monkeypatch):
    """No USD/KRW at all: the market mart's error-severity not_null test fails. The rollups op
    fails naming the test, after Dagster has recorded the models it built and the failed check;
    dbt has let go of the warehouse."""
    import dagster as dg

    from pipelines.resources import connect
    from pipelines.transform.assets import dbt_asset_defs, dbt_resource

    wh, _ = sample
    db = tmp_path / "no_usdkrw.duckdb"
    shutil.copy(wh.db, db)
    with duckdb.connect(str(db)) as con:
        con.execute("delete from raw.ecos_usdkrw")
    monkeypatch.setenv(settings.DUCKDB_ENV, str(db))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            dbt_asset_defs,
            resources={"dbt": dbt_resource()},
            instance=instance,
            partition_key="2021-06-11",
            raise_on_error=False,
        )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert [e.step_key for e in failures] == ["krx_dbt_rollups"]
    message = failures[0].step_failure_data.error.message
    assert "not_null_fct_market_short_balances_usdkrw" in message and "dbt.log" in message
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [(c.asset_key.to_user_string(), c.check_name) for c in failed] == [
        ("marts/fct_market_short_balances", "not_null_fct_market_short_balances_usdkrw")
    ]
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"marts/fct_short_balances", "marts/fct_market_short_balances"} <= materialized
    assert rows(db, "select count(*) from marts.fct_market_short_balances "
                "where trade_date = '2021-06-11' and usdkrw is null")[0][0] > 0  # fmt: skip
    with connect(db, lock_timeout_s=0) as con:
        assert con.execute("select 1").fetchone() == (1,)


def test_an_interrupt_cancels_dbt_and_releases_the_warehouse(sample, tmp_path, monkeypatch):
    """Ctrl-C (or a run terminated in the UI) while dbt's threads run queries: dbt stops them,
    the warehouse is released at once, and the interrupt reaches Dagster as its own."""
    from dagster._core.errors import DagsterExecutionInterruptedError
    from dagster._utils.interrupts import raise_interrupts_as

    from pipelines.resources import connect
    from pipelines.transform.runner import invoke_dbt

    wh, _ = sample
    db = tmp_path / "interrupted.duckdb"
    shutil.copy(wh.db, db)
    monkeypatch.setenv(settings.DUCKDB_ENV, str(db))
    target = tmp_path / "target"
    started = []

    def interrupt_when_a_node_starts(event) -> None:  # in one of dbt's threads
        if event.info.name == "NodeStart" and not started:
            started.append(event.data.node_info.unique_id)
            os.kill(os.getpid(), signal.SIGINT)

    args = ["build", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    args += ["--target-path", str(target), "--log-path", str(target)]
    # an interrupt arriving outside dbt fails this test instead of stopping pytest
    with raise_interrupts_as(AssertionError), pytest.raises(DagsterExecutionInterruptedError):
        invoke_dbt(args, callbacks=[interrupt_when_a_node_starts])
    assert started
    nodes = json.loads((target / "manifest.json").read_text())["nodes"].values()
    buildable = [n for n in nodes if n["resource_type"] in ("model", "seed", "test")]
    finished = json.loads((target / "run_results.json").read_text())["results"]
    assert len(finished) < len(buildable) / 2  # dbt stopped instead of building on
    with connect(db, lock_timeout_s=0) as con:
        assert con.execute("select count(*) from marts.fct_short_balances").fetchone()[0] > 0


def test_a_new_process_starts_from_the_warehouse_s_last_parse(tmp_path, monkeypatch):
    from pipelines.transform import runner
    from pipelines.transform.assets import PARSE_FOLDER, dbt_resource, op_target_path

    db = tmp_path / "parsed.duckdb"
    monkeypatch.setenv(settings.DUCKDB_ENV, str(db))
    monkeypatch.setattr(runner, "_MANIFESTS", {})
    dbt = dbt_resource()
    folder = op_target_path(db, PARSE_FOLDER)
    manifest = dbt.manifest(dbt.project_dir, folder)
    assert "model.krx_short.fct_short_balances" in manifest.nodes
    assert dbt.manifest(dbt.project_dir, folder) is manifest  # once per process and warehouse
    monkeypatch.setattr(runner, "_MANIFESTS", {})  # as a new process would start
    dbt.manifest(dbt.project_dir, folder)
    log = (folder / "dbt.log").read_text(encoding="utf-8")
    assert log.count("Running with dbt=") == 2
    assert "Partial parsing enabled, no changes found" in log


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


def test_an_interrupt_during_a_query_of_dbt_s_main_thread_still_stops_dbt(tmp_path):
    """DuckDB turns an interrupt that lands in a running query into a "Query interrupted" error.
    In dbt's main thread (here an on-run-start hook) dbt would then record a failed hook and build
    on: the runner stops it, and reports the interrupt."""
    import threading

    from dagster._core.errors import DagsterExecutionInterruptedError
    from dagster._utils.interrupts import raise_interrupts_as

    from pipelines.transform.runner import invoke_dbt

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "models" / "one.sql").write_text("select 1 as x\n")
    slow = "select count(*) from range(6000000000) t(x) where x % 7 = 3"  # about 25 s
    (project / "dbt_project.yml").write_text(
        f'name: hooked\nprofile: hooked\nversion: "1.0"\non-run-start: ["{slow}"]\n'
    )
    db = tmp_path / "hooked.duckdb"
    (project / "profiles.yml").write_text(  # on one thread DuckDB checks for signals promptly
        "hooked:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {db}\n      threads: 1\n      settings:\n        threads: 1\n"
    )
    sent = []

    def interrupt_once_the_hook_runs(event) -> None:  # in dbt's main thread, before the query
        if event.info.name == "LogHookStartLine" and not sent:
            sent.append(threading.Timer(1, os.kill, (os.getpid(), signal.SIGINT)))
            sent[0].start()

    target = tmp_path / "target"
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project)]
    args += ["--target-path", str(target), "--log-path", str(target)]
    with raise_interrupts_as(AssertionError), pytest.raises(DagsterExecutionInterruptedError):
        invoke_dbt(args, callbacks=[interrupt_once_the_hook_runs])
    assert sent
    sent[0].join()
    log = (target / "dbt.log").read_text(encoding="utf-8")
    assert "ERROR hook: hooked.on-run-start.0" in log  # the interrupt ended the hook's query
    assert "Finished running 1 project hook in" in log  # and dbt built nothing after it
    assert not rows(db, "select * from information_schema.tables")
