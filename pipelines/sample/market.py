"""Market dynamics: prices on KRX ticks, listed shares, trading volume, index levels, USD/KRW."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pipelines.sample.names import KOSDAQ
from pipelines.sample.universe import Universe
from pipelines.sources.datasets import INDICES, MARKETS

# Market mood, so index levels look like markets (daily drift added to the market factor).
_EPISODES = (
    (dt.date(2020, 2, 20), dt.date(2020, 3, 19), -0.011),
    (dt.date(2020, 3, 20), dt.date(2020, 6, 30), 0.0055),
    (dt.date(2020, 11, 1), dt.date(2021, 1, 31), 0.004),
    (dt.date(2022, 1, 1), dt.date(2022, 9, 30), -0.0015),
    (dt.date(2024, 7, 1), dt.date(2024, 12, 31), -0.001),
    (dt.date(2025, 4, 10), dt.date(2025, 10, 31), 0.003),
)
_INDEX_BASE = {"KOSPI": 2100.0, "KOSPI200": 280.0, "KOSDAQ": 680.0, "KOSDAQ150": 1100.0}


def tick_round(price: np.ndarray) -> np.ndarray:
    """Round latent prices to KRX tick sizes; integer KRW, at least one tick."""
    tick = np.select(
        [
            price < 2_000,
            price < 5_000,
            price < 20_000,
            price < 50_000,
            price < 200_000,
            price < 500_000,
        ],
        [1, 5, 10, 50, 100, 500],
        1_000,
    )
    return (np.maximum(np.rint(price / tick), 1) * tick).astype(np.int64)


def _drift(day: dt.date) -> float:
    for first, last, mu in _EPISODES:
        if first <= day <= last:
            return mu
    return 0.0003


class Market:
    """Latent prices, listed shares and turnover of every security, one session at a time."""

    def __init__(self, universe: Universe, rng: np.random.Generator):
        self.u = universe
        N = universe.N
        kosdaq = universe.market_id == KOSDAQ
        self.p = universe.price0.copy()
        self.shares = universe.shares0.copy()
        self.beta = rng.uniform(0.6, 1.4, N)
        self.idio = np.where(kosdaq, rng.uniform(0.015, 0.035, N), rng.uniform(0.011, 0.026, N))
        self.turnover = np.clip(
            np.exp(rng.normal(np.log(np.where(kosdaq, 0.008, 0.003)), 0.7)), 2e-4, 0.06
        )
        self.turnover[~universe.is_common] *= 0.3

    def step_prices(self, day, rng, halted, new_today, close_prev) -> tuple[np.ndarray, ...]:
        """Today's closes and the previous closes they compare with (a listing: its own)."""
        N = self.u.N
        zm = rng.standard_normal(2)
        mret = _drift(day) + 0.011 * np.array([zm[0], 0.8 * zm[0] + 0.6 * zm[1]])
        z = rng.standard_normal(N)
        jump = rng.random(N)
        ret = self.beta * mret[self.u.market_id] + self.idio * z
        ret += np.where(jump < 1e-3, -0.12, 0.0) + np.where(jump > 1 - 1e-3, 0.12, 0.0)
        ret = np.clip(ret, -0.29, 0.29)
        ret[halted] = 0.0
        self.p = np.clip(self.p * np.exp(ret), 60.0, 3_000_000.0)
        self.p[new_today] = self.u.price0[new_today]
        close = tick_round(self.p)
        close[halted] = close_prev[halted]
        return close, np.where(new_today, close, close_prev)

    def step_shares(self, rng, listed, new_today) -> np.ndarray:
        """Listed shares after rare issues and cancellations."""
        su = rng.random(self.u.N)
        factor = np.where(su < 5e-4, 1.01 + 400.0 * su, 1.0)
        factor = np.where(su > 1 - 1e-4, 0.97, factor)
        self.shares = np.where(
            listed & ~new_today, np.floor(self.shares * factor).astype(np.int64), self.shares
        )
        return self.shares

    def volume(self, rng, sh, new_today, halted, listed) -> np.ndarray:
        """Shares traded today (a listing day trades four times as much)."""
        zv = rng.standard_normal(self.u.N)
        vol = np.floor(sh * self.turnover * np.exp(0.6 * zv - 0.18)).astype(np.int64)
        vol[new_today] *= 4
        vol[halted | ~listed] = 0
        return vol


class IndexLevels:
    """The four indices, chained from their members' market caps, in hundredths."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.level = dict(_INDEX_BASE)
        self.prev_close_c = {k: round(v * 100) for k, v in self.level.items()}
        #: per index, per session: (day, close, previous close, open, high, low, vol, value, cap)
        self.rows: dict[str, list] = {k: [] for k in INDICES}

    def step(self, day, masks, close, prev_close, sh, vol, val, cap) -> None:
        """Record ``day``; ``masks[code]`` = (members today, members also priced yesterday)."""
        for index_code in INDICES:
            mask, common = masks[index_code]
            num = float((sh[common] * close[common]).sum())
            den = float((sh[common] * prev_close[common]).sum())
            self.level[index_code] *= num / den if den else 1.0
            close_c = round(self.level[index_code] * 100)
            pc = self.prev_close_c[index_code]
            while (abs(close_c - pc) * 20_000) % (2 * pc) == pc:
                close_c += 1
            self.level[index_code] = close_c / 100
            zo = self.rng.standard_normal(3)
            open_c = round(pc * (1 + 0.004 * zo[0]))
            high_c = max(open_c, close_c) + int(abs(zo[1]) * 0.004 * close_c)
            low_c = min(open_c, close_c) - int(abs(zo[2]) * 0.004 * close_c)
            self.rows[index_code].append(
                (
                    day,
                    close_c,
                    pc,
                    open_c,
                    high_c,
                    low_c,
                    int(vol[mask].sum()),
                    int(val[mask].sum()),
                    int(cap[mask].sum()),
                )
            )
            self.prev_close_c[index_code] = close_c


def index_masks(member, listed, listed_prev, market_id, market_prev) -> dict[str, tuple]:
    """Per index: (its constituents today, those of them that were priced yesterday)."""
    out = {}
    for index_code in INDICES:
        if index_code in member:
            mask = member[index_code].copy()
            common = mask & listed_prev
        else:
            m = MARKETS.index(index_code)
            mask = listed & (market_id == m)
            common = mask & listed_prev & (market_prev == m)
        out[index_code] = (mask, common)
    return out


def usdkrw_values(days: list[dt.date], rng: np.random.Generator) -> list[tuple[dt.date, str]]:
    """A random walk of KRW per USD as ECOS prints it (now and then as ``1,234.50``)."""
    rate = 1150.0 + 30.0 * rng.standard_normal()
    out = []
    for day in days:
        rate *= float(np.exp(0.0045 * rng.standard_normal()))
        rate = min(max(rate, 900.0), 1600.0)
        tenths = round(rate * 10)
        if rng.random() < 0.04:
            value = f"{tenths // 10:,}.{tenths % 10}0"
        else:
            value = f"{tenths // 10}.{tenths % 10}"
        out.append((day, value))
    return out
