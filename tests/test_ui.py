"""The Dagster webserver on 127.0.0.1 serves the whole contract: assets, checks, schedule and
sensors, as its GraphQL API reports them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
QUERY = """
{
  assetNodes {
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { schedules { name } sensors { name } jobs { name } }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def webserver(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "KRX_DUCKDB_PATH": str(tmp_path / "krx.duckdb"),
        "KRX_LANDING_DIR": str(tmp_path / "landing"),
        "KRX_EXPORT_DIR": str(tmp_path / "exports"),
    }
    (tmp_path / "dagster").mkdir()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(process.stderr.read().decode()[-2000:]) from None
                time.sleep(0.5)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode is not None


@pytest.mark.slow
def test_webserver_serves_every_asset_check_schedule_and_sensor(webserver):
    from pipelines.defs.definitions import defs

    data = _post(webserver, QUERY)["data"]
    served = {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}
    graph = defs.resolve_asset_graph()
    expected = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert expected <= set(served)
    for name in (
        "raw/krx_short_balance",
        "raw/krx_short_trading",
        "raw/krx_index_ohlcv",
        "raw/krx_index_constituents",
        "raw/krx_securities",
        "raw/ecos_usdkrw",
    ):
        assert name in served
    checks = {
        (key, check["name"])
        for key, node in served.items()
        for check in (node["assetChecksOrError"] or {}).get("checks", [])
    }
    assert ("raw/krx_short_balance", "validation") in checks
    assert ("raw/krx_short_balance", "completeness") in checks
    assert ("raw/krx_short_trading", "freshness") in checks
    expected_checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert expected_checks <= checks
    repository = data["repositoriesOrError"]["nodes"][0]
    assert {s["name"] for s in repository["schedules"]} == {"evening_schedule"}
    assert {s["name"] for s in repository["sensors"]} >= {
        "landing_sensor",
        "check_failure_alerts",
        "run_failure_alerts",
    }
    assert "krx_build" in {j["name"] for j in repository["jobs"]}
    _assert_loopback_only(webserver)


def _assert_loopback_only(port: int) -> None:
    """Bound to 127.0.0.1, the server refuses connections on the host's other addresses."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # UDP: picks the outgoing address, sends nothing
            own = sock.getsockname()[0]
        except OSError:
            return  # no interface but loopback: nothing else to refuse
    if own.startswith("127."):
        return
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex((own, port)) != 0
