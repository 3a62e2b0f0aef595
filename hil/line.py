"""Serial line settings shared by both ends of the HIL link (the twin and the BMS emulator).

Modbus RTU defaults from the contract: 115200 baud, 8 data bits, even parity,
1 stop bit, unit id 1. Pseudo-terminals refuse parity on Linux, so on a
pseudo-terminal both ends fall back to no parity and say so once.

The allowed values are defined once (:data:`Parity`, :data:`StopBits`,
:data:`ByteSize`, :data:`BaudRate`, :data:`UnitId`) and used by the device
file's ``[line]`` table (:class:`LineConfig`) and by the line flags of
``twin hil`` and ``twin bms-emulator`` (:func:`add_line_arguments`,
:func:`line_flags`), whose errors read as every input error of the twin
(:func:`twin.validation.format_validation_error`).
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, ValidationError

from twin.config.base import StrictModel
from twin.errors import InputError
from twin.validation import format_problems, format_validation_error

__all__ = [
    "PARITIES",
    "BaudRate",
    "ByteSize",
    "LineConfig",
    "LineFlags",
    "LineSettings",
    "Parity",
    "StopBits",
    "UnitId",
    "add_line_arguments",
    "is_pty",
    "line_flags",
]

log = logging.getLogger("hil")


def _upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


# the allowed values, once
Parity = Annotated[Literal["N", "E", "O"], BeforeValidator(_upper)]  # any case
StopBits = Literal[1, 2]
ByteSize = Literal[7, 8]
BaudRate = Annotated[int, Field(gt=0)]
UnitId = Annotated[int, Field(ge=1, le=247)]
PARITIES: tuple[str, ...] = get_args(get_args(Parity)[0])
PTY_MAJORS = set(range(136, 144))  # Unix98 pty slaves (/dev/pts/N)


class LineConfig(StrictModel):
    """``[line]`` of a device file (every key optional; the contract's defaults)."""

    baudrate: BaudRate = 115200
    parity: Parity = "E"
    stopbits: StopBits = 1
    bytesize: ByteSize = 8


class LineFlags(StrictModel):
    """The line flags as given on a command line (None: not given), with the same allowed values."""

    baudrate: BaudRate | None = Field(None, alias="--baudrate")
    parity: Parity | None = Field(None, alias="--parity")
    stopbits: StopBits | None = Field(None, alias="--stopbits")
    bytesize: ByteSize | None = Field(None, alias="--bytesize")
    unit_id: UnitId | None = Field(None, alias="--unit-id")


def _number(text: str) -> int | str:
    """A flag's value: an integer when it reads as one, else the text (validation says what is wrong)."""
    try:
        return int(text)
    except ValueError:
        return text


def add_line_arguments(parser: argparse.ArgumentParser, *, defaults: bool, unit_id: bool = False) -> None:
    """``--baudrate``, ``--parity``, ``--stopbits``, ``--bytesize`` (and ``--unit-id``): with the contract's
    defaults (``defaults=True``: the emulator), or None when not given (the twin: they override its device
    file). Checked by :func:`line_flags`."""
    d = LineConfig()

    def dflt(v: Any) -> Any:
        return v if defaults else None

    def said(v: Any) -> str:
        return f"default {v}" if defaults else "default: the device file's"

    parser.add_argument(
        "--baudrate", type=_number, default=dflt(d.baudrate), metavar="N", help=f"baud rate ({said(d.baudrate)})"
    )
    parser.add_argument(
        "--parity",
        default=dflt(d.parity),
        metavar="N|E|O",
        help=f"parity, any case ({said(d.parity)}; a pseudo-terminal always gets N)",
    )
    parser.add_argument(
        "--stopbits", type=_number, default=dflt(d.stopbits), metavar="1|2", help=f"stop bits ({said(d.stopbits)})"
    )
    parser.add_argument(
        "--bytesize", type=_number, default=dflt(d.bytesize), metavar="7|8", help=f"data bits ({said(d.bytesize)})"
    )
    if unit_id:
        parser.add_argument(
            "--unit-id", type=_number, default=dflt(1), metavar="N", help=f"Modbus unit id, 1..247 ({said(1)})"
        )


def line_flags(args: argparse.Namespace, *, error: type[InputError] = InputError) -> dict[str, Any]:
    """The line flags given in ``args``, checked (field name -> value; flags not given are left out).

    Raises ``error`` (an :class:`~twin.errors.InputError`) with one line per bad flag."""
    given = {
        f"--{name.replace('_', '-')}": getattr(args, name)
        for name in LineFlags.model_fields
        if getattr(args, name, None) is not None
    }
    try:
        flags = LineFlags.model_validate(given)
    except ValidationError as exc:
        msgs = format_validation_error(exc, model=LineFlags, source="command line")
        raise error(format_problems("command line", msgs, "the line flags")) from exc
    return flags.model_dump(exclude_none=True)


@dataclass(frozen=True)
class LineSettings:
    """Where and how a port is opened (one end of the line)."""

    port: str
    baudrate: int = 115200
    bytesize: int = 8
    parity: str = "E"
    stopbits: int = 1
    unit_id: int = 1

    def for_port(self) -> LineSettings:
        """The settings to open the port with: no parity on a pseudo-terminal (logged once)."""
        if self.parity != "N" and is_pty(self.port):
            _note_pty(self.port, self.parity)
            return replace(self, parity="N")
        return self

    def describe(self) -> str:
        return f"{self.port} {self.baudrate} {self.bytesize}{self.parity}{self.stopbits}, unit {self.unit_id}"


_noted: set[str] = set()


def _note_pty(port: str, parity: str) -> None:
    if port not in _noted:
        _noted.add(port)
        log.warning("%s is a pseudo-terminal, which refuses parity: using no parity instead of %s", port, parity)


def is_pty(port: str) -> bool:
    """True when ``port`` (a path, possibly a symlink) is a pseudo-terminal. URLs (``spy://...``,
    ``loop://``) are looked at through their path part."""
    path = port
    if "://" in port:
        scheme, rest = port.split("://", 1)
        if scheme not in ("spy",):
            return False
        path = rest.split("?", 1)[0]
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISCHR(st.st_mode):
        return False
    return os.major(st.st_rdev) in PTY_MAJORS or os.path.realpath(path).startswith("/dev/pts/")
