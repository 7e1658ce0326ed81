"""The command line as a user meets it: one line and exit 2 for a mistake (no traceback), a
short build log without ANSI codes, and a landing zone holding one day of KOSPI balances that
builds and names what is missing.

The mistakes fail before any run starts (``main`` with argv, fast); one real build runs in a
subprocess on a copy of one real KRX balance file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pipelines import settings
from pipelines.calendar import HISTORY_START, today_kst
from pipelines.cli import main
from pipelines.cli.preflight import UsageError, session_range
from pipelines.cli.progress import StepTally, step_line
from pipelines.defs.checks import expected_newest, latest_published
from pipelines.sources.datasets import DATASETS, SHORT_BALANCE
from tests.helpers import REAL_LANDING, rows

KRX_SHORT = str(Path(sys.executable).parent / "krx-short")
ANSI = re.compile(r"\x1b\[")
BALANCE_FILE = "krx/short_balance/KOSPI/2021-01-27.json"


@pytest.fixture
def paths(tmp_path, monkeypatch) -> Path:
    """An empty landing folder, and the warehouse, exports and Dagster home under tmp_path."""
    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv(settings.LANDING_ENV, str(landing))
    monkeypatch.setenv(settings.DUCKDB_ENV, str(tmp_path / "w.duckdb"))
    monkeypatch.setenv(settings.EXPORT_ENV, str(tmp_path / "exports"))
    monkeypatch.setenv(settings.DAGSTER_HOME_ENV, str(tmp_path / "dagster"))
    return tmp_path


def one_error_line(capsys, argv: list[str]) -> str:
    """``main(argv)`` exits 2 with exactly one line on stderr, nothing on stdout; the line."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("krx-short: error: ")
    return err.strip()


def test_a_missing_landing_folder_is_one_line(paths, capsys, monkeypatch):
    missing = paths / "nowhere"
    monkeypatch.setenv(settings.LANDING_ENV, str(missing))
    line = one_error_line(capsys, ["build", "--start", "2021-01-25", "--end", "2021-01-29"])
    assert f"KRX_LANDING_DIR={missing} is not a folder" in line
    assert "krx-short fetch" in line  # how to fix it
    assert not (paths / "w.duckdb").exists()


def test_a_weekend_only_range_is_one_line(paths, capsys):
    line = one_error_line(capsys, ["build", "--start", "2021-01-30", "--end", "2021-01-31"])
    assert "no KRX session between 2021-01-30 and 2021-01-31" in line
    assert "widen the range" in line


def test_a_range_before_the_history_is_one_line(paths, capsys):
    line = one_error_line(capsys, ["build", "--start", "2018-12-03", "--end", "2019-01-10"])
    assert "--start 2018-12-03 is before" in line
    assert f"use --start {HISTORY_START} or later" in line


def test_a_range_in_the_future_is_one_line(paths, capsys):
    start = today_kst() + dt.timedelta(days=3)
    end = start + dt.timedelta(days=10)
    line = one_error_line(capsys, ["build", "--start", str(start), "--end", str(end)])
    assert "entirely in the future" in line and f"on or before {today_kst()}" in line


def test_an_unknown_dataset_is_one_line(paths, capsys):
    argv = ["fetch", "--start", "2021-01-27", "--end", "2021-01-27", "--datasets", "nope"]
    line = one_error_line(capsys, argv)
    assert "unknown dataset(s) nope" in line and "short_balance" in line


def test_export_without_a_warehouse_is_one_line(paths, capsys):
    line = one_error_line(capsys, ["export"])
    assert f"KRX_DUCKDB_PATH={paths / 'w.duckdb'} does not exist" in line
    assert not (paths / "w.duckdb").exists()


def test_a_bad_date_is_argparses_one_line(paths, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["build", "--start", "2021-13-01", "--end", "2021-01-31"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "krx-short build: error: argument --start: not a date (YYYY-MM-DD): '2021-13-01'"
    )
    assert "Traceback" not in err


def test_session_range_cuts_at_today_and_keeps_sessions():
    today = dt.date(2021, 1, 27)
    assert session_range(dt.date(2021, 1, 23), dt.date(2021, 2, 20), today) == (
        dt.date(2021, 1, 25),
        dt.date(2021, 1, 27),
    )
    with pytest.raises(UsageError, match="entirely in the future"):
        session_range(dt.date(2021, 1, 28), dt.date(2021, 2, 1), today)


def test_freshness_of_a_historical_range_is_measured_at_its_end():
    now = dt.datetime(2026, 11, 30, 20, 0)
    assert expected_newest(SHORT_BALANCE, now, "2021-01-31") == dt.date(2021, 1, 29)
    assert expected_newest(SHORT_BALANCE, now, None) == latest_published(SHORT_BALANCE, now)
    # a range reaching past what is published is measured at what is published
    assert expected_newest(SHORT_BALANCE, now, "2026-12-31") == latest_published(SHORT_BALANCE, now)


def test_step_lines_name_the_layer_and_its_counts():
    tally = StepTally(assets={"marts/a", "marts/b"}, checks=5, warned=1, failed=2)
    assert step_line("krx_dbt_rollups", tally, 12.34, failed=True) == (
        "[   12.3s] FAILED dbt rollups (market totals, residuals, weekly, securities): "
        "2 models, 5 tests (1 warned, 2 failed)"
    )
    raw = StepTally(
        assets={"raw/krx_short_balance"}, checks=2, rows_loaded={"raw/krx_short_balance": 18_380}
    )
    assert step_line("raw__krx_short_balance", raw, 2.0, failed=False) == (
        "[    2.0s] raw/krx_short_balance: 1 asset, 18,380 rows loaded, 2 checks"
    )


def test_declaring_the_assets_raises_no_beta_warning():
    from pipelines.defs.assets.raw import build_raw_asset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_raw_asset(SHORT_BALANCE)
    assert [str(w.message) for w in caught] == []


# --- one real build: a landing zone holding one day of KOSPI balances ------------------------


@pytest.fixture(scope="module")
def balances_only(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``krx-short build`` of January 2021 on a landing zone holding only the real KOSPI
    balance file of 2021-01-27, piped (not a terminal)."""
    base = tmp_path_factory.mktemp("balances_only")
    target = base / "landing" / BALANCE_FILE
    target.parent.mkdir(parents=True)
    shutil.copy(REAL_LANDING / BALANCE_FILE, target)
    env = {
        **os.environ,
        settings.LANDING_ENV: str(base / "landing"),
        settings.DUCKDB_ENV: str(base / "w.duckdb"),
        settings.EXPORT_ENV: str(base / "exports"),
        settings.DAGSTER_HOME_ENV: str(base / "dagster"),
    }
    for name in ("DBT_USE_COLORS", "DBT_LOG_LEVEL", "KRX_INTERNALS"):
        env.pop(name, None)
    proc = subprocess.run(
        [KRX_SHORT, "build", "--start", "2021-01-01", "--end", "2021-01-31"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc, base


def test_balances_only_build_succeeds_and_names_the_missing_inputs(balances_only):
    proc, _ = balances_only
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "ecos/usdkrw/2021.json" in out
    assert "krx/index_ohlcv/KOSPI/2021.json" in out
    assert re.search(r"^build 2021-01-04\.\.2021-01-29: ok \(run ", out, re.M)
    warned = {
        line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("  marts/")
    }
    assert {
        "not_null_fct_market_short_balances_usdkrw",
        "not_null_fct_market_short_balances_market_cap_krw",
    } <= warned


def test_balances_only_build_prints_a_short_plain_log(balances_only):
    proc, _ = balances_only
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    assert not ANSI.search(proc.stdout + proc.stderr)
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr
    # a line per layer: the raw datasets together, three dbt layers, the export
    steps = [line for line in lines if re.match(r"\[ *\d+\.\ds\] ", line)]
    assert len(steps) == 5
    assert sum("dbt " in line for line in steps) == 3
    # the rows of the one balance file, once (not once per session of the 19-session run)
    landing_rows = json.loads((REAL_LANDING / BALANCE_FILE).read_text())["OutBlock_1"]
    (raw_line,) = [line for line in steps if "] raw: " in line]
    datasets = len(DATASETS) + 1  # and the session calendar
    assert f"raw: {datasets} datasets, {len(landing_rows):,} rows loaded" in raw_line
    log = Path(re.search(r"^log: (.+)$", proc.stdout, re.M)[1])
    assert "ASSET_MATERIALIZATION" in log.read_text()
    # dbt's console is quiet, its log is still written for each op
    for op in ("krx_dbt_foundation", "krx_dbt_incremental", "krx_dbt_rollups"):
        assert (
            "Running with dbt="
            in (log.parent.parent / "dbt-target" / "w" / op / "dbt.log").read_text()
        )


def test_balances_only_build_leaves_usd_and_market_cap_ratio_null(balances_only):
    _, base = balances_only
    landing_rows = json.loads((REAL_LANDING / BALANCE_FILE).read_text())["OutBlock_1"]
    total_krw = sum(int(r["BAL_AMT"].replace(",", "")) for r in landing_rows)
    assert rows(
        base / "w.duckdb",
        "select trade_date, market, total_balance_krw, total_balance_usd, usdkrw, "
        "market_cap_krw, balance_to_market_cap_pct from marts.fct_market_short_balances",
    ) == [(dt.date(2021, 1, 27), "KOSPI", total_krw, None, None, None, None)]


def test_balances_only_run_is_tagged_with_its_gaps_for_the_ui(balances_only, monkeypatch):
    """The run succeeded with gaps: the UI shows it as a Success tagged ``krx/verdict`` with
    the same count of gaps the command line printed."""
    import dagster as dg

    from pipelines.defs.sensors.alerts import VERDICT_TAG

    proc, base = balances_only
    run_id = re.search(r"^build .*: ok \(run ([0-9a-f-]+)\)$", proc.stdout, re.M)[1]
    gaps = int(re.search(r"^gaps \((\d+), warnings\):$", proc.stdout, re.M)[1])
    monkeypatch.setenv(settings.DAGSTER_HOME_ENV, str(base / "dagster"))
    with dg.DagsterInstance.get() as instance:
        tags = instance.get_run_by_id(run_id).tags
    assert tags[VERDICT_TAG].startswith(f"ok with {gaps} gap(s), first raw/ecos_usdkrw ")


def test_balances_only_run_records_typed_columns_and_charts_beside_the_exports(
    balances_only, monkeypatch
):
    """The latest materialization of the market mart carries its columns with the DuckDB
    types, and its chart is a PNG under KRX_EXPORT_DIR (not the repository's warehouse/)."""
    import dagster as dg

    _, base = balances_only
    key = dg.AssetKey(["marts", "fct_market_short_balances"])
    monkeypatch.setenv(settings.DAGSTER_HOME_ENV, str(base / "dagster"))  # the event storage's
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(key)
    metadata = event.asset_materialization.metadata
    typed = [(c.name, c.type) for c in metadata["dagster/column_schema"].schema.columns]
    assert typed == rows(
        base / "w.duckdb",
        "select column_name, data_type from information_schema.columns where table_schema = "
        "'marts' and table_name = 'fct_market_short_balances' order by ordinal_position",
    )
    assert metadata["chart_png"].path == str(
        base / "exports" / "charts" / "market_short_balances.png"
    )
    assert (base / "exports" / "charts" / "market_short_balances.png").read_bytes()[
        :4
    ] == b"\x89PNG"
    assert "dagster/row_count" in metadata  # an unpartitioned model: its table's rows


def test_a_failed_step_is_named_by_its_own_error_line():
    from pipelines.cli.build import _first_line

    message = (
        "dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing "
        'op "krx_dbt_rollups":\n\n'
        "dagster_dbt.errors.DagsterDbtCliRuntimeError: dbt build: not_null_x failed (...)\n"
        "Errors from dbt:\n  Failure in test not_null_x"
    )
    assert _first_line(message) == "dbt build: not_null_x failed (...)"


def test_an_error_without_a_message_is_named_in_plain_words():
    from types import SimpleNamespace

    from pipelines.cli.build import step_reason

    def error(message: str, cls_name: str) -> SimpleNamespace:  # as Dagster records a raise
        return SimpleNamespace(message=message, cls_name=cls_name)

    interrupted = "dagster._core.errors.DagsterExecutionInterruptedError\n"
    assert step_reason(error(interrupted, "DagsterExecutionInterruptedError")) == (
        "interrupted (Ctrl-C or a stop signal)"
    )
    assert step_reason(error("MemoryError\n", "MemoryError")) == "out of memory"
    assert step_reason(error("ValueError\n", "ValueError")) == "ValueError (no message)"
    assert step_reason(error("ValueError: bad date\n", "ValueError")) == "bad date"
    assert step_reason(None) == "unknown error"
