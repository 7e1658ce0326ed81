"""The shipped Dagster instance: batched event storage records what Dagster's own storage does."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import SqliteEventLogStorage

from pipelines.defs.partitions import session_backfill, session_partitions_def
from pipelines.instance import CONFIG, EVENT_STORAGE_KEY
from pipelines.instance.storage import BatchSqliteEventLogStorage
from pipelines.settings import RUN_ENVIRONMENT

session_partitions = session_partitions_def()
SESSIONS = session_partitions.get_partition_keys()[-40:]


@dg.asset(partitions_def=session_partitions, backfill_policy=session_backfill)
def upstream(context) -> None:
    context.log.info(f"{len(context.partition_keys)} sessions")


@dg.asset(partitions_def=session_partitions, backfill_policy=session_backfill, deps=[upstream])
def downstream() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 7})


@dg.asset_check(asset=upstream)
def upstream_rows() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"rows": 7})


@dg.asset_check(asset=downstream)
def downstream_rows() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


CHECKS = (upstream_rows.check_key, downstream_rows.check_key)
JOB = dg.Definitions(
    assets=[upstream, downstream],
    asset_checks=[upstream_rows, downstream_rows],
    jobs=[dg.define_asset_job("both", [upstream, downstream])],
).resolve_job_def("both")


def _instance(home: Path, config: str) -> dg.DagsterInstance:
    home.mkdir()
    (home / "dagster.yaml").write_text(config)
    return dg.DagsterInstance.from_config(str(home))


def _record(instance: dg.DagsterInstance) -> dict:
    """What the UI and the asset graph read back: partitions, latest events, metadata."""
    out = {}
    for key in (dg.AssetKey("upstream"), dg.AssetKey("downstream")):
        entry = instance.get_asset_records([key])[0].asset_entry
        latest = entry.last_materialization_record
        events = instance.fetch_materializations(key, limit=1000).records
        out[key.to_user_string()] = {
            "partitions": sorted(instance.get_materialized_partitions(key)),
            "latest_partition": latest.partition_key,
            "latest_is_newest_event": latest.storage_id == max(r.storage_id for r in events),
            "event_count": len(events),
            "metadata": {r.asset_materialization.metadata.get("rows") for r in events},
            "last_run_id": entry.last_run_id,
        }
    storage = instance.event_log_storage
    for key in CHECKS:
        executions = storage.get_asset_check_execution_history(key, limit=100)
        out[key.to_user_string()] = [(e.status, e.partition, e.run_id) for e in executions]
    return out


def _run(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return JOB.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": SESSIONS[0],
            "dagster/asset_partition_range_end": SESSIONS[-1],
        },
    )


@pytest.fixture
def run_environment(monkeypatch):
    for name, value in RUN_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def test_shipped_config_uses_the_batch_storage(tmp_path, monkeypatch, run_environment):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = _instance(tmp_path / "home", CONFIG.read_text())
    assert isinstance(instance.event_log_storage, BatchSqliteEventLogStorage)
    assert _run(instance).success
    # Dagster's default place for run event logs
    assert (tmp_path / "home" / "history" / "runs" / "index.db").exists()


def test_the_command_lines_instance_captures_no_step_output(tmp_path, monkeypatch):
    """``krx-short build`` runs on the shipped instance without Dagster's stdout capture (its
    ``tail`` and watcher processes) and holding a step's events; the UI's instance keeps
    Dagster's capture and stores each event at once."""
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager

    from pipelines.instance import command_line_instance

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KRX_INTERNALS", raising=False)
    with command_line_instance() as instance:
        assert isinstance(instance.event_log_storage, BatchSqliteEventLogStorage)
        assert isinstance(instance.compute_log_manager, NoOpComputeLogManager)
        assert instance.event_log_storage.buffers_step_events
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.compute_log_manager, LocalComputeLogManager)
        assert not instance.event_log_storage.buffers_step_events


@pytest.mark.parametrize("held", [False, True], ids=["ui", "command-line"])
def test_batch_storage_records_what_the_default_storage_records(
    tmp_path, monkeypatch, run_environment, held
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    telemetry = yaml.safe_dump({"telemetry": {"enabled": False}})
    config = yaml.safe_load(CONFIG.read_text())
    config[EVENT_STORAGE_KEY]["config"] = {"buffer_step_events": held}  # command_line_instance
    batched = _instance(tmp_path / "batched", yaml.safe_dump(config))
    assert batched.event_log_storage.buffers_step_events is held
    default = _instance(tmp_path / "default", telemetry)
    assert not isinstance(default.event_log_storage, BatchSqliteEventLogStorage)
    batched_runs, default_runs = [], []
    for _ in range(2):  # a second run updates what the first one wrote
        batched_runs.append(_run(batched))
        default_runs.append(_run(default))
    got, expected = _record(batched), _record(default)
    for record, runs in ((got, batched_runs), (expected, default_runs)):
        for asset in ("upstream", "downstream"):
            assert record[asset].pop("last_run_id") == runs[-1].run_id
        # the check executions of both runs, newest first, named by run
        order = {run.run_id: number for number, run in enumerate(runs)}
        for key in CHECKS:
            name = key.to_user_string()
            record[name] = [(s, p, order[r]) for s, p, r in record[name]]
    assert got == expected
    # the evaluations; Dagster also leaves a planned row per session for a check on a
    # partitioned asset (as recorded by its own storage above)
    status = AssetCheckExecutionRecordStatus
    for key, outcome in zip(CHECKS, (status.SUCCEEDED, status.FAILED), strict=True):
        executions = got[key.to_user_string()]
        assert [e for e in executions if e[0] is not status.PLANNED] == [
            (outcome, None, 1),
            (outcome, None, 0),
        ]
        assert len(executions) == 2 + 2 * len(SESSIONS)


def test_per_session_events_reach_the_storage_in_batches(tmp_path, monkeypatch, run_environment):
    """The per-session events reach the storage as batches (not one call per event)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = _instance(tmp_path / "home", CONFIG.read_text())
    storage = instance.event_log_storage
    batches = []
    original = BatchSqliteEventLogStorage.store_event_batch

    def spy(self, events):
        batches.append(len(events))
        return original(self, events)

    one_by_one = []
    store_event = SqliteEventLogStorage.store_event

    def spy_one(self, event):
        one_by_one.append(event.dagster_event_type)
        return store_event(self, event)

    monkeypatch.setattr(BatchSqliteEventLogStorage, "store_event_batch", spy)
    monkeypatch.setattr(SqliteEventLogStorage, "store_event", spy_one)
    assert _run(instance).success
    # the planned events of two assets and two checks, then each asset's per-session
    # materializations, none of them stored one by one
    assert batches == [4, len(SESSIONS), len(SESSIONS)]
    planned = {
        dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
    }
    assert one_by_one and not planned & set(one_by_one)
    assert os.path.exists(storage.path_for_shard("index"))
