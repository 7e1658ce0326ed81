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
    """(rows, order-independent content hash) of every exported table under ``root`` (not the
    manifest, the charts or hidden staging files)."""
    with duckdb.connect() as con:
        out = {}
        for path in sorted(root.iterdir()):
            if path.name in ("manifest.json", "charts") or path.name.startswith("."):
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


#: KRX's regular rebalance-effective sessions (the session after the June / December expiry).
REFERENCE_REBALANCE_DAYS = [
    dt.date(*d)
    for d in [
        (2019, 6, 14), (2019, 12, 13), (2020, 6, 12), (2020, 12, 11), (2021, 6, 11),
        (2021, 12, 10), (2022, 6, 10), (2022, 12, 9), (2023, 6, 9), (2023, 12, 15),
        (2024, 6, 14), (2024, 12, 13), (2025, 6, 13), (2025, 12, 12), (2026, 6, 12),
        (2026, 12, 11),
    ]
]  # fmt: skip


def expected_intervals(
    snapshots: dict[dt.date, set[str]], rebalances: list[dt.date], index_code: str = "KOSPI200"
) -> list:
    """The rule, from the files: bridge a ticker missing from one snapshot between two that
    list it; date each other change at the first rebalance session in its window, else at
    the snapshot that shows it."""
    days = sorted(snapshots)
    out = []

    def dated(after, by):
        inside = [r for r in rebalances if after < r <= by]
        return (inside[0], "regular_rebalance") if inside else (by, "ad_hoc")

    for ticker in sorted(set().union(*snapshots.values())):
        listed = [ticker in snapshots[d] for d in days]
        bridged = [
            0 < k < len(days) - 1 and not listed[k] and listed[k - 1] and listed[k + 1]
            for k in range(len(days))
        ]
        present = [a or b for a, b in zip(listed, bridged, strict=True)]
        k = 0
        while k < len(days):
            if not present[k]:
                k += 1
                continue
            first = k
            while k + 1 < len(days) and present[k + 1]:
                k += 1
            last = k
            valid_from, entry_kind = (
                (days[0], "initial") if first == 0 else dated(days[first - 1], days[first])
            )
            valid_to, exit_kind = (
                (None, None) if last == len(days) - 1 else dated(days[last], days[last + 1])
            )
            gaps = sum(bridged[first : last + 1])
            out.append((index_code, ticker, valid_from, valid_to, entry_kind, exit_kind, gaps))
            k += 1
    return sorted(out, key=lambda r: (r[1], r[2]))
