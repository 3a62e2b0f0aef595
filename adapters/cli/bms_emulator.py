"""``twin bms-emulator --port PORT``: a software BMS serving the HIL contract on a serial port (hil/emulator)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "cmd_bms_emulator"]


def add_parser(sub: Any) -> None:
    from hil import emulator

    e = sub.add_parser("bms-emulator", help="a software BMS serving the HIL contract on a serial port")
    emulator.add_arguments(e)
    e.set_defaults(func=cmd_bms_emulator)


def cmd_bms_emulator(args: argparse.Namespace) -> int:
    from hil import emulator

    return emulator.main(args)
