"""The twin's end of the serial link: Modbus RTU exchanges with a BMS, one attempt at a time.

One small interface, :class:`Link`, with backends chosen by name
(:func:`open_link`):

- ``serial``: a real port through pyserial, by path (``/dev/ttyUSB0``) or
  pyserial URL (``spy:///dev/ttyUSB0?file=trace.txt`` for a hex trace of
  every byte, ``rfc2217://host:port``); frames, CRC and decoding by
  pymodbus's RTU client;
- ``replay`` (:class:`ReplayLink`): the answers recorded in a session file
  (read by :mod:`hil.session`), served in the order the twin asks for
  them, without hardware.

A link makes exactly one attempt per call and says whether the step's
deadline leaves time for another (a live link by the clock, a replay by
what the session recorded); retries and what a failure means for the pack
are the caller's (:mod:`hil.bms_port`). Every
attempt returns an :class:`Attempt` with its outcome and the bytes on the
wire, which the session recorder writes down. Closing is safe to call twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from hil.line import LineSettings

__all__ = ["OUTCOMES", "Attempt", "Link", "Recorded", "ReplayLink", "Request", "SerialLink", "open_link"]

OUTCOMES = ("ok", "timeout", "bad_frame", "port_error", "modbus_exception", "skipped")


@dataclass
class Request:
    """One Modbus transaction: ``read`` (FC 3), ``write`` (FC 16, FC 6 for one register) or
    ``readwrite`` (FC 23: write ``values`` at ``addr``, read ``count`` at ``read_addr``)."""

    op: str
    unit: int
    addr: int
    count: int = 0
    values: tuple[int, ...] = ()
    read_addr: int = 0

    def key(self) -> tuple:
        return (self.op, self.unit, self.addr, self.count, self.read_addr, len(self.values))


@dataclass
class Attempt:
    outcome: str  # one of OUTCOMES
    regs: list[int] | None = None  # registers read (read / readwrite)
    tx: bytes = b""
    rx: bytes = b""
    wall_s: float = 0.0  # time.time() at the start
    dur_s: float = 0.0
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Link(Protocol):
    name: str

    def open(self) -> bool: ...

    def begin_step(self, k: int) -> None: ...

    def past_deadline(self, unit: int, deadline: float) -> bool: ...

    def exchange(self, req: Request, timeout_s: float | None = None) -> Attempt: ...

    def close(self) -> None: ...

    def __enter__(self) -> Link: ...

    def __exit__(self, *exc: object) -> None: ...


class Recorded(Protocol):
    """What a replay needs of a recorded session (:class:`hil.session.Session`): its attempts by (step, unit id),
    in the order they happened."""

    by_step_unit: dict[tuple[int, int], list[dict[str, Any]]]


class SerialLink:
    """Modbus RTU over a pyserial port (path or URL), through pymodbus's sync client with no retries of
    its own: one call, one attempt, classified as ``ok``, ``timeout`` (nothing came back),
    ``bad_frame`` (bytes came back but no valid frame: CRC error, garbage), ``port_error`` (the port is
    gone or cannot be opened; the next call tries to reopen it) or ``modbus_exception``."""

    name = "serial"

    def __init__(self, settings: LineSettings, timeout_s: float):
        from pymodbus.client import ModbusSerialClient
        from pymodbus.framer import FramerType

        self.settings = settings.for_port()
        self.timeout_s = timeout_s
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we record every failure ourselves
        s = self.settings
        self._tx = bytearray()
        self._rx = b""
        self.client = ModbusSerialClient(
            port=s.port,
            framer=FramerType.RTU,
            baudrate=s.baudrate,
            bytesize=s.bytesize,
            parity=s.parity,
            stopbits=s.stopbits,
            timeout=timeout_s,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace,
        )
        self._closed = False

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self._tx += data
        else:
            self._rx = bytes(data)  # pymodbus hands the whole buffer received so far
        return data

    def open(self) -> bool:
        self._closed = False
        return bool(self.client.connect())

    def begin_step(self, k: int) -> None:
        """Nothing to do: a live line has no notion of steps."""

    def past_deadline(self, unit: int, deadline: float) -> bool:
        """No time left before ``deadline`` (``time.perf_counter``) for another attempt: under 2 ms, not even a
        short frame."""
        return time.perf_counter() > deadline - 0.002

    def exchange(self, req: Request, timeout_s: float | None = None) -> Attempt:
        """One attempt; ``timeout_s`` (at most the link's own) shortens the wait for the answer, so an
        attempt never runs past the step's deadline."""
        from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

        # pymodbus reads its answer timeout from comm_params on every wait (the client's for the bytes, its
        # transaction manager's copy for the frame)
        t = self.timeout_s if timeout_s is None else max(min(timeout_s, self.timeout_s), 0.001)
        self.client.comm_params.timeout_connect = t
        self.client.transaction.comm_params.timeout_connect = t
        self._tx = bytearray()
        self._rx = b""
        t_wall = time.time()
        t0 = time.perf_counter()
        att = Attempt("ok", wall_s=t_wall)
        c = self.client
        try:
            if not c.connected and not c.connect():
                att.outcome, att.detail = "port_error", f"cannot open {self.settings.port}"
            elif req.op == "read":
                r = c.read_holding_registers(req.addr, count=req.count, device_id=req.unit)
                att = self._result(att, r, read=True)
            elif req.op == "write":
                if len(req.values) == 1:
                    r = c.write_register(req.addr, req.values[0], device_id=req.unit)
                else:
                    r = c.write_registers(req.addr, list(req.values), device_id=req.unit)
                att = self._result(att, r, read=False)
            elif req.op == "readwrite":
                r = c.readwrite_registers(
                    read_address=req.read_addr,
                    read_count=req.count,
                    write_address=req.addr,
                    values=list(req.values),
                    device_id=req.unit,
                )
                att = self._result(att, r, read=True)
            else:
                raise ValueError(f"unknown request op {req.op!r}")
        except ConnectionException as exc:
            att.outcome, att.detail = "port_error", str(exc)
            c.close()
        except ModbusIOException as exc:
            att.outcome = "bad_frame" if self._rx else "timeout"
            att.detail = str(exc)
        except (ModbusException, OSError) as exc:
            att.outcome, att.detail = "port_error", f"{type(exc).__name__}: {exc}"
            c.close()
        att.tx, att.rx = bytes(self._tx), self._rx
        att.dur_s = time.perf_counter() - t0
        return att

    @staticmethod
    def _result(att: Attempt, r: Any, read: bool) -> Attempt:
        if r.isError():
            att.outcome = "modbus_exception"
            att.detail = f"exception code {getattr(r, 'exception_code', '?')}"
        elif read:
            att.regs = list(r.registers)
        return att

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.client.close()
            except Exception:  # a port already gone: nothing left to close
                pass

    def __enter__(self) -> SerialLink:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReplayLink:
    """A link that answers from a recorded session (:class:`hil.session.Session`).

    For each request the twin makes it takes the next recorded attempt of the same pack and step;
    answers are decoded from the recorded ``rx`` bytes by pymodbus's RTU framer, so a frame that failed
    its CRC in the session fails it again. The twin's own requests are compared with the recorded ones
    and the differences counted (:attr:`divergences`, :attr:`first_divergence`)."""

    name = "replay"

    def __init__(self, session: Recorded):
        from pymodbus.framer import FramerRTU
        from pymodbus.pdu import DecodePDU

        self.session = session
        self._framer = FramerRTU(DecodePDU(False))
        self._pos: dict[tuple[int, int], int] = defaultdict(int)
        self.k = -1
        self.divergences = 0
        self.first_divergence: str | None = None
        self._closed = False

    def begin_step(self, k: int) -> None:
        self.k = k

    def _next(self, unit: int) -> dict[str, Any] | None:
        key = (self.k, unit)
        recs = self.session.by_step_unit.get(key, ())
        i = self._pos[key]
        return recs[i] if i < len(recs) else None

    def past_deadline(self, unit: int, deadline: float) -> bool:
        """As the session had it: the next recorded attempt of this pack and step was skipped."""
        rec = self._next(unit)
        if rec is not None and rec["out"] == "skipped":
            self._pos[(self.k, unit)] += 1
            return True
        return False

    def _diverged(self, why: str) -> None:
        self.divergences += 1
        if self.first_divergence is None:
            self.first_divergence = f"step {self.k}: {why}"

    def open(self) -> bool:
        self._closed = False
        return True

    def exchange(self, req: Request, timeout_s: float | None = None) -> Attempt:
        rec = self._next(req.unit)
        att = Attempt("timeout", wall_s=time.time())
        if rec is None:
            self._diverged(
                f"unit {req.unit}: the twin asked {req.op} at {req.addr} but the session has no "
                f"more exchanges in this step"
            )
            return att
        self._pos[(self.k, req.unit)] += 1
        rec_key = (rec["op"], int(rec["u"]), int(rec["a"]), int(rec["n"]), int(rec.get("ra", 0)), len(rec.get("v", ())))
        if rec_key != req.key():
            self._diverged(f"unit {req.unit}: the twin asked {req.key()}, the session holds {rec_key}")
            return att
        if list(rec.get("v", ())) != list(req.values):
            self._diverged(f"unit {req.unit}: values written at {req.addr} differ from the session's")
        att.outcome = rec["out"]
        att.tx = bytes.fromhex(rec.get("tx", ""))
        att.rx = bytes.fromhex(rec.get("rx", ""))
        if att.outcome == "ok" and req.op in ("read", "readwrite"):
            _, pdu = self._framer.handleFrame(att.rx, req.unit, 0)
            if pdu is None or not hasattr(pdu, "registers"):
                att.outcome = "bad_frame"
            else:
                att.regs = list(pdu.registers)
        return att

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> ReplayLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_link(
    kind: str, *, settings: LineSettings | None = None, timeout_s: float = 0.1, session: Recorded | None = None
) -> Link:
    """A link backend by name: ``serial`` (needs ``settings``) or ``replay`` (needs a
    :class:`hil.session.Session` read from a file)."""
    if kind == "serial":
        if settings is None:
            raise ValueError("the serial link needs line settings")
        return SerialLink(settings, timeout_s)
    if kind == "replay":
        if session is None:
            raise ValueError("the replay link needs a recorded session")
        return ReplayLink(session)
    raise ValueError(f"unknown link backend {kind!r}; known: serial, replay")
