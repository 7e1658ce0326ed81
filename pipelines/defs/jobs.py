"""Jobs: the whole pipeline for a session range, in one run."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.partitions import per_first_partition, session_partitions_def

BUILD_JOB = "krx_build"


@per_first_partition
def build_job() -> dg.UnresolvedAssetJobDefinition:
    """Landing files -> raw -> dbt -> exports for a range of sessions."""
    return dg.define_asset_job(
        BUILD_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=session_partitions_def(),
        description="Landing files -> raw -> dbt -> exports for a range of sessions, in one run.",
    )
