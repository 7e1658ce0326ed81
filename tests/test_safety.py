"""Input from outside (paths, dates, partition windows) is validated before it reaches the
filesystem or SQL."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from pipelines.cli import main
from pipelines.defs.assets.dbt import build_dbt_command
from pipelines.sources.datasets import PathError, parse_landing_path
from pipelines.sources.landing import discover
from tests.helpers import REAL_LANDING


@pytest.mark.parametrize(
    "relpath",
    [
        "../krx/short_balance/KOSPI/2021-01-27.json",
        "/etc/krx/short_balance/KOSPI/2021-01-27.json",
        "krx/short_balance/KOSPI/../../../../etc/passwd",
        "krx/short_balance/KOSPI/2021-01-27.json; drop table raw.krx_short_balance",
        "krx/short_balance/KOSPI/2021-01-27'.json",
        "krx/short_balance/KOSPI/2021-02-30.json",
        "krx/short_balance/kospi/2021-01-27.json",
        "krx/short_balance/2021-01-27.json",
        "krx/short_balance/KOSPI/extra/2021-01-27.json",
        "krx/index_ohlcv/KOSPI/2021-01-27.json",
        "krx/securities/KOSPI/2026-01-25.json",
        "krx/unknown/KOSPI/2021-01-27.json",
    ],
)
def test_landing_paths_outside_the_layout_are_refused(relpath):
    with pytest.raises(PathError):
        parse_landing_path(relpath)


def test_discovery_skips_links_hidden_and_partial_files(tmp_path):
    root = tmp_path / "landing"
    shutil.copytree(REAL_LANDING, root)
    folder = root / "krx/short_balance/KOSPI"
    outside = tmp_path / "secret.json"
    outside.write_text("{}")
    (folder / "2021-01-28.json").symlink_to(outside)
    (folder / ".2021-01-29.json.1234.tmp").write_text("{}")
    (folder / "2021-01-29.json.part").write_text("{}")
    found = discover(root, datasets=["short_balance"])
    assert found == ["krx/short_balance/KOSPI/2021-01-27.json"]


def test_dbt_windows_are_iso_dates_only():
    command = build_dbt_command((dt.date(2021, 1, 4), dt.date(2021, 1, 5)))
    assert command.args == build_dbt_command(None).args  # the window is in the environment only
    assert command.env == {"KRX_DBT_MIN_DATE": "2021-01-04", "KRX_DBT_MAX_DATE": "2021-01-05"}
    with pytest.raises(ValueError):
        build_dbt_command((dt.date(2021, 1, 5), dt.date(2021, 1, 5)))


@pytest.mark.parametrize(
    "argv",
    [
        ["build", "--start", "2021-01-04'; drop table x; --", "--end", "2021-01-05"],
        ["build", "--start", "2021-13-04", "--end", "2021-01-05"],
        ["export", "--start", "2021-01-04"],
        ["build", "--start", "2021-01-05", "--end", "2021-01-04"],
        ["sample", "--start", "2021-01-04", "--end", "2021-01-05", "--scale", "huge"],
    ],
)
def test_command_line_refuses_malformed_input(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_discovery_of_a_window_passes_over_other_years_and_finds_the_same_files(tmp_path):
    """A window's discovery skips other years' files by name; it finds exactly the files a
    full listing filtered by period finds: session, yearly and snapshot files of several
    years, and misnamed files, which are reported in their name's year only."""
    from pipelines.sources.datasets import DATASETS, landing_relpath
    from pipelines.sources.landing import _overlaps

    root = tmp_path / "landing"
    names = []
    for year in (2019, 2020, 2021, 2022):
        for name in ("short_balance", "usdkrw", "securities", "short_overheat"):
            dataset = DATASETS[name]
            segment = dataset.segments[0] if dataset.segments else None
            names += [landing_relpath(dataset, dt.date(year, 1, 4), segment)]
            names += [landing_relpath(dataset, dt.date(year, 12, 30), segment)]
        names += [f"krx/short_balance/KOSPI/{year}-02-31.json"]  # not a date
    for relpath in names:
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text("{}")
    windows = [
        (dt.date(2020, 12, 30), dt.date(2021, 1, 5)),  # across a new year
        (dt.date(2021, 1, 4), dt.date(2021, 1, 5)),  # one session
        (dt.date(2022, 1, 1), dt.date(2023, 1, 1)),  # a year, end exclusive
    ]
    for window in windows:
        expected = [p for p in discover(root) if _overlaps(p, window)]
        assert discover(root, window=window) == expected
    found = discover(root, window=windows[1])
    assert "krx/short_balance/KOSPI/2021-02-31.json" in found  # reported in its year
    assert "krx/securities/2019-01-04.json" in found  # snapshots: every one, every window
    assert "krx/short_balance/KOSPI/2020-12-30.json" not in found
