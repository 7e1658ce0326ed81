"""The benchmark's landing zone: one synthetic sample, generated once, with its last session
held back so that an incremental update can be measured.

``prepare`` generates the sample (unless a matching one is already there, recognised by a
marker file) and keeps two versions of the files the last session ``D`` touches: the session's
own files and snapshots, and the year files (index levels, USD/KRW) with and without D's rows.
``set_state(..., with_last=False)`` puts the landing zone in its "evening before D" state,
``with_last=True`` makes D's files arrive (and the year files be refreshed), as a fetch would.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from pipelines.calendar import last_session_on_or_before, sessions_between
from pipelines.sample.generator import generate
from pipelines.sources.datasets import DATASETS, Period, parse_landing_path

MARKER = ".krx-bench.json"
MARKER_VERSION = 1
#: First session of the sample (the warehouse's history starts here).
HISTORY_START = dt.date(2019, 1, 2)
#: Demo scale covers the last two months only: every Dagster build costs about a minute of
#: fixed overhead plus a few milliseconds per asset and session, whatever the data.
DEMO_DAYS = 61


@dataclass(frozen=True)
class Sample:
    """Where the sample lives and which sessions it covers."""

    scale: str
    start: dt.date
    last: dt.date  # D: the session held back for the incremental update
    previous: dt.date  # the session before D: the end of the backfill
    root: Path  # workdir/<scale>

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def held(self) -> Path:
        return self.root / "held"


def sample_for(workdir: Path, scale: str, today: dt.date | None = None) -> Sample:
    """The sample of ``scale`` under ``workdir``: history start .. the latest session."""
    last = last_session_on_or_before(today or dt.date.today())
    start = HISTORY_START
    if scale == "demo":
        start = sessions_between(last - dt.timedelta(days=DEMO_DAYS), last)[0]
    previous = sessions_between(start, last)[-2]
    return Sample(scale, start, last, previous, workdir / scale)


def _marker(sample: Sample) -> dict:
    fields = asdict(sample)
    fields.pop("root")
    return {"version": MARKER_VERSION, **{k: str(v) for k, v in fields.items()}}


def is_ready(sample: Sample) -> bool:
    marker = sample.landing / MARKER
    return marker.exists() and json.loads(marker.read_text()) == _marker(sample)


def prepare(sample: Sample, log=print) -> bool:
    """Generate the sample unless it is already there; returns whether it was generated."""
    if is_ready(sample):
        return False
    shutil.rmtree(sample.root, ignore_errors=True)
    log(f"generating the {sample.scale} sample {sample.start}..{sample.last} in {sample.landing}")
    generate(sample.landing, sample.start, sample.last, scale=sample.scale)
    _hold_back(sample)
    (sample.landing / MARKER).write_text(json.dumps(_marker(sample)))
    return True


def _touched_by_last(sample: Sample) -> tuple[list[str], list[str]]:
    """(files dated D, year files holding a row of D), as landing paths."""
    dated, yearly = [], []
    for path in sorted(sample.landing.rglob("*.json")):
        relpath = path.relative_to(sample.landing).as_posix()
        landing = parse_landing_path(relpath)
        if landing.dataset.period is Period.YEAR:
            if landing.period_start.year == sample.last.year:
                yearly.append(relpath)
        elif landing.period_start == sample.last:
            dated.append(relpath)
    return dated, yearly


def _without_last(sample: Sample, relpath: str) -> bytes | None:
    """A year file's body without the rows dated D (None when no row would remain)."""
    dataset = parse_landing_path(relpath).dataset
    body = orjson.loads((sample.landing / relpath).read_bytes())
    parent = body
    for key in dataset.list_key[:-1]:
        parent = parent[key]
    rows = parent[dataset.list_key[-1]]
    field = dataset.row_date_field
    last = {sample.last.strftime("%Y/%m/%d"), sample.last.strftime("%Y%m%d")}
    kept = [row for row in rows if row[field] not in last]
    if not kept:
        return None
    parent[dataset.list_key[-1]] = kept
    if "list_total_count" in parent:
        parent["list_total_count"] = len(kept)
    return orjson.dumps(body)


def _hold_back(sample: Sample) -> None:
    """Keep D's files under ``held/with`` and the year files without D under ``held/without``."""
    dated, yearly = _touched_by_last(sample)
    for relpath in dated + yearly:
        target = sample.held / "with" / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample.landing / relpath, target)
    for relpath in yearly:
        body = _without_last(sample, relpath)
        if body is not None:
            target = sample.held / "without" / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
    set_state(sample, with_last=False)


def set_state(sample: Sample, *, with_last: bool) -> None:
    """Put the landing zone in the state before D's files arrived, or after."""
    source = sample.held / ("with" if with_last else "without")
    for path in sorted((sample.held / "with").rglob("*.json")):
        relpath = path.relative_to(sample.held / "with").as_posix()
        target = sample.landing / relpath
        replacement = source / relpath
        if replacement.exists():
            shutil.copyfile(replacement, target)
        else:
            target.unlink(missing_ok=True)


def balance_files(sample: Sample) -> list[Path]:
    """The short-balance files of the landing zone (before D), in path order."""
    folder = sample.landing / DATASETS["short_balance"].folder
    return sorted(p for p in folder.rglob("*.json") if p.stem != str(sample.last))


def read_through(sample: Sample) -> int:
    """Read every landing file once, so that (a), (b) and (c), which read the same files, all
    find them in the page cache (a sample kept from an earlier run may have left it); the bytes
    read."""
    total = 0
    for path in sorted(sample.landing.rglob("*")):
        if path.is_file():
            total += len(path.read_bytes())
    return total
