"""Market dynamics: prices on KRX ticks, listed shares, trading volume, index levels, USD/KRW."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pipelines.sample.names import KOSDAQ
from pipelines.sample.universe import Universe
from pipelines.sources.datasets import INDICES, MARKETS

#: The real market's path the sample follows, approximately: (day, KOSPI, KOSDAQ market cap in
#: trillion KRW, USD/KRW); the caps of 2025-03-31 and 2025-07-09 are KRX's balance totals over
#: their ratios. Between anchors the path is log-linear; after the last one it stays flat.
ANCHORS = (
    (dt.date(2020, 1, 2), 1475, 240, 1158),
    (dt.date(2020, 2, 19), 1500, 255, 1190),
    (dt.date(2020, 3, 19), 1000, 150, 1285),
    (dt.date(2020, 6, 30), 1450, 270, 1200),
    (dt.date(2020, 12, 30), 1980, 385, 1088),
    (dt.date(2021, 6, 30), 2300, 430, 1130),
    (dt.date(2021, 12, 30), 2200, 445, 1188),
    (dt.date(2022, 6, 30), 1800, 330, 1298),
    (dt.date(2022, 9, 30), 1680, 300, 1430),
    (dt.date(2022, 12, 29), 1770, 315, 1265),
    (dt.date(2023, 6, 30), 2070, 420, 1317),
    (dt.date(2023, 10, 31), 1840, 360, 1350),
    (dt.date(2023, 12, 28), 2130, 430, 1288),
    (dt.date(2024, 6, 28), 2290, 400, 1380),
    (dt.date(2024, 12, 30), 1960, 330, 1472),
    (dt.date(2025, 3, 31), 2061, 330, 1472),
    (dt.date(2025, 7, 9), 2699, 409, 1370),
    (dt.date(2025, 10, 31), 3400, 460, 1430),
)
_INDEX_BASE = {"KOSPI": 2100.0, "KOSPI200": 280.0, "KOSDAQ": 680.0, "KOSDAQ150": 1100.0}
#: Range USD/KRW stays in (the real 2019-2026 range).
USDKRW_RANGE = (1100.0, 1480.0)
#: Fraction of the gap to the anchored path that the market closes each session.
_PULL = 0.1
#: Fraction of its own (non-market) return a stock gives back each session, so that caps do
#: not drift apart without end (which left a few names holding a market after some years).
_REVERSION = 0.004
_ORDINALS = np.array([a[0].toordinal() for a in ANCHORS], dtype=float)
_LOG_ANCHORS = np.log(np.array([a[1:] for a in ANCHORS], dtype=float))


def anchored(day: dt.date) -> np.ndarray:
    """Log of the anchored (KOSPI cap, KOSDAQ cap, USD/KRW) on ``day``."""
    return np.array([np.interp(day.toordinal(), _ORDINALS, col) for col in _LOG_ANCHORS.T])


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


class Market:
    """Latent prices, listed shares and turnover of every security, one session at a time."""

    def __init__(self, universe: Universe, rng: np.random.Generator):
        self.u = universe
        N = universe.N
        kosdaq = universe.market_id == KOSDAQ
        self.p = universe.price0.copy()
        self.shares = universe.shares0.copy()
        self.beta = rng.uniform(0.6, 1.4, N)
        self.beta[universe.giant] = 1.0  # the giant moves with its market and keeps its share
        self.idio = np.where(kosdaq, rng.uniform(0.015, 0.035, N), rng.uniform(0.011, 0.026, N))
        self.turnover = np.clip(
            np.exp(rng.normal(np.log(np.where(kosdaq, 0.008, 0.003)), 0.7)), 2e-4, 0.06
        )
        self.turnover[~universe.is_common] *= 0.3
        self.own = np.zeros(N)  # each stock's log return beside the market since it listed
        self.offset: np.ndarray | None = None  # log of the sample's size against the anchors

    def step_prices(
        self, day, rng, halted, new_today, close_prev, market_caps
    ) -> tuple[np.ndarray, ...]:
        """Today's closes and the previous closes they compare with (a listing: its own).

        The market factor pulls each market's cap (``market_caps``: yesterday's, by market id)
        towards the anchored path, scaled to the sample's first session."""
        N = self.u.N
        log_caps = np.log(np.asarray(market_caps, dtype=float))
        if self.offset is None:
            self.offset = log_caps - anchored(day)[:2]
        gap = anchored(day)[:2] + self.offset - log_caps
        zm = rng.standard_normal(2)
        mret = _PULL * gap + 0.011 * np.array([zm[0], 0.8 * zm[0] + 0.6 * zm[1]])
        z = rng.standard_normal(N)
        jump = rng.random(N)
        own = self.idio * z - _REVERSION * self.own
        own += np.where(jump < 1e-3, -0.12, 0.0) + np.where(jump > 1 - 1e-3, 0.12, 0.0)
        ret = np.clip(self.beta * mret[self.u.market_id] + own, -0.29, 0.29)
        ret[halted] = 0.0
        self.own = np.where(halted, self.own, self.own + own)
        self.own[new_today] = 0.0
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
    """KRW per USD as ECOS prints it (now and then as ``1,234.50``): daily noise around the
    anchored path, kept inside :data:`USDKRW_RANGE`."""
    lo, hi = USDKRW_RANGE
    rate = float(np.exp(anchored(days[0])[2]))
    out = []
    for day in days:
        gap = anchored(day)[2] - np.log(rate)
        rate *= float(np.exp(_PULL * gap + 0.0045 * rng.standard_normal()))
        rate = min(max(rate, lo), hi)
        tenths = round(rate * 10)
        if rng.random() < 0.04:
            value = f"{tenths // 10:,}.{tenths % 10}0"
        else:
            value = f"{tenths // 10}.{tenths % 10}"
        out.append((day, value))
    return out
