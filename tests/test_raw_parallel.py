"""Preparing batches in worker processes gives exactly what preparing them in process gives."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest

from pipelines import settings
from pipelines.raw import load, pool
from pipelines.raw.batch import PreparedBatch, Screen, prepare_batch
from pipelines.raw.load import load_landing
from pipelines.raw.pool import ordered_map
from pipelines.sources.landing import discover
from tests.helpers import REAL_LANDING

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = {c["case"]: c for c in json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))}


def _landing(tmp_path: Path) -> Path:
    """The real fixtures plus broken files at other paths of the same layout."""
    root = tmp_path / "landing"
    shutil.copytree(REAL_LANDING, root)
    extra = {
        "value_not_string": "krx/short_balance/KOSPI/2021-01-28.json",  # row-level shape check
        "truncated_json": "krx/short_balance/KOSPI/2021-01-29.json",  # file-level rejection
        "bad_number": "krx/short_balance/KOSDAQ/2021-01-27.json",  # passes the reader
        "corrupt_gzip": "krx/short_balance/KOSPI/2021-01-26.json.gz",
    }
    for case, relpath in extra.items():
        source = CORPUS / case / CASES[case]["file"]
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / relpath)
    return root


def _comparable(batch: PreparedBatch) -> tuple:
    return (
        batch.unchanged,
        {p: (str(e), e.failures) for p, e in batch.rejected.items()},
        {p: (str(e), e.failures) for p, e in batch.invalid.items()},
        [(t.dataset.name, t.rows.to_pylist(), t.files.to_pylist()) for t in batch.tables],
    )


def _tasks(root: Path, relpaths: list[str], known: dict[str, str]) -> list[tuple]:
    """One task per dataset folder, as a load of those files would batch them."""
    screen = Screen(known, {}, {}, None)
    folders: dict[str, list[str]] = {}
    for relpath in relpaths:
        folders.setdefault(relpath.split("/")[1], []).append(relpath)
    return [(root, paths, screen.for_paths(paths)) for paths in folders.values()]


def test_workers_prepare_exactly_what_the_process_prepares(tmp_path):
    root = _landing(tmp_path)
    relpaths = discover(root)
    known = {relpaths[0]: "0" * 64}  # a stale hash: read again
    tasks = _tasks(root, relpaths, known)
    assert len(tasks) > 2
    in_process = list(ordered_map(prepare_batch, tasks, workers=0))
    pooled = list(ordered_map(prepare_batch, tasks, workers=2))
    assert [_comparable(b) for b in pooled] == [_comparable(b) for b in in_process]
    assert any(b.rejected for b in pooled) and any(b.invalid for b in pooled)
    loaded = [p for b in pooled for t in b.tables for p in t.column("row_count")]
    rejected = [p for b in pooled for p in [*b.rejected, *b.invalid]]
    assert sorted(loaded + rejected) == relpaths


def test_unchanged_files_are_not_parsed_by_workers(tmp_path):
    root = _landing(tmp_path)
    relpaths = discover(root)
    first = list(ordered_map(prepare_batch, _tasks(root, relpaths, {}), workers=0))
    known = {p: e.sha256 for b in first for p, e in [*b.rejected.items(), *b.invalid.items()]}
    for batch in first:
        for table in batch.tables:
            known.update(table.column("file_sha256"))
    again = list(ordered_map(prepare_batch, _tasks(root, relpaths, known), workers=2))
    assert sorted(p for b in again for p in b.unchanged) == relpaths
    assert not any(b.tables or b.rejected or b.invalid for b in again)


def test_a_worker_error_reaches_the_loader(tmp_path):
    root = _landing(tmp_path)
    relpaths = [*discover(root), "krx/short_balance/KOSPI/2021-02-01.json"]  # not on disk
    with pytest.raises(FileNotFoundError):
        list(ordered_map(prepare_batch, _tasks(root, sorted(relpaths), {}), workers=2))


def test_a_load_through_workers_equals_one_in_process(tmp_path, monkeypatch):
    root = _landing(tmp_path)
    figures = []
    for workers in ("0", "2"):
        monkeypatch.setenv(settings.WORKERS_ENV, workers)
        monkeypatch.setattr(load, "MIN_BYTES_FOR_WORKERS", 0)
        monkeypatch.setattr(load, "BATCH_BYTES", 200_000)  # several batches
        with duckdb.connect(str(tmp_path / f"krx{workers}.duckdb")) as con:
            report = load_landing(con, root)
            tables = {
                table: con.execute(
                    f"select count(*), sum(hash(columns(* exclude (ingested_at)))) from raw.{table}"
                ).fetchone()
                for table in ("krx_short_balance", "krx_short_trading", "krx_securities")
            }
            rejections = con.execute(
                "select source_file, row_number, column_name, check_name, failing_value, "
                "record_json from raw.rejected_rows order by all"
            ).fetchall()
        figures.append((report.loaded, report.errors(), tables, rejections))
    assert figures[0] == figures[1]
    assert figures[0][0] and figures[0][1]  # some files loaded, some rejected


def test_the_workers_serve_map_after_map_and_stop_when_idle(monkeypatch):
    """A backfill loads dataset after dataset: one pool serves them all (no start-up per load),
    a map that fails leaves none behind, and idle workers stop."""
    tasks = [()] * 4
    first = list(ordered_map(os.getpid, tasks, workers=2))
    second = list(ordered_map(os.getpid, tasks, workers=2))
    assert len(set(first)) == 2 and second == first
    with pytest.raises(TypeError):
        list(ordered_map(os.getpid, [(), (1,), (), ()], workers=2))
    assert pool._WORKERS == []
    monkeypatch.setattr(pool, "IDLE_SECONDS", 0.1)
    third = list(ordered_map(os.getpid, tasks, workers=2))
    assert not set(third) & set(first)
    workers = list(pool._WORKERS)
    time.sleep(1)
    assert pool._WORKERS == [] and all(w.process.poll() is not None for w in workers)
