"""Regime behaviour: who may open short positions each session, how balances move towards their
targets where that is allowed and decay elsewhere, and the short volume under and outside the
uptick rule (during bans only the market-maker exemption trades)."""

from __future__ import annotations

import numpy as np

from pipelines.regimes import ALL_LISTED, MARKET_MAKERS_ONLY
from pipelines.sample.formats import is_half
from pipelines.sample.names import KOSDAQ, KOSPI
from pipelines.sample.universe import Universe

#: Highest balance ratio new short selling builds (fraction of listed shares).
MAX_RATIO = 0.15


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
        # target balance ratio (fraction of listed shares): many zeros, most below 3 %, a few high
        u = rng.random(N)
        target = np.where(
            u < 0.85, np.clip(np.exp(rng.normal(np.log(0.005), 0.9, N)), 1e-4, 0.03), 0.0
        )
        target = np.where((u >= 0.85) & (u < 0.97), rng.uniform(0.03, 0.08, N), target)
        target = np.where(u >= 0.97, rng.uniform(0.08, 0.13, N), target)
        target[u < 0.35] = 0.0
        target[~is_common & (rng.random(N) < 0.9)] = 0.0
        self.speed = rng.uniform(0.02, 0.08, N)
        self.decay = rng.uniform(0.975, 0.997, N)
        self.noise = rng.uniform(0.01, 0.04, N)
        self.market_maker = rng.random(N) < np.where(is_common, 0.55, 0.15)
        self.upt_share = np.clip(0.004 + 2.5 * target * rng.uniform(0.5, 1.5, N), 0, 0.35)
        self.upt_zero_p = np.where(target > 0, 0.1, 0.5)
        # designated tickers
        target[universe.x_delisted], target[universe.z_mover] = 0.02, 0.04
        if universe.leavers:
            l1, l2 = universe.leavers
            target[l1], self.speed[l1], self.decay[l1], self.noise[l1] = 0.07, 0.15, 0.99, 0.01
            target[l2], self.speed[l2], self.decay[l2] = 0.03, 0.12, 0.985
            self.market_maker[[l1, l2]] = True
        self.target = target
        self.qty = np.zeros(N, dtype=np.int64)

    def step_balances(self, t, rng, elig, listed, halted, new_today, sh) -> np.ndarray:
        """Balances after session ``t``: growth where eligible, decay elsewhere, never a half."""
        u, N = self.u, self.u.N
        zb = rng.standard_normal(N)
        zt = rng.standard_normal(N)
        tgt = self.target * sh
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
            self.target > 0, np.clip(self.target * np.exp(0.015 * zt), 1e-5, 0.13), 0.0
        )
        return qty

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
        while True:
            tie = (vol > 0) & is_half(upt + exm, np.maximum(vol, 1))
            if not tie.any():
                break
            dec_e = tie & (exm > 0)
            exm = exm - dec_e
            upt = upt - (tie & ~dec_e)
        return upt, exm
