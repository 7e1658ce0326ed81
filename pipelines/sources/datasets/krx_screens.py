"""KRX's own published figures, kept to reconcile the warehouse with: the top-50 screens by
balance ratio and by short share, and the overheated short-selling designations."""

from __future__ import annotations

from pipelines.sources.datasets.codes import (
    BALANCE_LAG_SESSIONS,
    SHORT_MARKET_TYPES,
    F,
    market_session,
)
from pipelines.sources.datasets.model import Dataset, Field, Kind, Period


def _ranked(isin: str) -> tuple[Field, ...]:
    """The fields a top-50 screen's rows start with: rank, ticker, ISIN (each screen names it
    its own way), market and name."""
    return (
        F("RANK", Kind.INT),
        F("ISU_CD", Kind.TICKER),
        F(isin, Kind.TEXT),
        F("MKT_ID", Kind.TEXT),
        F("ISU_ABBRV", Kind.TEXT),
    )


SHORT_BALANCE_TOP50 = market_session(
    "short_balance_top50",
    fields=(
        *_ranked("ISU_CD2"),
        F("BAL_QTY", Kind.INT),
        F("LIST_SHRS", Kind.INT),
        F("BAL_AMT", Kind.INT),
        F("MKTCAP", Kind.INT),
        F("BAL_RTO", Kind.FLOAT),
    ),
    grain=("isu_cd",),
    description="KRX's top 50 tickers of one market by short balance to listed shares for one "
    "session (KRX screen 32008), ranked by the exact ratio; published T+2.",
    request={"bld": "dbms/MDC/STAT/srt/MDCSTAT30801", "date_param": "trdDd"},
    segment_params=SHORT_MARKET_TYPES,
    required_every_period=False,  # a reconciliation source, fetched when wanted
    publication_lag_sessions=BALANCE_LAG_SESSIONS,
)

SHORT_TRADING_TOP50 = market_session(
    "short_trading_top50",
    fields=(
        *_ranked("ISU_CD_FULL"),
        F("CVSRTSELL_TRDVAL", Kind.INT),
        F("ACC_TRDVAL", Kind.INT),
        F("TDD_SRTSELL_WT", Kind.FLOAT),  # today's short share of value, %
        F("TDD_SRTSELL_TRDVAL_INCDEC_RT", Kind.FLOAT),  # short value / its 40-session average
        F("VALU_PD_AVG_SRTSELL_WT", Kind.FLOAT),  # 40-session average share, %
        F("VALU_PD_CMP_TDD_SRTSELL_RTO", Kind.FLOAT),  # today's share / the average share
        F("PRC_YD", Kind.FLOAT),  # price change, %
    ),
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
