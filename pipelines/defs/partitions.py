"""KRX session partitions: daily windows on weekdays, the XKRX non-session weekdays excluded."""

from __future__ import annotations

import datetime as dt
from functools import cache

import dagster as dg

from pipelines.calendar import (
    HISTORY_START,
    TIMEZONE,
    Window,
    calendar_end,
    non_session_weekdays,
)

#: Every asset that opens the DuckDB file for writing runs in this pool (limit 1).
DUCKDB_POOL = "duckdb"

session_backfill = dg.BackfillPolicy.single_run()


@cache
def session_partitions_def() -> dg.TimeWindowPartitionsDefinition:
    """The session partitions, built on first use (they read the XKRX calendar)."""
    holidays = non_session_weekdays(HISTORY_START, calendar_end())
    return dg.TimeWindowPartitionsDefinition(
        start=HISTORY_START.isoformat(),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone=TIMEZONE,
        end_offset=1,  # the evening run may ask for today's session
        exclusions=[dt.datetime.combine(d, dt.time()) for d in holidays],
    )


def __getattr__(name: str):
    # ``session_partitions``, as a module attribute built on first use
    if name == "session_partitions":
        return session_partitions_def()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_window(context: dg.AssetExecutionContext) -> Window | None:
    """The half-open session window of a partitioned run (None when unpartitioned)."""
    if not context.has_partition_key_range and not context.has_partition_key:
        return None
    window = context.partition_time_window
    return Window(window.start.date(), window.end.date())
