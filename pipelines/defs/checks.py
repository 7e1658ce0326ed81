"""Freshness: how many KRX sessions the newest loaded session lags behind what is published."""

import datetime as dt

import dagster as dg

from pipelines.calendar import last_session_on_or_before, now_kst, sessions_between, shift_sessions
from pipelines.defs.assets.raw import raw_key
from pipelines.defs.partitions import DUCKDB_POOL
from pipelines.defs.resources import DuckDBWarehouse
from pipelines.raw.tables import create_raw_schema
from pipelines.sources.datasets import SHORT_BALANCE, SHORT_TRADING, Dataset

PUBLISHED_BY_HOUR = 19  # KRX posts a session's short-selling data by the evening
ALLOWED_LAG_SESSIONS = 1


def latest_published(dataset: Dataset, now: dt.datetime) -> dt.date:
    """The newest session whose ``dataset`` file KRX has published at ``now`` (Seoul time)."""
    today = now.date() if now.hour >= PUBLISHED_BY_HOUR else now.date() - dt.timedelta(days=1)
    return shift_sessions(last_session_on_or_before(today), -dataset.publication_lag_sessions)


def sessions_behind(newest: dt.date | None, expected: dt.date) -> int | None:
    """Sessions after ``newest`` up to ``expected``; None when nothing is loaded."""
    if newest is None:
        return None
    return len(sessions_between(newest + dt.timedelta(days=1), expected))


def build_freshness_check(dataset: Dataset) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_key(dataset),
        name="freshness",
        description=f"The newest session in raw.{dataset.table} is at most "
        f"{ALLOWED_LAG_SESSIONS} session behind the newest one KRX has published.",
        pool=DUCKDB_POOL,
    )
    def _freshness(
        context: dg.AssetCheckExecutionContext, warehouse: DuckDBWarehouse
    ) -> dg.AssetCheckResult:
        with warehouse.step(context) as db, warehouse.connect(db) as con:
            create_raw_schema(con)
            newest = con.execute(f"select max(trade_date) from raw.{dataset.table}").fetchone()[0]
        expected = latest_published(dataset, now_kst())
        behind = sessions_behind(newest, expected)
        return dg.AssetCheckResult(
            passed=behind is not None and behind <= ALLOWED_LAG_SESSIONS,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "newest_session": str(newest),
                "latest_published_session": str(expected),
                "sessions_behind": -1 if behind is None else behind,
            },
        )

    return _freshness


freshness_checks = [build_freshness_check(d) for d in (SHORT_TRADING, SHORT_BALANCE)]
