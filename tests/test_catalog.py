"""The catalog the UI shows: every asset has columns with types and descriptions, owners and
a code reference; every check says what it checks."""

from __future__ import annotations

import pytest

from pipelines.defs.definitions import load_defs
from pipelines.sources.datasets import DATASETS
from pipelines.warehouse import connect


@pytest.fixture(scope="module")
def graph():
    return load_defs().resolve_asset_graph()


def test_every_asset_has_owners_and_a_code_reference(graph):
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:krx-short"], key
        assert "dagster/code_references" in node.metadata, key


def test_every_check_has_a_description(graph):
    specs = {key: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert len(specs) > 100
    assert [key for key, spec in specs.items() if not spec.description] == []
    usdkrw = next(
        s for k, s in specs.items() if k.name == "not_null_fct_market_short_balances_usdkrw"
    )
    assert usdkrw.description == "not_null on usdkrw; severity warn"


def test_raw_column_schemas_are_the_warehouse_tables(graph, real):
    """Names and types of each raw asset's columns are those of its DuckDB table; each column
    is described."""
    with connect(real.db, read_only=True) as con:
        for dataset in DATASETS.values():
            node = graph.get(dg_key("raw", dataset.table))
            schema = node.metadata["dagster/column_schema"]
            declared = [(c.name, c.type.upper()) for c in schema.columns]
            actual = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = ? order by ordinal_position",
                [dataset.table],
            ).fetchall()
            assert declared == actual, dataset.name
            assert all(c.description for c in schema.columns), dataset.name


def test_dbt_model_columns_are_described(graph):
    node = graph.get(dg_key("marts", "fct_market_short_balances"))
    columns = node.metadata["dagster/column_schema"].columns
    assert {c.name for c in columns} >= {"trade_date", "market", "usdkrw"}
    assert all(c.description for c in columns)


def dg_key(*path: str):
    import dagster as dg

    return dg.AssetKey(list(path))
