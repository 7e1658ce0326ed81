"""Asset metadata shown in the Dagster UI: tables, column schemas, owners, test descriptions."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg


def markdown_table(columns: list[str], rows: list[tuple]) -> str:
    """A Markdown table of ``rows`` (values rendered with ``str``; ``|`` escaped)."""
    if not rows:
        return "no rows"

    def cell(value) -> str:
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


#: The beta features of Dagster the project chose to use: a session backfill in one run, and
#: code references on asset pages. Dagster warns about each on every declaration, a warning
#: no user can act on.
BETA_FEATURES = (
    "Parameter `backfill_policy`",
    "Function `with_source_code_references`",
    "Class `LocalFileCodeReference`",
    "Class `CodeReferencesMetadataValue`",
)


@contextmanager
def beta_features_declared() -> Iterator[None]:
    """Around the declarations using ``BETA_FEATURES``: their BetaWarnings (only) silenced."""
    with warnings.catch_warnings():
        pattern = "|".join(re.escape(feature) for feature in BETA_FEATURES)
        warnings.filterwarnings("ignore", message=f"(?:{pattern})", category=dg.BetaWarning)
        yield


#: The owner of every asset (Dagster takes an email or ``team:<name>``).
OWNERS = ["team:krx-short"]


def column_schema(columns: Iterable[tuple[str, str, str | None]]) -> dg.TableSchema:
    """A Dagster column schema of (name, type, description) triples."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, type_, description or None) for name, type_, description in columns
        ]
    )


def warehouse_columns(con, relations: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list]:
    """(name, DuckDB type) of each column, in column order, of each (schema, table or view) of
    ``relations``: one query for all (a query per relation took about 5 ms)."""
    columns: dict[tuple[str, str], list] = {relation: [] for relation in relations}
    rows = con.execute(
        "select schema_name, table_name, column_name, data_type from duckdb_columns() "
        "where database_name = current_database() order by column_index"
    ).fetchall()
    for schema, table, column, type_ in rows:
        if (schema, table) in columns:
            columns[(schema, table)].append((column, type_))
    return columns


def dbt_test_description(test: Mapping[str, Any]) -> str:
    """What a dbt test checks, for the check's page: its own description, or one made of the
    generic test's name, column and arguments (a singular test: its file), and its severity."""
    own = test.get("description") or (test.get("meta") or {}).get("description")
    if own:
        return own
    severity = (test.get("config") or {}).get("severity") or "error"
    generic = test.get("test_metadata") or {}
    if not generic:
        return f"rows of {test['original_file_path']} are failures (severity {severity})"
    kwargs = {
        k: v for k, v in (generic.get("kwargs") or {}).items() if k not in ("model", "column_name")
    }
    column = test.get("column_name")
    what = generic["name"] + (f" on {column}" if column else "")
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{what}{f' ({args})' if args else ''}; severity {severity}"
