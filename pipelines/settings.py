"""Every environment variable krx-short reads or sets, declared here and nowhere else.

Every process (Dagster, dbt, the command line, the tests) reads the same variables; the functions
below read them, and the few that write ``os.environ`` say so.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WAREHOUSE_DIR = PROJECT_ROOT / "warehouse"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# --- paths ---------------------------------------------------------------------------------
LANDING_ENV = "KRX_LANDING_DIR"
DUCKDB_ENV = "KRX_DUCKDB_PATH"  # also read by dbt_project/profiles.yml
EXPORT_ENV = "KRX_EXPORT_DIR"
ALERT_LOG_ENV = "KRX_ALERT_LOG"
CACHE_ENV = "XDG_CACHE_HOME"  # the XKRX session list is cached in its krx-short folder
# --- sources -------------------------------------------------------------------------------
KRX_URL_ENV = "KRX_PORTAL_URL"
KRX_ID_ENV, KRX_PW_ENV = "KRX_ID", "KRX_PW"
ECOS_URL_ENV = "ECOS_API_URL"
ECOS_KEY_ENV = "ECOS_API_KEY"
# --- how things run ------------------------------------------------------------------------
WORKERS_ENV = "KRX_LOAD_WORKERS"
#: ``pinned`` (default): dbt in the op's process and the batched event storage, both written
#: against the pinned versions (``pipelines.pinned``); ``stock``: dagster-dbt's
#: ``DbtCliResource`` (a dbt subprocess per op) and Dagster's own SQLite event storage.
INTERNALS_ENV = "KRX_INTERNALS"
INTERNALS = ("pinned", "stock")
#: Kills the process (or raises a write error) at a named point (``pipelines.faults``), and
#: the file that records every point reached: for the crash tests.
FAILPOINT_ENV = "KRX_FAILPOINT"
TRACE_ENV = "KRX_FAILPOINT_TRACE"
#: The half-open window ``[start, end)`` of a dbt run (``dbt_project/macros/in_window.sql``).
WINDOW_ENV = ("KRX_DBT_MIN_DATE", "KRX_DBT_MAX_DATE")
# --- Dagster -------------------------------------------------------------------------------
DAGSTER_HOME_ENV = "DAGSTER_HOME"
#: The first session partition (ISO date); unset: the first session the landing zone holds
#: (``pipelines.defs.partitions``). ``krx-short build`` sets it for a range starting earlier.
PARTITIONS_START_ENV = "KRX_PARTITIONS_START"
#: A multi-session backfill is one run, and Dagster records one event per asset and session:
#: - one "planned" event per asset instead of one per session (the trade-off, documented by
#:   Dagster: a failed run does not mark its partitions as failed in the UI);
#: - the per-session materializations of a step, and a new run's planned asset and check
#:   events, handed to the storage as one batch, which ``instance.storage`` writes in one
#:   transaction (~1 ms per event, not ~20).
RUN_ENVIRONMENT = {
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
    "DAGSTER_EVENT_BATCH_SIZE": "1000",
}
#: dbt's console: quiet unless ``--verbose``, colours only on a terminal; its log files at info
#: level (debug with ``--verbose``).
DBT_LOG_LEVEL_ENV, DBT_FILE_LOG_LEVEL_ENV = "DBT_LOG_LEVEL", "DBT_LOG_LEVEL_FILE"
DBT_COLOURS_ENV = "DBT_USE_COLORS"
#: What dbt needs besides the paths: no telemetry, and a test runs in the op that builds all
#: its parents (or their ancestors), never in one that builds only one of them.
DBT_ENVIRONMENT = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_INDIRECT_SELECTION": "buildable",
    # no ANSI codes in the messages the UI shows (a terminal build sets its own)
    DBT_COLOURS_ENV: "false",
    "DBT_USE_COLORS_FILE": "false",
}


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


def alert_log_path() -> Path:
    """Where failed runs and checks are recorded (``KRX_ALERT_LOG``, default
    ``warehouse/alerts.log``)."""
    return _path(ALERT_LOG_ENV, WAREHOUSE_DIR / "alerts.log")


def cache_dir() -> Path:
    """krx-short's cache folder (``$XDG_CACHE_HOME/krx-short``, default ``~/.cache/krx-short``)."""
    return _path(CACHE_ENV, Path.home() / ".cache") / "krx-short"


def dagster_home() -> Path:
    """The Dagster instance folder (``DAGSTER_HOME``, default ``warehouse/dagster``)."""
    return _path(DAGSTER_HOME_ENV, WAREHOUSE_DIR / "dagster")


def value(env: str) -> str | None:
    """A declared variable's value; None when unset or empty."""
    return os.environ.get(env) or None


def load_workers() -> int | None:
    """``KRX_LOAD_WORKERS`` as a number (0 or 1: load in process); None when unset."""
    text = value(WORKERS_ENV)
    return max(int(text), 0) if text else None


def partitions_start() -> dt.date | None:
    """``KRX_PARTITIONS_START`` as a date; None when unset; ValueError when not YYYY-MM-DD."""
    text = value(PARTITIONS_START_ENV)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{PARTITIONS_START_ENV}={text!r}: expected a date (YYYY-MM-DD)") from None


def internals() -> str:
    """``KRX_INTERNALS``: ``pinned`` (default) or ``stock``; ValueError on anything else."""
    chosen = value(INTERNALS_ENV) or INTERNALS[0]
    if chosen not in INTERNALS:
        raise ValueError(f"{INTERNALS_ENV}={chosen!r}: expected one of {', '.join(INTERNALS)}")
    return chosen


# --- what writes os.environ -----------------------------------------------------------------


def export_paths() -> None:
    """Pin the three paths as absolute values in ``os.environ`` for child processes (dbt)."""
    os.environ[LANDING_ENV] = str(landing_dir())
    os.environ[DUCKDB_ENV] = str(duckdb_path())
    os.environ[EXPORT_ENV] = str(export_dir())


def export_dbt_environment(bin_dir: Path) -> None:
    """The paths, ``DBT_ENVIRONMENT`` (without overriding a telemetry choice) and ``bin_dir`` (the
    venv's, where dagster-dbt looks dbt up) on ``PATH``."""
    export_paths()
    path = os.environ.get("PATH", "")
    if str(bin_dir) not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([str(bin_dir), path]) if path else str(bin_dir)
    for name, setting in DBT_ENVIRONMENT.items():
        if name == "DBT_INDIRECT_SELECTION":
            os.environ[name] = setting
        else:
            os.environ.setdefault(name, setting)


def export_dagster_environment(home: Path) -> None:
    """``DAGSTER_HOME`` and ``RUN_ENVIRONMENT`` for the instance of this process."""
    os.environ[DAGSTER_HOME_ENV] = str(home)
    os.environ.update(RUN_ENVIRONMENT)


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` holding ``env`` for the block, every variable restored after."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, saved_value in saved.items():
            if saved_value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = saved_value


def partitions_start_environment(day: dt.date):
    """``KRX_PARTITIONS_START`` set to ``day`` for the block (a command-line build of sessions
    before the landing zone's first file: they are partitions of its run too)."""
    return _environment({PARTITIONS_START_ENV: day.isoformat()})


def duckdb_environment(path: Path):
    """``KRX_DUCKDB_PATH`` pointing at ``path`` (a build's working copy, ``pipelines.publication``)
    while a step writes it: dbt's profile reads it."""
    return _environment({DUCKDB_ENV: str(path)})


def dbt_console(*, verbose: bool, colours: bool):
    """``os.environ`` set for dbt's console output during a command-line build, restored after:
    dbt run in process prints to the terminal (silenced unless ``verbose``) and writes its log
    file at info level (debug, with every statement, when ``verbose``); colours only on a
    terminal. The stock path reads dbt's output itself, so only its colours are set."""
    env = {DBT_COLOURS_ENV: "true" if colours else "false"}
    if internals() == "pinned":
        env[DBT_LOG_LEVEL_ENV] = "info" if verbose else "none"
        # its own level, else the file log follows the console's; every SQL statement (debug)
        # only with --verbose: writing them is about 0.7 s of a one-session update
        env[DBT_FILE_LOG_LEVEL_ENV] = "debug" if verbose else "info"
    return _environment(env)


@contextmanager
def window_environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` holding exactly ``env``'s window variables (none for an unwindowed run)
    while dbt runs: its macros read them as they compile each model."""
    saved = {name: os.environ.pop(name, None) for name in WINDOW_ENV}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, saved_value in saved.items():
            os.environ.pop(name, None)
            if saved_value is not None:
                os.environ[name] = saved_value
