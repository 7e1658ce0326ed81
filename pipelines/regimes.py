"""Korean short-selling regimes: which stocks could be sold short, and when.

One table, used by the sample generator and rendered as the dbt seed
``dbt_project/seeds/short_sale_regimes.csv`` (``marts.dim_short_sale_regimes``). The intervals are
contiguous calendar days; ``ends_on`` is inclusive and ``None`` means the regime is still in force.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

ALL_LISTED = "all_listed"
MARKET_MAKERS_ONLY = "market_makers_only"
INDEX_CONSTITUENTS = "index_constituents"
SCOPES = (ALL_LISTED, MARKET_MAKERS_ONLY, INDEX_CONSTITUENTS)

#: Columns of the dbt seed, in order.
SEED_COLUMNS = ("regime_id", "starts_on", "ends_on", "scope", "description", "source")


@dataclass(frozen=True)
class Regime:
    regime_id: int
    starts_on: dt.date
    ends_on: dt.date | None  # inclusive; None = open
    scope: str
    description: str
    source: str

    def covers(self, day: dt.date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


REGIMES: tuple[Regime, ...] = (
    Regime(
        1,
        dt.date(2017, 1, 1),
        dt.date(2020, 3, 15),
        ALL_LISTED,
        "All listed stocks may be sold short (covered shorts under the uptick rule). The seed "
        "starts in 2017 to cover the warehouse's history; this regime began earlier.",
        "KRX/FSC rules in force before the 2020 ban",
    ),
    Regime(
        2,
        dt.date(2020, 3, 16),
        dt.date(2021, 5, 2),
        MARKET_MAKERS_ONLY,
        "Market-wide ban on new short sales (COVID-19); market makers and liquidity providers "
        "exempt. Extended twice.",
        "FSC press release 2020-03-13; extensions 2020-08-27 and 2021-02-03",
    ),
    Regime(
        3,
        dt.date(2021, 5, 3),
        dt.date(2023, 11, 5),
        INDEX_CONSTITUENTS,
        "Partial resumption: only KOSPI 200 and KOSDAQ 150 constituents may be sold short; "
        "market makers and liquidity providers exempt elsewhere.",
        "FSC press release 2021-02-03 / 2021-04-29",
    ),
    Regime(
        4,
        dt.date(2023, 11, 6),
        dt.date(2025, 3, 30),
        MARKET_MAKERS_ONLY,
        "Market-wide ban on new short sales; market makers and liquidity providers exempt.",
        "FSC decision 2023-11-05; FSC 2024-06-13 extension to 2025-03-30",
    ),
    Regime(
        5,
        dt.date(2025, 3, 31),
        None,
        ALL_LISTED,
        "Full resumption: all listed stocks may be sold short.",
        "FSC 2024-06-13 extension; resumption 2025-03-31",
    ),
)


def regime_on(day: dt.date) -> Regime:
    """The regime in force on calendar day ``day``."""
    for regime in REGIMES:
        if regime.covers(day):
            return regime
    raise ValueError(f"no short-sale regime covers {day} (history starts {REGIMES[0].starts_on})")


def seed_csv() -> str:
    """The dbt seed ``short_sale_regimes.csv`` as text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SEED_COLUMNS)
    for r in REGIMES:
        ends = r.ends_on.isoformat() if r.ends_on else ""
        writer.writerow(
            (r.regime_id, r.starts_on.isoformat(), ends, r.scope, r.description, r.source)
        )
    return buf.getvalue()
