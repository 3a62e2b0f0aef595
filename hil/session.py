"""Record every frame of a HIL run to a session file, and play a session back without the hardware.

A session file is JSON lines: one header, then one line per attempt (and
one per attempt the step's deadline did not allow), in the order they
happened::

    {"session": 1, "scenario": "...", "step_s": 1.0, "mode": "realtime", "packs": [{"id": 0, "unit": 1}], ...}
    {"k": 12, "t": 12.0, "w": 12.0031, "u": 1, "seq": 3, "try": 0, "op": "read", "a": 40070, "n": 64,
     "ra": 0, "v": [], "out": "ok", "tx": "01039c...", "rx": "010380...", "d": 0.0121}

``k`` is the electrical step (-1 before the first), ``t`` simulated and
``w`` wall seconds since the start, ``u`` the unit id, ``seq`` the
transaction's place in that pack's step, ``try`` the attempt, ``op``/``a``/
``n``/``ra``/``v`` the request, ``out`` the outcome (:data:`hil.link.OUTCOMES`),
``tx``/``rx`` the bytes on the wire in hex, ``d`` the attempt's duration.

Replay (:class:`hil.link.ReplayLink`) hands the twin, for each request it makes, the
next recorded attempt of the same pack and step; answers are decoded from
the recorded ``rx`` bytes by pymodbus's RTU framer, so a frame that failed
its CRC in the session fails it again. The twin's own requests are compared
with the recorded ones; differences are counted as divergences (a
deterministic plant replayed against the same answers has none).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hil.link import Attempt, Request
from twin.errors import SessionError

__all__ = ["SESSION_VERSION", "Session", "SessionError", "SessionRecorder"]

SESSION_VERSION = 1


class SessionRecorder:
    """Writes attempts as they happen (line-buffered: a run cut short keeps what it exchanged)."""

    def __init__(self, path: str | Path, header: dict[str, Any]):
        self.path = Path(path)
        self._f: TextIO | None = self.path.open("w", buffering=1)
        self._t0 = time.time()
        self.n_lines = 0
        self._write({"session": SESSION_VERSION, "created_unix_s": round(self._t0, 3), **header})

    def _write(self, obj: dict[str, Any]) -> None:
        if self._f is not None:
            self._f.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.n_lines += 1

    def attempt(self, k: int, t_s: float, seq: int, attempt_no: int, req: Request, att: Attempt) -> None:
        self._write(
            {
                "k": k,
                "t": round(t_s, 6),
                "w": round(att.wall_s - self._t0, 6),
                "u": req.unit,
                "seq": seq,
                "try": attempt_no,
                "op": req.op,
                "a": req.addr,
                "n": req.count,
                "ra": req.read_addr,
                "v": list(req.values),
                "out": att.outcome,
                "tx": att.tx.hex(),
                "rx": att.rx.hex(),
                "d": round(att.dur_s, 6),
            }
        )

    def note(self, k: int, t_s: float, kind: str, **info: Any) -> None:
        """A line that is not an exchange (a line event: port lost, pack out...), for a reader of the file;
        replay skips it."""
        self._write({"k": k, "t": round(t_s, 6), "w": round(time.time() - self._t0, 6), "note": kind, **info})

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


@dataclass
class Session:
    path: Path
    header: dict[str, Any]
    by_step_unit: dict[tuple[int, int], list[dict[str, Any]]] = field(default_factory=dict)
    n_attempts: int = 0

    @classmethod
    def read(cls, path: str | Path) -> Session:
        p = Path(path)
        try:
            lines = p.read_text().splitlines()
        except OSError as exc:
            raise SessionError(f"session file {p}: cannot read it: {exc.strerror or exc}") from exc
        if not lines:
            raise SessionError(f"session file {p}: empty")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError as exc:
            raise SessionError(f"session file {p}, line 1: not JSON ({exc.msg})") from exc
        if not isinstance(header, dict) or header.get("session") != SESSION_VERSION:
            raise SessionError(
                f'session file {p}, line 1: not a session header (expected "session": '
                f"{SESSION_VERSION}, got {str(lines[0])[:80]!r})"
            )
        groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        n = 0
        for no, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                if no == len(lines):  # a run killed mid-write leaves a torn last line: ignore it
                    break
                raise SessionError(f"session file {p}, line {no}: not JSON ({exc.msg})") from exc
            if "note" in rec:
                continue
            missing = [k for k in ("k", "u", "op", "a", "n", "out") if k not in rec]
            if missing:
                raise SessionError(f"session file {p}, line {no}: missing {', '.join(missing)}")
            groups[(int(rec["k"]), int(rec["u"]))].append(rec)
            n += 1
        return cls(p, header, dict(groups), n)
