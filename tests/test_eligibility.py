"""short_eligibility_daily: who could be sold short, on the real ban day and in every regime."""

from __future__ import annotations

import datetime as dt

from pipelines.regimes import REGIMES, regime_on
from tests.helpers import BAN_DAY, REAL_LANDING, query, records, rows


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


def test_real_every_ticker_of_the_balance_and_trading_files_has_a_row(real):
    """One row per ticker and session of the JSON files, trading files without a balance file
    that day included (2021-01-04 KOSDAQ, 2021-01-25 KOSPI), each with its file's market."""
    expected = set()
    for path in REAL_LANDING.glob("krx/short_*/*/*.json"):
        day = dt.date.fromisoformat(path.stem)
        expected |= {(day, r["ISU_CD"], path.parent.name) for r in records(path)}
    got = rows(real.db, "select trade_date, ticker, market from marts.short_eligibility_daily")
    assert len(got) == len(expected) and set(got) == expected
    assert {d for d, _, _ in expected} == {dt.date(2021, 1, 4), dt.date(2021, 1, 25), BAN_DAY}


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
        "designated overheated (short selling banned this session)",
    } == reasons
    # one row per ticker in that session's balance or trading files
    expected = rows(
        wh.db,
        "select trade_date, isu_cd from raw.krx_short_balance "
        "union select trade_date, isu_cd from raw.krx_short_trading order by all",
    )
    assert sorted(zip(got.trade_date.dt.date, got.ticker, strict=True)) == expected
