"""``krx-short``: the command line over the same Dagster definitions the UI runs."""

from __future__ import annotations

import argparse
import sys

from pipelines import settings
from pipelines.cli import preflight
from pipelines.cli.args import parse_args


def cmd_serve(args: argparse.Namespace) -> int:
    from pipelines.cli.serve import serve

    preflight.landing_root()
    return serve()


def cmd_build(args: argparse.Namespace) -> int:
    from pipelines.calendar import today_kst
    from pipelines.cli.build import run_build
    from pipelines.cli.summary import run_report

    preflight.landing_root()
    first, last = preflight.session_range(args.start, args.end, today_kst())
    outcome = run_build(first, last, verbose=args.verbose)
    code = outcome.exit_code(strict=args.strict)
    print(run_report(outcome, first, last, code, strict=args.strict))
    return code


def cmd_sample(args: argparse.Namespace) -> int:
    from pipelines.sample.generator import generate

    root = settings.landing_dir()
    truth = generate(root, args.start, args.end, seed=args.seed, scale=args.scale)
    print(
        f"sample landing zone ({args.scale}, seed {args.seed}): {len(truth.sessions)} sessions "
        f"written to {root}"
    )
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from pipelines.fetch.plan import select_datasets
    from pipelines.fetch.runner import fetch

    try:
        select_datasets(args.datasets)
    except ValueError as exc:
        raise preflight.UsageError(f"{exc}; pass --datasets with names from that list") from None
    report = fetch(args.start, args.end, args.datasets, refresh=args.refresh)
    print(report.summary())
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.calendar import Window
    from pipelines.exports import export_marts
    from pipelines.warehouse import connect

    window = Window.inclusive(args.start, args.end) if args.start and args.end else None
    with connect(preflight.warehouse_file(), read_only=True) as con:
        exports = export_marts(con, settings.export_dir(), window)
    for name, table in exports.items():
        print(f"{name:<28} {table.rows:>12,} rows  {table.path}")
    print(f"manifest: {settings.export_dir() / 'manifest.json'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.calendar import last_session_on_or_before, today_kst
    from pipelines.cli.build import run_build
    from pipelines.cli.summary import calibration, run_report, summary
    from pipelines.sample.generator import README_NAME, generate
    from pipelines.sources.landing import discover
    from pipelines.warehouse import connect

    root = settings.landing_dir()
    if discover(root) and not (root / README_NAME).exists():
        print(
            f"{root} holds landing files that are not the sample; set KRX_LANDING_DIR to "
            "another folder for the demo",
            file=sys.stderr,
        )
        return 2
    end = args.end or last_session_on_or_before(today_kst())
    first, last = preflight.session_range(args.start, end, today_kst())
    truth = generate(root, first, last, seed=args.seed, scale=args.scale)
    print(f"sample: {len(truth.sessions)} sessions ({first} .. {last}) in {root}")
    outcome = run_build(first, last, verbose=args.verbose)
    code = outcome.exit_code()
    print(run_report(outcome, first, last, code, strict=False, totals=False))
    if code != 0:
        return code
    with connect(settings.duckdb_path(), read_only=True) as con:
        print(summary(con, settings.export_dir()))
        print(calibration(con))
    return 0


COMMANDS = {
    "build": cmd_build,
    "serve": cmd_serve,
    "sample": cmd_sample,
    "fetch": cmd_fetch,
    "export": cmd_export,
    "demo": cmd_demo,
}


def main(argv: list[str] | None = None, *, through_server: bool = True) -> int:
    """``krx-short``; a build goes to ``krx-short serve`` when one runs for the warehouse
    (unless ``--here``, or ``through_server`` is false: in the server's own child)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        try:
            settings.internals()
            settings.partitions_start()
        except ValueError as exc:  # a mistake in the environment
            raise preflight.UsageError(str(exc)) from None
        settings.export_paths()
        if args.command == "build" and through_server and not args.here:
            from pipelines.cli.serve import build_through_server

            code = build_through_server(argv)
            if code is not None:
                return code
        return COMMANDS[args.command](args)
    except preflight.UsageError as exc:  # one line, no traceback
        print(f"krx-short: error: {exc}", file=sys.stderr)
        return 2
