"""Ground truth: what the generator wrote, in dates and tickers, for tests to compare the
warehouse against."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import orjson

from pipelines.regimes import ALL_LISTED, MARKET_MAKERS_ONLY, regime_on
from pipelines.sample.formats import isin_for
from pipelines.sample.membership import Membership
from pipelines.sample.overheat import Overheat
from pipelines.sample.universe import Universe
from pipelines.sources.datasets import MARKETS


@dataclass
class SecurityTruth:
    ticker: str
    isin: str
    kind: str  # "common" | "preferred"
    listed_on: dt.date  # first session listed inside the range
    delisted_on: dt.date | None  # first session no longer listed (None: listed at the end)
    names: list[tuple[dt.date, str]]  # (valid from, ISU_ABBRV)
    markets: list[tuple[dt.date, str]]  # (valid from, "KOSPI" | "KOSDAQ")


Interval = tuple[str, dt.date, dt.date | None, str, str | None]


@dataclass
class DesignationTruth:
    """An overheated designation as the generator's rule made it (KRX's list holds it)."""

    detected_on: dt.date
    ticker: str
    market: str
    designation_type: int
    version_id: int
    ban_days: list[dt.date]  # the sessions short selling was banned, the extension included
    extended: bool


@dataclass
class CandidateTruth:
    """The rule's verdict on one ticker-day where shorting was allowed and the ticker traded."""

    window_sessions: int  # traded sessions in the 40-session window (assessed from 20)
    types: tuple[int, ...]  # the types whose conditions all hold
    designation_type: int | None  # the one that wins by priority


@dataclass
class SampleTruth:
    """What the generator wrote, for tests to compare the warehouse against.

    Dates of events are sessions: a listing/rename/market change is visible from that session on,
    a delisting is the first session the ticker no longer appears, membership intervals are
    ``[valid_from, valid_to)`` with kinds ``initial`` / ``regular_rebalance`` / ``ad_hoc``.
    """

    seed: int
    scale: str
    start: dt.date
    end: dt.date
    sessions: list[dt.date]
    rebalance_sessions: list[dt.date]
    securities: dict[str, SecurityTruth]
    memberships: dict[str, list[Interval]]
    snapshots: dict[str, dict[dt.date, list[str]]]
    listings: list[tuple[dt.date, str, str]]  # (session, ticker, market)
    delistings: list[tuple[dt.date, str, str]]  # (first session absent, ticker, market)
    renames: list[tuple[dt.date, str, str, str]]  # (session, ticker, old name, new name)
    market_changes: list[tuple[dt.date, str, str, str]]  # (session, ticker, old, new market)
    ad_hoc_changes: list[tuple[str, dt.date, str, str]]  # (index, session, ticker in, ticker out)
    #: every member that left an index while staying listed:
    #: (index, ticker, excluded_on, balance on its last member session, first zero-balance session
    #: in a published balance file before any re-entry)
    residuals: list[tuple[str, str, dt.date, int, dt.date | None]]
    #: the KOSDAQ 150 members forced out at the first rebalance of the constituents-only regime
    #: (or the first rebalance in range) while holding a large balance
    designated_leavers: list[str]
    #: KRX's designation list as the generator's rule made it, in detection order
    designations: list[DesignationTruth]
    #: (session, ticker) -> the rule's verdict, for every ticker-day the rule looked at
    overheat_candidates: dict[tuple[dt.date, str], CandidateTruth]
    files: list[str]  # landing paths written, relative to the root
    _member_index: dict = field(default_factory=dict, repr=False, compare=False)

    def market_on(self, day: dt.date, ticker: str) -> str | None:
        """The ticker's market on ``day``, or None when it is not listed then."""
        if not self.is_listed(day, ticker):
            return None
        sec = self.securities[ticker]
        return as_of(sec.markets, day)

    def name_on(self, day: dt.date, ticker: str) -> str | None:
        return as_of(self.securities[ticker].names, day)

    def is_listed(self, day: dt.date, ticker: str) -> bool:
        sec = self.securities.get(ticker)
        if sec is None or day < sec.listed_on:
            return False
        return sec.delisted_on is None or day < sec.delisted_on

    def is_member(self, index_code: str, day: dt.date, ticker: str) -> bool:
        if not self._member_index:
            for code, intervals in self.memberships.items():
                by_ticker: dict[str, list] = {}
                for iv in intervals:
                    by_ticker.setdefault(iv[0], []).append(iv)
                self._member_index[code] = by_ticker
        for _, start, stop, _, _ in self._member_index[index_code].get(ticker, ()):
            if start <= day and (stop is None or day < stop):
                return True
        return False

    def eligible(self, day: dt.date, ticker: str) -> bool:
        """Could ``ticker`` be sold short (new positions, uptick rule) on ``day``?"""
        market = self.market_on(day, ticker)
        if market is None or (day, ticker) in self.ban_days:
            return False
        scope = regime_on(day).scope
        if scope == ALL_LISTED:
            return True
        if scope == MARKET_MAKERS_ONLY:
            return False
        return self.is_member("KOSPI200" if market == "KOSPI" else "KOSDAQ150", day, ticker)

    @cached_property
    def ban_days(self) -> set[tuple[dt.date, str]]:
        """(session, ticker) of every overheated ban day."""
        return {(day, d.ticker) for d in self.designations for day in d.ban_days}

    def members_on(self, index_code: str, day: dt.date) -> list[str]:
        return sorted(
            iv[0]
            for iv in self.memberships[index_code]
            if iv[1] <= day and (iv[2] is None or day < iv[2])
        )

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "scale": self.scale,
            "start": self.start,
            "end": self.end,
            "sessions": self.sessions,
            "rebalance_sessions": self.rebalance_sessions,
            "securities": self.securities,
            "memberships": self.memberships,
            "snapshots": self.snapshots,
            "listings": self.listings,
            "delistings": self.delistings,
            "renames": self.renames,
            "market_changes": self.market_changes,
            "ad_hoc_changes": self.ad_hoc_changes,
            "residuals": self.residuals,
            "designated_leavers": self.designated_leavers,
            "designations": self.designations,
            "overheat_candidates": [
                {"trade_date": day, "ticker": ticker, **vars(verdict)}
                for (day, ticker), verdict in self.overheat_candidates.items()
            ],
            "files": self.files,
        }

    def to_json(self, path: Path) -> Path:
        """Write the truth as JSON (keep it outside the landing root)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            orjson.dumps(self.to_dict(), option=orjson.OPT_NON_STR_KEYS | orjson.OPT_INDENT_2)
        )
        return path


def as_of(history: list[tuple[dt.date, str]], day: dt.date) -> str | None:
    pos = bisect_right([d for d, _ in history], day)
    return history[pos - 1][1] if pos else None


def build_truth(
    seed: int,
    scale: str,
    universe: Universe,
    membership: Membership,
    overheat: Overheat,
    files: list[str],
) -> SampleTruth:
    """The truth of a finished run, session positions turned into dates."""
    tl, u, mem = universe.timeline, universe, membership
    S, T = tl.sessions, tl.T

    def day(t: int | None) -> dt.date | None:
        return None if t is None or t >= T else S[t]

    securities = {}
    for s in u.secs:
        if s.listed_from >= T or s.listed_to <= s.listed_from:
            continue
        securities[s.code] = SecurityTruth(
            ticker=s.code,
            isin=isin_for(s.code),
            kind="preferred" if s.pref else "common",
            listed_on=S[s.listed_from],
            delisted_on=day(s.listed_to),
            names=[(S[t], n) for t, n in s.names],
            markets=[(S[t], MARKETS[m]) for t, m in s.markets],
        )
    memberships: dict[str, list[Interval]] = {}
    for index_code in mem.member:
        ivs = [
            (u.codes[i], S[t0], S[t1], k0, k1) for i, t0, t1, k0, k1 in mem.intervals[index_code]
        ]
        ivs += [
            (u.codes[i], S[t0], None, k0, None) for i, (t0, k0) in mem.open_iv[index_code].items()
        ]
        memberships[index_code] = sorted(ivs, key=lambda iv: (iv[1], iv[0]))
    return SampleTruth(
        seed=seed,
        scale=scale,
        start=tl.start,
        end=tl.end,
        sessions=list(S),
        rebalance_sessions=[S[t] for t in tl.rebalance_ts],
        securities=securities,
        memberships=memberships,
        snapshots=mem.snapshots,
        listings=sorted(
            (S[u.secs[i].listed_from], u.codes[i], MARKETS[u.secs[i].markets[0][1]])
            for i in u.listing_events
        ),
        delistings=sorted(
            (S[u.secs[i].listed_to], u.codes[i], MARKETS[u.secs[i].market]) for i in u.delist_events
        ),
        renames=[(S[t], u.codes[i], old, new) for t, i, old, new in u.rename_log],
        market_changes=[(S[t], u.codes[i], MARKETS[a], MARKETS[b]) for t, i, a, b in u.move_log],
        ad_hoc_changes=[(k, S[t], u.codes[a], u.codes[b]) for k, t, a, b in mem.ad_hoc],
        residuals=[(k, u.codes[i], S[t], bal, day(z)) for k, i, t, bal, z, _ in mem.residuals],
        designated_leavers=[u.codes[i] for i in u.leavers],
        designations=[
            DesignationTruth(
                detected_on=S[d.t],
                ticker=u.codes[d.i],
                market=d.market,
                designation_type=d.designation_type,
                version_id=d.version_id,
                ban_days=[
                    tl.published(S[d.t], k) for k in range(1, d.ban_sessions + d.extended + 1)
                ],
                extended=d.extended,
            )
            for d in overheat.designations
        ],
        overheat_candidates=_candidates(S, u.codes, overheat.rows),
        files=sorted(files),
    )


def _candidates(sessions, codes, rows) -> dict[tuple[dt.date, str], CandidateTruth]:
    out = {}
    for day, (idx, cnt, bits, kind) in zip(sessions, rows, strict=True):
        for i, n, b, k in zip(
            idx.tolist(), cnt.tolist(), bits.tolist(), kind.tolist(), strict=True
        ):
            types = tuple(t for t in range(1, 5) if b & (1 << (t - 1)))
            out[(day, codes[i])] = CandidateTruth(n, types, k or None)
    return out
