"""Interrupts and concurrency of ``krx-short build``, end to end, on the sample and against the
uninterrupted build of ``reference`` (conftest.py).

One warehouse is built from the sample's landing zone for the sessions START..END:
  1. interrupted with Ctrl-C (SIGINT) while dbt runs, which must stop the build at once, report
     it, and leave no pool slot and no working copy;
  2. killed with SIGKILL while dbt runs (at a moment, not at a failpoint: a query may be half
     written);
  3. built by two builds started at the same moment (they queue on the DuckDB pool), with the
     sensors and schedule evaluated meanwhile.
It must end with every table identical to the reference (load timestamps aside) and exports
holding the same rows. SIGKILL at the failpoints of every step, and a rebuild as two overlapping
windows, are in ``test_crash_points.py``.
"""

from __future__ import annotations

import datetime as dt
import re
import signal
import time
from pathlib import Path

import pytest

from pipelines.publication import working_path
from tests.builds import exports, published, slots_held, succeeded, wait_for_dbt

#: One worker runs every test of the shared builder and reference build (``pytest -n``).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("builds")]


def test_ctrl_c_then_sigkill_during_dbt_then_two_builds_at_once_match(builder, reference, tmp_path):
    import dagster as dg

    from pipelines.defs.schedules import evening_schedule
    from pipelines.defs.sensors.landing import landing_requests

    reference_root, _ = reference
    victim = builder.start(tmp_path)
    wait_for_dbt(tmp_path)
    time.sleep(1)  # dbt runs queries, in its threads or its own (a hook, the relation cache)
    victim.signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
    code, output = victim.wait(timeout=60)
    assert code == 1, output[-4000:]
    assert "dbt was interrupted" in output
    assert "Resource In Use" not in output
    assert "Traceback" not in output  # no step's helper process printed one either
    assert slots_held(tmp_path) == set()  # the interrupted run left no pool slot
    assert not working_path(tmp_path / "krx.duckdb").exists()

    victim = builder.start(tmp_path)
    wait_for_dbt(tmp_path)
    time.sleep(2)  # let dbt write part of the warehouse
    victim.signal(signal.SIGKILL)
    assert victim.wait()[0] == -signal.SIGKILL

    first, second = builder.start(tmp_path), builder.start(tmp_path)
    # the code location never opens the warehouse: sensors and schedules work during builds
    requests, _ = landing_requests(builder.landing, None)
    assert requests
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2021, 6, 11, 19, tzinfo=dt.UTC)
    )
    assert evening_schedule(context) is not None
    for build in (first, second):
        succeeded(*build.wait())
    # each build names its own log file in its summary, even when both started in one second
    logs = [re.search(r"^log: (.+)$", build.wait()[1], re.M)[1] for build in (first, second)]
    assert len(set(logs)) == 2 and all(Path(log).is_file() for log in logs)
    assert published(tmp_path) == published(reference_root)
    assert exports(tmp_path) == exports(reference_root)
