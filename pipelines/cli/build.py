"""Run the build job for a range of sessions in one Dagster run and summarise what failed."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg

from pipelines import settings
from pipelines.calendar import sessions_between
from pipelines.cli.progress import ProgressHandler, is_terminal, run_loggers
from pipelines.instance import command_line_instance, process_tags, release_dead_runs
from pipelines.publication import abandon

#: ``package.module.SomeError: `` at the start of an error's line.
EXCEPTION_PREFIX = re.compile(r"^[\w.]+(?:Error|Exception|Interrupt): ")


@dataclass
class BuildOutcome:
    """What a build run did, in terms a command line can print."""

    run_id: str
    success: bool
    failed_steps: list[str] = field(default_factory=list)  # "asset: reason"
    failed_checks: list[str] = field(default_factory=list)  # ERROR-severity checks
    warnings: list[str] = field(default_factory=list)  # WARN-severity checks (gaps)
    log_file: Path | None = None  # every event of the run

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


def log_path(now: dt.datetime, pid: int) -> Path:
    """The log file of a build started at ``now`` by process ``pid``, in ``logs/`` beside the
    DuckDB file (builds started in the same second keep a log each)."""
    return settings.duckdb_path().parent / "logs" / f"build-{now:%Y%m%dT%H%M%S}-{pid}.log"


def run_build(
    start: dt.date,
    end: dt.date,
    *,
    instance: dg.DagsterInstance | None = None,
    verbose: bool = False,
    out: TextIO | None = None,
) -> BuildOutcome:
    """Materialise every asset for the sessions in [start, end] in one run, printing a line per
    finished step on ``out`` (default stdout; with ``verbose``, Dagster's and dbt's logs too).

    Sessions before the landing zone's first file are partitions of this run too (their gaps
    are reported like any other), though not of a UI started on that landing zone."""
    from pipelines.defs.definitions import load_defs
    from pipelines.defs.partitions import first_partition_day
    from pipelines.defs.sensors.alerts import run_verdict

    out = out or sys.stdout
    keys = partition_range(start, end)
    if instance is None:
        instance = command_line_instance()
    release_dead_runs(instance)
    tty = is_terminal(out)
    first_partition = min(start, first_partition_day())
    with settings.partitions_start_environment(first_partition):
        job = load_defs().resolve_job_def("krx_build")
    progress = ProgressHandler(out, total_steps=len(job.graph.nodes), tty=tty)
    log_file = log_path(dt.datetime.now(), os.getpid())  # two builds in one second: two logs
    logger_defs, run_config = run_loggers(progress, log_file, verbose)
    try:
        with (
            settings.partitions_start_environment(first_partition),
            settings.dbt_console(verbose=verbose, colours=tty),
        ):
            result = job.with_logger_defs(logger_defs).execute_in_process(
                run_config=run_config,
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": keys.start,
                    "dagster/asset_partition_range_end": keys.end,
                    **process_tags(),
                },
                raise_on_error=False,
            )
    finally:
        progress.close()
    if not result.success:  # readers keep the last complete build; its working copy goes
        abandon(settings.duckdb_path(), result.run_id)
    outcome = summarise(result)
    outcome.log_file = log_file
    instance.add_run_tags(result.run_id, run_verdict(instance, result.run_id))
    return outcome


#: Plain words for errors that carry no message of their own.
PLAIN_REASONS = {
    "DagsterExecutionInterruptedError": "interrupted (Ctrl-C or a stop signal)",
    "KeyboardInterrupt": "interrupted (Ctrl-C or a stop signal)",
    "MemoryError": "out of memory",
}


def _first_line(message: str) -> str:
    """The first line of an op's error that is not Dagster's wrapping, without the exception's
    class name."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    own = [line for line in lines if "occurred while" not in line] or lines or ["unknown error"]
    return EXCEPTION_PREFIX.sub("", own[0])


def step_reason(error) -> str:
    """Why a step failed, from what it raised (Dagster's ``SerializableErrorInfo``): its own
    first line, or plain words when the message is only the exception's class."""
    if error is None:
        return "unknown error"
    reason = _first_line(error.message)
    if reason.rsplit(".", 1)[-1].rstrip(":") == error.cls_name:
        return PLAIN_REASONS.get(error.cls_name, f"{error.cls_name} (no message)")
    return reason


def summarise(result: dg.ExecuteInProcessResult) -> BuildOutcome:
    from pipelines.defs.sensors.alerts import failed_checks

    outcome = BuildOutcome(run_id=result.run_id, success=result.success)
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:  # what the step raised
                error = error.cause
            outcome.failed_steps.append(f"{event.step_key}: {step_reason(error)}")
    outcome.failed_checks, outcome.warnings = failed_checks(
        event.event_specific_data
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    return outcome
