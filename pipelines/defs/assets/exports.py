"""The export asset: Parquet copies of the marts for the run's window (``pipelines.exports``)."""

from collections.abc import Sequence

import dagster as dg
from dagster import AssetExecutionContext

from pipelines import settings
from pipelines.defs.assets.metadata import OWNERS
from pipelines.defs.partitions import (
    DUCKDB_POOL,
    run_window,
    session_backfill,
    session_partitions_def,
)
from pipelines.defs.resources import DuckDBWarehouse
from pipelines.exports import export_marts

EXPORT_KEY = dg.AssetKey(["exports", "parquet"])


def build_export_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The export asset downstream of ``deps`` (the dbt marts)."""

    @dg.asset(
        key=EXPORT_KEY,
        deps=list(deps),
        group_name="exports",
        description="Parquet (zstd) under KRX_EXPORT_DIR: facts and per-day marts by "
        "year=/month=, dimensions and the other marts as single files, manifest.json. A window "
        "rewrites only its months.",
        partitions_def=session_partitions_def(),
        backfill_policy=session_backfill,
        pool=DUCKDB_POOL,
        kinds={"parquet"},
        owners=OWNERS,
    )
    def parquet_exports(context: AssetExecutionContext, warehouse: DuckDBWarehouse):
        root = settings.export_dir()
        with warehouse.step(context) as db, warehouse.connect(db) as con:
            exports = export_marts(con, root, run_window(context))
        return dg.MaterializeResult(
            metadata={
                "export_dir": dg.MetadataValue.path(str(root)),
                "manifest": dg.MetadataValue.path(str(root / "manifest.json")),
                "tables": len(exports),
                "rows": dg.MetadataValue.md(
                    "\n".join(f"- {name}: {e.rows:,}" for name, e in exports.items())
                ),
            }
        )

    return parquet_exports
