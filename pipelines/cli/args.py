"""The command line's arguments: subcommands, dates, and the checks argparse cannot express."""

from __future__ import annotations

import argparse
import datetime as dt


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_date, required=True, help="last day, YYYY-MM-DD")


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose", action="store_true", help="print Dagster's and dbt's logs as well"
    )


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
        "--strict",
        action="store_true",
        help="exit non-zero when the range has gaps (missing landing files, stale data)",
    )
    _add_verbose(build)
    build.add_argument(
        "--here",
        action="store_true",
        help="build in this process even when krx-short serve runs for the warehouse",
    )

    sub.add_parser(
        "serve",
        help="stay running and take the builds of krx-short build, warm (Ctrl-C stops)",
    )

    sample = sub.add_parser("sample", help="write a synthetic landing zone")
    _add_range(sample)
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--scale", choices=("demo", "full"), default="demo")

    fetch = sub.add_parser("fetch", help="download real KRX and ECOS files into the landing zone")
    _add_range(fetch)
    fetch.add_argument("--datasets", help="comma-separated dataset names (default: all)")
    fetch.add_argument("--refresh", action="store_true", help="download files already present")

    export = sub.add_parser("export", help="rewrite the Parquet exports")
    export.add_argument(
        "--start",
        type=_date,
        help="only rewrite the months from here (in the tables exported by month)",
    )
    export.add_argument("--end", type=_date, help="... to here")

    demo = sub.add_parser("demo", help="sample + build + export + summary")
    demo.add_argument("--start", type=_date, default=dt.date(2020, 1, 2))
    demo.add_argument("--end", type=_date, help="default: the latest session")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", choices=("demo", "full"), default="demo")
    _add_verbose(demo)

    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line; a mistake exits with argparse's one-line message (code 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if args.command == "export" and (start is None) != (end is None):
        parser.error("export takes both --start and --end, or neither")
    if start and end and end < start:
        parser.error("--end is before --start")
    return args
