"""Dagster's SQLite event log, writing a batch of planned and asset events in two transactions.

Dagster hands some events to its storage as one batch (``DAGSTER_EVENT_BATCH_SIZE``): the
"planned" events of a new run (one per asset and one per asset check, before the run starts)
and the per-session materializations of a multi-session step. Its SQLite storage writes them
one by one: a new engine and a commit per event in the run's shard, and one or two more in the
index shard, 10-20 ms per event. This storage writes the batch with one commit per shard,
updates each asset's latest-event row once, and inserts the planned asset-check rows together,
leaving the stored records as the one-by-one path leaves them.

Written against the pinned dagster (``pipelines.pinned``: ``SqlEventLogStorage`` internals);
``KRX_INTERNALS=stock`` runs on Dagster's own storage instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from pipelines import settings
from pipelines.pinned import (
    ASSET_EVENTS,
    AssetCheckExecutionRecordStatus,
    AssetCheckExecutionsTable,
    EventLogEntry,
    SqlEventLogStorageTable,
    SqliteEventLogStorage,
)

CHECK_PLANNED = dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED


def _is_asset_event(event: EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return (
        dagster_event is not None
        and dagster_event.event_type in ASSET_EVENTS
        and dagster_event.asset_key is not None
    )


def _is_check_planned(event: EventLogEntry) -> bool:
    return event.dagster_event is not None and event.dagster_event.event_type == CHECK_PLANNED


class BatchSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose ``store_event_batch`` commits once per shard."""

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchSqliteEventLogStorage:
        # Dagster's default place for run event logs: $DAGSTER_HOME/history/runs
        default = str(settings.dagster_home() / "history" / "runs")
        return cls(base_dir=config_value.get("base_dir", default), inst_data=inst_data)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        run_ids = {event.run_id for event in events}
        assets = [i for i, event in enumerate(events) if _is_asset_event(event)]
        checks = [i for i, event in enumerate(events) if _is_check_planned(event)]
        if len(run_ids) != 1 or len(assets) + len(checks) != len(events):
            super().store_event_batch(events)  # one by one, as Dagster does
            return
        (run_id,) = run_ids
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            insert = SqlEventLogStorageTable.insert()
            event_ids = [conn.execute(insert, row).inserted_primary_key[0] for row in rows]
            if assets:
                self._store_asset_event_tags(
                    conn, [events[i] for i in assets], [event_ids[i] for i in assets]
                )
            # each event type sets the same columns of the asset's row: the last one of each
            # (asset, type), applied in order, leaves the row as applying every event would
            last = {
                (events[i].dagster_event.asset_key, events[i].dagster_event.event_type): i
                for i in assets
            }
            for index in sorted(last.values()):
                self._store_asset_event(conn, events[index], event_ids[index])
            check_rows = [
                row for i in checks for row in self._check_planned_rows(events[i], event_ids[i])
            ]
            if check_rows:
                conn.execute(AssetCheckExecutionsTable.insert(), check_rows)

    def _check_planned_rows(self, event: EventLogEntry, event_id: int) -> list[dict]:
        """The rows Dagster's ``_store_asset_check_evaluation_planned`` inserts for one
        event: one per partition it plans (or one unpartitioned)."""
        planned = event.dagster_event.event_specific_data
        subset = planned.partitions_subset
        row = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": dg.serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        partitions = subset.get_partition_keys() if subset else [None]
        return [{**row, "partition": partition} for partition in partitions]
