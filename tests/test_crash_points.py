"""SIGKILL at randomly drawn points of a build, write errors at the export's write calls.

An uninterrupted build of a three-session sample records every failpoint it passes
(``KRX_FAILPOINT_TRACE``): the raw load's, every dbt node's start and end, each export write and
swap, the manifest and the publication. ``KRX_CRASH_POINTS`` of them (default 20) are drawn with
``KRX_CRASH_SEED`` (printed; set it to replay a failure). Each drawn point kills a build of a
second warehouse; the next build is the restart, itself killed at the next point, so every build
starts from what a crash left. After every kill the published warehouse is either absent or the
reference build, never anything in between. After the last kill one build runs to the end: every
table and exported row equals the reference, no temporary file is left in the exports, the
manifest lists exactly the files with their rows and checksums, the pool slot is free and no
working copy is left.

Then a full disk (ENOSPC) and a read-only export folder (EROFS) are injected after a table's
Parquet write: the build fails naming the error and the file; the previous exports and the
published warehouse are exactly as they were.

The builds run in processes forked from one that has imported the pipeline and built its
definitions once (about 5 s a build saved).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.exports import TEMPORARY_NAME
from pipelines.publication import working_path
from pipelines.sample.generator import generate
from tests.helpers import LOAD_TIMES, exported_rows, table_checksums

pytestmark = pytest.mark.slow

START, END = "2021-06-09", "2021-06-11"  # the last one a rebalance day
#: Forked per request (one JSON line: the environment of one build); answers its exit status.
FORKING_BUILDER = """
import json, os, sys
from pipelines.cli import main
from pipelines.defs.definitions import load_defs
from pipelines.defs.dbt.project import krx_dbt_project
krx_dbt_project()
load_defs()
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os._exit(main(["build", "--start", request["start"], "--end", request["end"]]))
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


class Builder:
    """The forking process, and the warehouse folders its builds write."""

    def __init__(self, landing: Path, logs: Path):
        self.landing, self.logs, self.count = landing, logs, 0
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORKING_BUILDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "KRX_LOAD_WORKERS": "0"},
        )
        assert self.process.stdout.readline().strip() == "ready"

    def build(self, root: Path, **extra: str) -> tuple[int, str]:
        """One build of START..END into ``root``: its exit code (-9: killed) and output."""
        self.count += 1
        log = self.logs / f"build-{self.count}.log"
        env = {
            "KRX_LANDING_DIR": str(self.landing),
            "KRX_DUCKDB_PATH": str(root / "krx.duckdb"),
            "KRX_EXPORT_DIR": str(root / "exports"),
            "DAGSTER_HOME": str(root / "dagster"),
            "KRX_ALERT_LOG": str(root / "alerts.log"),
            "KRX_FAILPOINT": "",
            "KRX_FAILPOINT_TRACE": "",
            **extra,
        }
        request = {"env": env, "log": str(log), "start": START, "end": END}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        code = int(self.process.stdout.readline())
        return code, log.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _published(root: Path) -> dict[str, tuple] | None:
    db = root / "krx.duckdb"
    if not db.exists():
        return None
    with duckdb.connect(str(db), read_only=True) as con:
        return table_checksums(con, ignore_columns=LOAD_TIMES)


def _files(root: Path) -> dict[str, tuple[int, int, str]]:
    """(inode, mtime, sha256) of every exported file: a file swapped for an identical one
    differs. ``charts/`` is left out: the chart assets, not the export, draw it on every run."""
    return {
        p.relative_to(root).as_posix(): (
            p.stat().st_ino,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "charts"
    }


def _temporaries(root: Path) -> list[str]:
    return [p.as_posix() for p in root.rglob(".*") if TEMPORARY_NAME.match(p.name)]


def _manifest_matches_files(exports: Path) -> None:
    manifest = json.loads((exports / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f for t in manifest["tables"].values() for f in t["files"]}
    on_disk = {p.relative_to(exports).as_posix() for p in exports.rglob("*.parquet") if p.is_file()}
    assert set(listed) == on_disk
    with duckdb.connect() as con:
        for relative, entry in listed.items():
            path = exports / relative
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], relative
            rows = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
            assert rows == entry["rows"], relative


def _slots_held(root: Path) -> set[str]:
    with dg.DagsterInstance.from_config(str(root / "dagster")) as instance:
        return instance.event_log_storage.get_concurrency_run_ids()


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    generate(base / "landing", dt.date(2021, 6, 7), dt.date(2021, 6, 11))
    (base / "logs").mkdir()
    builder = Builder(base / "landing", base / "logs")
    yield builder
    builder.close()


@pytest.fixture(scope="module")
def reference(builder, tmp_path_factory):
    """An uninterrupted build and the failpoints it passed, in order."""
    root = tmp_path_factory.mktemp("reference")
    trace = root / "failpoints.txt"
    code, output = builder.build(root, KRX_FAILPOINT_TRACE=str(trace))
    assert code == 0, output[-4000:]
    points = trace.read_text(encoding="utf-8").split()
    return root, points


def test_sigkill_at_random_points_then_a_rebuild_matches_an_uninterrupted_build(
    builder, reference, tmp_path
):
    reference_root, points = reference
    expected = _published(reference_root)
    kinds = {p.split(":")[0].split("@")[0] for p in points}
    assert {"raw-before-commit", "dbt-start", "dbt-done", "export-file-written"} <= kinds
    assert {"export-before-manifest", "publication-before-replace"} <= kinds

    seed = int(os.environ.get("KRX_CRASH_SEED") or time.time_ns() % 1_000_000)
    count = int(os.environ.get("KRX_CRASH_POINTS") or 20)
    drawn = random.Random(seed).sample(points, min(count, len(points)))
    print(f"KRX_CRASH_SEED={seed}: {len(drawn)} of {len(points)} points: {' '.join(drawn)}")
    started = time.monotonic()
    for number, point in enumerate(drawn, 1):
        code, output = builder.build(tmp_path, KRX_FAILPOINT=point)
        replay = f"KRX_CRASH_SEED={seed}, crash {number} at {point}"
        assert code == -signal.SIGKILL, f"{replay}: exit {code}\n{output[-3000:]}"
        assert _published(tmp_path) in (None, expected), replay
    crashes = time.monotonic() - started

    code, output = builder.build(tmp_path)
    assert code == 0, f"KRX_CRASH_SEED={seed}, the rebuild:\n{output[-4000:]}"
    assert _published(tmp_path) == expected
    assert exported_rows(tmp_path / "exports") == exported_rows(reference_root / "exports")
    assert _temporaries(tmp_path / "exports") == []
    _manifest_matches_files(tmp_path / "exports")
    assert _slots_held(tmp_path) == set()
    assert not working_path(tmp_path / "krx.duckdb").exists()
    print(f"{len(drawn)} crashes in {crashes:.0f} s, rebuild in {time.monotonic() - started:.0f} s")


@pytest.mark.parametrize("error", ["enospc", "erofs"])
def test_a_failed_export_write_leaves_the_previous_exports_and_warehouse(
    builder, reference, tmp_path, error
):
    _, points = reference
    writes = [p for p in points if p.startswith("export-file-written@")][:-1]  # not the manifest
    code, output = builder.build(tmp_path)
    assert code == 0, output[-4000:]
    exports, warehouse = _files(tmp_path / "exports"), _published(tmp_path)

    point = writes[0] if error == "enospc" else writes[-1]
    code, output = builder.build(tmp_path, KRX_FAILPOINT=f"{point}:{error}")
    message = os.strerror({"enospc": 28, "erofs": 30}[error])
    lines = output.splitlines()
    assert code == 1 and "failures (1):" in lines, output[-3000:]
    failure = [line.strip() for line in lines[lines.index("failures (1):") + 1 :][:1]]
    assert failure[0].startswith("exports__parquet: ") and message in failure[0]
    assert str(tmp_path / "exports") in failure[0]  # the file it was writing
    assert _files(tmp_path / "exports") == exports  # no temporary file, nothing replaced
    assert _published(tmp_path) == warehouse
    assert _slots_held(tmp_path) == set()
