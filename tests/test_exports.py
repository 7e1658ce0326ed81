"""The Parquet exports of the marts (facts partitioned by month, the other marts one file each,
zstd, a manifest with checksums), checked against the warehouse they come from.

The warehouse is ``export_sample`` (conftest.py), shared with ``test_summary.py``: a demo-scale
sample for 2021-05-24..2021-07-30 (three months of facts, the June 2021 rebalance). Tests that
change data work on a copy of its DuckDB file; the built file is only ever read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines import settings
from pipelines.exports import FACTS, export_marts
from pipelines.warehouse import connect

SAMPLE_MONTHS = {(2021, 5), (2021, 6), (2021, 7)}
WINDOW = (dt.date(2021, 6, 10), dt.date(2021, 6, 11))  # half-open: touches June only
CHANGED_DAY = dt.date(2021, 6, 15)  # a June session outside the window itself

# --- helpers ----------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """(inode, mtime_ns, sha256) of every file under ``root``, by relative path."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (st.st_ino, st.st_mtime_ns, sha256(path))
    return out


def mart_columns(con) -> dict[str, list[tuple[str, str]]]:
    """Base tables of ``marts`` with their (column, type) in ordinal order."""
    rows = con.execute(
        "select c.table_name, c.column_name, c.data_type from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        "where c.table_schema = 'marts' and t.table_type = 'BASE TABLE' "
        "and c.table_catalog = current_database() order by c.table_name, c.ordinal_position"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, type_ in rows:
        out.setdefault(table, []).append((column, type_))
    return out


def count(con, table: str) -> int:
    return con.execute(f"select count(*) from marts.{table}").fetchone()[0]


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _py(value):
    """A reader's value as a plain Python value (numpy scalars unwrapped, NaN as null)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def normalized(rows) -> list[tuple]:
    """Rows as tuples of plain values, sorted (nulls first in every column)."""
    out = [tuple(_py(v) for v in row) for row in rows]
    return sorted(out, key=lambda row: tuple((v is not None, v) for v in row))


def export_path(root: Path, table: str) -> Path:
    return root / table if table in FACTS else root / f"{table}.parquet"


def duckdb_source(root: Path, table: str) -> str:
    path = export_path(root, table)
    pattern = path / "**" / "*.parquet" if table in FACTS else path
    return f"read_parquet('{pattern}', hive_partitioning = true)"


def read_duckdb(con, root: Path, table: str, columns: list[str]) -> list[tuple]:
    cols = ", ".join(ident(c) for c in columns)
    return con.execute(f"select {cols} from {duckdb_source(root, table)}").fetchall()


def read_pyarrow(root: Path, table: str, columns: list[str]) -> list[tuple]:
    dataset = ds.dataset(export_path(root, table), format="parquet", partitioning="hive")
    data = dataset.to_table(columns=columns).to_pydict()
    return list(zip(*(data[c] for c in columns), strict=True))


def read_pandas(root: Path, table: str, columns: list[str]) -> list[tuple]:
    frame = pd.read_parquet(export_path(root, table), columns=columns)
    assert list(frame.columns) == columns
    return list(frame.astype(object).itertuples(index=False, name=None))


def read_manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text(encoding="utf-8"))


def expected_checksum(files: list[dict]) -> str:
    lines = sorted(f"{f['path']}:{f['sha256']}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def month_of(path: str) -> tuple[str, int, int] | None:
    """(table, year, month) of a monthly partition file, None for anything else."""
    match = re.fullmatch(r"(\w+)/year=(\d{4})/month=(\d{1,2})/[^/]+\.parquet", path)
    return (match[1], int(match[2]), int(match[3])) if match else None


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(export_sample) -> Path:
    return export_sample[0].db


@pytest.fixture(scope="module")
def exported(warehouse, tmp_path_factory) -> tuple[Path, dict]:
    """A full export of the built warehouse: (export root, manifest)."""
    root = tmp_path_factory.mktemp("exported") / "exports"
    with connect(warehouse, read_only=True) as con:
        export_marts(con, root)
    return root, read_manifest(root)


@pytest.fixture(scope="module")
def tables(warehouse) -> dict[str, list[tuple[str, str]]]:
    with connect(warehouse, read_only=True) as con:
        return mart_columns(con)


@pytest.fixture
def copy_db(warehouse, tmp_path) -> Path:
    """A private copy of the built warehouse that a test may change."""
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(warehouse, db)
    wal = warehouse.with_name(warehouse.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, db.with_name(db.name + ".wal"))
    return db


# --- 1. the export and its manifest -----------------------------------------------------------


def test_the_sample_warehouse_has_every_fact_over_three_months(tables, warehouse):
    assert set(FACTS) <= set(tables)
    with connect(warehouse, read_only=True) as con:
        for fact, day in FACTS.items():
            months = con.execute(
                f"select distinct year({day}), month({day}) from marts.{fact}"
            ).fetchall()
            if fact == "short_overheat_designations":  # events: not every month has one
                assert months and set(months) <= SAMPLE_MONTHS, fact
            else:
                assert set(months) == SAMPLE_MONTHS, fact


def test_manifest_lists_every_marts_table_with_its_rows_and_columns(exported, tables, warehouse):
    manifest = exported[1]
    assert set(manifest["tables"]) == set(tables)
    assert len(tables) >= 10
    with connect(warehouse, read_only=True) as con:
        for table, columns in tables.items():
            entry = manifest["tables"][table]
            assert entry["rows"] == count(con, table), table
            assert [(c["name"], c["type"]) for c in entry["columns"]] == columns, table
            assert (entry["format"], entry["compression"]) == ("parquet", "zstd"), table
    assert sum(e["rows"] for e in manifest["tables"].values()) > 30_000


def test_manifest_files_exist_with_their_sha256_rows_and_table_checksum(exported):
    root, manifest = exported
    listed = set()
    for table, entry in manifest["tables"].items():
        assert entry["files"], table
        for f in entry["files"]:
            path = root / f["path"]
            assert path.is_file(), f["path"]
            assert sha256(path) == f["sha256"], f["path"]
            assert pq.ParquetFile(path).metadata.num_rows == f["rows"], f["path"]
            listed.add(f["path"])
        assert sum(f["rows"] for f in entry["files"]) == entry["rows"], table
        assert entry["checksum"] == expected_checksum(entry["files"]), table
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}
    assert on_disk == listed  # no orphan and no missing file
    leftovers = [p for p in root.rglob(".*")]
    assert leftovers == []  # no temporary file or staging folder survives
    assert {p.name for p in root.iterdir() if p.is_file()} - {"manifest.json"} == {
        f"{t}.parquet" for t in manifest["tables"] if t not in FACTS
    }


def test_facts_are_hive_partitioned_by_the_month_of_trade_date(exported, tables, warehouse):
    root, manifest = exported
    with connect(warehouse, read_only=True) as con:
        for fact, day in FACTS.items():
            entry = manifest["tables"][fact]
            assert entry["path"] == f"{fact}/" and entry["partitioning"] == ["year", "month"]
            expected = {
                (year, month): n
                for year, month, n in con.execute(
                    f"select year({day}), month({day}), count(*) from marts.{fact} group by all"
                ).fetchall()
            }
            if not expected:  # a table without rows: one zero-row file
                assert [f["path"] for f in entry["files"]] == [f"{fact}/empty.parquet"], fact
                continue
            seen: dict[tuple[int, int], int] = {}
            for f in entry["files"]:
                parsed = month_of(f["path"])
                assert parsed is not None and parsed[0] == fact, f["path"]
                year, month = parsed[1:]
                data = pq.ParquetFile(root / f["path"]).read()
                # The file holds the table's own columns; year/month live in the path only.
                assert data.column_names == [c for c, _ in tables[fact]], f["path"]
                days = data.column(day).to_pylist()
                assert days and all((d.year, d.month) == (year, month) for d in days), f["path"]
                seen[(year, month)] = seen.get((year, month), 0) + len(days)
            assert seen == expected, fact
            # The Hive columns a reader derives from the paths agree with trade_date.
            wrong = con.execute(
                f"select count(*) from {duckdb_source(root, fact)} "
                f"where year <> year({day}) or month <> month({day})"
            ).fetchone()[0]
            assert wrong == 0, fact


def test_dimensions_and_marts_are_single_files(exported):
    root, manifest = exported
    singles = [t for t in manifest["tables"] if t not in FACTS]
    assert {"dim_securities", "dim_index_memberships", "index_weekly_returns"} <= set(singles)
    for table in singles:
        entry = manifest["tables"][table]
        assert entry["path"] == f"{table}.parquet", table
        assert entry["partitioning"] is None, table
        assert [f["path"] for f in entry["files"]] == [f"{table}.parquet"], table
        assert (root / f"{table}.parquet").is_file()
        assert not (root / table).exists(), table


def test_every_exported_column_chunk_is_zstd_compressed(exported):
    root, manifest = exported
    for entry in manifest["tables"].values():
        for f in entry["files"]:
            meta = pq.ParquetFile(root / f["path"]).metadata
            assert meta.num_row_groups >= 1, f["path"]
            assert meta.row_group(0).column(0).compression == "ZSTD", f["path"]
            codecs = {
                meta.row_group(g).column(c).compression
                for g in range(meta.num_row_groups)
                for c in range(meta.num_columns)
            }
            assert codecs == {"ZSTD"}, f["path"]


# --- 2. readers agree -------------------------------------------------------------------------


def test_duckdb_pyarrow_and_pandas_read_back_the_tables_rows(exported, tables, warehouse):
    root, manifest = exported
    with connect(warehouse, read_only=True) as con:
        for table, columns in tables.items():
            names = [c for c, _ in columns]
            cols = ", ".join(ident(c) for c in names)
            expected = normalized(con.execute(f"select {cols} from marts.{table}").fetchall())
            assert len(expected) == manifest["tables"][table]["rows"], table
            assert len(expected) > 0, table
            assert normalized(read_duckdb(con, root, table, names)) == expected, table
            assert normalized(read_pyarrow(root, table, names)) == expected, table
            assert normalized(read_pandas(root, table, names)) == expected, table
            # The Parquet types read back as the manifest's (= the warehouse's) types.
            described = con.execute(f"describe select {cols} from {duckdb_source(root, table)}")
            assert [(r[0], r[1]) for r in described.fetchall()] == columns, table


def test_an_empty_table_exports_zero_rows_that_every_reader_reads(copy_db, tmp_path):
    root = tmp_path / "exports"
    with connect(copy_db) as con:
        con.execute("create table marts.zz_empty as select * from marts.top_short_balances limit 0")
        levels = con.execute("select * from marts.fct_index_levels").fetchall()
        export_marts(con, root)  # the fact's months exist before it is emptied
        con.execute("delete from marts.fct_index_levels")
        export_marts(con, root)
        tables = mart_columns(con)
        columns = [c for c, _ in tables["zz_empty"]]
        empty = read_duckdb(con, root, "zz_empty", columns)
        fact_columns = [c for c, _ in tables["fct_index_levels"]]
        empty_fact = read_duckdb(con, root, "fct_index_levels", fact_columns)
        described = con.execute(
            f"describe select * from {duckdb_source(root, 'fct_index_levels')}"
        ).fetchall()
    entry = read_manifest(root)["tables"]["zz_empty"]
    assert entry["rows"] == 0 and [f["rows"] for f in entry["files"]] == [0]
    assert [c["name"] for c in entry["columns"]] == columns
    table = pq.read_table(root / "zz_empty.parquet")
    assert table.num_rows == 0 and table.column_names == columns
    assert read_pyarrow(root, "zz_empty", columns) == []
    assert read_pandas(root, "zz_empty", columns) == []
    assert empty == []
    # An empty fact has no month left: its old partitions are gone, and one zero-row file keeps
    # its columns (with the partition columns) for a glob over the folder.
    fact = read_manifest(root)["tables"]["fct_index_levels"]
    assert fact["rows"] == 0
    assert [(f["path"], f["rows"]) for f in fact["files"]] == [
        ("fct_index_levels/empty.parquet", 0)
    ]
    assert list((root / "fct_index_levels").glob("year=*")) == []
    assert [name for name, *_ in described] == [*fact_columns, "year", "month"]
    assert empty_fact == []
    assert read_pyarrow(root, "fct_index_levels", fact_columns) == []
    assert read_pandas(root, "fct_index_levels", fact_columns) == []
    # Rows again: the months come back and the zero-row file goes.
    with connect(copy_db) as con:
        placeholders = ", ".join("?" for _ in fact_columns)
        con.executemany(f"insert into marts.fct_index_levels values ({placeholders})", levels)
        export_marts(con, root)
        assert normalized(read_duckdb(con, root, "fct_index_levels", fact_columns)) == (
            normalized(levels)
        )
    assert not (root / "fct_index_levels" / "empty.parquet").exists()
    files = read_manifest(root)["tables"]["fct_index_levels"]["files"]
    assert files and all(month_of(f["path"]) for f in files)


# --- 3. windowed re-exports -------------------------------------------------------------------


def test_windowed_reexport_rewrites_only_the_months_of_its_window(copy_db, tmp_path):
    root = tmp_path / "exports"
    with connect(copy_db) as con:
        export_marts(con, root)
        before, manifest_before = snapshot(root), read_manifest(root)
        changed = con.execute(
            "update marts.fct_short_balances set balance_qty = balance_qty + 1 "
            "where trade_date = ? and ticker = (select min(ticker) from marts.fct_short_balances "
            "where trade_date = ?)",
            [CHANGED_DAY, CHANGED_DAY],
        ).fetchone()[0]
        assert changed >= 1
        export_marts(con, root, WINDOW)
        after, manifest_after = snapshot(root), read_manifest(root)
        names = [c for c, _ in mart_columns(con)["fct_short_balances"]]
        cols = ", ".join(ident(c) for c in names)
        table_rows = normalized(
            con.execute(f"select {cols} from marts.fct_short_balances").fetchall()
        )
        assert normalized(read_duckdb(con, root, "fct_short_balances", names)) == table_rows

    assert set(after) == set(before)
    june_files = []
    for path, (inode, mtime, sha) in after.items():
        old_inode, old_mtime, old_sha = before[path]
        parsed = month_of(path)
        if path == "manifest.json":
            continue
        if parsed is None:  # a dimension or mart: rewritten, same bytes
            assert inode != old_inode and sha == old_sha, path
        elif parsed[1:] == (2021, 6):  # the window's month: rewritten
            june_files.append(path)
            assert inode != old_inode, path
            assert (sha != old_sha) == (parsed[0] == "fct_short_balances"), path
        else:  # other months: not touched at all
            assert (inode, mtime, sha) == (old_inode, old_mtime, old_sha), path
    had_june = {parsed[0] for parsed in map(month_of, before) if parsed and parsed[1:] == (2021, 6)}
    assert {month_of(p)[0] for p in june_files} == had_june

    new, old = manifest_after["tables"], manifest_before["tables"]
    for table in new:
        if table == "fct_short_balances":
            assert new[table]["checksum"] != old[table]["checksum"]
        else:
            assert new[table] == old[table], table
    entry = new["fct_short_balances"]
    assert entry["checksum"] == expected_checksum(entry["files"])
    assert {f["path"]: f["sha256"] for f in entry["files"]} == {
        p: after[p][2] for p in after if p.startswith("fct_short_balances/")
    }
    assert entry["rows"] == old["fct_short_balances"]["rows"]


def test_reexporting_unchanged_data_gives_identical_files(warehouse, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    with connect(warehouse, read_only=True) as con:
        export_marts(con, first)
        shas = {p: s for p, (_, _, s) in snapshot(first).items() if p != "manifest.json"}
        export_marts(con, first)  # over itself
        export_marts(con, first, WINDOW)
        export_marts(con, second)  # into another folder
    for root in (first, second):
        again = {p: s for p, (_, _, s) in snapshot(root).items() if p != "manifest.json"}
        assert again == shas, root
    a, b = read_manifest(first)["tables"], read_manifest(second)["tables"]
    assert a == b


def test_a_month_without_rows_is_removed_on_a_full_reexport(copy_db, tmp_path):
    root = tmp_path / "exports"
    with connect(copy_db) as con:
        export_marts(con, root)
        may = root / "fct_short_balances" / "year=2021" / "month=5"
        assert any(may.glob("*.parquet"))
        con.execute("delete from marts.fct_short_balances where trade_date < '2021-06-01'")
        export_marts(con, root)
        rows = count(con, "fct_short_balances")
    assert not may.exists()
    assert (root / "fct_short_trades" / "year=2021" / "month=5").is_dir()  # other facts keep May
    entry = read_manifest(root)["tables"]["fct_short_balances"]
    assert {month_of(f["path"])[1:] for f in entry["files"]} == {(2021, 6), (2021, 7)}
    assert entry["rows"] == rows
    assert entry["checksum"] == expected_checksum(entry["files"])


def test_a_windowed_reexport_removes_its_months_that_lost_their_rows(copy_db, tmp_path):
    root = tmp_path / "exports"
    with connect(copy_db) as con:
        export_marts(con, root)
        before = snapshot(root)
        con.execute("delete from marts.fct_short_balances where trade_date >= '2021-07-01'")
        export_marts(con, root, (dt.date(2021, 7, 1), dt.date(2021, 7, 2)))
        rows = count(con, "fct_short_balances")
    after = snapshot(root)
    assert not (root / "fct_short_balances" / "year=2021" / "month=7").exists()
    assert (root / "fct_short_trades" / "year=2021" / "month=7").is_dir()
    for path in ("fct_short_balances/year=2021/month=5", "fct_short_balances/year=2021/month=6"):
        files = [p for p in after if p.startswith(path + "/")]
        assert files and all(after[p] == before[p] for p in files), path
    entry = read_manifest(root)["tables"]["fct_short_balances"]
    assert entry["rows"] == rows == sum(f["rows"] for f in entry["files"])


# --- 4. the CLI -------------------------------------------------------------------------------


def test_cli_export_writes_the_manifest(warehouse, exported, tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    root = tmp_path / "exports"
    monkeypatch.setenv(settings.DUCKDB_ENV, str(warehouse))
    monkeypatch.setenv(settings.EXPORT_ENV, str(root))
    monkeypatch.setenv(settings.LANDING_ENV, str(tmp_path / "landing"))
    assert main(["export"]) == 0
    out = capsys.readouterr().out
    manifest = read_manifest(root)
    with connect(warehouse, read_only=True) as con:
        counts = {t: count(con, t) for t in manifest["tables"]}
    assert {t: e["rows"] for t, e in manifest["tables"].items()} == counts
    # The same bytes as an export through the API.
    assert {t: e["checksum"] for t, e in manifest["tables"].items()} == {
        t: e["checksum"] for t, e in exported[1]["tables"].items()
    }
    for table, rows in counts.items():
        path = f"{table}/" if table in FACTS else f"{table}.parquet"
        assert re.search(rf"^{table}\s+{rows:,} rows  {re.escape(path)}$", out, re.M), table
    assert f"manifest: {root / 'manifest.json'}" in out

    # --start/--end are inclusive days: one day in July rewrites July only.
    before = snapshot(root)
    assert main(["export", "--start", "2021-07-01", "--end", "2021-07-01"]) == 0
    after = snapshot(root)
    assert set(after) == set(before)
    for path, parsed in ((p, month_of(p)) for p in after):
        if parsed is not None:
            rewritten = after[path][0] != before[path][0]
            assert rewritten == (parsed[1:] == (2021, 7)), path
            assert after[path][2] == before[path][2], path


def test_files_the_last_manifest_describes_are_not_read_again(copy_db, tmp_path, monkeypatch):
    from pipelines import exports

    root = tmp_path / "exports"
    hashed: list[str] = []
    real_sha256 = exports._sha256

    def counting_sha256(path: Path) -> str:
        hashed.append(path.relative_to(root).as_posix())
        return real_sha256(path)

    monkeypatch.setattr(exports, "_sha256", counting_sha256)
    with connect(copy_db) as con:
        export_marts(con, root)
        assert len(hashed) == sum(len(t["files"]) for t in read_manifest(root)["tables"].values())
        # a run that died after writing a July file and before its manifest: described again
        july = next(p for p in hashed if month_of(p) == ("fct_short_balances", 2021, 7))
        may = next(p for p in hashed if month_of(p) == ("fct_short_balances", 2021, 5))
        shutil.copyfile(root / may, root / july)
        hashed.clear()
        export_marts(con, root, WINDOW)
    singles = {p for p in hashed if month_of(p) is None}
    months = {month_of(p)[1:] for p in hashed if month_of(p) is not None}
    assert singles == {f"{t}.parquet" for t in read_manifest(root)["tables"] if t not in FACTS} | {
        f"{t}/empty.parquet"
        for t, e in read_manifest(root)["tables"].items()
        if t in FACTS and not e["rows"]
    }
    assert months == {(2021, 6), (2021, 7)}
    assert [p for p in hashed if month_of(p) and month_of(p)[1:] == (2021, 7)] == [july]
    files = {f["path"]: f for t in read_manifest(root)["tables"].values() for f in t["files"]}
    assert files[july]["sha256"] == sha256(root / july) == files[may]["sha256"]
    assert files[july]["rows"] == files[may]["rows"]
    for path, entry in files.items():  # every entry still describes its file
        assert entry["sha256"] == sha256(root / path), path
