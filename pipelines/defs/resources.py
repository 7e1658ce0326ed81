"""The resources: the warehouse file, the landing folder, and dbt (in process or a subprocess)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from pipelines import settings
from pipelines.defs.partitions import DUCKDB_POOL
from pipelines.instance import run_is_live
from pipelines.publication import begin_step, end_step
from pipelines.warehouse import connect


def write_steps(context: dg.OpExecutionContext) -> list[str]:
    """The steps of the context's run that write the warehouse: those in the DuckDB pool."""
    selected = context.run.step_keys_to_execute
    return [
        node.name
        for node in context.job_def.graph.nodes
        if getattr(node.definition, "pool", None) == DUCKDB_POOL
        and (selected is None or node.name in selected)
    ]


class DuckDBWarehouse(dg.ConfigurableResource):
    """The DuckDB file shared by the raw loaders, dbt and the exports: ``path`` is the published
    file readers open; a run's steps write its working copy (``pipelines.publication``)."""

    path: str
    lock_timeout_s: float = 60.0

    @contextmanager
    def step(self, context: Any) -> Iterator[Path]:
        """The working copy one write step of the run writes, which ``KRX_DUCKDB_PATH`` names
        while the block runs (dbt's profile reads it). A block that ends without an error counts
        the step as done; the run's last one publishes the working copy."""
        op_context = getattr(context, "op_execution_context", context)
        published = Path(self.path)
        working = begin_step(
            published,
            op_context.run_id,
            write_steps(op_context),
            partial(run_is_live, op_context.instance),
        )
        with settings.duckdb_environment(working):
            yield working
        end_step(published, op_context.run_id, op_context.node_handle.name)

    @contextmanager
    def connect(
        self, path: Path | None = None, read_only: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to ``path`` (a step's working copy), by default the published file."""
        target = path or self.path
        with connect(target, read_only=read_only, lock_timeout_s=self.lock_timeout_s) as con:
            yield con


class LandingZone(dg.ConfigurableResource):
    """The folder raw files land in."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


def dbt_resource() -> dg.ConfigurableResource:
    """dbt on the project's profile: in the op's process (``dbt.runner.DbtCore``), or with
    ``KRX_INTERNALS=stock`` as dagster-dbt's subprocess (``dbt.stock.StockDbt``)."""
    from pipelines.defs.dbt.project import DBT_EXECUTABLE, dbt_environment, krx_dbt_project

    dbt_environment()
    project = krx_dbt_project()
    if settings.internals() == "stock":
        from pipelines.defs.dbt.stock import StockDbt

        return StockDbt(project_dir=project, dbt_executable=str(DBT_EXECUTABLE))
    from pipelines.defs.dbt.runner import DbtCore

    return DbtCore(project_dir=str(project.project_dir), profiles_dir=str(project.profiles_dir))


def warehouse_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources of the code location, paths from the environment."""
    return {
        "warehouse": DuckDBWarehouse(path=dg.EnvVar(settings.DUCKDB_ENV)),
        "landing": LandingZone(root=dg.EnvVar(settings.LANDING_ENV)),
        "dbt": dbt_resource(),
    }
