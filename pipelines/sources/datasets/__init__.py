"""The one table that describes every raw dataset: where its files live, how a response is
enveloped, which fields it carries and how each is typed.

Everything downstream (reader, coercion, pandera schemas, raw DDL, sample generator, fetcher,
landing-zone sensor) is driven by these entries: a new dataset is one entry plus its rules in
``pipelines.validation.schemas``.

The entries live in ``short_selling`` (the first release's datasets), ``market_data``
(prices, foreign holdings, sectors and themes, investor types) and ``krx_screens`` (KRX's
top-50 screens and overheated designations); ``model`` holds the types and
``codes`` the request codes they share. This module assembles the table and parses landing
paths against it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

from pipelines.sources.datasets.codes import INDICES, MARKET_IDS, MARKETS
from pipelines.sources.datasets.krx_screens import (
    SHORT_BALANCE_TOP50,
    SHORT_OVERHEAT,
    SHORT_TRADING_TOP50,
)
from pipelines.sources.datasets.market_data import (
    FOREIGN_HOLDINGS,
    SECTORS,
    SHORT_INVESTOR_VALUE,
    SHORT_INVESTOR_VOLUME,
    STOCK_OHLCV,
    THEME_CONSTITUENTS,
)
from pipelines.sources.datasets.model import (
    DUCKDB_TYPES,
    LINEAGE_COLUMNS,
    MISSING,
    Dataset,
    Field,
    Kind,
    Period,
)
from pipelines.sources.datasets.short_selling import (
    INDEX_CONSTITUENTS,
    INDEX_OHLCV,
    SECURITIES,
    SHORT_BALANCE,
    SHORT_TRADING,
    USDKRW,
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        SHORT_BALANCE,
        SHORT_TRADING,
        INDEX_OHLCV,
        INDEX_CONSTITUENTS,
        SECURITIES,
        USDKRW,
        THEME_CONSTITUENTS,
        STOCK_OHLCV,
        FOREIGN_HOLDINGS,
        SECTORS,
        SHORT_INVESTOR_VOLUME,
        SHORT_INVESTOR_VALUE,
        SHORT_BALANCE_TOP50,
        SHORT_TRADING_TOP50,
        SHORT_OVERHEAT,
    )
}

_STEM = {
    Period.SESSION: re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    Period.SNAPSHOT: re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    Period.YEAR: re.compile(r"^(\d{4})$"),
}
SUFFIXES = (".json", ".json.gz", ".csv")


class PathError(ValueError):
    """A landing path that does not follow the layout of ``docs/contract.md`` (Landing zone)."""


@dataclass(frozen=True)
class LandingFile:
    """The request identity a landing path carries."""

    dataset: Dataset
    relpath: str  # POSIX path relative to the landing root
    segment: str | None
    period_start: dt.date  # the file's date, or January 1 of its year
    period_end: dt.date  # the same date, or December 31 of its year
    suffix: str

    @property
    def file_date(self) -> dt.date | None:
        return None if self.dataset.period is Period.YEAR else self.period_start

    def __reduce__(self):
        """Pickled as its path and parsed again on the other side, so a file read in a worker
        process refers to the very ``Dataset`` objects of ``DATASETS``."""
        return parse_landing_path, (self.relpath,)


@lru_cache(maxsize=1 << 16)
def parse_landing_path(relpath: str) -> LandingFile:
    """Parse ``krx/short_balance/KOSPI/2021-01-27.json`` into its identity, or raise PathError.

    Only names that match the layout exactly are accepted, so nothing from outside reaches SQL
    or the filesystem unvalidated. Results are cached: discovery, the sensor and the loader
    parse the same few thousand paths again and again (errors are not cached).
    """
    path = PurePosixPath(relpath)
    if path.is_absolute() or ".." in path.parts:
        raise PathError(f"{relpath}: not a relative landing path")
    suffix = next((s for s in SUFFIXES if path.name.endswith(s)), None)
    if suffix is None:
        raise PathError(f"{relpath}: unknown suffix (expected one of {', '.join(SUFFIXES)})")
    stem = path.name[: -len(suffix)]
    for dataset in DATASETS.values():
        base = PurePosixPath(dataset.folder)
        if path.parts[: len(base.parts)] != base.parts:
            continue
        rest = path.parts[len(base.parts) :]
        expected = 2 if dataset.segments else 1
        if len(rest) != expected:
            raise PathError(
                f"{relpath}: expected {dataset.folder}/"
                f"{'{' + ','.join(dataset.segments) + '}/' if dataset.segments else ''}"
                f"<date>{suffix}"
            )
        segment = rest[0] if dataset.segments else None
        if dataset.segments and segment not in dataset.segments:
            siblings = [d for d in DATASETS.values() if d.folder == dataset.folder]
            if any(segment in d.segments for d in siblings):
                continue  # another dataset of the same folder
            segments = [seg for d in siblings for seg in d.segments]
            raise PathError(
                f"{relpath}: unknown folder {segment!r} (expected one of {', '.join(segments)})"
            )
        match = _STEM[dataset.period].match(stem)
        if not match:
            pattern = "YYYY" if dataset.period is Period.YEAR else "YYYY-MM-DD"
            raise PathError(f"{relpath}: file name must be {pattern}{suffix}")
        try:
            if dataset.period is Period.YEAR:
                year = int(match.group(1))
                start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
            else:
                start = end = dt.date(*map(int, match.groups()))
        except ValueError as exc:
            raise PathError(f"{relpath}: invalid date in file name ({exc})") from None
        return LandingFile(dataset, str(path), segment, start, end, suffix)
    raise PathError(f"{relpath}: not under any dataset folder")


def landing_relpath(
    dataset: Dataset, day: dt.date, segment: str | None = None, suffix: str = ".json"
) -> str:
    """The landing path for a dataset's file of ``day`` (its year for range datasets)."""
    stem = str(day.year) if dataset.period is Period.YEAR else day.isoformat()
    parts = [dataset.folder, *([segment] if segment else []), f"{stem}{suffix}"]
    return "/".join(parts)


__all__ = [
    "DATASETS",
    "DUCKDB_TYPES",
    "INDICES",
    "LINEAGE_COLUMNS",
    "MARKETS",
    "MARKET_IDS",
    "MISSING",
    "SHORT_BALANCE",
    "SHORT_TRADING",
    "SUFFIXES",
    "Dataset",
    "Field",
    "Kind",
    "LandingFile",
    "PathError",
    "Period",
    "landing_relpath",
    "parse_landing_path",
]
