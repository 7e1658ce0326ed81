"""krx-short benchmarks: print the figures of the short-balance path, the baselines, the full
backfill, the incremental update and mart queries, each measured in a fresh process.

    .venv/bin/python benchmarks/run.py --scale demo            # a couple of minutes
    .venv/bin/python benchmarks/run.py --scale full --keep --json out.json

See benchmarks/README.md and benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from landing import Sample, balance_files, prepare, read_through, sample_for, set_state
from procs import Measured, dagster_timeline, run_measured

REPO = Path(__file__).resolve().parents[1]
MEASURES = Path(__file__).with_name("measures.py")
ALL = ("a", "b", "b'", "c", "d", "e", "f")
#: The queries of (f), as ``measures.queries`` names them.
QUERIES = ("top50_day", "market_year", "sector_day", "designations_month")
#: Days of history in the small warehouse that (e) compares the incremental update against.
MONTH_DAYS = 30
#: How long ``krx-short serve`` may take to warm up and copy its spare, and the quiet after.
SERVER_START_S, SERVER_SETTLE_S = 300, 5
PIPELINE_ASSETS = ("marts/fct_short_balances", "marts/fct_market_short_balances", "exports/parquet")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("full", "demo"), default="demo")
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/krx-bench"), help="default /tmp/krx-bench"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the sample and warehouses afterwards (the next run reuses the sample)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--only", default=",".join(ALL), help="comma-separated measurements (default: all)"
    )
    parser.add_argument("--repeat", type=int, default=25, help="runs per query in (f)")
    parser.add_argument(
        "--code-root",
        type=Path,
        default=REPO,
        help="checkout whose pipelines/ and dbt_project/ are measured (default: this one)",
    )
    parser.add_argument("--label", default="", help="a name for this run in the JSON")
    return parser.parse_args(argv)


class Bench:
    """One benchmark run: the sample, the environment of the measured processes, the figures."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.code_root = args.code_root.resolve()
        self.sample: Sample = sample_for(args.workdir.resolve(), args.scale)
        self.runs = self.sample.root / "runs"
        self.figures: dict[str, dict] = {}
        self.notes: list[str] = []

    # -- environment ------------------------------------------------------------------------

    def env(self, **extra: str) -> dict:
        path = os.environ.get("PYTHONPATH")
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.code_root), *([path] if path else [])]),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "PYTHONWARNINGS": "ignore",
            **extra,
        }

    def warehouse_env(self, name: str) -> dict:
        folder = self.runs / name
        return self.env(
            KRX_LANDING_DIR=str(self.sample.landing),
            KRX_DUCKDB_PATH=str(folder / "krx_short.duckdb"),
            KRX_EXPORT_DIR=str(folder / "exports"),
            DAGSTER_HOME=str(folder / "dagster"),
        )

    def measure(self, name: str, arguments: dict, log: str | None = None) -> Measured:
        cmd = [sys.executable, str(MEASURES), name, json.dumps(arguments)]
        return run_measured(cmd, self.env(), self.runs / "logs" / f"{log or name}.log")

    def build(
        self, warehouse: str, start: dt.date, end: dt.date, log: str, server: int | None = None
    ) -> Measured:
        """``krx-short build`` of ``[start, end]`` on a warehouse; with ``server`` (the PID of
        its ``krx-short serve``) the build runs there, and the server's memory counts."""
        cmd = [sys.executable, "-m", "pipelines.cli", "build", "--start", str(start)]
        cmd += ["--end", str(end)] + ([] if server else ["--here"])
        env = self.warehouse_env(warehouse)
        Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        log_path = self.runs / "logs" / f"{log}.log"
        return run_measured(cmd, env, log_path, cwd=self.runs, also=(server,) if server else ())

    @contextmanager
    def server(self, warehouse: str) -> Iterator[int | None]:
        """``krx-short serve`` for a warehouse, warmed up and with its spare copy ready; its PID
        (None, with a note, if it did not come up)."""
        env = self.warehouse_env(warehouse)
        published = Path(env["KRX_DUCKDB_PATH"])
        log = (self.runs / "logs" / f"serve_{warehouse}.log").open("w")
        cmd = [sys.executable, "-m", "pipelines.cli", "serve"]
        process = subprocess.Popen(cmd, env=env, cwd=self.runs, stdout=log, stderr=log)
        spare = published.with_name(f".{published.name}.spare.json")
        deadline = time.monotonic() + SERVER_START_S
        while not spare.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        try:
            if not spare.exists():
                self.notes.append(f"(e): krx-short serve did not come up, see {log.name}")
                yield None
            else:
                time.sleep(SERVER_SETTLE_S)
                yield process.pid
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
            log.close()

    def pipeline_assets(self) -> list[str]:
        """The assets of PIPELINE_ASSETS missing from the build job's code location."""
        probe = (
            "import json\nfrom pipelines.defs.definitions import defs\n"
            "keys = defs.resolve_asset_graph().get_all_asset_keys()\n"
            "print(json.dumps([k.to_user_string() for k in keys]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe],
            env=self.warehouse_env("probe"),
            capture_output=True,
            text=True,
            check=False,
            cwd=self.runs,
        )
        if out.returncode != 0:
            return [f"(code location failed to load: {out.stderr.strip().splitlines()[-1:]})"]
        keys = set(json.loads(out.stdout.strip().splitlines()[-1]))
        return [k for k in PIPELINE_ASSETS if k not in keys]

    def record(self, key: str, measured: Measured, **extra) -> dict:
        figure = {
            "wall_s": round(measured.wall_s, 2),
            "peak_rss_mb": round(measured.peak_rss_mb),
            "peak_tree_rss_mb": round(measured.peak_tree_rss_mb),
            "max_rss_mb": round(measured.max_rss_mb),
            "largest_process": measured.largest_process,
            "returncode": measured.returncode,
            "log": str(measured.log),
            **measured.result,
            **extra,
        }
        if measured.returncode != 0:
            figure["error"] = _tail(measured.log)
        self.figures[key] = figure
        return figure

    # -- the measurements -------------------------------------------------------------------

    def run_a(self) -> None:
        dbt_ready = all(
            (self.code_root / "dbt_project/models/marts" / f"{m}.sql").exists()
            for m in ("fct_short_balances", "fct_market_short_balances")
        )
        if not dbt_ready:
            self.notes.append("(a): the dbt models are not there yet; measured the raw part only")
        folder = self.runs / "a"
        folder.mkdir(parents=True, exist_ok=True)
        measured = self.measure(
            "balance_path",
            {
                "db": str(folder / "balances.duckdb"),
                "landing": str(self.sample.landing),
                "start": str(self.sample.start),
                "end": str(self.sample.last),
                "dbt": dbt_ready,
                "dbt_project": str(self.code_root / "dbt_project"),
                "scratch": str(folder),
            },
        )
        figure = self.record("a", measured)
        if "raw_s" in figure:
            self.figures["a-raw"] = {"total_s": figure["raw_s"], "rows": figure["balance_rows"]}
        if figure.get("dbt_returncode"):
            self.notes.append("(a): dbt build failed, see " + str(measured.log))
        if not dbt_ready or figure.get("dbt_returncode") or measured.returncode:
            figure["skipped"] = "dbt part not measured or failed"

    def run_b(self, rules: bool = False) -> None:
        key = "b'" if rules else "b"
        folder = self.runs / ("b-rules" if rules else "b")
        folder.mkdir(parents=True, exist_ok=True)
        measured = self.measure(
            "sql_baseline",
            {
                "db": str(folder / "baseline.duckdb"),
                "balances": str(self.sample.landing / "krx/short_balance/*/*.json"),
                "usdkrw": str(self.sample.landing / "ecos/usdkrw/*.json"),
                "rules": rules,
            },
            log=folder.name,
        )
        figure = self.record(key, measured)
        if rules and (
            figure.get("rejected_files") or any(figure.get("test_failures", {}).values())
        ):
            self.notes.append(f"(b'): the rules rejected files or a grain test failed: {figure}")

    def run_b_rules(self) -> None:
        """(b'): (b) plus the contract's row rules and the fact's grain tests in SQL."""
        self.run_b(rules=True)

    def run_c(self) -> None:
        file_list = self.runs / "c" / "files.json"
        file_list.parent.mkdir(parents=True, exist_ok=True)
        file_list.write_text(json.dumps([str(p) for p in balance_files(self.sample)]))
        self.record("c", self.measure("pandas_baseline", {"file_list": str(file_list)}))

    def run_d(self) -> None:
        missing = self.pipeline_assets()
        if missing:
            self.notes.append(
                "(d)/(e)/(f): the build job lacks " + ", ".join(missing) + ": (d) and (e) "
                "measure what the job has (raw assets), (f) is skipped"
            )
        measured = self.build("full", self.sample.start, self.sample.previous, "d_backfill")
        self.record("d", measured, incomplete_pipeline=missing, **dagster_timeline(measured))

    def run_e(self) -> None:
        s = self.sample
        if not (self.runs / "full" / "krx_short.duckdb").exists():
            self.notes.append("(e): no full warehouse (run (d) first); skipped")
            return
        # at demo scale the whole history is about a month: no second warehouse to compare
        month = s.scale == "full"
        if month:
            month_start = s.previous - dt.timedelta(days=MONTH_DAYS)
            setup = self.build("month", month_start, s.previous, "e_month_setup")
            self.record("e-month-setup", setup, **dagster_timeline(setup))
        else:
            self.notes.append("(e): the one-month comparison runs at full scale only")
        set_state(s, with_last=True)
        try:
            names = ["full", "month"] if month else ["full"]
            for name in names:  # a build process each, as the command runs
                self.record_update(f"e-{name}", name, None)
            for name in names:  # in a warm krx-short serve
                with self.server(name) as pid:
                    if pid:
                        self.record_update(f"e-{name}-serve", name, pid)
        finally:
            set_state(s, with_last=False)

    def record_update(self, key: str, warehouse: str, server: int | None) -> None:
        """Build the last session into a warehouse (through ``server``, if given) and record
        the figures, with the build's Dagster timeline and its dbt ops' profile."""
        measured = self.build(
            warehouse, self.sample.last, self.sample.last, key.replace("-", "_"), server
        )
        missing = self.figures.get("d", {}).get("incomplete_pipeline")
        timeline = dagster_timeline(measured)
        profile = dbt_profile(self.runs / warehouse)
        self.record(key, measured, incomplete_pipeline=missing, **timeline, **profile)

    def run_f(self) -> None:
        db = self.runs / "full" / "krx_short.duckdb"
        if self.figures.get("d", {}).get("incomplete_pipeline") or not db.exists():
            self.notes.append("(f): skipped: the full warehouse has no marts")
            return
        # the latest session the warehouse holds: D after (e), the session before it otherwise
        measured = self.measure(
            "queries", {"db": str(db), "day": str(self.sample.last), "repeat": self.args.repeat}
        )
        self.record("f", measured)

    # -- report -----------------------------------------------------------------------------

    def ratios(self) -> dict[str, float]:
        total = {k: v.get("total_s") for k, v in self.figures.items()}
        ratios = {}
        if total.get("a") and total.get("b") and not self.figures["a"].get("skipped"):
            ratios["a/b"] = total["a"] / total["b"]
        if total.get("a") and total.get("b'") and not self.figures["a"].get("skipped"):
            ratios["a/b'"] = total["a"] / total["b'"]
        if total.get("a") and total.get("c") and not self.figures["a"].get("skipped"):
            ratios["c/a"] = total["c"] / total["a"]
        if total.get("a-raw") and total.get("b"):
            ratios["a-raw/b"] = total["a-raw"] / total["b"]
        if total.get("a-raw") and total.get("c"):
            ratios["c/a-raw"] = total["c"] / total["a-raw"]
        for suffix in ("", "-serve"):
            full, month = self.figures.get(f"e-full{suffix}"), self.figures.get(f"e-month{suffix}")
            if full and month and month["wall_s"]:
                ratios[f"e-full/e-month{suffix}"] = full["wall_s"] / month["wall_s"]
        return ratios

    def targets(self, ratios: dict[str, float]) -> list[dict]:
        f = self.figures
        rows = []

        def target(name: str, value, limit: str, ok, skip: str | None = None) -> None:
            status = "SKIP" if skip or value is None else ("PASS" if ok else "FAIL")
            rows.append({"target": name, "value": value, "limit": limit, "status": status})
            if skip:
                rows[-1]["why"] = skip

        incomplete = "pipeline incomplete" if f.get("d", {}).get("incomplete_pipeline") else None
        a_over_b, c_over_a = ratios.get("a/b'"), ratios.get("c/a")
        raw_over_b = ratios.get("a-raw/b")
        target("(a)/(b')", a_over_b, "<= 1.5", a_over_b is not None and a_over_b <= 1.5)
        target("(a-raw)/(b)", raw_over_b, "<= 1.5", raw_over_b is not None and raw_over_b <= 1.5)
        target("(c)/(a)", c_over_a, ">= 3", c_over_a is not None and c_over_a >= 3)
        d = f.get("d")
        if d:
            ok = d["returncode"] == 0
            target("(d) wall s", d["wall_s"], "< 180", ok and d["wall_s"] < 180, incomplete)
            rss = d["peak_rss_mb"]
            target("(d) peak RSS MB", rss, "< 4096", ok and rss < 4096, incomplete)
        for suffix, how in (("", "build process"), ("-serve", "krx-short serve")):
            full, month = f.get(f"e-full{suffix}"), f.get(f"e-month{suffix}")
            if full:
                wall = full["wall_s"]
                ok = full["returncode"] == 0 and wall < 15
                target(f"(e) wall s, {how}", wall, "< 15", ok, incomplete)
            if full and month:
                ratio = ratios.get(f"e-full/e-month{suffix}")
                ok = ratio is not None and ratio <= 1.5
                target(f"(e) full/month, {how}", ratio, "<= 1.5", ok, incomplete)
        q = f.get("f")
        for name in QUERIES:
            value = q.get(name, {}).get("median_ms") if q else None
            target(f"(f) {name} median ms", value, "< 100", value is not None and value < 100)
        return rows

    def report(self) -> dict:
        ratios = self.ratios()
        targets = self.targets(ratios)
        out = {
            "label": self.args.label,
            "when": dt.datetime.now().isoformat(timespec="seconds"),
            "machine": machine(),
            "code_root": str(self.code_root),
            "scale": self.sample.scale,
            "sample": {k: str(v) for k, v in asdict(self.sample).items()},
            "load_workers": os.environ.get("KRX_LOAD_WORKERS", "default"),
            "figures": self.figures,
            "ratios": ratios,
            "targets": targets,
            "notes": self.notes,
        }
        if self.sample.scale != "full":
            self.notes.append("the targets are set for --scale full")
        print_report(out)
        return out


#: The slowest dbt nodes of each op that (e)'s profile lists.
SLOWEST_NODES = 5


def dbt_profile(folder: Path) -> dict:
    """What dbt itself spent in each op of the last build of the warehouse in ``folder``: its
    elapsed time and slowest nodes (``run_results.json`` of each op's target folder), and the
    nodes' summed time."""
    ops = {}
    for results in sorted(folder.glob("dbt-target/*/krx_dbt_*/run_results.json")):
        data = json.loads(results.read_text())
        nodes = sorted(data["results"], key=lambda r: r["execution_time"], reverse=True)
        ops[results.parent.name] = {
            "elapsed_s": round(data["elapsed_time"], 2),
            "nodes": len(nodes),
            "node_time_s": round(sum(r["execution_time"] for r in nodes), 2),
            "slowest": {
                r["unique_id"].split(".", 2)[-1]: round(r["execution_time"], 2)
                for r in nodes[:SLOWEST_NODES]
            },
        }
    return {"dbt_ops": ops} if ops else {}


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def machine() -> dict:
    model = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
            "",
        )
    except OSError:
        pass
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    versions = {}
    for package in ("duckdb", "polars", "pandera", "pandas", "pyarrow", "orjson", "dbt-core"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    for package in ("dbt-duckdb", "dagster"):
        versions[package] = metadata.version(package)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "versions": versions,
        "load_average": os.getloadavg(),
    }


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_report(out: dict) -> None:
    m = out["machine"]
    print()
    print(f"krx-short benchmarks ({out['scale']} scale) on {m['cpu']}, {m['cores']} cores, ")
    print(f"{m['memory_gib']} GiB, Python {m['python']}, " + _versions(m["versions"]))
    sample = out["sample"]
    print(f"sample {sample['start']} .. {sample['last']} (backfill to {sample['previous']})")
    print()
    print(f"{'measurement':<16}{'time s':>10}{'wall s':>10}{'peak RSS MB':>13}  notes")
    for key, figure in out["figures"].items():
        time_s = figure.get("total_s")
        notes = _figure_notes(key, figure)
        print(
            f"{key:<16}{_fmt(time_s):>10}{_fmt(figure.get('wall_s')):>10}"
            f"{_fmt(figure.get('peak_rss_mb')):>13}  {notes}"
        )
    if "f" in out["figures"]:
        for name in QUERIES:
            q = out["figures"]["f"].get(name)
            if q:
                print(
                    f"  (f) {name}: median {q['median_ms']:.1f} ms, first {q['first_ms']:.1f} ms,"
                    f" {q['rows']} rows ({q.get('day', '?')})"
                )
    for key in ("e-full", "e-month", "e-full-serve", "e-month-serve"):
        figure = out["figures"].get(key)
        if figure and figure.get("steps_s"):
            steps = ", ".join(f"{s} {v:.0f}" for s, v in figure["steps_s"].items())
            print(f"  ({key}) steps s: {steps}")
            for op, profile in figure.get("dbt_ops", {}).items():
                print(
                    f"  ({key}) {op}: dbt {profile['elapsed_s']:.1f} s, {profile['nodes']} nodes"
                    f" ({profile['node_time_s']:.1f} s), slowest {profile['slowest']}"
                )
    print()
    for name, value in out["ratios"].items():
        print(f"ratio {name:<16} {value:6.2f}")
    print()
    for row in out["targets"]:
        why = f"  ({row['why']})" if row.get("why") else ""
        value = _fmt(row["value"])
        print(f"{row['status']:<5} {row['target']:<28} {value:>10} {row['limit']}{why}")
    for note in out["notes"]:
        print(f"note: {note}")


def _versions(versions: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in versions.items() if v)


def _figure_notes(key: str, figure: dict) -> str:
    parts = []
    for name in ("raw_s", "dbt_s"):
        if name in figure:
            parts.append(f"{name[:-2]} {figure[name]:.1f} s")
    labels = {
        "before_run_start_s": "until RUN_START",
        "raw_steps_s": "raw steps",
        "dbt_steps_s": "dbt steps",
        "export_steps_s": "export",
        "event_overhead_s": "of which per-partition events",
    }
    for name, label in labels.items():
        if name in figure:
            parts.append(f"{label} {figure[name]:.0f} s")
    for name in ("balance_rows", "fact_rows", "market_rows"):
        if name in figure:
            parts.append(f"{name} {figure[name]:,}")
    if figure.get("incomplete_pipeline"):
        parts.append("job lacks " + ", ".join(figure["incomplete_pipeline"]))
    if figure.get("returncode"):
        parts.append(f"exit {figure['returncode']}")
    if figure.get("skipped"):
        parts.append(figure["skipped"])
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        raise SystemExit(f"unknown measurements: {', '.join(sorted(unknown))}")
    bench = Bench(args)
    started = time.perf_counter()
    if prepare(bench.sample):
        print(f"sample ready in {time.perf_counter() - started:.0f} s")
    set_state(bench.sample, with_last=False)
    read_started = time.perf_counter()
    megabytes = read_through(bench.sample) / 1e6
    seconds = time.perf_counter() - read_started
    print(f"landing files read once in {seconds:.0f} s ({megabytes:,.0f} MB)")
    # every run starts from empty warehouses, except the backfill's that (e) and (f) reuse
    # when (d) is not among the measurements
    kept = set() if "d" in only else {"full"}
    for path in bench.runs.glob("*"):
        if path.name not in kept:
            shutil.rmtree(path, ignore_errors=True)
    bench.runs.mkdir(parents=True, exist_ok=True)
    try:
        for name in ALL:
            if name in only:
                print(f"measuring ({name}) ...", flush=True)
                getattr(bench, "run_b_rules" if name == "b'" else f"run_{name}")()
        out = bench.report()
        if args.json:
            args.json.write_text(json.dumps(out, indent=2, default=str))
            print(f"figures written to {args.json}")
    finally:
        if not args.keep:
            shutil.rmtree(bench.sample.root, ignore_errors=True)
    print(f"benchmark run took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
