"""The sample's overheated designations and KRX's screens: the generator's ground truth against
the warehouse (every candidate, KRX's list, the ban days), the types that fire, and the three
reconciliation checks (clean on the sample, a warning with the rows when a KRX screen is
changed). The warehouses are the session fixtures ``sample`` and ``export_sample``."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil

import duckdb
import pytest

from pipelines.calendar import sessions_between
from pipelines.defs.assets.dbt import DbtCommand
from pipelines.defs.assets.dbt_failures import failing_rows, failure_query
from pipelines.regimes import MARKET_MAKERS_ONLY, regime_on
from pipelines.settings import DBT_PROJECT_DIR
from tests.helpers import krx_int, rows, run_dbt

SEED = DBT_PROJECT_DIR / "seeds" / "short_overheat_rules.csv"
CHECKS = (
    "krx_reconciliation_balance_top50",
    "krx_reconciliation_trading_statistics",
    "krx_reconciliation_designations",
)


def required_types(start: dt.date, end: dt.date) -> set[tuple[int, str, int]]:
    """(version, market, type) of every seed row in force on a session of the range where
    shorting was allowed and that has at least 20 sessions before it in the range."""
    sessions = sessions_between(start, end)[20:]
    allowed = [d for d in sessions if regime_on(d).scope != MARKET_MAKERS_ONLY]
    out = set()
    with SEED.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            first = dt.date.fromisoformat(r["starts_on"])
            last = dt.date.fromisoformat(r["ends_on"]) if r["ends_on"] else dt.date.max
            if any(first <= d <= last for d in allowed):
                out.add((int(r["version_id"]), r["market"], int(r["designation_type"])))
    return out


@pytest.mark.parametrize("fixture", ["sample", "export_sample"])
def test_every_type_of_every_version_in_force_fires(fixture, request):
    _, truth = request.getfixturevalue(fixture)
    fired = {(d.version_id, d.market, d.designation_type) for d in truth.designations}
    required = required_types(truth.start, truth.end)
    assert required and required <= fired
    assert {t for _, _, t in required} == ({1, 2, 3, 4} if fixture == "sample" else {1, 2, 3})


def test_bans_last_as_the_version_says_and_extend_after_a_fall(sample):
    _, truth = sample
    ten = [d for d in truth.designations if d.version_id == 3]
    assert ten and all(len(d.ban_days) == 10 and not d.extended for d in ten)
    # the extension exists from 2022-10-24 only, and happens in the sample
    assert all(not d.extended for d in truth.designations if d.detected_on < dt.date(2022, 10, 24))
    extended = [d for d in truth.designations if d.extended]
    assert extended and all(len(d.ban_days) == 2 for d in extended)


def test_the_priority_decides_when_types_fire_together(sample):
    _, truth = sample
    together = [v for v in truth.overheat_candidates.values() if len(v.types) > 1]
    assert {v.types for v in together} >= {(1, 4), (2, 4)}
    assert all(v.designation_type == min(v.types) for v in together)


def test_every_candidate_is_the_truths_verdict(sample):
    warehouse, truth = sample
    got = {
        (day, ticker): (n, [k for k, fires in enumerate(types, 1) if fires], kind, ban)
        for day, ticker, n, kind, types, ban in rows(
            warehouse.db,
            "select trade_date, ticker, window_sessions, designation_type, "
            "(type_1, type_2, type_3, type_4), (ban_on, last_ban_on, extension_on) "
            "from marts.short_overheat_candidates",
        )
    }
    assert got.keys() == truth.overheat_candidates.keys()
    bans = {(d.detected_on, d.ticker): d for d in truth.designations}
    for key, (n, types, kind, ban) in got.items():
        ban_on, last_ban_on, extension_on = ban
        verdict = truth.overheat_candidates[key]
        assert (n, tuple(types), kind) == (
            verdict.window_sessions,
            verdict.types,
            verdict.designation_type,
        ), key
        d = bans.get(key)
        if d is None:
            assert ban_on is None, key
            continue
        ban_days = d.ban_days[:-1] if d.extended else d.ban_days
        assert (ban_on, last_ban_on) == (ban_days[0], ban_days[-1]), key
        assert extension_on == (d.ban_days[-1] if d.extended else None), key


def test_krx_list_is_the_truths_designations(sample):
    warehouse, truth = sample
    got = rows(
        warehouse.db,
        "select detected_on, ticker, market, designation_type, ban_on, last_ban_on "
        "from marts.short_overheat_designations order by detected_on, ticker",
    )
    expected = sorted(
        (d.detected_on, d.ticker, d.market, d.designation_type, d.ban_days[0], d.ban_days[-1])
        for d in truth.designations
    )
    assert got == expected


def test_no_short_trading_on_ban_days_and_the_reason_says_why(sample):
    warehouse, truth = sample
    ban_days = {
        (day, d.ticker) for d in truth.designations for day in d.ban_days if day <= truth.end
    }
    got = rows(
        warehouse.db,
        "select e.trade_date, e.ticker, t.short_volume, "
        "e.scope = 'market_makers_only' or e.reason like 'designated overheated%' "
        "from marts.short_eligibility_daily e "
        "left join marts.fct_short_trades t using (trade_date, ticker) "
        "where e.is_overheat_banned",
    )
    assert {(day, ticker) for day, ticker, *_ in got} == ban_days
    # no short trading at all; the reason names the ban unless the whole market was banned
    assert {(volume, says) for _, _, volume, says in got} <= {(0, True), (None, True)}


def test_the_reconciliation_of_the_sample_finds_no_difference(sample):
    warehouse, _ = sample
    got = dict(
        rows(
            warehouse.db,
            "select check_name, count(*) filter (where not passes) "
            "from marts.krx_reconciliation group by all",
        )
    )
    assert set(got) >= {"top50_balance_rank", "top50_short_share_pct", "designation_type"}
    assert set(got.values()) == {0}
    statuses = {
        r["unique_id"].split(".")[2]: r["status"]
        for r in warehouse.build.results
        if r["unique_id"].split(".")[2] in CHECKS
    }
    assert statuses == dict.fromkeys(CHECKS, "pass")


def test_the_screens_rank_by_the_exact_ratio(sample):
    """KRX's 30801 rows of the sample against its balance file of the same day, 30401's against
    the trading file: the top 50 by the exact ratio, ticker breaking ties."""
    warehouse, truth = sample
    landing = warehouse.db.parent / "landing"
    day = truth.sessions[-3]  # balances are published on T+2
    for folder, base, key in (
        ("short_balance_top50", "short_balance", ("BAL_QTY", "LIST_SHRS")),
        ("short_trading_top50", "short_trading", ("CVSRTSELL_TRDVAL", "ACC_TRDVAL")),
    ):
        for market in ("KOSPI", "KOSDAQ"):
            top = json.loads((landing / f"krx/{folder}/{market}/{day}.json").read_text())
            base_rows = json.loads((landing / f"krx/{base}/{market}/{day}.json").read_text())
            ratio = {
                r["ISU_CD"]: (krx_int(r[key[0]]), krx_int(r[key[1]]))
                for r in base_rows["OutBlock_1"]
            }
            listed = [r["ISU_CD"] for r in top["OutBlock_1"]]
            assert [int(r["RANK"]) for r in top["OutBlock_1"]] == list(range(1, len(listed) + 1))
            assert len(listed) == min(50, len(listed)) and listed
            exact = sorted(listed, key=lambda c: (-ratio[c][0] * 10**32 // ratio[c][1], c))
            assert listed == exact, (folder, market)
            if folder == "short_balance_top50":
                ranked = sorted(
                    (c for c, (q, _) in ratio.items() if q > 0),
                    key=lambda c: (-ratio[c][0] * 10**32 // ratio[c][1], c),
                )
                assert listed == ranked[:50]


def _plant(con) -> dict[str, tuple]:
    """One disagreement in each of KRX's three screens, as loaded: a ratio, an average share,
    a designation's type. Returns the planted row per check."""
    trade_date, market, ticker = con.execute(
        "select trade_date, market, isu_cd from raw.krx_short_balance_top50 "
        "order by trade_date, market, rank limit 1"
    ).fetchone()
    con.execute(
        "update raw.krx_short_balance_top50 set bal_rto = bal_rto + 0.05 "
        "where trade_date = ? and market = ? and isu_cd = ?",
        [trade_date, market, ticker],
    )
    planted = {CHECKS[0]: (trade_date, "top50_balance_ratio_pct", ticker)}
    trade_date, market, ticker = con.execute(
        "select trade_date, market, isu_cd from raw.krx_short_trading_top50 "
        "order by trade_date desc, market, rank limit 1"
    ).fetchone()
    con.execute(
        "update raw.krx_short_trading_top50 "
        "set valu_pd_avg_srtsell_wt = valu_pd_avg_srtsell_wt + 0.5 "
        "where trade_date = ? and market = ? and isu_cd = ?",
        [trade_date, market, ticker],
    )
    planted[CHECKS[1]] = (trade_date, "top50_avg_short_share_40d_pct", ticker)
    detected_on, ticker = con.execute(
        "select bas_dd, isu_cd from raw.krx_short_overheat order by bas_dd, isu_cd limit 1"
    ).fetchone()
    con.execute(
        "update raw.krx_short_overheat set srtsell_impsbl_dtec_tp_nm = "
        "case when srtsell_impsbl_dtec_tp_nm = '1유형' then '2유형' else '1유형' end "
        "where bas_dd = ? and isu_cd = ?",
        [detected_on, ticker],
    )
    planted[CHECKS[2]] = (detected_on, "designation_type", ticker)
    return planted


def test_each_reconciliation_check_warns_with_the_rows_of_a_planted_difference(
    export_sample, tmp_path
):
    """The three checks pass on the clean sample; with one KRX figure changed in each screen,
    each warns and its failing rows (what the Dagster check shows) name the changed row."""
    warehouse, _ = export_sample
    clean = {
        r["unique_id"].split(".")[2]: r["status"]
        for r in warehouse.build.results
        if r["unique_id"].split(".")[2] in CHECKS
    }
    assert clean == dict.fromkeys(CHECKS, "pass")
    db, target = tmp_path / "planted.duckdb", tmp_path / "target"
    shutil.copyfile(warehouse.db, db)
    with duckdb.connect(str(db)) as con:
        planted = _plant(con)
    command = ["build", "--select", "short_overheat_designations", "krx_reconciliation"]
    run = run_dbt(db, target, DbtCommand(command))
    assert run.returncode == 0, run.output[-3000:]
    results = {r["unique_id"].split(".")[2]: r for r in run.results}
    manifest = json.loads((target / "manifest.json").read_text())
    with duckdb.connect(str(db), read_only=True) as con:
        for check in CHECKS:
            assert (results[check]["status"], results[check]["failures"]) == ("warn", 1), check
            uid = results[check]["unique_id"]
            columns, found = failing_rows(con, failure_query(manifest, uid, target))
            shown = [dict(zip(columns, row, strict=True)) for row in found]
            assert [(r["trade_date"], r["check_name"], r["ticker"]) for r in shown] == [
                planted[check]
            ], check
