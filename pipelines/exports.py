"""Parquet exports of the ``marts`` schema (``docs/contract.md``, Exports).

The facts (the marts tagged ``export_by_month`` in ``dbt_project/dbt_project.yml``, read from
the dbt manifest) are Hive-partitioned by ``year=``/``month=`` of ``trade_date`` (an empty fact
is one zero-row ``empty.parquet`` with its columns, so a glob over its folder still reads);
dimensions and marts are single files. Every write goes to a temporary path first and is
swapped into place, so a reader never sees half a table. ``manifest.json`` lists each table's
path, rows, columns and checksum.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.calendar import Window
from pipelines.faults import failpoint
from pipelines.settings import DBT_PROJECT_DIR

#: Facts are partitioned by the month of this column; everything else is one file.
PARTITION_COLUMN = "trade_date"
#: The dbt tag of the marts exported month by month.
MONTHLY_TAG = "export_by_month"
#: zstd level 1: a third faster to write than DuckDB's default level 3, files 3% larger
#: (benchmarks/RESULTS.md)
COPY_OPTIONS = "format parquet, compression zstd, compression_level 1"
#: The file an empty fact exports in place of its (absent) month partitions.
EMPTY_FACT_FILE = "empty.parquet"


def monthly_tables(manifest: Path = DBT_PROJECT_DIR / "target" / "manifest.json") -> frozenset[str]:
    """The marts tagged ``export_by_month`` in the dbt manifest (``make manifest`` writes it,
    and Dagster does when it loads the project)."""
    try:
        nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
    except FileNotFoundError:
        raise FileNotFoundError(f"no dbt manifest at {manifest}: run `make manifest`") from None
    return frozenset(
        node.get("alias") or node["name"]
        for node in nodes
        if node["resource_type"] == "model"
        and node["schema"] == "marts"
        and MONTHLY_TAG in node["tags"]
    )


def __getattr__(name: str):
    # ``FACTS``: the monthly tables, read from the manifest on first use
    if name == "FACTS":
        return monthly_tables()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class TableExport:
    name: str
    path: str  # relative to the export root
    rows: int
    columns: list[dict[str, str]]
    files: list[dict]  # path, rows, sha256
    partitioning: list[str] | None

    @property
    def checksum(self) -> str:
        digest = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f["path"]):
            digest.update(f"{f['path']}:{f['sha256']}\n".encode())
        return digest.hexdigest()

    def manifest_entry(self) -> dict:
        return {
            "path": self.path,
            "format": "parquet",
            "compression": "zstd",
            "rows": self.rows,
            "columns": self.columns,
            "partitioning": self.partitioning,
            "files": self.files,
            "checksum": self.checksum,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def mart_tables(con) -> list[str]:
    """Tables (not views) of the ``marts`` schema, by name."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' "
        "and table_type = 'BASE TABLE' and table_catalog = current_database() order by 1"
    ).fetchall()
    return [name for (name,) in rows]


def _columns(con, table: str) -> list[dict[str, str]]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_name = ? and table_catalog = current_database() "
        "order by ordinal_position",
        [table],
    ).fetchall()
    return [{"name": name, "type": type_} for name, type_ in rows]


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _months(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    """(year, month) pairs touched by the half-open window."""
    months, day = [], dt.date(start.year, start.month, 1)
    while day < end:
        months.append((day.year, day.month))
        day = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return months


def _write_file(con, query: str, target: Path) -> None:
    """``query`` as one Parquet file at ``target``, swapped into place."""
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    con.execute(f"copy ({query}) to {_quote(temp)} ({COPY_OPTIONS})")
    os.replace(temp, target)


def _export_single(con, table: str, root: Path) -> None:
    _write_file(con, f"select * from marts.{table}", root / f"{table}.parquet")


def _with_partition_columns(table: str) -> str:
    return (
        f"select *, year({PARTITION_COLUMN}) as year, month({PARTITION_COLUMN}) as month "
        f"from marts.{table}"
    )


def _export_partitioned(con, table: str, root: Path, window: Window | None) -> None:
    """Write the fact's months (all, or those the window touches) and swap them in."""
    final = root / table
    staging = root / f".{table}.{uuid.uuid4().hex}"
    where = ""
    if window is not None:
        months = _months(*window)
        first = dt.date(*months[0], 1)
        last_year, last_month = months[-1]
        after = dt.date(last_year + (last_month == 12), last_month % 12 + 1, 1)
        where = f"where {PARTITION_COLUMN} >= '{first}' and {PARTITION_COLUMN} < '{after}'"
    else:
        months = None
    con.execute(
        f"copy ({_with_partition_columns(table)} {where}) to {_quote(staging)} "
        f"({COPY_OPTIONS}, partition_by (year, month), filename_pattern 'data_{{i}}')"
    )
    final.mkdir(parents=True, exist_ok=True)
    written = {p.relative_to(staging) for p in staging.glob("year=*/month=*")}
    if months is None:
        stale = {p.relative_to(final) for p in final.glob("year=*/month=*")} - written
    else:
        stale = {Path(f"year={y}/month={m}") for y, m in months} - written
    for part in sorted(written):
        target = final / part
        target.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
            os.replace(target, old)
        os.replace(staging / part, target)
        if old is not None:
            shutil.rmtree(old)
    for part in stale:
        shutil.rmtree(final / part, ignore_errors=True)
    for year_dir in final.glob("year=*"):
        if not any(year_dir.iterdir()):
            year_dir.rmdir()
    shutil.rmtree(staging, ignore_errors=True)
    if any(final.glob("year=*/month=*")):
        (final / EMPTY_FACT_FILE).unlink(missing_ok=True)
    else:  # no month holds a row: one zero-row file carries the columns
        _write_file(con, f"{_with_partition_columns(table)} limit 0", final / EMPTY_FACT_FILE)


@dataclass(frozen=True)
class Recorded:
    """The file entries of the last ``manifest.json`` and when it was written."""

    written_ns: int = 0
    entries: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Recorded:
        manifest = root / "manifest.json"
        try:
            written_ns = manifest.stat().st_mtime_ns
            tables = json.loads(manifest.read_text(encoding="utf-8"))["tables"]
            entries = {f["path"]: f for t in tables.values() for f in t["files"]}
        except (OSError, ValueError, KeyError, TypeError):
            return cls()
        return cls(written_ns, entries)

    def entry(self, root: Path, relative: str) -> dict | None:
        """The recorded entry of a file not modified since the manifest was written (a run
        that died before writing its manifest leaves newer files: described again)."""
        entry = self.entries.get(relative)
        if entry is None or (root / relative).stat().st_mtime_ns >= self.written_ns:
            return None
        return entry


def _describe(con, table: str, root: Path, partitioned: bool, recorded: Recorded) -> TableExport:
    if partitioned:
        files = sorted((root / table).glob("year=*/month=*/*.parquet"))
        if (root / table / EMPTY_FACT_FILE).exists():
            files.append(root / table / EMPTY_FACT_FILE)
        path = f"{table}/"
    else:
        files = [root / f"{table}.parquet"]
        path = f"{table}.parquet"
    entries = []
    for f in files:
        relative = f.relative_to(root).as_posix()
        entry = recorded.entry(root, relative)
        if entry is not None:
            entries.append(entry)
            continue
        rows = con.execute(f"select count(*) from read_parquet({_quote(f)})").fetchone()[0]
        entries.append({"path": relative, "rows": rows, "sha256": _sha256(f)})
    return TableExport(
        name=table,
        path=path,
        rows=sum(e["rows"] for e in entries),
        columns=_columns(con, table),
        files=entries,
        partitioning=["year", "month"] if partitioned else None,
    )


def export_marts(con, root: Path, window: Window | None = None) -> dict[str, TableExport]:
    """Export every ``marts`` table under ``root``, the ``monthly_tables`` month by month; with
    ``window`` only their months in it are rewritten. Writes ``manifest.json`` and returns what
    it lists; files the last manifest already describes, unmodified since, are not read again."""
    root.mkdir(parents=True, exist_ok=True)
    recorded = Recorded.read(root)
    monthly = monthly_tables()
    exports = {}
    for table in mart_tables(con):
        partitioned = table in monthly
        if partitioned:
            _export_partitioned(con, table, root, window)
        else:
            _export_single(con, table, root)
        exports[table] = _describe(con, table, root, partitioned, recorded)
    failpoint("export-before-manifest")
    manifest = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tables": {name: e.manifest_entry() for name, e in exports.items()},
    }
    temp = root / f".manifest.{uuid.uuid4().hex}.json"
    temp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, root / "manifest.json")
    return exports
