"""Prepare one batch of landing files for the ``raw`` schema: read, screen and validate them.

A batch is the unit a worker process handles (``pipelines.raw.pool``): what comes back is
small and final, the typed rows of the files that passed (with their lineage columns) and the
rejections with their row-level failures, never the files' bodies or records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from pipelines.calendar import Window, is_session
from pipelines.raw.tables import columns
from pipelines.sources.datasets import LINEAGE_COLUMNS, Dataset, Period
from pipelines.sources.reader import (
    Failure,
    FileRejected,
    RawFile,
    is_holiday_answer,
    read_changed,
)
from pipelines.validation.validate import validate_batch


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
    if raw.frame.height == 0 and not raw.dataset.may_be_empty:
        failures.append(
            Failure(
                None,
                None,
                "empty_answer: the source answered an empty list "
                "(a holiday answer or a failed request)",
            )
        )
    elif is_holiday_answer(raw.dataset, raw.frame):
        failures.append(
            Failure(
                None,
                None,
                f"holiday_answer: every record has '-' in {', '.join(raw.dataset.holiday_fields)} "
                "(KRX's answer for a non-session, not data)",
            )
        )
    return failures


def _market_folder_check(raw: RawFile, markets: dict[str, str]) -> list[Failure]:
    """A daily file whose tickers the master mostly places in the other market sits in the
    wrong market folder (skipped while no master snapshot is loaded)."""
    ticker = raw.dataset.ticker_field
    if raw.dataset.segment_column != "market" or not ticker or not markets or not raw.frame.height:
        return []
    tickers = raw.frame.get_column(ticker).to_list()
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


@dataclass
class Screen:
    """What is known before any file is read: the files already loaded (path -> sha256), the
    securities master's markets, the duplicate requests (path -> its twin) and the window."""

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

    def for_paths(self, relpaths: list[str]) -> Screen:
        """The screen of a batch: only its own paths' entries travel to a worker."""
        return Screen(
            {p: self.known[p] for p in relpaths if p in self.known},
            self.markets,
            {p: self.duplicates[p] for p in relpaths if p in self.duplicates},
            self.window,
        )


@dataclass
class Table:
    """The rows of one dataset that passed, ready to insert, and one manifest row per file.

    Arrow tables, which cross the worker pipe at memory speed; a row names its file by
    ``_file`` (the manifest's key), so file names and hashes travel once per file."""

    dataset: Dataset
    rows: pa.Table  # the raw table's data columns, ``row_number`` and ``_file``
    files: pa.Table  # _file, source_file, file_sha256, row_count, period_start, period_end

    def column(self, name: str) -> dict[str, object]:
        """source_file -> one column of the manifest."""
        paths = self.files["source_file"].to_pylist()
        return dict(zip(paths, self.files[name].to_pylist(), strict=True))


@dataclass
class PreparedBatch:
    """The outcome of one batch, file by file, in path order."""

    unchanged: list[str] = field(default_factory=list)
    rejected: dict[str, FileRejected] = field(default_factory=dict)  # before validation
    invalid: dict[str, FileRejected] = field(default_factory=dict)  # rows failed validation
    tables: list[Table] = field(default_factory=list)


def prepare_batch(root: Path, relpaths: list[str], screen: Screen) -> PreparedBatch:
    """Read, screen and validate ``relpaths`` (relative to ``root``), one vectorised pandera
    pass per dataset; files whose bytes ``screen.known`` holds are only hashed."""
    batch = PreparedBatch()
    readable: dict[str, list[RawFile]] = {}
    for relpath, result in zip(relpaths, read_changed(root, relpaths, screen.known), strict=True):
        if result is None:
            batch.unchanged.append(relpath)
        elif isinstance(result, FileRejected):
            batch.rejected[relpath] = result
        elif failures := screen.failures(result):
            batch.rejected[relpath] = FileRejected(
                relpath, result.dataset.name, result.sha256, failures
            )
        else:
            readable.setdefault(result.dataset.name, []).append(result)
    for files in readable.values():
        table = _validated(files, batch.invalid)
        if table is not None:
            batch.tables.append(table)
    return batch


def _validated(files: list[RawFile], invalid: dict[str, FileRejected]) -> Table | None:
    """The rows of the files of one dataset whose rows all pass; the others go to ``invalid``."""
    dataset = files[0].dataset
    result = validate_batch(dataset, files)
    for index, failures in result.failures.items():
        raw = files[index]
        invalid[raw.relpath] = FileRejected(raw.relpath, dataset.name, raw.sha256, failures)
    passed = result.passed()
    if not passed:
        return None
    kept = [files[i] for i in passed]
    manifest = pl.DataFrame(
        {
            "_file": pl.Series(passed, dtype=pl.Int32),
            "source_file": [f.relpath for f in kept],
            "file_sha256": [f.sha256 for f in kept],
            "row_count": pl.Series([f.frame.height for f in kept], dtype=pl.Int32),
            "period_start": pl.Series([f.landing.period_start for f in kept], dtype=pl.Date),
            "period_end": pl.Series([f.landing.period_end for f in kept], dtype=pl.Date),
        }
    )
    lineage = {name for name, _ in LINEAGE_COLUMNS}
    names = [name for name, _ in columns(dataset) if name not in lineage]
    typed = result.typed
    if len(passed) < len(files):
        typed = typed.filter(pl.col("_file").is_in(passed))
    rows = typed.with_columns(pl.col("_row_number").alias("row_number")).select(
        *names, "row_number", "_file"
    )
    # Arrow string views are polars' own strings (no copy), and DuckDB reads them as such
    return Table(dataset, rows.to_arrow(compat_level=pl.CompatLevel.newest()), manifest.to_arrow())
