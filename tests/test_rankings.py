"""top_short_balances: the top 50 per market and session."""

from __future__ import annotations

from tests.helpers import query


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
