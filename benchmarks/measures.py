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
    dbt = runner.invoke_dbt(
        ["build", *select, *folders, "--target-path", target, "--log-path", target],
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


def sql_baseline(args: dict) -> dict:
    """(b) The same work as one hand-written DuckDB SQL script over the landing JSON."""
    import duckdb

    started = time.perf_counter()
    with duckdb.connect(args["db"]) as con:
        script = BASELINE_SQL
        for name in ("balances", "usdkrw"):  # table functions take no prepared parameters
            script = script.replace(f":{name}:", _sql_string(args[name]))
        for statement in filter(str.strip, script.split(";")):
            con.execute(statement)
        rows, markets = con.execute(
            "select (select count(*) from fct_short_balances), "
            "(select count(*) from fct_market_short_balances)"
        ).fetchone()
    return {"total_s": time.perf_counter() - started, "fact_rows": rows, "market_rows": markets}


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
    of the latest session the warehouse holds on or before ``day``, and the market balances of
    the year up to it."""
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
