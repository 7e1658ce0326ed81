"""Freshness: how many KRX sessions the newest loaded session lags behind what is published."""

import datetime as dt

import dagster as dg

from pipelines.calendar import last_session_on_or_before, now_kst, sessions_between, shift_sessions
from pipelines.defs.assets.raw import raw_key
from pipelines.defs.partitions import DUCKDB_POOL
from pipelines.defs.resources import DuckDBWarehouse
from pipelines.raw.tables import create_raw_schema
from pipelines.sources.datasets import SHORT_BALANCE, SHORT_TRADING, Dataset

#: The run tags naming a run's last session (a range, or one partition).
RANGE_END_TAG, PARTITION_TAG = "dagster/asset_partition_range_end", "dagster/partition"
PUBLISHED_BY_HOUR = 19  # KRX posts a session's short-selling data by the evening
ALLOWED_LAG_SESSIONS = 1


def latest_published(dataset: Dataset, now: dt.datetime) -> dt.date:
    """The newest session whose ``dataset`` file KRX has published at ``now`` (Seoul time)."""
    today = now.date() if now.hour >= PUBLISHED_BY_HOUR else now.date() - dt.timedelta(days=1)
    return shift_sessions(last_session_on_or_before(today), -dataset.publication_lag_sessions)


def expected_newest(dataset: Dataset, now: dt.datetime, range_end: str | None) -> dt.date:
    """The session the newest loaded one is compared with: the latest published one, or the
    last session of the run's range when the run builds an earlier range (a historical
    backfill is fresh when it reaches its own end, not today)."""
    published = latest_published(dataset, now)
    if range_end is None:
        return published
    return min(published, last_session_on_or_before(dt.date.fromisoformat(range_end)))


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
        f"{ALLOWED_LAG_SESSIONS} session behind the newest one KRX has published (for a run "
        "of an earlier range: behind the range's last session).",
        pool=DUCKDB_POOL,
    )
    def _freshness(
        context: dg.AssetCheckExecutionContext, warehouse: DuckDBWarehouse
    ) -> dg.AssetCheckResult:
        with warehouse.step(context) as db, warehouse.connect(db) as con:
            create_raw_schema(con)
            newest = con.execute(f"select max(trade_date) from raw.{dataset.table}").fetchone()[0]
        tags = context.run.tags
        range_end = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG)
        expected = expected_newest(dataset, now_kst(), range_end)
        behind = sessions_behind(newest, expected)
        return dg.AssetCheckResult(
            passed=behind is not None and behind <= ALLOWED_LAG_SESSIONS,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "newest_session": str(newest),
                "latest_published_session": str(expected),
                "sessions_behind": -1 if behind is None else behind,
            },
            description=None
            if behind is not None and behind <= ALLOWED_LAG_SESSIONS
            else f"newest session {newest or 'none'}, expected {expected}",
        )

    return _freshness


freshness_checks = [build_freshness_check(d) for d in (SHORT_TRADING, SHORT_BALANCE)]
