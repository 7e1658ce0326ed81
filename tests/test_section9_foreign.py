"""Foreign holdings by ticker (KRX MDCSTAT03701, isuLmtRto=0): the real file through every
layer, the isuLmtRto=1 answer (only the limited tickers) rejected, and the fetcher's request."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipelines.raw.load import load_files
from tests.fake_sources import REAL
from tests.helpers import REAL_LANDING, krx_int, records, rows
from tests.section9 import (
    FORMATS,
    data_requests_after_login,
    fetch_recorded,
    place,
)

FOREIGN = "krx/foreign_holdings/KOSPI/2021-01-18.json"
LIMITED_ONLY = FORMATS / "MDCSTAT03701_limited_only_KOSPI_2021-01-18.json"


def test_the_real_holdings_file_loads_with_the_json_figures(tmp_path):
    source = records(REAL_LANDING / FOREIGN)
    with duckdb.connect(str(tmp_path / "krx.duckdb")) as con:
        report = load_files(con, REAL_LANDING, [FOREIGN])
        got = con.execute(
            "select count(*), sum(forn_hd_qty), sum(list_shrs), sum(forn_ord_lmt_qty), "
            "max(abs(forn_hd_qty / list_shrs * 100 - forn_shr_rt)) "
            "from raw.krx_foreign_holdings where trade_date = '2021-01-18' and market = 'KOSPI'"
        ).fetchone()
    assert report.loaded == {FOREIGN: 917}
    assert got[:4] == (
        len(source),
        sum(krx_int(r["FORN_HD_QTY"]) for r in source),
        sum(krx_int(r["LIST_SHRS"]) for r in source),
        sum(krx_int(r["FORN_ORD_LMT_QTY"]) for r in source),
    )
    assert got[4] <= 0.005 + 1e-9  # FORN_SHR_RT is the share rounded to two decimals


def test_fct_foreign_holdings_holds_the_json_shares(section9):
    source = {r["ISU_SRT_CD"]: r for r in records(REAL_LANDING / FOREIGN)}
    got = {
        ticker: (qty, share, limited, exhaustion)
        for ticker, qty, share, limited, exhaustion in rows(
            section9.db,
            "select ticker, foreign_qty, foreign_share_pct, has_foreign_limit, "
            "limit_exhaustion_pct from marts.fct_foreign_holdings "
            "where trade_date = '2021-01-18' and market = 'KOSPI'",
        )
    }
    assert got.keys() == source.keys()
    for ticker, record in source.items():
        qty, listed = krx_int(record["FORN_HD_QTY"]), krx_int(record["LIST_SHRS"])
        limit = krx_int(record["FORN_ORD_LMT_QTY"])
        assert got[ticker][0] == qty
        assert got[ticker][1] == pytest.approx(100 * qty / listed)
        assert got[ticker][3] == (pytest.approx(100 * qty / limit) if limit else None)
    # the tickers with a limit are exactly those KRX lists in its isuLmtRto=1 answer
    limited = {ticker for ticker, values in got.items() if values[2]}
    assert limited == {r["ISU_SRT_CD"] for r in records(LIMITED_ONLY)}
    assert len(limited) == 18


def test_the_limited_only_answer_is_rejected_and_the_good_file_keeps_its_rows(tmp_path):
    root = tmp_path / "landing"
    place(root, REAL_LANDING / FOREIGN, FOREIGN)
    with duckdb.connect(str(tmp_path / "krx.duckdb")) as con:
        assert load_files(con, root, [FOREIGN]).loaded == {FOREIGN: 917}
        place(root, LIMITED_ONLY, FOREIGN)  # KRX revised? No: the isuLmtRto=1 request
        report = load_files(con, root, [FOREIGN])
        kept = con.execute("select count(*) from raw.krx_foreign_holdings").fetchone()[0]
        recorded = con.execute(
            "select row_number, check_name from raw.rejected_rows where source_file = ?",
            [FOREIGN],
        ).fetchall()
    assert not report.loaded and kept == 917
    message = str(report.rejected[FOREIGN])
    assert message.startswith(f"{FOREIGN}: file: rule limited_only_answer")
    assert "isuLmtRto=1" in message
    assert [(row, check.split(":")[0]) for row, check in recorded] == [
        (None, "limited_only_answer")
    ]


def test_the_fetcher_asks_for_every_ticker_not_only_the_limited_ones(
    fake,
    credentials,
    tmp_path,
    monkeypatch,
):
    day = dt.date(2021, 1, 18)
    recorded = {("MDCSTAT03701", "20210118", "STK"): f"landing/{FOREIGN}"}
    report = fetch_recorded(fake, tmp_path, monkeypatch, "foreign_holdings", (day, day), recorded)
    assert report.ok, report.summary()
    assert data_requests_after_login(fake) == [
        {
            "bld": "dbms/MDC/STAT/standard/MDCSTAT03701",
            "locale": "ko_KR",
            "mktId": market,
            "searchType": "1",
            "isuLmtRto": "0",
            "trdDd": "20210118",
        }
        for market in ("STK", "KSQ")
    ]
    assert (tmp_path / FOREIGN).read_bytes() == (REAL / "landing" / FOREIGN).read_bytes()
