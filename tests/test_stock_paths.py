"""The fallback of ``KRX_INTERNALS=stock``: dbt as dagster-dbt's subprocess, Dagster's own event
storage (public APIs only, for when an upgrade breaks ``pipelines.pinned``'s users)."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import duckdb
import pytest

from pipelines import settings
from pipelines.cli import main
from pipelines.cli.build import run_build
from pipelines.defs.assets.raw import build_raw_assets
from pipelines.defs.dbt import runner
from pipelines.defs.dbt.stock import StockDbt
from pipelines.defs.resources import dbt_resource, warehouse_resources
from pipelines.instance import ensure_dagster_home
from pipelines.instance.storage import BatchSqliteEventLogStorage
from pipelines.pinned import SqliteEventLogStorage
from pipelines.sample.generator import generate
from tests.helpers import krx_int, records

START, END = dt.date(2021, 6, 7), dt.date(2021, 6, 11)  # one week, five sessions


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """A synthetic landing zone of one week (every dataset, so every model builds)."""
    landing = tmp_path_factory.mktemp("stock") / "landing"
    generate(landing, START, END)
    return landing


@pytest.fixture
def stock(week, tmp_path, monkeypatch):
    monkeypatch.setenv(settings.INTERNALS_ENV, "stock")
    monkeypatch.setenv(settings.LANDING_ENV, str(week))
    monkeypatch.setenv(settings.DUCKDB_ENV, str(tmp_path / "krx.duckdb"))
    monkeypatch.setenv(settings.EXPORT_ENV, str(tmp_path / "exports"))
    monkeypatch.setenv(settings.DAGSTER_HOME_ENV, str(tmp_path / "dagster"))
    for name, value in settings.RUN_ENVIRONMENT.items():  # restored afterwards
        monkeypatch.setenv(name, value)
    return tmp_path


def _balances_in_files(landing) -> tuple[int, int]:
    """Rows and total BAL_QTY of the week's balance files, read from the JSON."""
    rows = [r for f in sorted(landing.glob("krx/short_balance/*/*.json")) for r in records(f)]
    return len(rows), sum(krx_int(r["BAL_QTY"]) for r in rows)


@pytest.mark.slow
def test_the_stock_dbt_path_builds_the_warehouse_with_a_dbt_subprocess(stock, week, monkeypatch):
    def in_process(*_args, **_kwargs):
        raise AssertionError("the in-process dbt runner ran under KRX_INTERNALS=stock")

    monkeypatch.setattr(runner, "invoke_dbt", in_process)
    assert isinstance(dbt_resource(), StockDbt)
    from pipelines.defs.definitions import load_defs

    load_defs.cache_clear()  # the definitions of this process are built with the stock dbt
    try:
        with dg.instance_for_test() as instance:
            outcome = run_build(START, END, instance=instance)
    finally:
        load_defs.cache_clear()
    assert outcome.failed_steps == [] and outcome.failed_checks == []
    assert outcome.exit_code() == 0
    with duckdb.connect(str(stock / "krx.duckdb"), read_only=True) as con:
        built = con.execute(
            "select count(*), sum(balance_qty) from marts.fct_short_balances "
            "where trade_date between ? and ?",
            [START, END],
        ).fetchone()
    assert built == _balances_in_files(week)
    # each op ran its own dbt process: no shared parse folder, each op's artifacts
    ops = stock / "dbt-target" / "krx"
    assert sorted(p.name for p in ops.iterdir()) == [
        "krx_dbt_foundation",
        "krx_dbt_incremental",
        "krx_dbt_rollups",
    ]
    for op in ops.iterdir():
        results = json.loads((op / "run_results.json").read_text())["results"]
        assert results and all(r["status"] in ("success", "pass") for r in results), op.name


def test_the_stock_storage_path_records_a_build_in_dagster_s_own_storage(stock, monkeypatch):
    home = ensure_dagster_home()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        result = dg.materialize(
            build_raw_assets(),
            resources=warehouse_resources(),
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": START.isoformat(),
                "dagster/asset_partition_range_end": END.isoformat(),
            },
            selection=dg.AssetSelection.keys(dg.AssetKey(["raw", "krx_short_balance"])),
        )
        assert result.success
        stored = instance.get_materialized_partitions(dg.AssetKey(["raw", "krx_short_balance"]))
    assert stored == {"2021-06-07", "2021-06-08", "2021-06-09", "2021-06-10", "2021-06-11"}
    # the same home under the default setting is back on the batched storage
    monkeypatch.delenv(settings.INTERNALS_ENV)
    with dg.DagsterInstance.from_config(str(ensure_dagster_home())) as instance:
        assert type(instance.event_log_storage) is BatchSqliteEventLogStorage


def test_an_unknown_internals_setting_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setenv(settings.INTERNALS_ENV, "fast")
    assert main(["export"]) == 2
    assert capsys.readouterr().err == (
        "krx-short: error: KRX_INTERNALS='fast': expected one of pinned, stock\n"
    )
