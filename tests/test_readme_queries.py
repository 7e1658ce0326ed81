"""The README's SQL examples, run on the sample."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from fractions import Fraction

import pytest

from pipelines import settings
from tests.helpers import rows


def readme_queries() -> list[str]:
    """The SQL examples of the README, in order."""
    text = (settings.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_queries_answer_on_the_sample(sample):
    """Each SQL example of the README runs on the sample and gives what the raw rows say."""
    wh, truth = sample
    top, market, residuals, eligibility = readme_queries()
    # the ten biggest exact balance ratios per market on the day, from the raw rows
    got = rows(wh.db, top)
    raw = rows(
        wh.db,
        "select market, isu_cd, isu_abbrv, bal_qty, list_shrs, bal_rto, bal_amt "
        "from raw.krx_short_balance where trade_date = '2021-01-27' and bal_qty > 0",
    )
    expected = []
    for name in ("KOSDAQ", "KOSPI"):
        ranked = sorted(
            (r for r in raw if r[0] == name), key=lambda r: (-Fraction(r[3], r[4]), r[1])
        )
        expected += [
            (name, rank, ticker, short_name, pytest.approx(100 * qty / shares), rto, krw)
            for rank, (_, ticker, short_name, qty, shares, rto, krw) in enumerate(
                ranked[:10], start=1
            )
        ]
    assert got == expected and len(got) == 20
    # both markets on every session from the day, with the raw balance totals
    got = rows(wh.db, market)
    totals = dict(
        ((day, name), krw)
        for day, name, krw in rows(
            wh.db,
            "select trade_date, market, sum(bal_amt) from raw.krx_short_balance "
            "where trade_date >= '2025-03-31' group by all",
        )
    )
    assert [(day, name) for day, name, *_ in got] == sorted(totals)
    assert all(r[2] == totals[r[0], r[1]] and r[6] == 5 for r in got)  # 5: full resumption
    # KOSDAQ 150 leavers still carrying a balance, biggest at exclusion first
    got = rows(wh.db, residuals)
    since = defaultdict(set)  # (ticker, exclusion day) -> raw balances on or after it
    for ticker, excluded_on, qty in rows(
        wh.db,
        "select b.isu_cd, r.excluded_on, b.bal_qty from raw.krx_short_balance b join ("
        f"{residuals.rstrip().rstrip(';')}) r on b.isu_cd = r.ticker "
        "and b.trade_date >= r.excluded_on",
    ):
        since[ticker, excluded_on].add(qty)
    assert got and all(r[3] > 0 and r[3] in since[r[0], r[1]] for r in got)
    assert [r[2] for r in got] == sorted((r[2] for r in got), reverse=True)
    # who could be shorted under the constituents-only regime: the constituents, per the truth
    day = dt.date(2022, 6, 10)
    got = {(name, eligible): n for name, eligible, _, n in rows(wh.db, eligibility)}
    tickers = rows(
        wh.db,
        "select market, isu_cd from raw.krx_short_balance where trade_date = ? "
        "union select market, isu_cd from raw.krx_short_trading where trade_date = ?",
        [day, day],
    )
    expected = defaultdict(int)
    for name, ticker in tickers:
        expected[name, truth.eligible(day, ticker)] += 1
    assert got == expected and all(expected.values())
