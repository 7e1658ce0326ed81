"""The sample looks like the market: its aggregates, computed here from the landing files alone,
against the figures KRX and ECOS published.

A market's short ratio is the sum of ``BAL_AMT`` in the day's balance file over the ``MKTCAP`` of
the market's index file (as the warehouse's ``fct_market_short_balances`` divides them).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from pipelines.calendar import sessions_between, shift_sessions
from pipelines.sample.calibration import KRX_MARKET_TOTALS, calibration_lines
from pipelines.sample.generator import generate
from tests.helpers import REAL_ROOT

DEMO_START, DEMO_END = dt.date(2020, 1, 2), dt.date(2025, 7, 31)
REAL_KOSPI = REAL_ROOT / "landing/krx/short_balance/KOSPI/2021-01-27.json"


def n(text: str) -> int:
    return int(text.replace(",", ""))


class Files:
    """Aggregates read back from a landing zone."""

    def __init__(self, root: Path):
        self.root = root

    def json(self, rel: str):
        return orjson.loads((self.root / rel).read_bytes())

    def balances(self, day: dt.date, market: str) -> list[dict]:
        return self.json(f"krx/short_balance/{market}/{day}.json")["OutBlock_1"]

    def market_cap(self, day: dt.date, market: str) -> int:
        rows = self.json(f"krx/index_ohlcv/{market}/{day.year}.json")["output"]
        (row,) = [r for r in rows if r["TRD_DD"] == f"{day:%Y/%m/%d}"]
        return n(row["MKTCAP"])

    def short_ratio_pct(self, day: dt.date, market: str) -> float:
        total = sum(n(r["BAL_AMT"]) for r in self.balances(day, market))
        return 100 * total / self.market_cap(day, market)

    def balance_days(self, market: str) -> list[dt.date]:
        folder = self.root / "krx/short_balance" / market
        return sorted(dt.date.fromisoformat(p.stem) for p in folder.glob("*.json"))


def shape(rows: list[dict]) -> dict[str, float]:
    """Concentration and ratio figures of one balance file."""
    rows = sorted(rows, key=lambda r: -n(r["MKTCAP"]))
    caps = [n(r["MKTCAP"]) for r in rows]
    total = sum(caps)
    ratios = [float(r["BAL_RTO"]) for r in rows]
    return {
        "top1_share": caps[0] / total,
        "top1_ratio": ratios[0],
        "top3_share": sum(caps[:3]) / total,
        "zero_share": sum(r == 0 for r in ratios) / len(ratios),
        "median_ratio": sorted(ratios)[len(ratios) // 2],
        "max_ratio": max(ratios),
        # market cap of the heavily shorted names (3 % and more) as a share of the market
        "heavy_cap_share": sum(c for c, r in zip(caps, ratios, strict=True) if r >= 3) / total,
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Files:
    root = tmp_path_factory.mktemp("calibration") / "landing"
    generate(root, DEMO_START, DEMO_END, seed=7, scale="demo")
    return Files(root)


@pytest.mark.parametrize(("day", "market", "_total", "krx_pct"), KRX_MARKET_TOTALS)
def test_market_short_ratios_are_within_a_factor_of_two_of_krx(demo, day, market, _total, krx_pct):
    ratio = demo.short_ratio_pct(day, market)
    assert krx_pct / 2 <= ratio <= krx_pct * 2, (day, market, ratio)


def test_the_short_ratios_rise_after_the_2025_resumption_like_krx(demo):
    # KRX: 0.19 % -> 0.35 % (KOSPI), 0.52 % -> 0.96 % (KOSDAQ)
    for market in ("KOSPI", "KOSDAQ"):
        before = demo.short_ratio_pct(dt.date(2025, 3, 31), market)
        after = demo.short_ratio_pct(dt.date(2025, 7, 9), market)
        assert 1.2 < after / before < 3.5, (market, before, after)


@pytest.mark.parametrize("day", [DEMO_START, dt.date(2025, 3, 31), dt.date(2025, 7, 9)])
def test_kospi_is_several_times_kosdaq(demo, day):
    # KRX: about 6x (2,061 / 330 trn KRW on 2025-03-31, 2,699 / 409 on 2025-07-09)
    ratio = demo.market_cap(day, "KOSPI") / demo.market_cap(day, "KOSDAQ")
    assert 3 <= ratio <= 10, ratio


def check_shape(figures: dict[str, float], market: str) -> None:
    """The shape of a market's balance file, which the real 2021-01-27 KOSPI file has too."""
    if market == "KOSPI":  # one giant at a low ratio (real: 23.7 % of the cap at 0.06 %)
        assert 0.15 < figures["top1_share"] < 0.4 and figures["top1_ratio"] < 0.3, figures
    else:  # not three tickers holding the market
        assert figures["top3_share"] < 1 / 3, figures
    assert figures["zero_share"] > 0.2 and figures["median_ratio"] < 1.0, figures
    assert figures["heavy_cap_share"] < 0.15, figures  # heavily shorted names are small


def test_kospi_cap_grows_like_krx_after_the_resumption(demo):
    # KRX: 3.9156 trn KRW = 0.19 % and 9.445 trn = 0.35 % give 2,061 and 2,699 trn KRW (x 1.31)
    krx = {
        day: total / (pct / 100)
        for day, market, total, pct in KRX_MARKET_TOTALS
        if market == "KOSPI"
    }
    krx_growth = krx[dt.date(2025, 7, 9)] / krx[dt.date(2025, 3, 31)]
    growth = demo.market_cap(dt.date(2025, 7, 9), "KOSPI") / demo.market_cap(
        dt.date(2025, 3, 31), "KOSPI"
    )
    assert abs(growth / krx_growth - 1) < 0.15, (growth, krx_growth)


def test_kosdaq_never_ends_up_held_by_three_tickers(demo):
    days = demo.balance_days("KOSDAQ")[::20]
    worst = max(shape(demo.balances(day, "KOSDAQ"))["top3_share"] for day in days)
    assert worst < 1 / 3


def test_the_real_kospi_file_has_that_shape():
    check_shape(shape(orjson.loads(REAL_KOSPI.read_bytes())["OutBlock_1"]), "KOSPI")


@pytest.mark.parametrize("day", [dt.date(2021, 1, 27), dt.date(2025, 3, 31), dt.date(2025, 7, 9)])
def test_caps_concentrate_like_the_real_files_and_large_caps_carry_low_ratios(demo, day):
    maxima = []
    for market in ("KOSPI", "KOSDAQ"):
        figures = shape(demo.balances(day, market))
        check_shape(figures, market)
        maxima.append(figures["max_ratio"])
    assert 3 < max(maxima) <= 15


def test_usdkrw_stays_in_the_real_range(demo):
    rates = []
    for path in sorted((demo.root / "ecos/usdkrw").glob("*.json")):
        rows = orjson.loads(path.read_bytes())["StatisticSearch"]["row"]
        rates += [float(r["DATA_VALUE"].replace(",", "")) for r in rows]
    assert 1100 <= min(rates) < 1200 and 1400 < max(rates) <= 1480  # ECOS 2019-2026


@pytest.mark.parametrize(
    "end",
    [
        dt.date(2021, 6, 18),  # a Friday
        dt.date(2021, 6, 20),  # a Sunday
        dt.date(2021, 9, 22),  # Chuseok: the balances of 09-16 and 09-17 are due on 09-23, 09-24
    ],
)
def test_no_balance_file_is_written_before_krx_publishes_it(tmp_path, end):
    start = end - dt.timedelta(days=20)
    generate(tmp_path, start, end, seed=3, scale="demo")
    files = Files(tmp_path)
    sessions = sessions_between(start, end)
    published = [d for d in sessions if shift_sessions(d, 2) <= end]
    assert published == sessions[:-2]
    for market in ("KOSPI", "KOSDAQ"):
        assert files.balance_days(market) == published
        trading = sorted(
            dt.date.fromisoformat(p.stem)
            for p in (tmp_path / "krx/short_trading" / market).glob("*.json")
        )
        assert trading == sessions  # short trading is published on the day


def test_the_demo_range_ends_with_the_last_published_balance(demo):
    last = max(
        d for d in sessions_between(DEMO_START, DEMO_END) if shift_sessions(d, 2) <= DEMO_END
    )
    assert demo.balance_days("KOSPI")[-1] == demo.balance_days("KOSDAQ")[-1] == last


def test_full_scale_has_real_index_sizes_and_market_shape(tmp_path):
    start, end = dt.date(2021, 6, 1), dt.date(2021, 6, 30)  # a regular rebalance on 06-11
    generate(tmp_path, start, end, seed=7, scale="full")
    files = Files(tmp_path)
    for index_code, size in (("KOSPI200", 200), ("KOSDAQ150", 150)):
        snapshots = list((tmp_path / "krx/index_constituents" / index_code).glob("*.json"))
        assert len(snapshots) >= 2
        for path in snapshots:
            assert len(orjson.loads(path.read_bytes())["output"]) == size, path
    kospi, kosdaq = files.market_cap(start, "KOSPI"), files.market_cap(start, "KOSDAQ")
    assert 4 <= kospi / kosdaq <= 9
    assert 1000e12 < kospi < 3000e12 and 150e12 < kosdaq < 600e12  # KRW; KRX: 2,300 / 430 trn
    assert 0.15 < shape(files.balances(start, "KOSPI"))["top1_share"] < 0.3


def test_calibration_lines_set_the_warehouse_figures_beside_krx():
    totals = {(dt.date(2025, 3, 31), "KOSPI"): (4.2e12, 2_000e12)}
    lines = calibration_lines(totals)
    assert len(lines) == len(KRX_MARKET_TOTALS)
    assert lines[0] == (
        "2025-03-31 KOSPI  short balance 4.200 trn KRW = 0.21 % of market cap "
        "(KRX: 3.916 trn KRW = 0.19 %)"
    )
    assert lines[1] == "2025-03-31 KOSDAQ not in the warehouse (KRX: 0.52 %)"
