"""``twin bms-emulator``: its flags, their checks and the serving loop (``adapters/cli/bms_emulator.py`` wires it in).

The line flags are :mod:`hil.line`'s (``--baudrate``, ``--parity``,
``--stopbits``, ``--bytesize``, ``--unit-id``, with the contract's defaults
115200 8E1, unit 1), checked as ``twin hil`` checks its own. Exit status: 0
when stopped (duration over, Ctrl-C, SIGTERM), 2 with a one-line message on
bad input (config, fault syntax, flags, a port that cannot be opened), 1 if
the server died while serving.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hil.emulator.config import EmulatorConfig
from hil.emulator.faults import FAULT_KINDS, FaultSpec
from hil.emulator.server import BmsEmulator
from hil.line import LineSettings, add_line_arguments, line_flags
from hil.ptypair import PtyPair
from hil.sunspec_map import NCELL_MAX
from twin.errors import EmulatorConfigError, TwinError

__all__ = ["add_arguments", "main"]

log = logging.getLogger("hil.emulator")

MAX_UNITS = 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``twin bms-emulator``."""
    parser.add_argument("--port", help="serial port to serve on (the BMS's side of the line); required unless --pty")
    parser.add_argument(
        "--pty",
        metavar="LINK",
        help="make a virtual line: serve on one end of a pseudo-terminal "
        "pair and make the other end available as a symlink at LINK",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file of emulator settings and [[faults]]")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND@AT[:DURATION][=VALUE]",
        help=f"fault to inject (repeatable), e.g. silent@20:5, soc_bias@0=3; kinds: "
        f"{', '.join(FAULT_KINDS)}; times on the emulator clock, s",
    )
    add_line_arguments(parser, defaults=True, unit_id=True)
    parser.add_argument(
        "--units",
        type=int,
        default=1,
        metavar="N",
        help="N BMSs on the one line (a shared RS-485 bus): unit ids from --unit-id on, serial "
        "numbers <serial number>-0, -1, ... (default 1)",
    )
    parser.add_argument("--serial-number", help="model 1 SN (the pack id)")
    parser.add_argument("--ncell", type=int, help=f"number of cells in model 64950 (0..{NCELL_MAX})")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S wall seconds (default: Ctrl-C)")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")


def _build(args: argparse.Namespace) -> tuple[EmulatorConfig, dict[str, Any]]:
    """The config (file, flags, --fault) and the checked line flags; raises EmulatorConfigError."""
    faults = [FaultSpec.parse(t) for t in (args.fault or [])]
    overrides = {"serial_number": args.serial_number, "ncell": args.ncell}
    if args.config:
        config = EmulatorConfig.from_toml(args.config, overrides=overrides, extra_faults=faults)
    else:
        config = EmulatorConfig.from_dict({}, source="arguments", overrides=overrides, extra_faults=faults)
    line = line_flags(args, error=EmulatorConfigError)
    if args.duration is not None and args.duration <= 0:
        raise EmulatorConfigError(f"--duration {args.duration}: must be > 0 seconds")
    if args.port and args.pty:
        raise EmulatorConfigError("give either --port PORT or --pty LINK, not both")
    if not args.port and not args.pty:
        raise EmulatorConfigError("give --port PORT (the BMS's side of a serial line) or --pty LINK (a virtual line)")
    unit_id = line["unit_id"]
    if not 1 <= args.units <= MAX_UNITS or unit_id + args.units - 1 > 247:
        raise EmulatorConfigError(
            f"--units {args.units}: 1..{MAX_UNITS} BMSs with unit ids up to 247 (from --unit-id {unit_id})"
        )
    if args.pty:
        link = Path(args.pty)
        if link.exists() and not link.is_symlink():
            raise EmulatorConfigError(f"--pty {link}: a file is already there (not a symlink); choose another path")
        if not link.parent.is_dir():
            raise EmulatorConfigError(f"--pty {link}: directory {link.parent} does not exist")
    return config, line


class _StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stderr`` is at the time of the record (it may be replaced after set-up)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _setup_logging(quiet: bool) -> Callable[[], None]:
    """Log the ``hil`` loggers to stderr for the CLI; returns the undo (main is also called in-process)."""
    lg = logging.getLogger("hil")
    h = _StderrHandler()
    h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
    old_level = lg.level
    lg.addHandler(h)
    lg.setLevel(logging.WARNING if quiet else logging.INFO)

    def undo() -> None:
        lg.removeHandler(h)
        lg.setLevel(old_level)

    return undo


def _sigterm_as_interrupt() -> Callable[[], None]:
    """SIGTERM (a test harness or a service manager stopping us) stops as cleanly as Ctrl-C does.
    Only the main thread may set handlers; elsewhere (main called in a thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)

    def restore() -> None:
        signal.signal(signal.SIGTERM, old)

    return restore


def _report(emulator: BmsEmulator) -> None:
    for lg in emulator.logics.values():
        c = lg.counters
        print(
            f"bms-emulator {lg.config.serial_number} (unit {lg.unit_id}): {c['requests']} requests, "
            f"{c['answers']} answered, {c['steps']} steps, {c['faults_applied']} faults applied, "
            f"final State {lg.state_name}",
            flush=True,
        )


def main(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """``twin bms-emulator``: 0 when stopped (duration over, Ctrl-C), 2 with a one-line message on bad input
    (config, fault syntax, flags, a port that cannot be opened), 1 if the server died while serving."""
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(
            prog="twin bms-emulator",
            description="software BMS on a serial line (SunSpec models 1, 802, 64950 over Modbus RTU)",
        )
        add_arguments(parser)
        args = parser.parse_args(args)
    undo_logging = _setup_logging(args.quiet)
    pair: PtyPair | None = None
    try:
        config, line = _build(args)
        if args.pty:
            pair = PtyPair(link_a=Path(args.pty)).start()
        settings = LineSettings(port=pair.b if pair is not None else args.port, **line)
        emulator = BmsEmulator(settings, config, n_units=args.units)
        emulator.start()
        if pair is not None:
            print(f"twin side of the line: {args.pty}", flush=True)
            print(f"  (run: twin hil SCENARIO --port {args.pty})", flush=True)
        if config.faults:
            log.info("fault plan (%s clock): %s", config.clock, ", ".join(f.describe() for f in config.faults))
        restore_sigterm = _sigterm_as_interrupt()
        try:
            emulator.serve_forever(duration_s=args.duration)
        finally:
            restore_sigterm()
        if not args.quiet:
            _report(emulator)
        return 0
    except TwinError as exc:  # bad input: 2; the server could not start or died: 1
        print(f"twin bms-emulator: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 0
    finally:
        if pair is not None:
            pair.close()
        undo_logging()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
