"""The KRX request codes and the dbt facts the dataset entries share."""

from __future__ import annotations

from typing import Any

import yaml

from pipelines.settings import DBT_PROJECT_DIR
from pipelines.sources.datasets.model import Dataset, Field, Period

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


def market_session(name: str, **entry: Any) -> Dataset:
    """The shape most KRX screens share: one file per market (``market`` folder) and session,
    the records under ``OutBlock_1`` unless ``list_key`` says otherwise, the session's date from
    the file name."""
    shape: dict[str, Any] = {
        "folder": f"krx/{name}",
        "segments": MARKETS,
        "segment_column": "market",
        "period": Period.SESSION,
        "list_key": ("OutBlock_1",),
        "file_date_column": "trade_date",
        "row_date_field": None,
    }
    return Dataset(name=name, **(shape | entry))


def dbt_var(name: str) -> Any:
    """A var of ``dbt_project/dbt_project.yml``, where a fact the models share is stated."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return project["vars"][name]


#: KRX publishes the balances of session T on session T+2.
BALANCE_LAG_SESSIONS: int = dbt_var("balance_publication_lag_sessions")
