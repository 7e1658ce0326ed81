"""The private APIs of ``pipelines.pinned`` were written for exact versions: an upgrade of
dagster, dagster-dbt or dbt-duckdb fails here, loudly, until they are checked again."""

from __future__ import annotations

import ast
import inspect
import threading
from importlib.metadata import version
from pathlib import Path

from pipelines import pinned

ROOT = Path(__file__).resolve().parents[1]


def test_the_installed_versions_are_those_the_internals_were_written_for():
    assert pinned.version_drift() is None, pinned.version_drift()


def test_a_drift_names_what_the_internals_were_written_for_and_what_is_installed(monkeypatch):
    monkeypatch.setitem(pinned.WRITTEN_FOR, "dagster", "1.0.0")
    assert pinned.version_drift() == (
        "these internals were written for dagster==1.0.0, "
        f"dagster-dbt=={version('dagster-dbt')}, dbt-duckdb=={version('dbt-duckdb')}; "
        f"now dagster=={version('dagster')}, dagster-dbt=={version('dagster-dbt')}, "
        f"dbt-duckdb=={version('dbt-duckdb')}: check pipelines/pinned.py and its users, "
        "or run with KRX_INTERNALS=stock"
    )


def _private_imports(path: Path) -> list[str]:
    """Imports of another package's private module (``dagster._core``...) or private name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "__future__" or node.module.split(".")[0] == "pipelines":
                continue
            private_module = any(part.startswith("_") for part in node.module.split("."))
            private_name = any(a.name.startswith("_") for a in node.names)
            if private_module or private_name:
                found.append(f"{node.module}: {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if "._" in a.name]
    return found


def test_no_module_but_pinned_imports_a_private_api():
    users = {
        str(path.relative_to(ROOT)): found
        for path in sorted((ROOT / "pipelines").rglob("*.py"))
        if (found := _private_imports(path)) and path.name != "pinned.py"
    }
    assert users == {}
    assert len(_private_imports(ROOT / "pipelines" / "pinned.py")) >= 7


def test_the_sqlite_event_log_has_the_internals_the_batched_storage_overrides(tmp_path):
    """``instance/storage.py`` replaces Dagster's ``_connect`` (an engine per connection) and
    re-enters it while it flushes held events: the names and arguments it relies on."""
    storage = pinned.SqliteEventLogStorage(str(tmp_path))
    assert list(inspect.signature(storage._connect).parameters) == ["shard"]
    assert list(inspect.signature(storage._initdb).parameters) == ["engine", "for_index_shard"]
    assert storage._initialized_dbs == {pinned.INDEX_SHARD}  # connected once, to create it
    assert type(storage._db_lock) is type(threading.Lock())
    assert storage.path_for_shard(pinned.INDEX_SHARD) == str(tmp_path / "index.db")
