"""The datasets of the first release: short balances and trading by ticker, index levels and
constituents, the securities master, and ECOS's USD/KRW rate."""

from __future__ import annotations

from pipelines.sources.datasets.codes import (
    BALANCE_LAG_SESSIONS,
    CONSTITUENT_INDICES,
    INDICES,
    MARKET_IDS,
    SHORT_MARKET_TYPES,
    F,
    _index_params,
    market_session,
)
from pipelines.sources.datasets.model import Dataset, Kind, Period

SHORT_BALANCE = market_session(
    "short_balance",
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
    grain=("isu_cd",),
    description="Net short balance by ticker for one session (KRX screen 33001), published "
    f"T+{BALANCE_LAG_SESSIONS}.",
    request={"bld": "dbms/MDC/STAT/srt/MDCSTAT30501", "date_param": "trdDd"},
    segment_params=SHORT_MARKET_TYPES,
    publication_lag_sessions=BALANCE_LAG_SESSIONS,
)

SHORT_TRADING = market_session(
    "short_trading",
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
