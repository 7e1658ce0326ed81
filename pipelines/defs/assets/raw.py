"""Raw assets: one per dataset of the dataset table, plus the XKRX session list.

Each asset loads the landing files of its partition window into ``raw.<table>`` and reports two
checks: ``validation`` (pandera: rejected files and rows, with a sample) and ``completeness``
(files the window should have but the landing zone lacks).
"""

import json
from functools import cache

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.calendar import today_kst
from pipelines.defs.assets.metadata import (
    OWNERS,
    beta_features_declared,
    column_schema,
    markdown_table,
)
from pipelines.defs.dbt.project import krx_dbt_project
from pipelines.defs.partitions import (
    DUCKDB_POOL,
    per_first_partition,
    run_window,
    session_backfill,
    session_partitions_def,
)
from pipelines.defs.resources import DuckDBWarehouse, LandingZone
from pipelines.raw.load import LoadReport, load_landing
from pipelines.raw.tables import columns, create_raw_schema, write_sessions
from pipelines.sources.datasets import DATASETS, Dataset, Period
from pipelines.sources.landing import missing_files

RAW_PREFIX = "raw"
SAMPLE_SIZE = 10


def raw_key(dataset: Dataset) -> dg.AssetKey:
    return dg.AssetKey([RAW_PREFIX, dataset.table])


def validation_result(dataset: Dataset, report: LoadReport) -> dg.AssetCheckResult:
    """The pandera outcome of one load as a check result: counts and a sample of failures."""
    failures = [f for exc in report.rejected.values() for f in exc.failures]
    return dg.AssetCheckResult(
        check_name="validation",
        asset_key=raw_key(dataset),
        passed=not report.rejected,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "files_loaded": len(report.loaded),
            "files_unchanged": len(report.unchanged),
            "files_rejected": len(report.rejected),
            "rows_loaded": report.rows_loaded,
            "rows_rejected": len(
                {
                    (exc.relpath, f.row_number)
                    for exc in report.rejected.values()
                    for f in exc.failures
                    if f.row_number is not None
                }
            ),
            "failures": len(failures),
            "sample": dg.MetadataValue.md(_sample(report)),
        },
        description=report.errors()[0] if report.rejected else None,
    )


def _sample(report: LoadReport) -> str:
    rows = [
        (exc.relpath, f.row_number, f.column, f.check, f.value)
        for exc in report.rejected.values()
        for f in exc.failures
    ]
    return markdown_table(["file", "row", "column", "rule", "value"], rows[:SAMPLE_SIZE])


def completeness_result(dataset: Dataset, missing: list[str]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name="completeness",
        asset_key=raw_key(dataset),
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "missing_files": len(missing),
            "missing": dg.MetadataValue.md("\n".join(f"- {m}" for m in missing[:50]) or "none"),
        },
        description=f"missing {len(missing)} files: {', '.join(missing[:5])}" if missing else None,
    )


#: What the columns every raw table has hold.
COMMON_COLUMNS = {
    "source_file": "The landing file the row came from (path under KRX_LANDING_DIR).",
    "file_sha256": "SHA-256 of that file's bytes.",
    "row_number": "The row's position in that file (1-based).",
    "ingested_at": "When the row was loaded.",
}


@cache
def _source_columns() -> dict[str, dict[str, str]]:
    """The dbt sources' column descriptions by raw table (``_raw__sources.yml``)."""
    manifest = json.loads(krx_dbt_project().manifest_path.read_text())
    return {
        source["name"]: {c: v.get("description", "") for c, v in source["columns"].items()}
        for source in manifest.get("sources", {}).values()
        if source["source_name"] == RAW_PREFIX
    }


def raw_column_schema(dataset: Dataset) -> dg.TableSchema:
    """The raw table's columns: names and types from the dataset table, descriptions from the
    dbt sources, else what the column is (a field as the source names it, or from the path)."""
    described = {
        **COMMON_COLUMNS,
        **({dataset.file_date_column: "The file's date."} if dataset.file_date_column else {}),
        **({dataset.segment_column: "The file's sub-folder."} if dataset.segment_column else {}),
        **{f.column: f"{f.source} as the source sends it." for f in dataset.fields},
    }
    described.update({k: v for k, v in _source_columns().get(dataset.table, {}).items() if v})
    return column_schema((name, type_, described.get(name)) for name, type_ in columns(dataset))


def _preview(con, dataset: Dataset) -> str:
    result = con.execute(
        f"select * exclude (file_sha256, ingested_at) from raw.{dataset.table} "
        "order by source_file desc, row_number limit 5"
    )
    return markdown_table([d[0] for d in result.description], result.fetchall())


def build_raw_asset(dataset: Dataset) -> dg.AssetsDefinition:
    partitioned = dataset.period is not Period.SNAPSHOT
    checks = [
        dg.AssetCheckSpec(
            "validation",
            asset=raw_key(dataset),
            description="the pandera rules of the dataset (docs/contract.md) on every file",
        )
    ]
    if dataset.required_every_period:
        checks.append(
            dg.AssetCheckSpec(
                "completeness",
                asset=raw_key(dataset),
                description="every session/year of the window has a file",
            )
        )

    with beta_features_declared():
        return _declare_raw_asset(dataset, partitioned, checks)


def _declare_raw_asset(
    dataset: Dataset, partitioned: bool, checks: list[dg.AssetCheckSpec]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(dataset),
        group_name="raw",
        description=dataset.description,
        partitions_def=session_partitions_def() if partitioned else None,
        backfill_policy=session_backfill if partitioned else None,
        pool=DUCKDB_POOL,
        check_specs=checks,
        kinds={"duckdb", "python"},
        owners=OWNERS,
        metadata={
            "landing_folder": dataset.folder,
            "raw_table": f"raw.{dataset.table}",
            "dagster/column_schema": raw_column_schema(dataset),
        },
    )
    def _raw(context: AssetExecutionContext, warehouse: DuckDBWarehouse, landing: LandingZone):
        window = run_window(context) if partitioned else None
        with warehouse.step(context) as db, warehouse.connect(db) as con:
            report = load_landing(con, landing.path, window=window, datasets=[dataset.name])
            table_rows = con.execute(f"select count(*) from raw.{dataset.table}").fetchone()[0]
            preview = _preview(con, dataset)
        for message in report.errors():
            context.log.error(message)
        yield dg.MaterializeResult(
            metadata={
                # a partition's row count would be the whole table's: absent for those
                ("table_rows" if partitioned else "dagster/row_count"): table_rows,
                "files_loaded": len(report.loaded),
                "files_unchanged": len(report.unchanged),
                "files_rejected": len(report.rejected),
                "rows_loaded": report.rows_loaded,
                "preview": dg.MetadataValue.md(preview),
            }
        )
        yield validation_result(dataset, report)
        if dataset.required_every_period:
            missing = missing_files(landing.path, dataset, window, today_kst())
            for relpath in missing:
                context.log.warning(f"missing landing file: {relpath}")
            yield completeness_result(dataset, missing)

    return _raw


@dg.asset(
    key=dg.AssetKey([RAW_PREFIX, "xkrx_sessions"]),
    group_name="raw",
    description="KRX sessions from exchange-calendars XKRX plus the project's closure overrides.",
    pool=DUCKDB_POOL,
    kinds={"duckdb", "python"},
    owners=OWNERS,
    metadata={"dagster/column_schema": column_schema([("session_date", "DATE", "A KRX session.")])},
)
def raw_xkrx_sessions(
    context: AssetExecutionContext, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    with warehouse.step(context) as db, warehouse.connect(db) as con:
        create_raw_schema(con)
        rows = write_sessions(con)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


@per_first_partition
def build_raw_assets() -> list[dg.AssetsDefinition]:
    """One raw asset per dataset, and the session list."""
    return [build_raw_asset(d) for d in DATASETS.values()] + [raw_xkrx_sessions]


def __getattr__(name: str):
    # ``raw_assets``, built on first use (the partitions read the XKRX calendar)
    if name == "raw_assets":
        return build_raw_assets()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
