"""What the tests of the prices, foreign-holdings, investor-type and sector datasets share: their
landing zone of real fixtures (the ``section9`` warehouse of conftest is built from it) and the
fetcher run against the recorded answers behind a login."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.defs.assets.dbt import build_dbt_command
from pipelines.sources.datasets import DATASETS
from tests import fake_sources
from tests.helpers import REAL_LANDING, REAL_ROOT, Warehouse, load_raw, run_dbt

FORMATS = REAL_ROOT / "formats"
INVESTOR_VALUE = "MDCSTAT30301_value_KOSPI_2020-01-06_2020-01-10.json"
INVESTOR_VALUE_FROM_SUNDAY = "MDCSTAT30301_value_KOSPI_from_holiday_2020-01-05_2020-01-10.json"
#: The real KOSPI trading file of 2021-01-25 saved as 2020-01-06, the first day of the investor
#: file: no recorded pair shares a date, and the comparison needs one day with both.
RELABELED_TRADING = "krx/short_trading/KOSPI/2020-01-06.json"


def place(root: Path, source: Path, relpath: str) -> Path:
    target = root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def section9_landing(root: Path) -> Path:
    """The real landing fixtures plus the recorded investor-type value file as KOSPI's 2020
    file and the relabeled trading file."""
    shutil.copytree(REAL_LANDING, root)
    place(root, FORMATS / INVESTOR_VALUE, "krx/short_investor_value/KOSPI/2020.json")
    place(root, REAL_LANDING / "krx/short_trading/KOSPI/2021-01-25.json", RELABELED_TRADING)
    return root


def build_warehouse(base: Path, landing: Path) -> Warehouse:
    db, target = base / "krx.duckdb", base / "target"
    load_raw(db, landing)
    return Warehouse(db, target, run_dbt(db, target, build_dbt_command(None)))


def fetch_recorded(fake, root: Path, monkeypatch, dataset: str, days: tuple, recorded: dict):
    """Fetch ``dataset`` for ``days`` (first, last) from the emulated portal, which requires a
    login and answers the requests in ``recorded`` ((bld, date or year, market) -> path under
    the fixtures root) with the recorded bodies, others with a small body under the dataset's
    list key."""
    bld = DATASETS[dataset].request["bld"].rsplit("/", 1)[-1]
    monkeypatch.setitem(fake_sources.LIST_KEYS, bld, DATASETS[dataset].list_key[0])
    for key, relpath in recorded.items():
        monkeypatch.setitem(fake_sources.RECORDED, key, relpath)
    fake.require_login = True
    return fake_sources.run(fake, root, *days, [dataset])


def data_requests_after_login(fake) -> list[dict[str, str]]:
    """The form of each data request, once the login steps came first."""
    paths = [s.path for s in fake.seen]
    assert paths[:3] == [fake_sources.LOGIN_PAGE, fake_sources.LOGIN_JSP, fake_sources.LOGIN_POST]
    assert set(paths[3:]) == {fake_sources.DATA}
    return fake.data_requests()
