"""Small helpers for asset metadata shown in the Dagster UI."""

from __future__ import annotations


def markdown_table(columns: list[str], rows: list[tuple]) -> str:
    """A Markdown table of ``rows`` (values rendered with ``str``; ``|`` escaped)."""
    if not rows:
        return "no rows"

    def cell(value) -> str:
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
