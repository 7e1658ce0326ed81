"""Regime behaviour: who may open short positions each session, how balances move towards their
targets where that is allowed and decay elsewhere, and the short volume under and outside the
uptick rule (during bans only the market-maker exemption trades)."""

from __future__ import annotations

import numpy as np

from pipelines.regimes import ALL_LISTED, INDEX_CONSTITUENTS, MARKET_MAKERS_ONLY
from pipelines.sample.formats import is_half
from pipelines.sample.names import KOSDAQ, KOSPI
from pipelines.sample.universe import Universe

#: Highest balance ratio new short selling builds (fraction of listed shares).
MAX_RATIO = 0.15
#: Per market id: (share of the smaller half nobody shorts, median target ratio of the others,
#: log-sd, share of heavily shorted names among the smaller half, their target range): the
#: cap-weighted targets are near KRX's aggregates of July 2025 (KOSPI 0.35 %, KOSDAQ 0.96 % of
#: market cap). In KRX's files the stocks without any balance are mostly small.
_TARGETS = {
    KOSPI: (0.66, 0.0038, 0.8, 0.06, (0.02, 0.07)),
    KOSDAQ: (0.6, 0.0065, 0.8, 0.12, (0.03, 0.12)),
}
#: Share of the larger half nobody shorts.
_LARGE_ZERO = 0.08
#: The KOSPI giant's target (its real counterpart stood at 0.06 % on 2021-01-27).
GIANT_TARGET = 0.0008
#: While only index constituents may be shorted, the market's short demand crowds into them:
#: their targets scale by this over the members' share of the market's cap, per market id (set
#: so that the totals left after the 2023-2025 ban land near KRX's of 2025-03-31).
_CROWDING = {KOSPI: 1.3, KOSDAQ: 1.5}


def eligible(scope: str, listed: np.ndarray, market_id: np.ndarray, member: dict) -> np.ndarray:
    """Securities where new short positions may be opened under ``scope``."""
    if scope == ALL_LISTED:
        return listed.copy()
    if scope == MARKET_MAKERS_ONLY:
        return np.zeros(len(listed), dtype=bool)
    return listed & (
        ((market_id == KOSPI) & member["KOSPI200"]) | ((market_id == KOSDAQ) & member["KOSDAQ150"])
    )


class ShortBehaviour:
    """Per-security balance targets and speeds, and the balance carried from session to session."""

    def __init__(self, universe: Universe, rng: np.random.Generator):
        self.u = universe
        N, is_common = universe.N, universe.is_common
        # target balance ratio (fraction of listed shares), per market: many zeros, a
        # log-normal body, and a few heavily shorted names among the smaller half
        market_id, cap = universe.market_id, universe.price0 * universe.shares0
        u = rng.random(N)
        body = rng.standard_normal(N)
        heavy = rng.random(N)
        target = np.zeros(N)
        for m, (zero, median, sd, heavy_share, (lo, hi)) in _TARGETS.items():
            on = market_id == m
            small = cap < np.median(cap[on & is_common])
            drawn = np.clip(median * np.exp(sd * body), 1e-5, 0.03)
            drawn = np.where((u > 1 - heavy_share) & small, lo + (hi - lo) * heavy, drawn)
            shorted = u >= np.where(small, zero, _LARGE_ZERO)
            target = np.where(on & shorted, drawn, target)
        target[~is_common & (rng.random(N) < 0.9)] = 0.0
        target[universe.giant] = GIANT_TARGET
        self.speed = rng.uniform(0.02, 0.08, N)
        self.decay = rng.uniform(0.9958, 0.998, N)  # where new shorts are banned: a third is
        # left after the 17 months of the 2023-2025 ban
        self.noise = rng.uniform(0.01, 0.04, N)
        self.market_maker = rng.random(N) < np.where(is_common, 0.55, 0.15)
        self.upt_share = np.clip(0.004 + 2.5 * target * rng.uniform(0.5, 1.5, N), 0, 0.35)
        self.upt_zero_p = np.where(target > 0, 0.1, 0.5)
        # designated tickers
        target[universe.x_delisted], target[universe.z_mover] = 0.02, 0.015
        if universe.leavers:
            l1, l2 = universe.leavers
            target[l1], self.speed[l1], self.decay[l1], self.noise[l1] = 0.07, 0.15, 0.99, 0.01
            target[l2], self.speed[l2], self.decay[l2] = 0.03, 0.12, 0.985
            self.market_maker[[l1, l2]] = True
        self.target = target
        self.qty = np.zeros(N, dtype=np.int64)

    def step_balances(
        self, t, scope, rng, elig, listed, halted, new_today, sh, close
    ) -> np.ndarray:
        """Balances after session ``t``: growth where eligible, decay elsewhere, never a half."""
        u, N = self.u, self.u.N
        zb = rng.standard_normal(N)
        zt = rng.standard_normal(N)
        tgt = self.target * sh
        if scope == INDEX_CONSTITUENTS:
            tgt = tgt * self._crowding(elig, listed, sh * close)
        if t == 0:
            level0 = np.where(elig, rng.uniform(0.6, 1.2, N), rng.uniform(0.1, 0.5, N))
            if u.leavers:
                level0[u.leavers[0]] = 1.0
            qty = np.floor(np.minimum(tgt * level0, MAX_RATIO * sh)).astype(np.int64)
        else:
            qty = self.qty
            grow = qty + self.speed * (tgt - qty) + self.noise * tgt * zb
            grow = np.floor(np.clip(grow, 0, MAX_RATIO * sh)).astype(np.int64)
            decay = np.floor(qty * self.decay).astype(np.int64)
            qty = np.where(listed & ~halted, np.where(elig, grow, decay), qty)
        if t == u.cover_t:  # the second leaver covers its whole position
            l2 = u.leavers[1]
            qty[l2] = 0
            self.target[l2] = 0.0
        qty[new_today | ~listed] = 0
        qty = np.minimum(qty, sh)
        while True:  # never an exact half in BAL_RTO
            tie = (qty > 0) & is_half(qty, sh)
            if not tie.any():
                break
            qty = qty - tie
        self.qty = qty
        self.target = np.where(
            self.target > 0, np.clip(self.target * np.exp(0.006 * zt), 1e-5, 0.13), 0.0
        )
        return qty

    def _crowding(self, elig, listed, cap) -> np.ndarray:
        """Per security: its market's crowding factor over the eligible share of that market."""
        factor = np.ones(self.u.N)
        for m, k in _CROWDING.items():
            on = listed & (self.u.market_id == m)
            eligible_cap = cap[on & elig].sum()
            if eligible_cap > 0:
                factor[self.u.market_id == m] = k * cap[on].sum() / eligible_cap
        return factor

    def short_volume(self, rng, vol, elig) -> tuple[np.ndarray, np.ndarray]:
        """(under the uptick rule, exempt market-maker) short volume; never a half in the
        TRDVOL_WT / TRDVAL_WT ratios."""
        N = self.u.N
        zs = rng.standard_normal(N)
        us = rng.random(N)
        ue = rng.random(N)
        upt = np.floor(vol * self.upt_share * np.exp(0.5 * zs - 0.125)).astype(np.int64)
        upt[~elig | (us < self.upt_zero_p)] = 0
        exm = np.floor(vol * 0.005 * ue).astype(np.int64)
        exm[~self.market_maker | (ue > 0.6)] = 0
        upt = np.minimum(upt, vol)
        exm = np.minimum(exm, vol - upt)
        no_halves(upt, exm, vol)
        return upt, exm


def no_halves(upt: np.ndarray, exm: np.ndarray, vol: np.ndarray) -> None:
    """Never a half in the TRDVOL_WT / TRDVAL_WT ratios: one share less (exempt first) where
    there is one; ``upt`` and ``exm`` change in place."""
    while True:
        tie = (vol > 0) & is_half(upt + exm, np.maximum(vol, 1))
        if not tie.any():
            return
        dec_e = tie & (exm > 0)
        exm -= dec_e
        upt -= tie & ~dec_e
