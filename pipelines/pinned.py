"""Every private API of dagster, dagster-dbt and dbt-duckdb that krx-short uses, in one place.

Two fast paths need them: dbt run inside the op's process (``defs/dbt/runner.py``: one parse
per process instead of a ``dbt build`` subprocess per op, ~8 s each) and the event storage that
keeps an engine per shard and writes a batch of events in one transaction per shard
(``instance/storage.py``). They were written for the versions in ``WRITTEN_FOR``;
``tests/test_pinned.py`` fails on any other. After an upgrade, run with ``KRX_INTERNALS=stock``
(dagster-dbt's ``DbtCliResource`` and Dagster's own SQLite storage, public APIs only) until
these are checked against the new versions.
"""

from __future__ import annotations

from importlib.metadata import version

# dagster: interrupts, and the SQLite event log's tables and per-event writes
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME as INDEX_SHARD,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._utils.interrupts import raise_interrupts_as

# dagster-dbt: the op's dbt selection, and dbt's JSON log events as Dagster events
from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

WRITTEN_FOR = {"dagster": "1.13.27", "dagster-dbt": "0.29.27", "dbt-duckdb": "1.11.1"}

__all__ = [
    "ASSET_EVENTS",
    "INDEX_SHARD",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "AssetCheckExecutionRecordStatus",
    "AssetCheckExecutionsTable",
    "DagsterExecutionInterruptedError",
    "DbtCoreCliEventMessage",
    "EventLogEntry",
    "InstanceRef",
    "SqlEventLogStorageTable",
    "SqliteEventLogStorage",
    "get_updated_cli_invocation_params_for_context",
    "raise_interrupts_as",
    "release_duckdb",
    "version_drift",
]


def version_drift() -> str | None:
    """None when the installed versions are those of ``WRITTEN_FOR``, else what changed."""
    installed = {name: version(name) for name in WRITTEN_FOR}
    if installed == WRITTEN_FOR:
        return None

    def listed(versions: dict[str, str]) -> str:
        return ", ".join(f"{name}=={number}" for name, number in versions.items())

    return (
        f"these internals were written for {listed(WRITTEN_FOR)}; now {listed(installed)}: "
        f"check pipelines/pinned.py and its users, or run with KRX_INTERNALS=stock"
    )


def release_duckdb() -> None:
    """Close dbt-duckdb's database handle, which it keeps open between invocations: the same
    process opens the file again (metadata, exports), and DuckDB refuses a second handle with
    another configuration. (Imported here, not above: importing dbt costs a second.)"""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager.close_all_connections()
