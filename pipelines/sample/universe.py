"""The universe: listed securities, their invented names and codes, and the events scheduled for
them (listings, delistings, renames, KOSDAQ -> KOSPI transfers, trading halts, and the designated
tickers that exercise the index rules)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from pipelines.regimes import INDEX_CONSTITUENTS
from pipelines.sample.names import (
    ENG_MARKER,
    FIRST,
    INDUSTRY,
    KOSDAQ,
    KOSDAQ_SECTIONS,
    KOSPI,
    NAME_MARKER,
    NEW_STYLE_LETTERS,
    PARVAL,
    PREF,
    SECOND,
)
from pipelines.sample.timeline import Timeline

_NORMAL = NormalDist()

#: Sessions a new listing must have traded before it can join an index.
SEASONING_SESSIONS = 60
#: Share of KOSPI's initial common-stock market cap held by its largest stock.
MEGA_CAP_SHARE = 0.22


@dataclass(frozen=True)
class Scale:
    kospi: int  # tickers listed at the start, preferred shares included
    kosdaq: int
    kospi200: int  # index sizes
    kosdaq150: int
    kospi_preferred: int
    kosdaq_preferred: int
    swaps: tuple[int, int]  # members swapped per index at a regular rebalance (min, max)

    def index_size(self, index_code: str) -> int:
        return self.kospi200 if index_code == "KOSPI200" else self.kosdaq150


SCALES: dict[str, Scale] = {
    "demo": Scale(70, 85, 20, 15, 7, 1, (1, 2)),
    "full": Scale(950, 1700, 200, 150, 110, 10, (4, 9)),
}


@dataclass
class Security:
    i: int
    code: str
    market: int
    pref: int  # 0 common, else preferred series 1..3
    base: str  # invented name without suffixes
    eng: str
    corp_prefix: bool  # full name style "(주)X" (else "X보통주")
    list_dd: dt.date
    sect: str
    parval: str
    listed_from: int  # session index (0 for the initial universe)
    listed_to: int  # exclusive session index; T when listed at the end
    initial: bool
    parent: int | None = None
    has_children: bool = False
    names: list[tuple[int, str]] = field(default_factory=list)
    markets: list[tuple[int, int]] = field(default_factory=list)

    @property
    def abbr(self) -> str:
        return f"{self.base}{PREF[self.pref][0] if self.pref else ''}{NAME_MARKER}"

    @property
    def full_name(self) -> str:
        if self.pref:
            return f"{self.base}{PREF[self.pref][1]}{NAME_MARKER}"
        if self.corp_prefix:
            return f"(주){self.base}{NAME_MARKER}"
        return f"{self.base}보통주{NAME_MARKER}"

    @property
    def eng_name(self) -> str:
        suffix = f" {PREF[self.pref][2]}" if self.pref else ""
        return f"{self.eng} Co., Ltd.{suffix} {ENG_MARKER}"


class Universe:
    """Every security of the range with its schedule, drawn from ``rng`` in a fixed order.

    Arrays are indexed by security position ``i``; ``market_id`` changes when a transfer
    happens (:meth:`apply_events`).
    """

    def __init__(self, timeline: Timeline, scale: Scale, rng: np.random.Generator):
        self.timeline, self.scale, self.rng = timeline, scale, rng
        self.secs: list[Security] = []
        self.used_codes: set[str] = set()
        self.used_names: set[str] = set()
        self._build()
        secs = self.secs
        self.N = len(secs)
        self.codes = [s.code for s in secs]
        self.listed_from = np.array([s.listed_from for s in secs], dtype=np.int64)
        self.listed_to = np.array([s.listed_to for s in secs], dtype=np.int64)
        self.seasoned_from = np.where(
            np.array([s.initial for s in secs]), -(10**6), self.listed_from + SEASONING_SESSIONS
        )
        self.market_id = np.array([s.market for s in secs], dtype=np.int64)
        self.is_common = np.array([s.pref == 0 for s in secs])
        for s in secs:
            s.names.append((s.listed_from, s.abbr))
            s.markets.append((s.listed_from, s.market))
        self.renames: dict[int, list] = {}
        for t, i, base, eng in self.rename_events:
            self.renames.setdefault(t, []).append((i, base, eng))
        self.moves: dict[int, list[int]] = {}
        for t, i in self.market_events:
            self.moves.setdefault(t, []).append(i)
        #: sessions where the set of rows or their names change
        self.event_ts = (
            set(self.renames)
            | set(self.moves)
            | set(self.listed_from.tolist())
            | set(self.listed_to.tolist())
        )
        self.rename_log: list[tuple[int, int, str, str]] = []
        self.move_log: list[tuple[int, int, int, int]] = []

    def listed(self, t: int) -> np.ndarray:
        return (self.listed_from <= t) & (t < self.listed_to)

    def apply_events(self, t: int, day: dt.date) -> list[int]:
        """Renames and market transfers visible from session ``t``; returns the renamed."""
        renamed = []
        for i, base, eng in self.renames.get(t, ()):
            sec = self.secs[i]
            old = sec.abbr
            sec.base, sec.eng = base, eng
            sec.names.append((t, sec.abbr))
            renamed.append(i)
            self.rename_log.append((t, i, old, sec.abbr))
        for i in self.moves.get(t, ()):
            sec = self.secs[i]
            self.move_log.append((t, i, sec.market, KOSPI))
            sec.market, sec.sect, sec.list_dd = KOSPI, "", day
            sec.markets.append((t, KOSPI))
            self.market_id[i] = KOSPI
        return renamed

    def draw_halts(self, rng: np.random.Generator) -> None:
        """Random short trading halts plus the sessions before each delisting."""
        T, N = self.timeline.T, self.N
        self.halted = np.zeros((T, N), dtype=bool)
        starts = np.argwhere(rng.random((T, N)) < 2e-4)
        lengths = rng.integers(1, 6, len(starts))
        for (t, i), n in zip(starts.tolist(), lengths.tolist(), strict=True):
            self.halted[t : t + n, i] = True
        for i in self.delist_events:
            t = int(self.listed_to[i])
            n = 4 if i == self.x_delisted else int(rng.integers(1, 6))
            self.halted[max(0, t - n) : t, i] = True
        self.halted[0] = False  # a clean first session

    def _name(self) -> tuple[str, str]:
        rng = self.rng
        while True:
            a = FIRST[rng.integers(len(FIRST))]
            b = SECOND[rng.integers(len(SECOND))]
            ind = INDUSTRY[rng.integers(len(INDUSTRY))]
            if a[0] == b[0]:
                continue
            base = a[0] + b[0] + ind[0]
            if base not in self.used_names:
                self.used_names.add(base)
                return base, f"{a[1]}{b[1]} {ind[1]}"

    def _common_code(self, new_style: bool) -> str:
        rng = self.rng
        while True:
            if new_style:
                letter = NEW_STYLE_LETTERS[rng.integers(len(NEW_STYLE_LETTERS))]
                code = f"0{rng.integers(1, 999):03d}{letter}0"
            else:
                code = f"{rng.integers(100, 49_999):05d}0"
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def _draw_common(self, market: int, n: int):
        """Market caps (KRW) and prices for ``n`` common stocks: log-normal caps (a long upper
        tail on KOSPI) sized so that the full scale starts near the real markets of January
        2020 (KOSPI about 1,475 trn KRW, KOSDAQ 240 trn); a small universe keeps the shape."""
        rng = self.rng
        # a stratified sample: one normal quantile per n-th of the distribution, so that a small
        # universe has the same shape as a large one
        u = rng.random(n)
        z = rng.permutation([_NORMAL.inv_cdf((k + 0.2 + 0.6 * v) / n) for k, v in enumerate(u)])
        if market == KOSPI:
            logcap = np.clip(11.05 + 0.62 * z * (1 + 0.33 * np.maximum(z, 0)), 10.0, 13.8)
        else:
            logcap = np.clip(10.86 + 0.5 * z, 9.7, 12.9)
        logp = np.clip(3.0 + 2.3 * rng.random(n) + 0.3 * (logcap - logcap.mean()), 2.7, 6.0)
        price = 10.0**logp
        shares = np.maximum(np.rint(10.0**logcap / price), 200_000).astype(np.int64)
        return price, shares

    def _new_security(
        self, market: int, listed_from: int, initial: bool, new_style: bool, list_dd: dt.date
    ) -> Security:
        rng = self.rng
        base, eng = self._name()
        weights = PARVAL[market]
        parval = weights[
            int(np.searchsorted(np.cumsum([w for _, w in weights]), rng.random() * 0.999999))
        ][0]
        sec = Security(
            i=len(self.secs),
            code=self._common_code(new_style),
            market=market,
            pref=0,
            base=base,
            eng=eng,
            corp_prefix=market == KOSDAQ and rng.random() < 0.4,
            list_dd=list_dd,
            sect="" if market == KOSPI else KOSDAQ_SECTIONS[rng.integers(len(KOSDAQ_SECTIONS))],
            parval=parval,
            listed_from=listed_from,
            listed_to=self.timeline.T,
            initial=initial,
        )
        self.secs.append(sec)
        return sec

    def _old_list_dd(self) -> dt.date:
        first = dt.date(1976, 1, 1).toordinal()
        last = self.timeline.start.toordinal() - 400
        d = dt.date.fromordinal(int(self.rng.integers(first, last)))
        while d.weekday() >= 5:
            d += dt.timedelta(days=1)
        return d

    def _build(self) -> None:
        sc, rng, T = self.scale, self.rng, self.timeline.T
        price: list[float] = []
        shares: list[int] = []
        # initial common stocks
        for market, n, npref in (
            (KOSPI, sc.kospi, sc.kospi_preferred),
            (KOSDAQ, sc.kosdaq, sc.kosdaq_preferred),
        ):
            p, s = self._draw_common(market, n - npref)
            for k in range(n - npref):
                self._new_security(market, 0, True, False, self._old_list_dd())
                price.append(float(p[k]))
                shares.append(int(s[k]))
        caps = np.array(price) * np.array(shares)
        # one KOSPI giant, as Samsung Electronics is (23.7 % of KOSPI's cap on 2021-01-27)
        kospi = [s.i for s in self.secs if s.market == KOSPI]
        self.giant = giant = max(kospi, key=lambda i: (caps[i], self.secs[i].code))
        rest = caps[kospi].sum() - caps[giant]
        shares[giant] = int(np.rint(MEGA_CAP_SHARE / (1 - MEGA_CAP_SHARE) * rest / price[giant]))
        caps[giant] = price[giant] * shares[giant]

        def ranked(market: int) -> list[int]:
            idx = [s.i for s in self.secs if s.market == market]
            return sorted(idx, key=lambda i: (-caps[i], self.secs[i].code))

        kospi_rank, kosdaq_rank = ranked(KOSPI), ranked(KOSDAQ)
        # designated tickers (see the module docstring)
        self.x_delisted = kospi_rank[3]  # KOSPI 200 member delisted -> ad-hoc change
        self.z_mover = kosdaq_rank[0]  # KOSDAQ 150 member moving to KOSPI -> ad-hoc change
        self.leavers = [
            kosdaq_rank[min(5, sc.kosdaq150 - 1)],
            kosdaq_rank[min(9, sc.kosdaq150 - 2)],
        ]
        designated = {self.x_delisted, self.z_mover, *self.leavers}

        # preferred shares: children of large common stocks, some with K/L/M codes
        n_k_style = 0
        for market, npref in ((KOSPI, sc.kospi_preferred), (KOSDAQ, sc.kosdaq_preferred)):
            ranks = kospi_rank if market == KOSPI else kosdaq_rank
            pool = [i for i in ranks[: max(npref * 4, 10)] if i not in designated]
            made = 0
            while made < npref:
                parent = self.secs[pool[int(rng.integers(len(pool)))]]
                series = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
                k_style = n_k_style == 0 or rng.random() < 0.35
                code = parent.code[:5] + PREF[series][4][1 if k_style else 0]
                if code in self.used_codes:
                    continue
                self.used_codes.add(code)
                n_k_style += k_style
                parent.has_children = True
                self.secs.append(
                    Security(
                        i=len(self.secs),
                        code=code,
                        market=market,
                        pref=series,
                        base=parent.base,
                        eng=parent.eng,
                        corp_prefix=False,
                        list_dd=parent.list_dd,
                        sect=parent.sect,
                        parval=parent.parval,
                        listed_from=0,
                        listed_to=T,
                        initial=True,
                        parent=parent.i,
                    )
                )
                pp = price[parent.i] * rng.uniform(0.4, 0.9)
                price.append(pp)
                shares.append(int(max(50_000, shares[parent.i] * rng.uniform(0.01, 0.12))))
                made += 1

        years = max(self.timeline.T / 248.0, 0.1)
        n0 = len(self.secs)
        # listings (mid-range), one with a new-style code when the range reaches mid-2024
        n_list = max(2, round(n0 * 0.025 * years)) if T > 3 else 0
        list_ts = sorted(int(t) for t in rng.integers(1, T, n_list)) if n_list else []
        late = [t for t in range(1, T) if self.timeline.sessions[t] >= dt.date(2024, 6, 1)]
        forced_new_style = None
        if late:
            forced_new_style = late[int(rng.integers(len(late)))]
            list_ts.append(forced_new_style)
        self.listing_events: list[int] = []
        for t in list_ts:
            market = KOSDAQ if rng.random() < 0.7 else KOSPI
            new_style = t == forced_new_style or (
                self.timeline.sessions[t] >= dt.date(2024, 1, 1) and rng.random() < 0.6
            )
            sec = self._new_security(market, t, False, new_style, self.timeline.sessions[t])
            p, s = self._draw_common(market, 1)
            price.append(float(p[0]))
            shares.append(int(s[0]))
            self.listing_events.append(sec.i)

        # delistings: small caps never in an index, and some preferred shares
        def small_caps(ranks: list[int], size: int) -> list[int]:
            return [i for i in ranks[2 * size :] if not self.secs[i].has_children]

        pool = small_caps(kospi_rank, sc.kospi200) + small_caps(kosdaq_rank, sc.kosdaq150)
        pool += [s.i for s in self.secs if s.pref]
        pool = [i for i in pool if i not in designated]
        n_del = min(len(pool), max(2, round(n0 * 0.015 * years))) if T > 3 else 0
        chosen = [pool[k] for k in sorted(rng.choice(len(pool), n_del, replace=False).tolist())]
        self.index_blocked = np.zeros(len(self.secs), dtype=bool)
        self.delist_events: list[int] = []
        for i in chosen:
            t = self._free_session(lambda t: t not in self.timeline.rebalance_set)
            self.secs[i].listed_to = t
            self.index_blocked[i] = True
            self.delist_events.append(i)

        # renames: common stocks without preferred children
        taken = set(chosen) | designated
        pool = [
            s.i
            for s in self.secs
            if s.initial and not s.pref and not s.has_children and s.i not in taken
        ]
        n_ren = min(len(pool), max(2, round(n0 * 0.01 * years))) if T > 3 else 0
        self.rename_events: list[tuple[int, int, str, str]] = []
        for k in sorted(rng.choice(len(pool), n_ren, replace=False).tolist()):
            t = int(rng.integers(1, T))
            base, eng = self._name()
            self.rename_events.append((t, pool[k], base, eng))
            taken.add(pool[k])

        # market changes KOSDAQ -> KOSPI: the designated KOSDAQ 150 member plus a few others
        pool = [
            s.i
            for s in self.secs
            if s.initial
            and s.market == KOSDAQ
            and not s.pref
            and not s.has_children
            and s.i not in taken
        ]
        n_mc = min(len(pool), round(n0 * 0.0012 * years)) if T > 3 else 0
        self.market_events: list[tuple[int, int]] = []
        for k in sorted(rng.choice(len(pool), n_mc, replace=False).tolist()):
            t = self._free_session(lambda t: t not in self.timeline.rebalance_set)
            self.market_events.append((t, pool[k]))

        self.price0 = np.array(price)
        self.shares0 = np.array(shares, dtype=np.int64)
        self._schedule_designated()

    def _free_session(self, ok) -> int:
        for _ in range(1000):
            t = int(self.rng.integers(1, self.timeline.T))
            if ok(t):
                return t
        return int(self.rng.integers(1, self.timeline.T))

    def _schedule_designated(self) -> None:
        """Place the designated leavers' rebalance and the two ad-hoc changes."""
        tl = self.timeline
        T, rebal = tl.T, tl.rebalance_set
        reg3 = [t for t in tl.rebalance_ts if tl.scopes[t] == INDEX_CONSTITUENTS]
        self.leaver_t = reg3[0] if reg3 else (tl.rebalance_ts[0] if tl.rebalance_ts else None)
        self.cover_t = None
        if self.leaver_t is not None and self.leaver_t + 12 < T:
            self.cover_t = self.leaver_t + 12
        if self.leaver_t is None:
            self.leavers = []

        def ok(t: int) -> bool:
            return 5 <= t < T and t not in rebal and t not in tl.month_first

        firsts = sorted(tl.month_first)
        in3 = [m for m in firsts if tl.scopes[m] == INDEX_CONSTITUENTS]
        after = [m for m in in3 if self.leaver_t is not None and m > self.leaver_t]
        group = after or in3 or firsts
        self.d1 = self.d2 = None
        if group:
            m1 = group[len(group) // 3]
            self.d1 = self._near(m1 + 2, ok, set())
            m2 = group[(2 * len(group)) // 3]
            self.d2 = self._near(m2 + 7, ok, {self.d1})
        if self.d1 is not None:
            self.secs[self.x_delisted].listed_to = self.d1
            self.delist_events.append(self.x_delisted)
        if self.d2 is not None:
            self.market_events.append((self.d2, self.z_mover))
        self.market_events.sort()

    @staticmethod
    def _near(t: int, ok, used: set) -> int | None:
        for delta in range(0, 60):
            for cand in (t + delta, t - delta):
                if ok(cand) and cand not in used:
                    return cand
