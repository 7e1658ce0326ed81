"""The short printed summary of a warehouse: what ``krx-short demo`` ends with."""

from __future__ import annotations

from pathlib import Path

from pipelines import settings

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


def summary(con, export_root: Path) -> str:
    """Sessions loaded, rows per table, the latest market balances and where everything is."""
    existing = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    lines = []
    first, last, sessions = con.execute(
        "select min(trade_date), max(trade_date), count(distinct trade_date) "
        "from marts.fct_short_trades"
    ).fetchone()
    lines.append(f"sessions loaded: {sessions} ({first} .. {last})")
    lines.append("rows per table:")
    for table in TABLES:
        if table in existing:
            count = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            lines.append(f"  marts.{table:<28} {count:>12,}")
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
