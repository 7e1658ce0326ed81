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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "start", None) and args.end < args.start:
        build_parser().error("--end is before --start")
    settings.export_environment()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
