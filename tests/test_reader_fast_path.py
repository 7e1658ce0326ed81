"""The batched NDJSON reader gives exactly what the record-by-record reader gives, and steps
aside (to ``parse_file``, which names each problem) for any body it cannot vouch for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.sources import reader
from pipelines.sources.landing import discover
from pipelines.sources.reader import FileRejected, RawFile, read_changed, read_file
from tests.helpers import REAL_LANDING

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
BALANCE = "krx/short_balance/KOSPI/2021-01-27.json"


def read_if_changed(root: Path, relpath: str) -> RawFile | FileRejected:
    """The record-by-record reader of one file (``parse_file``), the reference."""
    try:
        return read_file(root, relpath)
    except FileRejected as exc:
        return exc


def _comparable(result) -> tuple:
    if isinstance(result, RawFile):
        return ("raw", result.relpath, result.sha256, result.frame.to_dicts(), result.records)
    if isinstance(result, FileRejected):
        return ("rejected", str(result), result.failures)
    return ("unchanged", result)


@pytest.fixture
def slow_reads(monkeypatch) -> list[str]:
    """The paths the batched reader handed to ``parse_file``."""
    calls: list[str] = []
    original = reader._parsed

    def counted(relpath, data, sha):
        calls.append(relpath)
        return original(relpath, data, sha)

    monkeypatch.setattr(reader, "_parsed", counted)
    return calls


def test_real_files_take_the_fast_path_and_read_the_same(slow_reads):
    relpaths = discover(REAL_LANDING)
    fast = read_changed(REAL_LANDING, relpaths, {})
    assert [_comparable(r) for r in fast] == [
        _comparable(read_if_changed(REAL_LANDING, p)) for p in relpaths
    ]
    assert slow_reads == []  # every real KRX body is a compact list of string records
    assert sum(r.frame.height for r in fast) > 2000


def test_every_bad_input_reads_as_the_record_reader_reads_it():
    for case in CASES:
        root = CORPUS / case["case"]
        relpath = case["file"]
        batched = read_changed(root, [relpath], {})[0]
        assert _comparable(batched) == _comparable(read_if_changed(root, relpath)), case["case"]


def _variant(body: str, break_it) -> bytes:
    data = json.loads(body)
    break_it(data["OutBlock_1"], data)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _set(index: int, key: str, value):
    def change(records, _):
        records[index][key] = value

    return change


def _drop(index: int, key: str):
    def change(records, _):
        del records[index][key]

    return change


#: Bodies the fast path must not vouch for (each either loads as the record reader loads it or
#: is rejected with the same failures).
VARIANTS = {
    "number_value": lambda body: _variant(body, _set(3, "BAL_QTY", 5)),
    "null_value": lambda body: _variant(body, _set(3, "BAL_QTY", None)),
    "nested_object": lambda body: _variant(body, _set(3, "BAL_QTY", {"v": "1"})),
    "extra_key": lambda body: _variant(body, _set(3, "EXTRA", "1")),
    "missing_key": lambda body: _variant(body, _drop(3, "BAL_QTY")),
    "extra_and_missing_key": lambda body: _variant(
        body, lambda r, d: (_set(2, "EXTRA", "1")(r, d), _drop(5, "BAL_QTY")(r, d))
    ),
    "separator_in_a_name": lambda body: _variant(body, _set(3, "ISU_ABBRV", 'a},{"b')),
    "escaped_quote_and_colon": lambda body: _variant(body, _set(3, "ISU_ABBRV", 'x":"y')),
    "another_list_after": lambda body: _variant(
        body, lambda r, d: d.update({"Other": [{"ISU_CD": "000000"}]})
    ),
    "list_key_nested_first": lambda body: (
        b'{"Wrapper":{"OutBlock_1":[{"ISU_CD":"000000"}]},' + _variant(body, lambda r, d: None)[1:]
    ),
    "pretty_printed": lambda body: json.dumps(json.loads(body), indent=1).encode(),
    "spaces_after_separators": lambda body: json.dumps(json.loads(body)).encode(),
    "duplicate_key": lambda body: body.encode().replace(
        b'"ISU_ABBRV":', b'"ISU_ABBRV":"dup","ISU_ABBRV":', 1
    ),
    # not JSON, but records Arrow's reader takes one after the other
    "records_without_a_comma": lambda body: body.encode().replace(b"},{", b"}{", 1),
    "records_separated_by_a_space": lambda body: body.encode().replace(b"},{", b"} {", 1),
    "records_separated_by_a_newline": lambda body: body.encode().replace(b"},{", b"}\n{", 1),
    "invalid_utf8_in_a_value": lambda body: body.encode().replace(
        b'"ISU_CD":"0', b'"ISU_CD":"\xe1t', 1
    ),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_unusual_bodies_read_as_the_record_reader_reads_them(tmp_path, name):
    body = (REAL_LANDING / BALANCE).read_text(encoding="utf-8")
    target = tmp_path / BALANCE
    target.parent.mkdir(parents=True)
    target.write_bytes(VARIANTS[name](body))
    batched = read_changed(tmp_path, [BALANCE], {})[0]
    assert _comparable(batched) == _comparable(read_if_changed(tmp_path, BALANCE))


def test_a_file_the_ndjson_reader_refuses_does_not_stop_the_others(tmp_path, slow_reads):
    """One body splits into lines Arrow's reader refuses: its whole group is read record by record
    and every file still reads as on its own."""
    good = [BALANCE, "krx/short_balance/KOSPI/2021-01-28.json"]
    odd = "krx/short_balance/KOSPI/2021-01-29.json"
    for relpath in good:
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REAL_LANDING / BALANCE, tmp_path / relpath)
    body = (REAL_LANDING / BALANCE).read_text(encoding="utf-8")
    (tmp_path / odd).write_bytes(VARIANTS["separator_in_a_name"](body))
    relpaths = sorted([*good, odd])
    batched = read_changed(tmp_path, relpaths, {})
    assert [_comparable(r) for r in batched] == [
        _comparable(read_if_changed(tmp_path, p)) for p in relpaths
    ]
    assert sorted(slow_reads) == relpaths
    assert batched[2].frame.get_column("ISU_ABBRV")[3] == 'a},{"b'


def test_unchanged_files_are_only_hashed(slow_reads):
    first = read_file(REAL_LANDING, BALANCE)
    assert read_changed(REAL_LANDING, [BALANCE], {BALANCE: first.sha256}) == [None]
