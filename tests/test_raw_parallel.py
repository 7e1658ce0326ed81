"""Reading through worker processes gives exactly what reading in process gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.raw.load import load_landing
from pipelines.sources import pool
from pipelines.sources.landing import discover
from pipelines.sources.pool import read_many
from pipelines.sources.reader import FileRejected, RawFile
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


def _comparable(result) -> tuple:
    if isinstance(result, RawFile):
        return ("raw", result.relpath, result.sha256, result.frame.to_dicts(), result.records)
    if isinstance(result, FileRejected):
        return ("rejected", str(result), result.failures)
    return ("unchanged", result)


def test_workers_read_exactly_what_the_process_reads(tmp_path):
    root = _landing(tmp_path)
    relpaths = discover(root)
    known = {relpaths[0]: "0" * 64}  # a stale hash: read again
    in_process = list(read_many(root, relpaths, known, workers=0))
    pooled = list(read_many(root, relpaths, known, workers=2, min_bytes=0))
    assert [p for p, _ in pooled] == relpaths
    assert [_comparable(r) for _, r in pooled] == [_comparable(r) for _, r in in_process]
    kinds = {type(r).__name__ for _, r in pooled}
    assert kinds == {"RawFile", "FileRejected"}


def test_unchanged_files_are_not_parsed_by_workers(tmp_path):
    root = _landing(tmp_path)
    relpaths = discover(root)
    first = dict(read_many(root, relpaths, {}, workers=0))
    known = {p: r.sha256 for p, r in first.items() if isinstance(r, RawFile | FileRejected)}
    again = list(read_many(root, relpaths, known, workers=2, min_bytes=0))
    assert all(r is None for _, r in again)


def test_a_worker_error_reaches_the_loader(tmp_path):
    root = _landing(tmp_path)
    relpaths = [*discover(root), "krx/short_balance/KOSPI/2021-02-01.json"]  # not on disk
    with pytest.raises(FileNotFoundError):
        list(read_many(root, sorted(relpaths), {}, workers=2, min_bytes=0))


def test_a_load_through_workers_equals_one_in_process(tmp_path, monkeypatch):
    root = _landing(tmp_path)
    figures = []
    for workers in ("0", "2"):
        monkeypatch.setenv(pool.WORKERS_ENV, workers)
        monkeypatch.setattr(pool, "MIN_BYTES_FOR_WORKERS", 0)
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
