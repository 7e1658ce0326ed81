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
    top, market, residuals, eligibility = readme_queries()[:4]
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


def test_the_sector_foreign_and_investor_queries_answer_on_the_sample(sample):
    """The four questions of the section "Sectors, foreign owners and investor types"."""
    from pipelines.regimes import regime_on
    from pipelines.sample.beside import INDUSTRIES, REPORTED

    wh, truth = sample
    sectors, foreign, rising, investors = readme_queries()[7:11]
    # most shorted: the generator's reported industries first, in the reporters' order; each
    # mean from the raw balance rows and the raw industry snapshot of the period
    got = rows(wh.db, sectors)
    assert [r[0] for r in got[: len(REPORTED)]] == [INDUSTRIES[k][-1] for k in REPORTED]
    industry = dict(
        rows(
            wh.db,
            "select distinct isu_srt_cd, idx_ind_nm from raw.krx_sectors "
            "where snapshot_date >= '2025-01-01'",
        )
    )
    per_day = defaultdict(list)
    for day, market, ticker, qty, shares in rows(
        wh.db,
        "select trade_date, market, isu_cd, bal_qty, list_shrs from raw.krx_short_balance "
        "where trade_date >= '2025-03-31'",
    ):
        if ticker in industry:
            per_day[industry[ticker], day, market].append(100 * qty / shares)
    by_sector = defaultdict(list)
    for (sector, _, _), ratios in per_day.items():
        by_sector[sector].append(sum(ratios) / len(ratios))
    for sector, mean, _ in got:
        assert mean == pytest.approx(sum(by_sector[sector]) / len(by_sector[sector]), abs=0.01)
    # KOSDAQ 150 members (the generator's truth) above 20 % foreign, with a 0.5 % balance
    day = dt.date(2025, 4, 25)
    members = set(truth.members_on("KOSDAQ150", day))
    share = {
        t: 100 * q / s
        for t, q, s in rows(
            wh.db,
            "select isu_srt_cd, forn_hd_qty, list_shrs from raw.krx_foreign_holdings "
            "where trade_date = ?",
            [day],
        )
    }
    ratio = {
        t: 100 * q / s
        for t, q, s in rows(
            wh.db,
            "select isu_cd, bal_qty, list_shrs from raw.krx_short_balance where trade_date = ?",
            [day],
        )
    }
    above = [t for t in members if share.get(t, 0) > 20 and t in ratio]
    assert rows(wh.db, foreign) == [(len(above), sum(round(ratio[t], 2) >= 0.5 for t in above))]
    assert above
    # rising foreign ownership: twenty rows, each a rise of at least 3 points
    got = rows(wh.db, rising)
    assert len(got) == 20 and all(r[4] >= 3 for r in got)
    # who shorts: the investor columns of the raw files summed per regime and market
    totals = defaultdict(lambda: [0, 0, 0, 0])
    for market, day, *parts in rows(
        wh.db,
        "select market, trd_dd, str_const_val1, str_const_val2, str_const_val3, "
        "str_const_val4 from raw.krx_short_investor_value",
    ):
        for k, v in enumerate(parts):
            totals[regime_on(day).regime_id, market][k] += v
    kinds = ("institutions", "individuals", "foreigners", "others")
    expected = sorted(
        (regime, market, kind, round(100 * v[k] / sum(v), 1))
        for (regime, market), v in totals.items()
        for k, kind in enumerate(kinds)
    )
    got = rows(wh.db, investors)
    assert [r[:3] for r in got] == [r[:3] for r in expected]
    assert all(g[3] == pytest.approx(e[3], abs=0.051) for g, e in zip(got, expected, strict=True))


def test_the_overheat_queries_run_on_the_sample(sample):
    """The three queries of the overheated-stock rule: the monthly counts agree with the
    candidates' verdicts, the stocks closest to a ban are ordered by their largest scaled gap
    and none is designated, the reconciliation lists only what did not pass."""
    wh, _ = sample
    per_month, closest, reconciliation = readme_queries()[4:7]
    months = rows(wh.db, per_month)
    verdicts = rows(
        wh.db,
        "select trade_date, market, designation_type from marts.short_overheat_candidates "
        "where trade_date >= '2025-03-31'",
    )
    counted = defaultdict(int)
    for day, market, kind in verdicts:
        if kind is not None:
            counted[(day.replace(day=1), market)] += 1
    assert {(m.date() if hasattr(m, "date") else m, k): c for m, k, _, c in months if c} == dict(
        counted
    )
    got = rows(wh.db, closest)
    assert 0 < len(got) <= 20
    scaled = [max(r[3] / 30, r[4] / 6, r[5] / 10) for r in got]
    assert scaled == sorted(scaled)
    assert all(r[2] is not None for r in got)
    failing = rows(wh.db, reconciliation)
    assert all(len(r) == 8 for r in failing)
