"""The Dagster instance krx-short runs on (``$DAGSTER_HOME``, default ``warehouse/dagster``), and
the release of command-line runs whose process died."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import yaml

from pipelines import settings

CONFIG = Path(__file__).with_name("dagster.yaml")
#: The key of ``dagster.yaml`` that selects the batched event storage (``storage.py``).
EVENT_STORAGE_KEY = "event_log_storage"


#: Dagster's compute-log manager that captures nothing (``compute_logs`` of ``dagster.yaml``).
NO_CAPTURE = {
    "compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
}


def command_line_instance() -> dg.DagsterInstance:
    """The instance of ``$DAGSTER_HOME`` for a ``krx-short build``, without capturing the steps'
    stdout and stderr, and with the event storage holding a step's outputs and check
    evaluations until it next reads or the step ends (``buffer_step_events``).

    No capture: the command line writes the steps' output to its terminal and its log file
    already, and Dagster's capture runs ``tail`` and a watcher process per step, which print a
    ``KeyboardInterrupt`` traceback when Ctrl-C reaches the terminal's process group. Held
    events: a dbt op yields a hundred outputs and check evaluations at once, a commit each
    otherwise. The UI's instance keeps both as Dagster has them: a run launched there is
    watched live, and an output a step yields before long work would show only when the
    step ends. (``KRX_INTERNALS=stock``: Dagster's own instance and storage.)"""
    home = ensure_dagster_home()
    if settings.internals() == "stock":
        return dg.DagsterInstance.get()
    from pipelines.pinned import InstanceRef

    storage = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))[EVENT_STORAGE_KEY]
    held = {**storage, "config": {**storage.get("config", {}), "buffer_step_events": True}}
    overrides = {**NO_CAPTURE, EVENT_STORAGE_KEY: held}
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=overrides))


def instance_config() -> str:
    """The shipped ``dagster.yaml``; with ``KRX_INTERNALS=stock``, without the batched event
    storage (Dagster's own SQLite storage then)."""
    text = CONFIG.read_text(encoding="utf-8")
    if settings.internals() == "stock":
        config = yaml.safe_load(text)
        del config[EVENT_STORAGE_KEY]
        text = "# pipelines/instance/dagster.yaml, KRX_INTERNALS=stock\n" + yaml.safe_dump(config)
    return text


def ensure_dagster_home() -> Path:
    """Point ``DAGSTER_HOME`` at a folder holding the instance configuration and return it."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    config = instance_config()
    if not target.exists() or target.read_text(encoding="utf-8") != config:
        target.write_text(config, encoding="utf-8")
    settings.export_dagster_environment(home)
    return home


# --- runs of a process that died ------------------------------------------------------------

HOST_TAG, PID_TAG, PROCESS_TAG = "krx/host", "krx/pid", "krx/process"


def process_identity(pid: int) -> str | None:
    """The boot and start time of process ``pid`` (Linux ``/proc``), which a later process
    given the same PID (after the run's process died, or after a reboot) does not share; None
    where ``/proc`` does not tell (another system, or the process is gone)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22, "starttime", counted after the command name, which may hold spaces and ")"
    return f"{boot}/{stat.rsplit(')', 1)[1].split()[19]}"


def process_tags() -> dict[str, str]:
    """The tags that let ``release_dead_runs`` tell whether this process still runs."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    identity = process_identity(os.getpid())
    return {**tags, PROCESS_TAG: identity} if identity else tags


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_process_alive(tags: Mapping[str, str]) -> bool:
    """Whether the process that started a command-line run still runs: its PID is alive and,
    where the run recorded it, is the same process (not a PID reused since)."""
    pid = int(tags[PID_TAG])
    if not _process_alive(pid):
        return False
    recorded = tags.get(PROCESS_TAG)
    return recorded is None or process_identity(pid) in (None, recorded)


def run_is_live(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a run may still write: it exists, has not finished and, for a command-line run of
    this host, its process still runs."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return False
    if run.tags.get(HOST_TAG) == socket.gethostname() and PID_TAG in run.tags:
        return _run_process_alive(run.tags)
    return True


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the command-line runs of this host whose process died (SIGKILL, power loss) and free
    the DuckDB pool slots they held; without a daemon nothing else would."""
    host = socket.gethostname()
    released = []
    for run_id in instance.event_log_storage.get_concurrency_run_ids():
        run = instance.get_run_by_id(run_id)
        if run is None or run.tags.get(HOST_TAG) != host or PID_TAG not in run.tags:
            continue
        if run.is_finished or not _run_process_alive(run.tags):
            if not run.is_finished:
                instance.report_run_failed(run, "the krx-short process of this run died")
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            released.append(run_id)
    return released
