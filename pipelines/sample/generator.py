"""A deterministic, synthetic KRX/ECOS landing zone (SPEC sections 2 and 7).

``generate(root, start, end, seed=7, scale="demo")`` writes, for every XKRX session in
``[start, end]``, the files a real fetch would have written, byte for byte in the formats KRX and
ECOS answer with (compact JSON, UTF-8, every value a string with thousands separators), and
returns a :class:`SampleTruth` that tests compare the warehouse against.

The market is invented but follows the real rules that the warehouse has to get right:

* the short-sale regime calendar of :mod:`pipelines.regimes`: balances grow and shrink only where
  new short positions were allowed on that day (all listed stocks, or only KOSPI 200 / KOSDAQ 150
  members), and elsewhere decay towards zero; during bans only the market-maker exemption trades;
* KOSPI 200 / KOSDAQ 150 membership that changes only at the regular June/December rebalances
  (``rebalance_effective_sessions``) or by an ad-hoc change (a member delisted, a member moving
  from KOSDAQ to KOSPI);
* listings, delistings, renames, a KOSDAQ -> KOSPI transfer, trading halts, preferred shares with
  alphanumeric codes (``12345K``) and new-style codes (``0123T0``);
* exact arithmetic: ``BAL_AMT = BAL_QTY x close``, ``MKTCAP = LIST_SHRS x close``, ratios rounded
  to two decimals (never an exact half, so every rounding rule agrees), index market caps equal to
  the sum of their members' market caps.

Everything is derived from the seed: no clock, no hash ordering. Every company name is invented
and carries the marker ``(샘플)`` ("sample"); English names end in ``(SYNTHETIC)``; the landing
root gets a ``SAMPLE_README.txt`` that says so.
"""

from __future__ import annotations

import datetime as dt
import zlib
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from pipelines.calendar import (
    calendar_end,
    non_session_weekdays,
    rebalance_effective_sessions,
    sessions_between,
)
from pipelines.regimes import ALL_LISTED, INDEX_CONSTITUENTS, MARKET_MAKERS_ONLY, regime_on
from pipelines.sources.datasets import DATASETS, INDICES, MARKETS, landing_relpath

#: Marker carried by every invented Korean name and English name.
NAME_MARKER = "(샘플)"
ENG_MARKER = "(SYNTHETIC)"
README_NAME = "SAMPLE_README.txt"

KOSPI, KOSDAQ = 0, 1  # market ids
INDEX_MARKET = {"KOSPI200": KOSPI, "KOSDAQ150": KOSDAQ}
MARKET_INDEX = {KOSPI: "KOSPI200", KOSDAQ: "KOSDAQ150"}

#: Sessions a new listing must have traded before it can join an index.
SEASONING_SESSIONS = 60
#: Highest balance ratio new short selling builds (fraction of listed shares).
MAX_RATIO = 0.15


def ecos_usdkrw_row(time: str, value: str) -> dict:
    """One ECOS 731Y001/0000001 (KRW per USD) row as the API sends it: the unused item columns
    are null, ``TIME`` is YYYYMMDD, ``DATA_VALUE`` a string."""
    return {
        "STAT_CODE": "731Y001",
        "STAT_NAME": "3.1.1.1. 주요국 통화의 대원화환율",
        "ITEM_CODE1": "0000001",
        "ITEM_NAME1": "원/미국달러(매매기준율)",
        "ITEM_CODE2": None,
        "ITEM_NAME2": None,
        "ITEM_CODE3": None,
        "ITEM_NAME3": None,
        "ITEM_CODE4": None,
        "ITEM_NAME4": None,
        "UNIT_NAME": "원",
        "WGT": None,
        "TIME": time,
        "DATA_VALUE": value,
    }


def ecos_body(rows: list[dict]) -> dict:
    """An ECOS StatisticSearch answer holding ``rows``."""
    return {"StatisticSearch": {"list_total_count": len(rows), "row": rows}}


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
    "demo": Scale(60, 90, 20, 15, 7, 1, (1, 2)),
    "full": Scale(950, 1700, 200, 150, 110, 10, (4, 9)),
}

# --- invented names ---------------------------------------------------------------------------

_FIRST = (
    ("한", "Han"),
    ("새", "Sae"),
    ("누", "Nu"),
    ("다", "Da"),
    ("가", "Ga"),
    ("미", "Mi"),
    ("도", "Do"),
    ("해", "Hae"),
    ("라", "Ra"),
    ("아", "A"),
    ("하", "Ha"),
    ("여", "Yeo"),
    ("보", "Bo"),
    ("나", "Na"),
    ("초", "Cho"),
    ("은", "Eun"),
    ("푸", "Pu"),
    ("단", "Dan"),
    ("마", "Ma"),
    ("윤", "Yun"),
    ("별", "Byeol"),
    ("찬", "Chan"),
    ("늘", "Neul"),
    ("벼", "Byeo"),
    ("소", "So"),
    ("청", "Cheong"),
    ("금", "Geum"),
    ("산", "San"),
    ("오", "O"),
    ("샘", "Saem"),
    ("솜", "Som"),
    ("꽃", "Kkot"),
    ("뫼", "Moe"),
    ("얼", "Eol"),
    ("휘", "Hwi"),
    ("겨", "Gyeo"),
    ("채", "Chae"),
    ("슬", "Seul"),
    ("온", "On"),
    ("결", "Gyeol"),
)
_SECOND = (
    ("빛", "bit"),
    ("솔", "sol"),
    ("리", "ri"),
    ("온", "on"),
    ("람", "ram"),
    ("르", "reu"),
    ("담", "dam"),
    ("울", "ul"),
    ("래", "rae"),
    ("롱", "rong"),
    ("결", "gyeol"),
    ("름", "reum"),
    ("비", "bi"),
    ("루", "ru"),
    ("슬", "seul"),
    ("밀", "mil"),
    ("봄", "bom"),
    ("들", "deul"),
    ("린", "rin"),
    ("잎", "ip"),
    ("벗", "beot"),
    ("든", "deun"),
    ("랑", "rang"),
    ("움", "um"),
    ("샘", "saem"),
    ("새", "sae"),
    ("뜰", "tteul"),
    ("재", "jae"),
    ("빈", "bin"),
    ("별", "byeol"),
    ("노", "no"),
    ("하", "ha"),
    ("숲", "sup"),
    ("결", "gyeol"),
    ("닮", "dam"),
    ("누", "nu"),
)
_INDUSTRY = (
    ("소재", "Materials"),
    ("바이오", "Bio"),
    ("전자", "Electronics"),
    ("화학", "Chemical"),
    ("테크", "Tech"),
    ("제약", "Pharmaceutical"),
    ("에너지", "Energy"),
    ("로보틱스", "Robotics"),
    ("반도체", "Semiconductor"),
    ("식품", "Foods"),
    ("건설", "Construction"),
    ("물산", "Trading"),
    ("중공업", "Heavy Industries"),
    ("게임즈", "Games"),
    ("엔터", "Entertainment"),
    ("소프트", "Soft"),
    ("머티리얼즈", "Materials"),
    ("디스플레이", "Display"),
    ("모빌리티", "Mobility"),
    ("정밀", "Precision"),
    ("해운", "Shipping"),
    ("통신", "Telecom"),
    ("헬스케어", "Healthcare"),
    ("시스템", "Systems"),
    ("인더스트리", "Industries"),
    ("케미칼", "Chemicals"),
    ("솔루션", "Solutions"),
    ("네트웍스", "Networks"),
    ("파마", "Pharma"),
    ("메디칼", "Medical"),
    ("푸드", "Food"),
    ("리테일", "Retail"),
    ("홀딩스", "Holdings"),
    ("산업", "Industrial"),
    ("기계", "Machinery"),
    ("광학", "Optics"),
    ("이앤씨", "E&C"),
    ("세라믹", "Ceramics"),
    ("바이오텍", "Biotech"),
    ("제지", "Paper"),
    ("섬유", "Textile"),
    ("금속", "Metal"),
    ("전기", "Electric"),
    ("항공", "Aerospace"),
    ("제강", "Steel"),
    ("배터리", "Battery"),
    ("랩스", "Labs"),
    ("웍스", "Works"),
)
_KOSDAQ_SECTIONS = ("우량기업부", "벤처기업부", "중견기업부", "기술성장기업부")
_PARVAL = {
    KOSPI: (
        ("5,000", 0.35),
        ("500", 0.3),
        ("1,000", 0.15),
        ("2,500", 0.05),
        ("100", 0.1),
        ("무액면", 0.05),
    ),
    KOSDAQ: (("500", 0.72), ("100", 0.18), ("200", 0.04), ("1,000", 0.04), ("무액면", 0.02)),
}
# preferred series: abbreviation suffix, full-name suffix, English suffix, kind, code digit/letter
_PREF = {
    1: ("우", "1우선주", "(1P)", "구형우선주", ("5", "K")),
    2: ("2우B", "2우선주(신형)", "(2PB)", "신형우선주", ("7", "L")),
    3: ("3우B", "3우선주(신형)", "(3PB)", "신형우선주", ("9", "M")),
}
_NEW_STYLE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"

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

_BAL_SEPS = ('","LIST_SHRS":"', '","BAL_AMT":"', '","MKTCAP":"', '","BAL_RTO":"', '"},')
_TRD_SEPS = (
    '","UPTICKRULE_APPL_TRDVOL":"',
    '","UPTICKRULE_EXCPT_TRDVOL":"',
    '","ACC_TRDVOL":"',
    '","TRDVOL_WT":"',
    '","CVSRTSELL_TRDVAL":"',
    '","UPTICKRULE_APPL_TRDVAL":"',
    '","UPTICKRULE_EXCPT_TRDVAL":"',
    '","ACC_TRDVAL":"',
    '","TRDVAL_WT":"',
    '"},',
)
_fmt_int = "{:,}".format


# --- ground truth -----------------------------------------------------------------------------


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
    #: (index, ticker, excluded_on, balance on its last member session, first zero-balance session)
    residuals: list[tuple[str, str, dt.date, int, dt.date | None]]
    #: the KOSDAQ 150 members forced out at the first rebalance of the constituents-only regime
    #: (or the first rebalance in range) while holding a large balance
    designated_leavers: list[str]
    files: list[str]  # landing paths written, relative to the root
    _member_index: dict = field(default_factory=dict, repr=False, compare=False)

    def market_on(self, day: dt.date, ticker: str) -> str | None:
        """The ticker's market on ``day``, or None when it is not listed then."""
        if not self.is_listed(day, ticker):
            return None
        sec = self.securities[ticker]
        return _as_of(sec.markets, day)

    def name_on(self, day: dt.date, ticker: str) -> str | None:
        return _as_of(self.securities[ticker].names, day)

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
        if market is None:
            return False
        scope = regime_on(day).scope
        if scope == ALL_LISTED:
            return True
        if scope == MARKET_MAKERS_ONLY:
            return False
        return self.is_member("KOSPI200" if market == "KOSPI" else "KOSDAQ150", day, ticker)

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


def write_truth(truth: SampleTruth, path: Path) -> Path:
    return truth.to_json(path)


def _as_of(history: list[tuple[dt.date, str]], day: dt.date) -> str | None:
    pos = bisect_right([d for d, _ in history], day)
    return history[pos - 1][1] if pos else None


# --- helpers ----------------------------------------------------------------------------------


def isin_for(code: str) -> str:
    """A 12-character ISIN ``KR7`` + code + ``00`` + the ISIN (Luhn) check digit."""
    body = f"KR7{code}00"
    digits = "".join(str(int(ch, 36)) for ch in body)
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return body + str((10 - total % 10) % 10)


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


def _hundredths(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """round(num / den * 100, 2) in hundredths for non-negative integers, half up (den > 0)."""
    return (num * 20_000 + den) // (2 * den)


def _is_half(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """True where num / den * 100 is exactly halfway between two hundredths."""
    return (num * 20_000) % (2 * den) == den


def _signed_hundredths(num: int, den: int) -> int:
    q = (abs(num) * 20_000 + den) // (2 * den)
    return -q if num < 0 else q


def _fmt_signed_hundredths(c: int) -> str:
    sign = "-" if c < 0 else ""
    a = abs(c)
    return f"{sign}{a // 100:,}.{a % 100:02d}"


def _fluc(change: int) -> str:
    return "1" if change > 0 else ("2" if change < 0 else "3")


# Daily files are built as byte matrices, one row per record, with NUL padding that is dropped
# at the end: numpy does the digit work instead of one Python call per value.

_POW10 = 10 ** np.arange(19, dtype=np.int64)


def int_field(v: np.ndarray) -> np.ndarray:
    """Non-negative integers as ``"5,489,240"`` text: an (n, width) uint8 matrix, NUL-padded."""
    v = np.asarray(v, dtype=np.int64)
    if len(v) == 0:
        return np.zeros((0, 1), dtype=np.uint8)
    if (v < 0).any():
        raise ValueError("int_field takes non-negative integers only")
    ndigits = 1 + (v[:, None] >= _POW10[None, 1:]).sum(axis=1)
    nmax = int(ndigits.max())
    digits = (v[:, None] // _POW10[None, :nmax]) % 10
    width = nmax + (nmax - 1) // 3
    j = np.arange(width)  # position counted from the right
    is_comma = j % 4 == 3
    k = np.where(is_comma, (j + 1) - (j + 1) // 4, j - j // 4)  # digit index (left of a comma)
    chars = np.where(is_comma[None, :], 44, 48 + digits[:, k])
    out = np.where(ndigits[:, None] > k[None, :], chars, 0).astype(np.uint8)
    return out[:, ::-1]


def hundredths_field(c: np.ndarray) -> np.ndarray:
    """Non-negative hundredths as ``"12.34"`` text (no thousands separator below 1,000)."""
    c = np.asarray(c, dtype=np.int64)
    frac = np.stack([np.full(len(c), 46), 48 + (c // 10) % 10, 48 + c % 10], axis=1)
    return np.concatenate([int_field(c // 100), frac.astype(np.uint8)], axis=1)


def _const(text: str, n: int) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (n, len(text.encode())))


def _text_matrix(texts: list[str]) -> np.ndarray:
    """Strings as NUL-padded rows of UTF-8 bytes."""
    raw = [t.encode() for t in texts]
    width = max((len(b) for b in raw), default=1)
    return np.frombuffer(b"".join(b.ljust(width, b"\0") for b in raw), dtype=np.uint8).reshape(
        len(raw), width
    )


def _records(head: np.ndarray, fields: list[np.ndarray], seps: tuple[str, ...]) -> bytes:
    """``head field sep field sep ...`` per row, joined; the trailing comma removed."""
    n = head.shape[0]
    if n == 0:
        return b""
    parts = [head]
    for fld, sep in zip(fields, seps, strict=True):
        parts += [fld, _const(sep, n)]
    m = np.concatenate(parts, axis=1)
    return m[m != 0].tobytes()[:-1]


def _drift(day: dt.date) -> float:
    for first, last, mu in _EPISODES:
        if first <= day <= last:
            return mu
    return 0.0003


@dataclass
class _Security:
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
        return f"{self.base}{_PREF[self.pref][0] if self.pref else ''}{NAME_MARKER}"

    @property
    def full_name(self) -> str:
        if self.pref:
            return f"{self.base}{_PREF[self.pref][1]}{NAME_MARKER}"
        if self.corp_prefix:
            return f"(주){self.base}{NAME_MARKER}"
        return f"{self.base}보통주{NAME_MARKER}"

    @property
    def eng_name(self) -> str:
        suffix = f" {_PREF[self.pref][2]}" if self.pref else ""
        return f"{self.eng} Co., Ltd.{suffix} {ENG_MARKER}"


# --- the generator ----------------------------------------------------------------------------


class _Generator:
    def __init__(self, root: Path, start: dt.date, end: dt.date, seed: int, scale: str):
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r} (expected one of {', '.join(SCALES)})")
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.root = Path(root)
        self.start, self.end, self.seed, self.scale_name = start, end, seed, scale
        self.scale = SCALES[scale]
        self.sessions = sessions_between(start, end)
        if not self.sessions:
            raise ValueError(f"no KRX session between {start} and {end}")
        self.T = len(self.sessions)
        self.t_of = {d: t for t, d in enumerate(self.sessions)}
        cal = sessions_between(self.sessions[0], calendar_end())
        self._cal_pos = {d: k for k, d in enumerate(cal)}
        self._cal = cal
        self.scopes = [regime_on(d).scope for d in self.sessions]
        self.rebalance_ts = [
            self.t_of[d] for d in rebalance_effective_sessions(start, end) if self.t_of[d] > 0
        ]
        self.rebalance_set = set(self.rebalance_ts)
        self.month_first = {
            t
            for t in range(self.T)
            if t == 0 or self.sessions[t].month != self.sessions[t - 1].month
        }
        self.rng_u = np.random.default_rng([seed, 0])  # universe and schedule
        self.rng = np.random.default_rng([seed, 1])  # the session loop
        self.rng_m = np.random.default_rng([seed, 2])  # index decisions and index OHLC
        self.rng_x = np.random.default_rng([seed, 3])  # USD/KRW
        self.secs: list[_Security] = []
        self.used_codes: set[str] = set()
        self.used_names: set[str] = set()
        self.files: list[str] = []
        self._made_dirs: set[Path] = set()

    # -- universe ---------------------------------------------------------------------------

    def _name(self) -> tuple[str, str]:
        rng = self.rng_u
        while True:
            a = _FIRST[rng.integers(len(_FIRST))]
            b = _SECOND[rng.integers(len(_SECOND))]
            ind = _INDUSTRY[rng.integers(len(_INDUSTRY))]
            if a[0] == b[0]:
                continue
            base = a[0] + b[0] + ind[0]
            if base not in self.used_names:
                self.used_names.add(base)
                return base, f"{a[1]}{b[1]} {ind[1]}"

    def _common_code(self, new_style: bool) -> str:
        rng = self.rng_u
        while True:
            if new_style:
                letter = _NEW_STYLE_LETTERS[rng.integers(len(_NEW_STYLE_LETTERS))]
                code = f"0{rng.integers(1, 999):03d}{letter}0"
            else:
                code = f"{rng.integers(100, 49_999):05d}0"
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def _draw_common(self, market: int, n: int):
        """Market caps (KRW) and prices for ``n`` common stocks."""
        rng = self.rng_u
        if market == KOSPI:
            logcap = np.clip(rng.normal(11.6, 0.75, n), 10.3, 14.6)
        else:
            logcap = np.clip(rng.normal(11.2, 0.5, n), 10.0, 13.3)
        logp = np.clip(3.0 + 2.3 * rng.random(n) + 0.3 * (logcap - logcap.mean()), 2.7, 6.0)
        price = 10.0**logp
        shares = np.maximum(np.rint(10.0**logcap / price), 200_000).astype(np.int64)
        return price, shares

    def _new_security(
        self, market: int, listed_from: int, initial: bool, new_style: bool, list_dd: dt.date
    ) -> _Security:
        rng = self.rng_u
        base, eng = self._name()
        weights = _PARVAL[market]
        parval = weights[
            int(np.searchsorted(np.cumsum([w for _, w in weights]), rng.random() * 0.999999))
        ][0]
        sec = _Security(
            i=len(self.secs),
            code=self._common_code(new_style),
            market=market,
            pref=0,
            base=base,
            eng=eng,
            corp_prefix=market == KOSDAQ and rng.random() < 0.4,
            list_dd=list_dd,
            sect="" if market == KOSPI else _KOSDAQ_SECTIONS[rng.integers(len(_KOSDAQ_SECTIONS))],
            parval=parval,
            listed_from=listed_from,
            listed_to=self.T,
            initial=initial,
        )
        self.secs.append(sec)
        return sec

    def _old_list_dd(self) -> dt.date:
        first = dt.date(1976, 1, 1).toordinal()
        last = self.start.toordinal() - 400
        d = dt.date.fromordinal(int(self.rng_u.integers(first, last)))
        while d.weekday() >= 5:
            d += dt.timedelta(days=1)
        return d

    def build_universe(self) -> None:
        sc, rng, T = self.scale, self.rng_u, self.T
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
                code = parent.code[:5] + _PREF[series][4][1 if k_style else 0]
                if code in self.used_codes:
                    continue
                self.used_codes.add(code)
                n_k_style += k_style
                parent.has_children = True
                self.secs.append(
                    _Security(
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

        years = max(self.T / 248.0, 0.1)
        n0 = len(self.secs)
        # listings (mid-range), one with a new-style code when the range reaches mid-2024
        n_list = max(2, round(n0 * 0.025 * years)) if T > 3 else 0
        list_ts = sorted(int(t) for t in rng.integers(1, T, n_list)) if n_list else []
        late = [t for t in range(1, T) if self.sessions[t] >= dt.date(2024, 6, 1)]
        forced_new_style = None
        if late:
            forced_new_style = late[int(rng.integers(len(late)))]
            list_ts.append(forced_new_style)
        self.listing_events: list[int] = []
        for t in list_ts:
            market = KOSDAQ if rng.random() < 0.7 else KOSPI
            new_style = t == forced_new_style or (
                self.sessions[t] >= dt.date(2024, 1, 1) and rng.random() < 0.6
            )
            sec = self._new_security(market, t, False, new_style, self.sessions[t])
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
            t = self._free_session(lambda t: t not in self.rebalance_set)
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
            t = self._free_session(lambda t: t not in self.rebalance_set)
            self.market_events.append((t, pool[k]))

        self.price0 = np.array(price)
        self.shares0 = np.array(shares, dtype=np.int64)
        self._schedule_designated()

    def _free_session(self, ok) -> int:
        for _ in range(1000):
            t = int(self.rng_u.integers(1, self.T))
            if ok(t):
                return t
        return int(self.rng_u.integers(1, self.T))

    def _schedule_designated(self) -> None:
        """Place the designated leavers' rebalance and the two ad-hoc changes."""
        T, rebal = self.T, self.rebalance_set
        reg3 = [t for t in self.rebalance_ts if self.scopes[t] == INDEX_CONSTITUENTS]
        self.leaver_t = reg3[0] if reg3 else (self.rebalance_ts[0] if self.rebalance_ts else None)
        self.cover_t = None
        if self.leaver_t is not None and self.leaver_t + 12 < T:
            self.cover_t = self.leaver_t + 12
        if self.leaver_t is None:
            self.leavers = []

        def ok(t: int) -> bool:
            return 5 <= t < T and t not in rebal and t not in self.month_first

        firsts = sorted(self.month_first)
        in3 = [m for m in firsts if self.scopes[m] == INDEX_CONSTITUENTS]
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
        return None

    # -- arrays ---------------------------------------------------------------------------------

    def build_arrays(self) -> None:
        rng, T, secs = self.rng_u, self.T, self.secs
        N = len(secs)
        self.N = N
        self.codes = [s.code for s in secs]
        self.listed_from = np.array([s.listed_from for s in secs], dtype=np.int64)
        self.listed_to = np.array([s.listed_to for s in secs], dtype=np.int64)
        self.seasoned_from = np.where(
            np.array([s.initial for s in secs]), -(10**6), self.listed_from + SEASONING_SESSIONS
        )
        self.market_id = np.array([s.market for s in secs], dtype=np.int64)
        self.is_common = np.array([s.pref == 0 for s in secs])
        self.p = self.price0.copy()
        self.shares = self.shares0.copy()
        kosdaq = self.market_id == KOSDAQ
        self.beta = rng.uniform(0.6, 1.4, N)
        self.idio = np.where(kosdaq, rng.uniform(0.015, 0.035, N), rng.uniform(0.011, 0.026, N))
        self.turnover = np.clip(
            np.exp(rng.normal(np.log(np.where(kosdaq, 0.008, 0.003)), 0.7)), 2e-4, 0.06
        )
        self.turnover[~self.is_common] *= 0.3
        # target balance ratio (fraction of listed shares): many zeros, most below 3 %, a few high
        u = rng.random(N)
        target = np.where(
            u < 0.85, np.clip(np.exp(rng.normal(np.log(0.005), 0.9, N)), 1e-4, 0.03), 0.0
        )
        target = np.where((u >= 0.85) & (u < 0.97), rng.uniform(0.03, 0.08, N), target)
        target = np.where(u >= 0.97, rng.uniform(0.08, 0.13, N), target)
        target[u < 0.35] = 0.0
        target[~self.is_common & (rng.random(N) < 0.9)] = 0.0
        self.speed = rng.uniform(0.02, 0.08, N)
        self.decay = rng.uniform(0.975, 0.997, N)
        self.noise = rng.uniform(0.01, 0.04, N)
        self.market_maker = rng.random(N) < np.where(self.is_common, 0.55, 0.15)
        self.upt_share = np.clip(0.004 + 2.5 * target * rng.uniform(0.5, 1.5, N), 0, 0.35)
        self.upt_zero_p = np.where(target > 0, 0.1, 0.5)
        # designated tickers
        target[self.x_delisted], target[self.z_mover] = 0.02, 0.04
        if self.leavers:
            l1, l2 = self.leavers
            target[l1], self.speed[l1], self.decay[l1], self.noise[l1] = 0.07, 0.15, 0.99, 0.01
            target[l2], self.speed[l2], self.decay[l2] = 0.03, 0.12, 0.985
            self.market_maker[[l1, l2]] = True
        self.target = target
        # trading halts: random short halts plus the days before a delisting
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
        self.index_blocked = np.concatenate(
            [self.index_blocked, np.zeros(N - len(self.index_blocked), dtype=bool)]
        )

    # -- output ----------------------------------------------------------------------------------

    def _write(self, relpath: str, body: str | bytes) -> None:
        path = self.root / relpath
        if path.parent not in self._made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(path.parent)
        path.write_bytes(body.encode() if isinstance(body, str) else body)
        self.files.append(relpath)

    def _stamp(self, day: dt.date, relpath: str) -> str:
        """A KRX-style ``CURRENT_DATETIME`` on the evening of ``day`` (derived, not the clock)."""
        h = zlib.crc32(f"{self.seed}:{relpath}".encode())
        secs = 18 * 3600 + h % (4 * 3600)
        hh, rem = divmod(secs, 3600)
        mm, ss = divmod(rem, 60)
        return f"{day:%Y.%m.%d} PM {hh - 12:02d}:{mm:02d}:{ss:02d}"

    def _published(self, day: dt.date, n: int) -> dt.date:
        k = self._cal_pos[day] + n
        return self._cal[k] if k < len(self._cal) else day + dt.timedelta(days=n)

    def _prefixes(self, i: int) -> tuple[str, str]:
        sec = self.secs[i]
        head = f'{{"ISU_CD":"{sec.code}","ISU_ABBRV":{orjson.dumps(sec.abbr).decode()},'
        return (head + '"BAL_QTY":"', head + '"SECUGRP_NM":"주권","CVSRTSELL_TRDVOL":"')

    def _order(self, market: int, listed: np.ndarray):
        idx = np.flatnonzero(listed & (self.market_id == market))
        order = sorted(idx.tolist(), key=lambda i: (self.secs[i].abbr, self.secs[i].code))
        return (
            np.array(order, dtype=np.int64),
            _text_matrix([self._bal_prefix[i] for i in order]),
            _text_matrix([self._trd_prefix[i] for i in order]),
        )

    # -- membership -------------------------------------------------------------------------------

    def _enter(self, index_code: str, i: int, t: int, kind: str) -> None:
        self.member[index_code][i] = True
        self.open_iv[index_code][i] = (t, kind)

    def _exit(self, index_code: str, i: int, t: int, kind: str) -> None:
        self.member[index_code][i] = False
        t0, kind0 = self.open_iv[index_code].pop(i)
        self.intervals[index_code].append((i, t0, t, kind0, kind))
        if t < self.listed_to[i]:  # still listed: a residual to follow
            self.residuals.append([index_code, i, t, int(self.qty[i]), None])

    def _candidates(self, index_code: str, t: int, listed: np.ndarray) -> np.ndarray:
        return (
            listed
            & (self.market_id == INDEX_MARKET[index_code])
            & self.is_common
            & ~self.index_blocked
            & (self.seasoned_from <= t)
            & ~self.member[index_code]
        )

    def _protected(self, t: int) -> set[int]:
        out = set()
        if self.d1 is not None and t < self.d1:
            out.add(self.x_delisted)
        if self.d2 is not None and t < self.d2:
            out.add(self.z_mover)
        if self.leaver_t is not None and t <= self.leaver_t:
            out.update(self.leavers)
        return out

    def _update_membership(self, t: int, listed: np.ndarray, cap_prev: np.ndarray) -> bool:
        """Apply initial, regular and ad-hoc membership changes at session t; True if changed."""
        changed = False
        for index_code, m in INDEX_MARKET.items():
            mem = self.member[index_code]
            size = self.scale.index_size(index_code)
            if t == 0:
                first = [
                    i
                    for i in (self.x_delisted, self.z_mover, *self.leavers)
                    if self.market_id[i] == m
                ]
                cand = self._candidates(index_code, t, listed)
                cand[first] = False
                rest = np.flatnonzero(cand)
                rest = rest[np.lexsort((rest, -cap_prev[rest]))][: size - len(first)]
                for i in [*first, *rest.tolist()]:
                    self._enter(index_code, int(i), 0, "initial")
                changed = True
                continue
            kind = "regular_rebalance" if t in self.rebalance_set else "ad_hoc"
            # members that left the market (delisting, transfer) are replaced on the day
            gone = np.flatnonzero(mem & ~(listed & (self.market_id == m))).tolist()
            out: list[int] = list(gone)
            if kind == "regular_rebalance":
                protected = self._protected(t)
                forced = [
                    i
                    for i in self.leavers
                    if t == self.leaver_t and mem[i] and self.market_id[i] == m
                ]
                keep = [
                    i
                    for i in np.flatnonzero(mem).tolist()
                    if i not in protected and i not in forced and i not in gone
                ]
                keep.sort(key=lambda i: (cap_prev[i], self.codes[i]))
                cand = np.flatnonzero(self._candidates(index_code, t, listed))
                cand = cand[np.lexsort((cand, -cap_prev[cand]))].tolist()
                n_swaps = int(self.rng_m.integers(self.scale.swaps[0], self.scale.swaps[1] + 1))
                swaps = 0
                for j in range(min(n_swaps, len(keep), len(cand))):
                    if cap_prev[cand[j]] > 1.05 * cap_prev[keep[j]]:
                        swaps += 1
                out += keep[:swaps] + forced
                for i in forced:
                    self.index_blocked[i] = True
            if not out:
                continue
            for i in out:
                self._exit(index_code, i, t, kind)
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

    # -- the session loop ---------------------------------------------------------------------

    def run(self) -> SampleTruth:
        self.build_universe()
        self.build_arrays()
        T, N, rng = self.T, self.N, self.rng
        self.member = {k: np.zeros(N, dtype=bool) for k in INDEX_MARKET}
        self.open_iv: dict[str, dict[int, tuple[int, str]]] = {k: {} for k in INDEX_MARKET}
        self.intervals: dict[str, list] = {k: [] for k in INDEX_MARKET}
        self.residuals: list[list] = []
        self.ad_hoc: list[tuple] = []
        self.snapshots: dict[str, dict[dt.date, list[str]]] = {k: {} for k in INDEX_MARKET}
        self.qty = np.zeros(N, dtype=np.int64)
        for s in self.secs:
            s.names.append((s.listed_from, s.abbr))
            s.markets.append((s.listed_from, s.market))
        prefixes = [self._prefixes(i) for i in range(N)]
        self._bal_prefix = [p[0] for p in prefixes]
        self._trd_prefix = [p[1] for p in prefixes]
        renames: dict[int, list] = {}
        for t, i, base, eng in self.rename_events:
            renames.setdefault(t, []).append((i, base, eng))
        moves: dict[int, list[int]] = {}
        for t, i in self.market_events:
            moves.setdefault(t, []).append(i)
        event_ts = (
            set(renames)
            | set(moves)
            | set(self.listed_from.tolist())
            | set(self.listed_to.tolist())
        )
        master_ts = {
            max(t for t, d in enumerate(self.sessions) if d.year == y)
            for y in {d.year for d in self.sessions}
        } | {T - 1}
        self.rename_log: list[tuple[int, int, str, str]] = []
        self.move_log: list[tuple[int, int, int, int]] = []
        index_rows: dict[str, list] = {k: [] for k in INDICES}
        level = dict(_INDEX_BASE)
        prev_close_c = {k: round(v * 100) for k, v in level.items()}

        close_prev = tick_round(self.p)
        shares_prev = self.shares.copy()
        listed_prev = self.listed_from == 0  # the initial universe, priced before the start
        market_prev = self.market_id.copy()
        orders = None

        for t, day in enumerate(self.sessions):
            # 1. events visible from this session
            for i, base, eng in renames.get(t, ()):
                sec = self.secs[i]
                old = sec.abbr
                sec.base, sec.eng = base, eng
                sec.names.append((t, sec.abbr))
                self._bal_prefix[i], self._trd_prefix[i] = self._prefixes(i)
                self.rename_log.append((t, i, old, sec.abbr))
            for i in moves.get(t, ()):
                sec = self.secs[i]
                self.move_log.append((t, i, sec.market, KOSPI))
                sec.market, sec.sect, sec.list_dd = KOSPI, "", day
                sec.markets.append((t, KOSPI))
                self.market_id[i] = KOSPI
            listed = (self.listed_from <= t) & (t < self.listed_to)
            new_today = (self.listed_from == t) if t > 0 else np.zeros(N, dtype=bool)
            halted = self.halted[t] & listed

            # 2. prices
            zm = rng.standard_normal(2)
            mret = _drift(day) + 0.011 * np.array([zm[0], 0.8 * zm[0] + 0.6 * zm[1]])
            z = rng.standard_normal(N)
            jump = rng.random(N)
            ret = self.beta * mret[self.market_id] + self.idio * z
            ret += np.where(jump < 1e-3, -0.12, 0.0) + np.where(jump > 1 - 1e-3, 0.12, 0.0)
            ret = np.clip(ret, -0.29, 0.29)
            ret[halted] = 0.0
            self.p = np.clip(self.p * np.exp(ret), 60.0, 3_000_000.0)
            self.p[new_today] = self.price0[new_today]
            close = tick_round(self.p)
            close[halted] = close_prev[halted]
            prev_close = np.where(new_today, close, close_prev)

            # 3. listed shares: rare issues and cancellations
            su = rng.random(N)
            factor = np.where(su < 5e-4, 1.01 + 400.0 * su, 1.0)
            factor = np.where(su > 1 - 1e-4, 0.97, factor)
            self.shares = np.where(
                listed & ~new_today, np.floor(self.shares * factor).astype(np.int64), self.shares
            )
            sh = self.shares

            # 4. index membership, eligibility
            cap_prev = (close_prev * shares_prev).astype(np.float64)
            changed = self._update_membership(t, listed, cap_prev)
            scope = self.scopes[t]
            if scope == ALL_LISTED:
                elig = listed.copy()
            elif scope == MARKET_MAKERS_ONLY:
                elig = np.zeros(N, dtype=bool)
            else:
                elig = listed & (
                    ((self.market_id == KOSPI) & self.member["KOSPI200"])
                    | ((self.market_id == KOSDAQ) & self.member["KOSDAQ150"])
                )

            # 5. balances
            zb = rng.standard_normal(N)
            zt = rng.standard_normal(N)
            tgt = self.target * sh
            if t == 0:
                level0 = np.where(elig, rng.uniform(0.6, 1.2, N), rng.uniform(0.1, 0.5, N))
                if self.leavers:
                    level0[self.leavers[0]] = 1.0
                qty = np.floor(np.minimum(tgt * level0, MAX_RATIO * sh)).astype(np.int64)
            else:
                qty = self.qty
                grow = qty + self.speed * (tgt - qty) + self.noise * tgt * zb
                grow = np.floor(np.clip(grow, 0, MAX_RATIO * sh)).astype(np.int64)
                decay = np.floor(qty * self.decay).astype(np.int64)
                qty = np.where(listed & ~halted, np.where(elig, grow, decay), qty)
            if t == self.cover_t:
                l2 = self.leavers[1]
                qty[l2] = 0
                self.target[l2] = 0.0
            qty[new_today | ~listed] = 0
            qty = np.minimum(qty, sh)
            while True:  # never an exact half in BAL_RTO
                tie = (qty > 0) & _is_half(qty, sh)
                if not tie.any():
                    break
                qty = qty - tie
            self.qty = qty
            self.target = np.where(
                self.target > 0, np.clip(self.target * np.exp(0.015 * zt), 1e-5, 0.13), 0.0
            )

            # 6. trading and short selling
            zv = rng.standard_normal(N)
            zs = rng.standard_normal(N)
            us = rng.random(N)
            ue = rng.random(N)
            vol = np.floor(sh * self.turnover * np.exp(0.6 * zv - 0.18)).astype(np.int64)
            vol[new_today] *= 4
            vol[halted | ~listed] = 0
            upt = np.floor(vol * self.upt_share * np.exp(0.5 * zs - 0.125)).astype(np.int64)
            upt[~elig | (us < self.upt_zero_p)] = 0
            exm = np.floor(vol * 0.005 * ue).astype(np.int64)
            exm[~self.market_maker | (ue > 0.6)] = 0
            upt = np.minimum(upt, vol)
            exm = np.minimum(exm, vol - upt)
            while True:  # never an exact half in TRDVOL_WT / TRDVAL_WT
                tie = (vol > 0) & _is_half(upt + exm, np.maximum(vol, 1))
                if not tie.any():
                    break
                dec_e = tie & (exm > 0)
                exm = exm - dec_e
                upt = upt - (tie & ~dec_e)
            short = upt + exm

            # 7. files of the session
            if orders is None or t in event_ts:
                orders = [self._order(m, listed) for m in (KOSPI, KOSDAQ)]
            cap = sh * close
            bal_amt = qty * close
            val = vol * close
            for m, market in enumerate(MARKETS):
                idx, bal_head, trd_head = orders[m]
                q, s = qty[idx], sh[idx]
                rel = landing_relpath(DATASETS["short_balance"], day, market)
                body = _records(
                    bal_head,
                    [
                        int_field(q),
                        int_field(s),
                        int_field(bal_amt[idx]),
                        int_field(cap[idx]),
                        hundredths_field(_hundredths(q, s)),
                    ],
                    _BAL_SEPS,
                )
                self._write(rel, self._envelope(body, self._published(day, 2), rel))
                v, sv, ua, ue_, c = vol[idx], short[idx], upt[idx], exm[idx], close[idx]
                wt = hundredths_field(np.where(v > 0, _hundredths(sv, np.maximum(v, 1)), 0))
                rel = landing_relpath(DATASETS["short_trading"], day, market)
                body = _records(
                    trd_head,
                    [
                        int_field(sv),
                        int_field(ua),
                        int_field(ue_),
                        int_field(v),
                        wt,
                        int_field(sv * c),
                        int_field(ua * c),
                        int_field(ue_ * c),
                        int_field(v * c),
                        wt,
                    ],
                    _TRD_SEPS,
                )
                self._write(rel, self._envelope(body, day, rel))

            # 8. index levels
            for index_code in INDICES:
                if index_code in INDEX_MARKET:
                    mask = self.member[index_code].copy()
                    common = mask & listed_prev
                else:
                    m = MARKETS.index(index_code)
                    mask = listed & (self.market_id == m)
                    common = mask & listed_prev & (market_prev == m)
                num = float((sh[common] * close[common]).sum())
                den = float((sh[common] * prev_close[common]).sum())
                level[index_code] *= num / den if den else 1.0
                close_c = round(level[index_code] * 100)
                pc = prev_close_c[index_code]
                while (abs(close_c - pc) * 20_000) % (2 * pc) == pc:
                    close_c += 1
                level[index_code] = close_c / 100
                zo = self.rng_m.standard_normal(3)
                open_c = round(pc * (1 + 0.004 * zo[0]))
                high_c = max(open_c, close_c) + int(abs(zo[1]) * 0.004 * close_c)
                low_c = min(open_c, close_c) - int(abs(zo[2]) * 0.004 * close_c)
                index_rows[index_code].append(
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
                prev_close_c[index_code] = close_c

            # 9. snapshots
            if changed or t in self.month_first or t in self.rebalance_set:
                self._write_constituents(t, day, close, prev_close, cap, halted)
            if t in master_ts:
                self._write_master(day, listed)

            # 10. residuals after exclusion
            for rec in self.residuals:
                i = rec[1]
                if rec[4] is None and listed[i] and qty[i] == 0:
                    rec[4] = t
            close_prev, shares_prev, listed_prev = close, sh.copy(), listed
            market_prev = self.market_id.copy()

        self._write_index_files(index_rows)
        self._write_usdkrw()
        self._write_readme()
        return self._truth()

    def _envelope(self, body: bytes, fetched: dt.date, relpath: str) -> bytes:
        stamp = self._stamp(fetched, relpath)
        return b'{"OutBlock_1":[' + body + f'],"CURRENT_DATETIME":"{stamp}"}}'.encode()

    def _write_constituents(self, t, day, close, prev_close, cap, halted) -> None:
        for index_code in INDEX_MARKET:
            idx = np.flatnonzero(self.member[index_code])
            idx = idx[np.lexsort((idx, -cap[idx]))].tolist()
            rows = []
            for i in idx:
                c, pc = int(close[i]), int(prev_close[i])
                if halted[i]:  # no trade: KRX leaves the change blank
                    fluc, chg, rate = "", "-", "-"
                else:
                    fluc = _fluc(c - pc)
                    chg = _fmt_int(c - pc)
                    rate = _fmt_signed_hundredths(_signed_hundredths(c - pc, pc))
                rows.append(
                    {
                        "ISU_SRT_CD": self.codes[i],
                        "ISU_ABBRV": self.secs[i].abbr,
                        "TDD_CLSPRC": _fmt_int(c),
                        "FLUC_TP_CD": fluc,
                        "STR_CMP_PRC": chg,
                        "FLUC_RT": rate,
                        "MKTCAP": _fmt_int(int(cap[i])),
                        "IDX_ID": "",
                    }
                )
            rel = landing_relpath(DATASETS["index_constituents"], day, index_code)
            self._write(
                rel, orjson.dumps({"output": rows, "CURRENT_DATETIME": self._stamp(day, rel)})
            )
            self.snapshots[index_code][day] = sorted(self.codes[i] for i in idx)

    def _write_master(self, day: dt.date, listed: np.ndarray) -> None:
        rows = []
        for i in np.flatnonzero(listed).tolist():
            s = self.secs[i]
            rows.append(
                {
                    "ISU_CD": isin_for(s.code),
                    "ISU_SRT_CD": s.code,
                    "ISU_NM": s.full_name,
                    "ISU_ABBRV": s.abbr,
                    "ISU_ENG_NM": s.eng_name,
                    "LIST_DD": f"{s.list_dd:%Y/%m/%d}",
                    "MKT_TP_NM": MARKETS[s.market],
                    "SECUGRP_NM": "주권",
                    "SECT_TP_NM": s.sect,
                    "KIND_STKCERT_TP_NM": _PREF[s.pref][3] if s.pref else "보통주",
                    "PARVAL": s.parval,
                    "LIST_SHRS": _fmt_int(int(self.shares[i])),
                }
            )
        rows.sort(key=lambda r: (r["ISU_NM"], r["ISU_SRT_CD"]))
        rel = landing_relpath(DATASETS["securities"], day)
        self._write(
            rel, orjson.dumps({"OutBlock_1": rows, "CURRENT_DATETIME": self._stamp(day, rel)})
        )

    def _write_index_files(self, index_rows: dict[str, list]) -> None:
        for index_code, rows in index_rows.items():
            by_year: dict[int, list] = {}
            for row in rows:
                by_year.setdefault(row[0].year, []).append(row)
            for year, yrows in by_year.items():
                out = []
                for day, c, pc, o, h, lo, vol, val, cap in reversed(yrows):
                    out.append(
                        {
                            "TRD_DD": f"{day:%Y/%m/%d}",
                            "CLSPRC_IDX": _fmt_signed_hundredths(c),
                            "FLUC_TP_CD": _fluc(c - pc),
                            "PRV_DD_CMPR": _fmt_signed_hundredths(c - pc),
                            "UPDN_RATE": _fmt_signed_hundredths(_signed_hundredths(c - pc, pc)),
                            "OPNPRC_IDX": _fmt_signed_hundredths(o),
                            "HGPRC_IDX": _fmt_signed_hundredths(h),
                            "LWPRC_IDX": _fmt_signed_hundredths(lo),
                            "ACC_TRDVOL": _fmt_int(vol),
                            "ACC_TRDVAL": _fmt_int(val),
                            "MKTCAP": _fmt_int(cap),
                        }
                    )
                rel = landing_relpath(DATASETS["index_ohlcv"], dt.date(year, 1, 1), index_code)
                self._write(
                    rel,
                    orjson.dumps(
                        {"output": out, "CURRENT_DATETIME": self._stamp(yrows[-1][0], rel)}
                    ),
                )

    def _write_usdkrw(self) -> None:
        """ECOS 731Y001/0000001: session days plus year-end closures (banks trade, KRX doesn't).
        Rows carry the unused item columns as null, like the real API."""
        extra = [
            d for d in non_session_weekdays(self.start, self.end) if d.month == 12 and d.day >= 29
        ]
        days = sorted(set(self.sessions) | set(extra))
        rng = self.rng_x
        rate = 1150.0 + 30.0 * rng.standard_normal()
        rows_by_year: dict[int, list] = {}
        for day in days:
            rate *= float(np.exp(0.0045 * rng.standard_normal()))
            rate = min(max(rate, 900.0), 1600.0)
            tenths = round(rate * 10)
            if rng.random() < 0.04:
                value = f"{tenths // 10:,}.{tenths % 10}0"
            else:
                value = f"{tenths // 10}.{tenths % 10}"
            rows_by_year.setdefault(day.year, []).append(ecos_usdkrw_row(f"{day:%Y%m%d}", value))
        for year, rows in rows_by_year.items():
            rel = landing_relpath(DATASETS["usdkrw"], dt.date(year, 1, 1))
            self._write(rel, orjson.dumps(ecos_body(rows)))

    def _write_readme(self) -> None:
        text = (
            "SYNTHETIC SAMPLE DATA - NOT REAL MARKET DATA\n"
            "\n"
            "Every file under this directory was written by krx-short's sample generator\n"
            "(pipelines/sample/generator.py) in the formats of the KRX data portal and the Bank\n"
            "of Korea ECOS API. Companies, tickers, prices, balances and exchange rates are\n"
            "invented. Korean names carry the marker "
            f"{NAME_MARKER}; English names end in {ENG_MARKER}.\n"
            "\n"
            f"seed: {self.seed}\nscale: {self.scale_name}\n"
            f"sessions: {self.sessions[0]} .. {self.sessions[-1]} ({self.T})\n"
            "\n"
            "Readers of the landing zone ignore this file.\n"
        )
        (self.root / README_NAME).write_text(text, encoding="utf-8")

    # -- truth ------------------------------------------------------------------------------------

    def _truth(self) -> SampleTruth:
        S = self.sessions

        def day(t: int | None) -> dt.date | None:
            return None if t is None or t >= self.T else S[t]

        securities = {}
        for s in self.secs:
            if s.listed_from >= self.T or s.listed_to <= s.listed_from:
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
        for index_code in INDEX_MARKET:
            ivs = [
                (self.codes[i], S[t0], S[t1], k0, k1)
                for i, t0, t1, k0, k1 in self.intervals[index_code]
            ]
            ivs += [
                (self.codes[i], S[t0], None, k0, None)
                for i, (t0, k0) in self.open_iv[index_code].items()
            ]
            memberships[index_code] = sorted(ivs, key=lambda iv: (iv[1], iv[0]))
        return SampleTruth(
            seed=self.seed,
            scale=self.scale_name,
            start=self.start,
            end=self.end,
            sessions=list(S),
            rebalance_sessions=[S[t] for t in self.rebalance_ts],
            securities=securities,
            memberships=memberships,
            snapshots=self.snapshots,
            listings=sorted(
                (S[self.secs[i].listed_from], self.codes[i], MARKETS[self.secs[i].markets[0][1]])
                for i in self.listing_events
            ),
            delistings=sorted(
                (S[self.secs[i].listed_to], self.codes[i], MARKETS[self.secs[i].market])
                for i in self.delist_events
            ),
            renames=[(S[t], self.codes[i], old, new) for t, i, old, new in self.rename_log],
            market_changes=[
                (S[t], self.codes[i], MARKETS[a], MARKETS[b]) for t, i, a, b in self.move_log
            ],
            ad_hoc_changes=[(k, S[t], self.codes[a], self.codes[b]) for k, t, a, b in self.ad_hoc],
            residuals=[(k, self.codes[i], S[t], bal, day(z)) for k, i, t, bal, z in self.residuals],
            designated_leavers=[self.codes[i] for i in self.leavers],
            files=sorted(self.files),
        )


def generate(
    root: Path, start: dt.date, end: dt.date, *, seed: int = 7, scale: str = "demo"
) -> SampleTruth:
    """Write a synthetic landing zone for the sessions in ``[start, end]`` under ``root``.

    Files that already exist at the same paths are overwritten; nothing else under ``root`` is
    touched. The same arguments always give the same bytes.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return _Generator(root, start, end, seed, scale).run()
