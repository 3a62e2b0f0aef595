"""The ``twin`` command line: thin on purpose (parse, validate, build, run, report).

    twin validate SCENARIO          check a scenario file; exit 2 on problems
    twin run SCENARIO [--out DIR]   run it and write the results folder
    twin hil SCENARIO --port PORT   run it with packs handed to BMSs on a serial line (or --replay SESSION)
    twin bms-emulator --port PORT   a software BMS serving the HIL contract on a serial port
    twin replay SCENARIO            drive the twin with recorded field data and score it against the telemetry
    twin controller --connect H:P   the reference controller outside the process, on the plant's Modbus TCP devices
    twin report RUN_DIR             write report.html (one offline page about the run) from a results folder
    twin influx-flush RUN_DIR       send a run's spooled InfluxDB points (--all: the whole run from its results)

One module per subcommand (``validate``, ``run``, ``hil``, ``bms_emulator``, ``replay``, ``controller``,
``report``, ``influx``), each with ``add_parser(sub)`` and its ``cmd_*``; ``common`` holds what they
share. Exit status: 0 done, 1 the run failed (the reason is in summary.json
and on stderr), 2 bad input (any :class:`twin.errors.InputError`: scenario
file, device file, session, arguments), 130 interrupted (Ctrl-C; results up
to the interruption are written).
"""

from __future__ import annotations

import argparse
import sys

from adapters.cli import bms_emulator, controller, hil, influx, replay, report, run, validate
from adapters.cli.common import EXIT_INTERRUPTED, Parser
from twin.errors import TwinError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="twin", description="Digital twin of an off-grid AI-data-center microgrid (mosaik + pandapower).")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    for mod in (validate, run, hil, bms_emulator, replay, controller, report, influx):
        mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TwinError as exc:  # input errors exit 2, a run or HIL error that escaped the run exits 1
        print(f"twin: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("twin: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
