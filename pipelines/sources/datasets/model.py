"""What an entry of the dataset table is made of: how a source string is typed, what one file
covers, a field, a dataset, and the lineage columns every raw table carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """How a source string is typed."""

    TICKER = "ticker"  # 6-character KRX short code, may contain capital letters
    TEXT = "text"
    INT = "int"  # integer with thousands separators, may be negative ("-1,700")
    FLOAT = "float"  # decimal with thousands separators
    DATE = "date"  # YYYY/MM/DD (KRX) or YYYYMMDD (ECOS); CSV also YYYY-MM-DD


#: How KRX and ECOS write a missing value.
MISSING = ("-", "")

#: DuckDB column type per kind.
DUCKDB_TYPES = {
    Kind.TICKER: "varchar",
    Kind.TEXT: "varchar",
    Kind.INT: "bigint",
    Kind.FLOAT: "double",
    Kind.DATE: "date",
}


class Period(StrEnum):
    """What one file covers."""

    SESSION = "session"  # one file per KRX session: ``YYYY-MM-DD``
    YEAR = "year"  # one range request per year: ``YYYY``
    SNAPSHOT = "snapshot"  # a dated snapshot taken on any calendar day: ``YYYY-MM-DD``


@dataclass(frozen=True)
class Field:
    """One field of a source record."""

    source: str  # name as KRX/ECOS returns it, e.g. ``BAL_QTY``
    kind: Kind
    nullable: bool = False  # "-" and "" are accepted and read as null
    csv_aliases: tuple[str, ...] = ()  # Korean headers of hand-downloaded CSV files

    @property
    def column(self) -> str:
        """Raw-layer column name: the source name in lower case."""
        return self.source.lower()


@dataclass(frozen=True)
class Dataset:
    """A raw dataset: one landing folder, one raw table."""

    name: str
    folder: str  # under the landing root, e.g. ``krx/short_balance``
    segments: tuple[str, ...]  # allowed sub-folders (markets or indices); () for none
    segment_column: str | None  # raw column holding the sub-folder, e.g. ``market``
    period: Period
    list_key: tuple[str, ...]  # path to the record list in the JSON body
    fields: tuple[Field, ...]
    file_date_column: str | None  # raw column holding the file's date (session/snapshot files)
    row_date_field: str | None  # source field holding each row's own date (range files)
    grain: tuple[str, ...]  # raw columns unique within one file
    description: str
    request: dict[str, str]  # the source request, for the fetcher and the docs
    segment_params: dict[str, dict[str, str]]  # extra request parameters per sub-folder
    ignored_fields: tuple[str, ...] = ()  # fields the source sends that are not loaded
    required_every_period: bool = True  # the completeness check expects a file per period
    publication_lag_sessions: int = 0  # sessions after the period before the source has it
    #: Fields a non-session answer fills with "-" for every record (KRX MDCSTAT01501 lists
    #: every ticker on a holiday): such a file is a holiday answer, like an empty list.
    holiday_fields: tuple[str, ...] = ()
    #: Source field -> request parameter whose value every record repeats (``MKT_ID`` holds the
    #: ``mktId`` asked for): a record with another value answers another request.
    echo_fields: dict[str, str] = field(default_factory=dict)
    #: An empty list is an answer, not a failed request (a year without designations).
    may_be_empty: bool = False

    @property
    def table(self) -> str:
        """Raw table name (schema ``raw``)."""
        return f"{self.folder.split('/')[0]}_{self.name}"

    @property
    def field_by_source(self) -> dict[str, Field]:
        return {f.source: f for f in self.fields}

    @property
    def ticker_field(self) -> str | None:
        """The source field holding the ticker (6-character short code), if any."""
        return next((f.source for f in self.fields if f.kind is Kind.TICKER), None)

    @property
    def identity_columns(self) -> tuple[tuple[str, str], ...]:
        """Columns taken from the file path, with their DuckDB types."""
        cols: list[tuple[str, str]] = []
        if self.file_date_column:
            cols.append((self.file_date_column, "date"))
        if self.segment_column:
            cols.append((self.segment_column, "varchar"))
        return tuple(cols)


#: Lineage columns every raw table carries after the typed fields.
LINEAGE_COLUMNS = (
    ("source_file", "varchar"),
    ("file_sha256", "varchar"),
    ("row_number", "integer"),
    ("ingested_at", "timestamp"),
)
