"""What the subcommands share: exit statuses, the parser class, the results-folder and progress flags, the ending."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from twin.errors import InputError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Parser",
    "add_output_arguments",
    "parse_address",
    "finish",
    "out_dir",
    "progress_wanted",
    "write_report",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # argparse exits 2 already; keep it short
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_output_arguments(p: argparse.ArgumentParser, out_help: str) -> None:
    """``--out`` and ``--progress``/``--no-progress``: every subcommand that writes a results folder."""
    p.add_argument("--out", help=out_help)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None, help="progress bar on stderr")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def progress_wanted(args: argparse.Namespace) -> bool:
    """The progress bar: the flag if given, else only on a terminal."""
    return sys.stderr.isatty() if args.progress is None else bool(args.progress)


def out_dir(args: argparse.Namespace) -> Path:
    """The results folder: flag, then $TWIN_OUT, then results/<stem>; refused early if not writable."""
    if args.out:
        out = Path(args.out)
    elif os.environ.get("TWIN_OUT"):
        out = Path(os.environ["TWIN_OUT"]) / Path(args.scenario).stem
    else:
        out = Path("results") / Path(args.scenario).stem
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".twin-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"cannot write results to {out}: {exc.strerror or exc}; choose another --out") from exc
    return out


def finish(res: Any) -> int:
    """Where the results are, ``report.html`` written into them, and the exit status of a run (`twin run` and
    `twin hil`). A report that cannot be written is a warning on stderr: the run's results and exit status
    stay as they are."""
    print(f"results: {res.out_dir.resolve()}")
    write_report(Path(res.out_dir))
    if res.status == "failed":
        print(f"twin: run failed: {res.summary['error']}", file=sys.stderr)
        return EXIT_FAILED
    if res.status == "interrupted":
        print("twin: interrupted; results up to the interruption are written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def write_report(out: Path) -> Path | None:
    """``report.html`` in the results folder ``out``, its path printed; on any error a warning on stderr, no
    report.html (one left by an earlier run in the folder is removed: it would describe that run) and ``None``."""
    try:
        from adapters.io.run_report import write_run_report

        path = write_run_report(out)
    except Exception as exc:  # the run is done and written: a broken report must not change how it ended
        with contextlib.suppress(OSError):
            (out / "report.html").unlink(missing_ok=True)
        print(f"twin: report.html not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    print(f"report: {path.resolve()}")
    return path


def parse_address(text: str, flag: str, *, default_host: str | None = None) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT`` alone with ``default_host``) from a flag; an :class:`InputError` naming the
    flag otherwise. Port 0 (a free port) only where a host is optional (a server's address)."""
    host, sep, port = text.rpartition(":")
    host = host if sep else ""
    try:
        p = int(port)
    except ValueError:
        p = -1
    lowest = 0 if default_host is not None else 1
    if not lowest <= p <= 65535 or not (host or default_host):
        form = "[HOST:]PORT" if default_host is not None else "HOST:PORT"
        raise InputError(f"{flag}: expected {form} (e.g. 127.0.0.1:5020), got {text!r}")
    return host or str(default_host), p
