"""Which marts are exported month by month (the dbt tag ``export_by_month``, read from the
manifest, stated once in ``dbt_project/dbt_project.yml``), and that a one-session update
rewrites one month per table and leaves every other month's files alone."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.exports import export_marts, monthly_tables
from pipelines.settings import DBT_PROJECT_DIR
from pipelines.warehouse import connect

MARTS = DBT_PROJECT_DIR / "models" / "marts"
#: The first session of July 2021 in the export sample (2021-05-24..2021-07-30): its update
#: touches July only, May and June stay as they were.
SESSION = dt.date(2021, 7, 1)


def _grains() -> dict[str, list[str]]:
    """Each mart's grain as its YAML states it: the first ``unique_combination_of_columns``."""
    grains = {}
    for path in sorted(MARTS.glob("*.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            for test in model.get("data_tests", []):
                if isinstance(test, dict) and "unique_combination_of_columns" in test:
                    args = test["unique_combination_of_columns"]["arguments"]
                    grains.setdefault(model["name"], args["combination_of_columns"])
    return grains


def test_the_monthly_tables_are_the_marts_whose_grain_holds_a_day():
    grains = _grains()
    by_trade_date = {name for name, grain in grains.items() if grain[0] == "trade_date"}
    assert {"fct_short_balances", "short_squeeze_watch", "top_short_balances"} <= by_trade_date
    expected = {name: "trade_date" for name in by_trade_date}
    # no grain test (a figure per check and ticker), its rows are per session
    expected["krx_reconciliation"] = "trade_date"
    # one row per ticker and detection day: partitioned by the detection day
    assert grains["short_overheat_designations"] == ["ticker", "detected_on"]
    expected["short_overheat_designations"] = "detected_on"
    assert monthly_tables() == expected
    singles = {path.stem for path in MARTS.glob("*.sql")} - set(expected)
    assert {"dim_securities", "index_weekly_returns", "post_exclusion_residuals"} <= singles


def _node(name: str, schema: str, tags: list[str], meta: dict | None = None) -> dict:
    return {
        "resource_type": "model",
        "name": name,
        "schema": schema,
        "tags": tags,
        "config": {"meta": meta or {}},
    }


def test_a_tag_outside_marts_does_not_count_and_meta_names_the_month_column(tmp_path):
    manifest = tmp_path / "manifest.json"
    nodes = [
        _node("fct_a", "marts", ["export_by_month"]),
        _node("int_b", "intermediate", ["export_by_month"]),
        _node("dim_c", "marts", []),
        _node("d", "marts", ["export_by_month"], {"export_month_column": "detected_on"}),
    ]
    manifest.write_text(json.dumps({"nodes": {n["name"]: n for n in nodes}}))
    assert monthly_tables(manifest) == {"fct_a": "trade_date", "d": "detected_on"}


def test_a_missing_manifest_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make manifest"):
        monthly_tables(tmp_path / "manifest.json")


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every Parquet file under ``root``, by relative path."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*.parquet")
    }


def _month(path: str) -> tuple[str, int, int] | None:
    parts = path.split("/")
    if len(parts) != 4 or not parts[1].startswith("year=") or not parts[2].startswith("month="):
        return None
    return parts[0], int(parts[1][5:]), int(parts[2][6:])


def test_a_one_session_update_rewrites_one_month_per_table(export_sample, tmp_path):
    built = export_sample[0].db
    db = tmp_path / "update.duckdb"
    shutil.copyfile(built, db)
    wal = built.with_name(built.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, db.with_name(db.name + ".wal"))
    monthly = monthly_tables()
    root = tmp_path / "exports"
    with connect(db) as con:
        # KRX's designation list is not in the sample: one designation in June, one on SESSION
        con.execute(
            "insert into marts.short_overheat_designations (ticker, detected_on) "
            "values ('000001', date '2021-06-15'), ('000002', ?)",
            [SESSION],
        )
        # the evening before SESSION: its rows are not there yet
        for table, day in monthly.items():
            con.execute(
                f"create temp table held_{table} as select * from marts.{table} where {day} = ?",
                [SESSION],
            )
            con.execute(f"delete from marts.{table} where {day} = ?", [SESSION])
        export_marts(con, root)
        before = _files(root)
        # the update: SESSION's rows arrive, the export gets the run's window
        for table in monthly:
            con.execute(f"insert into marts.{table} select * from held_{table}")
        updated = {
            table: con.execute(f"select count(*) from held_{table}").fetchone()[0]
            for table in monthly
        }
        export_marts(con, root, (SESSION, SESSION + dt.timedelta(days=1)))
        after = _files(root)
        july = {
            table: con.execute(
                f"select count(*), sum(hash(t)) from (select * from marts.{table} "
                f"where year({day}) = 2021 and month({day}) = 7) t"
            ).fetchone()
            for table, day in monthly.items()
        }

    # every monthly table but KRX's reconciliation (no KRX screens in the sample) has rows
    assert {t for t, n in updated.items() if n} >= set(monthly) - {"krx_reconciliation"}
    rewritten = {p for p in after if before.get(p) != after[p]}
    for path in set(before) | set(after):
        month = _month(path)
        if month is None:
            continue
        table, year, number = month
        # another month of a monthly table: the very same file, never rewritten
        assert ((year, number) == (2021, 7)) == (path in rewritten), path
        assert path in before or (year, number) == (2021, 7), path
    touched = {_month(p)[0] for p in rewritten if _month(p)}
    assert touched == {t for t, n in updated.items() if n}
    assert any(_month(p) and _month(p)[1:] == (2021, 6) for p in after)
    with duckdb.connect() as reader:
        for table in touched:
            files = f"{root}/{table}/year=2021/month=7/*.parquet"
            source = f"read_parquet('{files}', hive_partitioning = false)"
            read = reader.execute(f"select count(*), sum(hash(t)) from {source} t")
            assert read.fetchone() == july[table], table


def test_a_table_exported_as_one_file_before_is_written_whole_by_its_first_monthly_export(
    export_sample, tmp_path
):
    root = tmp_path / "exports"
    with connect(export_sample[0].db, read_only=True) as con:
        export_marts(con, root)
        expected = read_rows(con, "select * from marts.short_squeeze_watch")
        # the layout of an earlier version: the per-day mart as one file, no month folders
        shutil.rmtree(root / "short_squeeze_watch")
        con.execute(
            f"copy marts.short_squeeze_watch to '{root}/short_squeeze_watch.parquet' "
            "(format parquet)"
        )
        export_marts(con, root, (SESSION, SESSION + dt.timedelta(days=1)))
        files = root / "short_squeeze_watch" / "year=*" / "month=*" / "*.parquet"
        source = f"read_parquet('{files}', hive_partitioning = false)"
        assert read_rows(con, f"select * from {source}") == expected
    assert not (root / "short_squeeze_watch.parquet").exists()
    months = {
        p.parent.relative_to(root).as_posix() for p in root.glob(str(files.relative_to(root)))
    }
    assert months == {f"short_squeeze_watch/year=2021/month={m}" for m in (5, 6, 7)}


def read_rows(con, sql: str) -> tuple:
    """(rows, order-independent hash) of a query."""
    return con.execute(f"select count(*), sum(hash(t)) from ({sql}) t").fetchone()
