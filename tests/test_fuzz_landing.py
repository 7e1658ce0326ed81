"""Fuzzed landing files: real fixtures mutated at random never raise anything but the project's
own rejection, and never load a row that differs from what a minimal parser reads.

Each case mutates one dataset's fixture (byte flips, truncation, inserted bytes, another
encoding, a damaged gzip twin, a field deleted, added or renamed, a value edited by one
character or replaced by a random string, number or non-string, rows duplicated, dropped or
reordered) and hands it to ``prepare_batch``, the step the loader runs per batch.
The file is either rejected with a rule that names the file, or every row it would load equals
what ``_independent_rows`` below (stdlib json and regular expressions, nothing of the project's
reader or coercion) reads from the same bytes.

Every kind of mutation is tried on every dataset: ``KRX_FUZZ_EXAMPLES`` sets the cases per
dataset (default 150), shared evenly among the 15 kinds (10 each by default); the run is
derandomized, so CI tries the same cases every time and a failure prints the example that
replays it.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import re
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.raw.batch import Screen, prepare_batch
from pipelines.sources.datasets import DATASETS, Dataset, Kind
from tests.helpers import REAL_ROOT

EXAMPLES = int(os.environ.get("KRX_FUZZ_EXAMPLES", "150"))
ROWS_KEPT = 20  # records kept from each fixture: the rules, not the size, are under test

ECOS_ROWS = [
    {
        "STAT_CODE": "731Y001",
        "STAT_NAME": "3.1.1.1. 주요국 통화의 대원화환율",
        "ITEM_CODE1": "0000001",
        "ITEM_NAME1": "원/미국달러(매매기준율)",
        "ITEM_CODE2": None,
        "ITEM_NAME2": None,
        "ITEM_CODE3": None,
        "ITEM_NAME3": None,
        "ITEM_CODE4": None,
        "ITEM_NAME4": None,
        "UNIT_NAME": "원 ",
        "WGT": None,
        "TIME": day,
        "DATA_VALUE": value,
    }
    for day, value in (("20210104", "1,086.20"), ("20210105", "1,087.30"), ("20210106", "1,088"))
]

#: dataset -> (landing path, source of the body: a real fixture, or ECOS's documented format)
FIXTURES: dict[str, tuple[str, str | None]] = {
    "short_balance": ("krx/short_balance/KOSPI/2021-01-27.json", None),
    "short_trading": ("krx/short_trading/KOSPI/2021-01-25.json", None),
    "index_ohlcv": ("krx/index_ohlcv/KOSPI/2021.json", None),
    "index_constituents": (
        "krx/index_constituents/KOSPI200/2021-01-29.json",
        "formats/MDCSTAT00601_KOSPI_all_2021-01-29.json",
    ),
    "securities": ("krx/securities/2026-01-25.json", None),
    "usdkrw": ("ecos/usdkrw/2021.json", "ecos"),
    "theme_constituents": (
        "krx/index_constituents/BATTERY10/2021-01-29.json",
        "formats/MDCSTAT00601_KOSPI_all_2021-01-29.json",
    ),
    "stock_ohlcv": ("krx/stock_ohlcv/KOSPI/2021-01-22.json", None),
    "foreign_holdings": ("krx/foreign_holdings/KOSPI/2021-01-18.json", None),
    "sectors": ("krx/sectors/KOSPI/2021-01-22.json", "sectors"),
    "short_investor_value": (
        "krx/short_investor_value/KOSPI/2020.json",
        "formats/MDCSTAT30301_value_KOSPI_2020-01-06_2020-01-10.json",
    ),
    # no volume answer was recorded: the value answer has the same fields
    "short_investor_volume": (
        "krx/short_investor_volume/KOSPI/2020.json",
        "formats/MDCSTAT30301_value_KOSPI_2020-01-06_2020-01-10.json",
    ),
    "short_balance_top50": (
        "krx/short_balance_top50/KOSPI/2020-01-06.json",
        "formats/MDCSTAT30801_top50_KOSPI_2020-01-06.json",
    ),
    "short_trading_top50": (
        "krx/short_trading_top50/KOSPI/2020-01-06.json",
        "formats/MDCSTAT30401_top50_share_KOSPI_2020-01-06.json",
    ),
    "short_overheat": ("krx/short_overheat/2025.json", "overheat"),
}
#: MDCSTAT30901 was never recorded: designations in its documented fields.
OVERHEAT_ROWS = [
    {
        "BAS_DD": f"2025/04/0{day}",
        "MKTACT_APPL_DD": f"2025/04/0{day + 1}",
        "RELEAS_DD": f"2025/04/0{day + 2}",
        "ISU_CD": ticker,
        "ISU_CD_FULL": isin,
        "MKT_ID": market,
        "VALU_PD_TR_DYS": "40",
        "TDD_SRTSELL_WT": "21.50",
        "PRC_YD": "-3.80",
        "TDD_SRTSELL_TRDVAL_INCDEC_RT": "4.10",
        "VALU_PD_AVG_SRTSELL_WT": "3.20",
        "SRTSELL_IMPSBL_DTEC_TP_NM": kind,
    }
    for day, ticker, isin, market, kind in (
        (1, "005930", "KR7005930003", "STK", "4유형"),
        (1, "091990", "KR7091990002", "KSQ", "3유형"),
        (2, "000660", "KR7000660001", "STK", "2유형"),
    )
]
#: MDCSTAT03901 was never recorded: its documented fields, filled from the real price answer
#: of the same tickers with invented industry names.
SECTOR_FIELDS = ("ISU_SRT_CD", "ISU_ABBRV", "TDD_CLSPRC", "CMPPREVDD_PRC", "FLUC_RT", "MKTCAP")
INDUSTRIES = ("전기·전자", "제약", "서비스업", "화학")


def _base_body(name: str) -> dict:
    relpath, source = FIXTURES[name]
    if source == "ecos":
        rows = [dict(row) for row in ECOS_ROWS]
        return {"StatisticSearch": {"list_total_count": len(rows), "row": rows}}
    if source == "overheat":
        return {"OutBlock_1": [dict(row) for row in OVERHEAT_ROWS], "CURRENT_DATETIME": "x"}
    if source == "sectors":
        prices = json.loads(
            (REAL_ROOT / "landing" / FIXTURES["stock_ohlcv"][0]).read_text(encoding="utf-8")
        )["OutBlock_1"][:ROWS_KEPT]
        rows = [
            {
                **{f: price[f] for f in SECTOR_FIELDS},
                "MKT_TP_NM": "KOSPI",
                "IDX_IND_NM": INDUSTRIES[i % len(INDUSTRIES)],
                "FLUC_TP_CD": price["FLUC_TP_CD"],
            }
            for i, price in enumerate(prices)
        ]
        return {"block1": rows, "CURRENT_DATETIME": "2021.01.22 PM 08:30:43"}
    path = REAL_ROOT / (source or f"landing/{relpath}")
    body = json.loads(path.read_text(encoding="utf-8"))
    key = DATASETS[name].list_key
    body[key[0]] = body[key[0]][:ROWS_KEPT]
    return body


def _records_of(body: dict, dataset: Dataset) -> list:
    node = body
    for key in dataset.list_key:
        node = node[key]
    return node


# --------------------------------------------------------------------------- the minimal parser
_INT = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)")
_FLOAT = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?")
_TICKER = re.compile(r"[0-9A-Z]{6}")


class Unreadable(Exception):
    """The minimal parser cannot read the file as the format documents it."""


def _value(kind: Kind, text: str):
    if kind is Kind.INT:
        if not _INT.fullmatch(text):
            raise Unreadable(text)
        number = int(text.replace(",", ""))
        if not -(2**63) <= number < 2**63:
            raise Unreadable(text)
        return number
    if kind is Kind.FLOAT:
        if not _FLOAT.fullmatch(text):
            raise Unreadable(text)
        return float(text.replace(",", ""))
    if kind is Kind.DATE:
        for pattern in ("%Y/%m/%d", "%Y-%m-%d", "%Y%m%d"):
            try:
                if len(text) == len(dt.date(2000, 1, 1).strftime(pattern)):
                    return dt.datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        raise Unreadable(text)
    if kind is Kind.TICKER and not _TICKER.fullmatch(text):
        raise Unreadable(text)
    return text


def _csv_records(dataset: Dataset, data: bytes) -> list[dict]:
    """The records of a CP949 CSV download, headers mapped by the documented alias table."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise Unreadable("byte-order mark")
    try:
        lines = list(csv.reader(io.StringIO(data.decode("cp949"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Unreadable("csv") from exc
    aliases = {name: f.source for f in dataset.fields for name in (f.source, *f.csv_aliases)}
    header = [aliases.get(name.strip()) for name in lines[0]] if lines else [None]
    if None in header or len(set(header)) != len(header):
        raise Unreadable("csv header")
    rows = [line for line in lines[1:] if line]
    if any(len(line) != len(header) for line in rows):
        raise Unreadable("csv shape")
    return [dict(zip(header, line, strict=True)) for line in rows]


def _independent_rows(dataset: Dataset, relpath: str, data: bytes) -> list[dict]:
    """The rows of a landing file as the format documents them, or ``Unreadable``."""
    if relpath.endswith(".csv"):
        return _typed_rows(dataset, _csv_records(dataset, data))
    if relpath.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise Unreadable("gzip") from exc
    try:
        body = json.loads(data.decode("utf-8"))
        records = _records_of(body, dataset)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise Unreadable("envelope") from exc
    return _typed_rows(dataset, records)


def _typed_rows(dataset: Dataset, records: list) -> list[dict]:
    if not isinstance(records, list) or not (records or dataset.may_be_empty):
        raise Unreadable("no records")  # an empty list is data only where the format says so
    fields = {f.source: f for f in dataset.fields}
    rows = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not set(fields) <= set(record):
            raise Unreadable(f"record {number}")
        if set(record) - set(fields) - set(dataset.ignored_fields):
            raise Unreadable(f"record {number}: extra field")
        row = {"row_number": number}
        for source, f in fields.items():
            text = record[source]
            if not isinstance(text, str):
                raise Unreadable(f"record {number}: {source} not a string")
            if text in ("-", ""):
                if not f.nullable:
                    raise Unreadable(f"record {number}: {source} missing")
                row[f.column] = None
            else:
                row[f.column] = _value(f.kind, text)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- mutations
def _csv_bytes(dataset: Dataset, records: list[dict]) -> bytes:
    """A hand download of the same records: Korean headers, no thousands separators."""
    sources = list(dict.fromkeys(key for record in records for key in record))
    names = {f.source: (f.csv_aliases or (f.source,))[0] for f in dataset.fields}
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([names.get(s, s) for s in sources])
    for record in records:
        values = [record.get(s) for s in sources]
        writer.writerow(["" if v is None else str(v).replace(",", "") for v in values])
    return out.getvalue().encode("cp949", errors="replace")


def _dumps(body, compact: bool) -> bytes:
    if compact:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return json.dumps(body, ensure_ascii=False, indent=1).encode()


_RECORD_EDITS = (
    "delete_field",
    "add_field",
    "rename_field",
    "random_string",
    "edit_value",
    "random_number",
    "non_string",
)
_ROW_EDITS = ("duplicate_row", "reorder_rows", "drop_rows")
_BYTE_EDITS = ("byte_flip", "truncate", "insert_bytes", "encoding", "gzip")
MUTATIONS = (*_RECORD_EDITS, *_ROW_EDITS, *_BYTE_EDITS)


def _edit_record(draw, record: dict, kind: str) -> None:
    field = draw(st.sampled_from(sorted(record)))
    if kind == "delete_field":
        del record[field]
    elif kind == "add_field":
        record[draw(st.sampled_from(["ISU_NM2", "RANK", field + "2"]))] = record[field]
    elif kind == "rename_field":
        record[draw(st.sampled_from([field.lower(), field + "_", "X" + field]))] = record.pop(field)
    elif kind == "random_string":
        record[field] = draw(st.text(max_size=12))
    elif kind == "edit_value" and isinstance(record[field], str):
        text, at = record[field], draw(st.integers(0, len(record[field])))
        char = draw(st.sampled_from(list(",.-+ /0123456789eEA\u00a0\uff10")))
        cut = draw(st.sampled_from([(char, 0), (char, 1), ("", 1)]))  # insert, replace, delete
        record[field] = text[:at] + cut[0] + text[at + cut[1] :]
    elif kind == "random_number":
        number = draw(
            st.one_of(
                st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False)
            )
        )
        record[field] = f"{number:,}" if draw(st.booleans()) else str(number)
    elif kind == "non_string":
        record[field] = draw(st.one_of(st.none(), st.integers(), st.floats(), st.booleans()))


def _edit_bytes(draw, data: bytes, kind: str, text_codec: str) -> bytes:
    if kind == "byte_flip":
        flipped = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            flipped[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        return bytes(flipped)
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "insert_bytes":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if kind == "encoding":
        codec = draw(st.sampled_from(["cp949", "utf-8", "utf-16", "utf-8-sig", "latin-1"]))
        return data.decode(text_codec).encode(codec, errors="replace")
    packed = bytearray(gzip.compress(data, mtime=0))  # a compressed twin, maybe damaged
    if draw(st.booleans()):
        packed[draw(st.integers(0, len(packed) - 1))] ^= 0xFF
    return bytes(packed)


@st.composite
def mutated_file(draw, name: str, kind: str) -> tuple[str, bytes]:
    """The landing path and mutated bytes of one case: the fixture as the source's JSON or (KRX
    datasets) as a hand-downloaded CP949 CSV, with one mutation of ``kind``."""
    dataset = DATASETS[name]
    relpath = FIXTURES[name][0]
    body = _base_body(name)
    records = _records_of(body, dataset)
    as_csv = dataset.folder.startswith("krx/") and draw(st.integers(0, 3)) == 0
    if kind in _RECORD_EDITS:
        _edit_record(draw, records[draw(st.integers(0, len(records) - 1))], kind)
    elif kind == "duplicate_row":
        records.insert(draw(st.integers(0, len(records))), dict(draw(st.sampled_from(records))))
    elif kind == "reorder_rows":
        records[:] = draw(st.permutations(records))
    elif kind == "drop_rows":
        del records[draw(st.integers(0, len(records) - 1)) :]
    if as_csv:
        relpath = relpath.removesuffix(".json") + ".csv"
        data = _csv_bytes(dataset, records)
    else:
        data = _dumps(body, compact=draw(st.booleans()))
    if kind in _BYTE_EDITS and not (as_csv and kind == "gzip"):
        data = _edit_bytes(draw, data, kind, "cp949" if as_csv else "utf-8")
        if kind == "gzip":
            relpath += ".gz"
    return relpath, data


def _loaded_rows(table, dataset: Dataset) -> list[dict]:
    names = [f.column for f in dataset.fields] + ["row_number"]
    return table.rows.select(names).to_pylist()


def test_every_dataset_has_a_fuzz_fixture():
    assert set(FIXTURES) == set(DATASETS)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_mutated_files_are_rejected_by_a_rule_or_load_exactly_what_they_say(name):
    dataset = DATASETS[name]
    outcomes = {"json loaded": 0, "rejected": 0}
    if dataset.folder.startswith("krx/"):
        outcomes["csv loaded"] = 0
    with tempfile.TemporaryDirectory() as folder:
        for kind in MUTATIONS:
            _check_mutations(name, kind, Path(folder), outcomes)
    # every outcome occurs, so the property is exercised on each side and for both formats
    assert all(outcomes.values()), outcomes


def _check_mutations(name: str, kind: str, root: Path, outcomes: dict[str, int]) -> None:
    """The property on the cases of one kind of mutation of one dataset, each written under
    ``root`` and counted in ``outcomes``."""
    dataset = DATASETS[name]
    screen = Screen({}, {}, {}, None)

    @settings(
        max_examples=-(-EXAMPLES // len(MUTATIONS)),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=mutated_file(name, kind))
    def check(case):
        relpath, data = case
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        try:
            batch = prepare_batch(root, [relpath], screen)  # anything but a rejection fails
        finally:
            path.unlink()
        rejections = {**batch.rejected, **batch.invalid}
        if rejections:
            (rejection,) = rejections.values()
            assert rejection.relpath == relpath and str(rejection).startswith(relpath)
            assert all(re.match(r"[a-z_]+", f.check) for f in rejection.failures), rejection
            outcomes["rejected"] += 1
            return
        (table,) = batch.tables
        try:
            expected = _independent_rows(dataset, relpath, data)
        except Unreadable as exc:
            raise AssertionError(f"loaded a file the format does not allow: {exc}") from None
        assert _loaded_rows(table, dataset) == expected
        outcomes["csv loaded" if relpath.endswith(".csv") else "json loaded"] += 1

    check()
