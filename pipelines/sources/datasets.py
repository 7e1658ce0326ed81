"""The one table that describes every raw dataset: where its files live, how a response is
enveloped, which fields it carries and how each is typed.

Everything downstream (reader, coercion, pandera schemas, raw DDL, sample generator, fetcher,
landing-zone sensor) is driven by these entries: a new dataset is one entry here plus its rules
in ``pipelines.validation.schemas``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import PurePosixPath


class Kind(StrEnum):
    """How a source string is typed."""

    TICKER = "ticker"  # 6-character KRX short code, may contain capital letters
    TEXT = "text"
    INT = "int"  # integer with thousands separators, may be negative ("-1,700")
    FLOAT = "float"  # decimal with thousands separators
    DATE = "date"  # YYYY/MM/DD (KRX) or YYYYMMDD (ECOS); CSV also YYYY-MM-DD


#: How KRX and ECOS write a missing value.
MISSING = ("-", "")

#: DuckDB column type per kind.
DUCKDB_TYPES = {
    Kind.TICKER: "varchar",
    Kind.TEXT: "varchar",
    Kind.INT: "bigint",
    Kind.FLOAT: "double",
    Kind.DATE: "date",
}


class Period(StrEnum):
    """What one file covers."""

    SESSION = "session"  # one file per KRX session: ``YYYY-MM-DD``
    YEAR = "year"  # one range request per year: ``YYYY``
    SNAPSHOT = "snapshot"  # a dated snapshot taken on any calendar day: ``YYYY-MM-DD``


@dataclass(frozen=True)
class Field:
    """One field of a source record."""

    source: str  # name as KRX/ECOS returns it, e.g. ``BAL_QTY``
    kind: Kind
    nullable: bool = False  # "-" and "" are accepted and read as null
    csv_aliases: tuple[str, ...] = ()  # Korean headers of hand-downloaded CSV files

    @property
    def column(self) -> str:
        """Raw-layer column name: the source name in lower case."""
        return self.source.lower()


@dataclass(frozen=True)
class Dataset:
    """A raw dataset: one landing folder, one raw table."""

    name: str
    folder: str  # under the landing root, e.g. ``krx/short_balance``
    segments: tuple[str, ...]  # allowed sub-folders (markets or indices); () for none
    segment_column: str | None  # raw column holding the sub-folder, e.g. ``market``
    period: Period
    list_key: tuple[str, ...]  # path to the record list in the JSON body
    fields: tuple[Field, ...]
    file_date_column: str | None  # raw column holding the file's date (session/snapshot files)
    row_date_field: str | None  # source field holding each row's own date (range files)
    grain: tuple[str, ...]  # raw columns unique within one file
    description: str
    request: dict[str, str]  # the source request, for the fetcher and the docs
    segment_params: dict[str, dict[str, str]]  # extra request parameters per sub-folder
    ignored_fields: tuple[str, ...] = ()  # fields the source sends that are not loaded
    required_every_period: bool = True  # the completeness check expects a file per period
    publication_lag_sessions: int = 0  # sessions after the period before the source has it
    #: Fields a non-session answer fills with "-" for every record (KRX MDCSTAT01501 lists
    #: every ticker on a holiday): such a file is a holiday answer, like an empty list.
    holiday_fields: tuple[str, ...] = ()
    #: Source field -> request parameter whose value every record repeats (``MKT_ID`` holds the
    #: ``mktId`` asked for): a record with another value answers another request.
    echo_fields: dict[str, str] = field(default_factory=dict)
    #: An empty list is an answer, not a failed request (a year without designations).
    may_be_empty: bool = False

    @property
    def table(self) -> str:
        """Raw table name (schema ``raw``)."""
        return f"{self.folder.split('/')[0]}_{self.name}"

    @property
    def asset_name(self) -> str:
        return self.table

    @property
    def field_by_source(self) -> dict[str, Field]:
        return {f.source: f for f in self.fields}

    @property
    def ticker_field(self) -> str | None:
        """The source field holding the ticker (6-character short code), if any."""
        return next((f.source for f in self.fields if f.kind is Kind.TICKER), None)

    @property
    def identity_columns(self) -> tuple[tuple[str, str], ...]:
        """Columns taken from the file path, with their DuckDB types."""
        cols: list[tuple[str, str]] = []
        if self.file_date_column:
            cols.append((self.file_date_column, "date"))
        if self.segment_column:
            cols.append((self.segment_column, "varchar"))
        return tuple(cols)


MARKETS = ("KOSPI", "KOSDAQ")
INDICES = ("KOSPI", "KOSPI200", "KOSDAQ", "KOSDAQ150")
CONSTITUENT_INDICES = ("KOSPI200", "KOSDAQ150")
#: Theme and sector indices whose constituents give a ticker's themes.
THEME_INDICES = ("BATTERY10", "BIO10", "GAME10", "INTERNET10", "SEMI15", "KRXSEMI", "KRXHEALTH")

#: KRX market request codes (``mktId``) of the market folders.
MARKET_IDS = {"KOSPI": {"mktId": "STK"}, "KOSDAQ": {"mktId": "KSQ"}}
#: KRX short-selling screens' market codes (``mktTpCd``) of the market folders.
SHORT_MARKET_TYPES = {"KOSPI": {"mktTpCd": "1"}, "KOSDAQ": {"mktTpCd": "2"}}

#: KRX index request codes (``indIdx``, ``indIdx2``).
INDEX_CODES = {
    "KOSPI": ("1", "001"),
    "KOSPI200": ("1", "028"),
    "KOSDAQ": ("2", "001"),
    "KOSDAQ150": ("2", "203"),
    "BATTERY10": ("5", "412"),  # KRX 2차전지 TOP 10
    "BIO10": ("5", "413"),  # KRX 바이오 TOP 10
    "GAME10": ("5", "415"),  # KRX 게임 TOP 10
    "INTERNET10": ("5", "414"),  # KRX 인터넷 TOP 10
    "SEMI15": ("5", "422"),  # KRX 반도체 Top 15
    "KRXSEMI": ("5", "044"),  # KRX 반도체
    "KRXHEALTH": ("5", "045"),  # KRX 헬스케어
}


def _index_params(names: tuple[str, ...]) -> dict[str, dict[str, str]]:
    return {n: {"indIdx": INDEX_CODES[n][0], "indIdx2": INDEX_CODES[n][1]} for n in names}


F = Field
SHORT_BALANCE = Dataset(
    name="short_balance",
    folder="krx/short_balance",
    segments=MARKETS,
    segment_column="market",
    period=Period.SESSION,
    list_key=("OutBlock_1",),
    fields=(
        F("ISU_CD", Kind.TICKER, csv_aliases=("종목코드", "단축코드")),
        F("ISU_ABBRV", Kind.TEXT, csv_aliases=("종목명", "종목약명")),
        F(
            "BAL_QTY",
            Kind.INT,
            csv_aliases=("공매도잔고", "공매도잔고수량", "순보유잔고수량", "공매도순보유잔고수량"),
        ),
        F("LIST_SHRS", Kind.INT, csv_aliases=("상장주식수",)),
        F(
            "BAL_AMT",
            Kind.INT,
            csv_aliases=("공매도금액", "공매도잔고금액", "순보유잔고금액", "공매도순보유잔고금액"),
        ),
        F("MKTCAP", Kind.INT, csv_aliases=("시가총액",)),
        F("BAL_RTO", Kind.FLOAT, csv_aliases=("비중", "공매도잔고비중", "순보유잔고비중")),
    ),
    file_date_column="trade_date",
    row_date_field=None,
    grain=("isu_cd",),
    description="Net short balance by ticker for one session (KRX screen 33001), published T+2.",
    request={"bld": "dbms/MDC/STAT/srt/MDCSTAT30501", "date_param": "trdDd"},
    segment_params=SHORT_MARKET_TYPES,
    publication_lag_sessions=2,  # balances of day T are published on session T+2
)

SHORT_TRADING = Dataset(
    name="short_trading",
    folder="krx/short_trading",
    segments=MARKETS,
    segment_column="market",
    period=Period.SESSION,
    list_key=("OutBlock_1",),
    fields=(
        F("ISU_CD", Kind.TICKER, csv_aliases=("종목코드", "단축코드")),
        F("ISU_ABBRV", Kind.TEXT, csv_aliases=("종목명", "종목약명")),
        F("SECUGRP_NM", Kind.TEXT, nullable=True, csv_aliases=("증권구분",)),
        F(
            "CVSRTSELL_TRDVOL",
            Kind.INT,
            csv_aliases=("공매도거래량", "거래량_공매도", "공매도거래량_전체"),
        ),
        F(
            "UPTICKRULE_APPL_TRDVOL",
            Kind.INT,
            csv_aliases=("업틱룰적용거래량", "공매도거래량_업틱룰적용"),
        ),
        F(
            "UPTICKRULE_EXCPT_TRDVOL",
            Kind.INT,
            csv_aliases=("업틱룰예외거래량", "공매도거래량_업틱룰예외"),
        ),
        F("ACC_TRDVOL", Kind.INT, csv_aliases=("총거래량", "거래량_전체", "거래량_매수")),
        F("TRDVOL_WT", Kind.FLOAT, csv_aliases=("거래량비중", "거래량_비중")),
        F(
            "CVSRTSELL_TRDVAL",
            Kind.INT,
            csv_aliases=("공매도거래대금", "거래대금_공매도", "공매도거래대금_전체"),
        ),
        F(
            "UPTICKRULE_APPL_TRDVAL",
            Kind.INT,
            csv_aliases=("업틱룰적용거래대금", "공매도거래대금_업틱룰적용"),
        ),
        F(
            "UPTICKRULE_EXCPT_TRDVAL",
            Kind.INT,
            csv_aliases=("업틱룰예외거래대금", "공매도거래대금_업틱룰예외"),
        ),
        F("ACC_TRDVAL", Kind.INT, csv_aliases=("총거래대금", "거래대금_전체", "거래대금_매수")),
        F("TRDVAL_WT", Kind.FLOAT, csv_aliases=("거래대금비중", "거래대금_비중")),
    ),
    file_date_column="trade_date",
    row_date_field=None,
    grain=("isu_cd",),
    description="Short selling volume and value by ticker for one session (KRX screen 32001).",
    request={
        "bld": "dbms/MDC/STAT/srt/MDCSTAT30101",
        "date_param": "trdDd",
        "inqCond": "STMFRTSCIFDRFS",
    },
    segment_params=MARKET_IDS,
)

INDEX_OHLCV = Dataset(
    name="index_ohlcv",
    folder="krx/index_ohlcv",
    segments=INDICES,
    segment_column="index_code",
    period=Period.YEAR,
    list_key=("output",),
    fields=(
        F("TRD_DD", Kind.DATE, csv_aliases=("일자",)),
        F("CLSPRC_IDX", Kind.FLOAT, csv_aliases=("종가",)),
        F("FLUC_TP_CD", Kind.TEXT, nullable=True, csv_aliases=("등락구분",)),
        F("PRV_DD_CMPR", Kind.FLOAT, nullable=True, csv_aliases=("대비",)),
        F("UPDN_RATE", Kind.FLOAT, nullable=True, csv_aliases=("등락률",)),
        F("OPNPRC_IDX", Kind.FLOAT, nullable=True, csv_aliases=("시가",)),
        F("HGPRC_IDX", Kind.FLOAT, nullable=True, csv_aliases=("고가",)),
        F("LWPRC_IDX", Kind.FLOAT, nullable=True, csv_aliases=("저가",)),
        F("ACC_TRDVOL", Kind.INT, nullable=True, csv_aliases=("거래량",)),
        F("ACC_TRDVAL", Kind.INT, nullable=True, csv_aliases=("거래대금",)),
        F("MKTCAP", Kind.INT, nullable=True, csv_aliases=("상장시가총액", "시가총액")),
    ),
    file_date_column=None,
    row_date_field="TRD_DD",
    grain=("trd_dd",),
    description="Daily index levels, one range request per index and year (KRX screen 11003).",
    request={"bld": "dbms/MDC/STAT/standard/MDCSTAT00301", "range_params": "strtDd,endDd"},
    segment_params=_index_params(INDICES),
)

INDEX_CONSTITUENTS = Dataset(
    name="index_constituents",
    folder="krx/index_constituents",
    segments=CONSTITUENT_INDICES,
    segment_column="index_code",
    period=Period.SESSION,
    list_key=("output",),
    fields=(
        F("ISU_SRT_CD", Kind.TICKER, csv_aliases=("종목코드",)),
        F("ISU_ABBRV", Kind.TEXT, csv_aliases=("종목명",)),
        F("TDD_CLSPRC", Kind.INT, nullable=True, csv_aliases=("종가",)),
        F("FLUC_TP_CD", Kind.TEXT, nullable=True, csv_aliases=("등락구분",)),
        F("STR_CMP_PRC", Kind.INT, nullable=True, csv_aliases=("대비",)),
        F("FLUC_RT", Kind.FLOAT, nullable=True, csv_aliases=("등락률",)),
        F("MKTCAP", Kind.INT, nullable=True, csv_aliases=("상장시가총액", "시가총액")),
        F("IDX_ID", Kind.TEXT, nullable=True, csv_aliases=("지수ID",)),
    ),
    file_date_column="snapshot_date",
    row_date_field=None,
    grain=("isu_srt_cd",),
    description="Index constituents on one session (KRX screen 11006); no weights.",
    request={"bld": "dbms/MDC/STAT/standard/MDCSTAT00601", "date_param": "trdDd"},
    segment_params=_index_params(CONSTITUENT_INDICES),
    required_every_period=False,  # snapshots are taken when membership may change
)

#: The same screen for the theme indices, beside KOSPI 200 and KOSDAQ 150 in the landing folder
#: but in a table of its own: themes are sectors, not the indices short-sale rules refer to.
THEME_CONSTITUENTS = replace(
    INDEX_CONSTITUENTS,
    name="theme_constituents",
    segments=THEME_INDICES,
    description="Theme-index constituents on one session (KRX screen 11006, theme and KRX "
    "sector indices); no weights.",
    segment_params=_index_params(THEME_INDICES),
)

SECURITIES = Dataset(
    name="securities",
    folder="krx/securities",
    segments=(),
    segment_column=None,
    period=Period.SNAPSHOT,
    list_key=("OutBlock_1",),
    fields=(
        F("ISU_CD", Kind.TEXT, csv_aliases=("표준코드",)),
        F("ISU_SRT_CD", Kind.TICKER, csv_aliases=("단축코드", "종목코드")),
        F("ISU_NM", Kind.TEXT, csv_aliases=("한글 종목명", "한글종목명")),
        F("ISU_ABBRV", Kind.TEXT, csv_aliases=("한글 종목약명", "한글종목약명")),
        F("ISU_ENG_NM", Kind.TEXT, nullable=True, csv_aliases=("영문 종목명", "영문종목명")),
        F("LIST_DD", Kind.DATE, csv_aliases=("상장일",)),
        F("MKT_TP_NM", Kind.TEXT, csv_aliases=("시장구분",)),
        F("SECUGRP_NM", Kind.TEXT, nullable=True, csv_aliases=("증권구분",)),
        F("SECT_TP_NM", Kind.TEXT, nullable=True, csv_aliases=("소속부",)),
        F("KIND_STKCERT_TP_NM", Kind.TEXT, nullable=True, csv_aliases=("주식종류",)),
        F("PARVAL", Kind.TEXT, nullable=True, csv_aliases=("액면가",)),
        F("LIST_SHRS", Kind.INT, csv_aliases=("상장주식수",)),
    ),
    file_date_column="snapshot_date",
    row_date_field=None,
    grain=("isu_srt_cd",),
    description="Securities master snapshot, all markets (KRX screen 12005).",
    request={"bld": "dbms/MDC/STAT/standard/MDCSTAT01901", "mktId": "ALL"},
    segment_params={},
    required_every_period=False,
)

USDKRW = Dataset(
    name="usdkrw",
    folder="ecos/usdkrw",
    segments=(),
    segment_column=None,
    period=Period.YEAR,
    list_key=("StatisticSearch", "row"),
    fields=(
        F("STAT_CODE", Kind.TEXT),
        F("STAT_NAME", Kind.TEXT, nullable=True),
        F("ITEM_CODE1", Kind.TEXT),
        F("ITEM_NAME1", Kind.TEXT, nullable=True),
        F("UNIT_NAME", Kind.TEXT, nullable=True),
        F("TIME", Kind.DATE),
        F("DATA_VALUE", Kind.FLOAT),
    ),
    file_date_column=None,
    row_date_field="TIME",
    grain=("time",),
    description="USD/KRW reference rate from the Bank of Korea (ECOS 731Y001 / 0000001, daily).",
    request={"stat_code": "731Y001", "cycle": "D", "item_code": "0000001"},
    segment_params={},
    ignored_fields=(
        "ITEM_CODE2",
        "ITEM_NAME2",
        "ITEM_CODE3",
        "ITEM_NAME3",
        "ITEM_CODE4",
        "ITEM_NAME4",
        "WGT",
    ),
)

STOCK_OHLCV = Dataset(
    name="stock_ohlcv",
    folder="krx/stock_ohlcv",
    segments=MARKETS,
    segment_column="market",
    period=Period.SESSION,
    list_key=("OutBlock_1",),
    fields=(
        F("ISU_SRT_CD", Kind.TICKER),
        F("ISU_CD", Kind.TEXT),  # ISIN
        F("ISU_ABBRV", Kind.TEXT),
        F("MKT_NM", Kind.TEXT),
        F("SECT_TP_NM", Kind.TEXT, nullable=True),  # KOSDAQ board, not an industry
        F("TDD_CLSPRC", Kind.INT),
        F("FLUC_TP_CD", Kind.TEXT, nullable=True),
        F("CMPPREVDD_PRC", Kind.INT, nullable=True),
        F("FLUC_RT", Kind.FLOAT, nullable=True),
        F("TDD_OPNPRC", Kind.INT),  # 0 (like high and low) when the ticker did not trade
        F("TDD_HGPRC", Kind.INT),
        F("TDD_LWPRC", Kind.INT),
        F("ACC_TRDVOL", Kind.INT),
        F("ACC_TRDVAL", Kind.INT),
        F("MKTCAP", Kind.INT),
        F("LIST_SHRS", Kind.INT),
        F("MKT_ID", Kind.TEXT),
    ),
    file_date_column="trade_date",
    row_date_field=None,
    grain=("isu_srt_cd",),
    description="Prices, volume, value and market cap by ticker for one session (KRX screen "
    "12001).",
    request={"bld": "dbms/MDC/STAT/standard/MDCSTAT01501", "date_param": "trdDd"},
    segment_params=MARKET_IDS,
    required_every_period=False,  # until the sample landing zone carries it
    holiday_fields=(
        "TDD_CLSPRC",
        "TDD_OPNPRC",
        "TDD_HGPRC",
        "TDD_LWPRC",
        "ACC_TRDVOL",
        "ACC_TRDVAL",
        "MKTCAP",
    ),
    echo_fields={"MKT_ID": "mktId"},
)

FOREIGN_HOLDINGS = Dataset(
    name="foreign_holdings",
    folder="krx/foreign_holdings",
    segments=MARKETS,
    segment_column="market",
    period=Period.SESSION,
    list_key=("output",),
    fields=(
        F("ISU_SRT_CD", Kind.TICKER),
        F("ISU_ABBRV", Kind.TEXT),
        F("TDD_CLSPRC", Kind.INT),
        F("FLUC_TP_CD", Kind.TEXT, nullable=True),
        F("CMPPREVDD_PRC", Kind.INT, nullable=True),
        F("FLUC_RT", Kind.FLOAT, nullable=True),
        F("LIST_SHRS", Kind.INT),
        F("FORN_HD_QTY", Kind.INT),
        F("FORN_SHR_RT", Kind.FLOAT),
        F("FORN_ORD_LMT_QTY", Kind.INT),  # = LIST_SHRS for a ticker without a foreign limit
        F("FORN_LMT_EXHST_RT", Kind.FLOAT),
    ),
    file_date_column="trade_date",
    row_date_field=None,
    grain=("isu_srt_cd",),
    description="Foreign holdings and limits by ticker for one session, every ticker "
    "(KRX screen 12023, isuLmtRto=0).",
    request={
        "bld": "dbms/MDC/STAT/standard/MDCSTAT03701",
        "date_param": "trdDd",
        "searchType": "1",
        "isuLmtRto": "0",
    },
    segment_params=MARKET_IDS,
    required_every_period=False,  # until the sample landing zone carries it
)

SECTORS = Dataset(
    name="sectors",
    folder="krx/sectors",
    segments=MARKETS,
    segment_column="market",
    period=Period.SESSION,
    list_key=("block1",),
    fields=(
        F("ISU_SRT_CD", Kind.TICKER),
        F("ISU_ABBRV", Kind.TEXT),
        F("MKT_TP_NM", Kind.TEXT),
        F("IDX_IND_NM", Kind.TEXT),  # the KRX industry
        F("TDD_CLSPRC", Kind.INT),
        F("CMPPREVDD_PRC", Kind.INT, nullable=True),
        F("FLUC_RT", Kind.FLOAT, nullable=True),
        F("MKTCAP", Kind.INT),
        F("FLUC_TP_CD", Kind.TEXT, nullable=True),
    ),
    file_date_column="snapshot_date",
    row_date_field=None,
    grain=("isu_srt_cd",),
    description="KRX industry by ticker on one session (KRX screen 12025). Format unverified: "
    "no response was recorded, the fields come from public client code and are read strictly.",
    request={"bld": "dbms/MDC/STAT/standard/MDCSTAT03901", "date_param": "trdDd"},
    segment_params=MARKET_IDS,
    required_every_period=False,  # snapshots, taken when the classification may change
)

#: MDCSTAT30301 fields: short trading of one market and session by investor type.
_INVESTOR_FIELDS = (
    F("TRD_DD", Kind.DATE),
    F("STR_CONST_VAL1", Kind.INT),  # institutions
    F("STR_CONST_VAL2", Kind.INT),  # individuals
    F("STR_CONST_VAL3", Kind.INT),  # foreigners
    F("STR_CONST_VAL4", Kind.INT),  # others
    F("STR_CONST_VAL5", Kind.INT),  # total
)


def _investor_dataset(measure: str, code: str) -> Dataset:
    """Short trading by investor type, one range request per market and year, for ``measure``
    (``volume`` or ``value``, KRX's ``inqCondTpCd``)."""
    return Dataset(
        name=f"short_investor_{measure}",
        folder=f"krx/short_investor_{measure}",
        segments=MARKETS,
        segment_column="market",
        period=Period.YEAR,
        list_key=("OutBlock_1",),
        fields=_INVESTOR_FIELDS,
        file_date_column=None,
        row_date_field="TRD_DD",
        grain=("trd_dd",),
        description=f"Short-selling {measure} of one market by investor type per session, one "
        "range request per market and year (KRX screen 32003).",
        request={
            "bld": "dbms/MDC/STAT/srt/MDCSTAT30301",
            "range_params": "strtDd,endDd",
            "inqCondTpCd": code,
        },
        segment_params=SHORT_MARKET_TYPES,
        required_every_period=False,  # until the sample landing zone carries it
    )


SHORT_BALANCE_TOP50 = Dataset(
    name="short_balance_top50",
    folder="krx/short_balance_top50",
    segments=MARKETS,
    segment_column="market",
    period=Period.SESSION,
    list_key=("OutBlock_1",),
    fields=(
        F("RANK", Kind.INT),
        F("ISU_CD", Kind.TICKER),
        F("ISU_CD2", Kind.TEXT),  # ISIN
        F("MKT_ID", Kind.TEXT),
        F("ISU_ABBRV", Kind.TEXT),
        F("BAL_QTY", Kind.INT),
        F("LIST_SHRS", Kind.INT),
        F("BAL_AMT", Kind.INT),
        F("MKTCAP", Kind.INT),
        F("BAL_RTO", Kind.FLOAT),
    ),
    file_date_column="trade_date",
    row_date_field=None,
    grain=("isu_cd",),
    description="KRX's top 50 tickers of one market by short balance to listed shares for one "
    "session (KRX screen 32008), ranked by the exact ratio; published T+2.",
    request={"bld": "dbms/MDC/STAT/srt/MDCSTAT30801", "date_param": "trdDd"},
    segment_params=SHORT_MARKET_TYPES,
    required_every_period=False,  # a reconciliation source, fetched when wanted
    publication_lag_sessions=2,
)

SHORT_TRADING_TOP50 = Dataset(
    name="short_trading_top50",
    folder="krx/short_trading_top50",
    segments=MARKETS,
    segment_column="market",
    period=Period.SESSION,
    list_key=("OutBlock_1",),
    fields=(
        F("RANK", Kind.INT),
        F("ISU_CD", Kind.TICKER),
        F("ISU_CD_FULL", Kind.TEXT),  # ISIN
        F("MKT_ID", Kind.TEXT),
        F("ISU_ABBRV", Kind.TEXT),
        F("CVSRTSELL_TRDVAL", Kind.INT),
        F("ACC_TRDVAL", Kind.INT),
        F("TDD_SRTSELL_WT", Kind.FLOAT),  # today's short share of value, %
        F("TDD_SRTSELL_TRDVAL_INCDEC_RT", Kind.FLOAT),  # short value / its 40-session average
        F("VALU_PD_AVG_SRTSELL_WT", Kind.FLOAT),  # 40-session average share, %
        F("VALU_PD_CMP_TDD_SRTSELL_RTO", Kind.FLOAT),  # today's share / the average share
        F("PRC_YD", Kind.FLOAT),  # price change, %
    ),
    file_date_column="trade_date",
    row_date_field=None,
    grain=("isu_cd",),
    description="KRX's top 50 tickers of one market by short share of trading value for one "
    "session (KRX screen 32004), with KRX's own 40-session statistics.",
    request={"bld": "dbms/MDC/STAT/srt/MDCSTAT30401", "date_param": "trdDd"},
    segment_params=SHORT_MARKET_TYPES,
    required_every_period=False,  # a reconciliation source, fetched when wanted
)

SHORT_OVERHEAT = Dataset(
    name="short_overheat",
    folder="krx/short_overheat",
    segments=(),
    segment_column=None,
    period=Period.YEAR,
    list_key=("OutBlock_1",),
    fields=(
        F("BAS_DD", Kind.DATE),  # detection day
        F("MKTACT_APPL_DD", Kind.DATE),  # ban day
        F("RELEAS_DD", Kind.DATE),  # first day shorting is allowed again
        F("ISU_CD", Kind.TICKER),
        F("ISU_CD_FULL", Kind.TEXT),  # ISIN
        F("MKT_ID", Kind.TEXT),
        F("VALU_PD_TR_DYS", Kind.INT),  # sessions in the 40-session window
        F("TDD_SRTSELL_WT", Kind.FLOAT),
        F("PRC_YD", Kind.FLOAT),
        F("TDD_SRTSELL_TRDVAL_INCDEC_RT", Kind.FLOAT),
        F("VALU_PD_AVG_SRTSELL_WT", Kind.FLOAT),
        F("SRTSELL_IMPSBL_DTEC_TP_NM", Kind.TEXT),  # type 1-4, or an extension
    ),
    file_date_column=None,
    row_date_field="BAS_DD",
    grain=("isu_cd", "bas_dd"),
    description="KRX's overheated short-selling designations of all markets, one range request "
    "per year (KRX screen 32009). Format unverified: no response was recorded, the fields come "
    "from public client code and are read strictly.",
    request={
        "bld": "dbms/MDC/STAT/srt/MDCSTAT30901",
        "range_params": "strtDd,endDd",
        "searchType": "1",
        "mktTpCd": "0",
        "isuCd": "",
    },
    segment_params={},
    required_every_period=False,  # the rule exists from 2017-03-27
    may_be_empty=True,  # no designations in a year of market-wide bans (2024)
)

SHORT_INVESTOR_VOLUME = _investor_dataset("volume", "1")
SHORT_INVESTOR_VALUE = _investor_dataset("value", "2")

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        SHORT_BALANCE,
        SHORT_TRADING,
        INDEX_OHLCV,
        INDEX_CONSTITUENTS,
        SECURITIES,
        USDKRW,
        THEME_CONSTITUENTS,
        STOCK_OHLCV,
        FOREIGN_HOLDINGS,
        SECTORS,
        SHORT_INVESTOR_VOLUME,
        SHORT_INVESTOR_VALUE,
        SHORT_BALANCE_TOP50,
        SHORT_TRADING_TOP50,
        SHORT_OVERHEAT,
    )
}

#: Lineage columns every raw table carries after the typed fields.
LINEAGE_COLUMNS = (
    ("source_file", "varchar"),
    ("file_sha256", "varchar"),
    ("row_number", "integer"),
    ("ingested_at", "timestamp"),
)

_STEM = {
    Period.SESSION: re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    Period.SNAPSHOT: re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    Period.YEAR: re.compile(r"^(\d{4})$"),
}
SUFFIXES = (".json", ".json.gz", ".csv")


class PathError(ValueError):
    """A landing path that does not follow the layout of SPEC section 2."""


@dataclass(frozen=True)
class LandingFile:
    """The request identity a landing path carries."""

    dataset: Dataset
    relpath: str  # POSIX path relative to the landing root
    segment: str | None
    period_start: dt.date  # the file's date, or January 1 of its year
    period_end: dt.date  # the same date, or December 31 of its year
    suffix: str

    @property
    def file_date(self) -> dt.date | None:
        return None if self.dataset.period is Period.YEAR else self.period_start

    def __reduce__(self):
        """Pickled as its path and parsed again on the other side, so a file read in a worker
        process refers to the very ``Dataset`` objects of ``DATASETS``."""
        return parse_landing_path, (self.relpath,)


@lru_cache(maxsize=1 << 16)
def parse_landing_path(relpath: str) -> LandingFile:
    """Parse ``krx/short_balance/KOSPI/2021-01-27.json`` into its identity, or raise PathError.

    Only names that match the layout exactly are accepted, so nothing from outside reaches SQL
    or the filesystem unvalidated. Results are cached: discovery, the sensor and the loader
    parse the same few thousand paths again and again (errors are not cached).
    """
    path = PurePosixPath(relpath)
    if path.is_absolute() or ".." in path.parts:
        raise PathError(f"{relpath}: not a relative landing path")
    suffix = next((s for s in SUFFIXES if path.name.endswith(s)), None)
    if suffix is None:
        raise PathError(f"{relpath}: unknown suffix (expected one of {', '.join(SUFFIXES)})")
    stem = path.name[: -len(suffix)]
    for dataset in DATASETS.values():
        base = PurePosixPath(dataset.folder)
        if path.parts[: len(base.parts)] != base.parts:
            continue
        rest = path.parts[len(base.parts) :]
        expected = 2 if dataset.segments else 1
        if len(rest) != expected:
            raise PathError(
                f"{relpath}: expected {dataset.folder}/"
                f"{'{' + ','.join(dataset.segments) + '}/' if dataset.segments else ''}"
                f"<date>{suffix}"
            )
        segment = rest[0] if dataset.segments else None
        if dataset.segments and segment not in dataset.segments:
            siblings = [d for d in DATASETS.values() if d.folder == dataset.folder]
            if any(segment in d.segments for d in siblings):
                continue  # another dataset of the same folder
            segments = [seg for d in siblings for seg in d.segments]
            raise PathError(
                f"{relpath}: unknown folder {segment!r} (expected one of {', '.join(segments)})"
            )
        match = _STEM[dataset.period].match(stem)
        if not match:
            pattern = "YYYY" if dataset.period is Period.YEAR else "YYYY-MM-DD"
            raise PathError(f"{relpath}: file name must be {pattern}{suffix}")
        try:
            if dataset.period is Period.YEAR:
                year = int(match.group(1))
                start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
            else:
                start = end = dt.date(*map(int, match.groups()))
        except ValueError as exc:
            raise PathError(f"{relpath}: invalid date in file name ({exc})") from None
        return LandingFile(dataset, str(path), segment, start, end, suffix)
    raise PathError(f"{relpath}: not under any dataset folder")


def landing_relpath(
    dataset: Dataset, day: dt.date, segment: str | None = None, suffix: str = ".json"
) -> str:
    """The landing path for a dataset's file of ``day`` (its year for range datasets)."""
    stem = str(day.year) if dataset.period is Period.YEAR else day.isoformat()
    parts = [dataset.folder, *([segment] if segment else []), f"{stem}{suffix}"]
    return "/".join(parts)
