"""Run the build job for a range of sessions in one Dagster run and summarise what failed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dagster as dg

from pipelines import settings
from pipelines.calendar import sessions_between
from pipelines.instance import ensure_dagster_home, process_tags, release_dead_runs
from pipelines.publication import abandon


@dataclass
class BuildOutcome:
    """What a build run did, in terms a command line can print."""

    run_id: str
    success: bool
    failed_steps: list[str] = field(default_factory=list)  # "asset: reason"
    failed_checks: list[str] = field(default_factory=list)  # ERROR-severity checks
    warnings: list[str] = field(default_factory=list)  # WARN-severity checks (gaps)

    def exit_code(self, strict: bool = False) -> int:
        if not self.success or self.failed_steps or self.failed_checks:
            return 1
        return 1 if strict and self.warnings else 0


def partition_range(start: dt.date, end: dt.date) -> dg.PartitionKeyRange:
    """The session partition keys from ``start`` to ``end`` (inclusive) as one range."""
    sessions = sessions_between(start, end)
    if not sessions:
        raise ValueError(f"no KRX session between {start} and {end}")
    return dg.PartitionKeyRange(sessions[0].isoformat(), sessions[-1].isoformat())


def run_build(
    start: dt.date, end: dt.date, *, instance: dg.DagsterInstance | None = None
) -> BuildOutcome:
    """Materialise every asset for the sessions in [start, end] in one run."""
    from pipelines.defs.definitions import load_defs

    keys = partition_range(start, end)
    if instance is None:
        ensure_dagster_home()
        instance = dg.DagsterInstance.get()
    release_dead_runs(instance)
    job = load_defs().resolve_job_def("krx_build")
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": keys.start,
            "dagster/asset_partition_range_end": keys.end,
            **process_tags(),
        },
        raise_on_error=False,
    )
    if not result.success:  # readers keep the last complete build; its working copy goes
        abandon(settings.duckdb_path(), result.run_id)
    return summarise(result)


def summarise(result: dg.ExecuteInProcessResult) -> BuildOutcome:
    outcome = BuildOutcome(run_id=result.run_id, success=result.success)
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:  # what the step raised
                error = error.cause
            reason = error.message.strip().splitlines()[-1] if error else "unknown error"
            outcome.failed_steps.append(f"{event.step_key}: {reason}")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.passed:
                continue
            name = f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
            detail = evaluation.description or ""
            line = f"{name}: {detail}".rstrip(": ")
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                outcome.warnings.append(line)
            else:
                outcome.failed_checks.append(line)
    return outcome
