"""The raw layer on the real KRX fixtures: values against figures computed from the JSON."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.raw.load import load_files, load_landing
from pipelines.sources.reader import read_file
from tests.helpers import REAL_LANDING, REAL_ROOT, krx_int, records, table_checksums

BALANCE = "krx/short_balance/KOSPI/2021-01-27.json"
TRADING_KOSDAQ = "krx/short_trading/KOSDAQ/2021-01-04.json"


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "krx.duckdb")) as connection:
        yield connection


def test_real_fixtures_load_with_the_json_figures(con):
    report = load_landing(con, REAL_LANDING)
    assert not report.rejected
    rows = records(REAL_LANDING / BALANCE)
    assert len(rows) == 919
    got = con.execute(
        "select count(*), sum(bal_amt), sum(bal_qty), sum(mktcap), "
        "count(*) filter (where length(isu_cd) = 6), "
        "count(*) filter (where regexp_matches(isu_cd, '[A-Z]')) "
        "from raw.krx_short_balance where trade_date = '2021-01-27' and market = 'KOSPI'"
    ).fetchone()
    letters = [r for r in rows if not r["ISU_CD"].isdigit()]
    assert got == (
        919,
        sum(krx_int(r["BAL_AMT"]) for r in rows),
        sum(krx_int(r["BAL_QTY"]) for r in rows),
        sum(krx_int(r["MKTCAP"]) for r in rows),
        919,
        len(letters),
    )
    assert len(letters) > 10 and "00104K" in {r["ISU_CD"] for r in letters}
    # BAL_RTO is qty / listed shares x 100 within KRX's two-decimal rounding
    worst = con.execute(
        "select max(abs(bal_qty / list_shrs * 100 - bal_rto)) from raw.krx_short_balance"
    ).fetchone()[0]
    assert worst <= 0.005 + 1e-9

    trading = records(REAL_LANDING / TRADING_KOSDAQ)
    got = con.execute(
        "select count(*), sum(cvsrtsell_trdval), sum(acc_trdvol), sum(uptickrule_excpt_trdvol) "
        "from raw.krx_short_trading where trade_date = '2021-01-04' and market = 'KOSDAQ'"
    ).fetchone()
    assert got == (
        1471,
        sum(krx_int(r["CVSRTSELL_TRDVAL"]) for r in trading),
        sum(krx_int(r["ACC_TRDVOL"]) for r in trading),
        sum(krx_int(r["UPTICKRULE_EXCPT_TRDVOL"]) for r in trading),
    )
    index = records(REAL_LANDING / "krx/index_ohlcv/KOSPI/2021.json")
    close, cap = con.execute(
        "select clsprc_idx, mktcap from raw.krx_index_ohlcv where trd_dd = '2021-01-27'"
    ).fetchone()
    source = next(r for r in index if r["TRD_DD"] == "2021/01/27")
    assert close == float(source["CLSPRC_IDX"].replace(",", ""))
    assert cap == krx_int(source["MKTCAP"])
    assert con.execute("select count(*) from raw.krx_securities").fetchone()[0] == 2882
    lineage = con.execute(
        "select min(row_number), max(row_number), count(distinct file_sha256), "
        "bool_and(ingested_at is not null) from raw.krx_short_balance"
    ).fetchone()
    assert lineage == (1, 919, 1, True)


def test_holiday_answer_is_an_empty_file_not_zero_balances(con, tmp_path):
    holiday = REAL_ROOT / "formats" / "MDCSTAT30101_holiday_KOSPI_2021-01-03.json"
    root = tmp_path / "landing"
    target = root / "krx/short_trading/KOSPI/2021-01-03.json"
    target.parent.mkdir(parents=True)
    shutil.copyfile(holiday, target)
    assert read_file(root, "krx/short_trading/KOSPI/2021-01-03.json").frame.height == 0
    report = load_landing(con, root)
    checks = [f.check for f in report.rejected["krx/short_trading/KOSPI/2021-01-03.json"].failures]
    assert any(c.startswith("not_a_session") for c in checks)
    assert any(c.startswith("empty_answer") for c in checks)
    assert con.execute("select count(*) from raw.krx_short_trading").fetchone()[0] == 0


def test_reloading_unchanged_files_changes_nothing(con):
    load_landing(con, REAL_LANDING)
    before = table_checksums(con)
    report = load_landing(con, REAL_LANDING)
    assert not report.loaded and len(report.unchanged) == 7
    assert table_checksums(con) == before


def test_a_revised_file_replaces_exactly_its_rows(con, tmp_path):
    root = tmp_path / "landing"
    shutil.copytree(REAL_LANDING, root)
    load_landing(con, root)
    others = con.execute("select count(*), sum(hash(t)) from raw.krx_short_trading t").fetchone()
    body = json.loads((root / BALANCE).read_text(encoding="utf-8"))
    rows = body["OutBlock_1"]
    del rows[10]  # KRX drops a ticker
    rows[0].update(BAL_QTY="66,110", BAL_AMT="269,728,800", BAL_RTO="0.14")  # and revises one
    (root / BALANCE).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    report = load_landing(con, root)
    assert list(report.loaded) == [BALANCE] and report.loaded[BALANCE] == 918
    got = con.execute(
        "select count(*), sum(bal_amt), count(distinct file_sha256) from raw.krx_short_balance"
    ).fetchone()
    assert got == (918, sum(krx_int(r["BAL_AMT"]) for r in rows), 1)
    assert (
        con.execute("select bal_qty from raw.krx_short_balance where isu_cd = '095570'").fetchone()[
            0
        ]
        == 66110
    )
    assert (
        con.execute("select count(*), sum(hash(t)) from raw.krx_short_trading t").fetchone()
        == others
    )


def _as_csv(relpath: Path) -> bytes:
    headers = {
        "ISU_CD": "종목코드",
        "ISU_ABBRV": "종목명",
        "BAL_QTY": "공매도잔고",
        "LIST_SHRS": "상장주식수",
        "BAL_AMT": "공매도금액",
        "MKTCAP": "시가총액",
        "BAL_RTO": "비중",
    }
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers.values())
    for row in records(relpath):
        writer.writerow([row[k].replace(",", "") for k in headers])
    return out.getvalue().encode("cp949")


def test_gzip_and_cp949_csv_load_the_same_rows_as_json(con, tmp_path):
    root = tmp_path / "landing"
    folder = root / "krx/short_balance/KOSPI"
    folder.mkdir(parents=True)
    source = REAL_LANDING / BALANCE
    shutil.copyfile(source, folder / "2021-01-27.json")
    (folder / "2021-01-28.json.gz").write_bytes(gzip.compress(source.read_bytes()))
    (folder / "2021-01-29.csv").write_bytes(_as_csv(source))
    report = load_landing(con, root)
    assert not report.rejected and sorted(report.loaded.values()) == [919, 919, 919]
    per_day = con.execute(
        "select trade_date, count(*), sum(hash(isu_cd, isu_abbrv, bal_qty, list_shrs, bal_amt, "
        "mktcap, bal_rto)) from raw.krx_short_balance group by 1 order by 1"
    ).fetchall()
    assert len({(n, h) for _, n, h in per_day}) == 1, per_day


def test_the_same_request_twice_is_rejected(con, tmp_path):
    root = tmp_path / "landing"
    folder = root / "krx/short_balance/KOSPI"
    folder.mkdir(parents=True)
    shutil.copyfile(REAL_LANDING / BALANCE, folder / "2021-01-27.json")
    (folder / "2021-01-27.csv").write_bytes(_as_csv(REAL_LANDING / BALANCE))
    report = load_landing(con, root)
    assert list(report.loaded) == ["krx/short_balance/KOSPI/2021-01-27.csv"]
    assert "rule duplicate_request" in str(report.rejected[BALANCE])
    assert con.execute("select count(*) from raw.krx_short_balance").fetchone()[0] == 919


def test_files_outside_the_partition_are_rejected(con):
    import datetime as dt

    report = load_files(
        con, REAL_LANDING, [BALANCE], window=(dt.date(2021, 1, 28), dt.date(2021, 1, 29))
    )
    assert "rule outside_partition" in str(report.rejected[BALANCE])
    assert con.execute("select count(*) from raw.krx_short_balance").fetchone()[0] == 0


def test_digits_outside_ascii_are_a_format_error(con, tmp_path):
    """Full-width and Arabic-Indic digits are digits to Unicode, not to KRX: the value is
    rejected as malformed (not as an overflow) and the file is not loaded."""
    root = tmp_path / "landing"
    (root / BALANCE).parent.mkdir(parents=True)
    body = json.loads((REAL_LANDING / BALANCE).read_text(encoding="utf-8"))
    body["OutBlock_1"][4]["BAL_QTY"] = "１２"
    body["OutBlock_1"][7]["LIST_SHRS"] = "٣,٤٥٦"
    (root / BALANCE).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    report = load_files(con, root, [BALANCE])
    failures = report.rejected[BALANCE].failures
    assert [(f.row_number, f.column, f.check.split(":")[0]) for f in failures] == [
        (5, "BAL_QTY", "integer_format"),
        (8, "LIST_SHRS", "integer_format"),
    ]
    assert con.execute("select count(*) from raw.krx_short_balance").fetchone() == (0,)
