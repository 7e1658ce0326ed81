"""``krx-short``: the command line over the same Dagster definitions the UI runs."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from pipelines import settings


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_date, required=True, help="last day, YYYY-MM-DD")


def cmd_build(args: argparse.Namespace) -> int:
    from pipelines.build import run_build

    outcome = run_build(args.start, args.end)
    for line in outcome.warnings:
        print(f"gap: {line}")
    for line in outcome.failed_checks:
        print(f"FAILED check {line}", file=sys.stderr)
    for line in outcome.failed_steps:
        print(f"FAILED asset {line}", file=sys.stderr)
    code = outcome.exit_code(strict=args.strict)
    print(
        f"build {args.start}..{args.end}: {'ok' if code == 0 else 'failed'} (run {outcome.run_id})"
    )
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
    from pipelines.fetch.runner import fetch

    report = fetch(args.start, args.end, args.datasets, refresh=args.refresh)
    print(report.summary())
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.exports import export_marts
    from pipelines.resources import connect

    window = None
    if args.start and args.end:
        window = (args.start, args.end + dt.timedelta(days=1))
    with connect(settings.duckdb_path(), read_only=True) as con:
        exports = export_marts(con, settings.export_dir(), window)
    for name, table in exports.items():
        print(f"{name:<28} {table.rows:>12,} rows  {table.path}")
    print(f"manifest: {settings.export_dir() / 'manifest.json'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.build import run_build
    from pipelines.calendar import last_session_on_or_before
    from pipelines.resources import connect
    from pipelines.sample.generator import README_NAME, generate
    from pipelines.sources.landing import discover
    from pipelines.summary import summary

    root = settings.landing_dir()
    if discover(root) and not (root / README_NAME).exists():
        print(
            f"{root} holds landing files that are not the sample; set KRX_LANDING_DIR to "
            "another folder for the demo",
            file=sys.stderr,
        )
        return 2
    end = args.end or last_session_on_or_before(dt.date.today())
    truth = generate(root, args.start, end, seed=args.seed, scale=args.scale)
    print(f"sample: {len(truth.sessions)} sessions ({args.start} .. {end}) in {root}")
    outcome = run_build(args.start, end)
    for line in outcome.failed_checks + outcome.failed_steps:
        print(f"FAILED {line}", file=sys.stderr)
    if outcome.exit_code() != 0:
        return 1
    with connect(settings.duckdb_path(), read_only=True) as con:
        print(summary(con, settings.export_dir()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="krx-short",
        description="Korean short-selling warehouse. Paths come from KRX_LANDING_DIR, "
        "KRX_DUCKDB_PATH and KRX_EXPORT_DIR.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="materialise every asset for the sessions in a range")
    _add_range(build)
    build.add_argument(
        "--strict", action="store_true", help="exit non-zero when landing files are missing"
    )
    build.set_defaults(func=cmd_build)

    sample = sub.add_parser("sample", help="write a synthetic landing zone")
    _add_range(sample)
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--scale", choices=("demo", "full"), default="demo")
    sample.set_defaults(func=cmd_sample)

    fetch = sub.add_parser("fetch", help="download real KRX and ECOS files into the landing zone")
    _add_range(fetch)
    fetch.add_argument("--datasets", help="comma-separated dataset names (default: all)")
    fetch.add_argument("--refresh", action="store_true", help="download files already present")
    fetch.set_defaults(func=cmd_fetch)

    export = sub.add_parser("export", help="rewrite the Parquet exports")
    export.add_argument("--start", type=_date, help="only rewrite the facts' months from here")
    export.add_argument("--end", type=_date, help="... to here")
    export.set_defaults(func=cmd_export)

    demo = sub.add_parser("demo", help="sample + build + export + summary")
    demo.add_argument("--start", type=_date, default=dt.date(2020, 1, 2))
    demo.add_argument("--end", type=_date, help="default: the latest session")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", choices=("demo", "full"), default="demo")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if args.command == "export" and (start is None) != (end is None):
        parser.error("export takes both --start and --end, or neither")
    if start and end and end < start:
        parser.error("--end is before --start")
    settings.export_environment()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
