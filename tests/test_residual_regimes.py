"""post_exclusion_residuals on the sample, recomputed from its landing files.

Memberships come from the constituent snapshots by the rebalance rule, balances from the daily
balance files, regimes from the project's regime table. Decay is followed only while new short
sales of a leaver were not allowed (until it re-enters or a regime open to all listed stocks
begins), and a leaver without a balance at exclusion has nothing to decay.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pandas as pd

from pipelines.calendar import HISTORY_START, sessions_between
from pipelines.regimes import ALL_LISTED, REGIMES, regime_on
from tests.helpers import (
    REFERENCE_REBALANCE_DAYS,
    SAMPLE_END,
    expected_intervals,
    krx_int,
    query,
    records,
)


def _landing(wh) -> Path:
    return wh.db.parent / "landing"


def _snapshots(landing: Path) -> dict[str, dict[dt.date, set[str]]]:
    out: dict[str, dict[dt.date, set[str]]] = defaultdict(dict)
    for path in sorted((landing / "krx" / "index_constituents").glob("KO*/*.json")):
        # KOSPI200 and KOSDAQ150 (the folder also holds the theme indices' snapshots)
        day = dt.date.fromisoformat(path.name[:10])
        out[path.parent.name][day] = {r["ISU_SRT_CD"] for r in records(path)}
    return out


def _balances(landing: Path) -> dict[str, list[tuple[dt.date, int]]]:
    out: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
    for path in (landing / "krx" / "short_balance").glob("*/*.json"):
        day = dt.date.fromisoformat(path.name[:10])
        for r in records(path):
            out[r["ISU_CD"]].append((day, krx_int(r["BAL_QTY"])))
    return {ticker: sorted(series) for ticker, series in out.items()}


def expected_residuals(landing: Path) -> dict[tuple, dict]:
    sessions = sessions_between(HISTORY_START, SAMPLE_END)
    position = {d: i for i, d in enumerate(sessions)}
    balances = _balances(landing)
    out = {}
    for index_code, snapshots in _snapshots(landing).items():
        intervals = expected_intervals(snapshots, REFERENCE_REBALANCE_DAYS, index_code)
        by_ticker = defaultdict(list)
        for r in intervals:
            by_ticker[r[1]].append(r)
        for ticker, ivs in by_ticker.items():
            for k, (_, _, _, excluded_on, _, exit_kind, _) in enumerate(ivs):
                if excluded_on is None:
                    continue
                re_entered = ivs[k + 1][2] if k + 1 < len(ivs) else None
                regime = regime_on(excluded_on)
                if regime.scope == ALL_LISTED:
                    allowed = excluded_on
                else:
                    starts = [g.starts_on for g in REGIMES if g.scope == ALL_LISTED]
                    allowed = min((d for d in starts if d > excluded_on), default=None)
                ends = min((d for d in (re_entered, allowed) if d is not None), default=None)
                if regime.scope == ALL_LISTED:
                    ended_by = "not_restricted"
                elif ends is None:
                    ended_by = None
                else:
                    ended_by = "re_entry" if ends == re_entered else "regime_change"
                series = balances.get(ticker, [])
                before = [q for d, q in series if d < excluded_on]
                at = before[-1] if before else None
                window = [
                    (d, q) for d, q in series if d >= excluded_on and (ends is None or d < ends)
                ]
                has_balance = bool(at)
                half = next((d for d, q in window if q <= at / 2), None) if has_balance else None
                zero = next((d for d, q in window if q == 0), None) if has_balance else None

                def steps(day, start=excluded_on):
                    return None if day is None else position[day] - position[start]

                out[(index_code, ticker, excluded_on)] = {
                    "exit_kind": exit_kind,
                    "re_entered_on": re_entered,
                    "exclusion_regime_id": regime.regime_id,
                    "decay_ends_on": ends,
                    "decay_ended_by": ended_by,
                    "balance_at_exclusion_qty": at,
                    "has_balance_to_decay": has_balance,
                    "latest_balance_date": window[-1][0] if window else None,
                    "latest_balance_qty": window[-1][1] if window else None,
                    "sessions_to_half": steps(half),
                    "sessions_to_zero": steps(zero),
                    "rebuilt_after_window": max(
                        (q for d, q in series if ends is not None and d >= ends), default=None
                    ),
                }
    return out


def _value(v):
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.date()
    return v.item() if hasattr(v, "item") else v


def test_residuals_match_the_landing_files(sample):
    wh, _ = sample
    expected = expected_residuals(_landing(wh))
    got = query(wh.db, "select * from marts.post_exclusion_residuals")
    assert len(got) == len(expected) > 10
    for r in got.to_dict("records"):
        want = expected[(r["index_code"], r["ticker"], r["excluded_on"].date())]
        have = {k: _value(r[k]) for k in want if k != "rebuilt_after_window"}
        assert have == {k: v for k, v in want.items() if k != "rebuilt_after_window"}, r


def test_the_audit_s_residual_cases_are_in_the_sample(sample):
    """A zero balance at exclusion, and a leaver whose balance was rebuilt by new shorts after
    the 2025-03-31 resumption: its decay ends there and its latest balance is the one before."""
    wh, _ = sample
    expected = expected_residuals(_landing(wh))
    got = query(wh.db, "select * from marts.post_exclusion_residuals").set_index(
        ["index_code", "ticker", "excluded_on"]
    )
    zero = [k for k, e in expected.items() if e["balance_at_exclusion_qty"] == 0]
    assert zero
    for key in zero:
        row = got.loc[(key[0], key[1], pd.Timestamp(key[2]))]
        assert not row.has_balance_to_decay
        assert pd.isna(row.sessions_to_half) and pd.isna(row.sessions_to_zero)
    rebuilt = [
        k
        for k, e in expected.items()
        if e["decay_ended_by"] == "regime_change"
        and e["rebuilt_after_window"] is not None
        and e["latest_balance_qty"] is not None
        and e["rebuilt_after_window"] > e["latest_balance_qty"]
    ]
    assert rebuilt
    for key in rebuilt:
        row = got.loc[(key[0], key[1], pd.Timestamp(key[2]))]
        assert row.decay_ends_on == pd.Timestamp("2025-03-31")
        assert row.latest_balance_date < pd.Timestamp("2025-03-31")
        assert row.exclusion_regime_id in (2, 3, 4)
