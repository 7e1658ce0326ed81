"""index_weekly_returns: weekly closes, returns and streaks across holiday weeks."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import query


def test_sample_weekly_streaks_across_holiday_weeks(sample):
    wh, _ = sample
    levels = query(  # the landing rows, as loaded into raw
        wh.db,
        "select trd_dd as trade_date, index_code, clsprc_idx as close from raw.krx_index_ohlcv "
        "order by 1, 2",
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
