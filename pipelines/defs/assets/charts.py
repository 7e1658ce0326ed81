"""Charts of the marts, drawn with matplotlib (Agg, no display): a PNG per chart under
``<KRX_EXPORT_DIR>/charts/`` and the same image inline on the asset's page (Markdown holding the
PNG as base64, as Dagster documents for images).

* the market chart (``marts/fct_market_short_balances``): per market, the net short balance in
  KRW, as % of market cap, and the composite index level, over the whole history;
* the top shorted names of the latest session (``marts/top_short_balances``);
* eligible / ineligible / unknown ticker counts per session through the short-sale regimes
  (``marts/short_eligibility_daily``).

Every label's min / max / last is computed on all the points drawn.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import signal
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKETS = ("KOSPI", "KOSDAQ")
TOP_NAMES = 20
FEW_POINTS = 30
DPI = 72


@dataclass(frozen=True)
class Chart:
    """A rendered chart: its PNG and the labels drawn on it (titles with their extremes)."""

    name: str
    png: bytes
    labels: list[str]
    table: str = ""  # Markdown shown under the image (what the image cannot spell)

    def markdown(self) -> str:
        encoded = base64.b64encode(self.png).decode("ascii")
        labels = "\n".join(f"- {label}" for label in self.labels)
        return f"![{self.name}](data:image/png;base64,{encoded})\n\n{labels}\n\n{self.table}"


def extremes_label(title: str, points: Sequence[tuple[Any, float | None]], fmt: str) -> str:
    """``title: min v (at) · max v (at) · last v (at)`` over every point with a value."""
    known = [(at, v) for at, v in points if v is not None]
    if not known:
        return f"{title}: no data"
    low = min(known, key=lambda p: p[1])
    high = max(known, key=lambda p: p[1])
    last = known[-1]
    return (
        f"{title}: min {low[1]:{fmt}} ({low[0]}) · max {high[1]:{fmt}} ({high[0]}) · "
        f"last {last[1]:{fmt}} ({last[0]})"
    )


def _figure(rows: int, cols: int, height: float):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, height), squeeze=False)
    return plt, fig, axes


def _png(plt, fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def _thousands(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 100 else f"{v:g}"))


# --- the market chart ----------------------------------------------------------------------

MARKET_SERIES = (
    ("total_balance_krw", "net short balance (trn KRW)", 1e12, ",.2f"),
    ("balance_to_market_cap_pct", "balance / market cap (%)", 1.0, ".3f"),
    ("index_close", "index level", 1.0, ",.2f"),
)


def market_chart(
    balances: Sequence[tuple[dt.date, str, float | None, float | None]],
    levels: Sequence[tuple[dt.date, str, float | None]],
) -> Chart:
    """``balances``: (session, market, total_balance_krw, balance_to_market_cap_pct);
    ``levels``: (session, index_code, close) of the composite indices KOSPI and KOSDAQ."""
    plt, fig, axes = _figure(len(MARKET_SERIES), len(MARKETS), 9)
    labels = []
    for col, market in enumerate(MARKETS):
        by_series = {
            "total_balance_krw": [(d, krw) for d, m, krw, _ in balances if m == market],
            "balance_to_market_cap_pct": [(d, pct) for d, m, _, pct in balances if m == market],
            "index_close": [(d, close) for d, code, close in levels if code == market],
        }
        for row, (attr, title, unit, fmt) in enumerate(MARKET_SERIES):
            points = [(d, None if v is None else v / unit) for d, v in sorted(by_series[attr])]
            label = extremes_label(f"{market} {title}", points, fmt)
            labels.append(label)
            ax = axes[row][col]
            known = [(d, v) for d, v in points if v is not None]
            if known:
                marker = "o" if len(known) < FEW_POINTS else None  # a lone point shows
                ax.plot([d for d, _ in known], [v for _, v in known], linewidth=1, marker=marker)
            ax.set_title(label, fontsize=8)
            ax.set_ylabel(title, fontsize=8)
            _thousands(ax.yaxis)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
    fig.autofmt_xdate()
    return Chart("market_short_balances", _png(plt, fig), labels)


def market_chart_from(con) -> Chart:
    balances = con.execute(
        "select trade_date, market, total_balance_krw, balance_to_market_cap_pct "
        "from marts.fct_market_short_balances order by trade_date, market"
    ).fetchall()
    levels = con.execute(
        "select trade_date, index_code, close from marts.fct_index_levels "
        "where index_code in ('KOSPI', 'KOSDAQ') order by trade_date"
    ).fetchall()
    return market_chart(balances, levels)


# --- the top shorted names ------------------------------------------------------------------


def top_names_chart(rows: Sequence[tuple[dt.date, str, int, str, str, float]]) -> Chart:
    """``rows``: (session, market, rank, ticker, name, exact_balance_ratio_pct) of one session;
    the first ``TOP_NAMES`` of each market as horizontal bars by ticker (the names, in Hangul,
    are in the table under the image: the image's font has no Hangul)."""
    from pipelines.defs.assets.metadata import markdown_table

    plt, fig, axes = _figure(1, len(MARKETS), 6)
    labels, table_rows = [], []
    for col, market in enumerate(MARKETS):
        ranked = sorted((r for r in rows if r[1] == market), key=lambda r: r[2])[:TOP_NAMES]
        session = ranked[0][0] if ranked else None
        points = [(r[3], r[5]) for r in ranked]
        table_rows += [(r[2], r[3], r[4], market, f"{r[5]:.3f}") for r in ranked]
        label = extremes_label(f"{market} top {len(ranked)} on {session} (balance % of shares)",
                               points, ".3f")  # fmt: skip
        labels.append(label)
        ax = axes[0][col]
        ax.barh([p[0] for p in points][::-1], [p[1] for p in points][::-1])
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("short balance / listed shares (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    table = markdown_table(["rank", "ticker", "name", "market", "balance % of shares"], table_rows)
    return Chart("top_short_balances", _png(plt, fig), labels, table)


def top_names_chart_from(con) -> Chart:
    rows = con.execute(
        "select trade_date, market, rank, ticker, name, exact_balance_ratio_pct "
        "from marts.top_short_balances "
        "where trade_date = (select max(trade_date) from marts.top_short_balances)"
    ).fetchall()
    return top_names_chart(rows)


# --- eligibility through the regimes --------------------------------------------------------

ELIGIBILITY = (("eligible", True), ("not eligible", False), ("unknown", None))


def eligibility_chart(
    counts: Sequence[tuple[dt.date, bool | None, int]],
    regimes: Sequence[tuple[int, dt.date, str]],
) -> Chart:
    """``counts``: (session, is_eligible, tickers); ``regimes``: (regime_id, starts_on, scope),
    drawn as vertical lines."""
    plt, fig, axes = _figure(1, 1, 4.5)
    ax = axes[0][0]
    sessions = sorted({d for d, _, _ in counts})
    labels = []
    for title, flag in ELIGIBILITY:
        by_day = {d: n for d, f, n in counts if f is flag}
        points = [(d, by_day.get(d, 0)) for d in sessions]
        label = extremes_label(f"tickers {title} per session", points, ",.0f")
        labels.append(label)
        ax.plot(sessions, [n for _, n in points], linewidth=1, label=label)
    if sessions:
        for regime_id, starts_on, scope in regimes:
            if sessions[0] <= starts_on <= sessions[-1]:
                ax.axvline(starts_on, color="grey", linestyle="--", linewidth=0.8)
                ax.annotate(f"regime {regime_id}: {scope}", (starts_on, 0), fontsize=7,
                            rotation=90, va="bottom")  # fmt: skip
    ax.legend(fontsize=7)
    ax.set_ylabel("tickers", fontsize=8)
    _thousands(ax.yaxis)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return Chart("short_eligibility_daily", _png(plt, fig), labels)


def eligibility_chart_from(con) -> Chart:
    counts = con.execute(
        "select trade_date, is_eligible, count(*) from marts.short_eligibility_daily "
        "group by all order by 1"
    ).fetchall()
    regimes = con.execute(
        "select regime_id, starts_on, scope from marts.dim_short_sale_regimes order by 1"
    ).fetchall()
    return eligibility_chart(counts, regimes)


#: The chart of each model that has one (dbt unique id -> builder).
CHARTS: dict[str, Callable[[Any], Chart]] = {
    "model.krx_short.fct_market_short_balances": market_chart_from,
    "model.krx_short.top_short_balances": top_names_chart_from,
    "model.krx_short.short_eligibility_daily": eligibility_chart_from,
}


def chart_metadata(con, unique_id: str, chart_dir: Path) -> dict:
    """The UI metadata of a model's chart (the image inline, and the PNG's path), the PNG
    written to ``chart_dir``; empty for a model without a chart."""
    drawn = _draw(con, unique_id, chart_dir)
    return {} if drawn is None else _metadata(*drawn)


def _metadata(markdown: str, path: str) -> dict:
    """The UI metadata of a drawn chart: the image inline, and the PNG's path."""
    import dagster as dg

    return {"chart": dg.MetadataValue.md(markdown), "chart_png": dg.MetadataValue.path(path)}


def _draw(con, unique_id: str, chart_dir: Path) -> tuple[str, str] | None:
    """A model's chart as Markdown, its PNG written to ``chart_dir`` (and the PNG's path)."""
    if unique_id not in CHARTS:
        return None
    chart = CHARTS[unique_id](con)
    chart_dir.mkdir(parents=True, exist_ok=True)
    path = chart_dir / f"{chart.name}.png"
    path.write_bytes(chart.png)
    return chart.markdown(), str(path)


class ChartsDrawing:
    """The charts of the models a step built, drawn in a forked child while the step goes on
    with its other metadata and events (drawing is CPU-bound Python: a thread would take turns
    with the step on one core). ``metadata`` waits for the child."""

    def __init__(self, db: Path, unique_ids: Sequence[str], chart_dir: Path) -> None:
        self.unique_ids = [uid for uid in unique_ids if uid in CHARTS]
        self.pid: int | None = None
        self.drawn: dict[str, tuple[str, str]] | None = None
        if not self.unique_ids:
            return
        handle, self.result = tempfile.mkstemp(prefix="krx-charts-", suffix=".json")
        os.close(handle)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = self._draw_all(db, chart_dir)
            finally:
                os._exit(code)
        self.pid = pid

    def _draw_all(self, db: Path, chart_dir: Path) -> int:
        """In the child: draw each chart, write what was drawn to ``result``."""
        from pipelines.warehouse import connect

        with connect(db, read_only=True, lock_timeout_s=10.0) as con:
            drawn = {uid: _draw(con, uid, chart_dir) for uid in self.unique_ids}
        Path(self.result).write_text(json.dumps(drawn), encoding="utf-8")
        return 0

    def metadata(self, unique_id: str) -> dict:
        """The UI metadata of ``unique_id``'s chart; empty for a model without one, or when
        the drawing failed (the step's other metadata does not wait on a chart)."""
        if unique_id not in self.unique_ids:
            return {}
        if self.drawn is None:
            self.drawn = self._collect()
        return _metadata(*self.drawn[unique_id]) if unique_id in self.drawn else {}

    def _collect(self) -> dict[str, tuple[str, str]]:
        _pid, status = os.waitpid(self.pid, 0)
        self.pid = None
        try:
            if os.waitstatus_to_exitcode(status) != 0:
                return {}
            return json.loads(Path(self.result).read_text(encoding="utf-8"))
        finally:
            Path(self.result).unlink(missing_ok=True)

    def close(self) -> None:
        """Stop a child still drawing (the step ended first) and remove its result."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
        if self.unique_ids:
            Path(self.result).unlink(missing_ok=True)
