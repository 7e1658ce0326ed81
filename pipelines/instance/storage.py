"""Dagster's SQLite event log, with fewer engines and transactions per event.

Dagster's SQLite storage creates and disposes a SQLAlchemy engine for every connection (and so
compiles every statement anew), asks SQLite whether a table exists before every check
evaluation, and commits each event in the run's shard and again in the index: 5-8 ms per
event, 1-2 s for the hundred outputs and check evaluations a dbt op yields. This storage

* keeps one engine per shard (``NullPool``: connections still last one use) and remembers the
  tables, secondary indexes and asset-key columns it found (a migration adds them, none
  removes them);
* writes a batch Dagster hands over (``DAGSTER_EVENT_BATCH_SIZE``: the "planned" events of a
  new run, the per-session materializations of a multi-session step) with one commit per shard,
  updating each asset's latest-event row once and inserting the planned check rows together;
* with ``buffer_step_events`` (the command line's instance, ``command_line_instance``), holds a
  step's outputs, materializations, observations and check evaluations, and stores them, each
  as Dagster's own ``store_event`` does, in one transaction per shard (the runs' shards commit
  before the index) as soon as anything connects to the storage (Dagster reads the latest
  materializations for data versions and check targets, so every read sees them), another
  event comes (the step's end among them) or the instance is disposed. Held events are not
  visible to other processes (the UI) until then, and are lost if the process dies: only
  events of a step that did not finish, whose run the dead-run release marks failed.

The stored records are those the one-by-one path leaves (``tests/test_storage_events.py``
compares them with Dagster's own storage). Written against the pinned dagster
(``pipelines.pinned``: ``SqlEventLogStorage`` internals); ``KRX_INTERNALS=stock`` runs on
Dagster's own storage instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

import dagster as dg
import sqlalchemy as db
from sqlalchemy.pool import NullPool

from pipelines import settings
from pipelines.pinned import (
    ASSET_EVENTS,
    INDEX_SHARD,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    AssetCheckExecutionRecordStatus,
    AssetCheckExecutionsTable,
    EventLogEntry,
    SqlEventLogStorageTable,
    SqliteEventLogStorage,
)

CHECK_PLANNED = dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
#: Engines kept (the index and the latest runs' shards).
CACHED_ENGINES = 8
#: The events of a step that ``buffer_step_events`` holds: those a step yields in bursts.
STEP_BURST_EVENTS = frozenset(
    {
        dg.DagsterEventType.STEP_OUTPUT,
        dg.DagsterEventType.HANDLED_OUTPUT,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_OBSERVATION,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    }
)
#: Held events stored at once, at most.
MAX_PENDING = 1000


def _is_asset_event(event: EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return (
        dagster_event is not None
        and dagster_event.event_type in ASSET_EVENTS
        and dagster_event.asset_key is not None
    )


def _is_step_burst_event(event: EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return (
        bool(event.run_id)
        and dagster_event is not None
        and dagster_event.step_key is not None
        and dagster_event.event_type in STEP_BURST_EVENTS
    )


def _is_check_planned(event: EventLogEntry) -> bool:
    return event.dagster_event is not None and event.dagster_event.event_type == CHECK_PLANNED


class BatchSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` that reuses one engine per shard, commits a batch once per
    shard and, with ``buffer_step_events``, holds a step's outputs, materializations,
    observations and check evaluations until the storage is next read or another event comes."""

    @classmethod
    def config_type(cls) -> dict:
        return {
            "base_dir": dg.Field(dg.StringSource, is_required=False),
            "buffer_step_events": dg.Field(bool, is_required=False, default_value=False),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchSqliteEventLogStorage:
        # Dagster's default place for run event logs: $DAGSTER_HOME/history/runs
        default = str(settings.dagster_home() / "history" / "runs")
        return cls(
            base_dir=config_value.get("base_dir", default),
            inst_data=inst_data,
            buffer_step_events=config_value.get("buffer_step_events", False),
        )

    def __init__(self, base_dir: str, inst_data=None, buffer_step_events: bool = False):
        self._engines: OrderedDict[str, db.Engine] = OrderedDict()
        self._known_tables: set[str] = set()
        self._known_indexes: set[str] = set()
        self._known_columns: set[str] = set()  # of the asset keys' table
        self._buffering = buffer_step_events
        self._pending: list[EventLogEntry] = []
        self._open: dict[str, db.Connection] = {}  # the shards' connections during a flush
        super().__init__(base_dir, inst_data=inst_data)
        # re-entrant: a flush stores through Dagster's own methods, which connect again
        self._db_lock = threading.RLock()

    @property
    def buffers_step_events(self) -> bool:
        """Whether a step's outputs and check evaluations are held (``buffer_step_events``)."""
        return self._buffering

    # -- connections ------------------------------------------------------------------------

    def _engine(self, shard: str) -> db.Engine:
        """The shard's engine, kept for the next connection (Dagster creates and disposes one
        per connection: most of its cost per event). ``NullPool``: no connection outlives its
        use, so an engine is safe across threads and forks."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = db.create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
        self._engines[shard] = engine
        while len(self._engines) > CACHED_ENGINES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        with self._db_lock:
            if shard in self._open:  # within a flush (this thread holds the lock)
                yield self._open[shard]
                return
            self._flush()  # whoever connects, to read or to write, sees every event stored
            with self._transaction(shard) as conn:
                yield conn

    @contextmanager
    def _transaction(self, shard: str) -> Iterator[db.Connection]:
        engine = self._engine(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with engine.connect() as conn, conn.begin():
            yield conn

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before every check evaluation
        if table_name not in self._known_tables and super().has_table(table_name):
            self._known_tables.add(table_name)
        return table_name in self._known_tables

    def has_asset_key_col(self, column_name: str) -> bool:
        if column_name in self._known_columns:  # asked twice per asset record read
            return True
        return super().has_asset_key_col(column_name)

    def _has_asset_key_col_on_connection(self, conn: db.Connection, column_name: str) -> bool:
        if column_name not in self._known_columns and super()._has_asset_key_col_on_connection(
            conn, column_name
        ):
            self._known_columns.add(column_name)
        return column_name in self._known_columns

    def has_secondary_index(self, name: str) -> bool:
        if name not in self._known_indexes and super().has_secondary_index(name):
            self._known_indexes.add(name)
        return name in self._known_indexes

    # -- a step's events, held until the next read --------------------------------------------

    def store_event(self, event: EventLogEntry) -> None:
        with self._db_lock:
            if self._buffering and _is_step_burst_event(event):
                self._pending.append(event)
                if len(self._pending) >= MAX_PENDING:
                    self._flush()
            else:
                super().store_event(event)  # connecting flushes what is held first

    def _flush(self) -> None:
        """Store the held events; if storing them together fails, one by one, as Dagster
        stores a batch whose write failed."""
        if not self._pending or self._open:
            return
        events, self._pending = self._pending, []
        try:
            self._store_together(events)
        except Exception:
            for event in events:
                super().store_event(event)

    def _store_together(self, events: list[EventLogEntry]) -> None:
        """Store each event as Dagster's own ``store_event`` does, within one transaction per
        shard; the runs' shards commit before the index, as they do one by one."""
        try:
            with ExitStack() as stack:  # closed in reverse: the runs' shards commit first
                for shard in [INDEX_SHARD, *dict.fromkeys(event.run_id for event in events)]:
                    self._open[shard] = stack.enter_context(self._transaction(shard))
                for event in events:
                    super().store_event(event)
        finally:
            self._open.clear()

    def dispose(self) -> None:
        with self._db_lock:
            self._flush()
        super().dispose()

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
