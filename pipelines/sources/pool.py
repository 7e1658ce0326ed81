"""Read many landing files in worker processes, in order, with a bounded read-ahead.

Parsing JSON into Python objects and then into columns is the one step of a load that runs
Python code per value and holds the GIL, so a long window is read by a few worker processes
while the loading process validates and inserts the batches read before. Short loads (an
evening's files, the tests, a demo-scale backfill) are read in process: starting a worker costs
about a second, as much as reading some 100 MB of JSON.

The workers are plain ``python -m pipelines.sources.pool <root>`` subprocesses fed through pipes
(not ``multiprocessing``), so the caller's main module is never imported again in a child and
scripts need no ``if __name__ == "__main__"`` guard. File ``i`` goes to worker ``i % n`` and each
worker answers in the order it was asked, so results come back in path order.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from pipelines.sources.reader import FileRejected, RawFile, read_if_changed

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None

WORKERS_ENV = "KRX_LOAD_WORKERS"
#: Loads of fewer bytes than this are read in process.
MIN_BYTES_FOR_WORKERS = 256 * 1024 * 1024
#: Files each worker reads ahead of the loader: enough to keep it busy while a batch is
#: validated and inserted, few enough to bound memory (about 0.5 MB per file read).
READ_AHEAD_PER_WORKER = 128
#: The folder that holds the ``pipelines`` package, put first on the workers' path.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

ReadResult = RawFile | FileRejected | None
Answer = tuple[bool, Any]  # (True, ReadResult) or (False, the exception the worker raised)


def default_workers() -> int:
    """``KRX_LOAD_WORKERS`` if set (0 or 1: read in process), else the CPU count (at most 4)."""
    value = os.environ.get(WORKERS_ENV)
    if value:
        return max(int(value), 0)
    return min(os.cpu_count() or 1, 4)


def read_many(
    root: Path,
    relpaths: Iterable[str],
    known: dict[str, str],
    workers: int | None = None,
    min_bytes: int | None = None,
) -> Iterator[tuple[str, ReadResult]]:
    """``(relpath, read_if_changed(root, relpath, known.get(relpath)))`` for each path, in order.

    ``workers`` defaults to ``default_workers()``; loads under ``min_bytes`` (default
    ``MIN_BYTES_FOR_WORKERS``) are read in process.
    """
    relpaths = list(relpaths)
    workers = default_workers() if workers is None else workers
    min_bytes = MIN_BYTES_FOR_WORKERS if min_bytes is None else min_bytes
    if workers < 2 or _total_bytes(root, relpaths, min_bytes) < min_bytes:
        read = partial(read_if_changed, root)
        for relpath in relpaths:
            yield relpath, read(relpath, known.get(relpath))
        return
    pool = [_Worker(root) for _ in range(workers)]
    try:
        yield from _round_robin(pool, relpaths, known)
    finally:
        for worker in pool:
            worker.close()


def _total_bytes(root: Path, relpaths: list[str], enough: int) -> int:
    """The size of the files, counted until ``enough`` (a missing file counts as empty)."""
    total = 0
    for relpath in relpaths:
        try:
            total += (root / relpath).stat().st_size
        except OSError:
            continue
        if total >= enough:
            break
    return total


def _round_robin(
    pool: list[_Worker], relpaths: list[str], known: dict[str, str]
) -> Iterator[tuple[str, ReadResult]]:
    ahead = READ_AHEAD_PER_WORKER * len(pool)
    for i, relpath in enumerate(relpaths[:ahead]):
        pool[i % len(pool)].ask(relpath, known.get(relpath))
    for i, relpath in enumerate(relpaths):
        following = i + ahead
        if following < len(relpaths):
            pool[following % len(pool)].ask(relpaths[following], known.get(relpaths[following]))
        yield relpath, pool[i % len(pool)].answer(relpath)


class _Worker:
    """One reader subprocess: pickled requests ``(relpath, known_sha)`` in, length-prefixed
    pickled answers out. A thread drains the answers into a bounded queue, so the worker keeps
    reading ahead while the loader validates and inserts."""

    def __init__(self, root: Path):
        path = os.environ.get("PYTHONPATH")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), *([path] if path else [])]),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        _widen_pipe(self.process.stdout)
        self._answers: queue.Queue[Answer | None] = queue.Queue(maxsize=READ_AHEAD_PER_WORKER)
        self._stopped = threading.Event()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def ask(self, relpath: str, known_sha: str | None) -> None:
        pickle.dump((relpath, known_sha), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()

    def answer(self, relpath: str) -> ReadResult:
        answer = self._answers.get()
        if answer is None:
            code = self.process.wait()
            raise RuntimeError(f"reader process exited ({code}) before reading {relpath}")
        ok, value = answer
        if not ok:
            raise value
        return value

    def _drain(self) -> None:
        """Read and unpickle answers as they come (mostly while the loader's thread is in
        polars or DuckDB, which release the GIL)."""
        stream = self.process.stdout
        while True:
            header = stream.read(_HEADER)
            answer = None
            if len(header) == _HEADER:
                answer = pickle.loads(stream.read(int.from_bytes(header, "little")))
            while not self._stopped.is_set():
                try:
                    self._answers.put(answer, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if answer is None or self._stopped.is_set():
                return

    def close(self) -> None:
        """Stop the worker (at once when it is blocked on answers nobody will read)."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        self._stopped.set()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._drainer.join()
        self.process.stdout.close()


_HEADER = 8  # bytes of the little-endian length before each answer
_PIPE_BYTES = 1 << 20  # an answer (about 0.5 MB) fits the pipe: one read, no GIL ping-pong


def _widen_pipe(stream) -> None:
    """Grow the pipe's kernel buffer where the OS allows it (Linux ``F_SETPIPE_SZ``)."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl else None
    if setpipe is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), setpipe, _PIPE_BYTES)


def _serve(root: Path, requests: BinaryIO, answers: BinaryIO) -> None:
    """The worker loop: answer each request with ``(True, result)`` or ``(False, error)``."""
    while True:
        try:
            relpath, known_sha = pickle.load(requests)
        except EOFError:
            return
        try:
            answer = (True, read_if_changed(root, relpath, known_sha))
        except Exception as exc:  # sent back and raised in the loading process
            answer = (False, exc)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an error that does not pickle
            data = pickle.dumps((False, RuntimeError(f"{relpath}: {exc!r}")))
        try:
            answers.write(len(data).to_bytes(_HEADER, "little"))
            answers.write(data)
            answers.flush()
        except BrokenPipeError:  # the loader stopped early
            return


if __name__ == "__main__":
    _channel = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    _serve(Path(sys.argv[1]), sys.stdin.buffer, _channel)
