"""A writer that waits for another process's lock on the warehouse file gives up with one line
that says what holds it and what to do, not DuckDB's IO error."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pipelines.warehouse import WarehouseBusy, connect

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def test_a_writer_gives_up_with_a_clear_message_when_another_process_holds_the_file(tmp_path):
    db = tmp_path / "busy.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(WarehouseBusy) as raised, connect(db, lock_timeout_s=1):
            pass
        assert time.monotonic() - started >= 1  # it waited before giving up
        message = str(raised.value)
        assert message.startswith(f"{db} is still locked by another process after 1 s")
        assert "\n" not in message and "run the build again" in message
    finally:
        holder.kill()
        holder.wait()
    with connect(db, lock_timeout_s=5) as con:  # free again once the holder is gone
        assert con.execute("select 42").fetchone() == (42,)
