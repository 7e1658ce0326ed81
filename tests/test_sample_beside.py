"""The sample's files beside the balances (prices, foreign holdings, industries, themes, investor
types), read back from the landing files and checked against the balance and trading files."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from pipelines.calendar import sessions_between
from pipelines.regimes import regime_on
from pipelines.sample.generator import generate
from pipelines.sources.datasets.codes import THEME_INDICES

START, END = dt.date(2020, 1, 2), dt.date(2025, 7, 31)
MARKETS = ("KOSPI", "KOSDAQ")


def n(text: str) -> int:
    return int(text.replace(",", ""))


class Files:
    def __init__(self, root: Path):
        self.root = root

    def rows(self, folder: str, name: str, key: str) -> list[dict]:
        return orjson.loads((self.root / "krx" / folder / name).read_bytes())[key]

    def by_ticker(self, folder: str, market: str, day: dt.date, key: str, code: str) -> dict:
        return {r[code]: r for r in self.rows(f"{folder}/{market}", f"{day}.json", key)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Files:
    root = tmp_path_factory.mktemp("beside") / "landing"
    generate(root, START, END, seed=7)
    return Files(root)


def _checked_days() -> list[dt.date]:
    days = sessions_between(START, END)
    return [*days[::97], days[-3]]  # a spread over every regime; the last published balance


def test_prices_agree_with_the_trading_and_balance_files(demo):
    halted = [  # the days where some ticker did not trade (found in the bytes, parsed below)
        dt.date.fromisoformat(p.stem)
        for p in sorted((demo.root / "krx/stock_ohlcv/KOSDAQ").glob("*.json"))
        if b'"ACC_TRDVOL":"0"' in p.read_bytes()
    ]
    untraded = 0
    for day in sorted({*_checked_days(), *halted[:3]} - {END, sessions_between(START, END)[-2]}):
        for market in MARKETS:
            prices = demo.by_ticker("stock_ohlcv", market, day, "OutBlock_1", "ISU_SRT_CD")
            trades = demo.by_ticker("short_trading", market, day, "OutBlock_1", "ISU_CD")
            bal = demo.by_ticker("short_balance", market, day, "OutBlock_1", "ISU_CD")
            assert prices.keys() == trades.keys() == bal.keys()
            for code, p in prices.items():
                t, b = trades[code], bal[code]
                assert p["ACC_TRDVOL"] == t["ACC_TRDVOL"] and p["ACC_TRDVAL"] == t["ACC_TRDVAL"]
                close = n(b["MKTCAP"]) // n(b["LIST_SHRS"])
                assert n(p["TDD_CLSPRC"]) == close and p["MKTCAP"] == b["MKTCAP"]
                assert n(p["MKTCAP"]) == close * n(p["LIST_SHRS"])
                assert p["MKT_ID"] == {"KOSPI": "STK", "KOSDAQ": "KSQ"}[market]
                o, h, lo = n(p["TDD_OPNPRC"]), n(p["TDD_HGPRC"]), n(p["TDD_LWPRC"])
                if p["ACC_TRDVOL"] == "0":
                    untraded += 1
                    assert (o, h, lo) == (0, 0, 0) and p["CMPPREVDD_PRC"] == "0"
                else:
                    assert 0 < lo <= min(o, close) and max(o, close) <= h
                    change = n(p["CMPPREVDD_PRC"].lstrip("-")) * (
                        -1 if p["CMPPREVDD_PRC"].startswith("-") else 1
                    )
                    assert p["FLUC_TP_CD"] == ("1" if change > 0 else "2" if change < 0 else "3")
    assert untraded


def test_foreign_ownership_moves_and_a_few_tickers_carry_a_limit(demo):
    days = sessions_between(START, END)
    first = demo.by_ticker("foreign_holdings", "KOSPI", days[-21], "output", "ISU_SRT_CD")
    last = demo.by_ticker("foreign_holdings", "KOSPI", days[-1], "output", "ISU_SRT_CD")
    limited = [r for r in last.values() if r["FORN_ORD_LMT_QTY"] != r["LIST_SHRS"]]
    assert 0 < len(limited) < len(last) / 10
    for r in last.values():
        assert n(r["FORN_HD_QTY"]) <= n(r["FORN_ORD_LMT_QTY"]) <= n(r["LIST_SHRS"])
    moves = [
        float(last[c]["FORN_SHR_RT"]) - float(first[c]["FORN_SHR_RT"]) for c in last if c in first
    ]
    assert max(abs(m) for m in moves) > 3  # someone's share moved by points in 20 sessions
    assert sum(m != 0 for m in moves) > len(moves) / 2


def _industries(demo, day: dt.date) -> dict[str, str]:
    return {
        r["ISU_SRT_CD"]: r["IDX_IND_NM"]
        for market in MARKETS
        for r in demo.rows(f"sectors/{market}", f"{day}.json", "block1")
    }


def test_industries_are_renamed_on_krx_dates_without_moving_a_ticker(demo):
    before, mid, after = (
        _industries(demo, d)
        for d in (dt.date(2024, 6, 3), dt.date(2024, 7, 1), dt.date(2024, 12, 9))
    )
    common = before.keys() & mid.keys() & after.keys()
    assert any(before[c] != mid[c] for c in common) and any(mid[c] != after[c] for c in common)
    # a rename maps one name to one name: the grouping of tickers never changes
    for old, new in ((before, mid), (mid, after)):
        assert len({(old[c], new[c]) for c in common}) == len({old[c] for c in common})


def test_reported_sectors_carry_the_reported_ratio_order_in_2025(demo):
    names = _industries(demo, dt.date(2025, 7, 1))
    ratios = defaultdict(list)
    for day in sessions_between(dt.date(2025, 3, 31), dt.date(2025, 7, 25)):
        for market in MARKETS:
            for r in demo.rows(f"short_balance/{market}", f"{day}.json", "OutBlock_1"):
                if r["ISU_CD"] in names:
                    ratios[names[r["ISU_CD"]]].append(float(r["BAL_RTO"]))
    mean = {k: sum(v) / len(v) for k, v in ratios.items()}
    battery, bio, games, software = (
        mean[k] for k in ("전기장비", "제약", "오락·문화", "소프트웨어")
    )
    assert (
        battery
        > bio
        > games
        > software
        > max(
            v for k, v in mean.items() if k not in {"전기장비", "제약", "오락·문화", "소프트웨어"}
        )
    )
    assert 3.8 < battery < 5.8 and 2.8 < bio < 5 and 2.5 < games < 4.8 and 0.8 < software < 1.8


def test_theme_constituents_come_from_their_industry(demo):
    day = dt.date(2025, 7, 1)
    names = _industries(demo, day)
    for code in THEME_INDICES:
        rows = demo.rows(f"index_constituents/{code}", f"{day}.json", "output")
        assert rows and len({r["ISU_SRT_CD"] for r in rows}) == len(rows)
    battery = demo.rows("index_constituents/BATTERY10", f"{day}.json", "output")
    in_industry = sum(v == "전기장비" for v in names.values())
    assert len(battery) == min(10, in_industry)
    assert {names[r["ISU_SRT_CD"]] for r in battery} == {"전기장비"}
    caps = [n(r["MKTCAP"]) for r in battery]
    assert caps == sorted(caps, reverse=True)


def test_investor_files_sum_to_the_trading_files_and_shift_through_the_regimes(demo):
    foreign_share = defaultdict(list)
    checked = set(_checked_days())
    for market in MARKETS:
        for year in range(START.year, END.year + 1):
            for measure, field in (("volume", "CVSRTSELL_TRDVOL"), ("value", "CVSRTSELL_TRDVAL")):
                rows = demo.rows(f"short_investor_{measure}/{market}", f"{year}.json", "OutBlock_1")
                days = [dt.datetime.strptime(r["TRD_DD"], "%Y/%m/%d").date() for r in rows]
                year_sessions = [d for d in sessions_between(START, END) if d.year == year]
                assert days == year_sessions[::-1]  # every session, newest first like KRX
                for day, r in zip(days, rows, strict=True):
                    parts = [n(r[f"STR_CONST_VAL{k}"]) for k in (1, 2, 3, 4)]
                    total = n(r["STR_CONST_VAL5"])
                    assert sum(parts) == total
                    if day in checked:
                        trades = demo.rows(f"short_trading/{market}", f"{day}.json", "OutBlock_1")
                        assert total == sum(n(t[field]) for t in trades)
                    if measure == "value" and total:
                        foreign_share[regime_on(day).scope].append(parts[2] / total)
    mean = {k: sum(v) / len(v) for k, v in foreign_share.items()}
    assert mean["market_makers_only"] < 0.3 < 0.5 < mean["all_listed"] < mean["index_constituents"]
