"""The event storage of ``krx-short build``: one engine per shard, and a step's outputs,
materializations and check evaluations held until the storage is next read
(``buffer_step_events``), leaving the records Dagster's own storage leaves."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as db
import yaml

from pipelines.instance import CONFIG, EVENT_STORAGE_KEY
from pipelines.instance.storage import BatchSqliteEventLogStorage
from pipelines.settings import RUN_ENVIRONMENT

FIRST, SECOND = dg.AssetKey("first"), dg.AssetKey("second")
#: Per run of ``models``: whether another process saw ``first`` materialized while the step ran.
SEEN_FROM_ANOTHER_PROCESS: list[bool] = []


@dg.asset(code_version="1")
def source() -> dg.MaterializeResult:
    return dg.MaterializeResult(data_version=dg.DataVersion("v1"))


def _materialized_in(instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str) -> bool:
    return any(r.run_id == run_id for r in instance.fetch_materializations(key, limit=10).records)


@dg.multi_asset(
    specs=[  # code versions: data versions that are the same in every run
        dg.AssetSpec(FIRST, deps=[source], code_version="1"),
        dg.AssetSpec(SECOND, deps=[FIRST], code_version="1"),
    ],
    check_specs=[
        dg.AssetCheckSpec("rows", asset=FIRST),
        dg.AssetCheckSpec("rows", asset=SECOND),
        dg.AssetCheckSpec("unique", asset=SECOND),
    ],
)
def models(context):
    """Shaped like a dbt op: a model, its test, the model built on it, its tests."""
    yield dg.MaterializeResult(asset_key=FIRST, metadata={"rows": 3})
    another = dg.DagsterInstance.from_config(context.instance.root_directory)
    SEEN_FROM_ANOTHER_PROCESS.append(_materialized_in(another, FIRST, context.run_id))
    assert _materialized_in(context.instance, FIRST, context.run_id)  # this process sees it
    yield dg.AssetCheckResult(asset_key=FIRST, check_name="rows", passed=True)
    yield dg.MaterializeResult(asset_key=SECOND, metadata={"rows": 2})
    yield dg.AssetCheckResult(asset_key=SECOND, check_name="rows", passed=True)
    yield dg.AssetCheckResult(asset_key=SECOND, check_name="unique", passed=False)


JOB = dg.Definitions(assets=[source, models], jobs=[dg.define_asset_job("models")]).resolve_job_def(
    "models"
)
KEYS = (dg.AssetKey("source"), FIRST, SECOND)
CHECKS = [
    dg.AssetCheckKey(FIRST, "rows"),
    dg.AssetCheckKey(SECOND, "rows"),
    dg.AssetCheckKey(SECOND, "unique"),
]


@pytest.fixture(autouse=True)
def run_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    for name, value in RUN_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    SEEN_FROM_ANOTHER_PROCESS.clear()


def _instance(home: Path, buffered: bool | None) -> dg.DagsterInstance:
    """Dagster's own storage (``buffered`` None) or the shipped one, holding events or not."""
    config = yaml.safe_load(CONFIG.read_text())
    if buffered is None:
        del config[EVENT_STORAGE_KEY]
    else:
        config[EVENT_STORAGE_KEY]["config"] = {"buffer_step_events": buffered}
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dg.DagsterInstance.from_config(str(home))


def _records(instance: dg.DagsterInstance, run_ids: list[str]) -> dict:
    """What the UI reads back, storage ids included, the runs named by their order."""
    run = {run_id: number for number, run_id in enumerate(run_ids)}
    out = {}
    for key in KEYS:
        name = key.to_user_string()
        out[name] = [
            # the tags hold the data version and the provenance: the inputs' storage ids
            (
                r.storage_id,
                run[r.run_id],
                r.asset_materialization.metadata,
                r.asset_materialization.tags,
            )
            for r in instance.fetch_materializations(key, limit=10).records
        ]
        entry = instance.get_asset_records([key])[0].asset_entry
        out[f"{name} latest"] = (
            entry.last_materialization_record.storage_id,
            run[entry.last_run_id],
        )
    for key in CHECKS:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        out[key.to_user_string()] = [
            (
                e.status,
                run[e.run_id],
                e.event.dagster_event.event_specific_data.target_materialization_data.storage_id,
            )
            for e in history
        ]
    for run_id, number in run.items():
        records = instance.get_records_for_run(run_id, limit=1000).records
        out[f"run {number}"] = [
            (r.storage_id, r.event_log_entry.dagster_event_type) for r in records
        ]
    return out


def test_held_events_leave_the_records_dagsters_own_storage_leaves(tmp_path):
    recorded = {}
    for name, buffered in (("held", True), ("stock", None)):
        instance = _instance(tmp_path / name, buffered)
        runs = [JOB.execute_in_process(instance=instance).run_id for _ in range(2)]
        recorded[name] = _records(instance, runs)
    held, stock = recorded["held"], recorded["stock"]
    assert held == stock
    # what the comparison covers: each check evaluation names its run's materialization, and
    # `second` names the materialization of `first` it was built from
    for run in (0, 1):
        (first,) = [r[0] for r in held["first"] if r[1] == run]
        (second_tags,) = [r[3] for r in held["second"] if r[1] == run]
        assert second_tags["dagster/input_event_pointer/first"] == str(first)
        for check in ("first:rows", "second:rows", "second:unique"):
            (target,) = [t for _, r, t in held[check] if r == run]
            asset = check.split(":")[0]
            assert target == next(r[0] for r in held[asset] if r[1] == run)


def test_a_step_holds_its_events_until_the_storage_is_read_or_the_step_ends(tmp_path):
    for name, buffered in (("held", True), ("not-held", False)):
        instance = _instance(tmp_path / name, buffered)
        assert instance.event_log_storage.buffers_step_events is buffered
        run_id = JOB.execute_in_process(instance=instance).run_id
        another = dg.DagsterInstance.from_config(str(tmp_path / name))
        assert _materialized_in(another, SECOND, run_id)  # stored when the step ended
    # while the step ran, another process saw `first` only where events are not held
    assert SEEN_FROM_ANOTHER_PROCESS == [False, True]


def test_held_events_are_stored_one_by_one_when_storing_them_together_fails(tmp_path, monkeypatch):
    def fail(self, events):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(BatchSqliteEventLogStorage, "_store_together", fail)
    instance = _instance(tmp_path / "held", True)
    run_id = JOB.execute_in_process(instance=instance).run_id
    assert all(_materialized_in(instance, key, run_id) for key in KEYS)
    history = instance.event_log_storage.get_asset_check_execution_history(CHECKS[-1], limit=1)
    assert [e.status.value for e in history] == ["FAILED"]


def test_the_storage_keeps_one_engine_per_shard(tmp_path):
    """Dagster's SQLite storage creates an engine per connection, several per event, and asks
    whether a table exists before each check evaluation."""
    engines: dict[str, int] = {}  # engines that connected, per file of the event log

    def first_connect(connection, _record):
        (_, _, path), *_ = connection.execute("pragma database_list").fetchall()
        if Path(path).parent.name == "runs":  # history/runs/: the index and the runs' shards
            engines[Path(path).name] = engines.get(Path(path).name, 0) + 1

    schema_questions: list[str] = []  # whether the asset checks' table exists

    def before_execute(_conn, _cursor, statement, *_):
        if statement == 'PRAGMA main.table_info("asset_check_executions")':
            schema_questions.append(statement)

    db.event.listen(db.pool.Pool, "first_connect", first_connect)
    db.event.listen(db.engine.Engine, "before_cursor_execute", before_execute)
    try:
        counts = {}
        for name, buffered in (("shipped", False), ("stock", None)):
            instance = _instance(tmp_path / name, buffered)
            engines.clear()
            schema_questions.clear()
            run_id = JOB.execute_in_process(instance=instance).run_id
            counts[name] = (engines.pop("index.db"), engines.pop(f"{run_id}.db"), engines)
            counts[f"{name} questions"] = len(schema_questions)
    finally:
        db.event.remove(db.pool.Pool, "first_connect", first_connect)
        db.event.remove(db.engine.Engine, "before_cursor_execute", before_execute)
    (index, run, others), (stock_index, stock_run, _) = counts["shipped"], counts["stock"]
    # one for the run's shard; for the index, one per storage object (the op opens a second)
    # and per schema question it asks once (``has_table``)
    assert (run, others) == (1, {})
    assert index <= 6 < 20 < min(stock_index, stock_run)
    # Dagster asks before each check evaluation (three here); the op's second storage asks too
    assert counts["shipped questions"] == 2 < 5 <= counts["stock questions"]
