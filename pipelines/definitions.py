"""The Dagster code location of krx-short (loaded by ``workspace.yaml``)."""

from __future__ import annotations

import dagster as dg

from pipelines import settings
from pipelines.assets.exports import build_export_asset
from pipelines.assets.fetch import krx_fetch
from pipelines.assets.freshness import freshness_checks
from pipelines.assets.raw import raw_assets
from pipelines.jobs import build_job
from pipelines.resources import DuckDBWarehouse, LandingZone
from pipelines.schedules import evening_schedule
from pipelines.sensors import check_failure_alerts, landing_sensor, run_failure_alerts
from pipelines.transform.assets import dbt_asset_defs, dbt_resource

# Defaults become absolute values in the environment, so dbt's profile and the resources below
# read one and the same path.
settings.export_environment()

#: The export reads every mart that dbt builds.
mart_keys = [
    key for definition in dbt_asset_defs for key in definition.keys if key.path[0] == "marts"
]

defs = dg.Definitions(
    assets=[*raw_assets, *dbt_asset_defs, build_export_asset(mart_keys)],
    asset_checks=freshness_checks,
    jobs=[build_job, krx_fetch],
    schedules=[evening_schedule],
    sensors=[landing_sensor, check_failure_alerts, run_failure_alerts],
    resources={
        "warehouse": DuckDBWarehouse(path=dg.EnvVar(settings.DUCKDB_ENV)),
        "landing": LandingZone(root=dg.EnvVar(settings.LANDING_ENV)),
        "dbt": dbt_resource(),
    },
)
