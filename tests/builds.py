"""``krx-short build`` on a small sample, for the crash, reliability and publication tests.

The builds run in processes forked from one that has imported the pipeline and loaded its
definitions once (about 5 s a build saved), as ``krx-short serve`` forks its builds: each is
``pipelines.cli.main(["build", ...])``, the ``krx-short`` command's own entry point, in its own
process group (as a terminal's command, so ``os.killpg`` sends Ctrl-C or SIGKILL to the build
alone). Also here: what a build left (the
published tables, the exported rows, the pool slots held).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from tests.helpers import LOAD_TIMES, exported_rows, table_checksums

#: The sample's landing zone, and the sessions a build covers (the last one a rebalance day).
LANDING_START, LANDING_END = dt.date(2021, 6, 7), dt.date(2021, 6, 11)
START, END = "2021-06-09", "2021-06-11"

#: Reads one JSON request a line: ``start`` forks a build and answers its PID, ``wait`` answers
#: the exit status of a started build (negative: the signal that killed it).
#: A build's child is set up as ``krx-short serve`` sets up its own (``run_in_child``).
FORKING_BUILDER = """
import json, os, sys
from pipelines.cli.serve import exit_child, run_in_child
from pipelines.defs.definitions import load_defs
from pipelines.defs.dbt.project import krx_dbt_project
krx_dbt_project()
load_defs()
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    if "wait" in request:
        _, status = os.waitpid(request["wait"], 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
        continue
    pid = os.fork()
    if pid == 0:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        argv = ["build", "--start", request["start"], "--end", request["end"]]
        exit_child(run_in_child(argv, {**os.environ, **request["env"]}, os.getcwd(), log, log))
    print(pid, flush=True)
"""


@dataclass
class Build:
    """A started build: its process (and process group) id and its output's file."""

    builder: Builder
    pid: int
    log: Path
    code: int | None = None

    def signal(self, signo: int) -> None:
        os.killpg(self.pid, signo)

    def wait(self, timeout: float = 900) -> tuple[int, str]:
        """Its exit code (-9: killed) and output, once it has ended."""
        if self.code is None:
            self.code = int(self.builder.ask({"wait": self.pid}, timeout, self))
        return self.code, self.log.read_text(encoding="utf-8", errors="replace")


class Builder:
    """The forking process, and the warehouse folders its builds write from one landing zone."""

    def __init__(self, landing: Path, logs: Path):
        self.landing, self.logs, self.started = landing, logs, []
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORKING_BUILDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "KRX_LOAD_WORKERS": "0"},
        )
        assert self.process.stdout.readline().strip() == "ready"

    def ask(self, request: dict, timeout: float, build: Build | None = None) -> str:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            assert build is not None, f"the forking process did not answer {request}"
            build.signal(signal.SIGKILL)  # a build that hangs fails its test, not the session
            build.code = int(self.process.stdout.readline())
            raise AssertionError(f"the build did not end within {timeout} s: {build.log}")
        return self.process.stdout.readline()

    def start(
        self, root: Path, start: str = START, end: str = END, landing: Path | None = None, **env
    ) -> Build:
        """Start a build of ``start``..``end`` into ``root`` (``env``: more variables)."""
        number = len(self.started) + 1
        log = self.logs / f"build-{number}.log"
        home = root / "dagster"
        root.mkdir(parents=True, exist_ok=True)
        env = {
            "KRX_LANDING_DIR": str(landing or self.landing),
            "KRX_DUCKDB_PATH": str(root / "krx.duckdb"),
            "KRX_EXPORT_DIR": str(root / "exports"),
            "DAGSTER_HOME": str(home),
            "KRX_ALERT_LOG": str(root / "alerts.log"),
            "KRX_FAILPOINT": "",
            "KRX_FAILPOINT_TRACE": "",
            **env,
        }
        request = {"env": env, "log": str(log), "start": start, "end": end}
        build = Build(self, int(self.ask(request, 60)), log)
        self.started.append(build)
        return build

    def build(
        self, root: Path, start: str = START, end: str = END, landing: Path | None = None, **env
    ) -> tuple[int, str]:
        """One build, to its end: its exit code (-9: killed) and output."""
        return self.start(root, start, end, landing, **env).wait()

    def close(self) -> None:
        for build in self.started:  # a test that failed half-way may leave one running
            if build.code is None:
                with contextlib.suppress(ProcessLookupError):
                    build.signal(signal.SIGKILL)
                build.wait(60)
        self.process.stdin.close()
        self.process.wait(timeout=30)


def copy_built(source: Path, target: Path) -> None:
    """A copy of a built warehouse folder (the DuckDB file, the exports, dbt's targets) whose
    next build starts a Dagster instance of its own."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("dagster"), dirs_exist_ok=True)


def succeeded(code: int, output: str, what: str = "the build") -> None:
    """Assert that a build ended well, printing no traceback and no lock error."""
    assert code == 0, f"{what}:\n{output[-4000:]}"
    assert "Traceback" not in output and "Could not set lock" not in output, output[-4000:]


def published(root: Path) -> dict[str, tuple] | None:
    """Checksums of every table of the published warehouse (load timestamps aside), or None
    when there is none."""
    db = root / "krx.duckdb"
    if not db.exists():
        return None
    with duckdb.connect(str(db), read_only=True) as con:
        return table_checksums(con, ignore_columns=LOAD_TIMES)


def exports(root: Path) -> dict[str, tuple]:
    """(rows, content hash) of every exported table."""
    return exported_rows(root / "exports")


def slots_held(root: Path) -> set[str]:
    """The runs holding a DuckDB pool slot."""
    with dg.DagsterInstance.from_config(str(root / "dagster")) as instance:
        return instance.event_log_storage.get_concurrency_run_ids()


def wait_for_dbt(root: Path, timeout: float = 300) -> None:
    """Block until dbt (in the build's process) starts its first build on ``root``: the first
    op's log is (re)written."""
    from pipelines.defs.assets.dbt import op_target_path

    log = op_target_path(root / "krx.duckdb", "krx_dbt_foundation") / "dbt.log"
    before = log.stat().st_mtime_ns if log.exists() else None
    deadline = time.monotonic() + timeout
    while not log.exists() or log.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise TimeoutError("dbt never started")
        time.sleep(0.2)
