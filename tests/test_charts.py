"""The charts of the marts: real PNG images whose labels carry the true extremes, computed
here from the real KRX landing files (``real``: built once per session)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from pipelines.defs.assets.charts import (
    Chart,
    ChartsDrawing,
    chart_metadata,
    eligibility_chart_from,
    extremes_label,
    market_chart_from,
    top_names_chart_from,
)
from pipelines.warehouse import connect
from tests.helpers import REAL_LANDING

LABEL = re.compile(
    r"(?P<title>.+): min (?P<min>[-\d,.]+) \((?P<min_at>[^)]+)\) · "
    r"max (?P<max>[-\d,.]+) \((?P<max_at>[^)]+)\) · last (?P<last>[-\d,.]+) \((?P<last_at>[^)]+)\)"
)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _label(chart: Chart, title: str) -> re.Match:
    (match,) = [m for m in map(LABEL.fullmatch, chart.labels) if m and m["title"] == title]
    return match


def _decodes(chart: Chart) -> tuple[int, int]:
    image = Image.open(io.BytesIO(chart.png))
    image.verify()
    return Image.open(io.BytesIO(chart.png)).size


def _krx_number(text: str) -> float:
    return float(text.replace(",", ""))


def test_labels_take_the_extremes_of_every_point():
    # a spike at one point among 1,000 (what a 72-point sample misses)
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(1000)]
    values = [100.0 + (i % 7) for i in range(1000)]
    values[501] = 6540.89
    values[333] = -1.5
    label = extremes_label("x", list(zip(days, values, strict=True)), ",.2f")
    assert label == (
        f"x: min -1.50 ({days[333]}) · max 6,540.89 ({days[501]}) · last {values[-1]:,.2f} "
        f"({days[-1]})"
    )
    assert extremes_label("x", [(days[0], None)], ".2f") == "x: no data"


def test_market_chart_labels_match_the_landing_files(real):
    with connect(real.db, read_only=True) as con:
        chart = market_chart_from(con)
    width, height = _decodes(chart)
    assert width > 600 and height > 400
    # the KOSPI level: every row of the real index file
    index = json.loads((REAL_LANDING / "krx/index_ohlcv/KOSPI/2021.json").read_text())["output"]
    closes = sorted(
        (dt.datetime.strptime(r["TRD_DD"], "%Y/%m/%d").date(), _krx_number(r["CLSPRC_IDX"]))
        for r in index
    )
    level = _label(chart, "KOSPI index level")
    high = max(closes, key=lambda p: p[1])
    low = min(closes, key=lambda p: p[1])
    assert (_number(level["max"]), level["max_at"]) == (round(high[1], 2), str(high[0]))
    assert (_number(level["min"]), level["min_at"]) == (round(low[1], 2), str(low[0]))
    assert (_number(level["last"]), level["last_at"]) == (
        round(closes[-1][1], 2),
        str(closes[-1][0]),
    )
    # the one KOSPI balance file: its BAL_AMT summed, in trillion KRW
    balances = json.loads((REAL_LANDING / "krx/short_balance/KOSPI/2021-01-27.json").read_text())[
        "OutBlock_1"
    ]
    total = sum(_krx_number(r["BAL_AMT"]) for r in balances) / 1e12
    balance = _label(chart, "KOSPI net short balance (trn KRW)")
    assert _number(balance["max"]) == _number(balance["last"]) == round(total, 2)
    assert balance["last_at"] == "2021-01-27"
    assert "KOSDAQ net short balance (trn KRW): no data" in chart.labels


def test_top_names_chart_shows_the_highest_exact_ratio(real):
    with connect(real.db, read_only=True) as con:
        chart = top_names_chart_from(con)
    _decodes(chart)
    balances = json.loads((REAL_LANDING / "krx/short_balance/KOSPI/2021-01-27.json").read_text())[
        "OutBlock_1"
    ]
    ratios = sorted(
        (
            _krx_number(r["BAL_QTY"]) / _krx_number(r["LIST_SHRS"]) * 100,
            r["ISU_CD"],
        )
        for r in balances
        if _krx_number(r["LIST_SHRS"]) > 0
    )
    top = _label(chart, "KOSPI top 20 on 2021-01-27 (balance % of shares)")
    assert _number(top["max"]) == round(ratios[-1][0], 3)
    assert top["max_at"] == ratios[-1][1]
    assert f"| 1 | {ratios[-1][1]} |" in chart.markdown()  # the ranked table names the ticker
    assert _number(top["min"]) == round(ratios[-20][0], 3)


def test_eligibility_chart_decodes_and_charts_are_written_where_asked(real, tmp_path):
    with connect(real.db, read_only=True) as con:
        chart = eligibility_chart_from(con)
        metadata = chart_metadata(con, "model.krx_short.fct_market_short_balances", tmp_path)
        assert chart_metadata(con, "model.krx_short.dim_securities", tmp_path) == {}
    _decodes(chart)
    assert [label.split(":")[0] for label in chart.labels] == [
        "tickers eligible per session",
        "tickers not eligible per session",
        "tickers unknown per session",
    ]
    png = tmp_path / "market_short_balances.png"
    assert metadata["chart_png"].path == str(png)
    assert Image.open(png).format == "PNG"
    assert "](data:image/png;base64," in metadata["chart"].value


def test_charts_drawn_in_a_child_are_the_charts_drawn_in_the_step(real, tmp_path):
    market = "model.krx_short.fct_market_short_balances"
    built = [market, "model.krx_short.dim_securities", "model.krx_short.top_short_balances"]
    drawing = ChartsDrawing(real.db, built, tmp_path / "child")
    try:
        assert drawing.unique_ids == [market, "model.krx_short.top_short_balances"]
        assert drawing.metadata("model.krx_short.dim_securities") == {}
        drawn = drawing.metadata(market)
    finally:
        drawing.close()
    with connect(real.db, read_only=True) as con:
        here = chart_metadata(con, market, tmp_path / "here")
    assert drawn["chart"].value == here["chart"].value  # the same image and labels
    assert drawn["chart_png"].path == str(tmp_path / "child" / "market_short_balances.png")
    assert Image.open(drawn["chart_png"].path).format == "PNG"
    assert not Path(drawing.result).exists()


def test_a_drawing_the_step_no_longer_waits_for_is_stopped(real, tmp_path):
    drawing = ChartsDrawing(real.db, ["model.krx_short.fct_market_short_balances"], tmp_path)
    pid = drawing.pid
    drawing.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, 0)  # reaped
    assert not Path(drawing.result).exists()


def test_a_charted_model_s_events_go_last_unless_another_built_model_reads_it():
    import dagster as dg

    from pipelines.defs.assets.dbt import _charted_last

    def output(uid: str) -> dg.Output:
        return dg.Output(None, output_name=uid.split(".")[-1], metadata={"unique_id": uid})

    def check(uid: str, model: str) -> dg.AssetCheckResult:
        key = dg.AssetKey(["marts", model.split(".")[-1]])
        return dg.AssetCheckResult(
            asset_key=key, check_name=uid.split(".")[-1], passed=True, metadata={"unique_id": uid}
        )

    manifest = {
        "child_map": {
            "model.p.read": ["model.p.reader", "test.p.t2"],
            "model.p.alone": ["test.p.t1"],
        },
        "nodes": {
            "test.p.t1": {"attached_node": "model.p.alone"},
            "test.p.t2": {"depends_on": {"nodes": ["model.p.read"]}},
        },
    }
    events = [
        output("model.p.alone"),
        check("test.p.t1", "model.p.alone"),
        output("model.p.read"),
        check("test.p.t2", "model.p.read"),
        output("model.p.reader"),
    ]
    built = ["model.p.alone", "model.p.read", "model.p.reader"]
    ordered = _charted_last(events, manifest, ["model.p.alone", "model.p.read"], built)
    assert ordered == [events[2], events[3], events[4], events[0], events[1]]
    assert _charted_last(events, manifest, [], built) == events
