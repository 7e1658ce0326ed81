"""The dbt models as Dagster assets, in three ops that never form a cycle.

* ``krx_dbt_foundation``: the unpartitioned models and seeds the incremental models read
  (staging views, calendar, regimes, index memberships), rebuilt on every run;
* ``krx_dbt_incremental``: the incremental models (facts and per-ticker-day marts), partitioned
  by KRX session; a run rebuilds exactly its half-open window ``[start, end)`` and a multi-session
  backfill is one dbt invocation (``BackfillPolicy.single_run``);
* ``krx_dbt_rollups``: everything downstream of them (market totals, residuals, weekly returns,
  the securities SCD2), rebuilt on every run from small inputs.

All three run ``dbt build`` (so dbt tests become asset checks; unit tests are left to
``make test``) in the DuckDB pool, inside the op's process (``defs/dbt/runner.py``) or, with
``KRX_INTERNALS=stock``, as dagster-dbt's subprocess (``defs/dbt/stock.py``). The assets are
built on first use (``build_dbt_assets``): they read the dbt manifest.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from pipelines import settings
from pipelines.calendar import Window
from pipelines.defs.assets.charts import ChartsDrawing
from pipelines.defs.assets.dbt_failures import (
    failing_rows,
    failure_query,
    rows_text,
    tested_model,
    tested_node,
)
from pipelines.defs.assets.metadata import (
    OWNERS,
    beta_features_declared,
    column_schema,
    dbt_test_description,
    markdown_table,
    warehouse_columns,
)
from pipelines.defs.dbt.project import dbt_environment, krx_dbt_project
from pipelines.defs.partitions import (
    DUCKDB_POOL,
    per_first_partition,
    run_window,
    session_backfill,
    session_partitions_def,
)
from pipelines.defs.resources import DuckDBWarehouse

INCREMENTAL_SELECTOR = "config.materialized:incremental"
#: Materializations whose row count is cheap to read after a run (views are not counted).
COUNTED_MATERIALIZATIONS = frozenset({"table", "incremental", "seed"})


class DbtConfig(dg.Config):
    """Run configuration of the dbt ops."""

    full_refresh: bool = False


@dataclass(frozen=True)
class DbtCommand:
    """One dbt invocation: its arguments and the run window's environment variables."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


#: What every op's ``dbt build`` leaves out.
UNIT_TESTS_EXCLUDED = ("--exclude-resource-type", "unit_test")
BUILD = ("build", *UNIT_TESTS_EXCLUDED)


def build_dbt_command(window: Window | None, full_refresh: bool = False) -> DbtCommand:
    """The dbt command of one op run.

    Unit tests are left out (``UNIT_TESTS_EXCLUDED``): they check the models' logic on fixed
    inputs, so their verdict cannot change with the data a run loads; ``make test`` runs them
    (as dbt recommends: in development and CI, not in production runs).

    ``window`` is the half-open session window ``[start, end)`` of a partitioned run; it becomes
    ``KRX_DBT_MIN_DATE`` / ``KRX_DBT_MAX_DATE`` (ISO dates) that the incremental models and
    their grain tests filter on. Environment variables rather than ``--vars``: dbt re-parses the
    whole project whenever ``--vars`` change, and the window changes on every run. A full
    refresh rebuilds every incremental model from all raw data, so it drops the window.
    """
    if full_refresh:
        return DbtCommand([*BUILD, "--full-refresh"])
    if window is None:
        return DbtCommand([*BUILD])
    start, end = window
    if not start < end:
        raise ValueError(f"empty dbt window: {start} .. {end} (expected start < end)")
    min_date, max_date = settings.WINDOW_ENV
    return DbtCommand([*BUILD], {min_date: start.isoformat(), max_date: end.isoformat()})


class KrxDagsterDbtTranslator(DagsterDbtTranslator):
    """Models and seeds are keyed ``[schema, name]`` and grouped by schema (staging,
    intermediate, marts, seeds); sources keep the default ``[source, table]`` = ``["raw", table]``,
    the keys of the raw assets."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            name = dbt_resource_props.get("alias") or dbt_resource_props["name"]
            return dg.AssetKey([dbt_resource_props["schema"], name])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dbt_resource_props["schema"]
        return super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return OWNERS

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        """dagster-dbt's metadata and a code reference to the model's (or seed's) file.
        (dagster-dbt's own ``enable_code_references`` needs the project at every event.)"""
        metadata = dict(super().get_metadata(dbt_resource_props))
        path = dbt_resource_props.get("original_file_path")
        if path:
            with beta_features_declared():
                file_path = str(settings.DBT_PROJECT_DIR / path)
                reference = dg.LocalFileCodeReference(file_path=file_path)
                metadata["dagster/code_references"] = dg.CodeReferencesMetadataValue(
                    code_references=[reference]
                )
        return metadata

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetCheckSpec | None:
        """dagster-dbt's check of a test, described (by the test or by what it checks)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=dbt_test_description(manifest["nodes"][unique_id]))


TRANSLATOR = KrxDagsterDbtTranslator()


#: A failed test's description names its model and one of its rows, within this length.
DESCRIPTION_CHARS = 400


def _after_run_metadata(
    manifest: Mapping[str, Any],
    unique_ids: list[str],
    failed_tests: list[str] = (),
    target_path: Path | None = None,
    partitioned: bool = False,
) -> dict[str, dict[str, Any]]:
    """Metadata read with one short-lived connection once dbt has finished (dbt holds the DuckDB
    file while it runs): the column types of every built model, row counts of the tables
    (``table_rows`` for a partitioned model, whose ``dagster/row_count`` would be repeated on
    each of its partitions), and a few rows each failed test found (``description`` and
    ``failing_rows``). The charts are drawn meanwhile (``charts.ChartsDrawing``)."""
    from pipelines.warehouse import connect

    nodes = manifest.get("nodes", {})
    relations = {
        uid: _relation(nodes[uid])
        for uid in unique_ids
        if uid in nodes and nodes[uid]["config"].get("materialized") in COUNTED_MATERIALIZATIONS
    }
    if not unique_ids and not failed_tests:
        return {}
    metadata: dict[str, dict[str, Any]] = {}
    with connect(settings.duckdb_path(), read_only=True, lock_timeout_s=10.0) as con:
        for uid in failed_tests:
            metadata[uid] = _failure_metadata(con, manifest, uid, target_path)
        for uid, (schema, name) in relations.items():
            row = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()
            count_key = "table_rows" if partitioned else "dagster/row_count"
            metadata[uid] = {count_key: int(row[0]) if row else 0}
        built = [nodes[uid] for uid in unique_ids if uid in nodes]
        columns = warehouse_columns(con, (_relation(node) for node in built))
        for node in built:
            metadata.setdefault(node["unique_id"], {})["dagster/column_schema"] = _typed_schema(
                node, columns[_relation(node)]
            )
    return metadata


def _relation(node: Mapping[str, Any]) -> tuple[str, str]:
    """(schema, name) of a model's or seed's relation."""
    return node["schema"], node.get("alias") or node["name"]


def _typed_schema(node: Mapping[str, Any], columns: list[tuple[str, str]]) -> dg.TableSchema:
    """A model's columns with their DuckDB types and the YAML's descriptions."""
    described = node.get("columns", {})
    return column_schema(
        (column, type_, described.get(column, {}).get("description")) for column, type_ in columns
    )


def _failure_metadata(con, manifest: Mapping[str, Any], test_id: str, target_path) -> dict:
    """What a failed test found: its model and a few of its rows, as a one-line description
    and a table."""
    model = tested_model(manifest, test_id) or "?"
    sql = failure_query(manifest, test_id, target_path) if target_path else None
    try:
        columns, rows = failing_rows(con, sql) if sql else ([], [])
    except Exception as exc:  # the test's SQL may read what only dbt's connection sees
        return {"description": f"on {model} (its rows could not be read: {exc})"}
    if not rows:
        return {"description": f"on {model}"}
    return {
        "description": f"on {model}; e.g. {rows_text(columns, rows[:1])}"[:DESCRIPTION_CHARS],
        "failing_rows": dg.MetadataValue.md(markdown_table(columns, rows)),
    }


def _unique_id(event: Any) -> str | None:
    value = getattr(event, "metadata", {}).get("unique_id")
    return getattr(value, "text", value)


def op_target_path(duckdb_path: Path, op_name: str) -> Path:
    """The dbt target folder of one op (or of the parse, ``PARSE_FOLDER``) building one
    warehouse: ``<dir>/dbt-target/<file stem>/<op>`` beside the DuckDB file.

    Stable folders keep each op's last artifacts and log, and let the parse of the next process
    start from the previous one. One set per warehouse: the profile's DuckDB path is part of what
    dbt's partial parsing checks, so two warehouses sharing a parse would re-parse each other
    away on every run. The DuckDB pool runs one dbt op at a time, so a folder is never shared by
    two dbt invocations.
    """
    return duckdb_path.parent / "dbt-target" / duckdb_path.stem / op_name


#: The target folder of the parse an op's process starts from (``op_target_path``).
PARSE_FOLDER = "parse"


def run_dbt(
    context: dg.AssetExecutionContext,
    dbt: Any,
    warehouse: DuckDBWarehouse,
    command: DbtCommand,
) -> Iterator:
    """Run one dbt command for the op's selection on the run's working copy of the warehouse
    and yield its Dagster events (``dbt`` is the ``dbt`` resource, ``runner.DbtCore`` or
    ``stock.StockDbt``).

    The artifacts go to ``op_target_path`` of the published file. Events are yielded once dbt
    has finished, with ``dagster/row_count`` for tables; when dbt fails (an error in a model or
    an error-severity test) the events it produced are still yielded before the error, and the
    run publishes nothing.
    """
    with warehouse.step(context):
        yield from _dbt_events(context, dbt, Path(warehouse.path), command)


def _dbt_events(
    context: dg.AssetExecutionContext, dbt: Any, published: Path, command: DbtCommand
) -> Iterator:
    dbt_environment()
    window = " ".join(f"{name}={value}" for name, value in command.env.items())
    context.log.info(f"{window} dbt {' '.join(command.args)}".strip())
    with settings.window_environment(command.env):
        invocation = dbt.invoke(
            command.args,
            context=context,
            target_path=op_target_path(published, context.op_def.name),
            parse_target=op_target_path(published, PARSE_FOLDER),
            dagster_dbt_translator=TRANSLATOR,
        )
    events = invocation.dagster_events(context)
    materialized = [
        uid
        for e in events
        if isinstance(e, dg.Output | dg.AssetMaterialization) and (uid := _unique_id(e))
    ]
    failed = [
        uid
        for e in events
        if isinstance(e, dg.AssetCheckResult) and not e.passed and (uid := _unique_id(e))
    ]
    charts = ChartsDrawing(settings.duckdb_path(), materialized, settings.export_dir() / "charts")
    events = _charted_last(events, invocation.manifest, charts.unique_ids, materialized)
    try:
        try:
            extra = _after_run_metadata(
                invocation.manifest,
                materialized,
                failed,
                invocation.target_path,
                partitioned=context.assets_def.partitions_def is not None,
            )
        except Exception as exc:  # metadata is a nicety: never fail the run for it
            context.log.warning(f"row counts and failing rows unavailable: {exc}")
            extra = {}
        for event in events:
            uid = _unique_id(event)
            if isinstance(event, dg.AssetCheckResult) and uid in extra:
                found = dict(extra[uid])
                description = found.pop("description")
                event = event._replace(
                    description=description, metadata={**event.metadata, **found}
                )
            elif isinstance(event, dg.Output | dg.AssetMaterialization) and uid is not None:
                more = {**extra.get(uid, {}), **charts.metadata(uid)}
                event = event.with_metadata({**event.metadata, **more}) if more else event
            yield event
    finally:
        charts.close()
    failure = invocation.error()
    if failure is not None:
        raise failure


def _charted_last(
    events: list[Any], manifest: Mapping[str, Any], charted: list[str], built: list[str]
) -> list[Any]:
    """The events with those of each charted model (its output and its tests' results, in
    their order) moved to the end, so that its chart is drawn while the others are stored;
    a model another model of the op reads keeps its place (Dagster records what each output
    was computed from as the step yields it)."""
    children = manifest.get("child_map", {})
    last = {uid for uid in charted if not set(children.get(uid, ())) & set(built)}

    def subject(event: Any) -> str | None:
        uid = _unique_id(event)
        if isinstance(event, dg.AssetCheckResult) and uid:
            return tested_node(manifest, uid)
        return uid

    kept, moved = [], []
    for event in events:
        (moved if subject(event) in last else kept).append(event)
    return kept + moved


@per_first_partition
def build_dbt_assets() -> tuple[dg.AssetsDefinition, ...]:
    """The three dbt ops (foundation, incremental, rollups), from the project's manifest."""
    project = krx_dbt_project()
    common = {
        "manifest": project.manifest_path,
        "project": project,
        "dagster_dbt_translator": TRANSLATOR,
        "pool": DUCKDB_POOL,
    }

    @dbt_assets(
        select=f"+{INCREMENTAL_SELECTOR}",
        exclude=INCREMENTAL_SELECTOR,
        name="krx_dbt_foundation",
        **common,
    )
    def krx_dbt_foundation(
        context: dg.AssetExecutionContext,
        dbt: dg.ResourceParam[Any],
        warehouse: DuckDBWarehouse,
        config: DbtConfig,
    ):
        """Staging views, calendar, regimes and memberships: what the incremental models read."""
        yield from run_dbt(context, dbt, warehouse, build_dbt_command(None, config.full_refresh))

    def krx_dbt_incremental(
        context: dg.AssetExecutionContext,
        dbt: dg.ResourceParam[Any],
        warehouse: DuckDBWarehouse,
        config: DbtConfig,
    ):
        """Facts and per-ticker-day marts for the run's session window (delete+insert by date)."""
        yield from run_dbt(
            context, dbt, warehouse, build_dbt_command(run_window(context), config.full_refresh)
        )

    with beta_features_declared():
        krx_dbt_incremental = dbt_assets(
            select=INCREMENTAL_SELECTOR,
            name="krx_dbt_incremental",
            partitions_def=session_partitions_def(),
            backfill_policy=session_backfill,
            **common,
        )(krx_dbt_incremental)

    @dbt_assets(
        exclude=f"+{INCREMENTAL_SELECTOR}",
        name="krx_dbt_rollups",
        **common,
    )
    def krx_dbt_rollups(
        context: dg.AssetExecutionContext,
        dbt: dg.ResourceParam[Any],
        warehouse: DuckDBWarehouse,
        config: DbtConfig,
    ):
        """Market totals, post-exclusion residuals, weekly returns and the securities dimension."""
        yield from run_dbt(context, dbt, warehouse, build_dbt_command(None, config.full_refresh))

    return krx_dbt_foundation, krx_dbt_incremental, krx_dbt_rollups


_OPS = ("krx_dbt_foundation", "krx_dbt_incremental", "krx_dbt_rollups")


def __getattr__(name: str):
    # the ops by name, and ``dbt_asset_defs`` (all three), built on first use
    if name in _OPS:
        return build_dbt_assets()[_OPS.index(name)]
    if name == "dbt_asset_defs":
        return list(build_dbt_assets())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
