"""The landing sensor: new or changed landing files start a build run for their sessions."""

import json
from pathlib import Path

import dagster as dg

from pipelines import settings
from pipelines.calendar import last_session_on_or_before, sessions_between
from pipelines.defs.jobs import BUILD_JOB
from pipelines.defs.partitions import session_partitions_def
from pipelines.sources.datasets import PathError, Period, parse_landing_path
from pipelines.sources.landing import discover
from pipelines.sources.reader import file_sha256


def scan(root: Path, previous: dict[str, list]) -> dict[str, list]:
    """Path -> [size, mtime_ns, sha256]; a file's hash is recomputed only when its stat moved."""
    state = {}
    for relpath in discover(root):
        stat = (root / relpath).stat()
        old = previous.get(relpath)
        if old and old[0] == stat.st_size and old[1] == stat.st_mtime_ns:
            state[relpath] = old
        else:
            sha = file_sha256((root / relpath).read_bytes())
            state[relpath] = [stat.st_size, stat.st_mtime_ns, sha]
    return state


def sessions_of(relpath: str) -> list[str]:
    """The sessions whose run loads ``relpath`` (a snapshot: the session it belongs to), as
    partition keys; none for a path that does not parse."""
    try:
        landing = parse_landing_path(relpath)
    except PathError:
        return []
    if landing.dataset.period is Period.SNAPSHOT:
        days = [last_session_on_or_before(landing.period_start)]
    else:
        days = sessions_between(landing.period_start, landing.period_end)
    return [d.isoformat() for d in days]


def contiguous_ranges(
    keys: set[str], partitions: list[str] | None = None
) -> list[dg.PartitionKeyRange]:
    """Group partition keys into maximal runs of consecutive sessions (of ``partitions``, by
    default every session partition)."""
    ranges, run = [], []
    for key in partitions or session_partitions_def().get_partition_keys():
        if key in keys:
            run.append(key)
        elif run:
            ranges.append(dg.PartitionKeyRange(run[0], run[-1]))
            run = []
    if run:
        ranges.append(dg.PartitionKeyRange(run[0], run[-1]))
    return ranges


def landing_requests(
    root: Path, cursor: str | None, partitions: dg.PartitionsDefinition | None = None
) -> tuple[list[dg.RunRequest], str]:
    """One run request per contiguous range of sessions touched by files that are new or whose
    content hash changed, and the new cursor.

    Only sessions of ``partitions`` (the build job's; by default the session partitions) are
    requested. A file whose sessions all precede the first partition stays out of the cursor:
    once the code location is reloaded its partitions start with it, and it is requested then.
    """
    ordered = (partitions or session_partitions_def()).get_partition_keys()
    valid = set(ordered)
    previous = json.loads(cursor) if cursor else {}
    state = scan(root, previous)
    early = {p for p in state if (days := sessions_of(p)) and max(days) < ordered[0]}
    state = {p: v for p, v in state.items() if p not in early}
    changed = {
        p: [k for k in sessions_of(p) if k in valid]
        for p, v in state.items()
        if p not in previous or previous[p][2] != v[2]
    }
    requests = []
    for keys in contiguous_ranges({k for ks in changed.values() for k in ks}, ordered):
        files = sorted(
            p for p, ks in changed.items() if any(keys.start <= k <= keys.end for k in ks)
        )
        run_key = file_sha256(json.dumps([(p, state[p][2]) for p in files]).encode())[:24]
        requests.append(
            dg.RunRequest(
                run_key=f"landing-{run_key}",
                tags={
                    "dagster/asset_partition_range_start": keys.start,
                    "dagster/asset_partition_range_end": keys.end,
                    "krx/changed_files": str(len(files)),
                },
            )
        )
    return requests, json.dumps(state, separators=(",", ":"))


@dg.sensor(
    job_name=BUILD_JOB,
    minimum_interval_seconds=60,
    description="Starts a run for landing files that are new or whose content changed.",
)
def landing_sensor(context: dg.SensorEvaluationContext):
    partitions = context.repository_def.get_job(BUILD_JOB).partitions_def
    requests, cursor = landing_requests(settings.landing_dir(), context.cursor, partitions)
    context.update_cursor(cursor)
    if not requests:
        return dg.SkipReason("no new or changed landing files")
    return requests
