"""Serial line settings shared by both ends of the HIL link (the twin and the BMS emulator).

Modbus RTU defaults from the contract: 115200 baud, 8 data bits, even parity,
1 stop bit, unit id 1. Pseudo-terminals refuse parity on Linux, so on a
pseudo-terminal both ends fall back to no parity and say so once.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, replace

log = logging.getLogger("hil")

PARITIES = ("N", "E", "O")
PTY_MAJORS = set(range(136, 144))  # Unix98 pty slaves (/dev/pts/N)


@dataclass(frozen=True)
class LineSettings:
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
