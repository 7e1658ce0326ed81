"""The private APIs of ``pipelines.pinned`` were written for exact versions: an upgrade of
dagster, dagster-dbt or dbt-duckdb fails here, loudly, until they are checked again."""

from __future__ import annotations

import ast
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
