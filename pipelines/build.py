"""Run the build job for a range of sessions in one Dagster run and summarise what failed."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipelines.calendar import sessions_between
from pipelines.instance import ensure_dagster_home


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


HOST_TAG, PID_TAG, PROCESS_TAG = "krx/host", "krx/pid", "krx/process"


def process_identity(pid: int) -> str | None:
    """The boot and start time of process ``pid`` (Linux ``/proc``), which a later process
    given the same PID (after the run's process died, or after a reboot) does not share; None
    where ``/proc`` does not tell (another system, or the process is gone)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22, "starttime", counted after the command name, which may hold spaces and ")"
    return f"{boot}/{stat.rsplit(')', 1)[1].split()[19]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_process_alive(tags: Mapping[str, str]) -> bool:
    """Whether the process that started a command-line run still runs: its PID is alive and,
    where the run recorded it, is the same process (not a PID reused since)."""
    pid = int(tags[PID_TAG])
    if not _process_alive(pid):
        return False
    recorded = tags.get(PROCESS_TAG)
    return recorded is None or process_identity(pid) in (None, recorded)


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the command-line runs of this host whose process died (SIGKILL, power loss) and free
    the DuckDB pool slots they held; without a daemon nothing else would."""
    host = socket.gethostname()
    released = []
    for run_id in instance.event_log_storage.get_concurrency_run_ids():
        run = instance.get_run_by_id(run_id)
        if run is None or run.tags.get(HOST_TAG) != host or PID_TAG not in run.tags:
            continue
        if run.is_finished or not _run_process_alive(run.tags):
            if not run.is_finished:
                instance.report_run_failed(run, "the krx-short process of this run died")
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            released.append(run_id)
    return released


def run_build(
    start: dt.date, end: dt.date, *, instance: dg.DagsterInstance | None = None
) -> BuildOutcome:
    """Materialise every asset for the sessions in [start, end] in one run."""
    from pipelines.definitions import defs

    keys = partition_range(start, end)
    if instance is None:
        ensure_dagster_home()
        instance = dg.DagsterInstance.get()
    release_dead_runs(instance)
    job = defs.resolve_job_def("krx_build")
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": keys.start,
            "dagster/asset_partition_range_end": keys.end,
            HOST_TAG: socket.gethostname(),
            PID_TAG: str(os.getpid()),
            **({PROCESS_TAG: identity} if (identity := process_identity(os.getpid())) else {}),
        },
        raise_on_error=False,
    )
    return summarise(result)


def summarise(result: dg.ExecuteInProcessResult) -> BuildOutcome:
    outcome = BuildOutcome(run_id=result.run_id, success=result.success)
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
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
