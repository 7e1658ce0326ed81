"""Short trading by investor type (KRX MDCSTAT30301): the recorded range file (and the same
range started on a Sunday) loads only sessions, the mart holds the JSON's figures and compares
the investor total with the market's summed per-ticker short value, and the fetcher's request."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipelines.raw.load import load_files
from tests.fake_sources import REAL
from tests.helpers import REAL_LANDING, krx_int, records, rows
from tests.section9 import (
    FORMATS,
    INVESTOR_VALUE,
    INVESTOR_VALUE_FROM_SUNDAY,
    data_requests_after_login,
    fetch_recorded,
    place,
)

VALUE_2020 = "krx/short_investor_value/KOSPI/2020.json"
INVESTOR_COLUMNS = {
    "institutions": "STR_CONST_VAL1",
    "individuals": "STR_CONST_VAL2",
    "foreigners": "STR_CONST_VAL3",
    "others": "STR_CONST_VAL4",
}
WARNING = "fct_short_trades_by_investor_total_matches_ticker_short_values"


def _day(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y/%m/%d").date()


@pytest.mark.parametrize("recorded", [INVESTOR_VALUE, INVESTOR_VALUE_FROM_SUNDAY])
def test_a_range_file_loads_its_sessions_with_the_json_figures(recorded, tmp_path):
    source = records(FORMATS / recorded)
    root = tmp_path / "landing"
    place(root, FORMATS / recorded, VALUE_2020)
    with duckdb.connect(str(tmp_path / "krx.duckdb")) as con:
        report = load_files(con, root, [VALUE_2020])
        got = con.execute(
            "select list(trd_dd order by trd_dd), sum(str_const_val1), sum(str_const_val2), "
            "sum(str_const_val3), sum(str_const_val4), sum(str_const_val5), list(distinct market) "
            "from raw.krx_short_investor_value"
        ).fetchone()
    sessions = [dt.date(2020, 1, d) for d in (6, 7, 8, 9, 10)]  # 2020-01-05 was a Sunday
    assert report.loaded == {VALUE_2020: 5}
    assert got == (
        sorted(_day(r["TRD_DD"]) for r in source),
        *(sum(krx_int(r[f"STR_CONST_VAL{i}"]) for r in source) for i in range(1, 6)),
        ["KOSPI"],
    )
    assert got[0] == sessions


def test_the_mart_holds_each_investor_type_s_value_and_share(section9):
    source = {_day(r["TRD_DD"]): r for r in records(FORMATS / INVESTOR_VALUE)}
    got = rows(
        section9.db,
        "select trade_date, investor_type, short_value_krw, short_value_share_pct, "
        "market_short_value_krw, short_volume from marts.fct_short_trades_by_investor "
        "where market = 'KOSPI' order by trade_date, investor_type",
    )
    assert len(got) == 4 * len(source)
    for day, investor_type, value, share, total, volume in got:
        record = source[day]
        assert value == krx_int(record[INVESTOR_COLUMNS[investor_type]])
        assert total == krx_int(record["STR_CONST_VAL5"])
        assert share == pytest.approx(100 * value / total)
        assert volume is None  # no volume file was landed
    foreign = {day: share for day, kind, _, share, _, _ in got if kind == "foreigners"}
    assert foreign[dt.date(2020, 1, 6)] == pytest.approx(100 * 119_387_130_395 / 257_844_241_420)


def test_the_investor_total_is_compared_with_the_summed_ticker_values(section9):
    # the real KOSPI trading file of 2021-01-25, landed as 2020-01-06 (tests.section9)
    trading = records(REAL_LANDING / "krx/short_trading/KOSPI/2021-01-25.json")
    tickers_value = sum(krx_int(r["CVSRTSELL_TRDVAL"]) for r in trading)
    tickers_volume = sum(krx_int(r["CVSRTSELL_TRDVOL"]) for r in trading)
    investors = {_day(r["TRD_DD"]): r for r in records(FORMATS / INVESTOR_VALUE)}
    total = krx_int(investors[dt.date(2020, 1, 6)]["STR_CONST_VAL5"])
    got = rows(
        section9.db,
        "select trade_date, count(*), any_value(market_short_value_krw), "
        "any_value(ticker_short_value_krw), any_value(short_value_difference_krw), "
        "any_value(ticker_short_volume), any_value(short_volume_difference) "
        "from marts.fct_short_trades_by_investor group by trade_date order by trade_date",
    )
    assert got[0] == (
        dt.date(2020, 1, 6),
        4,
        total,
        tickers_value,
        total - tickers_value,
        tickers_volume,
        None,
    )
    # no trading file on the other days: no comparison, not a difference of the whole total
    assert [g[3:] for g in got[1:]] == [(None, None, None, None)] * 4

    # the warning check fails (as a warning) on exactly that day, and its rows show both figures
    result = next(r for r in section9.build.results if r["unique_id"].split(".")[2] == WARNING)
    assert (result["status"], result["failures"]) == ("warn", 4)
    compiled = next(section9.target.glob(f"compiled/**/{WARNING}.sql")).read_text()
    shown = rows(
        section9.db,
        f"select distinct trade_date, market_short_value_krw, ticker_short_value_krw "
        f"from ({compiled})",
    )
    assert shown == [(dt.date(2020, 1, 6), total, tickers_value)]


@pytest.mark.parametrize(("measure", "code"), [("value", "2"), ("volume", "1")])
def test_the_fetcher_asks_one_range_per_market_year_and_measure(
    measure,
    code,
    fake,
    credentials,
    tmp_path,
    monkeypatch,
):
    days = (dt.date(2020, 1, 6), dt.date(2020, 1, 10))
    recorded = {("MDCSTAT30301", "2020", "1"): f"formats/{INVESTOR_VALUE}"} if code == "2" else {}
    dataset = f"short_investor_{measure}"
    report = fetch_recorded(fake, tmp_path, monkeypatch, dataset, days, recorded)
    assert report.ok, report.summary()
    assert data_requests_after_login(fake) == [
        {
            "bld": "dbms/MDC/STAT/srt/MDCSTAT30301",
            "locale": "ko_KR",
            "mktTpCd": market,
            "inqCondTpCd": code,
            "strtDd": "20200106",
            "endDd": "20200110",
        }
        for market in ("1", "2")
    ]
    assert report.written == [f"krx/{dataset}/{market}/2020.json" for market in ("KOSPI", "KOSDAQ")]
    if recorded:
        assert (tmp_path / VALUE_2020).read_bytes() == (
            REAL / "formats" / INVESTOR_VALUE
        ).read_bytes()
