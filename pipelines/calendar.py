"""KRX trading sessions: the XKRX calendar plus the closures it does not know yet."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from pipelines import settings

#: KRX's clock: sessions, publication times and "today" are Seoul's.
TIMEZONE = "Asia/Seoul"
#: First session the warehouse covers.
HISTORY_START = dt.date(2019, 1, 2)

#: Ad-hoc KRX closures that exchange-calendars 4.13.2 does not model yet.
EXTRA_CLOSURES: frozenset[dt.date] = frozenset(
    {
        dt.date(2026, 6, 3),  # local election day
    }
)


CALENDAR_START = "2015-01-01"


def calendar_window_end(today: dt.date) -> dt.date:
    """The calendar reaches a year past ``today``, as exchange-calendars' default window does."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)


def _cache_file(end: dt.date) -> Path:
    """Where the sessions up to ``end`` are kept: building XKRX takes seconds, reading a file not.

    The key names ``end``, so the cache moves forward with the calendar day by day.
    """
    base = settings.cache_dir()
    closures = ",".join(sorted(d.isoformat() for d in EXTRA_CLOSURES))
    key = hashlib.sha256(
        f"{version('exchange-calendars')}|{CALENDAR_START}|{end}|{closures}".encode()
    ).hexdigest()[:16]
    return base / f"xkrx-sessions-{key}.txt"


def compute_sessions(end: dt.date) -> tuple[dt.date, ...]:
    """XKRX sessions up to ``end`` from exchange-calendars, minus the extra closures."""
    import exchange_calendars as xcals
    import pandas as pd

    cal = xcals.get_calendar("XKRX", start=CALENDAR_START, end=end.isoformat())
    days = (d.date() for d in pd.DatetimeIndex(cal.sessions))
    return tuple(d for d in days if d not in EXTRA_CLOSURES)


def load_sessions(today: dt.date) -> tuple[dt.date, ...]:
    """Sessions up to a year past ``today``: read from the cache, else computed and cached.

    Writing a new cache file removes the files of earlier days.
    """
    end = calendar_window_end(today)
    path = _cache_file(end)
    try:
        return tuple(dt.date.fromisoformat(line) for line in path.read_text().split())
    except (OSError, ValueError):
        pass
    sessions = compute_sessions(end)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text("\n".join(d.isoformat() for d in sessions) + "\n")
        os.replace(temp, path)
        for stale in path.parent.glob("xkrx-sessions-*.txt"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only home only costs speed
    return sessions


@cache
def _sessions() -> tuple[dt.date, ...]:
    return load_sessions(dt.date.today())


@cache
def _session_set() -> frozenset[dt.date]:
    return frozenset(_sessions())


class Window(NamedTuple):
    """A half-open window of days: ``start <= day < end`` (a Dagster partition window)."""

    start: dt.date
    end: dt.date

    @classmethod
    def inclusive(cls, first: dt.date, last: dt.date) -> Window:
        """The window of the days ``first`` to ``last``, both included."""
        return cls(first, last + dt.timedelta(days=1))


def now_kst() -> dt.datetime:
    """The time in Seoul."""
    return dt.datetime.now(ZoneInfo(TIMEZONE))


def today_kst() -> dt.date:
    """Today's date in Seoul."""
    return now_kst().date()


def is_session(day: dt.date) -> bool:
    """True when KRX traded on ``day``."""
    return day in _session_set()


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Sessions with ``start <= day <= end``."""
    return [d for d in _sessions() if start <= d <= end]


def last_session_on_or_before(day: dt.date) -> dt.date:
    """The latest session not after ``day``."""
    candidates = [d for d in _sessions() if d <= day]
    if not candidates:
        raise ValueError(f"no KRX session on or before {day}")
    return candidates[-1]


def shift_sessions(day: dt.date, n: int) -> dt.date:
    """The session ``n`` sessions after (n > 0) or before (n < 0) the session ``day``."""
    sessions = _sessions()
    index = sessions.index(day)
    return sessions[index + n]


def non_session_weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays between ``start`` and ``end`` (inclusive) on which KRX was closed."""
    sessions = _session_set()
    days = (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5 and d not in sessions]


def calendar_end() -> dt.date:
    """Last day the calendar knows sessions for."""
    return _sessions()[-1]


def rebalance_effective_sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """KOSPI 200 / KOSDAQ 150 regular rebalance days: the session after the June and
    December index-derivatives expiry (second Thursday, or the session before it if closed)."""
    out = []
    for year in range(start.year, end.year + 1):
        for month in (6, 12):
            first = dt.date(year, month, 1)
            first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
            expiry = last_session_on_or_before(first_thursday + dt.timedelta(days=7))
            if expiry >= calendar_end():
                continue  # beyond what the calendar knows
            effective = shift_sessions(expiry, 1)
            if start <= effective <= end:
                out.append(effective)
    return out
