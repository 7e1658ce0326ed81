"""Load landing files into the ``raw`` schema: validated, all or nothing per file, idempotent.

A file whose bytes were already loaded is skipped. A changed file replaces exactly the rows it
supplied before. A file with any failing row is not loaded at all (an earlier good version keeps
its rows); its failures go to ``raw.rejected_rows``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipelines.calendar import Window
from pipelines.faults import failpoint
from pipelines.raw.batch import Screen, Table, prepare_batch
from pipelines.raw.pool import default_workers, ordered_map
from pipelines.raw.tables import create_raw_schema
from pipelines.sources.landing import discover
from pipelines.sources.reader import FileRejected, describe_rejection


@dataclass
class LoadReport:
    """What one load did, file by file."""

    loaded: dict[str, int] = field(default_factory=dict)  # path -> rows
    unchanged: list[str] = field(default_factory=list)
    rejected: dict[str, FileRejected] = field(default_factory=dict)

    @property
    def rows_loaded(self) -> int:
        return sum(self.loaded.values())

    def errors(self) -> list[str]:
        return [str(exc) for exc in self.rejected.values()]


def _master_markets(con) -> dict[str, str]:
    """Ticker -> market (KOSPI/KOSDAQ) from the newest securities master row of each ticker."""
    rows = con.execute(
        "select isu_srt_cd, case when mkt_tp_nm like 'KOSDAQ%' then 'KOSDAQ' else mkt_tp_nm end "
        "from raw.krx_securities "
        "qualify row_number() over (partition by isu_srt_cd order by snapshot_date desc) = 1"
    ).fetchall()
    return dict(rows)


def _twin_paths(relpath: str) -> list[str]:
    """The same request saved under the other accepted suffixes."""
    stem = next(relpath[: -len(s)] for s in (".json.gz", ".json", ".csv") if relpath.endswith(s))
    return [stem + s for s in (".json", ".json.gz", ".csv") if stem + s != relpath]


def _duplicate_requests(con, relpaths: list[str]) -> dict[str, str]:
    """Path -> an already loaded or co-submitted file holding the same request."""
    twins = {
        t: p for p in relpaths if p.endswith((".json", ".json.gz", ".csv")) for t in _twin_paths(p)
    }
    loaded = set(_already_loaded(con, list(twins)))
    submitted = set(relpaths)
    return {p: t for t, p in twins.items() if t in loaded or (t in submitted and t < p)}


def _already_loaded(con, relpaths: list[str]) -> dict[str, str]:
    if not relpaths:
        return {}
    rows = con.execute(
        "select source_file, file_sha256 from raw.loaded_files where source_file in "
        "(select unnest(?::varchar[]))",
        [relpaths],
    ).fetchall()
    return dict(rows)


#: Bytes of landing files prepared (read, validated) and inserted at a time, about 400,000
#: balance rows: a long window is loaded in batches of whole files, so memory stays bounded and
#: a file is still all or nothing.
BATCH_BYTES = 64 * 1024 * 1024
#: Loads of fewer bytes than this are prepared in process (see ``pipelines.raw.pool``).
MIN_BYTES_FOR_WORKERS = 256 * 1024 * 1024


def load_files(
    con, root: Path, relpaths: Iterable[str], *, window: Window | None = None
) -> LoadReport:
    """Validate and load ``relpaths`` (relative to the landing ``root``).

    A load of up to ``BATCH_BYTES`` of files is one transaction. A longer one commits batch by
    batch (DuckDB holds an open transaction's appends in memory): every file is still loaded
    whole or not at all, and a load interrupted halfway keeps the batches it committed, which a
    re-run then skips as unchanged. Rejections are recorded with the last batch. Batches are
    prepared by worker processes when the load is long (``KRX_LOAD_WORKERS``).
    """
    create_raw_schema(con)
    relpaths = sorted(set(relpaths))
    known = _already_loaded(con, relpaths)
    screen = Screen(known, _master_markets(con), _duplicate_requests(con, relpaths), window)
    sizes = _sizes(root, relpaths)
    tasks = [(root, paths, screen.for_paths(paths)) for paths in _batches(relpaths, sizes)]
    workers = default_workers() if sum(sizes) >= MIN_BYTES_FOR_WORKERS else 0
    report = LoadReport()
    invalid: dict[str, FileRejected] = {}  # rows failed validation (reported after the rest)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        for number, batch in enumerate(ordered_map(prepare_batch, tasks, workers)):
            if number:
                con.execute("commit")
                con.execute("begin transaction")
            report.unchanged.extend(batch.unchanged)
            report.rejected.update(batch.rejected)
            invalid.update(batch.invalid)
            for table in batch.tables:
                _insert(con, table, known, now)
                report.loaded.update(table.column("row_count"))
        report.rejected.update(invalid)
        _record_rejections(con, report.rejected.values(), now)
        failpoint("raw-before-commit")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    failpoint("raw-committed")
    return report


def _sizes(root: Path, relpaths: list[str]) -> list[int]:
    """The size of each file (a missing one counts as empty: its reader reports it)."""
    sizes = []
    for relpath in relpaths:
        try:
            sizes.append((root / relpath).stat().st_size)
        except OSError:
            sizes.append(0)
    return sizes


def _batches(relpaths: list[str], sizes: list[int]) -> list[list[str]]:
    """Consecutive runs of the sorted paths of about ``BATCH_BYTES`` each."""
    batches: list[list[str]] = [[]]
    total = 0
    for relpath, size in zip(relpaths, sizes, strict=True):
        if batches[-1] and total + size > BATCH_BYTES:
            batches.append([])
            total = 0
        batches[-1].append(relpath)
        total += size
    return [b for b in batches if b]


def _insert(con, table: Table, known: dict[str, str], now: dt.datetime) -> None:
    """Insert one dataset's prepared rows, replacing the rows of files loaded before."""
    name = table.dataset.table
    replaced = [f for f in table.files.column("source_file").to_pylist() if f in known]
    if replaced:
        con.execute(
            f"delete from raw.{name} where source_file in (select unnest(?::varchar[]))",
            [replaced],
        )
    data = [c for c in table.rows.column_names if c != "_file"]
    con.register("_rows", table.rows)
    con.register("_files", table.files)
    try:
        con.execute(
            f"insert into raw.{name} ({', '.join(data)}, source_file, file_sha256, ingested_at) "
            f"select {', '.join('r.' + c for c in data)}, f.source_file, f.file_sha256, ? "
            "from _rows r join _files f using (_file)",
            [now],
        )
        con.execute(
            "insert or replace into raw.loaded_files select source_file, ?, file_sha256, "
            "row_count, period_start, period_end, ? from _files",
            [table.dataset.name, now],
        )
    finally:
        con.unregister("_rows")
        con.unregister("_files")


def _record_rejections(con, rejections: Iterable[FileRejected], now: dt.datetime) -> None:
    rows = []
    for exc in rejections:
        for f in exc.failures:
            record = None if f.record is None else orjson.dumps(f.record).decode()
            rows.append(
                (
                    exc.dataset,
                    exc.relpath,
                    exc.sha256,
                    f.row_number,
                    f.column,
                    f.check,
                    None if f.value is None else str(f.value),
                    record,
                    now,
                )
            )
    if not rows:
        return
    for source_file, sha in sorted({(r[1], r[2]) for r in rows}):
        con.execute(
            "delete from raw.rejected_rows where source_file = ? and file_sha256 = ?",
            [source_file, sha],
        )
    con.executemany("insert into raw.rejected_rows values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def load_landing(
    con, root: Path, window: Window | None = None, datasets: Iterable[str] | None = None
) -> LoadReport:
    """Discover and load every landing file (of ``datasets``) that falls in ``window``."""
    return load_files(con, root, discover(root, datasets=datasets, window=window), window=window)


__all__ = ["LoadReport", "describe_rejection", "load_files", "load_landing"]
