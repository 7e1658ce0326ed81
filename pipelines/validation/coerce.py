"""Turn KRX/ECOS strings into typed columns, recording every value that does not parse."""

from __future__ import annotations

import polars as pl

from pipelines.sources.datasets import Dataset, Kind

MISSING = ("-", "")
_INT = r"^-?(\d{1,3}(,\d{3})+|\d+)$"
_FLOAT = r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$"
_DATE = r"^(\d{4}/\d{2}/\d{2}|\d{4}-\d{2}-\d{2}|\d{8})$"

#: Columns every failure frame carries.
FAILURE_COLUMNS = ("_file", "_row_number", "column", "check", "value")


def _typed(kind: Kind, raw: pl.Expr) -> tuple[pl.Expr, pl.Expr, str]:
    """(typed value, format ok, rule) for a non-missing source string."""
    if kind is Kind.INT:
        value = raw.str.replace_all(",", "", literal=True).cast(pl.Int64, strict=False)
        return value, raw.str.contains(_INT), "integer_format: expected digits like 5,489,240"
    if kind is Kind.FLOAT:
        value = raw.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
        return value, raw.str.contains(_FLOAT), "number_format: expected a decimal like 2,976.21"
    if kind is Kind.DATE:
        digits = raw.str.replace_all(r"[/-]", "")
        value = digits.str.strptime(pl.Date, "%Y%m%d", strict=False)
        return value, raw.str.contains(_DATE), "date_format: expected YYYY/MM/DD or YYYYMMDD"
    return raw, pl.lit(True), ""


def coerce(dataset: Dataset, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type the source columns of ``frame`` (named by source field) into raw columns (lower
    case). Returns the typed frame and one failure row per value that did not parse."""
    typed, failures = [], []
    for f in dataset.fields:
        raw = pl.col(f.source)
        missing = raw.is_null() | raw.is_in(MISSING)
        value, format_ok, rule = _typed(f.kind, raw)
        typed.append(pl.when(missing).then(None).otherwise(value).alias(f.column))
        if f.kind in (Kind.INT, Kind.FLOAT, Kind.DATE):
            bad_format = ~missing & ~format_ok
            overflow = ~missing & format_ok & value.is_null()
            too_big = "integer_overflow: outside the 64-bit range"
            checks = pl.when(bad_format).then(pl.lit(rule)).when(overflow)
            check = checks.then(pl.lit(too_big if f.kind is Kind.INT else rule))
            failures.append(
                frame.lazy()
                .filter(bad_format | overflow)
                .select(
                    pl.col("_file"),
                    pl.col("_row_number"),
                    pl.lit(f.source).alias("column"),
                    check.alias("check"),
                    raw.alias("value"),
                )
            )
    context = [c for c in frame.columns if c.startswith("_") or c not in dataset.field_by_source]
    out = frame.lazy().select(*[pl.col(c) for c in context], *typed)
    failure_frame = (
        pl.concat(failures).collect()
        if failures
        else pl.DataFrame(schema={c: pl.Utf8 for c in FAILURE_COLUMNS})
    )
    return out.collect(), failure_frame
