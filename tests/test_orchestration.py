"""Dagster wiring: partitions, schedule, landing sensor, alert sensors, raw checks, build exit."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from pipelines import settings
from pipelines.cli.build import BuildOutcome, partition_range
from pipelines.defs.assets.raw import raw_assets
from pipelines.defs.checks import latest_published, sessions_behind
from pipelines.defs.partitions import session_partitions_def
from pipelines.defs.resources import DuckDBWarehouse, LandingZone
from pipelines.defs.schedules import evening_range, evening_schedule
from pipelines.defs.sensors.landing import contiguous_ranges, landing_requests
from pipelines.instance import (
    HOST_TAG,
    PID_TAG,
    PROCESS_TAG,
    process_identity,
    release_dead_runs,
)
from pipelines.sources.datasets import SHORT_BALANCE, SHORT_TRADING
from tests.helpers import REAL_LANDING

SEOUL = ZoneInfo("Asia/Seoul")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def test_partitions_are_sessions_only(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.LANDING_ENV, str(tmp_path))  # empty: the history's start
    monkeypatch.delenv(settings.PARTITIONS_START_ENV, raising=False)
    session_partitions = session_partitions_def()
    keys = session_partitions.get_partition_keys()
    assert keys[0] == "2019-01-02"
    assert "2021-01-01" not in keys and "2020-12-31" not in keys  # New Year, year-end closure
    assert "2026-06-03" not in keys  # local election: in the override list
    assert "2021-01-04" in keys and "2026-06-04" in keys
    assert not [k for k in keys if dt.date.fromisoformat(k).weekday() >= 5]
    window = session_partitions.time_window_for_partition_key("2021-01-29")
    assert (window.start.date(), window.end.date()) == (dt.date(2021, 1, 29), dt.date(2021, 2, 1))


def test_build_range_is_the_sessions_inside():
    keys = partition_range(dt.date(2021, 1, 1), dt.date(2021, 1, 10))
    assert (keys.start, keys.end) == ("2021-01-04", "2021-01-08")
    with pytest.raises(ValueError, match="no KRX session"):
        partition_range(dt.date(2021, 1, 1), dt.date(2021, 1, 3))


def test_evening_schedule_requests_t_minus_2_to_t():
    assert evening_range(dt.date(2021, 1, 27)) == dg.PartitionKeyRange("2021-01-25", "2021-01-27")
    # Monday after a holiday-free weekend reaches back over it
    assert evening_range(dt.date(2021, 2, 1)) == dg.PartitionKeyRange("2021-01-28", "2021-02-01")
    assert evening_range(dt.date(2021, 2, 12)) is None  # Seollal
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2021, 1, 27, 19, 0, tzinfo=SEOUL)
    )
    request = evening_schedule(context)
    assert request.tags[RANGE_START] == "2021-01-25" and request.tags[RANGE_END] == "2021-01-27"
    holiday = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2021, 2, 12, 19, 0, tzinfo=SEOUL)
    )
    assert isinstance(evening_schedule(holiday), dg.SkipReason)


def test_contiguous_ranges_span_holidays():
    ranges = contiguous_ranges({"2020-12-29", "2020-12-30", "2021-01-04", "2021-01-06"})
    assert ranges == [
        dg.PartitionKeyRange("2020-12-29", "2021-01-04"),
        dg.PartitionKeyRange("2021-01-06", "2021-01-06"),
    ]


def test_landing_sensor_requests_exactly_the_changed_partitions(tmp_path):
    root = tmp_path / "landing"
    shutil.copytree(REAL_LANDING, root)
    requests, cursor = landing_requests(root, None)
    # the 2021 index file covers every 2021 session; the master maps to 2026-01-23
    spans = sorted((r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests)
    assert spans == [("2021-01-04", "2021-12-30"), ("2026-01-23", "2026-01-23")]

    again, cursor = landing_requests(root, cursor)
    assert again == []

    balance = root / "krx/short_balance/KOSPI/2021-01-27.json"
    os.utime(balance, ns=(0, 0))  # touched, same content: no run
    again, cursor = landing_requests(root, cursor)
    assert again == []

    body = json.loads(balance.read_text(encoding="utf-8"))
    body["OutBlock_1"][0]["BAL_QTY"] = "33,056"
    balance.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    new = root / "krx/short_trading/KOSPI/2021-01-26.json"
    shutil.copyfile(root / "krx/short_trading/KOSPI/2021-01-25.json", new)
    changed, cursor = landing_requests(root, cursor)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in changed] == [
        ("2021-01-26", "2021-01-27")
    ]
    assert changed[0].tags["krx/changed_files"] == "2"
    assert landing_requests(root, cursor)[0] == []


def test_freshness_counts_sessions_not_days():
    evening = dt.datetime(2021, 2, 1, 20, 0, tzinfo=SEOUL)  # Monday evening
    assert latest_published(SHORT_TRADING, evening) == dt.date(2021, 2, 1)
    assert latest_published(SHORT_BALANCE, evening) == dt.date(2021, 1, 28)
    morning = dt.datetime(2021, 2, 1, 9, 0, tzinfo=SEOUL)
    assert latest_published(SHORT_TRADING, morning) == dt.date(2021, 1, 29)
    assert sessions_behind(dt.date(2021, 1, 29), dt.date(2021, 2, 1)) == 1
    assert sessions_behind(dt.date(2021, 2, 1), dt.date(2021, 2, 1)) == 0
    assert sessions_behind(None, dt.date(2021, 2, 1)) is None


def _materialize_raw(landing: Path, db: Path, instance, start: str, end: str):
    return dg.materialize(
        raw_assets,
        instance=instance,
        resources={
            "warehouse": DuckDBWarehouse(path=str(db)),
            "landing": LandingZone(root=str(landing)),
        },
        tags={RANGE_START: start, RANGE_END: end},
        raise_on_error=False,
    )


def _checks(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def test_raw_assets_report_validation_and_completeness(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(REAL_LANDING, landing)
    bad = landing / "krx/short_trading/KOSDAQ/2021-01-25.json"
    body = json.loads((landing / "krx/short_trading/KOSDAQ/2021-01-04.json").read_text())
    body["OutBlock_1"][3]["ACC_TRDVOL"] = "12x"
    bad.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    with dg.instance_for_test() as instance:
        result = _materialize_raw(
            landing, tmp_path / "krx.duckdb", instance, "2021-01-25", "2021-01-29"
        )
        assert result.success
        checks = _checks(result)
    validation = checks[("raw/krx_short_trading", "validation")]
    assert not validation.passed
    assert validation.metadata["files_rejected"].value == 1
    assert validation.metadata["rows_rejected"].value == 1
    assert validation.description.startswith(
        "krx/short_trading/KOSDAQ/2021-01-25.json: row 4, column ACC_TRDVOL: rule integer_format"
    )
    assert checks[("raw/krx_short_balance", "validation")].passed
    completeness = checks[("raw/krx_short_balance", "completeness")]
    assert not completeness.passed and completeness.metadata["missing_files"].value == 9
    assert "krx/short_balance/KOSDAQ/2021-01-27.json" in completeness.metadata["missing"].value


def test_build_outcome_exit_codes():
    assert BuildOutcome("r", True).exit_code() == 0
    assert BuildOutcome("r", True, warnings=["gap"]).exit_code() == 0
    assert BuildOutcome("r", True, warnings=["gap"]).exit_code(strict=True) == 1
    assert BuildOutcome("r", True, failed_checks=["x"]).exit_code() == 1
    assert BuildOutcome("r", False, failed_steps=["x"]).exit_code() == 1


def test_process_identity_tells_processes_apart():
    me = process_identity(os.getpid())
    assert me is not None and me == process_identity(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        other = process_identity(child.pid)
        assert other is not None and other != me
        assert other.split("/")[0] == me.split("/")[0]  # same boot, another start
    finally:
        child.kill()
        child.wait()
    assert process_identity(child.pid) is None


def test_release_dead_runs_frees_the_slots_of_dead_and_reused_processes(tmp_path):
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, make_new_run_id

    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    storage = instance.event_log_storage
    storage.set_concurrency_slots("duckdb", 10)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    me, host = str(os.getpid()), socket.gethostname()
    cases = {
        "alive": {HOST_TAG: host, PID_TAG: me, PROCESS_TAG: process_identity(os.getpid())},
        "alive, no identity recorded": {HOST_TAG: host, PID_TAG: me},
        "pid reused": {HOST_TAG: host, PID_TAG: me, PROCESS_TAG: "another-boot/42"},
        "process gone": {HOST_TAG: host, PID_TAG: str(gone.pid)},
        "another host": {HOST_TAG: "elsewhere", PID_TAG: str(gone.pid)},
        "not a command-line run": {},
    }
    run_ids = {}
    for case, tags in cases.items():
        run = DagsterRun(
            job_name="krx_build",
            run_id=make_new_run_id(),
            status=DagsterRunStatus.STARTED,
            tags=tags,
        )
        instance.add_run(run)
        storage.claim_concurrency_slot("duckdb", run.run_id, "krx_dbt_foundation")
        run_ids[case] = run.run_id

    released = release_dead_runs(instance)

    dead = {run_ids["pid reused"], run_ids["process gone"]}
    assert set(released) == dead
    assert storage.get_concurrency_run_ids() == set(run_ids.values()) - dead
    for case, run_id in run_ids.items():
        status = instance.get_run_by_id(run_id).status
        expected = DagsterRunStatus.FAILURE if run_id in dead else DagsterRunStatus.STARTED
        assert status == expected, case


def test_check_failures_and_run_failures_reach_the_alert_log(tmp_path, monkeypatch):
    from pipelines.defs.sensors.alerts import check_failure_alerts, run_failure_alerts

    log = tmp_path / "alerts.log"
    monkeypatch.setenv("KRX_ALERT_LOG", str(log))
    landing = tmp_path / "landing"
    shutil.copytree(REAL_LANDING, landing)
    with dg.instance_for_test() as instance:
        _materialize_raw(landing, tmp_path / "krx.duckdb", instance, "2021-01-25", "2021-01-29")
        definitions = dg.Definitions(
            assets=raw_assets,
            resources={
                "warehouse": DuckDBWarehouse(path="unused"),
                "landing": LandingZone(root="unused"),
            },
        )
        context = dg.build_sensor_context(instance=instance, definitions=definitions)
        check_failure_alerts(context)
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        assert {(a["asset"], a["check"]) for a in lines} == {
            ("raw/krx_short_balance", "completeness"),
            ("raw/krx_short_trading", "completeness"),
            ("raw/krx_index_ohlcv", "completeness"),
            ("raw/ecos_usdkrw", "completeness"),
            ("raw/krx_stock_ohlcv", "completeness"),
            ("raw/krx_foreign_holdings", "completeness"),
            ("raw/krx_short_investor_volume", "completeness"),
            ("raw/krx_short_investor_value", "completeness"),
        }
        check_failure_alerts(
            dg.build_sensor_context(
                instance=instance, cursor=context.cursor, definitions=definitions
            )
        )
        assert len(log.read_text().splitlines()) == 8  # the cursor moved on

        @dg.op
        def boom():
            raise RuntimeError("disk full")

        @dg.job
        def failing():
            boom()

        result = failing.execute_in_process(instance=instance, raise_on_error=False)
        run_context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        run_failure_alerts(run_context)
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["kind"] == "run_failure" and last["job"] == "failing"
