"""``krx-short serve``: builds handed to a warm process (``pipelines.cli.serve``; the spare copy
and the retired file it keeps off a build's path are tested in ``test_publication.py``).

End to end: a server on an empty warehouse folder takes ``krx-short build`` of the five-session
sample and publishes exactly what the reference build (the command in its own process) did; a
second build interrupted with Ctrl-C on the client stops in the server's child and leaves the
warehouse as it was. The refusals and the fallback are checked directly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.cli.serve import (
    Server,
    build_through_server,
    code_fingerprint,
    same_user,
    socket_path,
)
from pipelines.publication import spare_path
from tests.builds import END, START, published, succeeded, wait_for_dbt

#: One worker runs every test of the shared builder and reference build (``pytest -n``).
pytestmark = pytest.mark.xdist_group("builds")


def _env(builder, root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KRX_LANDING_DIR": str(builder.landing),
        "KRX_DUCKDB_PATH": str(root / "krx.duckdb"),
        "KRX_EXPORT_DIR": str(root / "exports"),
        "DAGSTER_HOME": str(root / "dagster"),
        "KRX_ALERT_LOG": str(root / "alerts.log"),
        "KRX_LOAD_WORKERS": "0",
    }


def _wait_for(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.2)


def _client(env: dict, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipelines.cli", "build", "--start", START, "--end", END, *args]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.slow
def test_a_served_build_publishes_what_the_command_builds_and_ctrl_c_reaches_it(
    builder, reference, tmp_path
):
    root = tmp_path / "served"
    root.mkdir()
    env = _env(builder, root)
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve"], env=env, stdout=log, stderr=log
    )
    try:
        _wait_for(lambda: "ready" in Path(log.name).read_text(), "the server warmed up")

        client = _client(env)
        output = client.communicate(timeout=600)[0]
        succeeded(client.returncode, output, "the served build")
        served = Path(log.name).read_text()
        child = int(served.split("started (pid ")[1].split(")")[0])
        assert output.rstrip().endswith(f"-{child}.log")  # the log of the server's child
        assert published(root) == published(reference[0])  # the command's own build

        db = root / "krx.duckdb"
        _wait_for(lambda: spare_path(db).exists(), "the spare copy prepared")
        interrupted = _client(env)
        wait_for_dbt(root)
        interrupted.send_signal(signal.SIGINT)  # Ctrl-C in the client's terminal
        output = interrupted.communicate(timeout=300)[0]
        assert interrupted.returncode == 1, output
        assert "Traceback" not in output and "interrupted" in output, output
        assert published(root) == published(reference[0])
        _wait_for(lambda: "exit 1" in Path(log.name).read_text(), "the server saw it end")
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0, Path(log.name).read_text()
    assert not socket_path(root / "krx.duckdb").exists()
    assert not spare_path(root / "krx.duckdb").exists()
    assert "Traceback" not in Path(log.name).read_text()


def test_a_server_refuses_once_the_code_changed_or_its_warm_state_differs(tmp_path):
    server = Server(tmp_path / "w.duckdb", code_fingerprint(), {"KRX_INTERNALS": None})
    assert server.refusal({"env": {}}) is None
    assert "KRX_INTERNALS" in server.refusal({"env": {"KRX_INTERNALS": "stock"}})
    assert not server.stale
    server.fingerprint = [*server.fingerprint[:-1], ("changed.py", 0, 0)]
    assert "changed" in server.refusal({"env": {}})
    assert server.stale  # it stops after refusing


def test_a_server_takes_builds_of_its_own_user_only(tmp_path):
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    with ours, theirs:
        assert same_user(ours)  # the credentials the kernel gives the other end's process


def test_the_code_fingerprint_sees_an_edit_and_not_dbt_s_artifacts(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "target").mkdir()
    model = tmp_path / "models" / "m.sql"
    model.write_text("select 1")
    before = code_fingerprint([tmp_path])
    (tmp_path / "target" / "run_results.json").write_text("{}")
    assert code_fingerprint([tmp_path]) == before
    model.write_text("select 2 as changed")
    assert code_fingerprint([tmp_path]) != before


def test_a_socket_nobody_listens_on_means_building_here(tmp_path, monkeypatch):
    db = tmp_path / "krx.duckdb"
    monkeypatch.setenv("KRX_DUCKDB_PATH", str(db))
    assert build_through_server(["build"]) is None  # no socket
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(socket_path(db)))  # bound, never listening: a server that died
    left.close()
    assert build_through_server(["build"]) is None


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"pid": 1}, {"exit": 0}], 0),
        ([{"exit": 2}, {"pid": 1}], 2),  # a build that ends at once may answer before the server
        ([{"pid": 1}], 1),  # the child died: no exit code
    ],
)
def test_the_client_takes_the_exit_code_whichever_message_comes_first(messages, code, capsys):
    from pipelines.cli.serve import _wait_for

    client, server = socket.socketpair(socket.AF_UNIX)
    with server:
        server.sendall(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
        server.shutdown(socket.SHUT_WR)
        replies = client.makefile("rb")
        assert _wait_for(client, replies, json.loads(replies.readline())) == code
    assert ("died" in capsys.readouterr().err) == (code == 1)
