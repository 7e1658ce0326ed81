"""The resources: the warehouse file, the landing folder, and dbt (in process or a subprocess)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from pipelines import settings
from pipelines.warehouse import connect


class DuckDBWarehouse(dg.ConfigurableResource):
    """The DuckDB file shared by the raw loaders, dbt and the exports."""

    path: str
    lock_timeout_s: float = 60.0

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.path, read_only=read_only, lock_timeout_s=self.lock_timeout_s) as con:
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
