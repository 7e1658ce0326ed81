"""The dbt project (``dbt_project/``) as seen from Dagster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from pipelines import settings

#: dbt lives next to the interpreter (the project's venv), whether or not the venv is activated.
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


def dbt_environment() -> None:
    """Make the environment dbt needs: KRX_DUCKDB_PATH (absolute, read by profiles.yml) and the
    venv's bin folder on PATH (dagster-dbt's preparer looks dbt up there)."""
    settings.export_environment()
    bin_dir = str(DBT_EXECUTABLE.parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # A test runs in the op that builds all its parents (or their ancestors), never in an op
    # that builds only one of them: the models are split over three ops.
    os.environ["DBT_INDIRECT_SELECTION"] = "buildable"


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


dbt_environment()

krx_dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
)
# Under `dagster dev` the manifest is re-parsed on every code reload; elsewhere (CLI, tests, CI)
# it is parsed once when missing, so a fresh checkout loads without a separate `dbt parse`.
krx_dbt_project.prepare_if_dev()
if not krx_dbt_project.manifest_path.exists():
    parse_manifest(krx_dbt_project)
