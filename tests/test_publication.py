"""Readers never block a build: builds write a working copy and publish it by atomic rename
(``pipelines.publication``).

End to end, as a user does it: an analyst holds ``duckdb.connect(KRX_DUCKDB_PATH,
read_only=True)`` open on a built warehouse (a copy of ``reference``, conftest.py) while
``krx-short build`` runs, once succeeding (two earlier sessions added) and once failing (a dbt
test fails: a market cap of 1 KRW). The reader keeps seeing the last complete build until it
reconnects; neither build prints a traceback or a lock error, and each releases the DuckDB pool
slot. The registry, the dead-run cleanup, the spare copy and the retired file of ``krx-short
serve`` are checked directly, without Dagster.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.publication import (
    abandon,
    begin_step,
    end_step,
    keep_retired,
    prepare_spare,
    remove_retired,
    retired_path,
    spare_path,
    working_path,
)
from tests.builds import END, LANDING_START, copy_built, slots_held, succeeded
from tests.helpers import LOAD_TIMES, table_checksums

#: One worker runs every test of the shared builder and reference build (``pytest -n``).
pytestmark = pytest.mark.xdist_group("builds")

WIDER = LANDING_START.isoformat()  # the start of a build that adds two sessions before START
TINY_CAP = "2021-06-08"  # a session with balances, among the added ones
KOSPI_LEVELS = "krx/index_ohlcv/KOSPI/2021.json"
TRADING = "select count(*), min(trade_date) from marts.fct_short_trades"


def _state(con) -> dict[str, tuple]:
    return table_checksums(con, ignore_columns=LOAD_TIMES)


def _first_session_elsewhere(db: Path) -> str:
    code = f"import duckdb; print(duckdb.connect({str(db)!r}, read_only=True).sql({TRADING!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return next(w for w in out.stdout.split() if w.startswith("2021-"))


def _tiny_market_cap(source: Path, target: Path, day: str) -> None:
    """The landing zone with KOSPI's market cap of ``day`` revised to 1 KRW: the market's short
    balance is then above 100 % of it, a contradiction that fails an error-severity test."""
    shutil.copytree(source, target)
    body = json.loads((source / KOSPI_LEVELS).read_text(encoding="utf-8"))
    rows = [r for r in body["output"] if r["TRD_DD"] == day.replace("-", "/")]
    assert len(rows) == 1
    rows[0]["MKTCAP"] = "1"
    (target / KOSPI_LEVELS).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")


@pytest.mark.slow
def test_a_reader_held_open_sees_the_last_complete_build_until_it_reconnects(
    builder, reference, tmp_path
):
    copy_built(reference[0], tmp_path / "built")
    root = tmp_path / "built"
    db = root / "krx.duckdb"

    reader = duckdb.connect(str(db), read_only=True)  # the README's query, kept open
    before = _state(reader)
    assert reader.execute(TRADING).fetchone()[1] == dt.date(2021, 6, 9)

    succeeded(*builder.build(root, WIDER, END))
    assert _state(reader) == before  # the open connection still reads the previous build
    assert slots_held(root) == set()
    assert _first_session_elsewhere(db) == "2021-06-07"  # another process: the new build
    reader.close()  # DuckDB hands a process's new connections the database it holds open
    with duckdb.connect(str(db), read_only=True) as fresh:
        after = _state(fresh)
        assert fresh.execute(TRADING).fetchone()[1] == dt.date(2021, 6, 7)
    assert after != before
    reader = duckdb.connect(str(db), read_only=True)

    # a failing build (a dbt test fails) publishes nothing, held reader or not
    _tiny_market_cap(builder.landing, tmp_path / "tiny-cap", TINY_CAP)
    code, output = builder.build(root, WIDER, END, landing=tmp_path / "tiny-cap")
    assert code == 1, output[-3000:]
    assert "accepted_range_fct_market_short_balances_balance_to_market_cap_pct" in output
    assert "Traceback" not in output and "Could not set lock" not in output
    assert _state(reader) == after
    reader.close()
    with duckdb.connect(str(db), read_only=True) as reconnected:
        assert _state(reconnected) == after  # still the last complete build
    assert slots_held(root) == set()
    assert not working_path(db).exists()  # the failed run's working copy is gone


def _tables(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return dict(con.execute("select name, n from t").fetchall())


def _write(path: Path, name: str, n: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create table if not exists t (name varchar primary key, n int)")
        con.execute("insert or replace into t values (?, ?)", [name, n])


def test_runs_in_flight_share_the_working_copy_and_the_last_one_publishes(tmp_path):
    published = tmp_path / "w.duckdb"
    _write(published, "base", 0)
    reader = duckdb.connect(str(published), read_only=True)
    live = {"a", "b"}
    work = begin_step(published, "a", ["a1", "a2"], live.__contains__)
    _write(work, "a", 1)
    assert begin_step(published, "b", ["b1"], live.__contains__) == work  # shared, not recopied
    _write(work, "b", 1)
    assert not end_step(published, "a", "a1")
    assert not end_step(published, "b", "b1")  # run a still has a write step to come
    assert _tables(published) == {"base": 0}
    assert end_step(published, "a", "a2")
    assert reader.execute("select count(*) from t").fetchone()[0] == 1  # the old file
    reader.close()  # DuckDB hands a process's new connections the database it holds open
    assert _tables(published) == {"base": 0, "a": 1, "b": 1}
    assert not working_path(published).exists()


def test_a_dead_run_s_working_copy_is_discarded_not_published(tmp_path):
    published = tmp_path / "w.duckdb"
    _write(published, "base", 0)
    work = begin_step(published, "dead", ["d1", "d2"], lambda _run: True)
    _write(work, "half", 1)
    assert end_step(published, "dead", "d1") is False  # then the process is killed
    work = begin_step(published, "next", ["n1"], lambda run: run == "next")
    assert _tables(work) == {"base": 0}  # a fresh copy: the dead run's write is gone
    _write(work, "next", 1)
    assert end_step(published, "next", "n1")
    assert _tables(published) == {"base": 0, "next": 1}


def test_an_abandoned_run_leaves_the_published_file_and_no_working_copy(tmp_path):
    published = tmp_path / "w.duckdb"
    _write(published, "base", 0)
    work = begin_step(published, "failed", ["f1", "f2"], lambda _run: True)
    _write(work, "half", 1)
    abandon(published, "failed")
    assert not work.exists()
    assert _tables(published) == {"base": 0}


def test_an_export_s_leftovers_are_cleared_and_a_month_moved_aside_comes_back(tmp_path):
    from pipelines.exports import clear_leftovers

    hexes = iter(f"{n:032x}" for n in range(1, 10))
    fact = tmp_path / "fct_x"
    (fact / "year=2021" / f".month=6.{next(hexes)}").mkdir(parents=True)  # killed mid-swap
    (fact / "year=2021" / "month=5").mkdir()  # its replacement arrived: the old one goes
    (fact / "year=2021" / f".month=5.{next(hexes)}").mkdir()
    (tmp_path / f".fct_x.{next(hexes)}" / "year=2021").mkdir(parents=True)  # staging
    (tmp_path / f".dim_y.parquet.{next(hexes)}").write_bytes(b"half")
    (tmp_path / f".manifest.{next(hexes)}.json").write_text("{")
    (tmp_path / ".notes").write_text("a user's file")

    clear_leftovers(tmp_path)

    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == [".notes", "fct_x", "fct_x/year=2021", "fct_x/year=2021/month=5",
                    "fct_x/year=2021/month=6"]  # fmt: skip


def test_a_build_takes_the_spare_while_it_is_a_copy_of_the_published_file(tmp_path):
    published_file = tmp_path / "w.duckdb"
    _write(published_file, "base", 0)
    assert prepare_spare(published_file)
    spare_inode = spare_path(published_file).stat().st_ino
    work = begin_step(published_file, "run", ["s1"], lambda _run: True)
    assert work.stat().st_ino == spare_inode and not spare_path(published_file).exists()
    assert _tables(work) == {"base": 0}
    _write(work, "run", 1)
    assert end_step(published_file, "run", "s1")
    assert _tables(published_file) == {"base": 0, "run": 1}


def test_a_spare_of_an_older_version_is_dropped_not_used(tmp_path):
    published_file = tmp_path / "w.duckdb"
    _write(published_file, "base", 0)
    assert prepare_spare(published_file)
    _write(published_file, "changed", 2)  # the published file changed after the copy
    work = begin_step(published_file, "run", ["s1"], lambda _run: True)
    assert _tables(work) == {"base": 0, "changed": 2}  # a fresh copy, not the stale spare
    assert not spare_path(published_file).exists()


def test_no_spare_is_made_while_a_run_writes(tmp_path):
    published_file = tmp_path / "w.duckdb"
    _write(published_file, "base", 0)
    begin_step(published_file, "run", ["s1"], lambda _run: True)
    assert not prepare_spare(published_file)
    assert not spare_path(published_file).exists()


def test_a_kept_retired_file_is_the_previous_version_until_removed(tmp_path, monkeypatch):
    import pipelines.publication as publication

    monkeypatch.setattr(publication, "_keep_retired", False)
    published_file = tmp_path / "w.duckdb"
    _write(published_file, "base", 0)
    keep_retired()
    work = begin_step(published_file, "run", ["s1"], lambda _run: True)
    _write(work, "run", 1)
    assert end_step(published_file, "run", "s1")
    assert _tables(retired_path(published_file)) == {"base": 0}
    assert _tables(published_file) == {"base": 0, "run": 1}
    remove_retired(published_file)
    assert not retired_path(published_file).exists()
