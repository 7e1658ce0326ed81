"""fct_market_short_balances: market totals, market cap and regime figures."""

from __future__ import annotations

from bisect import bisect_right

import pandas as pd
import pytest

from pipelines.regimes import regime_on
from tests.helpers import BAN_DAY, REAL_LANDING, krx_int, query, records, rows


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


def test_sample_market_totals(sample):
    wh, _ = sample
    market = query(
        wh.db, "select * from marts.fct_market_short_balances order by market, trade_date"
    )
    sums = query(  # the landing rows, as loaded into raw
        wh.db,
        "select trade_date, market, sum(bal_amt) as krw, count_if(bal_qty > 0) as n "
        "from raw.krx_short_balance group by all",
    ).set_index(["trade_date", "market"])
    caps = query(
        wh.db,
        "select trd_dd as trade_date, index_code as market, mktcap as market_cap_krw "
        "from raw.krx_index_ohlcv where index_code in ('KOSPI', 'KOSDAQ')",
    ).set_index(["trade_date", "market"])
    rates = rows(wh.db, "select time, data_value from raw.ecos_usdkrw order by 1")
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
