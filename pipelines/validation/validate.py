"""Validate a batch of read files of one dataset; failures are grouped back by file."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandera.polars as pa
import polars as pl

from pipelines.sources.datasets import Dataset
from pipelines.sources.reader import Failure, RawFile
from pipelines.validation.coerce import coerce
from pipelines.validation.schemas import file_rules, rule_id, schema_for


@dataclass
class BatchResult:
    """Typed rows of the files that passed, and the failures of those that did not."""

    dataset: Dataset
    files: list[RawFile]
    typed: pl.DataFrame  # all rows, ``_file`` indexes ``files``
    failures: dict[int, list[Failure]]  # file index -> failures

    def passed(self) -> list[int]:
        return [i for i in range(len(self.files)) if i not in self.failures]


def _batch_frame(files: list[RawFile]) -> pl.DataFrame:
    """The rows of ``files`` stacked, with ``_file`` (index into ``files``), ``_row_number``
    (1-based within the file), the dates the file's name covers and its identity columns."""
    if not files:
        return pl.DataFrame()
    dataset = files[0].dataset
    heights = np.array([raw.frame.height for raw in files], dtype=np.int64)
    per_file = {
        "_file": pl.Series(range(len(files)), dtype=pl.Int32),
        "_period_start": pl.Series([raw.landing.period_start for raw in files], dtype=pl.Date),
        "_period_end": pl.Series([raw.landing.period_end for raw in files], dtype=pl.Date),
    }
    if dataset.file_date_column:
        dates = [raw.landing.period_start for raw in files]
        per_file[dataset.file_date_column] = pl.Series(dates, dtype=pl.Date)
    if dataset.segment_column:
        segments = [raw.landing.segment for raw in files]
        per_file[dataset.segment_column] = pl.Series(segments, dtype=pl.Utf8)
    file_of_row = np.repeat(np.arange(len(files)), heights)
    first_row = np.repeat(np.cumsum(heights) - heights, heights)
    row_number = np.arange(1, int(heights.sum()) + 1) - first_row
    rows = pl.concat([raw.frame for raw in files], how="vertical")
    return pl.concat(
        [
            rows,
            pl.DataFrame(per_file)[file_of_row],
            pl.DataFrame({"_row_number": pl.Series(row_number, dtype=pl.Int32)}),
        ],
        how="horizontal",
    )


def validate_batch(dataset: Dataset, files: list[RawFile]) -> BatchResult:
    """Type and check the rows of ``files`` (all of ``dataset``) in one vectorised pass."""
    frame = _batch_frame(files)
    typed, coerce_failures = coerce(dataset, frame)
    # (stage, failure): unparsable values first, then column rules, row-wide rules, file rules
    found: dict[int, list[tuple[int, Failure]]] = defaultdict(list)
    bad_cells, bad_rows = set(), set()
    for row in coerce_failures.iter_rows(named=True):
        bad_cells.add((row["_file"], row["_row_number"], row["column"].lower()))
        bad_rows.add((row["_file"], row["_row_number"]))
        found[row["_file"]].append(
            (0, Failure(row["_row_number"], row["column"], row["check"], row["value"]))
        )
    try:
        schema_for(dataset.name).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        rows = typed.select("_file", "_row_number").with_row_index("index")
        cases = cases.with_columns(pl.col("index").cast(pl.UInt32)).join(
            rows, on="index", how="left"
        )
        by_source = {f.column: f.source for f in dataset.fields}
        for case in cases.iter_rows(named=True):
            column, row = case["column"], (case["_file"], case["_row_number"])
            row_wide = case["schema_context"] == "DataFrameSchema"
            check = rule_id(case["check"])
            # rules over a value that did not parse only repeat the parse failure
            if (*row, column) in bad_cells or (
                row_wide and row in bad_rows and not check.startswith("duplicate_row")
            ):
                continue
            value = None if row_wide else case["failure_case"]
            failure = Failure(case["_row_number"], by_source.get(column, column), check, value)
            found[case["_file"]].append((2 if row_wide else 1, failure))
    for expr, error in file_rules(dataset.name):
        verdicts = typed.group_by("_file").agg(expr.fill_null(False).alias("ok"))
        for index in verdicts.filter(~pl.col("ok")).get_column("_file").to_list():
            found[index].append((3, Failure(None, None, error)))
    failures = {}
    for index, staged in found.items():
        records = files[index].records
        staged.sort(key=lambda s: (s[1].row_number or 0, s[0], s[1].column or ""))
        failures[index] = [
            Failure(
                f.row_number,
                f.column,
                f.check,
                f.value,
                records[f.row_number - 1] if f.row_number else None,
            )
            for _, f in staged
        ]
    return BatchResult(dataset, files, typed, failures)
