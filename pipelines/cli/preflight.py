"""What the command line checks before it starts a run: a user's mistake becomes a
``UsageError``, one line saying what is wrong and how to fix it (``main`` exits 2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pipelines import settings
from pipelines.calendar import HISTORY_START, sessions_between


class UsageError(Exception):
    """A mistake in the command line or the environment, as one line."""


def session_range(start: dt.date, end: dt.date, today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last session of ``start..end`` (inclusive), the end cut at ``today``.

    A range before the history, entirely after ``today`` or holding no session is a
    ``UsageError``."""
    if start < HISTORY_START:
        raise UsageError(
            f"--start {start} is before the history krx-short covers (it starts on "
            f"{HISTORY_START}); use --start {HISTORY_START} or later"
        )
    if start > today:
        raise UsageError(
            f"{start}..{end} is entirely in the future (today in Seoul is {today}); "
            f"use an --end on or before {today}"
        )
    last = min(end, today)
    sessions = sessions_between(start, last)
    if not sessions:
        raise UsageError(
            f"no KRX session between {start} and {last} (weekends and market holidays only); "
            "widen the range to include a trading day"
        )
    return sessions[0], sessions[-1]


def landing_root() -> Path:
    """``KRX_LANDING_DIR``, which must be an existing folder."""
    root = settings.landing_dir()
    if not root.is_dir():
        raise UsageError(
            f"{settings.LANDING_ENV}={root} is not a folder; point {settings.LANDING_ENV} at "
            "the landing zone (the folder holding krx/ and ecos/), or fill one with "
            "`krx-short fetch` or `krx-short sample`"
        )
    return root


def warehouse_file() -> Path:
    """``KRX_DUCKDB_PATH``, which must be an existing file (for the commands that read it)."""
    path = settings.duckdb_path()
    if not path.is_file():
        raise UsageError(
            f"{settings.DUCKDB_ENV}={path} does not exist; build the warehouse first "
            "(`krx-short build --start .. --end ..`) or point the variable at one"
        )
    return path
