"""The rows a failed dbt test found: its compiled SQL run again with a limit once dbt has
finished, so a failure names the test, its model and a few of the rows, not a log path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Rows shown per failed test.
SAMPLE_ROWS = 3


def compiled_sql(target_path: Path, node: Mapping[str, Any]) -> str | None:
    """The SQL dbt compiled for a test node in this invocation's target folder (its file is
    the node's ``path``: a long generic test's name is shortened with a hash)."""
    folder = target_path / "compiled" / node["package_name"] / node["original_file_path"]
    for candidate in (folder / node["path"], folder.parent / node["path"]):
        if candidate.is_file():
            return candidate.read_text()
    return None


def failure_query(manifest: Mapping[str, Any], test_id: str, target_path: Path) -> str | None:
    """The query of a test's failing rows: the test's compiled SQL, or for a ``not_null`` test
    on a whole model the model's rows with the null (dbt's selects only the null column)."""
    nodes = manifest.get("nodes", {})
    node = nodes.get(test_id, {})
    parent = nodes.get(node.get("attached_node") or "", {})
    column = node.get("column_name")
    is_not_null = (node.get("test_metadata") or {}).get("name") == "not_null"
    if is_not_null and column and parent and not node["config"].get("where"):
        relation = f'"{parent["schema"]}"."{parent.get("alias") or parent["name"]}"'
        return f'select * from {relation} where "{column}" is null'
    return compiled_sql(target_path, node) if node else None


def failing_rows(con, sql: str, limit: int = SAMPLE_ROWS) -> tuple[list[str], list[tuple]]:
    """The first ``limit`` rows of a test's query: (column names, rows)."""
    result = con.execute(f"select * from (\n{sql}\n) as failures limit {int(limit)}")
    return [d[0] for d in result.description], result.fetchall()


def rows_text(columns: list[str], rows: list[tuple]) -> str:
    """Rows as ``col=value`` lists separated by ``;``, for one line of text."""
    pairs = (zip(columns, row, strict=True) for row in rows)
    return "; ".join(", ".join(f"{c}={v}" for c, v in pair) for pair in pairs)


def tested_node(manifest: Mapping[str, Any], test_id: str) -> str | None:
    """The unique id of the model (or seed) a test is attached to."""
    node = manifest.get("nodes", {}).get(test_id, {})
    parents = node.get("depends_on", {}).get("nodes", [])
    return node.get("attached_node") or next(iter(parents), None)


def tested_model(manifest: Mapping[str, Any], test_id: str) -> str | None:
    """``schema.name`` of the model (or seed) a test is attached to."""
    parent = manifest.get("nodes", {}).get(tested_node(manifest, test_id) or "")
    if not parent:
        return None
    return f"{parent['schema']}.{parent.get('alias') or parent['name']}"
