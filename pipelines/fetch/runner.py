"""Fetch a date range into the landing zone: plan the files, skip those already there, download
the rest and write each one atomically, exactly as the source sent it.

Contract for callers (CLI, Dagster): ``fetch`` returns a ``FetchReport`` and raises only on bad
arguments (ValueError); ``report.ok`` is False when any file failed, and
``report.raise_for_errors()`` turns that into a ``FetchError`` whose message is the summary.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.calendar import sessions_between, today_kst
from pipelines.fetch import AuthError, FetchFileError, Politeness, json_records
from pipelines.fetch.ecos import EcosClient
from pipelines.fetch.krx import KrxClient
from pipelines.fetch.plan import FileRequest, plan_files
from pipelines.settings import landing_dir
from pipelines.sources.datasets import SUFFIXES, Period

log = logging.getLogger(__name__)

#: Failures listed one per line in a summary; the rest are counted.
SUMMARY_FAILURES = 20


@dataclass(frozen=True)
class FileFailure:
    relpath: str
    reason: str


@dataclass
class FetchReport:
    """What one fetch run did, file by file (paths relative to the landing root)."""

    start: dt.date
    end: dt.date
    landing_root: Path
    planned: int = 0
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already present (or covering the range)
    failed: list[FileFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not planned on purpose, and why

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [
            f"fetch {self.start}..{self.end}: {self.planned} file(s) planned, "
            f"{len(self.written)} written, {len(self.skipped)} already present, "
            f"{len(self.failed)} failed"
        ]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  failed {f.relpath}: {f.reason}" for f in self.failed[:SUMMARY_FAILURES]]
        if len(self.failed) > SUMMARY_FAILURES:
            lines.append(f"  ... and {len(self.failed) - SUMMARY_FAILURES} more failures")
        return "\n".join(lines)

    def raise_for_errors(self) -> None:
        """Raise FetchError when any file failed."""
        if self.failed:
            raise FetchError(self)


class FetchError(Exception):
    """A fetch run with failed files; ``report`` has the details."""

    def __init__(self, report: FetchReport) -> None:
        super().__init__(report.summary())
        self.report = report


def fetch(
    start: dt.date,
    end: dt.date,
    datasets: Iterable[str] | None = None,
    *,
    landing_root: str | Path | None = None,
    refresh: bool = False,
    krx_url: str | None = None,
    ecos_url: str | None = None,
    politeness: Politeness | None = None,
    today: dt.date | None = None,
) -> FetchReport:
    """Download the files ``start..end`` needs for ``datasets`` (default: all) into the landing
    zone (default ``KRX_LANDING_DIR``).

    Files already present are skipped unless ``refresh``; a year file is fetched again when it
    does not reach the range's first or last session. A failed file is reported and the run goes
    on, except that an authentication failure stops the remaining files of that source. Base URLs
    default to ``KRX_PORTAL_URL`` / ``ECOS_API_URL``; ``today`` (KST) bounds what is asked for.
    """
    root = Path(landing_root) if landing_root is not None else landing_dir()
    plan = plan_files(start, end, datasets, today=today or today_kst())
    report = FetchReport(start, end, root, planned=len(plan.files), notes=list(plan.notes))
    for note in plan.notes:
        log.info(note)
    politeness = politeness or Politeness()
    refused: dict[str, str] = {}  # source -> why it refused us
    with KrxClient(krx_url, politeness) as krx, EcosClient(ecos_url, politeness) as ecos:
        clients = {"krx": krx, "ecos": ecos}
        for item in plan.files:
            if item.source in refused:
                report.failed.append(
                    FileFailure(item.relpath, f"not attempted: {refused[item.source]}")
                )
                continue
            target = root / item.relpath
            if not refresh and _present(target, item):
                report.skipped.append(item.relpath)
                continue
            try:
                _write_atomic(target, clients[item.source].fetch(item))
            except (FetchFileError, OSError) as exc:
                reason = str(exc) if isinstance(exc, FetchFileError) else f"cannot write: {exc}"
                if isinstance(exc, AuthError):
                    refused[item.source] = reason
                log.error("%s: %s", item.relpath, reason)
                report.failed.append(FileFailure(item.relpath, reason))
            else:
                log.info("wrote %s", item.relpath)
                report.written.append(item.relpath)
    log.info(report.summary().splitlines()[0])
    return report


def _present(target: Path, item: FileRequest) -> bool:
    """Whether the file is already in the landing zone, as JSON, gzipped JSON or a hand-made CSV."""
    stem = target.name.removesuffix(".json")
    for suffix in SUFFIXES:
        path = target.with_name(stem + suffix)
        if path.exists():
            return path != target or _covers(path, item)
    return False


def _covers(path: Path, item: FileRequest) -> bool:
    """Whether a JSON file we wrote already covers the request; a year file grows with the year."""
    if item.dataset.period is not Period.YEAR:
        return True
    date_field = item.dataset.row_date_field or ""
    try:
        days = [
            _row_day(row[date_field])
            for row in json_records(path.read_bytes(), item.dataset.list_key)
        ]
    except (FetchFileError, KeyError, TypeError, ValueError):
        return False
    sessions = sessions_between(item.start, item.end)
    if min(days) <= sessions[0] and max(days) >= sessions[-1]:
        return True
    log.info("%s does not cover %s..%s; fetching it again", item.relpath, item.start, item.end)
    return False


def _row_day(text: str) -> dt.date:
    """``2021/01/29`` (KRX) or ``20210129`` (ECOS)."""
    return dt.datetime.strptime(re.sub(r"\D", "", text), "%Y%m%d").date()


def _write_atomic(target: Path, body: bytes) -> None:
    """Write ``body`` to a temporary file next to ``target``, then rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with temp.open("xb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
