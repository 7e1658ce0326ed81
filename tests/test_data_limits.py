"""What the data cannot say, said in columns: whether a regime's figures start at the regime's
own first session, how old the USD/KRW rate is, days to cover only over 20 sessions of volume,
and whether a week is complete. Expected values come from the landing files."""

from __future__ import annotations

import datetime as dt
import shutil
from bisect import bisect_right
from collections import defaultdict

import duckdb
import pandas as pd
import pytest

from pipelines.calendar import HISTORY_START, sessions_between
from pipelines.defs.assets.dbt import DbtCommand, build_dbt_command
from pipelines.regimes import REGIMES
from tests.helpers import REAL_LANDING, SAMPLE_END, krx_int, query, records, rows, run_dbt

CALENDAR = sessions_between(HISTORY_START, dt.date(2026, 12, 31))
POSITION = {d: i for i, d in enumerate(CALENDAR)}


def _file_days(landing, folder: str) -> dict[str, list[dt.date]]:
    out = defaultdict(list)
    for path in (landing / folder).glob("*/*.json"):
        out[path.parent.name].append(dt.date.fromisoformat(path.name[:10]))
    return {k: sorted(v) for k, v in out.items()}


def expected_regime_starts(landing) -> dict[tuple[str, int], bool]:
    """Per market and regime: does the first balance file of the regime fall on its first
    KRX session (a regime that began before the calendar never does)?"""
    out = {}
    for market, days in _file_days(landing, "krx/short_balance").items():
        for regime in REGIMES:
            held = [d for d in days if regime.covers(d)]
            if not held:
                continue
            own_first = next(d for d in CALENDAR if d >= regime.starts_on)
            out[(market, regime.regime_id)] = (
                regime.starts_on > CALENDAR[0] and held[0] == own_first
            )
    return out


def test_real_figures_do_not_start_at_the_regime_s_start(real):
    """The real balance file of 2021-01-27 is the warehouse's first session of regime 2, which
    began on 2020-03-16: its change since the regime's start is 0 by construction, and says so."""
    got = rows(
        real.db,
        "select market, regime_id, regime_first_session, has_regime_start, "
        "change_since_regime_start_pct from marts.fct_market_short_balances",
    )
    assert got == [("KOSPI", 2, dt.date(2021, 1, 27), False, 0.0)]
    assert expected_regime_starts(REAL_LANDING) == {("KOSPI", 2): False}


def test_sample_regime_starts_are_flagged(sample):
    wh, _ = sample
    expected = expected_regime_starts(wh.db.parent / "landing")
    got = {
        (market, regime): flag
        for market, regime, flag in rows(
            wh.db,
            "select distinct market, regime_id, has_regime_start "
            "from marts.fct_market_short_balances",
        )
    }
    assert got == expected
    # the sample starts in regime 1 (which began before the calendar) and holds the others whole
    assert {k[1] for k, v in expected.items() if not v} == {1}


def test_weeks_are_complete_only_once_their_last_session_has_a_level(sample, real):
    wh, _ = sample
    for warehouse, landing in ((wh.db, wh.db.parent / "landing"), (real.db, REAL_LANDING)):
        last_of_week = {}
        for d in CALENDAR:
            last_of_week[d - dt.timedelta(days=d.weekday())] = d
        levels = defaultdict(set)
        for path in (landing / "krx" / "index_ohlcv").glob("*/*.json"):
            for r in records(path):
                levels[path.parent.name].add(dt.date.fromisoformat(r["TRD_DD"].replace("/", "-")))
        expected = {
            (d - dt.timedelta(days=d.weekday()), code): last_of_week[
                d - dt.timedelta(days=d.weekday())
            ]
            in days
            for code, days in levels.items()
            for d in days
        }
        got = {
            (week.date(), code): flag
            for week, code, flag in rows(
                warehouse,
                "select week_start::timestamp, index_code, is_complete_week "
                "from marts.index_weekly_returns",
            )
        }
        assert got == expected
    incomplete = {k for k, v in got.items() if not v}
    assert incomplete == set()  # the real January 2021 ends on a Friday
    sample_incomplete = {
        k
        for k, v in rows(
            wh.db, "select week_start, is_complete_week from marts.index_weekly_returns"
        )
        if not v
    }
    assert sample_incomplete == {SAMPLE_END - dt.timedelta(days=SAMPLE_END.weekday())}


def test_days_to_cover_needs_twenty_sessions_of_volume(sample):
    wh, truth = sample
    landing = wh.db.parent / "landing"
    volumes = {}
    for path in (landing / "krx" / "short_trading").glob("*/*.json"):
        day = dt.date.fromisoformat(path.name[:10])
        for r in records(path):
            volumes[(r["ISU_CD"], day)] = krx_int(r["ACC_TRDVOL"])
    listed_later = {ticker for day, ticker, _ in truth.listings if day > truth.start}
    first_days = set(CALENDAR[POSITION[truth.start] : POSITION[truth.start] + 25])
    watch = query(
        wh.db,
        "select ticker, trade_date, balance_qty, volume_sessions_20d, days_to_cover "
        "from marts.short_squeeze_watch",
    )
    watch = watch[watch.ticker.isin(listed_later) | watch.trade_date.dt.date.isin(first_days)]
    short, full = 0, 0
    for r in watch.itertuples(index=False):
        i = POSITION[r.trade_date.date()]
        window = [
            volumes[(r.ticker, s)]
            for s in CALENDAR[max(i - 19, 0) : i + 1]
            if (r.ticker, s) in volumes
        ]
        assert r.volume_sessions_20d == len(window)
        if len(window) < 20 or not sum(window):
            assert pd.isna(r.days_to_cover), r
            short += len(window) < 20
        else:
            assert r.days_to_cover == pytest.approx(r.balance_qty / (sum(window) / 20))
            full += 1
    assert short > 100 and full > 100


def test_a_stale_usdkrw_rate_is_dated_and_flagged(sample, tmp_path):
    """ECOS rates missing for a week: the sessions carry the last earlier rate, its date and its
    age in sessions; older than three sessions it is stale and the warning test says so."""
    wh, _ = sample
    db = tmp_path / "stale.duckdb"
    shutil.copy(wh.db, db)
    gap = (dt.date(2022, 3, 7), dt.date(2022, 3, 15))
    window = (dt.date(2022, 3, 2), dt.date(2022, 3, 22))
    with duckdb.connect(str(db)) as con:
        con.execute("delete from raw.ecos_usdkrw where time between ? and ?", list(gap))
    rates = sorted(
        (dt.datetime.strptime(r["TIME"], "%Y%m%d").date(), float(r["DATA_VALUE"].replace(",", "")))
        for path in (wh.db.parent / "landing" / "ecos" / "usdkrw").glob("*.json")
        for r in records(path)
        if not gap[0] <= dt.datetime.strptime(r["TIME"], "%Y%m%d").date() <= gap[1]
    )
    models = ["fct_short_balances", "int_market_daily_totals", "fct_market_short_balances"]
    command = build_dbt_command(window)
    run = run_dbt(db, tmp_path / "target", DbtCommand(["build", "--select", *models], command.env))
    assert run.returncode == 0, run.output[-3000:]
    got = query(
        db,
        "select trade_date, usdkrw, usdkrw_rate_date, usdkrw_age_sessions, is_usdkrw_stale "
        "from marts.fct_market_short_balances where trade_date >= ? and trade_date < ?",
        list(window),
    )
    days = [d for d, _ in rates]
    stale = 0
    for r in got.itertuples(index=False):
        session = r.trade_date.date()
        rate_day, rate = rates[bisect_right(days, session) - 1]
        rate_session = CALENDAR[bisect_right(CALENDAR, rate_day) - 1]
        age = POSITION[session] - POSITION[rate_session]
        assert (r.usdkrw_rate_date.date(), r.usdkrw, r.usdkrw_age_sessions) == (
            rate_day,
            rate,
            age,
        )
        assert r.is_usdkrw_stale == (age > 3)
        stale += age > 3
    assert stale >= 2  # 2022-03-14 and 15 carry the rate of 2022-03-04
    status = {r["unique_id"].split(".")[2]: r["status"] for r in run.results}
    assert status["usdkrw_rate_at_most_three_sessions_old"] == "warn"
