"""Crash safety, concurrency and idempotency of ``krx-short build``, end to end.

Four warehouses are built from one sample landing zone for the sessions D1..D3:
  A: one uninterrupted build (the reference);
  B: killed with SIGKILL inside the raw load, then rebuilt as two overlapping windows D1..D2 and
     D2..D3 (so D2 runs twice);
  C: killed with SIGKILL while dbt runs, then two builds of D1..D3 started at the same moment
     (they queue on the DuckDB pool), with the sensors and schedule evaluated meanwhile;
  D: interrupted with Ctrl-C (SIGINT) while dbt runs, which must stop the build at once and
     report it, then built again.
B, C and D must end with every table identical to A (load timestamps aside) and exports holding the
same rows.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.sample.generator import generate
from tests.helpers import LOAD_TIMES, table_checksums

pytestmark = pytest.mark.slow

D1, D2, D3 = "2021-06-09", "2021-06-10", "2021-06-11"  # D3 is a rebalance day
KRX_SHORT = str(Path(sys.executable).parent / "krx-short")


@dataclass
class Warehouse:
    root: Path
    landing: Path

    @property
    def db(self) -> Path:
        return self.root / "krx.duckdb"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "KRX_LANDING_DIR": str(self.landing),
            "KRX_DUCKDB_PATH": str(self.db),
            "KRX_EXPORT_DIR": str(self.exports),
            "DAGSTER_HOME": str(self.root / "dagster"),
            "KRX_ALERT_LOG": str(self.root / "alerts.log"),
            **extra,
        }

    def start(self, start: str, end: str, output=subprocess.PIPE, **extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [KRX_SHORT, "build", "--start", start, "--end", end],
            env=self.env(**extra),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def build(self, start: str, end: str, **extra: str) -> subprocess.CompletedProcess:
        process = self.start(start, end, **extra)
        output, _ = process.communicate(timeout=600)
        return subprocess.CompletedProcess(process.args, process.returncode, output)

    def checksums(self) -> dict[str, tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return table_checksums(con, ignore_columns=LOAD_TIMES)

    def exported_rows(self) -> dict[str, tuple]:
        with duckdb.connect() as con:
            out = {}
            for path in sorted(self.exports.iterdir()):
                if path.name in ("manifest.json", "charts") or path.name.startswith("."):
                    continue
                pattern = f"{path}/**/*.parquet" if path.is_dir() else str(path)
                out[path.name] = con.execute(
                    f"select count(*), coalesce(sum(hash(t)), 0) from read_parquet('{pattern}') t"
                ).fetchone()
            return out


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Could not set lock" not in result.stdout


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    generate(root, dt.date(2021, 5, 24), dt.date(2021, 6, 15))
    return root


@pytest.fixture(scope="module")
def reference(landing, tmp_path_factory) -> Warehouse:
    warehouse = Warehouse(tmp_path_factory.mktemp("reference"), landing)
    _ok(warehouse.build(D1, D3))
    return warehouse


def _wait_for_dbt(db: Path, timeout: float = 300) -> None:
    """Block until dbt (in the build's process) runs its first build on ``db``: its log
    appears in the first op's target folder."""
    from pipelines.defs.assets.dbt import op_target_path

    log = op_target_path(db, "krx_dbt_foundation") / "dbt.log"
    deadline = time.monotonic() + timeout
    while not log.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("dbt never started")
        time.sleep(0.2)


def test_killed_while_loading_then_overlapping_windows_match(reference, landing, tmp_path):
    warehouse = Warehouse(tmp_path, landing)
    killed = warehouse.build(D1, D3, KRX_FAILPOINT="raw-before-commit")
    assert killed.returncode == -signal.SIGKILL
    _ok(warehouse.build(D1, D2))  # the dead run's pool slot is released first
    _ok(warehouse.build(D2, D3))
    assert warehouse.checksums() == reference.checksums()
    assert warehouse.exported_rows() == reference.exported_rows()


def test_killed_during_dbt_then_two_builds_at_once_match(reference, landing, tmp_path):
    from pipelines.defs.schedules import evening_schedule
    from pipelines.defs.sensors.landing import landing_requests

    warehouse = Warehouse(tmp_path, landing)
    victim = warehouse.start(D1, D3, output=subprocess.DEVNULL)
    _wait_for_dbt(warehouse.db)
    time.sleep(2)  # let dbt write part of the warehouse
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL

    first, second = warehouse.start(D1, D3), warehouse.start(D1, D3)
    # the code location never opens the warehouse: sensors and schedules work during builds
    requests, _ = landing_requests(landing, None)
    assert requests
    import dagster as dg

    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2021, 6, 11, 19, tzinfo=dt.UTC)
    )
    assert evening_schedule(context) is not None
    outputs = [p.communicate(timeout=900)[0] for p in (first, second)]
    for process, output in zip((first, second), outputs, strict=True):
        _ok(subprocess.CompletedProcess(process.args, process.returncode, output))
    assert warehouse.checksums() == reference.checksums()
    assert warehouse.exported_rows() == reference.exported_rows()


def test_ctrl_c_during_dbt_stops_the_build_then_a_rebuild_matches(reference, landing, tmp_path):
    warehouse = Warehouse(tmp_path, landing)
    victim = warehouse.start(D1, D3)
    _wait_for_dbt(warehouse.db)
    time.sleep(1)  # dbt runs queries, in its threads or its own (a hook, the relation cache)
    os.killpg(victim.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    output, _ = victim.communicate(timeout=60)
    assert victim.returncode == 1, output[-4000:]
    assert "dbt was interrupted" in output
    assert "Resource In Use" not in output
    _ok(warehouse.build(D1, D3))  # the interrupted run left no lock and no pool slot
    assert warehouse.checksums() == reference.checksums()
    assert warehouse.exported_rows() == reference.exported_rows()
