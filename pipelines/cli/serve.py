"""``krx-short serve``: a long-lived process that runs ``krx-short build`` warm.

A build on the command line spends seconds before its first step: importing Dagster, dbt,
polars and pandera, loading the definitions, parsing the dbt project; its first write step then
copies the published warehouse. ``krx-short serve`` does all of that once and then waits on a
Unix socket beside the DuckDB file (``.<name>.serve.sock``). While it runs, ``krx-short build``
hands its arguments, environment, folder and terminal (its stdout and stderr, passed over the
socket) to it; the server forks a child that runs the build exactly as the command would, in
the client's terminal, and the client waits for the child's exit code, passing Ctrl-C on.

Between builds the server prepares the next build's working copy (``publication.prepare_spare``)
and removes the file the last publication replaced (``publication.remove_retired``). When the
code or the dbt project changed since it started, it refuses the build (the client then builds
in its own process) and stops. ``krx-short build --here`` never uses it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import settings

#: Longest request (arguments and environment), in bytes.
MAX_REQUEST = 1 << 20
#: How long a client waits for the server to take its build (it may be warming up).
CLIENT_TIMEOUT_S = 120.0
#: How often the server looks for finished children while idle.
POLL_SECONDS = 1.0
#: The environment the server's warm state depends on: a client with other values builds alone.
WARM_STATE_ENV = (settings.INTERNALS_ENV,)
#: What the code fingerprint covers (``code_fingerprint``), and what it leaves out.
CODE_FOLDERS = (settings.PROJECT_ROOT / "pipelines", settings.DBT_PROJECT_DIR)
NOT_CODE = frozenset({"target", "logs", "dbt_packages", "__pycache__", ".user.yml"})


def socket_path(published: Path) -> Path:
    """The socket a server for the warehouse ``published`` listens on."""
    return published.with_name(f".{published.name}.serve.sock")


def code_fingerprint(folders: Sequence[Path] = CODE_FOLDERS) -> list[tuple[str, int, int]]:
    """Every source file under ``folders`` with its modification time and size."""
    found = []
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in NOT_CODE and not d.startswith("."))
            for name in sorted(files):
                if name in NOT_CODE or name.endswith(".pyc"):
                    continue
                stat = os.stat(os.path.join(root, name))
                found.append((os.path.join(root, name), stat.st_mtime_ns, stat.st_size))
    return found


# --- the connection's messages: one JSON object a line ------------------------------------


def _send(conn: socket.socket, message: dict, fds: Sequence[int] = ()) -> None:
    data = (json.dumps(message) + "\n").encode()
    if fds:
        socket.send_fds(conn, [data], list(fds))
    else:
        conn.sendall(data)


def _receive(conn: socket.socket) -> tuple[dict | None, list[int]]:
    """The next message (None when the other end closed) and the descriptors sent with it."""
    data, fds, _flags, _address = socket.recv_fds(conn, MAX_REQUEST, 4)
    while data and not data.endswith(b"\n"):
        more = conn.recv(MAX_REQUEST)
        if not more:
            break
        data += more
    return (json.loads(data) if data else None), fds


# --- the client: krx-short build --------------------------------------------------------


def build_through_server(argv: Sequence[str]) -> int | None:
    """Run ``krx-short <argv>`` in the server of this warehouse and return its exit code; None
    when no server runs (or it refused: then a line on stderr says why)."""
    path = socket_path(settings.duckdb_path())
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(CLIENT_TIMEOUT_S)
        conn.connect(str(path))
        request = {"argv": list(argv), "env": dict(os.environ), "cwd": os.getcwd()}
        sys.stdout.flush()
        sys.stderr.flush()
        _send(conn, request, [sys.stdout.fileno(), sys.stderr.fileno()])
        replies = conn.makefile("rb")
        first = replies.readline()
    except TimeoutError:
        conn.close()
        print(f"krx-short: serve did not answer within {CLIENT_TIMEOUT_S:.0f} s; building here",
              file=sys.stderr)  # fmt: skip
        return None
    except OSError:  # a socket left by a server that is gone
        conn.close()
        return None
    except KeyboardInterrupt:  # before the server took it: the server stops the build
        conn.close()
        print("krx-short: interrupted", file=sys.stderr)
        return 130
    reply = json.loads(first) if first else {"refused": "it closed the connection"}
    if "refused" in reply:
        print(f"krx-short: serve did not take the build ({reply['refused']}); building here",
              file=sys.stderr)  # fmt: skip
        conn.close()
        return None
    return _wait_for(conn, replies, reply)


def _wait_for(conn: socket.socket, replies, reply: dict) -> int:
    """Wait for the exit code of the server's child (the server names it, ``pid``; the child
    may answer first), passing Ctrl-C and SIGTERM on to it."""
    child: dict[str, int] = {}

    def forward(signo: int, _frame) -> None:
        if "pid" in child:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child["pid"], signo)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    conn.settimeout(None)
    try:
        while reply is not None and "exit" not in reply:
            child["pid"] = int(reply["pid"])
            line = replies.readline()
            reply = json.loads(line) if line else None
    finally:
        for signo, handler in previous.items():
            signal.signal(signo, handler)
        conn.close()
    if reply is None:
        print("krx-short: the build's process in krx-short serve died", file=sys.stderr)
        return 1
    return int(reply["exit"])


# --- the server -------------------------------------------------------------------------


def warm_up(published: Path) -> None:
    """Import and load what every build needs: the Dagster instance's storage, the definitions
    of the current landing zone, the dbt project parsed for the working copy, and the chart
    library. (No connection is left open: the children forked later inherit all of it.)"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # the charts' import, once

    from pipelines.cli.build import run_build  # noqa: F401
    from pipelines.defs.assets.dbt import PARSE_FOLDER, op_target_path
    from pipelines.defs.dbt.project import dbt_environment
    from pipelines.defs.definitions import load_defs
    from pipelines.defs.partitions import first_partition_day
    from pipelines.defs.resources import dbt_resource
    from pipelines.instance import command_line_instance
    from pipelines.publication import working_path

    command_line_instance().dispose()  # its storage's modules and migrations, loaded once
    with settings.partitions_start_environment(first_partition_day()):
        load_defs().resolve_job_def("krx_build")
    dbt = dbt_resource()
    if hasattr(dbt, "manifest"):  # in-process dbt: parse as a build's dbt op would
        dbt_environment()
        with settings.duckdb_environment(working_path(published)):
            dbt.manifest(dbt.project_dir, op_target_path(published, PARSE_FOLDER))


def run_in_child(argv: Sequence[str], env: dict, cwd: str, stdout: int, stderr: int) -> int:
    """In a freshly forked child: become a session of its own with the client's environment,
    folder and terminal, and run ``krx-short <argv>`` here; its exit code."""
    from pipelines.cli import main

    os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a command's process
    for signo in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(signo, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        return main(list(argv), through_server=False)
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def same_user(conn: socket.socket) -> bool:
    """Whether the process at the other end of ``conn`` runs as this process's user."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def exit_child(code: int) -> None:
    """End a forked build's process: what an exit runs (multiprocessing's finalizers remove the
    build's semaphores), without unwinding into the code of the process it was forked from."""
    atexit._run_exitfuncs()
    os._exit(code)


@dataclass
class Server:
    """The listening socket, the children it forked, and what it prints (one line a build)."""

    published: Path
    fingerprint: list
    warm_env: dict
    builds: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (what, start)
    housekeeper: int | None = None  # the child preparing the spare copy
    housekeeping_due: bool = True
    stale: bool = False
    listener: socket.socket | None = None  # closed in every child

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def refusal(self, request: dict) -> str | None:
        """Why this server cannot run the request, if it cannot."""
        if code_fingerprint() != self.fingerprint:
            self.stale = True
            return "the code or the dbt project changed since it started: restart it"
        env = request.get("env", {})
        differ = [name for name in WARM_STATE_ENV if env.get(name) != self.warm_env.get(name)]
        if differ:
            return f"it was started with another {', '.join(differ)}"
        return None

    def handle(self, conn: socket.socket) -> None:
        if not same_user(conn):  # a child runs with the client's environment: never another's
            conn.close()
            return
        conn.settimeout(5.0)
        try:
            request, fds = _receive(conn)
        except (OSError, ValueError):
            conn.close()
            return
        if request is None or len(fds) != 2 or not isinstance(request.get("argv"), list):
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        reason = self.refusal(request)
        if reason is not None:
            _send(conn, {"refused": reason})
        else:
            pid = self.fork(lambda: self._build(conn, request, fds))
            what = " ".join(request["argv"])
            self.builds[pid] = (what, time.monotonic())
            self.say(f"{what}: started (pid {pid})")
            try:
                _send(conn, {"pid": pid})
            except OSError:  # the client went (Ctrl-C while it waited): so does its build
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)  # its own process group may not exist yet
        for fd in fds:
            os.close(fd)
        conn.close()

    def fork(self, work: Callable[[], int]) -> int:
        """Run ``work`` in a forked child that ends with its exit code; the child's PID."""
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self.listener.close()
                code = work()
            finally:
                exit_child(code)
        return pid

    @staticmethod
    def _build(conn: socket.socket, request: dict, fds: list[int]) -> int:
        """In the child: the build of ``request``, whose exit code goes back to the client."""
        from pipelines.publication import keep_retired

        keep_retired()
        code = run_in_child(request["argv"], request["env"], request["cwd"], *fds)
        _send(conn, {"exit": code})
        return code

    def reap(self) -> None:
        """Collect finished children; once no build runs, start the housekeeping it wants."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.housekeeper:
                self.housekeeper = None
            elif pid in self.builds:
                what, started = self.builds.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                self.say(f"{what}: exit {code} after {time.monotonic() - started:.1f} s")
                self.housekeeping_due = True
        if self.housekeeping_due and not self.builds and self.housekeeper is None:
            self.housekeep()

    def housekeep(self) -> None:
        """In a child: remove the file the last publication replaced, prepare the spare copy."""
        self.housekeeping_due = False
        self.housekeeper = self.fork(self._housekeeping)

    def _housekeeping(self) -> int:
        from pipelines.publication import prepare_spare, remove_retired

        os.setsid()  # Ctrl-C on the server's terminal is the server's to handle
        remove_retired(self.published)
        prepare_spare(self.published)
        return 0


def _listen(path: Path) -> socket.socket:
    """The server's socket at ``path``; one left by a server that is gone is replaced."""
    from pipelines.cli.preflight import UsageError

    path.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(2):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
        except OSError:
            listener.close()
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink(missing_ok=True)  # nobody listens on it
                continue
            finally:
                probe.close()
            raise UsageError(f"krx-short serve already runs for this warehouse ({path})") from None
        os.chmod(path, 0o600)  # the owner's builds only (``same_user`` checks each one too)
        listener.listen(8)
        return listener
    raise UsageError(f"cannot listen on {path}")


def serve() -> int:
    """Warm up, then run builds handed over on the socket until Ctrl-C or SIGTERM (a build
    asked for while it warms up waits for it)."""
    from pipelines.publication import discard_spare, remove_retired

    published = settings.duckdb_path()
    path = socket_path(published)
    started = time.monotonic()
    listener = _listen(path)
    try:
        fingerprint = code_fingerprint()
        warm_up(published)
    except BaseException as exc:
        listener.close()
        path.unlink(missing_ok=True)
        if isinstance(exc, KeyboardInterrupt):
            print("krx-short serve: stopped while warming up", file=sys.stderr)
            return 130
        raise
    warm_env = {k: os.environ.get(k) for k in WARM_STATE_ENV}
    server = Server(published, fingerprint, warm_env, listener=listener)
    stop = {"signal": None}

    def on_signal(signo: int, _frame) -> None:
        stop["signal"] = signo

    for signo in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signo, on_signal)
    server.say(
        f"krx-short serve: ready in {time.monotonic() - started:.1f} s (pid {os.getpid()}) for "
        f"{published}; krx-short build runs here until Ctrl-C"
    )
    try:
        while stop["signal"] is None and not server.stale:
            readable, _, _ = select.select([listener], [], [], POLL_SECONDS)
            if readable:
                conn, _ = listener.accept()
                server.handle(conn)
            server.reap()
    finally:
        listener.close()
        path.unlink(missing_ok=True)
        if server.housekeeper is not None:
            os.kill(server.housekeeper, signal.SIGKILL)
            os.waitpid(server.housekeeper, 0)
        discard_spare(published)
        remove_retired(published)
    running = ", ".join(f"pid {pid}" for pid in server.builds)
    why = "the code changed" if server.stale else "stopped"
    still = f"; builds still running: {running}" if running else ""
    server.say(f"krx-short serve: {why}{still}")
    return 0
