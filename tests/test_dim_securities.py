"""dim_securities against a walk over every observation, on random histories.

The model takes a ticker's versions from its (name, market) spans when they do not interleave
and walks the observations of the other tickers; the reference below walks every ticker's
observations in date order. The histories include renames back to an earlier name, market
moves and back, missing names, master snapshots on days with and without daily files, and
tickers only the master knows.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import defaultdict
from pathlib import Path

import duckdb
import pandas as pd

MODEL = Path(__file__).resolve().parents[1] / "dbt_project/models/marts/dim_securities.sql"
DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(120)]
NAMES = ["Alpha", "Beta", "Gamma", None]
MARKETS = ["KOSPI", "KOSDAQ"]
#: The columns of the two tables the model reads that it uses, with their types.
TABLES = {
    "int_security_daily_observations": (
        "trade_date date, ticker varchar, name varchar, market varchar, observed_in varchar"
    ),
    "stg_krx__securities": (
        "snapshot_date date, ticker varchar, name varchar, market varchar, isin varchar, "
        "listed_on date"
    ),
}


def model_sql() -> str:
    """The model with each ``{{ ref('x') }}`` replaced by the table ``x``."""
    sql = re.sub(r"\{\{\s*ref\('(\w+)'\)\s*\}\}", r"\1", MODEL.read_text())
    assert "{{" not in sql and "{%" not in sql
    return sql


def random_history(rng: random.Random, tickers: int) -> tuple[list[tuple], list[tuple]]:
    """(daily rows, master rows): daily (trade_date, ticker, name, market, observed_in), one
    per ticker and day; master (snapshot_date, ticker, name, market, isin, listed_on)."""
    daily = []
    for t in range(tickers):
        ticker = f"{t:06d}"
        name, market = rng.choice(NAMES), rng.choice(MARKETS)
        if rng.random() < 0.1:
            continue  # known only to the master
        for day in sorted(rng.sample(DAYS, rng.randint(1, 40))):
            if rng.random() < 0.15:
                name = rng.choice(NAMES)
            if rng.random() < 0.05:
                market = rng.choice(MARKETS)
            source = rng.choice(["short_balance", "short_trading"])
            daily.append((day, ticker, name, market, source))
    master = []
    for snapshot in sorted(rng.sample(DAYS, 6)):
        for t in rng.sample(range(tickers), tickers // 2):
            isin = None if rng.random() < 0.2 else f"KR7{t:06d}{rng.randint(0, 999):03d}"
            listed = DAYS[0] - dt.timedelta(days=rng.randint(0, 9000))
            master.append(
                (snapshot, f"{t:06d}", rng.choice(NAMES), rng.choice(MARKETS), isin, listed)
            )
    return daily, master


def walked_versions(daily: list[tuple], master: list[tuple]) -> set[tuple]:
    """The SCD2 rows by walking each ticker's observations in date order: a version opens at
    the first observation and whenever the name or market differs from the previous one."""
    seen = {(ticker, day) for day, ticker, *_ in daily}
    observations = defaultdict(list)
    for day, ticker, name, market, _ in daily:
        observations[ticker].append((day, name, market))
    for day, ticker, name, market, _, _ in master:
        if (ticker, day) not in seen:
            observations[ticker].append((day, name, market))
    isins, listing_dates = {}, {}  # the latest snapshot's value that is not null
    for _, ticker, _, _, isin, listed in sorted(master, key=lambda r: r[0]):
        isins[ticker] = isins.get(ticker) if isin is None else isin
        listing_dates[ticker] = listing_dates.get(ticker) if listed is None else listed
    rows = set()
    for ticker, seen_on in observations.items():
        versions = []  # [valid_from, last_observed_on, name, market]
        for day, name, market in sorted(seen_on, key=lambda o: o[0]):
            if versions and versions[-1][2:] == [name, market]:
                versions[-1][1] = day
            else:
                versions.append([day, day, name, market])
        isin, listed = isins.get(ticker), listing_dates.get(ticker)
        for number, (valid_from, last, name, market) in enumerate(versions, start=1):
            valid_to = versions[number][0] if number < len(versions) else None
            rows.add(
                (ticker, number, isin, name, market, listed, valid_from, valid_to, last,
                 valid_to is None)
            )  # fmt: skip
    return rows


def interleaved(daily: list[tuple]) -> int:
    """Tickers whose daily files return to an earlier (name, market)."""
    by_ticker = defaultdict(list)
    for _, ticker, name, market, _ in sorted(daily):
        by_ticker[ticker].append((name, market))
    count = 0
    for values in by_ticker.values():
        runs = [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
        count += len(runs) != len(set(runs))
    return count


def model_versions(daily: list[tuple], master: list[tuple]) -> set[tuple]:
    con = duckdb.connect()
    for (table, columns), values in zip(TABLES.items(), (daily, master), strict=True):
        con.execute(f"create table {table} ({columns})")
        frame = pd.DataFrame(values, dtype=object)  # noqa: F841 (read by name below)
        con.execute(f"insert into {table} select * from frame")
    got = con.execute(
        "select ticker, version_number, isin, name, market, listed_on, valid_from, valid_to, "
        f"last_observed_on, is_current from ({model_sql()})"
    ).fetchall()
    con.close()
    assert len(got) == len(set(got))
    return set(got)


def test_dim_securities_equals_a_walk_over_every_observation():
    rng = random.Random(20261121)
    for _ in range(5):
        daily, master = random_history(rng, 300)
        assert interleaved(daily) > 20  # the walked path is exercised
        expected = walked_versions(daily, master)
        assert model_versions(daily, master) == expected
        assert len({row[0] for row in expected}) > 250


def test_dim_securities_versions_of_one_ticker():
    day = DAYS
    daily = [
        (day[0], "000001", "Alpha", "KOSDAQ", "short_balance"),
        (day[1], "000001", "Beta", "KOSDAQ", "short_balance"),
        (day[3], "000001", "Alpha", "KOSDAQ", "short_trading"),
        (day[4], "000001", "Alpha", "KOSPI", "short_balance"),
        (day[0], "000002", "Gamma", "KOSPI", "short_balance"),
        (day[5], "000002", "Delta", "KOSPI", "short_balance"),
    ]
    master = [
        # on a daily day: the daily file wins
        (day[1], "000001", "Other", "KOSDAQ", "KR7000001005", day[0]),
        # a snapshot on a day without daily files counts: Alpha comes back on it
        (day[2], "000001", "Alpha", "KOSDAQ", "KR7000001006", day[0]),
        (day[9], "000003", "Epsilon", "KONEX", None, None),
    ]
    got = sorted(model_versions(daily, master))
    assert got == [
        ("000001", 1, "KR7000001006", "Alpha", "KOSDAQ", day[0], day[0], day[1], day[0], False),
        ("000001", 2, "KR7000001006", "Beta", "KOSDAQ", day[0], day[1], day[2], day[1], False),
        ("000001", 3, "KR7000001006", "Alpha", "KOSDAQ", day[0], day[2], day[4], day[3], False),
        ("000001", 4, "KR7000001006", "Alpha", "KOSPI", day[0], day[4], None, day[4], True),
        ("000002", 1, None, "Gamma", "KOSPI", None, day[0], day[5], day[0], False),
        ("000002", 2, None, "Delta", "KOSPI", None, day[5], None, day[5], True),
        ("000003", 1, None, "Epsilon", "KONEX", None, day[9], None, day[9], True),
    ]
