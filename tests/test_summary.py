"""The printed summary of ``krx-short demo``: its figures equal the warehouse's.

Uses ``export_sample`` (conftest.py: built once per session, only read here) and a
small hand-made warehouse for the number formats.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from pipelines import settings
from pipelines.cli.summary import TABLES, calibration, summary
from pipelines.warehouse import connect
from tests.helpers import EXPORT_SAMPLE_END, EXPORT_SAMPLE_START

SESSIONS = re.compile(r"sessions loaded: (\d+) \((\d{4}-\d\d-\d\d) \.\. (\d{4}-\d\d-\d\d)\)")
ROWS = re.compile(r"  marts\.(\w+) +([\d,]+)")
BALANCE = re.compile(
    r"  (\d{4}-\d\d-\d\d) (\S+) +([\d,]+\.\d\d) trn KRW, ([\d,]+\.\d\d bn USD|-), "
    r"(\d+\.\d{3}% of market cap|-), regime (\S+)"
)


def lines_matching(pattern: re.Pattern, text: str) -> list[re.Match]:
    return [m for m in map(pattern.fullmatch, text.splitlines()) if m]


@pytest.fixture(scope="module")
def built(export_sample) -> tuple[Path, object]:
    """(DuckDB file, truth) of the export sample."""
    return export_sample[0].db, export_sample[1]


@pytest.fixture(scope="module")
def printed(built, tmp_path_factory) -> tuple[str, Path]:
    db = built[0]
    export_root = tmp_path_factory.mktemp("summary") / "exports"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(settings.DUCKDB_ENV, str(db))
        with connect(db, read_only=True) as con:
            return summary(con, export_root), export_root


def test_sessions_line_gives_the_count_and_range_of_trade_sessions(built, printed):
    db, truth = built
    text, _ = printed
    assert SESSIONS.fullmatch(text.splitlines()[0])  # the first line
    (match,) = lines_matching(SESSIONS, text)
    with connect(db, read_only=True) as con:
        sessions, first, last = con.execute(
            "select count(distinct trade_date), min(trade_date), max(trade_date) "
            "from marts.fct_short_trades"
        ).fetchone()
    assert (int(match[1]), match[2], match[3]) == (sessions, str(first), str(last))
    # ... which are the sample's sessions.
    assert (sessions, first, last) == (len(truth.sessions), EXPORT_SAMPLE_START, EXPORT_SAMPLE_END)
    assert sessions == len(truth.sessions) > 40


def test_one_row_count_line_per_table_with_its_count(built, printed):
    db = built[0]
    text, _ = printed
    found = [(m[1], int(m[2].replace(",", ""))) for m in lines_matching(ROWS, text)]
    with connect(db, read_only=True) as con:
        expected = [
            (table, con.execute(f"select count(*) from marts.{table}").fetchone()[0])
            for table in TABLES
        ]
    assert found == expected
    assert dict(found)["fct_short_balances"] >= 7_000  # thousands separators are exercised
    line = next(line for line in text.splitlines() if "marts.fct_short_balances" in line)
    assert line.endswith(f"{dict(found)['fct_short_balances']:,}")


def test_latest_market_balances_in_trillion_krw(built, printed):
    db = built[0]
    text, _ = printed
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "select trade_date, market, total_balance_krw, total_balance_usd, "
            "balance_to_market_cap_pct, regime_id from marts.fct_market_short_balances "
            "where trade_date = (select max(trade_date) from marts.fct_market_short_balances) "
            "order by market"
        ).fetchall()
    assert {r[1] for r in rows} == {"KOSPI", "KOSDAQ"}
    found = lines_matching(BALANCE, text)
    assert len(found) == len(rows)
    for match, (day, market, krw, usd, pct, regime) in zip(found, rows, strict=True):
        assert (match[1], match[2]) == (str(day), market)
        assert match[3] == f"{krw / 1e12:,.2f}"
        assert abs(float(match[3].replace(",", "")) * 1e12 - krw) <= 0.005e12
        assert match[4] == f"{usd / 1e9:,.2f} bn USD"
        assert match[5] == f"{pct:.3f}% of market cap"
        assert match[6] == str(regime)
    header = text.splitlines().index("latest market short balances:")
    assert [m[0] for m in found] == text.splitlines()[header + 1 : header + 1 + len(rows)]


def test_summary_names_the_warehouse_and_the_exports(built, printed):
    text, export_root = printed
    assert f"DuckDB file: {built[0]}" in text.splitlines()
    assert f"Parquet exports: {export_root} (manifest.json lists every table)" in text.splitlines()


def test_number_formats_missing_values_and_missing_tables():
    """A hand-made warehouse: large and null figures, only the latest day, absent tables."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.fct_short_trades (trade_date date, ticker varchar)")
    con.execute(
        "insert into marts.fct_short_trades values "
        "('2024-01-02', 'A'), ('2024-01-02', 'B'), ('2024-01-03', 'A')"
    )
    con.execute(
        "create table marts.fct_market_short_balances (trade_date date, market varchar, "
        "total_balance_krw bigint, total_balance_usd double, balance_to_market_cap_pct double, "
        "regime_id integer)"
    )
    con.execute(
        "insert into marts.fct_market_short_balances values "
        "('2024-01-02', 'KOSPI', 1, 1, 1, 1), "
        "('2024-01-03', 'KOSPI', 12345678000000000, 9876543210000, 0.5, 4), "
        "('2024-01-03', 'KOSDAQ', null, null, null, null)"
    )
    text = summary(con, Path("/exports"))
    lines = text.splitlines()
    assert lines[0] == "sessions loaded: 2 (2024-01-02 .. 2024-01-03)"
    assert [(m[1], m[2]) for m in lines_matching(ROWS, text)] == [
        ("fct_short_trades", "3"),
        ("fct_market_short_balances", "3"),
    ]
    header = lines.index("latest market short balances:")
    kosdaq, kospi = lines[header + 1 : header + 3]
    assert kosdaq.startswith("  2024-01-03 KOSDAQ -, -, -, regime ")  # nulls print as "-"
    assert kospi == (
        "  2024-01-03 KOSPI  12,345.68 trn KRW, 9,876.54 bn USD, 0.500% of market cap, regime 4"
    )
    assert not any(str(dt.date(2024, 1, 2)) in line for line in lines[header + 1 :])


CALIBRATED = re.compile(
    r"  (\d{4}-\d\d-\d\d) (\S+) +short balance ([\d,.]+) trn KRW = (\d+\.\d\d) % of market cap "
    r"\(KRX: .*\)"
)


def test_the_demo_sets_the_sample_beside_krx_s_totals(sample):
    """2025-03-31 from the landing rows (balances over the index file's market cap); the sample
    ends before 2025-07-09, which is said to be missing."""
    wh, _ = sample
    with connect(wh.db, read_only=True) as con:
        text = calibration(con)
        expected = dict(
            (market, (balance, cap))
            for market, balance, cap in con.execute(
                "select b.market, sum(b.bal_amt), any_value(i.mktcap) "
                "from raw.krx_short_balance b join raw.krx_index_ohlcv i "
                "on i.index_code = b.market and i.trd_dd = b.trade_date "
                "where b.trade_date = date '2025-03-31' group by b.market"
            ).fetchall()
        )
    got = {m[2]: m for m in lines_matching(CALIBRATED, text)}
    assert set(got) == {"KOSPI", "KOSDAQ"}
    for market, (balance, cap) in expected.items():
        assert got[market][1] == "2025-03-31"
        assert got[market][3] == f"{balance / 1e12:,.3f}"
        assert got[market][4] == f"{100 * balance / cap:.2f}"
    assert text.count("2025-07-09") == 2 and text.count("not in the warehouse") == 2
