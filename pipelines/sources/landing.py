"""The landing zone on disk: which files exist for which datasets and dates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from pipelines.calendar import Window, sessions_between, shift_sessions
from pipelines.sources.datasets import (
    DATASETS,
    SUFFIXES,
    Dataset,
    PathError,
    Period,
    landing_relpath,
    parse_landing_path,
)

_DATE_LIKE = re.compile(r"^(\d{4})(?:-(\d{2})-(\d{2}))?")


def _is_candidate(path: Path) -> bool:
    """A regular file (never a link that could point outside the landing zone), not a hidden or
    partial download."""
    name = path.name
    if path.is_symlink() or not path.is_file():
        return False
    return not name.startswith(".") and not name.endswith((".tmp", ".part"))


def _overlaps(relpath: str, window: Window) -> bool:
    """Whether a file's period overlaps the half-open ``window``; a name that does not parse
    is kept when its date-like prefix falls in the window, so its error is reported."""
    start, end = window
    try:
        landing = parse_landing_path(relpath)
    except PathError:
        match = _DATE_LIKE.match(Path(relpath).name)
        if not match:
            return False
        year = int(match.group(1))
        return start.year <= year <= (end - dt.timedelta(days=1)).year
    if landing.dataset.period is Period.SNAPSHOT:
        return True
    return landing.period_start < end and landing.period_end >= start


def _outside_years(name: str, years: tuple[int, int] | None) -> bool:
    """Whether a file name's date-like prefix lies outside ``years`` (first, last): then no
    session or yearly file of that name overlaps the window (each lies in its name's year), and
    neither does a name that does not parse (``_overlaps``), so it is skipped unread."""
    match = _DATE_LIKE.match(name) if years else None
    return bool(match) and not years[0] <= int(match.group(1)) <= years[1]


def discover(
    root: Path,
    datasets: Iterable[str] | None = None,
    window: Window | None = None,
) -> list[str]:
    """Landing paths (relative, POSIX) under the folders of ``datasets`` (all by default); in a
    folder several datasets share, a file whose path names another of them is left to it.

    With a window, files of other years are passed over by name (no stat, no parse): a
    one-session update stats and parses one year's names, not the whole history's."""
    found = set()
    for name in datasets or DATASETS:
        dataset = DATASETS[name]
        folder = root / dataset.folder
        if not folder.is_dir():
            continue
        years = None
        if window and dataset.period is not Period.SNAPSHOT:
            years = (window[0].year, (window[1] - dt.timedelta(days=1)).year)
        for path in folder.rglob("*"):
            if _outside_years(path.name, years) or not _is_candidate(path):
                continue
            relpath = path.relative_to(root).as_posix()
            if _dataset_of(relpath) not in (name, None):
                continue
            if window is None or _overlaps(relpath, window):
                found.add(relpath)
    return sorted(found)


def earliest_session_file(root: Path) -> dt.date | None:
    """The date of the earliest per-session file (``Period.SESSION`` datasets: balances, trades,
    prices, ...) under ``root``; None when there is none.

    Yearly and snapshot files are left out: a yearly file says nothing about which of its
    sessions were fetched. The answer is kept per state of the folders (their mtimes change as
    files come and go), so the landing sensor can ask on every tick for the cost of a few stats.
    """
    folders = [
        root / dataset.folder / segment if segment else root / dataset.folder
        for dataset in DATASETS.values()
        if dataset.period is Period.SESSION
        for segment in dataset.segments or (None,)
    ]
    state = tuple((folder, _mtime(folder)) for folder in dict.fromkeys(folders))
    return _earliest_session_file(root, state)


def _mtime(folder: Path) -> int | None:
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return None


@lru_cache(maxsize=32)
def _earliest_session_file(
    root: Path, state: tuple[tuple[Path, int | None], ...]
) -> dt.date | None:
    earliest = None
    for folder, mtime in state:
        if mtime is None:
            continue
        for path in sorted(folder.iterdir()):  # ISO names: the first that parses is the earliest
            try:
                landing = parse_landing_path(path.relative_to(root).as_posix())
            except PathError:
                continue
            if landing.dataset.period is Period.SESSION and _is_candidate(path):
                if earliest is None or landing.period_start < earliest:
                    earliest = landing.period_start
                break
    return earliest


def _dataset_of(relpath: str) -> str | None:
    """The dataset a landing path names, None when it does not parse."""
    try:
        return parse_landing_path(relpath).dataset.name
    except PathError:
        return None


def expected_relpaths(dataset: Dataset, window: Window, today: dt.date) -> list[str]:
    """The ``.json`` landing paths a complete landing zone holds for ``window`` (half-open):
    one per session (or year) and segment, for periods the source has published by ``today``."""
    start, end = window
    sessions = [
        s
        for s in sessions_between(start, end - dt.timedelta(days=1))
        if s <= today and shift_sessions(s, dataset.publication_lag_sessions) <= today
    ]
    if dataset.period is Period.SESSION:
        days = sessions
    else:
        days = sorted({dt.date(s.year, 1, 1) for s in sessions})
    segments = dataset.segments or (None,)
    return [landing_relpath(dataset, d, seg) for d in days for seg in segments]


def missing_files(root: Path, dataset: Dataset, window: Window, today: dt.date) -> list[str]:
    """Expected files of ``window`` present under no accepted suffix (.json, .json.gz, .csv)."""
    if not dataset.required_every_period:
        return []
    missing = []
    for relpath in expected_relpaths(dataset, window, today):
        stem = relpath[: -len(".json")]
        if not any((root / f"{stem}{suffix}").is_file() for suffix in SUFFIXES):
            missing.append(relpath)
    return missing
