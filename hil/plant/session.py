"""Controller sessions: every Modbus request and answer between the twin's plant and a controller, on file.

A session is gzip-compressed JSON lines. The first line is the header (``format``, ``version``, ``mode``,
``step_s``, ``owns``, ``devices``, ``scenario``, ``started_utc``); each further line is one transaction::

    [k, wall_s, unit, fc, addr, count, exception, data, phase]

``k`` is the StepCnt the plant showed when the request arrived (0: before the first step, discovery),
``wall_s`` seconds since the header's start, ``fc`` the function code, ``exception`` 0 or the code
answered, ``data`` the registers written (codes 6, 16) or the CRC-32 of the registers answered (3, 4; the
values are the twin's own, so a replay recomputes them and compares the CRC), ``phase`` 0 before the
twin took the setpoints of step ``k`` (lockstep: before ``CycDone`` = ``k`` was acted on), 1 after (those
writes act one exchange later). A replay
(:class:`hil.plant.link.ReplayControllerLink`) applies the writes of step ``k`` where they came and checks
every read's answer.
"""

from __future__ import annotations

import collections
import gzip
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.plant.server import Transaction
from twin.config import EXTERNAL_GROUPS
from twin.errors import SessionError

__all__ = ["FORMAT", "ControllerSession", "ControllerSessionRecorder", "regs_crc"]

FORMAT, VERSION = "twin-controller-session", 1


def regs_crc(regs: tuple[int, ...] | list[int]) -> int:
    """CRC-32 of registers as big-endian 16-bit words."""
    return zlib.crc32(struct.pack(f">{len(regs)}H", *regs))


class ControllerSessionRecorder:
    """Writes a session; :meth:`add` is called from the server's thread, :meth:`flush` from the twin's."""

    def __init__(self, path: Path, header: dict[str, Any], t0_wall_s: float) -> None:
        self.path = path
        self.t0 = t0_wall_s
        self._f = gzip.open(path, "wt", encoding="utf-8", compresslevel=5)
        self._f.write(json.dumps({"format": FORMAT, "version": VERSION, **header}) + "\n")
        self._buf: collections.deque[str] = collections.deque()  # append and popleft are thread-safe
        self.n = 0

    def add(self, k: int, tx: Transaction, phase: int = 0) -> None:
        data: Any = list(tx.written) if tx.function_code in (6, 16) else regs_crc(tx.answered) if tx.answered else 0
        row = [k, round(tx.wall_s - self.t0, 6), tx.unit_id, tx.function_code, tx.addr, tx.count, tx.exception, data]
        self._buf.append(json.dumps([*row, phase], separators=(",", ":")))

    def flush(self) -> None:
        out: list[str] = []
        while self._buf:
            out.append(self._buf.popleft())
        if out:
            self._f.write("\n".join(out) + "\n")
            self.n += len(out)

    def close(self) -> None:
        self.flush()
        self._f.close()


@dataclass(frozen=True)
class Tx:
    k: int
    wall_s: float
    unit_id: int
    function_code: int
    addr: int
    count: int
    exception: int
    data: Any
    phase: int = 0


class ControllerSession:
    """A recorded session: the header and the transactions grouped by step."""

    def __init__(self, path: Path, header: dict[str, Any], by_step: dict[int, list[Tx]]) -> None:
        self.path, self.header, self.by_step = path, header, by_step

    @classmethod
    def read(cls, path: str | Path) -> ControllerSession:
        p = Path(path)
        try:
            with gzip.open(p, "rt", encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise SessionError(f"{p}: cannot read the controller session ({exc})") from exc
        if not lines:
            raise SessionError(f"{p}: empty file, expected a controller session")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError as exc:
            raise SessionError(f"{p}:1: the header is not JSON ({exc})") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            got = header.get("format") if isinstance(header, dict) else type(header).__name__
            raise SessionError(
                f"{p}:1: format {got!r}, expected {FORMAT!r} (the controller_session.jsonl.gz of a "
                "`twin run --external` results folder)"
            )
        if header.get("version") != VERSION:
            raise SessionError(f"{p}:1: version {header.get('version')!r}, this twin reads version {VERSION}")
        owns, mode = header.get("owns"), header.get("mode")
        if not isinstance(owns, list) or not owns or not set(owns) <= set(EXTERNAL_GROUPS):
            raise SessionError(f"{p}:1: owns = {owns!r}, expected a non-empty list of {', '.join(EXTERNAL_GROUPS)}")
        if mode not in ("lockstep", "realtime"):
            raise SessionError(f"{p}:1: mode = {mode!r}, expected 'lockstep' or 'realtime'")
        by_step: dict[int, list[Tx]] = {}
        for i, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, list) or len(row) not in (8, 9):
                    raise ValueError("not a list of 8 or 9 items")
                k, unit, fc, addr, count, code = (int(row[j]) for j in (0, 2, 3, 4, 5, 6))
                tx = Tx(k, float(row[1]), unit, fc, addr, count, code, row[7], int(row[8]) if len(row) > 8 else 0)
                if tx.function_code in (6, 16) and not (
                    isinstance(tx.data, list) and all(isinstance(v, int) and 0 <= v <= 0xFFFF for v in tx.data)
                ):
                    raise ValueError("a write's data is not a list of registers")
            except (json.JSONDecodeError, ValueError, TypeError) as exc:
                raise SessionError(
                    f"{p}:{i}: expected [k, wall_s, unit, fc, addr, count, exception, data, phase] ({exc}), "
                    f"got {line[:80]!r}"
                ) from exc
            by_step.setdefault(tx.k, []).append(tx)
        return cls(p, header, by_step)
