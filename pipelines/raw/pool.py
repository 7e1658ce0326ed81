"""Run a function over many tasks in worker processes; results come back in task order.

Reading JSON into Python objects and then into columns runs Python code per value and holds
the GIL, so a long load prepares its batches (read, screen, validate) in a few worker
processes while the loading process inserts the batches prepared before. Short loads (an
evening's files, the tests, a demo-scale backfill) run in process: starting a worker costs
about a second, as much as reading some 100 MB of JSON. The workers outlive a load by
``IDLE_SECONDS``, so the loads of a backfill, dataset after dataset, share one start.

The workers are plain ``python -m pipelines.raw.pool`` subprocesses fed through pipes (not
``multiprocessing``), so the caller's main module is never imported again in a child and
scripts need no ``if __name__ == "__main__"`` guard. A task is a module-level function (pickled
by reference) and its arguments. Task ``i`` goes to worker ``i % n`` and each worker answers in
the order it was asked, so results come back in task order.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from pipelines import settings

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None

#: Tasks each worker is given ahead of the one being collected: it prepares the next while the
#: loader inserts the last.
AHEAD_PER_WORKER = 2
#: glibc malloc settings for the workers: freed memory stays in the heap instead of going back
#: to the OS, so a worker's next batch reuses pages instead of faulting in fresh ones (its bodies
#: and buffers are the same size batch after batch). Full-scale raw load: about 2 s less system
#: time; other C libraries ignore them.
GLIBC_KEEP_FREED_MEMORY = {
    "MALLOC_MMAP_THRESHOLD_": str(2**31 - 1),
    "MALLOC_TRIM_THRESHOLD_": str(2**32 - 1),
    "MALLOC_TOP_PAD_": str(256 * 2**20),
}
#: The folder that holds the ``pipelines`` package, put first on the workers' path.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

Answer = tuple[bool, Any]  # (True, result) or (False, the exception the worker raised)


def default_workers() -> int:
    """``KRX_LOAD_WORKERS`` if set (0 or 1: in process), else the CPU count (at most 4)."""
    workers = settings.load_workers()
    return min(os.cpu_count() or 1, 4) if workers is None else workers


def ordered_map(
    function: Callable[..., Any], tasks: Sequence[tuple], workers: int
) -> Iterator[Any]:
    """``function(*task)`` for each task, in order, computed by ``workers`` processes (in this
    process when ``workers`` < 2 or there is a single task). A worker's exception is raised
    here, at its task's turn."""
    if workers < 2 or len(tasks) < 2:
        for task in tasks:
            yield function(*task)
        return
    pool = _pool(min(workers, len(tasks)))
    done = False
    try:
        ahead = AHEAD_PER_WORKER * len(pool)
        for i, task in enumerate(tasks[:ahead]):
            pool[i % len(pool)].ask(function, task)
        for i in range(len(tasks)):
            following = i + ahead
            if following < len(tasks):
                pool[following % len(pool)].ask(function, tasks[following])
            yield pool[i % len(pool)].answer(i)
        done = True
    finally:
        if done:
            _rest(pool)
        else:  # answers may still be on their way: the next map starts afresh
            stop_workers()


#: The workers this process started, kept between maps: a backfill loads dataset after dataset
#: in one process, and each load would otherwise start (and import) its own. They stop when
#: idle for ``IDLE_SECONDS`` (each holds a few hundred MB) and at exit: long enough to bridge
#: the small raw steps between two large ones, short enough to be gone before a backfill's
#: incremental dbt step, the build's peak of memory.
_WORKERS: list[_Worker] = []
_LOCK = threading.Lock()
_maps = 0  # maps started: an idle timer stops the workers only if none started since
IDLE_SECONDS = 10.0


def _pool(size: int) -> list[_Worker]:
    """``size`` workers of this process's pool, started when missing."""
    global _maps
    with _LOCK:
        _maps += 1
        if any(w.pid != os.getpid() or w.process.poll() is not None for w in _WORKERS):
            _stop()  # one has died, or the pool is a forked parent's
        while len(_WORKERS) < size:
            _WORKERS.append(_Worker())
        return _WORKERS[:size]


def _rest(pool: list[_Worker]) -> None:
    """After a map: the workers give back the memory they freed, and stop if no map uses them
    within ``IDLE_SECONDS``."""
    try:
        _release_memory(pool)
    except (RuntimeError, OSError):  # a worker died after its last task: not the map's failure
        stop_workers()
        return
    timer = threading.Timer(IDLE_SECONDS, _stop_if_idle, (_maps,))
    timer.daemon = True
    timer.start()


def _stop_if_idle(maps: int) -> None:
    with _LOCK:
        if maps == _maps:
            _stop()


def stop_workers() -> None:
    """Stop this process's workers (the next map starts new ones)."""
    with _LOCK:
        _stop()


def _stop() -> None:
    workers = [w for w in _WORKERS if w.pid == os.getpid()]
    _WORKERS.clear()
    for worker in workers:
        worker.close()


atexit.register(stop_workers)


def _release_memory(pool: list[_Worker]) -> None:
    """Have idle workers hand their freed memory back to the OS (``GLIBC_KEEP_FREED_MEMORY``
    keeps it in their heaps while they work)."""
    for worker in pool:
        worker.ask(release_memory, ())
    for i, worker in enumerate(pool):
        worker.answer(i)


def release_memory() -> None:
    """Collect garbage and return free heap memory to the OS (glibc's ``malloc_trim``)."""
    gc.collect()
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


class _Worker:
    """One worker subprocess: pickled ``(function, args)`` in, length-prefixed pickled answers
    out. A thread drains the answers into a bounded queue, so the worker keeps going while the
    loader inserts."""

    def __init__(self):
        self.pid = os.getpid()  # the process that started it
        path = os.environ.get("PYTHONPATH")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), *([path] if path else [])]),
            # the workers keep the cores busy between them: one polars thread each
            "POLARS_MAX_THREADS": "1",
            **GLIBC_KEEP_FREED_MEMORY,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        _widen_pipe(self.process.stdout)
        self._answers: queue.Queue[Answer | None] = queue.Queue(maxsize=AHEAD_PER_WORKER)
        self._stopped = threading.Event()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def ask(self, function: Callable[..., Any], args: tuple) -> None:
        pickle.dump((function, args), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()

    def answer(self, task: int) -> Any:
        answer = self._answers.get()
        if answer is None:
            code = self.process.wait()
            raise RuntimeError(f"worker process exited ({code}) before answering task {task}")
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
_PIPE_BYTES = 1 << 20


def _widen_pipe(stream) -> None:
    """Grow the pipe's kernel buffer where the OS allows it (Linux ``F_SETPIPE_SZ``)."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl else None
    if setpipe is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), setpipe, _PIPE_BYTES)


def _serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The worker loop: answer each request with ``(True, result)`` or ``(False, error)``."""
    while True:
        try:
            function, args = pickle.load(requests)
        except EOFError:
            return
        try:
            answer = (True, function(*args))
        except Exception as exc:  # sent back and raised in the loading process
            answer = (False, exc)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an error that does not pickle
            data = pickle.dumps((False, RuntimeError(f"{function.__name__}: {exc!r}")))
        try:
            answers.write(len(data).to_bytes(_HEADER, "little"))
            answers.write(data)
            answers.flush()
        except BrokenPipeError:  # the loader stopped early
            return


if __name__ == "__main__":
    _channel = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    _serve(sys.stdin.buffer, _channel)
