"""The catalog the UI shows: every asset has columns with types and descriptions, owners and
a code reference; every check says what it checks."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from pipelines import settings
from pipelines.calendar import HISTORY_START
from pipelines.defs.definitions import load_defs
from pipelines.sources.datasets import DATASETS
from pipelines.warehouse import connect
from tests.helpers import REAL_LANDING, records

BALANCE = "krx/short_balance/KOSPI/2021-01-27.json"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


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


def dg_key(*path: str) -> dg.AssetKey:
    return dg.AssetKey(list(path))


# --- the session partitions follow the landing zone -------------------------------------------

#: The real fixtures' earliest per-session file: krx/short_trading/KOSDAQ/2021-01-04.json (the
#: 2021 index file is yearly and the master a snapshot: neither says which sessions were fetched).
REAL_FIRST_SESSION = "2021-01-04"


def _first_keys(monkeypatch, landing: Path, start: str | None = None) -> tuple[str, str, str]:
    """The first partition key of the session partitions, the raw assets and the build job
    built with ``landing`` as KRX_LANDING_DIR (and KRX_PARTITIONS_START = ``start``)."""
    from pipelines.defs.assets.raw import build_raw_assets
    from pipelines.defs.jobs import build_job
    from pipelines.defs.partitions import session_partitions_def

    monkeypatch.setenv(settings.LANDING_ENV, str(landing))
    if start:
        monkeypatch.setenv(settings.PARTITIONS_START_ENV, start)
    else:
        monkeypatch.delenv(settings.PARTITIONS_START_ENV, raising=False)
    raw = next(a for a in build_raw_assets() if a.key == dg_key("raw", "krx_short_balance"))
    return (
        session_partitions_def().get_first_partition_key(),
        raw.partitions_def.get_first_partition_key(),
        build_job().partitions_def.get_first_partition_key(),
    )


def test_partitions_start_at_the_landing_zones_first_session_file(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    yearly = tmp_path / "yearly"
    shutil.copytree(REAL_LANDING / "krx/index_ohlcv", yearly / "krx/index_ohlcv")
    # in either order, each landing zone gets its own partitions (no value cached per process)
    for _ in range(2):
        assert _first_keys(monkeypatch, REAL_LANDING) == (REAL_FIRST_SESSION,) * 3
        assert _first_keys(monkeypatch, empty) == (HISTORY_START.isoformat(),) * 3
    assert _first_keys(monkeypatch, yearly) == (HISTORY_START.isoformat(),) * 3
    # a hidden partial download is not a file of the landing zone
    (empty / "krx/short_balance/KOSPI").mkdir(parents=True)
    (empty / "krx/short_balance/KOSPI/2020-03-02.json.part").write_text("{")
    shutil.copy(REAL_LANDING / BALANCE, empty / BALANCE)
    assert _first_keys(monkeypatch, empty)[0] == "2021-01-27"
    # set explicitly (what `krx-short build` does for a range starting earlier)
    assert _first_keys(monkeypatch, REAL_LANDING, "2020-06-01") == ("2020-06-01",) * 3


def test_a_file_before_the_first_partition_waits_for_a_reload(tmp_path):
    """The landing sensor requests only sessions of the job's partitions; a file before them is
    left out of the cursor, so the partitions of a reloaded code location request it."""
    from pipelines.defs.partitions import _session_partitions
    from pipelines.defs.sensors.landing import landing_requests

    root = tmp_path / "landing"
    for relpath in (BALANCE, "krx/short_trading/KOSDAQ/2021-01-04.json"):
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REAL_LANDING / relpath, root / relpath)
    loaded = _session_partitions(dt.date(2021, 1, 27))
    requests, cursor = landing_requests(root, None, loaded)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [
        ("2021-01-27", "2021-01-27")
    ]
    assert list(json.loads(cursor)) == [BALANCE]
    reloaded = _session_partitions(dt.date(2021, 1, 4))
    requests, _ = landing_requests(root, cursor, reloaded)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [
        ("2021-01-04", "2021-01-04")
    ]


def test_a_raw_partitions_row_count_is_absent(tmp_path):
    """A partitioned raw asset's materialization does not carry the whole table's row count as
    ``dagster/row_count`` (Dagster would show it as the partition's)."""
    from pipelines.defs.assets.raw import build_raw_asset
    from pipelines.defs.partitions import _session_partitions
    from pipelines.defs.resources import DuckDBWarehouse, LandingZone
    from pipelines.sources.datasets import SHORT_BALANCE

    asset = build_raw_asset(SHORT_BALANCE)
    assert asset.partitions_def == _session_partitions(asset.partitions_def.start.date())
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            partition_key="2021-01-27",
            resources={
                "warehouse": DuckDBWarehouse(path=str(tmp_path / "w.duckdb")),
                "landing": LandingZone(root=str(REAL_LANDING)),
            },
        )
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert "dagster/row_count" not in metadata
    records_in_file = len(records(REAL_LANDING / BALANCE))
    assert metadata["rows_loaded"].value == records_in_file > 0


# --- the marts' contracts ------------------------------------------------------------------------


def test_every_dbt_models_declared_column_types_are_the_warehouses(graph, real):
    """Each model's asset (staging, intermediate, marts) shows, before any run, the column types
    its YAML declares (the marts' contracts enforce them), and they are the types DuckDB built
    from the real fixtures."""
    layers = ("staging", "intermediate", "marts")
    models = [key for key in graph.get_all_asset_keys() if key.path[0] in layers]
    assert {key.path[0] for key in models} == set(layers)
    assert len([key for key in models if key.path[0] == "marts"]) >= 20
    with connect(real.db, read_only=True) as con:
        for key in models:
            declared = [
                (c.name, c.type.upper())
                for c in graph.get(key).metadata["dagster/column_schema"].columns
            ]
            built = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [key.path[0], key.path[-1]],
            ).fetchall()
            assert declared == built, key


def test_the_landing_sensor_requests_the_loaded_jobs_sessions(tmp_path, monkeypatch):
    """Evaluated as the daemon does (with the code location's definitions), the sensor asks for
    a run of the sessions of new files."""
    from pipelines.defs.sensors.landing import landing_sensor

    root = tmp_path / "landing"
    (root / BALANCE).parent.mkdir(parents=True)
    shutil.copy(REAL_LANDING / BALANCE, root / BALANCE)
    monkeypatch.setenv(settings.LANDING_ENV, str(root))
    monkeypatch.delenv(settings.PARTITIONS_START_ENV, raising=False)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, repository_def=load_defs().get_repository_def()
        )
        (request,) = landing_sensor(context)
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2021-01-27", "2021-01-27")
