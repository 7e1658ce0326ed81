"""What building on a working copy costs a one-session update (``pipelines.publication``).

    .venv/bin/python benchmarks/publication.py            # a demo-scale half year, a few minutes

Builds a sample warehouse up to its last session but one (untimed), then times the one-session
update with ``krx-short build`` (the baseline: everything a reader-safe update does), and on the
published file each way of giving the writer a file no reader holds:

* ``copyfile``: ``shutil.copyfile`` (``sendfile`` in the kernel), the shipped design;
* ``cp --reflink=auto``: a copy-on-write clone where the file system has one (btrfs, XFS),
  else a plain copy;
* ``attach + copy from database``: DuckDB's own ``COPY FROM DATABASE`` into a new file (the
  "ATTACH" alternative: no file copy, every table rewritten);
* ``publish``: ``CHECKPOINT``, close, ``fsync`` and ``os.replace`` of the working copy.

Each is the median of three runs, printed with its ratio to the update's wall time; then the
same on a DuckDB file of ``--large-mib`` MiB of random doubles (about a full-scale warehouse).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.calendar import sessions_between  # noqa: E402
from pipelines.publication import publish, working_path  # noqa: E402
from pipelines.sample.generator import generate  # noqa: E402
from pipelines.warehouse import DUCKDB_CONFIG  # noqa: E402

KRX_SHORT = str(Path(sys.executable).parent / "krx-short")


def _build(env: dict[str, str], start: dt.date, end: dt.date) -> float:
    started = time.monotonic()
    subprocess.run(
        [KRX_SHORT, "build", "--start", start.isoformat(), "--end", end.isoformat()],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def _median(function, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.monotonic()
        function()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def _report(db: Path, work: Path, update: float) -> None:
    """Each way of giving the writer its own file, on ``db``, against the update's time."""
    copy = work / "copy.duckdb"

    def copyfile():
        shutil.copyfile(db, copy)

    def reflink():
        subprocess.run(["cp", "--reflink=auto", str(db), str(copy)], check=True)

    def copy_from_database():
        copy.unlink(missing_ok=True)
        with duckdb.connect(config=DUCKDB_CONFIG) as con:
            con.execute(f"attach '{db}' as src (read_only)")
            con.execute(f"attach '{copy}' as dst")
            con.execute("copy from database src to dst")

    def publish_copy():
        published = work / "published.duckdb"
        shutil.copyfile(db, working_path(published))
        started = time.monotonic()
        publish(published)
        return time.monotonic() - started

    figures = {
        "copyfile": _median(copyfile),
        "cp --reflink=auto": _median(reflink),
        "attach + copy from database": _median(copy_from_database),
        "publish": statistics.median(publish_copy() for _ in range(3)),
    }
    mib = db.stat().st_size / 2**20
    print(f"  {db.name}: {mib:.1f} MiB")
    for name, seconds in figures.items():
        rate = f"{mib / seconds:8.0f} MiB/s" if name != "publish" else ""
        print(f"  {name:<38} {seconds:8.3f} s  {seconds / update:.3f} {rate}")
    copy.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/krx-bench-publication"))
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2021, 1, 4))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2021, 6, 30))
    parser.add_argument(
        "--large-mib", type=int, default=1024, help="size of the large file measured too (MiB)"
    )
    args = parser.parse_args(argv)

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    generate(work / "landing", args.start, args.end)
    db = work / "krx.duckdb"
    env = {
        **os.environ,
        "KRX_LANDING_DIR": str(work / "landing"),
        "KRX_DUCKDB_PATH": str(db),
        "KRX_EXPORT_DIR": str(work / "exports"),
        "DAGSTER_HOME": str(work / "dagster"),
        "KRX_ALERT_LOG": str(work / "alerts.log"),
    }
    sessions = sessions_between(args.start, args.end)
    _build(env, sessions[0], sessions[-2])
    update = _build(env, sessions[-1], sessions[-1])
    print(f"sample {args.start}..{args.end} ({len(sessions)} sessions)")
    print(f"{'one-session update (krx-short build, the baseline)':<40} {update:8.2f} s  1.000")
    _report(db, work, update)
    large = work / "large.duckdb"
    with duckdb.connect(str(large), config=DUCKDB_CONFIG) as con:  # random doubles: incompressible
        rows = args.large_mib * 2**20 // 8
        con.execute(f"create table t as select random() as x from range({rows})")
    _report(large, work, update)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
