"""``twin report RUN_DIR [--out FILE]``: write ``report.html`` for a results folder (docs/results.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from adapters.cli.common import EXIT_OK

__all__ = ["add_parser", "cmd_report"]


def add_parser(sub: Any) -> None:
    r = sub.add_parser("report", help="write report.html, one offline page about a run, from its results folder")
    r.add_argument("run_dir", metavar="RUN_DIR", help="a results folder written by twin run, twin hil or twin replay")
    r.add_argument("--out", metavar="FILE", help="where to write the page (default: RUN_DIR/report.html)")
    r.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from adapters.io.run_report import write_run_report  # matplotlib and pyarrow once the command is known

    path = write_run_report(Path(args.run_dir), Path(args.out) if args.out else None)
    print(f"report: {path.resolve()}")
    return EXIT_OK
