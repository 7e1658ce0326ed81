"""Load landing files into the ``raw`` schema: validated, all or nothing per file, idempotent.

A file whose bytes were already loaded is skipped. A changed file replaces exactly the rows it
supplied before. A file with any failing row is not loaded at all (an earlier good version keeps
its rows); its failures go to ``raw.rejected_rows``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import polars as pl

from pipelines.calendar import is_session
from pipelines.faults import failpoint
from pipelines.raw.tables import columns, create_raw_schema
from pipelines.sources.datasets import Period
from pipelines.sources.landing import discover
from pipelines.sources.pool import read_many
from pipelines.sources.reader import Failure, FileRejected, RawFile, describe_rejection
from pipelines.validation.validate import validate_batch

Window = tuple[dt.date, dt.date]  # half-open: start <= day < end


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

    def merge(self, other: LoadReport) -> None:
        self.loaded.update(other.loaded)
        self.unchanged.extend(other.unchanged)
        self.rejected.update(other.rejected)


def _file_checks(raw: RawFile, window: Window | None) -> list[Failure]:
    """Rules on the file as a whole: its date, its partition, an empty answer."""
    landing = raw.landing
    failures = []
    if landing.dataset.period is Period.SESSION and not is_session(landing.period_start):
        failures.append(
            Failure(
                None,
                None,
                f"not_a_session: {landing.period_start} is not a KRX session (holiday or weekend)",
            )
        )
    if window and landing.dataset.period is not Period.SNAPSHOT:
        start, end = window
        if landing.period_end < start or landing.period_start >= end:
            failures.append(
                Failure(
                    None,
                    None,
                    f"outside_partition: the file covers "
                    f"{landing.period_start}..{landing.period_end}, "
                    f"the run loads {start}..<{end}",
                )
            )
    if raw.frame.height == 0:
        failures.append(
            Failure(
                None,
                None,
                "empty_answer: the source answered an empty list "
                "(a holiday answer or a failed request)",
            )
        )
    return failures


def _master_markets(con) -> dict[str, str]:
    """Ticker -> market (KOSPI/KOSDAQ) from the newest securities master row of each ticker."""
    rows = con.execute(
        "select isu_srt_cd, case when mkt_tp_nm like 'KOSDAQ%' then 'KOSDAQ' else mkt_tp_nm end "
        "from raw.krx_securities "
        "qualify row_number() over (partition by isu_srt_cd order by snapshot_date desc) = 1"
    ).fetchall()
    return dict(rows)


def _market_folder_check(raw: RawFile, markets: dict[str, str]) -> list[Failure]:
    """A daily file whose tickers the master mostly places in the other market sits in the
    wrong market folder (skipped while no master snapshot is loaded)."""
    column = raw.dataset.segment_column
    if column != "market" or not markets or raw.frame.height == 0:
        return []
    tickers = raw.frame.get_column("ISU_CD").to_list()
    known = [markets[t] for t in tickers if t in markets]
    elsewhere = sum(1 for m in known if m != raw.landing.segment)
    if known and elsewhere * 2 > len(known):
        return [
            Failure(
                None,
                None,
                f"wrong_market_folder: {elsewhere} of {len(known)} tickers "
                f"the securities master knows are not {raw.landing.segment}",
            )
        ]
    return []


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


#: Rows validated and inserted at a time. A long window is loaded in batches of whole files, so
#: memory stays bounded and a file is still all or nothing.
BATCH_ROWS = 500_000


@dataclass
class _Screen:
    """What is known before any file is read: the files already loaded (path -> sha256), the
    securities master's markets, the duplicate requests and the run's window."""

    known: dict[str, str]
    markets: dict[str, str]
    duplicates: dict[str, str]
    window: Window | None

    def failures(self, raw: RawFile) -> list[Failure]:
        """File-level rules checked before the rows are validated."""
        failures = _file_checks(raw, self.window) + _market_folder_check(raw, self.markets)
        if raw.relpath in self.duplicates:
            failures.append(
                Failure(
                    None,
                    None,
                    f"duplicate_request: {self.duplicates[raw.relpath]} holds the same request",
                )
            )
        return failures


def load_files(
    con, root: Path, relpaths: Iterable[str], *, window: Window | None = None
) -> LoadReport:
    """Validate and load ``relpaths`` (relative to the landing ``root``).

    A load of up to ``BATCH_ROWS`` rows is one transaction. A longer one commits batch by batch
    (DuckDB holds an open transaction's appends in memory): every file is still loaded whole or
    not at all, and a load interrupted halfway keeps the batches it committed, which a re-run
    then skips as unchanged. Rejections are recorded with the last batch.
    """
    create_raw_schema(con)
    relpaths = sorted(set(relpaths))
    known = _already_loaded(con, relpaths)
    screen = _Screen(known, _master_markets(con), _duplicate_requests(con, relpaths), window)
    report = LoadReport()
    invalid: dict[str, FileRejected] = {}  # rows failed validation (reported after the rest)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        for number, files in enumerate(_batches(root, relpaths, screen, report)):
            if number:
                con.execute("commit")
                con.execute("begin transaction")
            _load_batch(con, files, known, now, report, invalid)
        report.rejected.update(invalid)
        _record_rejections(con, report.rejected.values(), now)
        failpoint("raw-before-commit")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def _screened(
    result: RawFile | FileRejected | None, relpath: str, screen: _Screen, report: LoadReport
) -> RawFile | None:
    """The file to validate, or None (and a note in ``report``) when it is unchanged or
    rejected before its rows are validated."""
    if result is None:
        report.unchanged.append(relpath)
        return None
    if isinstance(result, FileRejected):
        report.rejected[relpath] = result
        return None
    failures = screen.failures(result)
    if failures:
        report.rejected[relpath] = FileRejected(
            relpath, result.dataset.name, result.sha256, failures
        )
        return None
    return result


def _batches(
    root: Path, relpaths: list[str], screen: _Screen, report: LoadReport
) -> Iterator[list[RawFile]]:
    """The readable files of ``relpaths`` (sorted, so grouped by dataset) in batches of one
    dataset and about ``BATCH_ROWS`` rows; long loads are read by worker processes."""
    batch: list[RawFile] = []
    rows = 0
    for relpath, result in read_many(root, relpaths, screen.known):
        raw = _screened(result, relpath, screen, report)
        if raw is None:
            continue
        if batch and (raw.dataset.name != batch[0].dataset.name or rows >= BATCH_ROWS):
            yield batch
            batch, rows = [], 0
        batch.append(raw)
        rows += raw.frame.height
    if batch:
        yield batch


def _load_batch(
    con,
    files: list[RawFile],
    known: dict[str, str],
    now: dt.datetime,
    report: LoadReport,
    invalid: dict[str, FileRejected],
) -> None:
    """Validate one batch of files of one dataset and insert the files whose rows all pass."""
    dataset = files[0].dataset
    result = validate_batch(dataset, files)
    for index, failures in result.failures.items():
        raw = files[index]
        invalid[raw.relpath] = FileRejected(raw.relpath, dataset.name, raw.sha256, failures)
    passed = result.passed()
    if not passed:
        return
    _insert(con, dataset, [files[i] for i in passed], result.typed, passed, known, now)
    for i in passed:
        report.loaded[files[i].relpath] = files[i].frame.height


def _insert(
    con,
    dataset,
    files: list[RawFile],
    typed: pl.DataFrame,
    passed: list[int],
    known: dict[str, str],
    now: dt.datetime,
) -> None:
    lineage = pl.DataFrame(
        {
            "_file": pl.Series(passed, dtype=pl.Int32),
            "source_file": [f.relpath for f in files],
            "file_sha256": [f.sha256 for f in files],
        }
    )
    names = [name for name, _ in columns(dataset)]
    rows = (
        typed.filter(pl.col("_file").is_in(passed))
        .join(lineage, on="_file", how="left")
        .with_columns(pl.col("_row_number").alias("row_number"), pl.lit(now).alias("ingested_at"))
        .select(names)
    )
    replaced = [f.relpath for f in files if f.relpath in known]
    if replaced:
        con.execute(
            f"delete from raw.{dataset.table} where source_file in (select unnest(?::varchar[]))",
            [replaced],
        )
    arrow_rows = rows.to_arrow()
    con.register("_rows", arrow_rows)
    try:
        con.execute(
            f"insert into raw.{dataset.table} ({', '.join(names)}) "
            f"select {', '.join(names)} from _rows"
        )
    finally:
        con.unregister("_rows")
    manifest = pl.DataFrame(
        {
            "source_file": [f.relpath for f in files],
            "dataset": dataset.name,
            "file_sha256": [f.sha256 for f in files],
            "row_count": pl.Series([f.frame.height for f in files], dtype=pl.Int32),
            "period_start": [f.landing.period_start for f in files],
            "period_end": [f.landing.period_end for f in files],
            "loaded_at": now,
        }
    ).to_arrow()
    con.register("_manifest", manifest)
    try:
        con.execute("insert or replace into raw.loaded_files select * from _manifest")
    finally:
        con.unregister("_manifest")


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


__all__ = ["LoadReport", "Window", "describe_rejection", "load_files", "load_landing"]
