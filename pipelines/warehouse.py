"""The DuckDB warehouse file: connections that wait for another writer's lock and always close."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

#: No extension may be downloaded at run time; json, parquet and icu are built in.
DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class WarehouseBusy(Exception):
    """Another process still held the warehouse file's lock when the wait ran out."""


@contextmanager
def connect(
    path: Path | str, *, read_only: bool = False, lock_timeout_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting up to ``lock_timeout_s`` for another process's lock, and
    close the connection however the body ends."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise WarehouseBusy(
                    f"{path} is still locked by another process after {lock_timeout_s:.0f} s "
                    "(another build, or a connection opened for writing): let it finish or "
                    "close it, then run the build again"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        yield con
    finally:
        con.close()
