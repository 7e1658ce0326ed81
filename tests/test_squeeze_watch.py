"""short_squeeze_watch: 5-session balance changes, 20-session volume and days to cover."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.calendar import HISTORY_START, sessions_between
from tests.helpers import SAMPLE_END, query


def test_sample_squeeze_watch(sample):
    wh, _ = sample
    watch = query(wh.db, "select * from marts.short_squeeze_watch").set_index(
        ["ticker", "trade_date"]
    )
    # the landing rows, as loaded into raw
    bal = query(wh.db, "select isu_cd, trade_date, bal_qty from raw.krx_short_balance")
    vol = query(wh.db, "select isu_cd, trade_date, acc_trdvol from raw.krx_short_trading")
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
            assert r.balance_qty == balance[(ticker, d)]
            change5 = None if back5 is None else balance[(ticker, d)] - back5
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
                if len(window) == 20:
                    assert r.days_to_cover == pytest.approx(balance[(ticker, d)] / avg)
                else:  # fewer than 20 sessions of volume
                    assert pd.isna(r.days_to_cover)
            checked += 1
    assert checked > 500


def test_sample_squeeze_watch_foreign_share_and_its_20_session_change(sample):
    wh, _ = sample
    watch = query(
        wh.db,
        "select ticker, trade_date, foreign_share_pct, foreign_share_change_20d, close_krw "
        "from marts.short_squeeze_watch",
    )
    raw = query(
        wh.db,
        "select isu_srt_cd, trade_date, forn_hd_qty, list_shrs from raw.krx_foreign_holdings",
    )
    share = {(t, d.date()): 100.0 * q / s for t, d, q, s in raw.itertuples(index=False)}
    sessions = sessions_between(HISTORY_START, SAMPLE_END)
    index = {d: i for i, d in enumerate(sessions)}
    changes = 0
    for ticker, day, pct, change, close in watch.itertuples(index=False):
        d = day.date()
        assert pct == pytest.approx(share[(ticker, d)], abs=1e-9)
        back = share.get((ticker, sessions[index[d] - 20])) if index[d] >= 20 else None
        if back is None:
            assert pd.isna(change)
        else:
            assert change == pytest.approx(share[(ticker, d)] - back, abs=1e-9)
            changes += change != 0
        assert close > 0
    assert changes
