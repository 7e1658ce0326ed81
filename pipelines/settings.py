"""Paths from the environment: every process (Dagster, dbt, CLI, tests) reads the same variables."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WAREHOUSE_DIR = PROJECT_ROOT / "warehouse"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

LANDING_ENV = "KRX_LANDING_DIR"
DUCKDB_ENV = "KRX_DUCKDB_PATH"
EXPORT_ENV = "KRX_EXPORT_DIR"


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def landing_dir() -> Path:
    """Root of the landing zone (``KRX_LANDING_DIR``, default ``warehouse/landing``)."""
    return _path(LANDING_ENV, WAREHOUSE_DIR / "landing")


def duckdb_path() -> Path:
    """The warehouse file (``KRX_DUCKDB_PATH``, default ``warehouse/krx_short.duckdb``)."""
    return _path(DUCKDB_ENV, WAREHOUSE_DIR / "krx_short.duckdb")


def export_dir() -> Path:
    """Root of the Parquet exports (``KRX_EXPORT_DIR``, default ``warehouse/exports``)."""
    return _path(EXPORT_ENV, WAREHOUSE_DIR / "exports")


def export_environment() -> None:
    """Pin the three paths as absolute values in ``os.environ`` for child processes (dbt)."""
    os.environ[LANDING_ENV] = str(landing_dir())
    os.environ[DUCKDB_ENV] = str(duckdb_path())
    os.environ[EXPORT_ENV] = str(export_dir())
