"""Index membership dated by the rebalance rule, on a gappy landing zone of real KRX rows.

The KOSPI 200 snapshots are the 200 largest rows of the real KOSPI-all constituents file
(``formats/MDCSTAT00601_KOSPI_all_2021-01-29.json``, KRX's own format) re-dated and edited:
the 2022-06-10 rebalance snapshot is missing, one ticker is missing from one snapshot only, one
leaves for two snapshots and comes back, an ad-hoc swap falls between two monthly snapshots, a
ticker leaves in January and another enters in February. The real KOSPI short-trading file of
2021-01-25 stands in for every session around the missing rebalance, so eligibility under the
constituents-only regime is checked too. The expected values are rebuilt here from the files.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from pipelines.calendar import sessions_between
from pipelines.defs.assets.dbt import DbtCommand
from tests.helpers import (
    REAL_ROOT,
    REFERENCE_REBALANCE_DAYS,
    expected_intervals,
    load_raw,
    records,
    rows,
    run_dbt,
)

SOURCE = REAL_ROOT / "formats" / "MDCSTAT00601_KOSPI_all_2021-01-29.json"
TRADING = REAL_ROOT / "landing" / "krx" / "short_trading" / "KOSPI" / "2021-01-25.json"
D1, D2, D3, D4, D5, D6 = (
    dt.date(2022, 6, 2),
    dt.date(2022, 7, 1),
    dt.date(2022, 8, 1),
    dt.date(2022, 12, 9),  # a rebalance-effective session, with its snapshot
    dt.date(2023, 1, 2),
    dt.date(2023, 2, 1),
)
MISSING_REBALANCE = dt.date(2022, 6, 10)  # a rebalance-effective session without a snapshot
TRADING_DAYS = sessions_between(dt.date(2022, 6, 8), dt.date(2022, 7, 5))


def _real_rows() -> list[dict]:
    rows_ = json.loads(SOURCE.read_text(encoding="utf-8"))["output"]
    return sorted(rows_, key=lambda r: -int(r["MKTCAP"].replace(",", "")))


def _snapshots() -> tuple[dict[dt.date, list[dict]], dict[str, str]]:
    """The six snapshots (rows in KRX's format) and the role of the tickers they move."""
    real = _real_rows()
    base, extra = real[:200], real[200:210]
    tick = {r["ISU_SRT_CD"]: r for r in real}
    roles = {
        "out_at_rebalance": base[150]["ISU_SRT_CD"],
        "out_at_rebalance_2": base[151]["ISU_SRT_CD"],
        "in_at_rebalance": extra[0]["ISU_SRT_CD"],
        "in_at_rebalance_2": extra[1]["ISU_SRT_CD"],
        "missing_once": base[40]["ISU_SRT_CD"],
        "missing_twice": base[160]["ISU_SRT_CD"],
        "out_ad_hoc": base[170]["ISU_SRT_CD"],
        "in_ad_hoc": extra[2]["ISU_SRT_CD"],
        "out_at_snapshot_rebalance": base[180]["ISU_SRT_CD"],
        "in_at_snapshot_rebalance": extra[3]["ISU_SRT_CD"],
        "out_in_january": base[190]["ISU_SRT_CD"],
        "in_in_february": extra[4]["ISU_SRT_CD"],
    }
    s1 = [r["ISU_SRT_CD"] for r in base]
    s2 = [t for t in s1 if t not in (roles["out_at_rebalance"], roles["out_at_rebalance_2"])]
    s2 += [roles["in_at_rebalance"], roles["in_at_rebalance_2"]]
    s2 = [t for t in s2 if t not in (roles["missing_once"], roles["missing_twice"])]
    s3 = [t for t in s2 if t != roles["out_ad_hoc"]] + [roles["missing_once"], roles["in_ad_hoc"]]
    s4 = [t for t in s3 if t != roles["out_at_snapshot_rebalance"]]
    s4 += [roles["in_at_snapshot_rebalance"], roles["missing_twice"]]
    s5 = [t for t in s4 if t != roles["out_in_january"]]
    s6 = [*s5, roles["in_in_february"]]
    members = {D1: s1, D2: s2, D3: s3, D4: s4, D5: s5, D6: s6}
    return {day: [tick[t] for t in tickers] for day, tickers in members.items()}, roles


def _write_snapshots(root: Path, index_code: str, snapshots: dict[dt.date, list[dict]]) -> None:
    folder = root / "krx" / "index_constituents" / index_code
    folder.mkdir(parents=True)
    for day, body in snapshots.items():
        stamp = day.strftime("%Y.%m.%d") + " PM 06:00:00"
        text = json.dumps({"output": body, "CURRENT_DATETIME": stamp}, ensure_ascii=False)
        (folder / f"{day.isoformat()}.json").write_text(text, encoding="utf-8")


def _write_landing(root: Path, snapshots: dict[dt.date, list[dict]]) -> None:
    _write_snapshots(root, "KOSPI200", snapshots)
    trading = root / "krx" / "short_trading" / "KOSPI"
    trading.mkdir(parents=True)
    for day in TRADING_DAYS:
        shutil.copy(TRADING, trading / f"{day.isoformat()}.json")


@pytest.fixture(scope="module")
def gappy(tmp_path_factory):
    base = tmp_path_factory.mktemp("gappy")
    snapshots, roles = _snapshots()
    _write_landing(base / "landing", snapshots)
    db, target = base / "gappy.duckdb", base / "target"
    load_raw(db, base / "landing")
    build = run_dbt(
        db,
        target,
        DbtCommand(
            [
                "build",
                *("--select", "+dim_index_snapshots", "+short_eligibility_daily"),
                *("--indirect-selection", "cautious"),  # no test of a model left unbuilt
            ]
        ),
    )
    assert build.returncode == 0, build.output[-5000:]
    members = {day: {r["ISU_SRT_CD"] for r in body} for day, body in snapshots.items()}
    return db, build, members, roles


def test_the_landing_zone_holds_the_audit_s_edge_cases(gappy):
    _, _, members, roles = gappy
    assert set(sessions_between(D1, D6)) >= set(members)
    assert MISSING_REBALANCE in REFERENCE_REBALANCE_DAYS and D4 in REFERENCE_REBALANCE_DAYS
    assert MISSING_REBALANCE not in members
    once = roles["missing_once"]
    assert once in members[D1] - members[D2] and once in members[D3]
    presence = [roles["missing_twice"] in members[d] for d in sorted(members)]
    assert presence == [True, False, False, True, True, True]
    assert [len(members[d]) for d in sorted(members)] == [200, 198, 199, 200, 199, 200]


def test_memberships_follow_the_rebalance_rule(gappy):
    db, _, members, roles = gappy
    got = rows(
        db,
        "select index_code, ticker, valid_from, valid_to, entry_kind, exit_kind, "
        "bridged_gap_snapshots from marts.dim_index_memberships order by ticker, valid_from",
    )
    expected = expected_intervals(members, REFERENCE_REBALANCE_DAYS)
    assert got == expected
    by_ticker = {}
    for r in got:
        by_ticker.setdefault(r[1], []).append(r[2:6])
    # the missing 2022-06-10 snapshot: the regular rebalance keeps its day and kind
    for role in ("out_at_rebalance", "out_at_rebalance_2"):
        assert by_ticker[roles[role]] == [(D1, MISSING_REBALANCE, "initial", "regular_rebalance")]
    for role in ("in_at_rebalance", "in_at_rebalance_2"):
        assert by_ticker[roles[role]] == [(MISSING_REBALANCE, None, "regular_rebalance", None)]
    # one missing snapshot is a gap, two are an exit and a re-entry
    assert by_ticker[roles["missing_once"]] == [(D1, None, "initial", None)]
    assert by_ticker[roles["missing_twice"]] == [
        (D1, MISSING_REBALANCE, "initial", "regular_rebalance"),
        (D4, None, "regular_rebalance", None),
    ]
    # an ad-hoc swap between two monthly snapshots is dated at the snapshot that shows it
    assert by_ticker[roles["out_ad_hoc"]] == [(D1, D3, "initial", "ad_hoc")]
    assert by_ticker[roles["in_ad_hoc"]] == [(D3, None, "ad_hoc", None)]
    assert by_ticker[roles["out_in_january"]] == [(D1, D5, "initial", "ad_hoc")]
    assert by_ticker[roles["in_in_february"]] == [(D6, None, "ad_hoc", None)]


def test_the_uncertainty_windows_are_the_neighbouring_snapshots(gappy):
    db, _, _, roles = gappy
    got = {
        r[0]: r[1:]
        for r in rows(
            db,
            "select ticker, entry_changed_after, entry_changed_by, last_seen_on, exit_changed_by "
            "from marts.dim_index_memberships where ticker in (?, ?, ?)",
            [roles["in_at_rebalance"], roles["in_ad_hoc"], roles["out_ad_hoc"]],
        )
    }
    assert got[roles["in_at_rebalance"]] == (D1, D2, D6, None)
    assert got[roles["in_ad_hoc"]] == (D2, D3, D6, None)
    assert got[roles["out_ad_hoc"]] == (None, D1, D2, D3)


def test_every_session_s_members_follow_the_rule(gappy):
    """Membership on each session from the first snapshot on, as eligibility reads it."""
    db, _, members, _ = gappy
    intervals = expected_intervals(members, REFERENCE_REBALANCE_DAYS)
    for day in sessions_between(D1, D6 + dt.timedelta(days=7)):
        expected = sorted(r[1] for r in intervals if r[2] <= day and (r[3] is None or day < r[3]))
        got = [
            t
            for (t,) in rows(
                db,
                "select ticker from marts.dim_index_memberships where valid_from <= ? "
                "and (valid_to is null or ? < valid_to) order by ticker",
                [day, day],
            )
        ]
        assert got == expected, day
    # between the missing rebalance and the next snapshot the new members are members
    assert len([r for r in intervals if r[2] <= dt.date(2022, 6, 20) and r[4] != "initial"]) == 2


def test_eligibility_follows_the_rebalance_not_the_next_snapshot(gappy):
    """Under the constituents-only regime the tickers swapped at the missing 2022-06-10
    rebalance change eligibility that day, not at the 2022-07-01 snapshot."""
    db, _, members, roles = gappy
    intervals = expected_intervals(members, REFERENCE_REBALANCE_DAYS)
    tickers = {r["ISU_CD"] for r in records(TRADING)}
    got = {
        (day, ticker): (eligible, member)
        for day, ticker, eligible, member in rows(
            db,
            "select trade_date, ticker, is_eligible, is_index_member "
            "from marts.short_eligibility_daily",
        )
    }
    assert len(got) == len(TRADING_DAYS) * len(tickers)
    for day in TRADING_DAYS:
        inside = {r[1] for r in intervals if r[2] <= day and (r[3] is None or day < r[3])}
        for ticker in tickers:
            member = ticker in inside
            assert got[(day, ticker)] == (member, member), (day, ticker)
    entered = [d for d in TRADING_DAYS if got[(d, roles["in_at_rebalance"])][0]]
    assert entered == [d for d in TRADING_DAYS if d >= MISSING_REBALANCE]
    assert len([d for d in entered if d < D2]) == 15  # 2022-06-10..30, wrong under the old dating


def test_snapshot_quality_flags_the_gaps(gappy):
    db, build, members, _ = gappy
    got = {
        r[0]: r[1:]
        for r in rows(
            db,
            "select session_date, is_index_rebalance_effective, has_snapshot, member_count, "
            "usual_member_count, tickers_bridged from marts.dim_index_snapshots",
        )
    }
    rebalances = [d for d in REFERENCE_REBALANCE_DAYS if D1 <= d <= D6]
    assert sorted(got) == sorted(set(members) | set(rebalances))
    assert got[MISSING_REBALANCE] == (True, False, None, 200, None)
    days = sorted(members)
    for k, day in enumerate(days):
        sides = members[days[k - 1]] & members[days[k + 1]] if 0 < k < len(days) - 1 else set()
        bridged = len(sides - members[day])
        assert got[day] == (day in rebalances, True, len(members[day]), 200, bridged), day
    assert got[D2][2:] == (198, 200, 1)
    status = {r["unique_id"].split(".")[2]: r["status"] for r in build.results}
    assert status["index_snapshot_on_every_rebalance_session"] == "warn"
    assert status["index_snapshot_not_short_of_members"] == "warn"
    assert status["index_snapshot_lists_every_member"] == "warn"
    assert status["index_snapshot_not_above_the_index_size"] == "pass"


def test_a_snapshot_above_the_index_s_size_fails_the_build(tmp_path):
    """One more member than the index holds contradicts its definition: an error, not a
    warning (150 real rows as KOSDAQ 150 snapshots, the middle one with a 151st)."""
    real = _real_rows()
    body = real[300:450]
    _write_snapshots(
        tmp_path / "landing", "KOSDAQ150", {D1: body, D2: [*body, real[450]], D3: body}
    )
    db = tmp_path / "oversized.duckdb"
    load_raw(db, tmp_path / "landing")
    build = run_dbt(
        db,
        tmp_path / "target",
        DbtCommand(
            ["build", "--select", "+dim_index_snapshots", "--indirect-selection", "cautious"]
        ),
    )
    assert build.returncode == 1
    assert [f.split(".")[2] for f in build.failures()] == [
        "index_snapshot_not_above_the_index_size"
    ]
    assert rows(
        db,
        "select session_date, member_count, usual_member_count from marts.dim_index_snapshots "
        "where member_count <> usual_member_count",
    ) == [(D2, 151, 150)]
