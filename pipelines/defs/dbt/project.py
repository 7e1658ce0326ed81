"""The dbt project (``dbt_project/``) as seen from Dagster, prepared on first use."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from pipelines import settings

#: dbt lives next to the interpreter (the project's venv), whether or not the venv is activated.
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


def dbt_environment() -> None:
    """Make the environment dbt needs (``settings.export_dbt_environment``): the absolute paths
    profiles.yml reads, and the venv's bin folder on PATH."""
    settings.export_dbt_environment(DBT_EXECUTABLE.parent)


def parse_manifest(project: DbtProject) -> Path:
    """Run ``dbt parse`` to (re)write ``target/manifest.json``; no database access is needed."""
    dbt_environment()
    subprocess.run(
        [
            str(DBT_EXECUTABLE),
            "parse",
            "--quiet",
            "--project-dir",
            str(project.project_dir),
            "--profiles-dir",
            str(project.profiles_dir),
        ],
        check=True,
        cwd=project.project_dir,
    )
    return project.manifest_path


@cache
def krx_dbt_project() -> DbtProject:
    """The project with its manifest, made once per process: under ``dagster dev`` it is
    re-parsed on every code reload; elsewhere (CLI, tests, CI) parsed once when missing, so a
    fresh checkout loads without a separate ``dbt parse``."""
    dbt_environment()
    project = DbtProject(
        project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR
    )
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        parse_manifest(project)
    return project
