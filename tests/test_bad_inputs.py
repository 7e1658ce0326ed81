"""Every malformed file of the corpus is rejected with a message naming the file, the row and
the rule; its failures land in raw.rejected_rows and no other table changes."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.raw.load import load_files, load_landing
from pipelines.sources.datasets import DATASETS, PathError, parse_landing_path
from tests.helpers import REAL_LANDING, table_checksums

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A warehouse holding every real fixture plus a good ECOS year."""
    path = tmp_path_factory.mktemp("baseline") / "krx.duckdb"
    with duckdb.connect(str(path)) as con:
        report = load_landing(con, REAL_LANDING)
        assert not report.rejected
        report = load_landing(con, CORPUS / "_good_ecos")
        assert not report.rejected and report.rows_loaded == 4
    return path


def test_corpus_is_large_and_distinct():
    assert len(CASES) >= 25
    assert len({c["case"] for c in CASES}) == len(CASES)
    assert len({c["rule"] for c in CASES}) >= 20


def test_every_dataset_has_cases_in_the_corpus():
    datasets = set()
    for case in CASES:
        with contextlib.suppress(PathError):  # the cases of a bad path name no dataset
            datasets.add(parse_landing_path(case["file"]).dataset.name)
    assert datasets == set(DATASETS)


def test_ecos_thousands_separator_is_a_number(baseline):
    with duckdb.connect(str(baseline), read_only=True) as con:
        value = con.execute(
            "select data_value from raw.ecos_usdkrw where time = date '2021-01-05'"
        ).fetchone()[0]
    assert value == pytest.approx(1087.90)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_bad_input_is_rejected_and_changes_nothing(case, baseline, tmp_path):
    db = tmp_path / "krx.duckdb"
    shutil.copyfile(baseline, db)
    root = CORPUS / case["case"]
    with duckdb.connect(str(db)) as con:
        before = table_checksums(con)
        rejected_before = con.execute("select count(*) from raw.rejected_rows").fetchone()[0]
        report = load_files(con, root, [case["file"]])
        after = table_checksums(con)
        rejections = con.execute(
            "select row_number, column_name, check_name, record_json from raw.rejected_rows "
            "where source_file = ?",
            [case["file"]],
        ).fetchall()
        rejected_after = con.execute("select count(*) from raw.rejected_rows").fetchone()[0]

    assert not report.loaded
    assert list(report.rejected) == [case["file"]]
    message = str(report.rejected[case["file"]])
    assert message.startswith(case["file"] + ":")
    assert f"rule {case['rule']}" in message
    if case["row"] is not None:
        assert f"row {case['row']}" in message
    else:
        assert message.startswith(f"{case['file']}: file")

    assert after == before, "a rejected file must leave every table as it was"
    assert rejected_after > rejected_before
    assert any(check.startswith(case["rule"]) for _, _, check, _ in rejections)
    if case["row"] is not None:
        row_hits = [r for r in rejections if r[0] == case["row"] and r[2].startswith(case["rule"])]
        assert row_hits and row_hits[0][3] is not None  # the raw record is kept as JSON


def test_revised_bad_file_keeps_the_earlier_good_rows(baseline, tmp_path):
    db = tmp_path / "krx.duckdb"
    shutil.copyfile(baseline, db)
    with duckdb.connect(str(db)) as con:
        before = con.execute("select count(*), sum(bal_amt) from raw.krx_short_balance").fetchone()
        load_files(con, CORPUS / "ratio_inconsistent", ["krx/short_balance/KOSPI/2021-01-27.json"])
        after = con.execute("select count(*), sum(bal_amt) from raw.krx_short_balance").fetchone()
    assert before == after == (919, 6180826326321)


def test_rejecting_the_same_file_twice_records_it_once(baseline, tmp_path):
    db = tmp_path / "krx.duckdb"
    shutil.copyfile(baseline, db)
    root = CORPUS / "bad_number"
    relpath = "krx/short_balance/KOSPI/2021-01-27.json"
    with duckdb.connect(str(db)) as con:
        load_files(con, root, [relpath])
        first = con.execute("select count(*) from raw.rejected_rows").fetchone()[0]
        load_files(con, root, [relpath])
        second = con.execute("select count(*) from raw.rejected_rows").fetchone()[0]
    assert first == second > 0
