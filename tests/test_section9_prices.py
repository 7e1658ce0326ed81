"""Prices by ticker (KRX MDCSTAT01501): the real file through every layer, the holiday answer
read as a non-session, the fetcher's request, and a build without the section-9 files."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb

from pipelines.raw.load import load_files, load_landing
from tests.fake_sources import REAL, Answer, reasons, run
from tests.helpers import REAL_LANDING, krx_int, records, rows
from tests.section9 import (
    FORMATS,
    build_warehouse,
    data_requests_after_login,
    fetch_recorded,
    place,
)

PRICES = "krx/stock_ohlcv/KOSPI/2021-01-22.json"
HOLIDAY = FORMATS / "MDCSTAT01501_holiday_ALL_2021-01-03.json"
SECTION9_MARTS = (
    "fct_stock_prices",
    "fct_foreign_holdings",
    "fct_short_trades_by_investor",
    "dim_security_sectors",
    "sector_short_balances",
)


def test_the_real_price_file_loads_with_the_json_figures(tmp_path):
    source = records(REAL_LANDING / PRICES)
    with duckdb.connect(str(tmp_path / "krx.duckdb")) as con:
        report = load_files(con, REAL_LANDING, [PRICES])
        got = con.execute(
            "select count(*), sum(acc_trdval), sum(acc_trdvol), sum(mktcap), sum(list_shrs), "
            "count(*) filter (where regexp_matches(isu_srt_cd, '[A-Z]')), "
            "count(distinct isu_cd) filter (where length(isu_cd) = 12) "
            "from raw.krx_stock_ohlcv where trade_date = '2021-01-22' and market = 'KOSPI'"
        ).fetchone()
    assert report.loaded == {PRICES: 917}
    assert got == (
        len(source),
        sum(krx_int(r["ACC_TRDVAL"]) for r in source),
        sum(krx_int(r["ACC_TRDVOL"]) for r in source),
        sum(krx_int(r["MKTCAP"]) for r in source),
        sum(krx_int(r["LIST_SHRS"]) for r in source),
        sum(not r["ISU_SRT_CD"].isdigit() for r in source),
        len(source),
    )


def test_fct_stock_prices_holds_the_json_figures(section9):
    source = records(REAL_LANDING / PRICES)
    traded = [r for r in source if krx_int(r["ACC_TRDVOL"]) > 0]
    got = rows(
        section9.db,
        "select count(*), sum(value_krw), sum(market_cap_krw), count(open), count(high), "
        "count(low), count(distinct market), min(trade_date) from marts.fct_stock_prices",
    )
    assert got == [
        (
            len(source),
            sum(krx_int(r["ACC_TRDVAL"]) for r in source),
            sum(krx_int(r["MKTCAP"]) for r in source),
            len(traded),
            len(traded),
            len(traded),
            1,
            dt.date(2021, 1, 22),
        )
    ]
    by_ticker = {r["ISU_SRT_CD"]: r for r in source}
    for ticker, open_, high, low, close in rows(
        section9.db,
        "select ticker, open, high, low, close from marts.fct_stock_prices "
        "where ticker in ('095570', '003280', '00104K')",
    ):
        record = by_ticker[ticker]
        expected = [krx_int(record[f]) for f in ("TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC")]
        if krx_int(record["ACC_TRDVOL"]) == 0:  # KRX prints 0: no price that day
            expected = [None, None, None]
        assert [open_, high, low, close] == [*expected, krx_int(record["TDD_CLSPRC"])]


def test_the_holiday_answer_is_a_non_session_never_rows_of_nulls(tmp_path):
    root = tmp_path / "landing"
    on_a_session = "krx/stock_ohlcv/KOSPI/2021-01-22.json"
    on_its_sunday = "krx/stock_ohlcv/KOSPI/2021-01-03.json"
    place(root, HOLIDAY, on_a_session)
    place(root, HOLIDAY, on_its_sunday)
    with duckdb.connect(str(tmp_path / "krx.duckdb")) as con:
        report = load_landing(con, root)
        loaded = con.execute("select count(*) from raw.krx_stock_ohlcv").fetchone()[0]
        recorded = con.execute(
            "select source_file, check_name from raw.rejected_rows where row_number is null "
            "order by all"
        ).fetchall()
    assert not report.loaded and loaded == 0
    message = str(report.rejected[on_a_session])
    assert message.startswith(f"{on_a_session}: file: rule holiday_answer")
    sunday = [f.check.split(":")[0] for f in report.rejected[on_its_sunday].failures]
    assert sunday == ["not_a_session", "holiday_answer"]
    assert [(f, c.split(":")[0]) for f, c in recorded] == [
        (on_its_sunday, "holiday_answer"),
        (on_its_sunday, "not_a_session"),
        (on_a_session, "holiday_answer"),
    ]


def test_a_build_without_the_section9_files_has_empty_marts(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(REAL_LANDING, landing)
    for folder in ("stock_ohlcv", "foreign_holdings"):
        shutil.rmtree(landing / "krx" / folder)
    built = build_warehouse(tmp_path, landing)
    # the real fixtures have no ECOS file: a gap (a warning), not a failure
    assert built.build.failures() == []
    counts = [rows(built.db, f"select count(*) from marts.{m}")[0][0] for m in SECTION9_MARTS]
    assert counts == [0] * len(SECTION9_MARTS)


def test_the_fetcher_asks_for_each_market_s_prices_after_logging_in(
    fake,
    credentials,
    tmp_path,
    monkeypatch,
):
    day = dt.date(2021, 1, 22)
    recorded = {("MDCSTAT01501", "20210122", "STK"): f"landing/{PRICES}"}
    report = fetch_recorded(fake, tmp_path, monkeypatch, "stock_ohlcv", (day, day), recorded)
    assert report.ok, report.summary()
    assert data_requests_after_login(fake) == [
        {
            "bld": "dbms/MDC/STAT/standard/MDCSTAT01501",
            "locale": "ko_KR",
            "mktId": market,
            "trdDd": "20210122",
        }
        for market in ("STK", "KSQ")
    ]
    assert report.written == [PRICES, "krx/stock_ohlcv/KOSDAQ/2021-01-22.json"]
    assert (tmp_path / PRICES).read_bytes() == (REAL / "landing" / PRICES).read_bytes()


def test_the_fetcher_saves_no_holiday_answer(fake, tmp_path):
    day = dt.date(2021, 1, 22)  # as on a closure the XKRX calendar would not know
    fake.krx_next = [Answer(200, HOLIDAY.read_bytes())]
    report = run(fake, tmp_path, day, day, ["stock_ohlcv"])
    assert "as for a non-session" in reasons(report)[PRICES]
    assert report.written == ["krx/stock_ohlcv/KOSDAQ/2021-01-22.json"]
    assert not (tmp_path / PRICES).exists()
