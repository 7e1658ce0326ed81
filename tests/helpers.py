"""Helpers shared by the tests: independent figures from the JSON, warehouse checksums."""

from __future__ import annotations

import json
from pathlib import Path

REAL_ROOT = Path(__file__).parent / "fixtures" / "krx-real"  # copied from shared/krx-real
REAL_LANDING = REAL_ROOT / "landing"


def krx_int(text: str) -> int:
    return int(text.replace(",", ""))


def records(path: Path) -> list[dict]:
    body = json.loads(path.read_text(encoding="utf-8"))
    for key in ("OutBlock_1", "output"):
        if key in body:
            return body[key]
    return body["StatisticSearch"]["row"]


#: Columns that record when a row was written, not what it holds.
LOAD_TIMES = ("ingested_at", "loaded_at", "rejected_at")


def table_checksums(
    con,
    exclude: tuple[str, ...] = ("raw.rejected_rows",),
    ignore_columns: tuple[str, ...] = (),
) -> dict[str, tuple]:
    """(row count, order-independent content hash) of every table and view in the warehouse,
    leaving out ``ignore_columns`` (e.g. load timestamps)."""
    columns = con.execute(
        "select table_schema || '.' || table_name, list(column_name order by ordinal_position) "
        "from information_schema.columns where table_catalog = current_database() "
        "group by 1 order by 1"
    ).fetchall()
    sums = {}
    for name, names in columns:
        if name in exclude:
            continue
        kept = ", ".join(f'"{c}"' for c in names if c not in ignore_columns)
        sums[name] = con.execute(
            f"select count(*), coalesce(sum(hash({kept})), 0) from {name}"
        ).fetchone()
    return sums
