"""SIGKILL at randomly drawn points of a build, write errors at the export's write calls.

An uninterrupted build of a three-session sample (``reference`` in conftest.py) records every
failpoint it passes (``KRX_FAILPOINT_TRACE``): the raw load's (before and after each commit),
every dbt node's start and end, each export write and swap, the manifest and the publication
(copied, before and after the rename). ``KRX_CRASH_POINTS`` of them (default 12) are drawn with
``KRX_CRASH_SEED`` (printed; set it to replay a failure): one of each kind of point, then the
rest at random from all of them (most are dbt nodes). Each drawn point kills a build of a second
warehouse; the next build is the restart, itself killed at the next point, so every build starts
from what a crash left (and the dead run's pool slot must be released first). After every kill
the published warehouse is either absent or the reference build, never anything in between.
After the last kill the warehouse is built again as two overlapping windows (the middle session
twice): every table and exported row equals the reference, no temporary file is left in the
exports, the manifest lists exactly the files with their rows and checksums, the pool slot is
free and no working copy is left.

Then a full disk (ENOSPC) and a read-only export folder (EROFS) are injected after a table's
Parquet write into a copy of the reference: the build fails naming the error and the file; the
previous exports and the published warehouse are exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.exports import TEMPORARY_NAME
from pipelines.publication import working_path
from tests.builds import END, START, copy_built, exports, published, slots_held, succeeded

#: One worker runs every test of the shared builder and reference build (``pytest -n``).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("builds")]

MIDDLE = "2021-06-10"  # the session the two windows of the rebuild share


def _kind(point: str) -> str:
    """``dbt-done`` of ``dbt-done:model.x@1``, ``export-file-written`` of
    ``export-file-written@3``."""
    return point.split(":")[0].split("@")[0]


def _draw(points: list[str], count: int, seed: int) -> list[str]:
    """``count`` points (at least one of each kind) in random order: one of each kind, the rest
    from all the others."""
    rng = random.Random(seed)
    kinds = sorted({_kind(p) for p in points})
    drawn = [rng.choice([p for p in points if _kind(p) == kind]) for kind in kinds]
    rest = [p for p in points if p not in drawn]
    drawn += rng.sample(rest, max(0, min(count, len(points)) - len(drawn)))
    rng.shuffle(drawn)
    return drawn


def _files(root: Path) -> dict[str, tuple[int, int, str]]:
    """(inode, mtime, sha256) of every exported file: a file swapped for an identical one
    differs. ``charts/`` is left out: the chart assets, not the export, draw it on every run."""
    return {
        p.relative_to(root).as_posix(): (
            p.stat().st_ino,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "charts"
    }


def _temporaries(root: Path) -> list[str]:
    return [p.as_posix() for p in root.rglob(".*") if TEMPORARY_NAME.match(p.name)]


def _manifest_matches_files(exports: Path) -> None:
    manifest = json.loads((exports / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f for t in manifest["tables"].values() for f in t["files"]}
    on_disk = {p.relative_to(exports).as_posix() for p in exports.rglob("*.parquet") if p.is_file()}
    assert set(listed) == on_disk
    with duckdb.connect() as con:
        for relative, entry in listed.items():
            path = exports / relative
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], relative
            rows = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
            assert rows == entry["rows"], relative


def test_sigkill_at_random_points_then_a_rebuild_matches_an_uninterrupted_build(
    builder, reference, tmp_path
):
    reference_root, points = reference
    expected = published(reference_root)
    kinds = {_kind(p) for p in points}
    assert {"raw-before-commit", "raw-committed", "dbt-start", "dbt-done"} <= kinds
    assert {"export-file-written", "export-month-swapped", "export-before-manifest"} <= kinds
    assert {
        "publication-copied",
        "publication-before-replace",
        "publication-after-replace",
    } <= kinds

    seed = int(os.environ.get("KRX_CRASH_SEED") or time.time_ns() % 1_000_000)
    count = int(os.environ.get("KRX_CRASH_POINTS") or 12)
    drawn = _draw(points, count, seed)
    assert {_kind(p) for p in drawn} == kinds
    print(f"KRX_CRASH_SEED={seed}: {len(drawn)} of {len(points)} points: {' '.join(drawn)}")
    started = time.monotonic()
    for number, point in enumerate(drawn, 1):
        code, output = builder.build(tmp_path, KRX_FAILPOINT=point)
        replay = f"KRX_CRASH_SEED={seed}, crash {number} at {point}"
        assert code == -signal.SIGKILL, f"{replay}: exit {code}\n{output[-3000:]}"
        assert published(tmp_path) in (None, expected), replay
    crashes = time.monotonic() - started

    for start, end in ((START, MIDDLE), (MIDDLE, END)):  # the middle session runs twice
        code, output = builder.build(tmp_path, start, end)
        succeeded(code, output, f"KRX_CRASH_SEED={seed}, the rebuild of {start}..{end}")
    assert published(tmp_path) == expected
    assert exports(tmp_path) == exports(reference_root)
    assert _temporaries(tmp_path / "exports") == []
    _manifest_matches_files(tmp_path / "exports")
    assert slots_held(tmp_path) == set()
    assert not working_path(tmp_path / "krx.duckdb").exists()
    print(f"{len(drawn)} crashes in {crashes:.0f} s, rebuild in {time.monotonic() - started:.0f} s")


@pytest.mark.parametrize("error", ["enospc", "erofs"])
def test_a_failed_export_write_leaves_the_previous_exports_and_warehouse(
    builder, reference, tmp_path, error
):
    reference_root, points = reference
    writes = [p for p in points if p.startswith("export-file-written@")][:-1]  # not the manifest
    copy_built(reference_root, tmp_path)  # a warehouse built once
    files, warehouse = _files(tmp_path / "exports"), published(tmp_path)

    point = writes[0] if error == "enospc" else writes[-1]
    code, output = builder.build(tmp_path, KRX_FAILPOINT=f"{point}:{error}")
    message = os.strerror({"enospc": 28, "erofs": 30}[error])
    lines = output.splitlines()
    assert code == 1 and "failures (1):" in lines, output[-3000:]
    failure = [line.strip() for line in lines[lines.index("failures (1):") + 1 :][:1]]
    assert failure[0].startswith("exports__parquet: ") and message in failure[0]
    assert str(tmp_path / "exports") in failure[0]  # the file it was writing
    assert _files(tmp_path / "exports") == files  # no temporary file, nothing replaced
    assert published(tmp_path) == warehouse
    assert slots_held(tmp_path) == set()
