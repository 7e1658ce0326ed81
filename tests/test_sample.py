"""The synthetic landing zone: exact KRX/ECOS formats, arithmetic, regimes and ground truth.

Every figure is recomputed here from the JSON text, independently of the generator's code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pytest

from pipelines.calendar import non_session_weekdays, rebalance_effective_sessions, shift_sessions
from pipelines.raw.load import load_landing
from pipelines.regimes import REGIMES, regime_on, seed_csv
from pipelines.sample.formats import hundredths_field, int_field, isin_for
from pipelines.sample.generator import README_NAME, generate
from pipelines.sample.names import ENG_MARKER, NAME_MARKER
from pipelines.settings import DBT_PROJECT_DIR
from pipelines.sources.datasets import DATASETS, PathError, parse_landing_path
from tests.helpers import REAL_ROOT

START, END = dt.date(2021, 4, 20), dt.date(2021, 7, 15)  # ban -> constituents only, a rebalance
LONG_START, LONG_END = dt.date(2020, 1, 2), dt.date(2025, 4, 30)  # all five regimes

INT = re.compile(r"^(0|[1-9]\d{0,2}(,\d{3})*)$")
SIGNED = re.compile(r"^-?(0|[1-9]\d{0,2}(,\d{3})*)$")
RATIO = re.compile(r"^\d{1,3}\.\d{2}$")
SIGNED_DEC = re.compile(r"^-?(0|[1-9]\d{0,2}(,\d{3})*)\.\d{2}$")
TICKER = re.compile(r"^[0-9A-Z]{6}$")
STAMP = re.compile(r"^\d{4}\.\d{2}\.\d{2} (AM|PM) \d{2}:\d{2}:\d{2}$")


def n(text: str) -> int:
    assert INT.match(text), text
    return int(text.replace(",", ""))


def signed(text: str) -> int:
    assert SIGNED.match(text), text
    return int(text.replace(",", ""))


def cents(text: str) -> int:
    """A decimal with two places (index levels) as an integer of hundredths."""
    assert SIGNED_DEC.match(text), text
    return int(text.replace(",", "").replace(".", ""))


def pct(num: int, den: int) -> str:
    """round(num / den * 100, 2) exactly, half up, as KRX prints it."""
    value = (Decimal(num) * 100 / Decimal(den)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{value:.2f}"


class Landing:
    """A generated landing zone read back from disk."""

    def __init__(self, root: Path, truth):
        self.root, self.truth = root, truth
        self.raw: dict[str, bytes] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.raw[path.relative_to(root).as_posix()] = path.read_bytes()
        self.body = {rel: orjson.loads(b) for rel, b in self.raw.items() if rel.endswith(".json")}
        #: sessions whose balances KRX has published (on T+2) by the end of the range
        self.balance_days = [d for d in truth.sessions if shift_sessions(d, 2) <= truth.end]

    def rows(self, dataset: str, day: dt.date | int, segment: str | None = None) -> list[dict]:
        rel = "/".join([DATASETS[dataset].folder, *([segment] if segment else []), f"{day}.json"])
        node = self.body[rel]
        for key in DATASETS[dataset].list_key:
            node = node[key]
        return node

    def balances(self, day: dt.date) -> dict[str, tuple[str, dict]]:
        """ticker -> (market, balance row) over both markets."""
        out = {}
        for market in ("KOSPI", "KOSDAQ"):
            for row in self.rows("short_balance", day, market):
                out[row["ISU_CD"]] = (market, row)
        return out

    def trades(self, day: dt.date) -> dict[str, tuple[str, dict]]:
        out = {}
        for market in ("KOSPI", "KOSDAQ"):
            for row in self.rows("short_trading", day, market):
                out[row["ISU_CD"]] = (market, row)
        return out


def close_of(row: dict) -> int:
    cap, shares = n(row["MKTCAP"]), n(row["LIST_SHRS"])
    assert cap % shares == 0, row
    return cap // shares


@pytest.fixture(scope="module")
def short(tmp_path_factory) -> Landing:
    root = tmp_path_factory.mktemp("short") / "landing"
    return Landing(root, generate(root, START, END, seed=7))


@pytest.fixture(scope="module")
def long(tmp_path_factory) -> Landing:
    root = tmp_path_factory.mktemp("long") / "landing"
    return Landing(root, generate(root, LONG_START, LONG_END, seed=7))


# --- determinism and layout -------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(short, tmp_path):
    again = Landing(tmp_path / "again", generate(tmp_path / "again", START, END, seed=7))
    assert again.raw == short.raw
    other = Landing(tmp_path / "other", generate(tmp_path / "other", START, END, seed=8))
    assert set(other.raw) & set(short.raw)
    assert sum(other.raw[k] != short.raw.get(k) for k in other.raw) > len(other.raw) // 2


def test_the_root_holds_landing_files_and_the_readme_only(short):
    assert set(short.raw) == {*short.truth.files, README_NAME}
    assert "SYNTHETIC" in short.raw[README_NAME].decode()
    for rel in short.truth.files:
        parse_landing_path(rel)  # raises on anything outside the layout
    with pytest.raises(PathError):
        parse_landing_path(README_NAME)


def test_one_file_per_session_and_market_and_none_on_holidays(short):
    truth = short.truth
    sessions = set(truth.sessions)
    holidays = non_session_weekdays(START, END)
    assert holidays  # 2021-05-05, 2021-05-19
    published = {"short_balance": set(truth.sessions[:-2]), "short_trading": sessions}
    assert set(short.balance_days) == published["short_balance"]
    for name in ("short_balance", "short_trading"):
        for market in ("KOSPI", "KOSDAQ"):
            days = {
                parse_landing_path(rel).period_start
                for rel in truth.files
                if rel.startswith(f"{DATASETS[name].folder}/{market}/")
            }
            assert days == published[name]
    for rel in truth.files:
        landing = parse_landing_path(rel)
        if landing.file_date is not None:
            assert landing.file_date in sessions
            assert landing.file_date not in holidays
    years = {
        f"{DATASETS['index_ohlcv'].folder}/{i}/2021.json" for i in DATASETS["index_ohlcv"].segments
    }
    assert years <= set(truth.files)
    assert "ecos/usdkrw/2021.json" in truth.files


def test_bodies_are_compact_utf8_json_like_the_real_answers(short):
    # the real KRX answers are byte-identical to orjson's compact, unescaped UTF-8 output
    real = list(REAL_ROOT.rglob("*.json"))
    assert real
    for path in real:
        data = path.read_bytes()
        assert orjson.dumps(orjson.loads(data)) == data, path
    for rel, data in short.raw.items():
        if rel.endswith(".json"):
            assert orjson.dumps(orjson.loads(data)) == data, rel
            assert b"\\u" not in data, rel


def test_envelopes_and_field_sets_match_the_dataset_table(short):
    for rel in short.truth.files:
        dataset = parse_landing_path(rel).dataset
        body = short.body[rel]
        if dataset.name == "usdkrw":
            assert set(body) == {"StatisticSearch"}
            assert set(body["StatisticSearch"]) == {"list_total_count", "row"}
            rows = body["StatisticSearch"]["row"]
            assert body["StatisticSearch"]["list_total_count"] == len(rows)
            keys = {f.source for f in dataset.fields} | set(dataset.ignored_fields)
        else:
            assert set(body) == {dataset.list_key[0], "CURRENT_DATETIME"}, rel
            assert STAMP.match(body["CURRENT_DATETIME"])
            rows = body[dataset.list_key[0]]
            keys = {f.source for f in dataset.fields}
        assert rows, rel
        for row in rows:
            assert set(row) == keys, rel
            for field in dataset.fields:
                assert isinstance(row[field.source], str), (rel, field.source)


def test_integer_and_ratio_text_matches_python_formatting():
    values = [0, 1, 9, 10, 999, 1000, 1001, 999_999, 1_000_000, 5_489_240, 9 * 10**18]
    fields = int_field(np.array(values))
    assert [bytes(r[r != 0]).decode() for r in fields] == [f"{v:,}" for v in values]
    fields = hundredths_field(np.array([0, 7, 10, 99, 100, 1234, 10000]))
    got = [bytes(r[r != 0]).decode() for r in fields]
    assert got == ["0.00", "0.07", "0.10", "0.99", "1.00", "12.34", "100.00"]


def test_the_landing_zone_loads_without_a_single_rejection(short):
    con = duckdb.connect()
    report = load_landing(con, short.root)
    assert not report.rejected, {k: str(v) for k, v in list(report.rejected.items())[:3]}
    assert len(report.loaded) == len(short.truth.files)
    assert con.execute("select count(*) from raw.rejected_rows").fetchone() == (0,)


# --- arithmetic -------------------------------------------------------------------------------


def test_balance_rows_are_consistent(short):
    for day in short.balance_days:
        for market in ("KOSPI", "KOSDAQ"):
            rows = short.rows("short_balance", day, market)
            tickers = [r["ISU_CD"] for r in rows]
            assert len(tickers) == len(set(tickers))
            assert [r["ISU_ABBRV"] for r in rows] == sorted(r["ISU_ABBRV"] for r in rows)
            for r in rows:
                assert TICKER.match(r["ISU_CD"])
                qty, shares = n(r["BAL_QTY"]), n(r["LIST_SHRS"])
                close = close_of(r)
                assert close > 0
                assert n(r["BAL_AMT"]) == qty * close
                assert 0 <= qty <= shares
                assert RATIO.match(r["BAL_RTO"])
                assert r["BAL_RTO"] == pct(qty, shares) == f"{round(qty / shares * 100, 2):.2f}"


def test_trading_rows_are_consistent_with_the_balance_file(short):
    for day in short.balance_days:
        for market in ("KOSPI", "KOSDAQ"):
            balances = {r["ISU_CD"]: r for r in short.rows("short_balance", day, market)}
            rows = short.rows("short_trading", day, market)
            assert {r["ISU_CD"] for r in rows} == set(balances)
            for r in rows:
                b = balances[r["ISU_CD"]]
                assert r["ISU_ABBRV"] == b["ISU_ABBRV"]
                assert r["SECUGRP_NM"] == "주권"
                close = close_of(b)
                vol = {k: n(r[k]) for k in r if k.endswith("TRDVOL")}
                val = {k: n(r[k]) for k in r if k.endswith("TRDVAL")}
                short_vol = vol["CVSRTSELL_TRDVOL"]
                assert short_vol == vol["UPTICKRULE_APPL_TRDVOL"] + vol["UPTICKRULE_EXCPT_TRDVOL"]
                assert short_vol <= vol["ACC_TRDVOL"]
                for key, v in vol.items():
                    assert val[key.replace("TRDVOL", "TRDVAL")] == v * close
                total, total_val = vol["ACC_TRDVOL"], val["ACC_TRDVAL"]
                assert r["TRDVOL_WT"] == (pct(short_vol, total) if total else "0.00")
                assert r["TRDVAL_WT"] == (
                    pct(val["CVSRTSELL_TRDVAL"], total_val) if total_val else "0.00"
                )


def _index_rows(landing: Landing, index_code: str) -> list[dict]:
    rows = []
    for year in sorted({d.year for d in landing.truth.sessions}):
        year_rows = landing.rows("index_ohlcv", year, index_code)
        dates = [r["TRD_DD"] for r in year_rows]
        assert dates == sorted(dates, reverse=True)  # newest first, like KRX
        rows += reversed(year_rows)
    return rows


@pytest.mark.parametrize("index_code", ["KOSPI", "KOSPI200", "KOSDAQ", "KOSDAQ150"])
def test_index_levels_are_consistent(short, index_code):
    truth = short.truth
    rows = _index_rows(short, index_code)
    assert [r["TRD_DD"] for r in rows] == [f"{d:%Y/%m/%d}" for d in truth.sessions]
    previous = None
    for day, r in zip(truth.sessions, rows, strict=True):
        close, change = cents(r["CLSPRC_IDX"]), cents(r["PRV_DD_CMPR"])
        high, low, open_ = cents(r["HGPRC_IDX"]), cents(r["LWPRC_IDX"]), cents(r["OPNPRC_IDX"])
        assert high >= max(open_, close) and low <= min(open_, close)
        if previous is not None:
            assert change == close - previous
        prev = close - change
        rate = cents(r["UPDN_RATE"])
        assert abs(rate) == cents(pct(abs(change), prev)) and rate * change >= 0
        assert r["FLUC_TP_CD"] == ("1" if change > 0 else "2" if change < 0 else "3")
        previous = close
        # market caps (balance files, where published) and volumes add up from the tickers
        market = {"KOSPI200": "KOSPI", "KOSDAQ150": "KOSDAQ"}.get(index_code, index_code)
        members = set(truth.members_on(index_code, day)) if market != index_code else None
        trades = [
            t
            for t in short.rows("short_trading", day, market)
            if members is None or t["ISU_CD"] in members
        ]
        assert members is None or len(trades) == len(members)
        if day in short.balance_days:
            balances = [
                b
                for b in short.rows("short_balance", day, market)
                if members is None or b["ISU_CD"] in members
            ]
            assert n(r["MKTCAP"]) == sum(n(b["MKTCAP"]) for b in balances)
        assert n(r["ACC_TRDVOL"]) == sum(n(t["ACC_TRDVOL"]) for t in trades)
        assert n(r["ACC_TRDVAL"]) == sum(n(t["ACC_TRDVAL"]) for t in trades)


def test_usdkrw_rows(long):
    truth = long.truth
    rows = []
    for year in sorted({d.year for d in truth.sessions}):
        rows += long.body[f"ecos/usdkrw/{year}.json"]["StatisticSearch"]["row"]
    times = [r["TIME"] for r in rows]
    assert times == sorted(set(times))
    days = {dt.datetime.strptime(t, "%Y%m%d").date() for t in times}
    assert set(truth.sessions) <= days
    extra = days - set(truth.sessions)
    assert extra and all(d.weekday() < 5 and d.month == 12 for d in extra)  # year-end closures
    values = [r["DATA_VALUE"] for r in rows]
    assert any("," in v for v in values) and any("," not in v for v in values)
    for r in rows:
        assert r["STAT_CODE"] == "731Y001" and r["ITEM_CODE1"] == "0000001"
        assert r["UNIT_NAME"] == "원" and r["ITEM_NAME1"] == "원/미국달러(매매기준율)"
        assert 800 < float(r["DATA_VALUE"].replace(",", "")) < 2000


# --- securities -------------------------------------------------------------------------------


def test_tickers_include_alphanumeric_codes(short, long):
    tickers = set(short.trades(START)) | set(short.trades(END))
    assert any(not t.isdigit() for t in tickers)
    assert any(re.match(r"^\d{5}[KLM]$", t) for t in tickers)  # preferred, like 00104K
    late = set(long.trades(LONG_END))
    assert any(re.match(r"^0\d{3}[A-Z]0$", t) for t in late)  # new style, like 0037T0


def test_master_snapshots(short, long):
    truth = short.truth
    masters = [rel for rel in truth.files if rel.startswith("krx/securities/")]
    assert masters == [f"krx/securities/{truth.sessions[-1]}.json"]  # last session of the range
    day = truth.sessions[-1]
    rows = short.body[masters[0]]["OutBlock_1"]
    trades = short.trades(day)
    assert {r["ISU_SRT_CD"] for r in rows} == set(trades)
    for r in rows:
        market, t = trades[r["ISU_SRT_CD"]]
        assert r["MKT_TP_NM"] == market and r["ISU_ABBRV"] == t["ISU_ABBRV"]
    # a year-end master of the long range, whose balance file is published
    day = dt.date(2020, 12, 30)
    rows = long.body[f"krx/securities/{day}.json"]["OutBlock_1"]
    balances = long.balances(day)
    assert {r["ISU_SRT_CD"] for r in rows} == set(balances)
    for r in rows:
        code = r["ISU_SRT_CD"]
        assert r["ISU_CD"] == isin_for(code) and len(r["ISU_CD"]) == 12
        assert r["ISU_CD"].startswith("KR7" + code)
        assert r["ISU_ENG_NM"].endswith(ENG_MARKER)
        assert r["ISU_NM"].endswith(NAME_MARKER) and r["ISU_ABBRV"].endswith(NAME_MARKER)
        assert re.match(r"^\d{4}/\d{2}/\d{2}$", r["LIST_DD"])
        market, b = balances[code]
        assert r["MKT_TP_NM"] == market
        assert r["ISU_ABBRV"] == b["ISU_ABBRV"] and r["LIST_SHRS"] == b["LIST_SHRS"]
        assert (r["SECT_TP_NM"] == "") == (market == "KOSPI")
        assert r["SECUGRP_NM"] == "주권"
        preferred = not code.endswith("0")
        assert (r["KIND_STKCERT_TP_NM"] != "보통주") == preferred


def test_names_are_invented_and_marked(short):
    real = orjson.loads((REAL_ROOT / "landing/krx/securities/2026-01-25.json").read_bytes())
    real_names = {r["ISU_ABBRV"] for r in real["OutBlock_1"]} | {
        r["ISU_NM"] for r in real["OutBlock_1"]
    }
    names = {r["ISU_ABBRV"] for _, r in short.trades(START).values()}
    names |= {r["ISU_ABBRV"] for _, r in short.trades(END).values()}
    for name in names:
        assert name.endswith(NAME_MARKER)
        base = name.removesuffix(NAME_MARKER)
        assert base not in real_names
        assert re.sub(r"(우|2우B|3우B)$", "", base) not in real_names


def test_listings_delistings_renames_and_market_changes_show_in_the_files(short):
    truth = short.truth
    first, last = truth.sessions[0], truth.sessions[-1]
    assert truth.listings and truth.delistings and len(truth.renames) >= 2
    assert truth.market_changes
    by_day = {d: short.trades(d) for d in truth.sessions}
    for day, ticker, market in truth.listings:
        assert first < day
        for d in truth.sessions:
            assert (ticker in by_day[d]) == (d >= day)
        assert by_day[day][ticker][0] == market
    for day, ticker, _market in truth.delistings:
        assert day <= last
        for d in truth.sessions:
            assert (ticker in by_day[d]) == (d < day)
    for day, ticker, old, new in truth.renames:
        for d in truth.sessions:
            if ticker in by_day[d]:
                assert by_day[d][ticker][1]["ISU_ABBRV"] == (new if d >= day else old)
    for day, ticker, old, new in truth.market_changes:
        assert (old, new) == ("KOSDAQ", "KOSPI")
        for d in truth.sessions:
            assert by_day[d][ticker][0] == (new if d >= day else old)


# --- index membership -------------------------------------------------------------------------


def _intervals_from_snapshots(snapshots: dict[dt.date, list[str]], rebalances: set[dt.date]):
    """What a warehouse derives from the snapshot files alone."""
    open_: dict[str, tuple[dt.date, str]] = {}
    out = []
    previous: set[str] | None = None
    for day in sorted(snapshots):
        current = set(snapshots[day])
        if previous is None:
            kind = "initial"
        else:
            kind = "regular_rebalance" if day in rebalances else "ad_hoc"
        for ticker in sorted(current - (previous or set())):
            open_[ticker] = (day, kind)
        for ticker in sorted((previous or set()) - current):
            start, entry = open_.pop(ticker)
            out.append((ticker, start, day, entry, kind))
        previous = current
    out += [(t, start, None, entry, None) for t, (start, entry) in open_.items()]
    return sorted(out, key=lambda iv: (iv[1], iv[0]))


@pytest.mark.parametrize("fixture", ["short", "long"])
def test_membership_truth_agrees_with_the_snapshot_files(fixture, request):
    landing: Landing = request.getfixturevalue(fixture)
    truth = landing.truth
    rebalances = set(truth.rebalance_sessions)
    assert rebalances == set(rebalance_effective_sessions(truth.start, truth.end))
    ad_hoc_days = {c[1] for c in truth.ad_hoc_changes}
    for index_code in ("KOSPI200", "KOSDAQ150"):
        files = {}
        for rel in truth.files:
            if rel.startswith(f"krx/index_constituents/{index_code}/"):
                day = parse_landing_path(rel).period_start
                rows = landing.body[rel]["output"]
                caps = [n(r["MKTCAP"]) for r in rows]
                assert caps == sorted(caps, reverse=True)
                assert all(r["IDX_ID"] == "" for r in rows)
                files[day] = sorted(r["ISU_SRT_CD"] for r in rows)
        assert files == truth.snapshots[index_code]
        size = 20 if index_code == "KOSPI200" else 15
        for day, members in files.items():
            assert len(members) == size
            assert members == truth.members_on(index_code, day)
        # snapshots on the first session, every rebalance, every change and each month's start
        months = {(d.year, d.month) for d in files}
        assert months == {(d.year, d.month) for d in truth.sessions}
        assert truth.sessions[0] in files and rebalances <= set(files)
        assert _intervals_from_snapshots(files, rebalances) == truth.memberships[index_code]
        for _ticker, start, stop, entry, exit_ in truth.memberships[index_code]:
            for day, kind in ((start, entry), (stop, exit_)):
                if day is None or kind == "initial":
                    continue
                assert day in (rebalances if kind == "regular_rebalance" else ad_hoc_days)
    assert {c[0] for c in truth.ad_hoc_changes} == {"KOSPI200", "KOSDAQ150"}


def test_snapshot_rows_agree_with_the_daily_files(short):
    halted_rows = 0
    for rel in short.truth.files:
        if not rel.startswith("krx/index_constituents/"):
            continue
        day = parse_landing_path(rel).period_start
        if day not in short.balance_days:
            continue
        balances = short.balances(day)
        trades = short.trades(day)
        for r in short.body[rel]["output"]:
            _, b = balances[r["ISU_SRT_CD"]]
            assert r["ISU_ABBRV"] == b["ISU_ABBRV"] and r["MKTCAP"] == b["MKTCAP"]
            assert n(r["TDD_CLSPRC"]) == close_of(b)
            if r["STR_CMP_PRC"] == "-":  # a halted member: no change printed
                halted_rows += 1
                assert r["FLUC_TP_CD"] == "" and r["FLUC_RT"] == "-"
                assert trades[r["ISU_SRT_CD"]][1]["ACC_TRDVOL"] == "0"
                continue
            change, close = signed(r["STR_CMP_PRC"]), n(r["TDD_CLSPRC"])
            assert r["FLUC_TP_CD"] == ("1" if change > 0 else "2" if change < 0 else "3")
            assert abs(cents(r["FLUC_RT"])) == cents(pct(abs(change), close - change))
    assert halted_rows


# --- regimes ----------------------------------------------------------------------------------


def test_regime_table_and_seed():
    assert [r.regime_id for r in REGIMES] == [1, 2, 3, 4, 5]
    for a, b in itertools.pairwise(REGIMES):
        assert a.ends_on + dt.timedelta(days=1) == b.starts_on
    assert REGIMES[-1].ends_on is None
    assert regime_on(dt.date(2020, 3, 15)).scope == "all_listed"
    assert regime_on(dt.date(2020, 3, 16)).scope == "market_makers_only"
    assert regime_on(dt.date(2021, 5, 3)).scope == "index_constituents"
    assert regime_on(dt.date(2023, 11, 6)).scope == "market_makers_only"
    assert regime_on(dt.date(2025, 3, 31)).scope == "all_listed"
    seed = DBT_PROJECT_DIR / "seeds" / "short_sale_regimes.csv"
    assert seed.read_text(encoding="utf-8") == seed_csv()


def test_eligibility_truth_follows_the_regimes(short):
    truth = short.truth
    ban_day, partial_day = dt.date(2021, 4, 26), dt.date(2021, 6, 15)
    tickers = set(short.balances(ban_day))
    assert not any(truth.eligible(ban_day, t) for t in tickers)
    balances = short.balances(partial_day)
    eligible = {t for t in balances if truth.eligible(partial_day, t)}
    members = {
        t
        for t, (market, _) in balances.items()
        if t in truth.members_on("KOSPI200" if market == "KOSPI" else "KOSDAQ150", partial_day)
    }
    assert eligible == members
    assert len(members) == 35
    assert not truth.eligible(partial_day, "ZZZZZZ")


def _check_regime_behaviour(landing: Landing) -> dict[str, int]:
    """New positions and uptick-rule volume only where allowed; residuals only decay."""
    truth = landing.truth
    seen: dict[str, int] = defaultdict(int)
    previous = None
    for day in landing.balance_days:
        scope = regime_on(day).scope
        balances, trades = landing.balances(day), landing.trades(day)
        for ticker, (_, row) in balances.items():
            allowed = truth.eligible(day, ticker)
            trade = trades[ticker][1]
            if not allowed:
                assert trade["UPTICKRULE_APPL_TRDVOL"] == "0", (day, ticker)
            elif trade["UPTICKRULE_APPL_TRDVOL"] != "0":
                seen[f"uptick_{scope}"] += 1
            if trade["UPTICKRULE_EXCPT_TRDVOL"] != "0":
                seen[f"exempt_{scope}"] += 1
            if previous is None or ticker not in previous:
                continue
            qty, before = n(row["BAL_QTY"]), n(previous[ticker][1]["BAL_QTY"])
            if not allowed:
                assert qty <= before, (day, ticker, before, qty)
                seen[f"decay_{scope}"] += qty < before
            elif qty > before:
                seen[f"growth_{scope}"] += 1
        previous = balances
    return seen


def test_balances_and_short_volume_follow_the_regimes(short):
    seen = _check_regime_behaviour(short)
    assert seen["exempt_market_makers_only"] and seen["decay_market_makers_only"]
    assert seen["uptick_index_constituents"] and seen["growth_index_constituents"]
    assert seen["decay_index_constituents"]


def test_balances_follow_the_regimes_over_years(long):
    seen = _check_regime_behaviour(long)
    for scope in ("all_listed", "index_constituents"):
        assert seen[f"growth_{scope}"] and seen[f"uptick_{scope}"]
    assert seen["exempt_market_makers_only"] and seen["decay_market_makers_only"]
    scopes = {regime_on(d).regime_id for d in long.truth.sessions}
    assert scopes == {1, 2, 3, 4, 5}


def test_balance_ratios_spread_like_a_market(long):
    for day in (dt.date(2020, 2, 3), dt.date(2022, 6, 2), long.balance_days[-1]):
        ratios = [float(r["BAL_RTO"]) for _, r in long.balances(day).values()]
        assert sum(r == 0 for r in ratios) > len(ratios) // 5  # many zero balances
        assert sum(0 < r < 3 for r in ratios) > len(ratios) // 10
        assert 5 < max(ratios) <= 15


def test_the_kosdaq150_leaver_keeps_a_decaying_residual(short):
    truth = short.truth
    assert len(truth.designated_leavers) == 2
    rebalance = truth.rebalance_sessions[0]
    assert regime_on(rebalance).scope == "index_constituents"
    residuals = {(r[0], r[1]): r for r in truth.residuals}
    big, covered = truth.designated_leavers
    after = [d for d in short.balance_days if d >= rebalance]
    last_member_day = truth.sessions[truth.sessions.index(rebalance) - 1]
    for ticker in (big, covered):
        _, _, excluded_on, at_exit, _ = residuals[("KOSDAQ150", ticker)]
        assert excluded_on == rebalance
        assert truth.is_member("KOSDAQ150", last_member_day, ticker)
        assert not truth.is_member("KOSDAQ150", rebalance, ticker)
        market, row = short.balances(last_member_day)[ticker]
        assert market == "KOSDAQ" and n(row["BAL_QTY"]) == at_exit
    series = [n(short.balances(d)[big][1]["BAL_QTY"]) for d in after]
    ratio_at_exit = float(short.balances(last_member_day)[big][1]["BAL_RTO"])
    assert ratio_at_exit >= 3.0  # a large balance
    assert all(b <= a for a, b in itertools.pairwise(series))
    assert series[-1] < 0.9 * series[0]
    zero_on = residuals[("KOSDAQ150", covered)][4]
    assert zero_on is not None and zero_on <= END
    assert short.balances(zero_on)[covered][1]["BAL_QTY"] == "0"


def test_truth_round_trips_to_json(short, tmp_path):
    path = short.truth.to_json(tmp_path / "truth.json")
    data = orjson.loads(path.read_bytes())
    assert data["sessions"] == [d.isoformat() for d in short.truth.sessions]
    assert set(data["memberships"]) == {"KOSPI200", "KOSDAQ150"}
    assert data["files"] == short.truth.files


def test_residual_truth_follows_each_leaver_until_it_re_enters(long):
    truth = long.truth
    checked_re_entries = 0
    for index_code, ticker, excluded_on, at_exit, zero_on in truth.residuals:
        days = long.balance_days
        before = [d for d in days if d < excluded_on]
        assert n(long.balances(before[-1])[ticker][1]["BAL_QTY"]) == at_exit
        re_entry = min(
            (
                iv[1]
                for iv in truth.memberships[index_code]
                if iv[0] == ticker and iv[1] > excluded_on
            ),
            default=None,
        )
        checked_re_entries += re_entry is not None
        followed = [d for d in days if d >= excluded_on and (re_entry is None or d < re_entry)]
        zeros = [
            d
            for d in followed
            if ticker in long.balances(d) and long.balances(d)[ticker][1]["BAL_QTY"] == "0"
        ]
        assert zero_on == (zeros[0] if zeros else None), (index_code, ticker, excluded_on)
    assert checked_re_entries
