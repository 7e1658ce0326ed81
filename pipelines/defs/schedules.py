"""The evening schedule: after each session, load it and the balances published that day."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.calendar import TIMEZONE, is_session, shift_sessions
from pipelines.defs.jobs import BUILD_JOB
from pipelines.sources.datasets import SHORT_BALANCE

#: 19:00 in Seoul: KRX publishes the day's short-selling screens in the late afternoon.
EVENING_CRON = "0 19 * * 1-5"


def evening_range(day: dt.date) -> dg.PartitionKeyRange | None:
    """Sessions one evening run covers: from T-2 (balances published today) to T (trading,
    index levels, constituents); None when ``day`` is not a session."""
    if not is_session(day):
        return None
    first = shift_sessions(day, -SHORT_BALANCE.publication_lag_sessions)
    return dg.PartitionKeyRange(first.isoformat(), day.isoformat())


@dg.schedule(
    job_name=BUILD_JOB,
    cron_schedule=EVENING_CRON,
    execution_timezone=TIMEZONE,
    description="Each session evening: trading and index for T, balances for T-2, one run.",
)
def evening_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date()
    keys = evening_range(day)
    if keys is None:
        return dg.SkipReason(f"{day} is not a KRX session")
    return dg.RunRequest(
        run_key=f"evening-{day.isoformat()}",
        tags={
            "dagster/asset_partition_range_start": keys.start,
            "dagster/asset_partition_range_end": keys.end,
        },
    )
