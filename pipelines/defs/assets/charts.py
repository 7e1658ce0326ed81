"""The market chart shown on ``marts/fct_market_short_balances`` in the Dagster UI: short balance,
its share of market cap and the index close, per market, as Markdown sparklines (rendered by the
UI as text, nothing to install) and as an SVG file next to the exports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

BARS = "▁▂▃▄▅▆▇█"
MAX_POINTS = 72

SERIES = (
    ("total_balance_krw", "short balance (trn KRW)", 1e12),
    ("balance_to_market_cap_pct", "balance / market cap (%)", 1),
    ("index_close", "index close", 1),
)


@dataclass(frozen=True)
class MarketDay:
    trade_date: dt.date
    market: str
    total_balance_krw: float | None
    balance_to_market_cap_pct: float | None
    index_close: float | None


def _sample(values: Sequence, points: int = MAX_POINTS) -> list:
    """At most ``points`` evenly spaced values, always keeping the last one."""
    if len(values) <= points:
        return list(values)
    step = (len(values) - 1) / (points - 1)
    return [values[round(i * step)] for i in range(points)]


def sparkline(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low or 1.0
    return "".join(
        " " if v is None else BARS[min(len(BARS) - 1, int((v - low) / span * len(BARS)))]
        for v in values
    )


def market_chart_markdown(days: Sequence[MarketDay]) -> str:
    """Sparklines of each series per market over the whole history, then the last 12 month-ends."""
    lines = []
    for market in sorted({d.market for d in days}):
        rows = sorted((d for d in days if d.market == market), key=lambda d: d.trade_date)
        if not rows:
            continue
        lines.append(f"**{market}** {rows[0].trade_date} .. {rows[-1].trade_date}")
        lines.append("```")
        for attr, label, unit in SERIES:
            values = [getattr(r, attr) for r in _sample(rows)]
            scaled = [None if v is None else v / unit for v in values]
            known = [v for v in scaled if v is not None]
            if known:
                lines.append(
                    f"{label:<26} {sparkline(scaled)}  "
                    f"min {min(known):,.2f} max {max(known):,.2f} last {known[-1]:,.2f}"
                )
        lines.append("```")
        month_ends = {}
        for r in rows:
            month_ends[(r.trade_date.year, r.trade_date.month)] = r
        lines.append("| month end | balance (trn KRW) | % of market cap | index close |")
        lines.append("|---|---|---|---|")
        for r in list(month_ends.values())[-12:]:
            balance = "" if r.total_balance_krw is None else f"{r.total_balance_krw / 1e12:,.2f}"
            share = (
                "" if r.balance_to_market_cap_pct is None else f"{r.balance_to_market_cap_pct:.3f}"
            )
            close = "" if r.index_close is None else f"{r.index_close:,.2f}"
            lines.append(f"| {r.trade_date} | {balance} | {share} | {close} |")
        lines.append("")
    return "\n".join(lines) if lines else "no market balances yet"


def market_chart_svg(days: Sequence[MarketDay], width: int = 900, panel: int = 140) -> str:
    """One panel per market and series: polylines of the whole history."""
    markets = sorted({d.market for d in days})
    height = max(1, len(markets) * len(SERIES)) * (panel + 20) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">'
    ]
    y0 = 20
    for market in markets:
        rows = sorted((d for d in days if d.market == market), key=lambda d: d.trade_date)
        for attr, label, unit in SERIES:
            values = [getattr(r, attr) for r in rows]
            known = [v / unit for v in values if v is not None]
            parts.append(f'<text x="10" y="{y0 - 5}">{market}: {label}</text>')
            parts.append(
                f'<rect x="10" y="{y0}" width="{width - 20}" height="{panel}" '
                'fill="none" stroke="#ccc"/>'
            )
            if len(known) > 1:
                low, high = min(known), max(known)
                span = high - low or 1.0
                step = (width - 20) / (len(values) - 1)
                points = " ".join(
                    f"{10 + i * step:.1f},{y0 + panel - (v / unit - low) / span * panel:.1f}"
                    for i, v in enumerate(values)
                    if v is not None
                )
                parts.append(f'<polyline fill="none" stroke="#1f77b4" points="{points}"/>')
            y0 += panel + 20
    parts.append("</svg>")
    return "\n".join(parts)


MARKET_MART = "marts.fct_market_short_balances"


def market_chart_metadata(con, svg_dir) -> dict:
    """UI metadata of the market mart: the Markdown chart, and the SVG written to ``svg_dir``."""
    import dagster as dg

    rows = con.execute(
        "select trade_date, market, total_balance_krw, balance_to_market_cap_pct, index_close "
        f"from {MARKET_MART} order by trade_date, market"
    ).fetchall()
    days = [MarketDay(*row) for row in rows]
    svg_dir.mkdir(parents=True, exist_ok=True)
    svg = svg_dir / "market_short_balances.svg"
    svg.write_text(market_chart_svg(days), encoding="utf-8")
    return {
        "chart": dg.MetadataValue.md(market_chart_markdown(days)),
        "chart_svg": dg.MetadataValue.path(str(svg)),
    }
