"""Validate a batch of read files of one dataset; failures are grouped back by file."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from pipelines.sources.datasets import Dataset
from pipelines.sources.reader import ROW_NUMBER, Failure, RawFile
from pipelines.validation.coerce import coerce
from pipelines.validation.schemas import rule_id, schema_for


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
    frames = []
    for index, raw in enumerate(files):
        landing = raw.landing
        identity = []
        if raw.dataset.file_date_column:
            identity.append(pl.lit(landing.period_start).alias(raw.dataset.file_date_column))
        if raw.dataset.segment_column:
            identity.append(pl.lit(landing.segment).alias(raw.dataset.segment_column))
        frames.append(
            raw.frame.rename({ROW_NUMBER: "_row_number"}).with_columns(
                pl.lit(index, dtype=pl.Int32).alias("_file"),
                pl.lit(landing.period_start).alias("_period_start"),
                pl.lit(landing.period_end).alias("_period_end"),
                *identity,
            )
        )
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame()


def validate_batch(dataset: Dataset, files: list[RawFile]) -> BatchResult:
    """Type and check the rows of ``files`` (all of ``dataset``) in one vectorised pass."""
    frame = _batch_frame(files)
    typed, coerce_failures = coerce(dataset, frame)
    # (stage, failure): unparsable values first, then column rules, then row-wide rules
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
