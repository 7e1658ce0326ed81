"""Warehouses built once per test session and only ever read by the tests (a test that changes
data works on a copy of the DuckDB file).

* ``real``: the real KRX responses of ``tests/fixtures/krx-real`` loaded and built (there is no
  ECOS file, so the usdkrw test warns);
* ``sample``: a demo-scale sample from 2020-01-02 to 2025-04-30 (all five short-sale regimes,
  semi-annual rebalances, ad-hoc index changes, renames, a market transfer) with the
  generator's truth;
* ``export_sample``: a three-month demo-scale sample (2021-05-24..2021-07-30, the June 2021
  rebalance) for the export and summary tests;
* ``builder`` and ``reference``: ``krx-short build`` of a five-session sample in forked
  processes (``tests.builds``), and one uninterrupted build, for the crash, reliability and
  publication tests.

dbt runs as a subprocess (the project's ``dbt`` next to this interpreter) with
``KRX_DUCKDB_PATH`` pointing at the warehouse's file and its artifacts in a temporary target.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.defs.assets.dbt import build_dbt_command
from tests.builds import LANDING_END, LANDING_START, Builder, succeeded
from tests.fake_sources import credentials, fake  # noqa: F401  (fixtures for every module)
from tests.helpers import (
    EXPORT_SAMPLE_END,
    EXPORT_SAMPLE_START,
    REAL_LANDING,
    SAMPLE_END,
    SAMPLE_START,
    Warehouse,
    load_raw,
    run_dbt,
)
from tests.section9 import build_warehouse, section9_landing

#: Scratch space in RAM where the system has one: Dagster's SQLite event log commits and syncs
#: once per event and DuckDB syncs each checkpoint, most of a small build's time on a disk.
#: A SIGKILL loses nothing either way (only a power cut would), so the tests prove the same.
RAM = Path("/dev/shm")


def pytest_configure(config: pytest.Config) -> None:
    """Every temporary folder (pytest's, Dagster's test instances, the subprocesses') in RAM,
    unless ``TMPDIR`` says otherwise."""
    if "TMPDIR" not in os.environ and RAM.is_dir() and os.access(RAM, os.W_OK):
        os.environ["TMPDIR"] = str(RAM)
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def _build_sample(tmp_path_factory, name: str, start, end) -> tuple[Warehouse, object]:
    from pipelines.sample.generator import generate

    base = tmp_path_factory.mktemp(name)
    db, target, landing = base / "sample.duckdb", base / "target", base / "landing"
    truth = generate(landing, start, end, seed=7, scale="demo")
    load_raw(db, landing)
    build = run_dbt(db, target, build_dbt_command(None))
    assert build.returncode == 0 and not build.failures(), build.output[-5000:]
    return Warehouse(db, target, build), truth


@pytest.fixture(scope="session")
def real(tmp_path_factory) -> Warehouse:
    """The real KRX fixtures loaded and built (there is no ECOS file)."""
    base = tmp_path_factory.mktemp("dbt_real")
    db, target = base / "real.duckdb", base / "target"
    load_raw(db, REAL_LANDING)
    return Warehouse(db, target, run_dbt(db, target, build_dbt_command(None)))


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> tuple[Warehouse, object]:
    """The 2020-01-02..2025-04-30 sample, built: (warehouse, the generator's truth)."""
    return _build_sample(tmp_path_factory, "dbt_sample", SAMPLE_START, SAMPLE_END)


@pytest.fixture(scope="session")
def export_sample(tmp_path_factory) -> tuple[Warehouse, object]:
    """The three-month sample of the export and summary tests: (warehouse, truth)."""
    return _build_sample(tmp_path_factory, "export_sample", EXPORT_SAMPLE_START, EXPORT_SAMPLE_END)


@pytest.fixture(scope="session")
def section9(tmp_path_factory) -> Warehouse:
    """The real fixtures plus the recorded investor-type file (``tests.section9``), built."""
    base = tmp_path_factory.mktemp("section9")
    return build_warehouse(base, section9_landing(base / "landing"))


@pytest.fixture(scope="session")
def builder(tmp_path_factory) -> Iterator[Builder]:
    """The forking builder (``tests.builds``) on a sample of LANDING_START..LANDING_END."""
    from pipelines.sample.generator import generate

    base = tmp_path_factory.mktemp("builds")
    generate(base / "landing", LANDING_START, LANDING_END)
    (base / "logs").mkdir()
    builder = Builder(base / "landing", base / "logs")
    yield builder
    builder.close()


@pytest.fixture(scope="session")
def reference(builder, tmp_path_factory) -> tuple[Path, list[str]]:
    """An uninterrupted build of START..END (tests copy it, never write it) and the failpoints
    it passed, in order."""
    root = tmp_path_factory.mktemp("reference")
    trace = root / "failpoints.txt"
    succeeded(*builder.build(root, KRX_FAILPOINT_TRACE=str(trace)))
    return root, trace.read_text(encoding="utf-8").split()
