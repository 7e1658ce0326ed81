"""Helpers shared by the tests: independent figures from the JSON, warehouse checksums, dbt runs
on a warehouse file."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from pipelines import settings
from pipelines.defs.assets.dbt import DbtCommand
from pipelines.raw.load import load_landing
from pipelines.raw.tables import create_raw_schema, write_sessions
from pipelines.settings import WINDOW_ENV

REAL_ROOT = Path(__file__).parent / "fixtures" / "krx-real"  # copied from shared/krx-real
REAL_LANDING = REAL_ROOT / "landing"
BAN_DAY = dt.date(2021, 1, 27)  # the real balance file: during the 2020-21 ban

#: The session-wide sample (``sample`` in conftest.py): demo scale, all five short-sale regimes.
SAMPLE_START, SAMPLE_END = dt.date(2020, 1, 2), dt.date(2025, 4, 30)
#: The three-month sample of the export and summary tests (``export_sample``).
EXPORT_SAMPLE_START, EXPORT_SAMPLE_END = dt.date(2021, 5, 24), dt.date(2021, 7, 30)

DBT = Path(sys.executable).parent / "dbt"
PROJECT_DIR = settings.DBT_PROJECT_DIR


def krx_int(text: str) -> int:
    return int(text.replace(",", ""))


def records(path: Path) -> list[dict]:
    body = json.loads(path.read_text(encoding="utf-8"))
    for key in ("OutBlock_1", "output"):
        if key in body:
            return body[key]
    return body["StatisticSearch"]["row"]


#: Columns that record when a row was written, not what it holds.
LOAD_TIMES = ("ingested_at", "loaded_at", "rejected_at")


def table_checksums(
    con,
    exclude: tuple[str, ...] = ("raw.rejected_rows",),
    ignore_columns: tuple[str, ...] = (),
) -> dict[str, tuple]:
    """(row count, order-independent content hash) of every table and view in the warehouse,
    leaving out ``ignore_columns`` (e.g. load timestamps)."""
    columns = con.execute(
        "select table_schema || '.' || table_name, list(column_name order by ordinal_position) "
        "from information_schema.columns where table_catalog = current_database() "
        "group by 1 order by 1"
    ).fetchall()
    sums = {}
    for name, names in columns:
        if name in exclude:
            continue
        kept = ", ".join(f'"{c}"' for c in names if c not in ignore_columns)
        sums[name] = con.execute(
            f"select count(*), coalesce(sum(hash({kept})), 0) from {name}"
        ).fetchone()
    return sums


def exported_rows(root: Path) -> dict[str, tuple]:
    """(rows, order-independent content hash) of every exported table under ``root``."""
    with duckdb.connect() as con:
        out = {}
        for path in sorted(root.iterdir()):
            if path.name == "manifest.json" or path.name.startswith("."):
                continue
            pattern = f"{path}/**/*.parquet" if path.is_dir() else str(path)
            out[path.name] = con.execute(
                f"select count(*), coalesce(sum(hash(t)), 0) from read_parquet('{pattern}') t"
            ).fetchone()
        return out


# --- dbt on a warehouse file ------------------------------------------------------------------


@dataclass
class DbtRun:
    returncode: int
    results: list[dict]
    output: str
    seconds: float

    def failures(self) -> list[str]:
        """Unique ids of nodes that errored or failed (warnings excluded)."""
        return sorted(r["unique_id"] for r in self.results if r["status"] in ("error", "fail"))


@dataclass
class Warehouse:
    db: Path
    target: Path
    build: DbtRun


def run_dbt(db: Path, target: Path, command: DbtCommand) -> DbtRun:
    """dbt as a subprocess on ``db``, its artifacts in ``target``."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in WINDOW_ENV},
        **command.env,
        settings.DUCKDB_ENV: str(db),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target / "logs"),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(DBT),
            *command.args,
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
        ],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.monotonic() - started
    results_path = target / "run_results.json"
    results = json.loads(results_path.read_text())["results"] if results_path.exists() else []
    return DbtRun(proc.returncode, results, proc.stdout + proc.stderr, seconds)


def load_raw(db: Path, landing: Path) -> None:
    with duckdb.connect(str(db)) as con:
        create_raw_schema(con)
        write_sessions(con)
        report = load_landing(con, landing)
    assert not report.rejected, report.errors()


def query(db: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchdf()


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
