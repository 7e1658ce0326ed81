"""DDL of the ``raw`` schema, derived from the dataset table."""

from __future__ import annotations

from pipelines.sources.datasets import DATASETS, DUCKDB_TYPES, LINEAGE_COLUMNS, Dataset

REJECTED_ROWS_DDL = """
create table if not exists raw.rejected_rows (
    dataset varchar not null,
    source_file varchar not null,
    file_sha256 varchar not null,
    row_number integer,          -- null for a file-level rejection
    column_name varchar,
    check_name varchar not null,
    failing_value varchar,
    record_json varchar,         -- the raw record as the source sent it
    rejected_at timestamp not null
)
"""

LOADED_FILES_DDL = """
create table if not exists raw.loaded_files (
    source_file varchar primary key,
    dataset varchar not null,
    file_sha256 varchar not null,
    row_count integer not null,
    period_start date not null,
    period_end date not null,
    loaded_at timestamp not null
)
"""


def columns(dataset: Dataset) -> list[tuple[str, str]]:
    """(name, DuckDB type) of every column of the dataset's raw table, in order."""
    typed = [(f.column, DUCKDB_TYPES[f.kind]) for f in dataset.fields]
    return [*dataset.identity_columns, *typed, *LINEAGE_COLUMNS]


def table_ddl(dataset: Dataset) -> str:
    body = ",\n    ".join(f"{name} {type_}" for name, type_ in columns(dataset))
    return f"create table if not exists raw.{dataset.table} (\n    {body}\n)"


def create_raw_schema(con) -> None:
    """Create the ``raw`` schema and all its tables if they do not exist."""
    con.execute("create schema if not exists raw")
    for dataset in DATASETS.values():
        con.execute(table_ddl(dataset))
    con.execute(REJECTED_ROWS_DDL)
    con.execute(LOADED_FILES_DDL)
    con.execute(SESSIONS_DDL)


SESSIONS_DDL = """
create table if not exists raw.xkrx_sessions (
    session_date date primary key
)
"""


#: Whether ``raw.xkrx_sessions`` differs from ``_sessions`` (either way round).
SESSIONS_DIFFER = """
select exists (
    (select session_date from raw.xkrx_sessions except select session_date from _sessions)
    union all
    (select session_date from _sessions except select session_date from raw.xkrx_sessions)
)
"""


def write_sessions(con) -> int:
    """Replace ``raw.xkrx_sessions`` with the XKRX sessions (plus overrides) from
    ``HISTORY_START`` to the end of the calendar, unless it holds them already (most builds:
    the step then writes nothing); returns the row count."""
    import pyarrow as pa

    from pipelines.calendar import HISTORY_START, calendar_end, sessions_between

    sessions = pa.table({"session_date": sessions_between(HISTORY_START, calendar_end())})
    con.execute(SESSIONS_DDL)
    con.register("_sessions", sessions)
    try:
        if con.execute(SESSIONS_DIFFER).fetchall()[0][0]:
            con.execute("delete from raw.xkrx_sessions")
            con.execute("insert into raw.xkrx_sessions select session_date from _sessions")
    finally:
        con.unregister("_sessions")
    return sessions.num_rows
