"""The Dagster code location of krx-short (loaded by ``workspace.yaml``)."""

from __future__ import annotations

import dagster as dg

from pipelines import settings
from pipelines.assets.raw import raw_assets
from pipelines.jobs import build_job
from pipelines.resources import DuckDBWarehouse, LandingZone

# Defaults become absolute values in the environment, so dbt's profile and the resources below
# read one and the same path.
settings.export_environment()

defs = dg.Definitions(
    assets=[*raw_assets],
    jobs=[build_job],
    resources={
        "warehouse": DuckDBWarehouse(path=dg.EnvVar(settings.DUCKDB_ENV)),
        "landing": LandingZone(root=dg.EnvVar(settings.LANDING_ENV)),
    },
)
