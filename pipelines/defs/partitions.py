"""KRX session partitions: daily windows on weekdays, the XKRX non-session weekdays excluded,
from the first session the warehouse is given data for.

The first partition follows the settings of the moment (``first_partition_day``): a UI started
on a landing zone whose files begin in 2020 shows no 2019 sessions as missing. Whatever builds
definitions with these partitions caches them per first partition (``per_first_partition``), so
two landing zones in one process (tests) each get their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache, wraps
from typing import TypeVar

import dagster as dg

from pipelines import settings
from pipelines.calendar import (
    HISTORY_START,
    TIMEZONE,
    Window,
    calendar_end,
    non_session_weekdays,
    today_kst,
)
from pipelines.sources.landing import earliest_session_file

#: Every asset that opens the DuckDB file for writing runs in this pool (limit 1).
DUCKDB_POOL = "duckdb"

session_backfill = dg.BackfillPolicy.single_run()

T = TypeVar("T")


def first_partition_day() -> dt.date:
    """``KRX_PARTITIONS_START``, else the date of the landing zone's earliest per-session file
    (``KRX_LANDING_DIR``), else the start of the history; never before the history's start or
    after today."""
    day = settings.partitions_start() or earliest_session_file(settings.landing_dir())
    return min(max(day or HISTORY_START, HISTORY_START), today_kst())


def session_partitions_def() -> dg.TimeWindowPartitionsDefinition:
    """The session partitions from ``first_partition_day``."""
    return _session_partitions(first_partition_day())


@cache
def _session_partitions(start: dt.date) -> dg.TimeWindowPartitionsDefinition:
    holidays = non_session_weekdays(start, calendar_end())
    return dg.TimeWindowPartitionsDefinition(
        start=start.isoformat(),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone=TIMEZONE,
        end_offset=1,  # the evening run may ask for today's session
        exclusions=[dt.datetime.combine(d, dt.time()) for d in holidays],
    )


def per_first_partition(build: Callable[[], T]) -> Callable[[], T]:
    """``build`` cached per ``first_partition_day``: definitions that hold the session
    partitions are built once for each first partition the process meets."""
    cached = cache(lambda start: build())

    @wraps(build)
    def wrapper() -> T:
        return cached(first_partition_day())

    wrapper.cache_clear = cached.cache_clear
    return wrapper


def run_window(context: dg.AssetExecutionContext) -> Window | None:
    """The half-open session window of a partitioned run (None when unpartitioned)."""
    if not context.has_partition_key_range and not context.has_partition_key:
        return None
    window = context.partition_time_window
    return Window(window.start.date(), window.end.date())
