"""The Dagster instance krx-short runs on (``$DAGSTER_HOME``, default ``warehouse/dagster``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipelines.settings import WAREHOUSE_DIR

CONFIG = Path(__file__).with_name("dagster.yaml")


def ensure_dagster_home() -> Path:
    """Point ``DAGSTER_HOME`` at a folder holding the shipped ``dagster.yaml`` and return it."""
    home = Path(os.environ.get("DAGSTER_HOME") or WAREHOUSE_DIR / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != CONFIG.read_bytes():
        shutil.copyfile(CONFIG, target)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    return home
