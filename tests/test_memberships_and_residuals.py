"""Index memberships and post-exclusion residuals against the sample's truth and balances."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from pipelines.calendar import HISTORY_START, sessions_between
from tests.helpers import SAMPLE_END, query, rows


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
    balances = query(  # the landing rows, as loaded into raw
        wh.db,
        "select trade_date, isu_cd as ticker, bal_qty as balance_qty from raw.krx_short_balance",
    )
    by_ticker = {
        ticker: sorted(zip(g.trade_date.dt.date, g.balance_qty, strict=True))
        for ticker, g in balances.groupby("ticker")
    }
    sessions = sessions_between(HISTORY_START, SAMPLE_END)
    position = {d: i for i, d in enumerate(sessions)}

    def independent(ticker, excluded_on, decay_ends_on):
        series = by_ticker.get(ticker, [])
        before = [q for d, q in series if d < excluded_on]
        after = [
            (d, q)
            for d, q in series
            if d >= excluded_on and (decay_ends_on is None or d < decay_ends_on)
        ]
        if not before:
            return None, None, None
        at = before[-1]
        if not at:  # nothing to decay
            return at, None, None
        half = next((d for d, q in after if q <= at / 2), None)
        zero = next((d for d, q in after if q == 0), None)

        def steps(d):
            return None if d is None else position[d] - position[excluded_on]

        return at, steps(half), steps(zero)

    for r in residuals.itertuples(index=False):
        excluded_on = r.excluded_on.date()
        ends = None if pd.isna(r.decay_ends_on) else r.decay_ends_on.date()
        at, to_half, to_zero = independent(r.ticker, excluded_on, ends)
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
        ends = None if pd.isna(r.decay_ends_on) else r.decay_ends_on.date()
        in_window = zero_on is not None and balance > 0 and (ends is None or zero_on < ends)
        assert (None if pd.isna(r.reached_zero_on) else r.reached_zero_on.date()) == (
            zero_on if in_window else None
        )

    # a designated KOSDAQ 150 leaver with a large balance decays to half within the sample
    leavers = residuals[
        (residuals.index_code == "KOSDAQ150") & residuals.ticker.isin(truth.designated_leavers)
    ]
    assert len(leavers) >= 1
    leaver = leavers.iloc[0]
    assert leaver.balance_at_exclusion_qty > 0
    assert leaver.sessions_to_half is not None and leaver.sessions_to_half > 0
    assert leaver.latest_balance_qty < leaver.balance_at_exclusion_qty
