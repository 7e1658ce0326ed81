"""Sensors: new or changed landing files start runs; failed runs and checks go to a local log."""

import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from pipelines import settings
from pipelines.calendar import last_session_on_or_before, sessions_between
from pipelines.jobs import build_job
from pipelines.partitions import session_partitions
from pipelines.sources.datasets import PathError, Period, parse_landing_path
from pipelines.sources.landing import discover
from pipelines.sources.reader import file_sha256

ALERT_LOG_ENV = "KRX_ALERT_LOG"


def alert_log_path() -> Path:
    """Where failed runs and checks are recorded (``KRX_ALERT_LOG``,
    default ``warehouse/alerts.log``)."""
    value = os.environ.get(ALERT_LOG_ENV)
    return Path(value) if value else settings.WAREHOUSE_DIR / "alerts.log"


def append_alert(kind: str, **fields) -> None:
    path = alert_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "kind": kind, **fields}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


# --- landing zone ---------------------------------------------------------------------------


def scan(root: Path, previous: dict[str, list]) -> dict[str, list]:
    """Path -> [size, mtime_ns, sha256]; a file's hash is recomputed only when its stat moved."""
    state = {}
    for relpath in discover(root):
        stat = (root / relpath).stat()
        old = previous.get(relpath)
        if old and old[0] == stat.st_size and old[1] == stat.st_mtime_ns:
            state[relpath] = old
        else:
            sha = file_sha256((root / relpath).read_bytes())
            state[relpath] = [stat.st_size, stat.st_mtime_ns, sha]
    return state


def partition_keys_for(relpath: str) -> list[str]:
    """Session partitions whose run loads ``relpath`` (a snapshot: the session it belongs to)."""
    try:
        landing = parse_landing_path(relpath)
    except PathError:
        return []
    if landing.dataset.period is Period.SNAPSHOT:
        days = [last_session_on_or_before(landing.period_start)]
    else:
        days = sessions_between(landing.period_start, landing.period_end)
    valid = set(session_partitions.get_partition_keys())
    return [d.isoformat() for d in days if d.isoformat() in valid]


def contiguous_ranges(keys: set[str]) -> list[dg.PartitionKeyRange]:
    """Group partition keys into maximal runs of consecutive sessions."""
    ranges, run = [], []
    for key in session_partitions.get_partition_keys():
        if key in keys:
            run.append(key)
        elif run:
            ranges.append(dg.PartitionKeyRange(run[0], run[-1]))
            run = []
    if run:
        ranges.append(dg.PartitionKeyRange(run[0], run[-1]))
    return ranges


def landing_requests(root: Path, cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    """One run request per contiguous range of sessions touched by files that are new or whose
    content hash changed, and the new cursor."""
    previous = json.loads(cursor) if cursor else {}
    state = scan(root, previous)
    changed = {
        p: partition_keys_for(p)
        for p, v in state.items()
        if p not in previous or previous[p][2] != v[2]
    }
    requests = []
    for keys in contiguous_ranges({k for ks in changed.values() for k in ks}):
        files = sorted(
            p for p, ks in changed.items() if any(keys.start <= k <= keys.end for k in ks)
        )
        run_key = file_sha256(json.dumps([(p, state[p][2]) for p in files]).encode())[:24]
        requests.append(
            dg.RunRequest(
                run_key=f"landing-{run_key}",
                tags={
                    "dagster/asset_partition_range_start": keys.start,
                    "dagster/asset_partition_range_end": keys.end,
                    "krx/changed_files": str(len(files)),
                },
            )
        )
    return requests, json.dumps(state, separators=(",", ":"))


@dg.sensor(
    job=build_job,
    minimum_interval_seconds=60,
    description="Starts a run for landing files that are new or whose content changed.",
)
def landing_sensor(context: dg.SensorEvaluationContext):
    requests, cursor = landing_requests(settings.landing_dir(), context.cursor)
    context.update_cursor(cursor)
    if not requests:
        return dg.SkipReason("no new or changed landing files")
    return requests


# --- alerting -------------------------------------------------------------------------------


@dg.run_failure_sensor(
    description="Records every failed run in the local alert log.",
    monitor_all_code_locations=False,
)
def run_failure_alerts(context: dg.RunFailureSensorContext):
    append_alert(
        "run_failure",
        run_id=context.dagster_run.run_id,
        job=context.dagster_run.job_name,
        message=context.failure_event.message,
    )


@dg.sensor(
    minimum_interval_seconds=60,
    description="Records failed asset checks (pandera, completeness, freshness, dbt tests) in "
    "the local alert log: a failed check does not fail its run, so no run sensor sees it.",
)
def check_failure_alerts(context: dg.SensorEvaluationContext):
    last_seen = int(context.cursor) if context.cursor else 0
    newest, failed = last_seen, []
    storage = context.instance.event_log_storage
    for key in context.repository_def.asset_graph.asset_check_keys:
        for record in storage.get_asset_check_execution_history(key, limit=50):
            if record.id <= last_seen:
                break
            newest = max(newest, record.id)
            if record.status == AssetCheckExecutionRecordStatus.FAILED:
                failed.append(record)
    for record in sorted(failed, key=lambda r: r.id):
        evaluation = record.event.dagster_event.event_specific_data
        append_alert(
            "check_failure",
            run_id=record.run_id,
            asset=record.key.asset_key.to_user_string(),
            check=record.key.name,
            severity=evaluation.severity.value,
            description=evaluation.description,
        )
    context.update_cursor(str(newest))
    return dg.SkipReason(f"recorded {len(failed)} failed checks")
