"""The measured work, one function per measurement, each run in a fresh process by ``run.py``:

    python benchmarks/measures.py <name> '<json arguments>'

Each prints one line ``BENCH-RESULT {json}`` with its inner timings (seconds, imports excluded)
and counts; wall time and memory are measured from outside by ``run.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

RESULT_PREFIX = "BENCH-RESULT "
#: The models of the short-balance path (and their parents) that measurement (a) builds.
BALANCE_MODELS = "+fct_market_short_balances"


def balance_path(args: dict) -> dict:
    """(a) Raw short-balance files (plus sessions, USD/KRW and index levels) -> our loader ->
    ``raw`` -> ``dbt build`` of the balance facts and their parents, in process as the pipeline
    runs it. With ``dbt: false`` only the raw part runs ((a-raw))."""
    import datetime as dt

    import duckdb

    from pipelines.raw.load import load_landing
    from pipelines.raw.tables import create_raw_schema, write_sessions

    window = (dt.date.fromisoformat(args["start"]), dt.date.fromisoformat(args["end"]))
    started = time.perf_counter()
    with duckdb.connect(args["db"]) as con:
        create_raw_schema(con)
        write_sessions(con)
        report = load_landing(
            con,
            Path(args["landing"]),
            window=window,
            datasets=["short_balance", "usdkrw", "index_ohlcv"],
        )
        balance_rows = con.execute("select count(*) from raw.krx_short_balance").fetchone()[0]
    raw_s = time.perf_counter() - started
    result = {
        "raw_s": raw_s,
        "files_loaded": len(report.loaded),
        "files_rejected": len(report.rejected),
        "balance_rows": balance_rows,
    }
    if not args.get("dbt", True):
        return {**result, "total_s": raw_s}
    # dbt in process, as the pipeline runs it: untimed, the imports and a first parse (a
    # deployed project keeps dbt's partial parse between runs); timed, what every run does:
    # the parse from that state, then the build
    from pipelines.defs.assets.dbt import build_dbt_command
    from pipelines.defs.dbt import runner

    os.environ["KRX_DUCKDB_PATH"] = args["db"]
    project, scratch = args["dbt_project"], Path(args["scratch"])
    folders = ["--project-dir", project, "--profiles-dir", project]
    parse_target = scratch / "dbt-parse"
    dbt_core = runner.DbtCore(project_dir=project, profiles_dir=project)
    started = time.perf_counter()
    dbt_core.manifest(project, parse_target)
    result["dbt_parse_s"] = time.perf_counter() - started
    runner._MANIFESTS.clear()  # the timed part starts as a new process does, from the kept parse
    started = time.perf_counter()
    manifest = dbt_core.manifest(project, parse_target)
    target = str(scratch / "dbt-target")
    # cautious: only the tests of the selected models (not those that also read other models)
    select = ["--select", BALANCE_MODELS, "--indirect-selection", "cautious"]
    # the pipeline's own command (unit tests left out), on the balance models
    build = [*build_dbt_command(None).args, *select, *folders]
    dbt = runner.invoke_dbt(
        [*build, "--target-path", target, "--log-path", target],
        manifest=manifest,
    )
    dbt_s = time.perf_counter() - started
    result.update(dbt_s=dbt_s, total_s=raw_s + dbt_s, dbt_returncode=0 if dbt.success else 1)
    if not dbt.success:
        result["dbt_error"] = f"{dbt.exception}; see {target}/dbt.log"
        return result
    with duckdb.connect(args["db"], read_only=True) as con:
        result["fact_rows"], result["market_rows"] = con.execute(
            "select (select count(*) from marts.fct_short_balances), "
            "(select count(*) from marts.fct_market_short_balances)"
        ).fetchone()
    return result


BASELINE_SQL = """
create or replace table fct_short_balances as
with
files as (
    select filename, unnest(OutBlock_1) as r
    from read_json(:balances:, filename = true)
),
rates as (
    select strptime(r.TIME, '%Y%m%d')::date as rate_date,
           replace(r.DATA_VALUE, ',', '')::double as usdkrw
    from (select unnest(StatisticSearch."row") as r from read_json(:usdkrw:))
),
typed as (
    select
        strptime(regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})\\.json$', 1), '%Y-%m-%d')::date
            as trade_date,
        regexp_extract(filename, '/(KOSPI|KOSDAQ)/', 1) as market,
        r.ISU_CD as ticker,
        r.ISU_ABBRV as name,
        replace(r.BAL_QTY, ',', '')::bigint as balance_qty,
        replace(r.LIST_SHRS, ',', '')::bigint as listed_shares,
        replace(r.BAL_AMT, ',', '')::bigint as balance_krw,
        replace(r.MKTCAP, ',', '')::bigint as market_cap_krw,
        replace(r.BAL_RTO, ',', '')::double as balance_ratio_pct
    from files
)
select typed.*,
       market_cap_krw / nullif(listed_shares, 0) as close_krw,
       rates.usdkrw,
       balance_krw / rates.usdkrw as balance_usd
from typed asof left join rates on typed.trade_date >= rates.rate_date;

create or replace table fct_market_short_balances as
select trade_date, market,
       sum(balance_qty)::bigint as total_balance_qty,
       sum(balance_krw)::bigint as total_balance_krw,
       sum(balance_usd) as total_balance_usd,
       count(*) as tickers_reported,
       count_if(balance_qty > 0) as tickers_with_balance
from fct_short_balances
group by trade_date, market;
"""


#: (b'): the row rules of the contract's Validation section as SQL, in front of (b)'s script.
#: Every landing string is checked against the loader's formats (the same regular expressions
#: as ``pipelines/validation/coerce.py``), then the rules of a balance row (6-character ticker,
#: non-negative quantities, BAL_QTY <= LIST_SHRS, BAL_RTO within rounding of BAL_QTY /
#: LIST_SHRS and at most 100, BAL_AMT and MKTCAP consistent with one close price, one row per
#: date and ticker); a file with any failing row is left out whole, as the loader does.
RULES_SQL = """
create or replace temp table balance_rows as
with
files as (
    select filename, unnest(OutBlock_1) as r
    from read_json(:balances:, filename = true)
),
raw as (
    select
        filename,
        regexp_extract(filename, '([0-9]{4}-[0-9]{2}-[0-9]{2})\\.json$', 1) as file_day,
        regexp_extract(filename, '/(KOSPI|KOSDAQ)/', 1) as market,
        r.ISU_CD as ticker, r.ISU_ABBRV as name,
        r.BAL_QTY as qty, r.LIST_SHRS as listed, r.BAL_AMT as amt, r.MKTCAP as cap,
        r.BAL_RTO as rto
    from files
)
select
    filename, market, ticker, name,
    try_strptime(file_day, '%Y-%m-%d')::date as trade_date,
    try_cast(replace(qty, ',', '') as bigint) as balance_qty,
    try_cast(replace(listed, ',', '') as bigint) as listed_shares,
    try_cast(replace(amt, ',', '') as bigint) as balance_krw,
    try_cast(replace(cap, ',', '') as bigint) as market_cap_krw,
    try_cast(replace(rto, ',', '') as double) as balance_ratio_pct,
    regexp_full_match(ticker, '[0-9A-Z]{6}')
    and regexp_full_match(qty, :int:) and regexp_full_match(listed, :int:)
    and regexp_full_match(amt, :int:) and regexp_full_match(cap, :int:)
    and regexp_full_match(rto, :float:) as formats_ok
from raw;

create or replace temp table rejected_files as
with
rules as (
    select
        filename,
        coalesce(
            formats_ok and trade_date is not null
            and balance_qty >= 0 and listed_shares >= 0 and balance_krw >= 0
            and market_cap_krw >= 0
            and balance_qty <= listed_shares
            and balance_ratio_pct <= 100
            and case when listed_shares > 0
                then abs(balance_qty::double / listed_shares * 100 - balance_ratio_pct)
                    <= 0.005 + 1e-9
                else balance_ratio_pct = 0 end
            and abs(balance_krw::double * listed_shares - market_cap_krw::double * balance_qty)
                <= greatest(abs(balance_krw::double * listed_shares),
                            abs(market_cap_krw::double * balance_qty)) * 1e-9 + 0.5,
            false
        ) as ok
    from balance_rows
),
duplicates as (
    select filename from balance_rows group by filename, ticker having count(*) > 1
)
select filename from rules where not ok
union
select filename from duplicates;

create or replace temp table usdkrw_rows as
select r.TIME as time, r.DATA_VALUE as value,
       regexp_full_match(r.TIME, '[0-9]{8}') and regexp_full_match(r.DATA_VALUE, :float:)
           as formats_ok
from (select unnest(StatisticSearch."row") as r from read_json(:usdkrw:));

create or replace table fct_short_balances as
with
rates as (
    select strptime(time, '%Y%m%d')::date as rate_date,
           replace(value, ',', '')::double as usdkrw
    from usdkrw_rows where formats_ok
),
typed as (
    select trade_date, market, ticker, name, balance_qty, listed_shares, balance_krw,
           market_cap_krw, balance_ratio_pct
    from balance_rows anti join rejected_files using (filename)
)
select typed.*,
       market_cap_krw / nullif(listed_shares, 0) as close_krw,
       rates.usdkrw,
       balance_krw / rates.usdkrw as balance_usd
from typed asof left join rates on typed.trade_date >= rates.rate_date;
"""

#: (b'): the grain tests of ``fct_short_balances`` (dbt's unique_combination_of_columns and
#: not_null), each the count of failing rows.
GRAIN_TESTS_SQL = {
    "unique_trade_date_ticker": "select count(*) from (select trade_date, ticker "
    "from fct_short_balances group by all having count(*) > 1)",
    "not_null_trade_date": "select count(*) from fct_short_balances where trade_date is null",
    "not_null_ticker": "select count(*) from fct_short_balances where ticker is null",
    "not_null_market": "select count(*) from fct_short_balances where market is null",
}


def sql_baseline(args: dict) -> dict:
    """(b) The same work as one hand-written DuckDB SQL script over the landing JSON; with
    ``rules`` ((b')), the row rules and the fact's grain tests in SQL too."""
    import duckdb

    from pipelines.validation.coerce import _FLOAT, _INT

    started = time.perf_counter()
    result = {}
    with duckdb.connect(args["db"]) as con:
        script = BASELINE_SQL
        if args.get("rules"):
            # (b)'s own first statement (the fact) is replaced by the checked one
            script = RULES_SQL + script[script.index("create or replace table fct_market") :]
        literals = {**args, "int": _INT[1:-1], "float": _FLOAT[1:-1]}
        for name in ("balances", "usdkrw", "int", "float"):  # table functions: no parameters
            script = script.replace(f":{name}:", _sql_string(literals[name]))
        for statement in filter(str.strip, script.split(";")):
            con.execute(statement)
        if args.get("rules"):
            result["rejected_files"] = con.execute(
                "select count(*) from rejected_files"
            ).fetchone()[0]
            result["test_failures"] = {
                name: con.execute(sql).fetchone()[0] for name, sql in GRAIN_TESTS_SQL.items()
            }
        rows, markets = con.execute(
            "select (select count(*) from fct_short_balances), "
            "(select count(*) from fct_market_short_balances)"
        ).fetchone()
    total_s = time.perf_counter() - started
    return {"total_s": total_s, "fact_rows": rows, "market_rows": markets, **result}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def pandas_baseline(args: dict) -> dict:
    """(c) The usual notebook: pandas over each file, concat, group by date and market."""
    import pandas as pd

    started = time.perf_counter()
    frames = []
    for name in json.loads(Path(args["file_list"]).read_text()):
        path = Path(name)
        with path.open(encoding="utf-8") as handle:
            frame = pd.DataFrame(json.load(handle)["OutBlock_1"])
        for column in ("BAL_QTY", "LIST_SHRS", "BAL_AMT", "MKTCAP"):
            frame[column] = frame[column].str.replace(",", "").astype("int64")
        frame["BAL_RTO"] = frame["BAL_RTO"].str.replace(",", "").astype("float64")
        frame["trade_date"] = pd.Timestamp(path.stem)
        frame["market"] = path.parent.name
        frames.append(frame)
    balances = pd.concat(frames, ignore_index=True)
    markets = balances.groupby(["trade_date", "market"]).agg(
        total_balance_qty=("BAL_QTY", "sum"),
        total_balance_krw=("BAL_AMT", "sum"),
        tickers_reported=("ISU_CD", "size"),
    )
    return {
        "total_s": time.perf_counter() - started,
        "fact_rows": len(balances),
        "market_rows": len(markets),
    }


def queries(args: dict) -> dict:
    """(f) Median latency of typical mart queries on the full warehouse (read-only): the top 50
    of the latest session the warehouse holds on or before ``day``, the market balances of the
    year up to it, that session's sector balances and the designations of the month of the latest
    one up to it."""
    import datetime as dt

    import duckdb

    from pipelines.warehouse import DUCKDB_CONFIG

    result = {}
    with duckdb.connect(args["db"], read_only=True, config=DUCKDB_CONFIG) as con:
        (day,) = con.execute(
            "select max(trade_date) from marts.top_short_balances where trade_date <= ?",
            [args["day"]],
        ).fetchone()
        if day is None:
            raise SystemExit(f"(f): marts.top_short_balances has no session up to {args['day']}")
        # the month of the latest designation up to that session (the session's month if none)
        (detected,) = con.execute(
            "select max(detected_on) from marts.short_overheat_designations where detected_on <= ?",
            [day],
        ).fetchone()
        month = (detected or day).replace(day=1)
        statements = {
            "top50_day": (
                "select * from marts.top_short_balances where trade_date = ? order by market, rank",
                [day],
            ),
            "market_year": (
                "select * from marts.fct_market_short_balances where trade_date between ? and ? "
                "order by trade_date, market",
                [day - dt.timedelta(days=365), day],
            ),
            "sector_day": (
                "select * from marts.sector_short_balances where trade_date = ? "
                "order by market, classification, sector",
                [day],
            ),
            "designations_month": (
                "select * from marts.short_overheat_designations "
                "where detected_on >= ? and detected_on < ? order by detected_on, ticker",
                [month, (month + dt.timedelta(days=32)).replace(day=1)],
            ),
        }
        for name, (sql, params) in statements.items():
            timings, rows = [], 0
            for _ in range(args["repeat"]):
                started = time.perf_counter()
                rows = len(con.execute(sql, params).fetchall())
                timings.append((time.perf_counter() - started) * 1000)
            result[name] = {
                "day": day.isoformat(),
                "median_ms": statistics.median(timings),
                "first_ms": timings[0],
                "max_ms": max(timings),
                "rows": rows,
            }
    return result


MEASURES = {
    "balance_path": balance_path,
    "sql_baseline": sql_baseline,
    "pandas_baseline": pandas_baseline,
    "queries": queries,
}

if __name__ == "__main__":
    output = MEASURES[sys.argv[1]](json.loads(sys.argv[2]))
    print(RESULT_PREFIX + json.dumps(output), flush=True)
