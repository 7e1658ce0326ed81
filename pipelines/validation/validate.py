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
    failures: dict[int, list[Failure]] = defaultdict(list)
    bad_cells = set()
    for row in coerce_failures.iter_rows(named=True):
        bad_cells.add((row["_file"], row["_row_number"], row["column"].lower()))
        failures[row["_file"]].append(
            Failure(row["_row_number"], row["column"], row["check"], row["value"])
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
            column = case["column"]
            key = (case["_file"], case["_row_number"], column)
            if key in bad_cells:  # already reported as unparsable
                continue
            source_column = by_source.get(column, column)
            value = None if case["schema_context"] == "DataFrameSchema" else case["failure_case"]
            failures[case["_file"]].append(
                Failure(case["_row_number"], source_column, rule_id(case["check"]), value)
            )
    for index, found in failures.items():
        records = files[index].records
        found.sort(key=lambda f: (f.row_number or 0, f.column or ""))
        failures[index] = [
            Failure(
                f.row_number,
                f.column,
                f.check,
                f.value,
                records[f.row_number - 1] if f.row_number else None,
            )
            for f in found
        ]
    return BatchResult(dataset, files, typed, dict(failures))
