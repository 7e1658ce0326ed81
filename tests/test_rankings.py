"""top_short_balances: the top 50 per market and session, ranked as KRX's screen 33004 ranks.

KRX orders by the exact ratio BAL_QTY / LIST_SHRS, then ticker; its two-decimal BAL_RTO ties
and misorders. Expected orders here are rebuilt with exact fractions from the landing rows.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import yaml

from tests.helpers import BAN_DAY, PROJECT_DIR, REAL_LANDING, REAL_ROOT, krx_int, records, rows

TOP50_FILES = {
    market: REAL_ROOT / "formats" / f"MDCSTAT30801_top50_{market}_2020-01-06.json"
    for market in ("KOSPI", "KOSDAQ")
}
UNIT_TESTS = PROJECT_DIR / "models" / "marts" / "top_short_balances.yml"


def exact_order(balances: list[tuple[str, int, int]], top: int = 50) -> list[str]:
    """The top tickers of (ticker, balance_qty, listed_shares): exact ratio, then ticker."""
    ranked = sorted(
        (t for t in balances if t[1] > 0 and t[2] > 0),
        key=lambda t: (-Fraction(t[1], t[2]), t[0]),
    )
    return [t[0] for t in ranked[:top]]


def test_krx_s_own_top50_follows_the_exact_ratio():
    """The premise of the rule: KRX's RANK is the exact-ratio order in all 100 positions, and
    the rounded BAL_RTO (then the balance in won) would misplace 8 of them."""
    misplaced = 0
    for path in TOP50_FILES.values():
        answer = records(path)
        krx = [r["ISU_CD"] for r in sorted(answer, key=lambda r: int(r["RANK"]))]
        balances = [(r["ISU_CD"], krx_int(r["BAL_QTY"]), krx_int(r["LIST_SHRS"])) for r in answer]
        assert exact_order(balances) == krx
        rounded = sorted(
            answer, key=lambda r: (-float(r["BAL_RTO"]), -krx_int(r["BAL_AMT"]), r["ISU_CD"])
        )
        misplaced += sum(r["ISU_CD"] != t for r, t in zip(rounded, krx, strict=True))
    assert misplaced == 8


def test_the_krx_unit_test_holds_the_30801_answers():
    """The dbt unit test ``top_short_balances_ranks_like_krx_screen_33004`` is KRX's answer:
    its input rows are the files' BAL_QTY / LIST_SHRS / BAL_AMT / BAL_RTO, its ranks KRX's."""
    tests = {t["name"]: t for t in yaml.safe_load(UNIT_TESTS.read_text())["unit_tests"]}
    unit = tests["top_short_balances_ranks_like_krx_screen_33004"]
    given = {(r["market"], r["ticker"]): r for r in unit["given"][0]["rows"]}
    expected = {(r["market"], r["ticker"]): r["rank"] for r in unit["expect"]["rows"]}
    answers = {(m, r["ISU_CD"]): r for m, path in TOP50_FILES.items() for r in records(path)}
    assert set(given) == set(expected) == set(answers) and len(answers) == 100
    for key, r in answers.items():
        assert expected[key] == int(r["RANK"])
        assert (
            given[key]["balance_qty"],
            given[key]["listed_shares"],
            given[key]["balance_krw"],
            given[key]["balance_ratio_pct"],
        ) == (
            krx_int(r["BAL_QTY"]),
            krx_int(r["LIST_SHRS"]),
            krx_int(r["BAL_AMT"]),
            float(r["BAL_RTO"]),
        )


def test_real_kospi_top50_is_the_exact_ratio_order(real):
    """2021-01-27, 919 KOSPI balances: the top 50 is the exact-ratio order of the JSON's rows
    (16 of its positions differ from the rounded BAL_RTO's order)."""
    answer = records(REAL_LANDING / "krx/short_balance/KOSPI/2021-01-27.json")
    balances = [(r["ISU_CD"], krx_int(r["BAL_QTY"]), krx_int(r["LIST_SHRS"])) for r in answer]
    got = rows(
        real.db,
        "select rank, ticker from marts.top_short_balances "
        "where trade_date = ? and market = 'KOSPI' order by rank",
        [BAN_DAY],
    )
    assert got == list(enumerate(exact_order(balances), start=1))
    rounded = sorted(
        (r for r in answer if krx_int(r["BAL_QTY"]) > 0),
        key=lambda r: (-float(r["BAL_RTO"]), -krx_int(r["BAL_AMT"]), r["ISU_CD"]),
    )[:50]
    assert sum(r["ISU_CD"] != t for r, (_, t) in zip(rounded, got, strict=True)) == 16


def test_sample_top50_is_the_exact_ratio_order_of_the_raw_rows(sample):
    wh, _ = sample
    balances = defaultdict(list)
    for day, market, ticker, qty, shares in rows(
        wh.db, "select trade_date, market, isu_cd, bal_qty, list_shrs from raw.krx_short_balance"
    ):
        balances[day, market].append((ticker, int(qty), int(shares)))
    expected = [
        (day, market, rank, ticker)
        for (day, market), day_rows in sorted(balances.items())
        for rank, ticker in enumerate(exact_order(day_rows), start=1)
    ]
    got = rows(
        wh.db,
        "select trade_date, market, rank, ticker from marts.top_short_balances "
        "order by trade_date, market, rank",
    )
    assert got == expected
    assert max(rank for _, _, rank, _ in got) == 50
