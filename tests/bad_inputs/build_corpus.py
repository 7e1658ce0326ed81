"""Rebuild the bad-input corpus from the real KRX fixtures (run this file with Python).

Each case is a folder laid out as a landing zone holding one broken file, plus an entry in
``cases.json``: the file, the rule id it must be rejected with, and the row (null = whole file).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from pipelines.sample.generator import ecos_body, ecos_usdkrw_row

HERE = Path(__file__).parent
REAL = HERE.parent / "fixtures" / "krx-real" / "landing"
FORMATS = REAL.parent / "formats"

BALANCE = "krx/short_balance/KOSPI/2021-01-27.json"
TRADING = "krx/short_trading/KOSPI/2021-01-25.json"
INDEX = "krx/index_ohlcv/KOSPI/2021.json"
MASTER = "krx/securities/2026-01-25.json"
ECOS = "ecos/usdkrw/2021.json"
PRICES = "krx/stock_ohlcv/KOSPI/2021-01-22.json"
FOREIGN = "krx/foreign_holdings/KOSPI/2021-01-18.json"
INVESTORS = "krx/short_investor_value/KOSPI/2020.json"
BALANCE_TOP50 = "krx/short_balance_top50/KOSPI/2020-01-06.json"
TRADING_TOP50 = "krx/short_trading_top50/KOSPI/2020-01-06.json"
OVERHEAT = "krx/short_overheat/2025.json"
CONSTITUENTS = "krx/index_constituents/KOSPI200/2021-01-29.json"
THEME = "krx/index_constituents/SEMI15/2021-01-29.json"
SECTORS = "krx/sectors/KOSPI/2021-01-29.json"
INVESTOR_VOLUMES = "krx/short_investor_volume/KOSPI/2020.json"


def _real(relpath: str, rows: int = 5) -> dict:
    body = json.loads((REAL / relpath).read_text(encoding="utf-8"))
    key = "output" if "output" in body else "OutBlock_1"
    body[key] = body[key][:rows]
    return body


def _format(name: str, rows: int = 5) -> dict:
    """A recorded answer of ``formats/`` (edge cases outside the landing layout)."""
    body = json.loads((FORMATS / name).read_text(encoding="utf-8"))
    key = "output" if "output" in body else "OutBlock_1"
    body[key] = body[key][:rows]
    return body


def _overheat() -> dict:
    """A designation list in the documented MDCSTAT30901 format (no response was recorded)."""
    row = {
        "BAS_DD": "2025/04/01",
        "MKTACT_APPL_DD": "2025/04/02",
        "RELEAS_DD": "2025/04/03",
        "ISU_CD": "005930",
        "ISU_CD_FULL": "KR7005930003",
        "MKT_ID": "STK",
        "VALU_PD_TR_DYS": "40",
        "TDD_SRTSELL_WT": "21.50",
        "PRC_YD": "-3.80",
        "TDD_SRTSELL_TRDVAL_INCDEC_RT": "4.10",
        "VALU_PD_AVG_SRTSELL_WT": "3.20",
        "SRTSELL_IMPSBL_DTEC_TP_NM": "4유형",
    }
    return {"OutBlock_1": [row], "CURRENT_DATETIME": "2026.01.25 PM 08:30:33"}


def _sectors() -> dict:
    """An industry answer in the documented MDCSTAT03901 format (no response was recorded)."""
    rows = [
        ("005930", "삼성전자", "전기전자", "82,000", "-1,700", "-2.03", "489,522,169,100,000", "2"),
        ("000660", "SK하이닉스", "전기전자", "122,500", "-500", "-0.41", "89,180,289,712,500", "2"),
        ("051910", "LG화학", "화학", "888,000", "-3,000", "-0.34", "62,686,330,296,000", "2"),
    ]
    fields = ("ISU_SRT_CD", "ISU_ABBRV", "IDX_IND_NM", "TDD_CLSPRC", "CMPPREVDD_PRC", "FLUC_RT")
    return {
        "block1": [
            dict(
                zip(fields, row[:6], strict=True),
                MKT_TP_NM="KOSPI",
                MKTCAP=row[6],
                FLUC_TP_CD=row[7],
            )
            for row in rows
        ],
        "CURRENT_DATETIME": "2021.01.29 PM 08:30:33",
    }


def _rekeyed(body: dict, key: str) -> dict:
    """The same records under another list key."""
    records = body.get("output", body.get("OutBlock_1"))
    return {key: records, "CURRENT_DATETIME": body["CURRENT_DATETIME"]}


def _ecos() -> dict:
    return ecos_body(
        [
            ecos_usdkrw_row(day, value)
            for day, value in [
                ("20210104", "1086.5"),
                ("20210105", "1,087.90"),
                ("20210106", "1087.1"),
                ("20210107", "1092.4"),
            ]
        ]
    )


def _dump(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _rows(body: dict) -> list[dict]:
    if "StatisticSearch" in body:
        return body["StatisticSearch"]["row"]
    key = next(k for k in ("output", "OutBlock_1", "block1") if k in body)
    return body[key]


def _edit(relpath: str, change, base=None) -> bytes:
    body = copy.deepcopy(base if base is not None else _real(relpath))
    change(_rows(body))
    return _dump(body)


def _set(row: int, **values):
    def change(rows):
        rows[row - 1].update(values)

    return change


def _csv(header: list[str], rows: list[list[str]], encoding: str = "cp949") -> bytes:
    lines = [",".join(header), *(",".join(r) for r in rows)]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


CSV_HEADER = ["종목코드", "종목명", "공매도잔고", "상장주식수", "공매도금액", "시가총액", "비중"]
CSV_ROWS = [
    ["095570", "AJ네트웍스", "33055", "46822295", "134864400", "191034963600", "0.07"],
    ["006840", "AK홀딩스", "4575", "13247561", "131760000", "381529756800", "0.03"],
]


def cases() -> list[tuple[str, str, bytes, str, int | None]]:
    """(case, landing path, bytes, expected rule id, expected row)."""

    def duplicate(rows):
        rows.append(dict(rows[1]))

    def drop_ratio(rows):
        for r in rows:
            del r["BAL_RTO"]

    def extra(rows):
        rows[2]["SHRT_TP"] = "1"

    def swap_dates(rows):
        rows[1]["TRD_DD"], rows[2]["TRD_DD"] = rows[2]["TRD_DD"], rows[1]["TRD_DD"]

    def swap_times(rows):
        rows[1]["TIME"], rows[2]["TIME"] = rows[2]["TIME"], rows[1]["TIME"]

    balance_csv = BALANCE.replace(".json", ".csv")
    investors = _format("MDCSTAT30301_value_KOSPI_2020-01-06_2020-01-10.json")
    return [
        ("bad_number", BALANCE, _edit(BALANCE, _set(2, BAL_QTY="4,5x5")), "integer_format", 2),
        (
            "overflow",
            BALANCE,
            _edit(BALANCE, _set(3, LIST_SHRS="99,999,999,999,999,999,999")),
            "integer_overflow",
            3,
        ),
        (
            "negative_quantity",
            BALANCE,
            _edit(BALANCE, _set(1, BAL_QTY="-33,055", BAL_AMT="-134,864,400", BAL_RTO="0.00")),
            "negative_value",
            1,
        ),
        (
            "fractional_shares",
            BALANCE,
            _edit(BALANCE, _set(4, LIST_SHRS="17,283,906.5")),
            "integer_format",
            4,
        ),
        (
            "balance_above_listed",
            BALANCE,
            _edit(
                BALANCE, _set(2, BAL_QTY="13,247,562", BAL_AMT="381,529,785,600", BAL_RTO="100.00")
            ),
            "balance_above_listed_shares",
            2,
        ),
        (
            "ratio_inconsistent",
            BALANCE,
            _edit(BALANCE, _set(1, BAL_RTO="0.70")),
            "ratio_inconsistent",
            1,
        ),
        (
            "amount_inconsistent",
            BALANCE,
            _edit(BALANCE, _set(3, BAL_AMT="449,196,001,000")),
            "price_inconsistent",
            3,
        ),
        ("duplicate_ticker", BALANCE, _edit(BALANCE, duplicate), "duplicate_row", 2),
        (
            "ticker_wrong_length",
            BALANCE,
            _edit(BALANCE, _set(2, ISU_CD="06840")),
            "ticker_format",
            2,
        ),
        ("ticker_lowercase", BALANCE, _edit(BALANCE, _set(5, ISU_CD="13893k")), "ticker_format", 5),
        ("missing_column", BALANCE, _edit(BALANCE, drop_ratio), "missing_column", 1),
        ("extra_column", BALANCE, _edit(BALANCE, extra), "unexpected_column", 3),
        ("value_not_string", BALANCE, _edit(BALANCE, _set(1, BAL_QTY=33055)), "not_a_string", 1),
        (
            "missing_required_value",
            BALANCE,
            _edit(BALANCE, _set(2, LIST_SHRS="-")),
            "missing_value",
            2,
        ),
        (
            "renamed_csv_header",
            balance_csv,
            _csv([*CSV_HEADER[:2], "공매도잔량", *CSV_HEADER[3:]], CSV_ROWS),
            "unknown_header",
            None,
        ),
        ("csv_wrong_encoding", balance_csv, _csv(CSV_HEADER, CSV_ROWS, "utf-8"), "encoding", None),
        (
            "csv_utf8_bom",
            balance_csv,
            b"\xef\xbb\xbf" + _csv(CSV_HEADER, CSV_ROWS, "utf-8"),
            "encoding",
            None,
        ),
        (
            "csv_short_row",
            balance_csv,
            _csv(CSV_HEADER, [CSV_ROWS[0], CSV_ROWS[1][:5]]),
            "csv_shape",
            2,
        ),
        ("json_utf8_bom", BALANCE, b"\xef\xbb\xbf" + _dump(_real(BALANCE)), "encoding", None),
        ("truncated_json", BALANCE, _dump(_real(BALANCE))[:700], "json_syntax", None),
        ("empty_file", BALANCE, b"", "json_syntax", None),
        (
            "empty_session_answer",
            BALANCE,
            b'{"OutBlock_1":[],"CURRENT_DATETIME":"2026.01.25 PM 08:30:43"}',
            "empty_answer",
            None,
        ),
        (
            "html_page",
            BALANCE,
            "<!DOCTYPE html><html><body>서비스 제공 불가능</body></html>".encode(),
            "html_page",
            None,
        ),
        ("logout_body", BALANCE, b"LOGOUT", "logout_answer", None),
        (
            "holiday_file",
            "krx/short_balance/KOSPI/2021-01-01.json",
            _dump(_real(BALANCE)),
            "not_a_session",
            None,
        ),
        (
            "weekend_file",
            "krx/short_balance/KOSPI/2021-01-30.json",
            _dump(_real(BALANCE)),
            "not_a_session",
            None,
        ),
        (
            "wrong_market_folder",
            "krx/short_balance/KOSDAQ/2021-01-27.json",
            _dump(_real(BALANCE, rows=40)),
            "wrong_market_folder",
            None,
        ),
        (
            "unknown_market_folder",
            "krx/short_balance/KONEX/2021-01-27.json",
            _dump(_real(BALANCE)),
            "path_layout",
            None,
        ),
        (
            "bad_file_name",
            "krx/short_balance/KOSPI/2021-1-27.json",
            _dump(_real(BALANCE)),
            "path_layout",
            None,
        ),
        ("corrupt_gzip", BALANCE + ".gz", b"\x1f\x8bnot really gzip", "gzip", None),
        (
            "trading_volume_split",
            TRADING,
            _edit(TRADING, _set(1, UPTICKRULE_EXCPT_TRDVOL="31")),
            "volume_split",
            1,
        ),
        (
            "trading_short_above_total",
            TRADING,
            _edit(TRADING, _set(2, ACC_TRDVOL="78", TRDVOL_WT="101.28")),
            "short_above_total",
            2,
        ),
        ("index_bad_date", INDEX, _edit(INDEX, _set(2, TRD_DD="2021/13/45")), "date_format", 2),
        ("index_dates_out_of_order", INDEX, _edit(INDEX, swap_dates), "date_order", 3),
        (
            "index_row_on_holiday",
            INDEX,
            _edit(INDEX, _set(1, TRD_DD="2021/01/30")),
            "not_a_session",
            1,
        ),
        (
            "index_row_outside_year",
            INDEX.replace("2021", "2020"),
            _dump(_real(INDEX)),
            "date_outside_file",
            1,
        ),
        ("master_bad_isin", MASTER, _edit(MASTER, _set(3, ISU_CD="KR709512000")), "isin_format", 3),
        (
            "ecos_no_data",
            ECOS,
            _dump({"RESULT": {"CODE": "INFO-200", "MESSAGE": "해당하는 데이터가 없습니다."}}),
            "source_error",
            None,
        ),
        (
            "ecos_bad_key",
            ECOS,
            _dump({"RESULT": {"CODE": "INFO-100", "MESSAGE": "인증키가 유효하지 않습니다."}}),
            "source_error",
            None,
        ),
        (
            "ecos_decimal_comma",
            ECOS,
            _edit(ECOS, _set(3, DATA_VALUE="1087,1"), _ecos()),
            "number_format",
            3,
        ),
        ("ecos_dates_out_of_order", ECOS, _edit(ECOS, swap_times, _ecos()), "date_order", 3),
        (
            "ecos_wrong_series",
            ECOS,
            _edit(ECOS, _set(4, ITEM_CODE1="0000053"), _ecos()),
            "series_code",
            4,
        ),
        *section9_cases(investors),
    ]


def section9_cases(investors: dict) -> list[tuple[str, str, bytes, str, int | None]]:
    """Prices, foreign holdings, short trading by investor type, KRX's top-50 screens and its
    designation list (SPEC section 9)."""
    balance_top50 = _format("MDCSTAT30801_top50_KOSPI_2020-01-06.json")
    trading_top50 = _format("MDCSTAT30401_top50_share_KOSPI_2020-01-06.json")
    constituents = _format("MDCSTAT00601_KOSPI_all_2021-01-29.json")
    return [
        (
            "prices_bad_number",
            PRICES,
            _edit(PRICES, _set(2, ACC_TRDVAL="9l0,274")),
            "integer_format",
            2,
        ),
        (
            "prices_bad_ticker",
            PRICES,
            _edit(PRICES, _set(3, ISU_SRT_CD="0955")),
            "ticker_format",
            3,
        ),
        (
            "prices_ohlc_inconsistent",
            PRICES,
            _edit(PRICES, _set(1, TDD_LWPRC="4,200")),  # above the open of 4,190
            "ohlc_inconsistent",
            1,
        ),
        (
            "prices_market_cap_inconsistent",
            PRICES,
            _edit(PRICES, _set(4, MKTCAP="1,000")),
            "price_inconsistent",
            4,
        ),
        (
            "prices_negative_value",
            PRICES,
            _edit(PRICES, _set(2, ACC_TRDVAL="-910,274,405")),
            "negative_value",
            2,
        ),
        (
            "prices_other_market",
            PRICES,
            _edit(PRICES, _set(5, MKT_ID="KSQ")),
            "request_mismatch",
            5,
        ),
        (
            "prices_wrong_list_key",
            PRICES,
            _dump(_rekeyed(_real(PRICES), "output")),
            "envelope",
            None,
        ),
        (
            "prices_holiday_answer_on_a_session",
            PRICES,
            _dump(_format("MDCSTAT01501_holiday_ALL_2021-01-03.json")),
            "holiday_answer",
            None,
        ),
        (
            "foreign_share_above_100",
            FOREIGN,
            _edit(FOREIGN, _set(2, FORN_SHR_RT="100.64")),
            "ratio_range",
            2,
        ),
        (
            "foreign_qty_above_listed",
            FOREIGN,
            _edit(FOREIGN, _set(1, FORN_HD_QTY="46,822,296")),
            "foreign_above_listed_shares",
            1,
        ),
        (
            "foreign_limited_only_answer",
            FOREIGN,
            _dump(_format("MDCSTAT03701_limited_only_KOSPI_2021-01-18.json", rows=18)),
            "limited_only_answer",
            None,
        ),
        (
            "foreign_wrong_list_key",
            FOREIGN,
            _dump(_rekeyed(_real(FOREIGN), "OutBlock_1")),
            "envelope",
            None,
        ),
        (
            "investors_not_summing",
            INVESTORS,
            _edit(INVESTORS, _set(2, STR_CONST_VAL5="354,071,626,216"), investors),
            "investor_sum",
            2,
        ),
        (
            "investors_row_on_holiday",
            INVESTORS,
            _edit(INVESTORS, _set(1, TRD_DD="2020/01/11"), investors),
            "not_a_session",
            1,
        ),
        (
            "investors_negative_value",
            INVESTORS,
            _edit(
                INVESTORS,
                _set(3, STR_CONST_VAL2="-1", STR_CONST_VAL5="1"),
                investors,
            ),
            "negative_value",
            3,
        ),
        (
            "top50_rank_out_of_order",
            BALANCE_TOP50,
            _edit(BALANCE_TOP50, _set(2, RANK="3"), balance_top50),
            "rank_order",
            2,
        ),
        (
            "top50_other_market",
            BALANCE_TOP50,
            _edit(BALANCE_TOP50, _set(4, MKT_ID="KSQ"), balance_top50),
            "request_mismatch",
            4,
        ),
        (
            "top50_share_inconsistent",
            TRADING_TOP50,
            _edit(TRADING_TOP50, _set(5, TDD_SRTSELL_WT="27.07"), trading_top50),
            "ratio_inconsistent",
            5,
        ),
        (
            "constituents_bad_ticker",
            CONSTITUENTS,
            _edit(CONSTITUENTS, _set(2, ISU_SRT_CD="00066"), constituents),
            "ticker_format",
            2,
        ),
        (
            "constituents_wrong_list_key",
            CONSTITUENTS,
            _dump(_rekeyed(constituents, "OutBlock_1")),
            "envelope",
            None,
        ),
        (
            "theme_bad_number",
            THEME,
            _edit(THEME, _set(3, MKTCAP="62,686,33O,296,000"), constituents),
            "integer_format",
            3,
        ),
        (
            "sectors_bad_ticker",
            SECTORS,
            _edit(SECTORS, _set(1, ISU_SRT_CD="5930"), _sectors()),
            "ticker_format",
            1,
        ),
        (
            "sectors_missing_industry",
            SECTORS,
            _edit(SECTORS, lambda rows: rows[1].pop("IDX_IND_NM"), _sectors()),
            "missing_column",
            2,
        ),
        (
            "investor_volumes_not_summing",
            INVESTOR_VOLUMES,
            _edit(INVESTOR_VOLUMES, _set(2, STR_CONST_VAL5="1"), investors),
            "investor_sum",
            2,
        ),
        (
            "overheat_ban_before_detection",
            OVERHEAT,
            _edit(OVERHEAT, _set(1, MKTACT_APPL_DD="2025/04/01"), _overheat()),
            "ban_not_after_detection",
            1,
        ),
        (
            "overheat_unknown_type",
            OVERHEAT,
            _edit(OVERHEAT, _set(1, SRTSELL_IMPSBL_DTEC_TP_NM="기타"), _overheat()),
            "designation_type",
            1,
        ),
        (
            "overheat_unknown_field",
            OVERHEAT,
            _edit(OVERHEAT, _set(1, ISU_ABBRV="삼성전자"), _overheat()),
            "unexpected_column",
            1,
        ),
    ]


def main() -> None:
    manifest = []
    for case, relpath, data, rule, row in cases():
        folder = HERE / case
        if folder.exists():
            shutil.rmtree(folder)
        target = folder / relpath
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
        manifest.append({"case": case, "file": relpath, "rule": rule, "row": row})
    good = HERE / "_good_ecos" / ECOS
    good.parent.mkdir(parents=True, exist_ok=True)
    good.write_bytes(_dump(_ecos()))
    (HERE / "cases.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
