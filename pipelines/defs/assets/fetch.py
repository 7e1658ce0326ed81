"""The fetch job: ``krx-short fetch`` from the Dagster UI (one op, the same ``fetch()``)."""

import datetime as dt

import dagster as dg
from pydantic import Field

from pipelines.defs.resources import LandingZone
from pipelines.fetch import Politeness
from pipelines.fetch.runner import fetch


class FetchConfig(dg.Config):
    """The days and datasets to download (dates YYYY-MM-DD, both inclusive)."""

    start: str
    end: str
    datasets: list[str] = Field(default_factory=list)  # empty: every dataset
    refresh: bool = False  # download files already present again
    min_interval_s: float = 1.0  # seconds between two requests to one source


@dg.op(description="Download real KRX portal and ECOS files into the landing zone.")
def fetch_landing_files(
    context: dg.OpExecutionContext, config: FetchConfig, landing: LandingZone
) -> dg.Output:
    report = fetch(
        dt.date.fromisoformat(config.start),
        dt.date.fromisoformat(config.end),
        config.datasets or None,
        landing_root=landing.path,
        refresh=config.refresh,
        politeness=Politeness(min_interval=config.min_interval_s),
    )
    for failure in report.failed:
        context.log.error(f"{failure.relpath}: {failure.reason}")
    if not report.ok:
        raise dg.Failure(description=report.summary())
    return dg.Output(
        None,
        metadata={
            "written": len(report.written),
            "skipped": len(report.skipped),
            "summary": dg.MetadataValue.text(report.summary()),
        },
    )


@dg.job(description="Fetch landing files; the landing sensor then starts the build runs.")
def krx_fetch():
    fetch_landing_files()
