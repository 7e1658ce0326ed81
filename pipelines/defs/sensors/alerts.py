"""Alerts: failed runs and failed asset checks, appended to a local log (``KRX_ALERT_LOG``)."""

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import dagster as dg

from pipelines import settings
from pipelines.pinned import AssetCheckExecutionRecordStatus

#: What a run's checks found, as run tags the UI shows beside the run's status: a failed check
#: does not fail a Dagster run, so a "Success" run whose ERROR-severity check failed says
#: ``krx/verdict: failed`` (the command line tags its runs at once, this sensor the others).
VERDICT_TAG = "krx/verdict"


def failed_checks(evaluations: Iterable[Any]) -> tuple[list[str], list[str]]:
    """``"<asset> <check>: <description>"`` of the failed ERROR-severity checks and of the
    failed WARN-severity ones (gaps) among check evaluations."""
    failed: list[str] = []
    gaps: list[str] = []
    for evaluation in evaluations:
        if evaluation.passed:
            continue
        name = f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
        line = f"{name}: {evaluation.description}" if evaluation.description else name
        (gaps if evaluation.severity == dg.AssetCheckSeverity.WARN else failed).append(line)
    return failed, gaps


def verdict_tags(failed: list[str], gaps: list[str]) -> dict[str, str]:
    """The run tag of a run's failed checks and gaps (``failed_checks``)."""
    if failed:
        verdict = f"failed: {len(failed)} check(s), first {failed[0].split(':')[0]}"
    elif gaps:
        verdict = f"ok with {len(gaps)} gap(s), first {gaps[0].split(':')[0]}"
    else:
        verdict = "ok"
    return {VERDICT_TAG: verdict}


def run_verdict(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """``verdict_tags`` of a finished run, from its check evaluations."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return verdict_tags(*failed_checks(r.dagster_event.event_specific_data for r in records))


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
    "the local alert log, and tags their run with krx/verdict: a failed check does not fail "
    "its run, so no run sensor sees it.",
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
    for run_id in {record.run_id for record in failed}:
        context.instance.add_run_tags(run_id, run_verdict(context.instance, run_id))
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
