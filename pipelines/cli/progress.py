"""What a build prints while it runs: one line per finished step with the elapsed time (a
progress bar as well on a terminal), every Dagster event in a log file, and with ``--verbose``
Dagster's own console log beside them.

The lines come from a Dagster logger the command line adds to the build job: it reads the
event each log record carries (``record.dagster_meta``, how Dagster hands events to loggers).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import dagster as dg

PROGRESS_LOGGER = "krx_progress"

#: The dbt ops by step key, as the progress lines name them.
DBT_LAYERS = {
    "krx_dbt_foundation": "dbt foundation (staging, calendar, regimes)",
    "krx_dbt_incremental": "dbt incremental (facts, per-ticker-day marts)",
    "krx_dbt_rollups": "dbt rollups (market totals, residuals, weekly, securities)",
}


@dataclass
class StepTally:
    """What one step produced, counted from its events."""

    assets: set[str] = field(default_factory=set)
    dbt_tests: int = 0
    checks: int = 0
    warned: int = 0
    failed: int = 0
    rows_loaded: dict[str, int] = field(default_factory=dict)  # by asset (not by partition)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _is_raw(step_key: str) -> bool:
    """A raw dataset's load or its freshness check: reported together, as one line."""
    return step_key.startswith("raw__")


def raw_line(tallies: list[StepTally], elapsed_s: float) -> str:
    """The progress line of the raw layer once its steps have finished."""
    total = StepTally()
    for tally in tallies:
        total.assets |= tally.assets
        total.rows_loaded.update(tally.rows_loaded)
        total.checks += tally.checks
        total.warned += tally.warned
        total.failed += tally.failed
    parts = [_plural(len(total.assets), "dataset")]
    parts.append(f"{sum(total.rows_loaded.values()):,} rows loaded")
    parts.append(_plural(total.checks, "check"))
    issues = [f"{total.warned} warned"] * bool(total.warned)
    issues += [f"{total.failed} failed"] * bool(total.failed)
    detail = ", ".join(parts) + (f" ({', '.join(issues)})" if issues else "")
    return f"[{elapsed_s:7.1f}s] raw: {detail}"


def step_line(step_key: str, tally: StepTally, elapsed_s: float, failed: bool) -> str:
    """The progress line of a finished step."""
    name = DBT_LAYERS.get(step_key) or step_key.replace("__", "/")
    if step_key in DBT_LAYERS:
        parts = [_plural(len(tally.assets), "model"), _plural(tally.checks, "test")]
    elif not tally.assets:  # a check of its own (freshness)
        name = name.replace("_freshness", " freshness")
        parts = [_plural(tally.checks, "check")]
    else:
        parts = [_plural(len(tally.assets), "asset")]
        if sum(tally.rows_loaded.values()):
            parts.append(f"{sum(tally.rows_loaded.values()):,} rows loaded")
        if tally.checks:
            parts.append(_plural(tally.checks, "check"))
    issues = [f"{tally.warned} warned"] * bool(tally.warned)
    issues += [f"{tally.failed} failed"] * bool(tally.failed)
    detail = ", ".join(parts) + (f" ({', '.join(issues)})" if issues else "")
    status = "FAILED " if failed else ""
    return f"[{elapsed_s:7.1f}s] {status}{name}: {detail}"


class ProgressHandler(logging.Handler):
    """Turns the events of one run into progress lines on ``out``."""

    def __init__(self, out: TextIO, total_steps: int, tty: bool) -> None:
        super().__init__(logging.DEBUG)
        self.out = out
        self.started = time.monotonic()
        self.tallies: dict[str, StepTally] = defaultdict(StepTally)
        self.raw_done: list[StepTally] = []  # finished raw steps not reported yet
        self.bar = _Bar(total_steps) if tty else None

    def emit(self, record: logging.LogRecord) -> None:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is None or event.step_key is None:
            return
        tally = self.tallies[event.step_key]
        kind = event.event_type
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            asset = materialization.asset_key.to_user_string()
            tally.assets.add(asset)
            # a multi-session step repeats its metadata on each session's materialization
            rows = materialization.metadata.get("rows_loaded")
            tally.rows_loaded[asset] = int(getattr(rows, "value", 0) or 0)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            tally.checks += 1
            if not evaluation.passed:
                if evaluation.severity == dg.AssetCheckSeverity.WARN:
                    tally.warned += 1
                else:
                    tally.failed += 1
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            failed = kind == dg.DagsterEventType.STEP_FAILURE
            if _is_raw(event.step_key) and not failed:
                self.raw_done.append(tally)
            else:
                if not _is_raw(event.step_key):
                    self._report_raw()
                elapsed = time.monotonic() - self.started
                self.write(step_line(event.step_key, tally, elapsed, failed))
            if self.bar:
                self.bar.advance()

    def _report_raw(self) -> None:
        if self.raw_done:
            self.write(raw_line(self.raw_done, time.monotonic() - self.started))
            self.raw_done = []

    def write(self, line: str) -> None:
        if self.bar:
            self.bar.print(line)
        else:
            print(line, file=self.out, flush=True)

    def close(self) -> None:
        self._report_raw()
        if self.bar:
            self.bar.stop()
        super().close()


class _Bar:
    """A rich progress bar of the run's steps (terminals only)."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.progress = Progress(
            "build", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        )
        self.task = self.progress.add_task("build", total=total)
        self.progress.start()

    def advance(self) -> None:
        self.progress.advance(self.task)

    def print(self, line: str) -> None:
        self.progress.console.print(line, markup=False, highlight=False)

    def stop(self) -> None:
        self.progress.stop()


class _EventFile(logging.Formatter):
    """Log file lines: time, level and Dagster's message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")


def run_loggers(
    progress: ProgressHandler, log_file: Path, verbose: bool
) -> tuple[dict[str, dg.LoggerDefinition], dict[str, Any]]:
    """The logger definitions for the build job and the run config selecting them: progress
    lines and the log file always, Dagster's console log with ``verbose``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(_EventFile())

    def _init(_context: Any) -> logging.Logger:
        logger = logging.Logger(PROGRESS_LOGGER, level=logging.DEBUG)
        logger.addHandler(progress)
        logger.addHandler(file_handler)
        return logger

    defs = {PROGRESS_LOGGER: dg.LoggerDefinition(_init, description="krx-short progress")}
    config: dict[str, Any] = {PROGRESS_LOGGER: {}}
    if verbose:
        defs["console"] = dg.colored_console_logger
        config["console"] = {"config": {"log_level": "DEBUG"}}
    return defs, {"loggers": config}


def is_terminal(stream: TextIO = sys.stdout) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()
