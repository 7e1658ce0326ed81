"""Parquet exports of the ``marts`` schema (``docs/contract.md``, Exports).

The tables whose grain starts with a day (the marts tagged ``export_by_month`` in
``dbt_project/dbt_project.yml``, read from the dbt manifest: the facts and the per-day marts)
are Hive-partitioned by ``year=``/``month=`` of that day (``trade_date`` unless the model's
``meta`` names another column in ``export_month_column``; a table without rows is one zero-row
``empty.parquet`` with its columns, so a glob over its folder still reads); dimensions and the
other marts are single files. Every table is written to a hidden temporary path first
and all are swapped into place once every write succeeded, so a reader never sees half a table and
a failed write leaves the previous export. ``manifest.json`` lists each table's
path, rows, columns and checksum.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.calendar import Window
from pipelines.faults import failpoint
from pipelines.settings import DBT_PROJECT_DIR

#: The monthly tables are partitioned by the month of this column unless their ``meta`` names
#: another in ``MONTH_COLUMN_META``; everything else is one file.
PARTITION_COLUMN = "trade_date"
MONTH_COLUMN_META = "export_month_column"
#: The dbt tag of the marts exported month by month.
MONTHLY_TAG = "export_by_month"
#: zstd level 1: a third faster to write than DuckDB's default level 3, files 3% larger
#: (benchmarks/RESULTS.md)
COPY_OPTIONS = "format parquet, compression zstd, compression_level 1"
#: The file a monthly table without rows exports in place of its (absent) month partitions.
EMPTY_FACT_FILE = "empty.parquet"


def monthly_tables(manifest: Path = DBT_PROJECT_DIR / "target" / "manifest.json") -> dict[str, str]:
    """The marts tagged ``export_by_month`` in the dbt manifest (``make manifest`` writes it,
    and Dagster does when it loads the project), each with the column whose month partitions
    it."""
    try:
        nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
    except FileNotFoundError:
        raise FileNotFoundError(f"no dbt manifest at {manifest}: run `make manifest`") from None
    return {
        node.get("alias") or node["name"]: node.get("config", {})
        .get("meta", {})
        .get(MONTH_COLUMN_META, PARTITION_COLUMN)
        for node in nodes
        if node["resource_type"] == "model"
        and node["schema"] == "marts"
        and MONTHLY_TAG in node["tags"]
    }


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


#: The hidden names of files and folders an export writes before swapping them in.
TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{32}(\.json)?$")


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clear_leftovers(root: Path) -> None:
    """Remove what a killed export left under ``root``: its hidden temporary files and folders;
    a month folder moved aside for its replacement goes back when the replacement never came."""
    for path in sorted(root.rglob(".*"), key=lambda p: len(p.parts)):
        if not TEMPORARY_NAME.match(path.name) or not path.exists():
            continue
        original = path.with_name(path.name[1:-33])
        if path.parent.name.startswith("year=") and path.is_dir() and not original.exists():
            os.replace(path, original)
        else:
            _remove(path)


def _write_file(con, query: str, target: Path, staged: list[Path]) -> Path:
    """``query`` as a hidden Parquet file beside ``target``, listed in ``staged``."""
    temp = _temporary(target)
    staged.append(temp)
    con.execute(f"copy ({query}) to {_quote(temp)} ({COPY_OPTIONS})")
    failpoint("export-file-written", temp)
    return temp


def _with_partition_columns(table: str, column: str) -> str:
    return f"select *, year({column}) as year, month({column}) as month from marts.{table}"


@dataclass(frozen=True)
class _Months:
    """A monthly table's months written to ``staging``, to be swapped into ``final``."""

    final: Path
    staging: Path
    written: set[Path]  # year=/month= folders
    stale: set[Path]  # month folders of the export that no longer hold a row
    empty: Path | None  # the zero-row file, when no month will hold a row


def _stage_months(
    con, table: str, column: str, root: Path, window: Window | None, staged: list[Path]
) -> _Months:
    """Write the table's months of ``column`` (all, or those the window touches) beside the
    exported ones."""
    final = root / table
    staging = _temporary(final)
    staged.append(staging)
    where = ""
    if window is not None:
        months = _months(*window)
        first = dt.date(*months[0], 1)
        last_year, last_month = months[-1]
        after = dt.date(last_year + (last_month == 12), last_month % 12 + 1, 1)
        where = f"where {column} >= '{first}' and {column} < '{after}'"
    else:
        months = None
    con.execute(
        f"copy ({_with_partition_columns(table, column)} {where}) to {_quote(staging)} "
        f"({COPY_OPTIONS}, partition_by (year, month), filename_pattern 'data_{{i}}')"
    )
    failpoint("export-file-written", staging)
    written = {p.relative_to(staging) for p in staging.glob("year=*/month=*")}
    exported = {p.relative_to(final) for p in final.glob("year=*/month=*")}
    if months is None:
        stale = exported - written
    else:
        stale = {Path(f"year={y}/month={m}") for y, m in months} - written
    empty = None
    if not written | (exported - stale):  # no month holds a row: one zero-row file
        final.mkdir(parents=True, exist_ok=True)
        query = f"{_with_partition_columns(table, column)} limit 0"
        empty = _write_file(con, query, final / EMPTY_FACT_FILE, staged)
    return _Months(final, staging, written, stale, empty)


def _swap_months(months: _Months) -> None:
    final = months.final
    final.mkdir(parents=True, exist_ok=True)
    for part in sorted(months.written):
        target = final / part
        target.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if target.exists():
            old = _temporary(target)
            os.replace(target, old)
        os.replace(months.staging / part, target)
        failpoint("export-month-swapped")
        if old is not None:
            shutil.rmtree(old)
    for part in months.stale:
        shutil.rmtree(final / part, ignore_errors=True)
    for year_dir in final.glob("year=*"):
        if not any(year_dir.iterdir()):
            year_dir.rmdir()
    shutil.rmtree(months.staging, ignore_errors=True)
    if months.empty is None:
        (final / EMPTY_FACT_FILE).unlink(missing_ok=True)
    else:
        os.replace(months.empty, final / EMPTY_FACT_FILE)


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
    it lists; files the last manifest already describes, unmodified since, are not read again.

    Every table is written to hidden files first and swapped in only once all are written: a
    write that fails (a full disk, a read-only folder) leaves the previous export as it was. What
    a killed export left is cleared first (``clear_leftovers``)."""
    root.mkdir(parents=True, exist_ok=True)
    clear_leftovers(root)
    recorded = Recorded.read(root)
    monthly = monthly_tables()
    tables = mart_tables(con)
    staged: list[Path] = []
    try:
        pending = {
            # a table not yet exported month by month (an export of an earlier layout, or
            # none) is written whole, whatever the window
            table: _stage_months(
                con,
                table,
                monthly[table],
                root,
                window if (root / table).is_dir() else None,
                staged,
            )
            if table in monthly
            else _write_file(con, f"select * from marts.{table}", root / f"{table}.parquet", staged)
            for table in tables
        }
    except BaseException:
        for path in staged:
            _remove(path)
        raise
    exports = {}
    for table, new in pending.items():
        if isinstance(new, _Months):  # and the file of an earlier layout goes
            _swap_months(new)
            (root / f"{table}.parquet").unlink(missing_ok=True)
        else:
            os.replace(new, root / f"{table}.parquet")
            if (root / table).is_dir():  # the months of an earlier layout go
                shutil.rmtree(root / table)
        exports[table] = _describe(con, table, root, table in monthly, recorded)
    failpoint("export-before-manifest")
    manifest = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tables": {name: e.manifest_entry() for name, e in exports.items()},
    }
    temp = root / f".manifest.{uuid.uuid4().hex}.json"
    try:
        temp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        failpoint("export-file-written", temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, root / "manifest.json")
    return exports
