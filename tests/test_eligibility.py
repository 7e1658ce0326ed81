"""short_eligibility_daily: who could be sold short, on the real ban day and in every regime."""

from __future__ import annotations

from pipelines.regimes import REGIMES, regime_on
from tests.helpers import BAN_DAY, query, rows


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
        "select trade_date, isu_cd from raw.krx_short_balance "
        "union select trade_date, isu_cd from raw.krx_short_trading order by all",
    )
    assert sorted(zip(got.trade_date.dt.date, got.ticker, strict=True)) == expected
