"""The datasets beside the balances: prices, foreign holdings, industries and themes, and short
trading by investor type."""

from __future__ import annotations

from dataclasses import replace

from pipelines.sources.datasets.codes import (
    MARKET_IDS,
    MARKETS,
    SHORT_MARKET_TYPES,
    THEME_INDICES,
    F,
    _index_params,
    market_session,
)
from pipelines.sources.datasets.model import Dataset, Kind, Period
from pipelines.sources.datasets.short_selling import INDEX_CONSTITUENTS

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

STOCK_OHLCV = market_session(
    "stock_ohlcv",
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
    grain=("isu_srt_cd",),
    description="Prices, volume, value and market cap by ticker for one session (KRX screen "
    "12001).",
    request={"bld": "dbms/MDC/STAT/standard/MDCSTAT01501", "date_param": "trdDd"},
    segment_params=MARKET_IDS,
    required_every_period=True,
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

FOREIGN_HOLDINGS = market_session(
    "foreign_holdings",
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
    required_every_period=True,
)

SECTORS = market_session(
    "sectors",
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
        required_every_period=True,
    )


SHORT_INVESTOR_VOLUME = _investor_dataset("volume", "1")
SHORT_INVESTOR_VALUE = _investor_dataset("value", "2")
