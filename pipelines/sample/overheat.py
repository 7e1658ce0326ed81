"""KRX's overheated short-selling rule run on the sample while it is generated, independently of
the warehouse's SQL: the rule's thresholds come from the dbt seed (one statement of the rule),
the 40-session windows skip each ticker's own ban days, and sharp drops with short bursts are
planted so that every type of every rule version in force while shorting is allowed fires.

Per session (:meth:`Overheat.session`), in this order: planted prices and short volume, the
extension of bans whose last day fell 5 % or more, no short trading on ban days, the verdict of
every ticker that could be shorted and traded, and the windows moved on. The designations
become KRX's yearly list (MDCSTAT30901) and the day's statistics KRX's top 50 by short share
(MDCSTAT30401), both written by :class:`~pipelines.sample.writers.LandingWriter`.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from pipelines import settings
from pipelines.regimes import MARKET_MAKERS_ONLY
from pipelines.sample.market import tick_round
from pipelines.sample.names import KOSDAQ
from pipelines.sample.regime import no_halves
from pipelines.sample.universe import Universe
from pipelines.sources.datasets import MARKETS
from pipelines.sources.datasets.codes import dbt_var

RULES_SEED = settings.DBT_PROJECT_DIR / "seeds" / "short_overheat_rules.csv"
#: The window: the prior sessions that were not the ticker's ban days; with fewer traded
#: sessions than the minimum in it the ticker is not assessed (the dbt project's vars).
WINDOW_SESSIONS: int = dbt_var("overheat_window_sessions")
MIN_SESSIONS: int = dbt_var("overheat_min_window_sessions")
#: A planted designation's inputs clear its thresholds by this factor.
_MARGIN = 1.3
#: The price fall planted on a ban day to extend the ban (the seed's threshold is 5 %).
_EXTENSION_FALL = 0.06
#: A planted type 3 needs a 40-session average share above its threshold (5 %): the ticker's
#: short share is raised to about this average over the window before, within these bounds.
_RAISED_AVERAGE, _RAISED_BOUNDS = 0.065, (0.08, 0.15)
#: While raised, the ticker's price does not fall 3 % or more (no other type fires on the way).
_RAISED_FLOOR = 0.985


@dataclass(frozen=True)
class TypeRule:
    """One row of the seed: a type's thresholds for one market under one rule version (an
    empty threshold is no condition)."""

    version_id: int
    starts_on: dt.date
    ends_on: dt.date | None
    market: str
    designation_type: int
    price_change_max_pct: float | None
    price_change_above_pct: float | None
    share_min_pct: float | None
    share_base_multiple: float | None
    base_share_cap_pct: float | None
    share_avg_multiple: float | None
    value_multiple_min: float | None
    avg_share_min_pct: float | None
    ban_sessions: int
    extension_drop_pct: float | None

    def in_force(self, day: dt.date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


def load_rules(path: Path = RULES_SEED) -> tuple[TypeRule, ...]:
    """The seed's rows as :class:`TypeRule` (the description and source columns left out)."""
    kinds = {f.name: f.type for f in fields(TypeRule)}
    out = []
    with Path(path).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            values = {}
            for name, kind in kinds.items():
                text = row[name]
                if not text:
                    values[name] = None
                elif "date" in kind:
                    values[name] = dt.date.fromisoformat(text)
                elif kind == "int":
                    values[name] = int(text)
                elif kind == "str":
                    values[name] = text
                else:
                    values[name] = float(text)
            out.append(TypeRule(**values))
    return tuple(out)


def verdicts(rules, change, share, avg_share, multiple, base) -> np.ndarray:
    """Which types fire, as an (n, 5) boolean array (column k = type k), for inputs in % (the
    multiple a plain ratio; NaN where missing, which fires nothing). Type 1's base threshold
    is the capped multiple of the quarter's base, the cap alone without a base (as SQL's
    ``least`` skips a null)."""
    n = len(change)
    fired = np.zeros((n, 5), dtype=bool)
    with np.errstate(invalid="ignore"):
        for r in rules:
            ok = np.ones(n, dtype=bool)
            if r.price_change_max_pct is not None:
                ok &= change <= r.price_change_max_pct
            if r.price_change_above_pct is not None:
                ok &= change > r.price_change_above_pct
            if r.share_min_pct is not None:
                ok &= share >= r.share_min_pct
            if r.share_base_multiple is not None:
                threshold = np.nan if np.isnan(base) else r.share_base_multiple * base
                if r.base_share_cap_pct is not None:
                    threshold = np.fmin(threshold, r.base_share_cap_pct)
                ok &= share >= threshold
            if r.share_avg_multiple is not None:
                ok &= share >= r.share_avg_multiple * avg_share
            if r.value_multiple_min is not None:
                ok &= multiple >= r.value_multiple_min
            if r.avg_share_min_pct is not None:
                ok &= avg_share >= r.avg_share_min_pct
            fired[:, r.designation_type] = ok
    return fired


def winner(fired: np.ndarray) -> np.ndarray:
    """The designation type by KRX's priority (1 > 2 > 3 > 4), 0 where none fires."""
    first = np.argmax(fired[:, 1:], axis=1) + 1
    return np.where(fired[:, 1:].any(axis=1), first, 0)


@dataclass
class Designation:
    """One detection: KRX's list row and the ban it caused (session positions)."""

    t: int
    i: int
    market: str
    designation_type: int
    version_id: int
    window_sessions: int
    change_h: int  # price change in hundredths of a percent
    short_value: int
    total_value: int
    multiple: float
    avg_share_pct: float
    ban_sessions: int
    extension_drop_pct: float | None
    extended: bool = False


@dataclass
class Plan:
    """A designation of one type, version and market to plant at one of ``tries``."""

    rule: TypeRule
    market_id: int
    tries: list[int]
    raise_from: int | None = None  # type 3: first session of the raised short share
    raised_share: float = 0.0
    ticker: int | None = None
    done: bool = False


@dataclass
class SessionStats:
    """The day's rule inputs of the tickers assessed (KRX's top 50 by short share is drawn from
    them): positions, short and total value, window statistics, price change."""

    idx: np.ndarray
    short_value: np.ndarray
    total_value: np.ndarray
    avg_share_pct: np.ndarray
    multiple: np.ndarray
    change_h: np.ndarray


@dataclass
class Overheat:
    """The rule's state across sessions: each ticker's window, its ban, the quarterly bases."""

    u: Universe
    member: dict[str, np.ndarray]  # index membership, updated in place by the session loop
    rng: np.random.Generator
    rules: tuple[TypeRule, ...] = field(default_factory=load_rules)

    def __post_init__(self):
        N, W = self.u.N, WINDOW_SESSIONS
        self.sv = np.zeros((N, W), dtype=np.int64)
        self.share = np.zeros((N, W))
        self.ok = np.zeros((N, W), dtype=bool)
        self.pushed = np.zeros(N, dtype=np.int64)
        self.ban_last = np.full(N, -1, dtype=np.int64)
        self.pending_extension: dict[int, Designation] = {}
        self.extended_versions: set[int] = set()
        self.quarters: dict[tuple[int, int, int], list[int]] = {}
        self.designations: list[Designation] = []
        #: per session: (positions assessed or not, window sessions, fired types as bits, type)
        self.rows: list[tuple[np.ndarray, ...]] = []
        u = self.u
        self.excluded = np.zeros(N, dtype=bool)
        self.excluded[[u.x_delisted, u.z_mover, *u.leavers]] = True
        self.plans = self._plans()

    # --- planning ---

    def _plans(self) -> list[Plan]:
        tl = self.u.timeline
        allowed = np.array([s != MARKET_MAKERS_ONLY for s in tl.scopes])
        n_allowed = np.concatenate([[0], np.cumsum(allowed)])
        plans = []
        for r in self.rules:
            span = [
                t
                for t, day in enumerate(tl.sessions)
                if allowed[t] and r.in_force(day) and t >= MIN_SESSIONS + 5
            ]
            if not span:
                continue
            plan = Plan(r, MARKETS.index(r.market), span)
            if r.avg_share_min_pct is not None:  # the average must be built up first

                def window_allowed(t: int) -> int:
                    return int(n_allowed[t] - n_allowed[max(t - WINDOW_SESSIONS, 0)])

                first = next((t for t in span if window_allowed(t) >= 30), None)
                if first is None:
                    first = next((t for t in span if window_allowed(t) >= 17), span[-1])
                plan.tries = [t for t in span if t >= first]
                plan.raise_from = max(first - WINDOW_SESSIONS, 0)
                level = _RAISED_AVERAGE * WINDOW_SESSIONS / max(window_allowed(first), 1)
                plan.raised_share = float(np.clip(level, *_RAISED_BOUNDS))
            plans.append(plan)
        return plans

    # --- one session ---

    def banned(self, t: int) -> np.ndarray:
        """Tickers whose short selling is banned on session ``t`` (designated before)."""
        return self.ban_last >= t

    def session(self, t, day, elig, listed, halted, new_today, close, prev_close, vol, upt, exm):
        """Plant, ban, assess session ``t``; ``close``, ``vol``, ``upt`` and ``exm`` are changed
        in place. Returns the statistics of the tickers assessed."""
        u = self.u
        banned = self.banned(t)
        free = elig & listed & ~halted & ~new_today & ~banned & (vol > 0)
        rules_today = {
            m: [r for r in self.rules if r.in_force(day) and r.market == name]
            for m, name in enumerate(MARKETS)
        }
        for i, d in list(self.pending_extension.items()):  # one planted extension per version
            first = self.ban_last[i] == t and d.version_id not in self.extended_versions
            if first and not halted[i] and vol[i] > 0:
                self._set_close(i, close, prev_close, 1 - _EXTENSION_FALL)
                self.extended_versions.add(d.version_id)
        window = self._window()
        used = set()
        for plan in self.plans:
            if plan.done or plan.raise_from is None or t < plan.raise_from:
                continue
            if plan.ticker is None:
                pool = np.flatnonzero(
                    free
                    & (u.market_id == plan.market_id)
                    & u.is_common
                    & ~self.excluded
                    & (prev_close >= 1000)
                )
                if len(pool):
                    plan.ticker = int(pool[self.rng.integers(len(pool))])
            i = plan.ticker
            if i is not None and free[i]:
                used.add(i)
                upt[i], exm[i] = round(plan.raised_share * vol[i]), 0
                if close[i] <= prev_close[i] * 0.97:
                    self._set_close(i, close, prev_close, _RAISED_FLOOR)
        base = {m: self._base(day, m) for m in range(len(MARKETS))}
        for plan in self.plans:
            if not plan.done and t in plan.tries:
                self._plant(plan, t, free, used, window, base, close, prev_close, vol, upt, exm)
        change_h = _change_h(close, prev_close, vol)
        for i, d in list(self.pending_extension.items()):
            if self.ban_last[i] == t:
                del self.pending_extension[i]
                if change_h[i] <= -round(100 * d.extension_drop_pct):
                    d.extended = True
                    self.ban_last[i] += 1
                    self.extended_versions.add(d.version_id)
        upt[banned], exm[banned] = 0, 0
        no_halves(upt, exm, vol)
        short_value, total_value = (upt + exm) * close, vol * close
        share = np.where(total_value > 0, 100.0 * short_value / np.maximum(total_value, 1), 0.0)
        cnt, sum_sv, avg_share = window
        candidate = elig & listed & ~banned & (total_value > 0)
        assessed = candidate & (cnt >= MIN_SESSIONS)
        with np.errstate(divide="ignore", invalid="ignore"):
            avg_sv = np.where(cnt > 0, sum_sv / np.maximum(cnt, 1), np.nan)
            multiple = np.where(avg_sv > 0, short_value / avg_sv, np.nan)
        fired = np.zeros((u.N, 5), dtype=bool)
        change = change_h / 100.0
        for m, rules in rules_today.items():
            on = np.flatnonzero(assessed & (u.market_id == m))
            if len(on) and rules:
                fired[on] = verdicts(
                    rules, change[on], share[on], avg_share[on], multiple[on], base[m]
                )
        kind = winner(fired)
        for i in np.flatnonzero(kind).tolist():
            self._designate(
                t,
                i,
                int(kind[i]),
                rules_today[int(u.market_id[i])],
                int(cnt[i]),
                int(change_h[i]),
                short_value,
                total_value,
                multiple,
                avg_share,
            )
        idx = np.flatnonzero(candidate)
        bits = (fired[idx, 1:] * np.array([1, 2, 4, 8])).sum(axis=1)
        self.rows.append((idx, cnt[idx], bits, kind[idx]))
        self._push(~banned, short_value, share, total_value > 0)
        self._add_to_base(day, listed, short_value, total_value)
        shown = np.flatnonzero(assessed & (short_value > 0) & (avg_sv > 0) & (avg_share > 0))
        return SessionStats(
            shown,
            short_value[shown],
            total_value[shown],
            avg_share[shown],
            multiple[shown],
            change_h[shown],
        )

    def _plant(self, plan, t, free, used, window, base, close, prev_close, vol, upt, exm):
        """A sharp drop with a short burst clearing ``plan``'s thresholds (try a few tickers)."""
        u, r = self.u, plan.rule
        cnt, sum_sv, avg_share = window
        pool = free & (u.market_id == plan.market_id) & u.is_common & ~self.excluded
        pool &= (cnt >= MIN_SESSIONS) & (sum_sv > 0) & (prev_close >= 1000)
        order = np.flatnonzero(pool)
        order = order[self.rng.permutation(len(order))].tolist()
        order = [i for i in order if i not in used or i == plan.ticker]
        if plan.ticker is not None and plan.ticker in order:
            order.remove(plan.ticker)
            order.insert(0, plan.ticker)
        others = [
            o
            for o in self.rules
            if o.version_id == r.version_id
            and o.market == r.market
            and o.designation_type != r.designation_type
        ]
        change = _planted_change(r, others)
        for i in order[:5]:
            new_close = int(tick_round(np.array([prev_close[i] * (1 + change)]))[0])
            ch = _change_h(np.array([new_close]), prev_close[i : i + 1], np.array([1]))
            avg_sv = sum_sv[i] / cnt[i]
            multiple = _MARGIN * (r.value_multiple_min or 2.0)
            share = _planted_share(r, others, ch[0] / 100, avg_share[i], base[plan.market_id])
            short_qty = int(np.ceil(multiple * avg_sv / new_close))
            total_qty = max(int(np.ceil(100 * short_qty / share)), short_qty)
            sv, v = short_qty * new_close, total_qty * new_close
            fired = verdicts(
                [o for o in self.rules if o.version_id == r.version_id and o.market == r.market],
                ch / 100.0,
                np.array([100.0 * sv / v]),
                avg_share[i : i + 1],
                np.array([sv / avg_sv]),
                base[plan.market_id],
            )
            if winner(fired)[0] != r.designation_type:
                continue
            close[i] = new_close
            vol[i], upt[i], exm[i] = total_qty, short_qty, 0
            used.add(i)
            return

    def _set_close(self, i, close, prev_close, factor) -> None:
        close[i] = int(tick_round(np.array([prev_close[i] * factor]))[0])

    def _designate(self, t, i, kind, rules, cnt, change_h, sv, v, multiple, avg_share):
        rule = next(r for r in rules if r.designation_type == kind)
        d = Designation(
            t=t,
            i=i,
            market=MARKETS[int(self.u.market_id[i])],
            designation_type=kind,
            version_id=rule.version_id,
            window_sessions=cnt,
            change_h=change_h,
            short_value=int(sv[i]),
            total_value=int(v[i]),
            multiple=float(multiple[i]),
            avg_share_pct=float(avg_share[i]),
            ban_sessions=rule.ban_sessions,
            extension_drop_pct=rule.extension_drop_pct,
        )
        self.designations.append(d)
        self.ban_last[i] = t + rule.ban_sessions
        if rule.extension_drop_pct is not None:
            self.pending_extension[i] = d
        for plan in self.plans:
            if (plan.rule.version_id, plan.market_id, plan.rule.designation_type) == (
                rule.version_id,
                int(self.u.market_id[i]),
                kind,
            ):
                plan.done = True

    # --- windows and bases ---

    def _window(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(traded sessions, their summed short value, their mean short share %) per ticker."""
        cnt = self.ok.sum(axis=1)
        sum_sv = np.where(self.ok, self.sv, 0).sum(axis=1)
        with np.errstate(invalid="ignore"):
            avg_share = np.where(self.ok, self.share, 0.0).sum(axis=1) / cnt
        return cnt, sum_sv, avg_share

    def _push(self, on, short_value, share, traded) -> None:
        rows = np.flatnonzero(on)
        pos = self.pushed[rows] % WINDOW_SESSIONS
        self.sv[rows, pos] = short_value[rows]
        self.share[rows, pos] = share[rows]
        self.ok[rows, pos] = traded[rows]
        self.pushed[rows] += 1

    def _add_to_base(self, day, listed, short_value, total_value) -> None:
        """Type 1's base: all KOSPI tickers, KOSDAQ 150 members for KOSDAQ."""
        for m in range(len(MARKETS)):
            on = listed & (self.u.market_id == m)
            if m == KOSDAQ:
                on &= self.member["KOSDAQ150"]
            sums = self.quarters.setdefault((day.year, (day.month - 1) // 3, m), [0, 0])
            sums[0] += int(short_value[on].sum())
            sums[1] += int(total_value[on].sum())

    def _base(self, day: dt.date, m: int) -> float:
        q = (day.month - 1) // 3
        key = (day.year, q - 1, m) if q else (day.year - 1, 3, m)
        sv, v = self.quarters.get(key, (0, 0))
        return float(100 * sv) / float(v) if v else np.nan


def _change_h(close, prev_close, vol) -> np.ndarray:
    """FLUC_RT in hundredths of a percent, half up; 0 where the ticker did not trade."""
    chg = np.where(vol > 0, close - prev_close, 0).astype(np.int64)
    pc = np.maximum(prev_close, 1)
    h = (np.abs(chg) * 20_000 + pc) // (2 * pc)
    return np.where(chg < 0, -h, h)


def _planted_change(rule: TypeRule, others: list[TypeRule]) -> float:
    """The price change of a planted designation: inside the type's band, else (type 3) a
    small fall above every other type's ceiling."""
    hi, lo = rule.price_change_max_pct, rule.price_change_above_pct
    if hi is not None and lo is not None:
        return (hi + lo) / 200
    if hi is not None:
        return hi * 1.25 / 100
    ceilings = [o.price_change_max_pct for o in others if o.price_change_max_pct is not None]
    return max(ceilings, default=-2.0) / 200


def _planted_share(rule, others, change_pct, avg_share, base) -> float:
    """Today's short share (%) of a planted designation: the margin over what the type needs,
    and over the share floor of a lower-priority type the planted price also meets (both fire,
    the priority decides); for a type without a share condition, twice the average, below every
    other type's floor."""
    need = [rule.share_min_pct or 0.0]
    if rule.share_base_multiple is not None:
        need.append(
            min(rule.share_base_multiple * base, rule.base_share_cap_pct)
            if not np.isnan(base)
            else rule.base_share_cap_pct
        )
    if rule.share_avg_multiple is not None:
        need.append(rule.share_avg_multiple * avg_share)
    for o in others:
        below = o.designation_type > rule.designation_type and o.share_min_pct is not None
        if below and (o.price_change_max_pct is None or change_pct <= o.price_change_max_pct):
            need.append(o.share_min_pct)
    if max(need) > 0:
        return min(_MARGIN * max(need), 95.0)
    floors = [o.share_min_pct for o in others if o.share_min_pct is not None]
    return min(max(2 * avg_share, 2.0), 0.5 * min(floors, default=100.0))
