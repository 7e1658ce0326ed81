"""Index membership: KOSPI 200 / KOSDAQ 150 by market cap at the start, swaps at the regular
June/December rebalances, same-day replacement of a member that leaves its market (ad hoc), and
the residual balance of every member that leaves while staying listed."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pipelines.sample.names import KOSDAQ, KOSPI
from pipelines.sample.universe import Universe

INDEX_MARKET = {"KOSPI200": KOSPI, "KOSDAQ150": KOSDAQ}


class Membership:
    """Who is in each index; intervals ``(i, t0, t1, entry kind, exit kind)`` by session."""

    def __init__(self, universe: Universe, rng: np.random.Generator):
        self.u, self.rng = universe, rng
        N = universe.N
        self.member = {k: np.zeros(N, dtype=bool) for k in INDEX_MARKET}
        self.open_iv: dict[str, dict[int, tuple[int, str]]] = {k: {} for k in INDEX_MARKET}
        self.intervals: dict[str, list] = {k: [] for k in INDEX_MARKET}
        #: [index, i, excluded at t, balance at exclusion, first zero-balance t or None,
        #: still followed (False once the ticker is back in the index)]
        self.residuals: list[list] = []
        self.ad_hoc: list[tuple] = []  # (index, t, i in, i out)
        self.snapshots: dict[str, dict[dt.date, list[str]]] = {k: {} for k in INDEX_MARKET}

    def _enter(self, index_code: str, i: int, t: int, kind: str) -> None:
        self.member[index_code][i] = True
        self.open_iv[index_code][i] = (t, kind)

    def _exit(self, index_code: str, i: int, t: int, kind: str, qty: np.ndarray) -> None:
        self.member[index_code][i] = False
        t0, kind0 = self.open_iv[index_code].pop(i)
        self.intervals[index_code].append((i, t0, t, kind0, kind))
        if t < self.u.listed_to[i]:  # still listed: a residual to follow
            self.residuals.append([index_code, i, t, int(qty[i]), None, True])

    def _candidates(self, index_code: str, t: int, listed: np.ndarray) -> np.ndarray:
        return (
            listed
            & (self.u.market_id == INDEX_MARKET[index_code])
            & self.u.is_common
            & ~self.u.index_blocked
            & (self.u.seasoned_from <= t)
            & ~self.member[index_code]
        )

    def _protected(self, t: int) -> set[int]:
        out = set()
        if self.u.d1 is not None and t < self.u.d1:
            out.add(self.u.x_delisted)
        if self.u.d2 is not None and t < self.u.d2:
            out.add(self.u.z_mover)
        if self.u.leaver_t is not None and t <= self.u.leaver_t:
            out.update(self.u.leavers)
        return out

    def update(self, t: int, listed: np.ndarray, cap_prev: np.ndarray, qty: np.ndarray) -> bool:
        """Apply initial, regular and ad-hoc membership changes at session t; True if changed."""
        changed = False
        for index_code, m in INDEX_MARKET.items():
            mem = self.member[index_code]
            size = self.u.scale.index_size(index_code)
            if t == 0:
                first = [
                    i
                    for i in (self.u.x_delisted, self.u.z_mover, *self.u.leavers)
                    if self.u.market_id[i] == m
                ]
                cand = self._candidates(index_code, t, listed)
                cand[first] = False
                rest = np.flatnonzero(cand)
                rest = rest[np.lexsort((rest, -cap_prev[rest]))][: size - len(first)]
                for i in [*first, *rest.tolist()]:
                    self._enter(index_code, int(i), 0, "initial")
                changed = True
                continue
            kind = "regular_rebalance" if t in self.u.timeline.rebalance_set else "ad_hoc"
            # members that left the market (delisting, transfer) are replaced on the day
            gone = np.flatnonzero(mem & ~(listed & (self.u.market_id == m))).tolist()
            out: list[int] = list(gone)
            if kind == "regular_rebalance":
                protected = self._protected(t)
                forced = [
                    i
                    for i in self.u.leavers
                    if t == self.u.leaver_t and mem[i] and self.u.market_id[i] == m
                ]
                keep = [
                    i
                    for i in np.flatnonzero(mem).tolist()
                    if i not in protected and i not in forced and i not in gone
                ]
                keep.sort(key=lambda i: (cap_prev[i], self.u.codes[i]))
                cand = np.flatnonzero(self._candidates(index_code, t, listed))
                cand = cand[np.lexsort((cand, -cap_prev[cand]))].tolist()
                n_swaps = int(self.rng.integers(self.u.scale.swaps[0], self.u.scale.swaps[1] + 1))
                swaps = 0
                for j in range(min(n_swaps, len(keep), len(cand))):
                    if cap_prev[cand[j]] > 1.05 * cap_prev[keep[j]]:
                        swaps += 1
                out += keep[:swaps] + forced
                for i in forced:
                    self.u.index_blocked[i] = True
            if not out:
                continue
            for i in out:
                self._exit(index_code, i, t, kind, qty)
            cand = self._candidates(index_code, t, listed)
            cand[out] = False  # who leaves today does not come straight back
            cand = np.flatnonzero(cand)
            cand = cand[np.lexsort((cand, -cap_prev[cand]))].tolist()
            entering = cand[: size - int(mem.sum())]
            for i in entering:
                self._enter(index_code, i, t, kind)
            if kind == "ad_hoc":
                for i_in, i_out in zip(entering, gone, strict=False):
                    self.ad_hoc.append((index_code, t, i_in, i_out))
            changed = True
        return changed

    def track_residuals(self, t: int, listed: np.ndarray, qty: np.ndarray) -> None:
        """Note the first published session each leaver's balance is back at zero, unless it
        has re-entered the index by then."""
        for rec in self.residuals:
            index_code, i = rec[0], rec[1]
            rec[5] = rec[5] and not self.member[index_code][i]
            if rec[5] and rec[4] is None and listed[i] and qty[i] == 0:
                rec[4] = t
