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

A long-lived process (``krx-short serve``) takes the copy and the removal of the replaced file
off the next build's path: between builds it prepares a spare copy ``.<name>.spare`` of the
published file (``prepare_spare``), which the next run's first write step takes instead of
copying as long as the published file is still the one it copied (same inode, size and
modification time); and a publication it runs keeps the replaced file as ``.<name>.retired``
(``keep_retired``) until ``remove_retired`` drops it after the build.
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
#: Whether a publication in this process keeps the replaced file for ``remove_retired``.
_keep_retired = False


def working_path(published: Path) -> Path:
    """The working copy of ``published``: ``.<name>.building`` beside it."""
    return published.with_name(f".{published.name}{WORKING_SUFFIX}")


def spare_path(published: Path) -> Path:
    """The spare copy of ``published`` made between builds: ``.<name>.spare``."""
    return published.with_name(f".{published.name}.spare")


def retired_path(published: Path) -> Path:
    """The file a publication replaced, until ``remove_retired``: ``.<name>.retired``."""
    return published.with_name(f".{published.name}.retired")


def _identity(path: Path) -> list[int] | None:
    """What tells one version of a file from the next: inode, size, modification time."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


def _spare_record(published: Path) -> Path:
    return published.with_name(f".{published.name}.spare.json")


def _spare_temp(published: Path) -> Path:
    return published.with_name(f".{published.name}.spare.tmp")


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
    working copy it writes: the one live runs share, or a fresh copy of the published file
    (the spare, when it is one)."""
    working = working_path(published)
    with _writers(published) as runs:
        for other in [r for r in runs if r != run_id and not is_live(r)]:
            del runs[other]
        if run_id not in runs:
            if not runs:  # nobody writes the working copy: a dead run's leftovers, or none
                if not _take_spare(published, working):
                    copy_database(published, working)
                failpoint("publication-copied")
            runs[run_id] = sorted(steps)
    return working


def _spare_is_of(published: Path, identity: list[int] | None) -> bool:
    """Whether the spare copy exists and was copied from the version ``identity`` of the
    published file."""
    try:
        copied_from = json.loads(_spare_record(published).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return identity is not None and copied_from == identity and spare_path(published).exists()


def _take_spare(published: Path, working: Path) -> bool:
    """Move the spare copy to ``working`` if it is a copy of the published file as it is now;
    a spare of an older version is removed. Called under the registry's lock."""
    current = _spare_is_of(published, _identity(published))
    if current:
        discard(working)
        os.replace(spare_path(published), working)
    _spare_record(published).unlink(missing_ok=True)
    discard(spare_path(published))
    return current


def prepare_spare(published: Path) -> bool:
    """Copy the published file to its spare (written to disk), unless the spare is already a
    copy of it or a run is writing; False when there is nothing to copy or the published file
    changed meanwhile."""
    before = _identity(published)
    if before is None or _wal(published).exists():
        return False
    if _spare_is_of(published, before):
        return True
    temp = _spare_temp(published)
    copy_database(published, temp)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    with _writers(published) as runs:
        if runs or _identity(published) != before:  # a build started or published meanwhile
            discard(temp)
            return False
        os.replace(temp, spare_path(published))
        _spare_record(published).write_text(json.dumps(before), encoding="utf-8")
    return True


def discard_spare(published: Path) -> None:
    """Remove the spare copy (a long-lived process that made it stops)."""
    with _writers(published):
        _spare_record(published).unlink(missing_ok=True)
        for path in (spare_path(published), _spare_temp(published)):
            discard(path)


def keep_retired() -> None:
    """Publications of this process keep the file they replace until ``remove_retired``."""
    global _keep_retired
    _keep_retired = True


def remove_retired(published: Path) -> None:
    """Remove the file a publication replaced (dropping its cached pages takes a while)."""
    retired_path(published).unlink(missing_ok=True)


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
    if _keep_retired and published.exists():
        retired = retired_path(published)
        retired.unlink(missing_ok=True)
        os.link(published, retired)
    os.replace(working, published)
    _wal(working).unlink(missing_ok=True)
    directory = os.open(published.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    failpoint("publication-after-replace")
