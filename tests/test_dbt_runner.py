"""The dbt runner: the command and window of each op, the ops as Dagster assets, interrupts."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal

import duckdb
import pytest

from pipelines import settings
from pipelines.defs.assets.dbt import DbtCommand, build_dbt_command
from pipelines.settings import window_environment
from tests.helpers import PROJECT_DIR, rows

EXCLUDED = ["--exclude-resource-type", "unit_test"]


def test_build_dbt_command_without_window_builds_everything():
    assert build_dbt_command(None) == DbtCommand(["build", *EXCLUDED], {})


def test_build_dbt_command_passes_the_half_open_window_as_iso_dates():
    command = build_dbt_command((dt.date(2021, 1, 27), dt.date(2021, 1, 28)))
    # no --vars: they would cost a full re-parse per run
    assert command.args == ["build", *EXCLUDED]
    assert command.env == {"KRX_DBT_MIN_DATE": "2021-01-27", "KRX_DBT_MAX_DATE": "2021-01-28"}


def test_build_dbt_command_full_refresh_drops_the_window():
    full = DbtCommand(["build", *EXCLUDED, "--full-refresh"], {})
    assert build_dbt_command(None, True) == full
    window = (dt.date(2021, 1, 27), dt.date(2021, 1, 28))
    assert build_dbt_command(window, True) == full


def test_window_environment_sets_and_restores_the_window(monkeypatch):
    monkeypatch.setenv("KRX_DBT_MIN_DATE", "2000-01-01")
    monkeypatch.delenv("KRX_DBT_MAX_DATE", raising=False)
    with window_environment({}):  # an unwindowed op never inherits a window
        assert "KRX_DBT_MIN_DATE" not in os.environ and "KRX_DBT_MAX_DATE" not in os.environ
    command = build_dbt_command((dt.date(2021, 1, 27), dt.date(2021, 1, 28)))
    with window_environment(command.env):
        assert os.environ["KRX_DBT_MIN_DATE"] == "2021-01-27"
        assert os.environ["KRX_DBT_MAX_DATE"] == "2021-01-28"
    assert os.environ["KRX_DBT_MIN_DATE"] == "2000-01-01" and "KRX_DBT_MAX_DATE" not in os.environ


def test_build_dbt_command_rejects_an_empty_window():
    with pytest.raises(ValueError, match="empty dbt window"):
        build_dbt_command((dt.date(2021, 1, 28), dt.date(2021, 1, 28)))


def test_each_warehouse_keeps_its_own_dbt_target_per_op(tmp_path):
    from pipelines.defs.assets.dbt import op_target_path

    full, month = tmp_path / "full" / "krx_short.duckdb", tmp_path / "month" / "krx_short.duckdb"
    other = tmp_path / "full" / "scratch.duckdb"
    targets = {op_target_path(db, op) for db in (full, month, other) for op in ("a", "b")}
    assert len(targets) == 6
    assert op_target_path(full, "a") == tmp_path / "full" / "dbt-target" / "krx_short" / "a"


def test_dbt_assets_split_into_three_acyclic_ops():
    import dagster as dg

    from pipelines.defs.assets.dbt import (
        dbt_asset_defs,
        krx_dbt_foundation,
        krx_dbt_incremental,
        krx_dbt_rollups,
    )
    from pipelines.defs.resources import DuckDBWarehouse, dbt_resource

    def keys(assets_def):
        return {k.to_user_string() for k in assets_def.keys}

    incremental = {
        "marts/fct_short_balances",
        "marts/fct_short_trades",
        "marts/fct_index_levels",
        "marts/short_eligibility_daily",
        "marts/top_short_balances",
        "marts/short_squeeze_watch",
        "marts/fct_stock_prices",
        "marts/fct_foreign_holdings",
        "marts/fct_short_trades_by_investor",
        "marts/sector_short_balances",
        "marts/short_overheat_candidates",
        "intermediate/int_market_daily_totals",
        "intermediate/int_security_daily_observations",
    }
    assert keys(krx_dbt_incremental) == incremental
    assert krx_dbt_incremental.partitions_def is not None
    assert {
        "marts/dim_trading_calendar",
        "marts/dim_short_sale_regimes",
        "marts/dim_index_memberships",
        "seeds/short_sale_regimes",
        "staging/stg_krx__short_balances",
    } <= keys(krx_dbt_foundation)
    assert {
        "marts/fct_market_short_balances",
        "marts/post_exclusion_residuals",
        "marts/index_weekly_returns",
        "marts/dim_securities",
    } <= keys(krx_dbt_rollups)
    # the foundation never reads what the later ops write
    later = keys(krx_dbt_incremental) | keys(krx_dbt_rollups)
    assert not {k.to_user_string() for k in krx_dbt_foundation.dependency_keys} & later
    assert not {k.to_user_string() for k in krx_dbt_incremental.dependency_keys} & keys(
        krx_dbt_rollups
    )
    # the dbt sources are the raw assets' keys
    upstream = set().union(*(a.dependency_keys for a in dbt_asset_defs)) - set().union(
        *(a.keys for a in dbt_asset_defs)
    )
    assert {k.path[0] for k in upstream} == {"raw"}
    assert {k.path[1] for k in upstream} >= {"krx_short_balance", "xkrx_sessions", "ecos_usdkrw"}
    assert {
        krx_dbt_foundation.group_names_by_key[dg.AssetKey(["staging", "stg_xkrx__sessions"])],
        krx_dbt_rollups.group_names_by_key[dg.AssetKey(["marts", "dim_securities"])],
    } == {"staging", "marts"}
    for assets_def in dbt_asset_defs:
        assert assets_def.op.pool == "duckdb"
    resources = {"dbt": dbt_resource(), "warehouse": DuckDBWarehouse(path="unused")}
    defs = dg.Definitions(assets=dbt_asset_defs, resources=resources)
    defs.resolve_all_job_defs()


@pytest.mark.slow
def test_dagster_ops_build_a_partition_with_checks_and_row_counts(sample, tmp_path, monkeypatch):
    import dagster as dg

    from pipelines.defs.assets.dbt import dbt_asset_defs
    from pipelines.defs.resources import DuckDBWarehouse, dbt_resource
    from pipelines.warehouse import connect

    wh, _ = sample
    db = tmp_path / "dagster.duckdb"
    shutil.copy(wh.db, db)
    monkeypatch.setenv(settings.DUCKDB_ENV, str(db))
    first, second = "2021-06-11", "2021-06-14"
    count_sql = "select count(*) from {} where trade_date = ?"
    expected = rows(db, count_sql.format("raw.krx_short_balance"), [second])[0][0]
    others_sql = (
        "select count(*), sum(hash(x)) from marts.fct_short_balances x "
        "where trade_date <> ? and trade_date <> ?"
    )
    others = rows(db, others_sql, [first, second])
    with duckdb.connect(str(db)) as con:  # the second run must put these back
        con.execute("delete from marts.fct_short_balances where trade_date = ?", [second])
    target = PROJECT_DIR / "target"
    results = {}
    ops = tmp_path / "dbt-target" / "dagster"
    with dg.instance_for_test() as instance:
        for key in (first, second):  # two runs in one process: one parse, two windows
            results[key] = dg.materialize(
                dbt_asset_defs,
                resources={"dbt": dbt_resource(), "warehouse": DuckDBWarehouse(path=str(db))},
                instance=instance,
                partition_key=key,
                raise_on_error=False,
            )
            ran = [  # the pipeline's builds leave the unit tests out
                r["unique_id"]
                for op in ("krx_dbt_foundation", "krx_dbt_incremental", "krx_dbt_rollups")
                for r in json.loads((ops / op / "run_results.json").read_text())["results"]
            ]
            assert ran and not [uid for uid in ran if uid.startswith("unit_test.")]
    result = results[first]
    assert result.success and results[second].success
    materialized = {
        e.asset_key.to_user_string(): e.materialization
        for e in result.get_asset_materialization_events()
    }
    assert materialized["marts/fct_short_balances"].partition == first
    assert materialized["marts/dim_trading_calendar"].partition is None
    count = rows(db, "select count(*) from marts.fct_short_balances")[0][0]
    row_counts = [
        {
            e.asset_key.to_user_string(): e.materialization.metadata.get("table_rows")
            for e in results[key].get_asset_materialization_events()
        }["marts/fct_short_balances"].value
        for key in (first, second)
    ]
    assert row_counts == [count - expected, count]  # the second run put its session back
    # a partition's row count would be the table's: absent on partitioned models
    assert "dagster/row_count" not in materialized["marts/fct_short_balances"].metadata
    assert "dagster/row_count" not in materialized["staging/stg_krx__short_balances"].metadata
    checks = result.get_asset_check_evaluations()
    assert len(checks) > 100 and all(c.passed for c in checks)
    assert {(c.asset_key, c.check_name) for c in checks} == {
        (c.asset_key, c.check_name) for c in results[second].get_asset_check_evaluations()
    }
    # the second window rebuilt exactly its session
    assert rows(db, count_sql.format("marts.fct_short_balances"), [second])[0][0] == expected > 0
    assert rows(db, others_sql, [first, second]) == others
    # dbt has let go of the file: this process can open it for writing again
    with connect(db, lock_timeout_s=0) as con:
        assert con.execute("select 1").fetchone() == (1,)
    # each op keeps its artifacts per warehouse beside the warehouse file, none in the project;
    # the project was parsed once, in the parse folder
    assert sorted(p.name for p in ops.iterdir()) == [
        "krx_dbt_foundation",
        "krx_dbt_incremental",
        "krx_dbt_rollups",
        "parse",
    ]
    assert (ops / "parse" / "partial_parse.msgpack").exists()
    parse_log = (ops / "parse" / "dbt.log").read_text(encoding="utf-8")
    assert parse_log.count("Running with dbt=") == 1
    for op in ("krx_dbt_foundation", "krx_dbt_incremental", "krx_dbt_rollups"):
        assert (ops / op / "run_results.json").exists(), op
        assert "Partial parsing" not in (ops / op / "dbt.log").read_text(encoding="utf-8"), op
    assert not [p for p in target.iterdir() if p.is_dir() and p.name.startswith("krx_dbt")]


@pytest.mark.slow
def test_a_failing_dbt_test_fails_the_op_after_recording_its_events(sample, tmp_path, monkeypatch):
    """A contradiction in the data: KOSPI's market cap on 2021-06-11 is 1 KRW, so the balance
    is more than 100 % of it and the market mart's error-severity range test fails. The rollups
    op fails naming the test, after Dagster has recorded the models it built and the failed
    check, whose description names the model and a failing row; dbt has let go of the working
    copy, and the published file is left as it was."""
    import dagster as dg

    from pipelines.defs.assets.dbt import dbt_asset_defs
    from pipelines.defs.resources import DuckDBWarehouse, dbt_resource
    from pipelines.publication import working_path
    from pipelines.warehouse import connect

    wh, _ = sample
    db = tmp_path / "tiny_cap.duckdb"
    shutil.copy(wh.db, db)
    with duckdb.connect(str(db)) as con:
        con.execute(
            "update raw.krx_index_ohlcv set mktcap = '1' "
            "where index_code = 'KOSPI' and cast(trd_dd as date) = date '2021-06-11'"
        )
    monkeypatch.setenv(settings.DUCKDB_ENV, str(db))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            dbt_asset_defs,
            resources={"dbt": dbt_resource(), "warehouse": DuckDBWarehouse(path=str(db))},
            instance=instance,
            partition_key="2021-06-11",
            raise_on_error=False,
        )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert [e.step_key for e in failures] == ["krx_dbt_rollups"]
    message = failures[0].step_failure_data.error.message
    test = "accepted_range_fct_market_short_balances_balance_to_market_cap_pct__100__0"
    assert test in message.splitlines()[0]
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [(c.asset_key.to_user_string(), c.check_name) for c in failed] == [
        ("marts/fct_market_short_balances", test)
    ]
    kospi_pct = (
        "select balance_to_market_cap_pct from marts.fct_market_short_balances "
        "where trade_date = '2021-06-11' and market = 'KOSPI'"
    )
    # what dbt built is in the run's working copy only: the failed run published nothing
    ((pct,),) = rows(working_path(db), kospi_pct)
    assert pct > 100
    assert rows(db, kospi_pct)[0][0] < 100
    assert failed[0].description.startswith("on marts.fct_market_short_balances; e.g. ")
    assert f"balance_to_market_cap_pct={pct}" in failed[0].description
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"marts/fct_short_balances", "marts/fct_market_short_balances"} <= materialized
    with connect(working_path(db), lock_timeout_s=0) as con:
        assert con.execute("select 1").fetchone() == (1,)


def test_an_interrupt_cancels_dbt_and_releases_the_warehouse(sample, tmp_path, monkeypatch):
    """Ctrl-C (or a run terminated in the UI) while dbt's threads run queries: dbt stops them,
    the warehouse is released at once, and the interrupt reaches Dagster as its own."""
    from dagster._core.errors import DagsterExecutionInterruptedError
    from dagster._utils.interrupts import raise_interrupts_as

    from pipelines.defs.dbt.runner import invoke_dbt
    from pipelines.warehouse import connect

    wh, _ = sample
    db = tmp_path / "interrupted.duckdb"
    shutil.copy(wh.db, db)
    monkeypatch.setenv(settings.DUCKDB_ENV, str(db))
    target = tmp_path / "target"
    started = []

    def interrupt_when_a_node_starts(event) -> None:  # in one of dbt's threads
        if event.info.name == "NodeStart" and not started:
            started.append(event.data.node_info.unique_id)
            os.kill(os.getpid(), signal.SIGINT)

    args = ["build", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    args += ["--target-path", str(target), "--log-path", str(target)]
    # an interrupt arriving outside dbt fails this test instead of stopping pytest
    with raise_interrupts_as(AssertionError), pytest.raises(DagsterExecutionInterruptedError):
        invoke_dbt(args, callbacks=[interrupt_when_a_node_starts])
    assert started
    nodes = json.loads((target / "manifest.json").read_text())["nodes"].values()
    buildable = [n for n in nodes if n["resource_type"] in ("model", "seed", "test")]
    finished = json.loads((target / "run_results.json").read_text())["results"]
    assert len(finished) < len(buildable) / 2  # dbt stopped instead of building on
    with connect(db, lock_timeout_s=0) as con:
        assert con.execute("select count(*) from marts.fct_short_balances").fetchone()[0] > 0


def test_a_new_process_starts_from_the_warehouse_s_last_parse(tmp_path, monkeypatch):
    from pipelines.defs.assets.dbt import PARSE_FOLDER, op_target_path
    from pipelines.defs.dbt import runner
    from pipelines.defs.resources import dbt_resource

    db = tmp_path / "parsed.duckdb"
    monkeypatch.setenv(settings.DUCKDB_ENV, str(db))
    monkeypatch.setattr(runner, "_MANIFESTS", {})
    dbt = dbt_resource()
    folder = op_target_path(db, PARSE_FOLDER)
    manifest = dbt.manifest(dbt.project_dir, folder)
    assert "model.krx_short.fct_short_balances" in manifest.nodes
    assert dbt.manifest(dbt.project_dir, folder) is manifest  # once per process and warehouse
    monkeypatch.setattr(runner, "_MANIFESTS", {})  # as a new process would start
    dbt.manifest(dbt.project_dir, folder)
    log = (folder / "dbt.log").read_text(encoding="utf-8")
    assert log.count("Running with dbt=") == 2
    assert "Partial parsing enabled, no changes found" in log


def test_an_interrupt_during_a_query_of_dbt_s_main_thread_still_stops_dbt(tmp_path):
    """DuckDB turns an interrupt that lands in a running query into a "Query interrupted" error.
    In dbt's main thread (here an on-run-start hook) dbt would then record a failed hook and build
    on: the runner stops it, and reports the interrupt."""
    import threading

    from dagster._core.errors import DagsterExecutionInterruptedError
    from dagster._utils.interrupts import raise_interrupts_as

    from pipelines.defs.dbt.runner import invoke_dbt

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "models" / "one.sql").write_text("select 1 as x\n")
    slow = "select count(*) from range(6000000000) t(x) where x % 7 = 3"  # about 25 s
    (project / "dbt_project.yml").write_text(
        f'name: hooked\nprofile: hooked\nversion: "1.0"\non-run-start: ["{slow}"]\n'
    )
    db = tmp_path / "hooked.duckdb"
    (project / "profiles.yml").write_text(  # on one thread DuckDB checks for signals promptly
        "hooked:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {db}\n      threads: 1\n      settings:\n        threads: 1\n"
    )
    sent = []

    def interrupt_once_the_hook_runs(event) -> None:  # in dbt's main thread, before the query
        if event.info.name == "LogHookStartLine" and not sent:
            sent.append(threading.Timer(1, os.kill, (os.getpid(), signal.SIGINT)))
            sent[0].start()

    target = tmp_path / "target"
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project)]
    args += ["--target-path", str(target), "--log-path", str(target)]
    with raise_interrupts_as(AssertionError), pytest.raises(DagsterExecutionInterruptedError):
        invoke_dbt(args, callbacks=[interrupt_once_the_hook_runs])
    assert sent
    sent[0].join()
    log = (target / "dbt.log").read_text(encoding="utf-8")
    assert "ERROR hook: hooked.on-run-start.0" in log  # the interrupt ended the hook's query
    assert "Finished running 1 project hook in" in log  # and dbt built nothing after it
    assert not rows(db, "select * from information_schema.tables")
