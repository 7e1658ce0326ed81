"""KRX's market short balances that the sample is calibrated to, and summary lines that set the
sample's own figures beside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

#: (day, market, total short balance in KRW or None where not quoted, balance / market cap in %)
KRX_MARKET_TOTALS = (
    (dt.date(2025, 3, 31), "KOSPI", 3.9156e12, 0.19),
    (dt.date(2025, 3, 31), "KOSDAQ", None, 0.52),
    (dt.date(2025, 7, 9), "KOSPI", 9.445e12, 0.35),
    (dt.date(2025, 7, 9), "KOSDAQ", 3.9287e12, 0.96),
)


def calibration_lines(totals: Mapping[tuple[dt.date, str], tuple[float, float]]) -> list[str]:
    """One line per KRX figure: ``totals[(day, market)] = (balance KRW, market cap KRW)`` (from
    ``fct_market_short_balances``) beside KRX's; a day the warehouse lacks says so."""
    lines = []
    for day, market, krx_balance, krx_pct in KRX_MARKET_TOTALS:
        krx = f"{krx_pct:.2f} %"
        if krx_balance is not None:
            krx = f"{krx_balance / 1e12:,.3f} trn KRW = {krx}"
        label = f"{day} {market:<6}"
        if (day, market) not in totals:
            lines.append(f"{label} not in the warehouse (KRX: {krx})")
            continue
        balance, cap = totals[(day, market)]
        lines.append(
            f"{label} short balance {balance / 1e12:,.3f} trn KRW = {100 * balance / cap:.2f} % "
            f"of market cap (KRX: {krx})"
        )
    return lines
