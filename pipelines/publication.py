"""The published warehouse file and the working copy that builds write.

Readers open the published file (``KRX_DUCKDB_PATH``), read-only, and may keep it open: DuckDB
gives a file one writer or many readers, so a build never writes it. The first write step of a
run copies the published file to the working copy ``.<name>.building`` beside it; every write
step of the run writes the working copy; when the last write step of the run succeeds, the
working copy is checkpointed, closed and swapped in with ``os.replace``. A reader that holds the
old file keeps reading it (its inode) until it reconnects; a crash at any point leaves the
published file whole.

Runs in flight at the same time share one working copy (the DuckDB pool gives their steps one
at a time), and it is published when the last of them has no write step left. The registry
``.<name>.writers.json`` (changed under an ``flock`` on ``.<name>.lock``) holds each run's write
steps still to succeed. A run that failed or died keeps its entry until a step of another run
finds it is no longer live (``is_live``): its working copy is then discarded and copied afresh
from the published file, unless a live run is writing it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.faults import failpoint
from pipelines.warehouse import DUCKDB_CONFIG

WORKING_SUFFIX = ".building"


def working_path(published: Path) -> Path:
    """The working copy of ``published``: ``.<name>.building`` beside it."""
    return published.with_name(f".{published.name}{WORKING_SUFFIX}")


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _registry(published: Path) -> Path:
    return published.with_name(f".{published.name}.writers.json")


@contextmanager
def _writers(published: Path) -> Iterator[dict[str, list[str]]]:
    """The registry (run id -> write steps still to succeed), locked; written back on exit."""
    published.parent.mkdir(parents=True, exist_ok=True)
    registry = _registry(published)
    with open(published.with_name(f".{published.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            runs = json.loads(registry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            runs = {}
        yield runs
        temp = registry.with_name(registry.name + ".tmp")
        temp.write_text(json.dumps(runs, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temp, registry)


def discard(path: Path) -> None:
    """Remove a DuckDB file and its write-ahead log."""
    for leftover in (path, _wal(path)):
        leftover.unlink(missing_ok=True)


def copy_database(source: Path, target: Path) -> None:
    """``source`` (and its write-ahead log, left by a writer of an older layout) copied to
    ``target``, in the kernel (``shutil.copyfile``: ``sendfile``; benchmarks/RESULTS.md)."""
    discard(target)
    if source.exists():
        shutil.copyfile(source, target)
    if _wal(source).exists():
        shutil.copyfile(_wal(source), _wal(target))


def begin_step(
    published: Path, run_id: str, steps: Collection[str], is_live: Callable[[str], bool]
) -> Path:
    """Register a write step of ``run_id`` (whose write steps are ``steps``) and return the
    working copy it writes: the one live runs share, or a fresh copy of the published file."""
    working = working_path(published)
    with _writers(published) as runs:
        for other in [r for r in runs if r != run_id and not is_live(r)]:
            del runs[other]
        if run_id not in runs:
            if not runs:  # nobody writes the working copy: a dead run's leftovers, or none
                copy_database(published, working)
                failpoint("publication-copied")
            runs[run_id] = sorted(steps)
    return working


def end_step(published: Path, run_id: str, step: str) -> bool:
    """Record that ``step`` of ``run_id`` succeeded; publish when no run has a write step left.
    True when it published."""
    with _writers(published) as runs:
        pending = [s for s in runs.get(run_id, []) if s != step]
        if pending:
            runs[run_id] = pending
            return False
        runs.pop(run_id, None)
        if runs:
            return False
        publish(published)
        return True


def abandon(published: Path, run_id: str) -> None:
    """Forget a finished run that did not publish; its working copy goes when no other run
    writes it. The published file is left as it was."""
    with _writers(published) as runs:
        runs.pop(run_id, None)
        if not runs:
            discard(working_path(published))


def publish(published: Path) -> None:
    """Checkpoint the working copy into one file and swap it in for ``published``."""
    working = working_path(published)
    if not working.exists():
        return
    con = duckdb.connect(str(working), config=DUCKDB_CONFIG)
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    with open(working, "rb") as handle:
        os.fsync(handle.fileno())
    failpoint("publication-before-replace")
    # a log left beside the published file by a writer of an older layout belongs to the old
    # file: never replayed into the new one
    _wal(published).unlink(missing_ok=True)
    os.replace(working, published)
    _wal(working).unlink(missing_ok=True)
    directory = os.open(published.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    failpoint("publication-after-replace")
