"""Which landing files a date range needs, and the request behind each one (pure functions).

Session datasets get one file per XKRX session and segment, year datasets one range request per
year and segment (clipped to the range and to today), the securities master one snapshot dated
today. Nothing is planned after ``today`` or on a day the XKRX calendar says KRX was closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pipelines.calendar import sessions_between, shift_sessions
from pipelines.sources.datasets import DATASETS, Dataset, Period, landing_relpath

KRX_LOCALE = "ko_KR"
#: Keys of ``Dataset.request`` that describe the request instead of being sent as they are.
_REQUEST_META = ("bld", "date_param", "range_params")


@dataclass(frozen=True)
class FileRequest:
    """One landing file and the request that fetches it."""

    dataset: Dataset
    segment: str | None
    relpath: str  # POSIX path under the landing root, always ``.json``
    start: dt.date  # first day the request covers (the file's date for dated files)
    end: dt.date  # last day the request covers
    params: dict[str, str]  # KRX form fields (with ``bld``), or ECOS path parts (with ``start``)

    @property
    def source(self) -> str:
        """``krx`` or ``ecos``."""
        return self.dataset.folder.split("/")[0]


@dataclass(frozen=True)
class Plan:
    files: list[FileRequest]
    notes: list[str]  # what was left out on purpose, and why


def select_datasets(names: Iterable[str] | None) -> list[Dataset]:
    """The named datasets in table order (all for None; a string may list names separated by
    commas); ValueError on an unknown name."""
    if names is None:
        return list(DATASETS.values())
    wanted = set(names.split(",") if isinstance(names, str) else names)
    unknown = sorted(wanted - DATASETS.keys())
    if unknown:
        raise ValueError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}")
    return [d for d in DATASETS.values() if d.name in wanted]


def plan_files(
    start: dt.date, end: dt.date, datasets: Iterable[str] | None = None, *, today: dt.date
) -> Plan:
    """The files that cover ``start..end`` (inclusive) for the given datasets."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    files: list[FileRequest] = []
    notes: list[str] = []
    last = min(end, today)
    for dataset in select_datasets(datasets):
        if dataset.period is Period.SESSION:
            files += _session_files(dataset, start, last, today, notes)
        elif dataset.period is Period.YEAR:
            files += _year_files(dataset, start, last)
        else:
            files += _snapshot_files(dataset, start, end, today, notes)
    return Plan(files, notes)


def _ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _params(dataset: Dataset, segment: str | None, dates: dict[str, str]) -> dict[str, str]:
    if "bld" not in dataset.request:  # ECOS: the request table plus the range
        return {**dataset.request, **dates}
    fixed = {k: v for k, v in dataset.request.items() if k not in _REQUEST_META}
    return {
        "bld": dataset.request["bld"],
        "locale": KRX_LOCALE,
        **dataset.segment_params.get(segment or "", {}),
        **fixed,
        **dates,
    }


def _segments(dataset: Dataset) -> tuple[str | None, ...]:
    return dataset.segments or (None,)


def _session_files(
    dataset: Dataset, start: dt.date, last: dt.date, today: dt.date, notes: list[str]
) -> list[FileRequest]:
    days = sessions_between(start, last)
    lag = dataset.publication_lag_sessions
    published = [d for d in days if not lag or _published(d, lag, today)]
    if len(published) < len(days):
        pending = days[len(published) :]
        notes.append(
            f"{dataset.name}: {len(pending)} session(s) from {pending[0]} not requested; "
            f"they are published on session T+{lag}"
        )
    date_param = dataset.request["date_param"]
    return [
        FileRequest(
            dataset,
            segment,
            landing_relpath(dataset, day, segment),
            day,
            day,
            _params(dataset, segment, {date_param: _ymd(day)}),
        )
        for day in published
        for segment in _segments(dataset)
    ]


def _published(day: dt.date, lag: int, today: dt.date) -> bool:
    try:
        return shift_sessions(day, lag) <= today
    except IndexError:  # beyond the calendar's last session
        return False


def _year_files(dataset: Dataset, start: dt.date, last: dt.date) -> list[FileRequest]:
    start_key, end_key = dataset.request.get("range_params", "start,end").split(",")
    files = []
    for year in range(start.year, last.year + 1):
        lo, hi = max(start, dt.date(year, 1, 1)), min(last, dt.date(year, 12, 31))
        if not sessions_between(lo, hi):
            continue
        dates = {start_key: _ymd(lo), end_key: _ymd(hi)}
        files += [
            FileRequest(
                dataset,
                segment,
                landing_relpath(dataset, lo, segment),
                lo,
                hi,
                _params(dataset, segment, dates),
            )
            for segment in _segments(dataset)
        ]
    return files


def _snapshot_files(
    dataset: Dataset, start: dt.date, end: dt.date, today: dt.date, notes: list[str]
) -> list[FileRequest]:
    """The master has no date parameter: KRX always answers as of today, so only a range that
    includes today can have it (dated today)."""
    if not start <= today <= end:
        notes.append(
            f"{dataset.name}: not requested; KRX only serves today's snapshot ({today}), "
            "which is outside the range"
        )
        return []
    return [
        FileRequest(
            dataset,
            segment,
            landing_relpath(dataset, today, segment),
            today,
            today,
            _params(dataset, segment, {}),
        )
        for segment in _segments(dataset)
    ]
