"""KRX session partitions: daily windows on weekdays, the XKRX non-session weekdays excluded."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.calendar import HISTORY_START, calendar_end, non_session_weekdays

TIMEZONE = "Asia/Seoul"
#: Every asset that opens the DuckDB file for writing runs in this pool (limit 1).
DUCKDB_POOL = "duckdb"


def _build() -> dg.TimeWindowPartitionsDefinition:
    holidays = non_session_weekdays(HISTORY_START, calendar_end())
    return dg.TimeWindowPartitionsDefinition(
        start=HISTORY_START.isoformat(),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone=TIMEZONE,
        end_offset=1,  # the evening run may ask for today's session
        exclusions=[dt.datetime.combine(d, dt.time()) for d in holidays],
    )


session_partitions = _build()
session_backfill = dg.BackfillPolicy.single_run()


def window_dates(window: dg.TimeWindow) -> tuple[dt.date, dt.date]:
    """A half-open partition window as dates: sessions ``s`` with ``start <= s < end``."""
    return window.start.date(), window.end.date()
