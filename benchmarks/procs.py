"""Run one measurement in a fresh process: wall time and peak memory of its whole process tree."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from measures import RESULT_PREFIX

SAMPLE_INTERVAL_S = 0.1


@dataclass
class Measured:
    """What one measured process did."""

    wall_s: float
    returncode: int
    peak_tree_rss_mb: float  # highest sum of RSS over the process and its descendants (sampled)
    max_rss_mb: float  # highest RSS of any single process of the tree (kernel, exact)
    result: dict = field(default_factory=dict)  # the BENCH-RESULT line, if any
    log: Path | None = None
    started_at: dt.datetime | None = None  # wall clock when the process was started
    largest_process: str = ""  # the process of the tree seen with the highest RSS (sampled)

    @property
    def peak_rss_mb(self) -> float:
        """The figure compared with memory targets: the larger of the two."""
        return max(self.peak_tree_rss_mb, self.max_rss_mb)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(root_pid: int) -> dict[int, int]:
    """Current RSS (KiB) of ``root_pid`` and each of its descendants."""
    tree = _children()
    rss, stack = {}, [root_pid]
    while stack:
        pid = stack.pop()
        rss[pid] = _rss_kb(pid)
        stack.extend(tree.get(pid, ()))
    return rss


def _command(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [Path(a.decode(errors="replace")).name for a in args[:4] if a]
    return " ".join(words)[:80]


def run_measured(
    cmd: list[str], env: dict, log: Path, cwd: Path | None = None, also: tuple[int, ...] = ()
) -> Measured:
    """Run ``cmd`` to completion; stdout and stderr go to ``log``. The process trees of
    ``also`` (a server that does the command's work) count in the peak memory sampled."""
    log.parent.mkdir(parents=True, exist_ok=True)
    peak = 0.0
    largest: tuple[int, str] = (0, "")
    done = threading.Event()

    with log.open("w") as out:
        started_at = dt.datetime.now()  # local time to the ms, as the run log's lines
        started = time.perf_counter()
        process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            nonlocal peak, largest
            while not done.is_set():
                rss = tree_rss_kb(process.pid)
                for pid in also:
                    rss.update(tree_rss_kb(pid))
                peak = max(peak, sum(rss.values()) / 1024)
                pid, kb = max(rss.items(), key=lambda item: item[1])
                if kb > largest[0]:
                    largest = (kb, f"{_command(pid)} ({kb // 1024} MB)")
                done.wait(SAMPLE_INTERVAL_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    result = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
    maxrss = usage.ru_maxrss / 1024
    return Measured(wall, process.returncode, peak, maxrss, result, log, started_at, largest[1])


#: A Dagster event line of the run's log file (``krx-short build`` names it on its last line).
_EVENT = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ \S+ - \S+ - \d+ - (?:(\S+) - )?"
    r"(RUN_START|RUN_SUCCESS|RUN_FAILURE|STEP_START|STEP_SUCCESS|STEP_FAILURE|STEP_OUTPUT|"
    r"ASSET_MATERIALIZATION|ASSET_CHECK_EVALUATION|ASSET_OBSERVATION) "
)
_OUTPUTS = {"STEP_OUTPUT", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION", "ASSET_OBSERVATION"}
_RUN_LOG = re.compile(r"^log: (\S+)$", re.M)


def dagster_timeline(measured: Measured) -> dict:
    """Seconds before the run started (imports, definitions, planning), per step and after the
    run ended, from the run's log file (the path ``krx-short build`` prints last). A step's time
    splits into its work (until its first output or check event) and the events after it (one
    per asset, check and partition)."""
    found = _RUN_LOG.findall(measured.log.read_text(errors="replace"))
    if not found or not Path(found[-1]).exists():
        return {}
    starts: dict[str, dt.datetime] = {}
    ends: dict[str, dt.datetime] = {}
    first_event: dict[str, dt.datetime] = {}
    run_start = run_end = None
    for line in Path(found[-1]).read_text(errors="replace").splitlines():
        match = _EVENT.match(line)
        if not match:
            continue
        when = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
        step, kind = match.group(2), match.group(3)
        if kind == "RUN_START":
            run_start = run_start or when
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE"):
            run_end = when
        elif kind == "STEP_START":
            starts.setdefault(step, when)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[step] = when
        elif kind in _OUTPUTS:
            first_event.setdefault(step, when)
    steps = {s: round((ends[s] - starts[s]).total_seconds(), 2) for s in starts if s in ends}
    events = {
        s: round((ends[s] - first_event[s]).total_seconds(), 2) for s in steps if s in first_event
    }
    timeline = {"steps_s": steps, "events_s": events, "event_overhead_s": sum(events.values())}
    if run_start and measured.started_at:
        timeline["before_run_start_s"] = (run_start - measured.started_at).total_seconds()
    if run_start and run_end:
        timeline["run_s"] = (run_end - run_start).total_seconds()
        timeline["after_run_s"] = round(
            measured.wall_s - timeline["run_s"] - timeline.get("before_run_start_s", 0), 2
        )
    groups = {"raw_steps_s": "raw__", "dbt_steps_s": "krx_dbt_", "export_steps_s": "exports__"}
    for name, prefix in groups.items():
        timeline[name] = sum(
            v for s, v in steps.items() if s.startswith(prefix) and not s.endswith("freshness")
        )
    return timeline
