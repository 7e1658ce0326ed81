"""The Dagster code location of krx-short (``workspace.yaml``, ``[tool.dagster]``).

Nothing is built on import: Dagster calls ``krx_short`` when it loads the code location, and
Python callers (the command line, tests) use ``load_defs()`` or the ``defs`` attribute.
"""

from __future__ import annotations

import dagster as dg

from pipelines import settings
from pipelines.defs.assets.dbt import build_dbt_assets
from pipelines.defs.assets.exports import build_export_asset
from pipelines.defs.assets.fetch import krx_fetch
from pipelines.defs.assets.metadata import beta_features_declared
from pipelines.defs.assets.raw import build_raw_assets
from pipelines.defs.checks import freshness_checks
from pipelines.defs.jobs import build_job
from pipelines.defs.partitions import per_first_partition
from pipelines.defs.resources import warehouse_resources
from pipelines.defs.schedules import evening_schedule
from pipelines.defs.sensors.alerts import check_failure_alerts, run_failure_alerts
from pipelines.defs.sensors.landing import landing_sensor


@per_first_partition
def load_defs() -> dg.Definitions:
    """Every asset, check, job, schedule, sensor and resource, built once per process (and
    first session partition)."""
    # Defaults become absolute values in the environment, so dbt's profile and the resources
    # read one and the same path.
    settings.export_paths()
    dbt_ops = build_dbt_assets()
    # the export reads every mart that dbt builds
    marts = [key for op in dbt_ops for key in op.keys if key.path[0] == "marts"]
    with beta_features_declared():
        exports = build_export_asset(marts)
        # each Python asset's page links to the function that defines it
        python_assets = dg.with_source_code_references([*build_raw_assets(), exports])
    return dg.Definitions(
        assets=[*python_assets, *dbt_ops],
        asset_checks=freshness_checks,
        jobs=[build_job(), krx_fetch],
        schedules=[evening_schedule],
        sensors=[landing_sensor, check_failure_alerts, run_failure_alerts],
        resources=warehouse_resources(),
    )


@dg.definitions
def krx_short() -> dg.Definitions:
    return load_defs()


def __getattr__(name: str):
    # ``defs``, as a module attribute built on first use
    if name == "defs":
        return load_defs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
