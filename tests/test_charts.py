"""The market chart rendered into the UI metadata."""

import datetime as dt

from pipelines.defs.assets.charts import (
    MarketDay,
    market_chart_markdown,
    market_chart_svg,
    sparkline,
)


def test_sparkline_scales_between_min_and_max():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, None, 5]) == "▁ ▁"
    assert sparkline([None]) == ""


def test_chart_shows_each_market_and_month_ends():
    days = [
        MarketDay(
            dt.date(2021, 1, 4) + dt.timedelta(days=i), market, 1e12 * (i + 1), 0.1 * i, 3000 + i
        )
        for i in range(60)
        for market in ("KOSPI", "KOSDAQ")
    ]
    text = market_chart_markdown(days)
    assert text.index("**KOSDAQ**") < text.index("**KOSPI**")
    assert "last 60.00" in text  # the balance series ends at 60 trn KRW
    assert "| 2021-03-04 | 60.00 | 5.900 | 3,059.00 |" in text  # the last month-end row
    svg = market_chart_svg(days)
    assert svg.startswith("<svg") and svg.count("<polyline") == 6
