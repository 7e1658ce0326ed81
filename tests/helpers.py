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


def table_checksums(con, exclude: tuple[str, ...] = ("raw.rejected_rows",)) -> dict[str, tuple]:
    """(row count, order-independent content hash) of every table and view in the warehouse."""
    tables = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = current_database() order by 1"
    ).fetchall()
    sums = {}
    for (name,) in tables:
        if name in exclude:
            continue
        sums[name] = con.execute(
            f"select count(*), coalesce(sum(hash(t)), 0) from {name} t"
        ).fetchone()
    return sums
