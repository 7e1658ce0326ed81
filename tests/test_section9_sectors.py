"""The KRX industry classification (KRX MDCSTAT03901). No response was recorded: the files here
are written in the format public client code documents, so these tests check that the reader is
strict about it and that snapshots (with KRX's renames) become sector intervals."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from pipelines.raw.load import load_files
from pipelines.sources.datasets import PathError, parse_landing_path
from pipelines.sources.landing import discover
from tests.helpers import REAL_LANDING, krx_int, records, rows
from tests.section9 import FORMATS, build_warehouse, data_requests_after_login, fetch_recorded

D = dt.date
#: snapshot date -> ticker -> KRX industry: a rename on 2024-07-01, a ticker absent on
#: 2024-07-02 and back on 2024-12-09, one listed from 2024-07-01, one moved and moved back.
SNAPSHOTS = {
    D(2024, 6, 28): {
        "ZZ0010": "서비스업",
        "ZZ0020": "유통업",
        "ZZ0030": "철강금속",
        "ZZ0050": "기계",
    },
    D(2024, 7, 1): {
        "ZZ0010": "일반서비스",
        "ZZ0020": "유통",
        "ZZ0030": "금속",
        "ZZ0040": "제약",
        "ZZ0050": "전기전자",
    },
    D(2024, 7, 2): {"ZZ0010": "일반서비스", "ZZ0030": "금속", "ZZ0040": "제약", "ZZ0050": "기계"},
    D(2024, 12, 9): {
        "ZZ0010": "일반서비스",
        "ZZ0020": "유통",
        "ZZ0030": "금속",
        "ZZ0040": "제약",
        "ZZ0050": "기계",
    },
}


def _record(ticker: str, industry: str) -> dict[str, str]:
    return {
        "ISU_SRT_CD": ticker,
        "ISU_ABBRV": f"종목{ticker[-2:]}",
        "MKT_TP_NM": "KOSPI",
        "IDX_IND_NM": industry,
        "TDD_CLSPRC": "12,300",
        "CMPPREVDD_PRC": "-100",
        "FLUC_RT": "-0.81",
        "MKTCAP": "123,000,000,000",
        "FLUC_TP_CD": "2",
    }


def _write(root: Path, day: dt.date, records: list[dict]) -> str:
    relpath = f"krx/sectors/KOSPI/{day.isoformat()}.json"
    (root / relpath).parent.mkdir(parents=True, exist_ok=True)
    body = {"block1": records, "CURRENT_DATETIME": "2026.01.25 PM 08:30:43"}
    (root / relpath).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return relpath


def _intervals() -> list[tuple]:
    """(ticker, sector, valid_from, valid_to) from SNAPSHOTS, walked snapshot by snapshot."""
    days = sorted(SNAPSHOTS)
    found, open_ = [], {}
    for i, day in enumerate(days):
        for ticker, sector in SNAPSHOTS[day].items():
            open_.setdefault((ticker, sector), day)
        following = days[i + 1] if i + 1 < len(days) else None
        for (ticker, sector), start in list(open_.items()):
            if following is None or SNAPSHOTS[following].get(ticker) != sector:
                found.append((ticker, sector, start, following))
                del open_[(ticker, sector)]
    return sorted(found)


def _sector(ticker: str, version: int) -> str:
    return f"업종{(int(ticker[-3:], 36) + version) % 7}"


BALANCES = "krx/short_balance/KOSPI/2021-01-27.json"
#: Snapshots of a theme index in the real MDCSTAT00601 format (records of the recorded KOSPI
#: answer).
THEME_MEMBERS = records(FORMATS / "MDCSTAT00601_KOSPI_all_2021-01-29.json")
THEME_SNAPSHOTS = {D(2021, 1, 26): THEME_MEMBERS[:10], D(2021, 1, 28): THEME_MEMBERS[5:15]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The real landing fixtures plus: the industry snapshots of SNAPSHOTS (tickers that do not
    exist); the real 2021-01-27 balance tickers in industries of a snapshot of 2021-01-26 and,
    every ticker elsewhere, of 2021-01-28; and two snapshots of the BATTERY10 theme."""
    base = tmp_path_factory.mktemp("section9_sectors")
    landing = base / "landing"
    shutil.copytree(REAL_LANDING, landing)
    for day, industries in SNAPSHOTS.items():
        _write(landing, day, [_record(t, s) for t, s in industries.items()])
    balances = records(REAL_LANDING / BALANCES)
    for day, version in ((D(2021, 1, 26), 0), (D(2021, 1, 28), 1)):
        _write(
            landing, day, [_record(r["ISU_CD"], _sector(r["ISU_CD"], version)) for r in balances]
        )
    for day, listed in THEME_SNAPSHOTS.items():
        path = landing / f"krx/index_constituents/BATTERY10/{day.isoformat()}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"output": listed, "CURRENT_DATETIME": "2026.01.25 PM 08:30:43"}
        path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    warehouse = build_warehouse(base, landing)
    # the real fixtures have no ECOS file: a gap (a warning), not a failure
    assert warehouse.build.failures() == []
    return warehouse


def test_snapshots_become_sector_intervals_with_the_renames(built):
    got = rows(
        built.db,
        "select ticker, sector, valid_from, valid_to from marts.dim_security_sectors "
        "where classification = 'krx_industry' and market = 'KOSPI' "
        "and ticker like 'ZZ%' order by all",
    )
    assert got == _intervals()
    assert ("ZZ0020", "유통", D(2024, 7, 1), D(2024, 7, 2)) in got  # gone for one snapshot
    assert [g for g in got if g[0] == "ZZ0050" and g[1] == "기계"] == [
        ("ZZ0050", "기계", D(2024, 6, 28), D(2024, 7, 1)),
        ("ZZ0050", "기계", D(2024, 7, 2), None),
    ]


def test_sector_balances_follow_the_snapshot_in_force(built):
    """2021-01-27 counts in the sectors of the 2021-01-26 snapshot, not of 2021-01-28."""
    balances = records(REAL_LANDING / BALANCES)
    expected = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for r in balances:
        e = expected[_sector(r["ISU_CD"], 0)]
        e[0] += 1
        e[1] += krx_int(r["BAL_QTY"]) > 0
        e[2] += krx_int(r["BAL_AMT"])
        e[3] += krx_int(r["MKTCAP"])
        e[4] += float(r["BAL_RTO"])
    got = rows(
        built.db,
        "select sector, tickers, tickers_with_balance, total_balance_krw, market_cap_krw, "
        "balance_to_market_cap_pct, mean_balance_ratio_pct, short_value_share_pct "
        "from marts.sector_short_balances where trade_date = '2021-01-27' and market = 'KOSPI' "
        "and classification = 'krx_industry' order by sector",
    )
    assert [g[0] for g in got] == sorted(expected)
    for sector, tickers, with_balance, balance, cap, weighted, mean, short_share in got:
        n, with_b, total, caps, ratios = expected[sector]
        assert (tickers, with_balance, balance, cap) == (n, with_b, total, caps)
        assert weighted == pytest.approx(100 * total / caps)
        assert mean == pytest.approx(ratios / n)
        assert short_share is None  # no trading file for 2021-01-27


def test_theme_memberships_are_sectors_not_index_memberships(built):
    """Theme membership intervals in dim_security_sectors, balances per theme, and nothing in
    dim_index_memberships, which holds KOSPI 200 and KOSDAQ 150 only."""
    snapshots = THEME_SNAPSHOTS
    first = {r["ISU_SRT_CD"] for r in snapshots[D(2021, 1, 26)]}
    second = {r["ISU_SRT_CD"] for r in snapshots[D(2021, 1, 28)]}
    expected = sorted(
        [(t, D(2021, 1, 26), D(2021, 1, 28)) for t in first - second]
        + [(t, D(2021, 1, 26), None) for t in first & second]
        + [(t, D(2021, 1, 28), None) for t in second - first]
    )
    got = rows(
        built.db,
        "select ticker, valid_from, valid_to from marts.dim_security_sectors "
        "where classification = 'theme' and sector = 'BATTERY10' order by all",
    )
    assert got == expected
    balances = {r["ISU_CD"]: r for r in records(REAL_LANDING / BALANCES)}
    in_theme = [balances[t] for t in first if t in balances]
    assert rows(
        built.db,
        "select tickers, total_balance_krw, market_cap_krw from marts.sector_short_balances "
        "where trade_date = '2021-01-27' and classification = 'theme' and sector = 'BATTERY10'",
    ) == [
        (
            len(in_theme),
            sum(krx_int(r["BAL_AMT"]) for r in in_theme),
            sum(krx_int(r["MKTCAP"]) for r in in_theme),
        )
    ]
    assert rows(built.db, "select count(*) from marts.dim_index_memberships") == [(0,)]


@pytest.mark.parametrize(
    ("change", "rule", "column"),
    [
        (lambda r: r.update(IND_TP_CD="1"), "unexpected_column", "IND_TP_CD"),
        (lambda r: r.pop("IDX_IND_NM"), "missing_column", "IDX_IND_NM"),
        (lambda r: r.update(IDX_IND_NM="-"), "missing_value", "IDX_IND_NM"),
    ],
    ids=["unknown-field", "missing-field", "no-industry"],
)
def test_the_unverified_format_is_read_strictly(change, rule, column, tmp_path):
    records = [_record("ZZ0010", "서비스업"), _record("ZZ0020", "유통업")]
    change(records[1])
    relpath = _write(tmp_path / "landing", D(2024, 6, 28), records)
    with duckdb.connect(str(tmp_path / "krx.duckdb")) as con:
        report = load_files(con, tmp_path / "landing", [relpath])
        loaded = con.execute("select count(*) from raw.krx_sectors").fetchone()[0]
    assert not report.loaded and loaded == 0
    assert str(report.rejected[relpath]).startswith(
        f"{relpath}: row 2, column {column}: rule {rule}"
    )


def test_the_fetcher_asks_each_market_s_classification(
    fake,
    credentials,
    tmp_path,
    monkeypatch,
):
    day = D(2021, 1, 22)  # the emulated portal's "today" is 2021-02-01
    report = fetch_recorded(fake, tmp_path, monkeypatch, "sectors", (day, day), {})
    assert report.ok and len(report.written) == 2, report.summary()
    assert data_requests_after_login(fake) == [
        {
            "bld": "dbms/MDC/STAT/standard/MDCSTAT03901",
            "locale": "ko_KR",
            "mktId": market,
            "trdDd": "20210122",
        }
        for market in ("STK", "KSQ")
    ]


def test_datasets_sharing_a_folder_are_told_apart_by_their_segment(tmp_path):
    paths = [
        "krx/index_constituents/KOSPI200/2021-01-29.json",
        "krx/index_constituents/BATTERY10/2021-01-29.json",
        "krx/index_constituents/NOTANINDEX/2021-01-29.json",
    ]
    for relpath in paths:
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_bytes(b"{}")
    assert parse_landing_path(paths[1]).dataset.table == "krx_theme_constituents"
    assert parse_landing_path(paths[0]).dataset.table == "krx_index_constituents"
    with pytest.raises(PathError, match=r"'NOTANINDEX'.*KOSPI200.*BATTERY10"):
        parse_landing_path(paths[2])
    # each raw asset discovers its own files, and both the one whose folder is unknown
    assert discover(tmp_path, ["index_constituents"]) == sorted([paths[0], paths[2]])
    assert discover(tmp_path, ["theme_constituents"]) == sorted([paths[1], paths[2]])
    assert discover(tmp_path) == sorted(paths)
