"""Alerts: failed runs and failed asset checks, appended to a local log (``KRX_ALERT_LOG``)."""

import datetime as dt
import json

import dagster as dg

from pipelines import settings
from pipelines.pinned import AssetCheckExecutionRecordStatus


def append_alert(kind: str, **fields) -> None:
    path = settings.alert_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "kind": kind, **fields}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


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
