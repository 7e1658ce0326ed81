"""Jobs: the whole pipeline for a session range, in one run."""

from __future__ import annotations

import dagster as dg

from pipelines.partitions import session_partitions

build_job = dg.define_asset_job(
    "krx_build",
    selection=dg.AssetSelection.all(),
    partitions_def=session_partitions,
    description="Landing files -> raw -> dbt -> exports for a range of sessions, in one run.",
)
