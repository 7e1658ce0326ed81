"""Which marts are exported month by month: the dbt tag ``export_by_month``, read from the
manifest (stated once, in ``dbt_project/dbt_project.yml``)."""

from __future__ import annotations

import json

import pytest

from pipelines.exports import monthly_tables
from pipelines.settings import DBT_PROJECT_DIR


def test_the_monthly_tables_are_the_facts_and_the_sector_mart():
    facts = {path.stem for path in (DBT_PROJECT_DIR / "models" / "marts").glob("fct_*.sql")}
    assert len(facts) == 7
    assert monthly_tables() == facts | {"sector_short_balances"}


def test_a_tag_on_a_model_outside_marts_does_not_count(tmp_path):
    def node(name: str, schema: str, tags: list[str]) -> dict:
        return {"resource_type": "model", "name": name, "schema": schema, "tags": tags}

    manifest = tmp_path / "manifest.json"
    nodes = [
        node("fct_a", "marts", ["export_by_month"]),
        node("int_b", "intermediate", ["export_by_month"]),
        node("dim_c", "marts", []),
    ]
    manifest.write_text(json.dumps({"nodes": {n["name"]: n for n in nodes}}))
    assert monthly_tables(manifest) == {"fct_a"}


def test_a_missing_manifest_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make manifest"):
        monthly_tables(tmp_path / "manifest.json")
