"""The short printed summary of a warehouse: what ``krx-short demo`` ends with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import settings

if TYPE_CHECKING:
    import datetime as dt

    from pipelines.cli.build import BuildOutcome

TABLES = (
    "fct_short_balances",
    "fct_short_trades",
    "fct_market_short_balances",
    "fct_index_levels",
    "dim_securities",
    "dim_index_memberships",
    "short_eligibility_daily",
    "top_short_balances",
    "post_exclusion_residuals",
    "short_squeeze_watch",
    "index_weekly_returns",
)


def _won(value) -> str:
    return "-" if value is None else f"{value / 1e12:,.2f} trn KRW"


def _span(row: tuple) -> str:
    sessions, first, last = row
    return f"{sessions} ({first} .. {last})" if sessions else "0"


def warehouse_lines(con) -> list[str]:
    """Sessions loaded and rows per mart (the marts a partial build made)."""
    existing = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    lines = []
    spans = {
        table: con.execute(
            "select count(distinct trade_date), min(trade_date), max(trade_date) "
            f"from marts.{table}"
        ).fetchone()
        for table in ("fct_short_trades", "fct_short_balances")
        if table in existing
    }
    trades, balances = spans.get("fct_short_trades"), spans.get("fct_short_balances")
    if trades:
        lines.append(f"sessions loaded: {_span(trades)}")
    if balances and (not trades or balances[0] != trades[0]):
        lines.append(f"sessions with short balances: {_span(balances)}")
    lines.append("rows per table:")
    for table in TABLES:
        if table in existing:
            count = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            lines.append(f"  marts.{table:<28} {count:>12,}")
    return lines


def summary(con, export_root: Path) -> str:
    """Sessions loaded, rows per table, the latest market balances and where everything is."""
    lines = warehouse_lines(con)
    lines.append("latest market short balances:")
    rows = con.execute(
        "select trade_date, market, total_balance_krw, total_balance_usd, "
        "balance_to_market_cap_pct, regime_id from marts.fct_market_short_balances "
        "where trade_date = (select max(trade_date) from marts.fct_market_short_balances) "
        "order by market"
    ).fetchall()
    for day, market, krw, usd, pct, regime in rows:
        usd_text = "-" if usd is None else f"{usd / 1e9:,.2f} bn USD"
        pct_text = "-" if pct is None else f"{pct:.3f}% of market cap"
        lines.append(f"  {day} {market:<6} {_won(krw)}, {usd_text}, {pct_text}, regime {regime}")
    lines.append(f"DuckDB file: {settings.duckdb_path()}")
    lines.append(f"Parquet exports: {export_root} (manifest.json lists every table)")
    lines.append("Open the UI: make dev  (dagster dev on http://127.0.0.1:3000)")
    return "\n".join(lines)


#: What to do about a gap, by the check that found it.
GAP_HINTS = {
    "completeness": "fetch the missing files (krx-short fetch --start .. --end .. --datasets ..) "
    "or copy them into KRX_LANDING_DIR, then build the range again",
    "freshness": "the newest loaded session is behind the range's end: fetch the sessions after it",
}


def run_report(
    outcome: BuildOutcome,
    first: dt.date,
    last: dt.date,
    code: int,
    *,
    strict: bool,
    totals: bool = True,
) -> str:
    """What a build did, after its progress lines: rows per table (``totals``), gaps, failures
    with their reason, the outcome and where the full log is."""
    from pipelines.warehouse import connect

    lines: list[str] = []
    if totals and settings.duckdb_path().exists():
        with connect(settings.duckdb_path(), read_only=True) as con:
            lines += warehouse_lines(con)
    if outcome.warnings:
        lines.append(f"gaps ({len(outcome.warnings)}, {'failing' if strict else 'warnings'}):")
        lines += [f"  {line}" for line in outcome.warnings]
        kinds = sorted({k for k in GAP_HINTS if any(k in line for line in outcome.warnings)})
        lines += [f"  what to do ({kind}): {GAP_HINTS[kind]}" for kind in kinds]
    failures = outcome.failed_checks + outcome.failed_steps
    if failures:
        lines.append(f"failures ({len(failures)}):")
        lines += [f"  {line}" for line in failures]
    verdict = "ok" if code == 0 else "failed"
    lines.append(f"build {first}..{last}: {verdict} (run {outcome.run_id})")
    if outcome.log_file:
        lines.append(f"log: {outcome.log_file}")
    return "\n".join(lines)


def calibration(con) -> str:
    """The sample's market ratios on the days KRX's own totals are quoted, beside KRX's."""
    from pipelines.sample.calibration import KRX_MARKET_TOTALS, calibration_lines

    days = sorted({day for day, *_ in KRX_MARKET_TOTALS})
    rows = con.execute(
        "select trade_date, market, total_balance_krw, market_cap_krw "
        "from marts.fct_market_short_balances "
        "where trade_date in (select unnest(?::date[])) and market_cap_krw > 0",
        [days],
    ).fetchall()
    totals = {(day, market): (balance, cap) for day, market, balance, cap in rows}
    lines = ["the sample beside KRX's published market totals:"]
    return "\n".join(lines + [f"  {line}" for line in calibration_lines(totals)])
