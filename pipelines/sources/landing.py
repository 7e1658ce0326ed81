"""The landing zone on disk: which files exist for which datasets and dates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path

from pipelines.sources.datasets import DATASETS, PathError, Period, parse_landing_path

_DATE_LIKE = re.compile(r"^(\d{4})(?:-(\d{2})-(\d{2}))?")


def _is_candidate(path: Path) -> bool:
    name = path.name
    return path.is_file() and not name.startswith(".") and not name.endswith((".tmp", ".part"))


def _overlaps(relpath: str, window: tuple[dt.date, dt.date]) -> bool:
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


def discover(
    root: Path,
    datasets: Iterable[str] | None = None,
    window: tuple[dt.date, dt.date] | None = None,
) -> list[str]:
    """Landing paths (relative, POSIX) under the folders of ``datasets`` (all by default)."""
    found = []
    for name in datasets or DATASETS:
        folder = root / DATASETS[name].folder
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if not _is_candidate(path):
                continue
            relpath = path.relative_to(root).as_posix()
            if window is None or _overlaps(relpath, window):
                found.append(relpath)
    return sorted(found)
