"""The plant's Modbus TCP server: every device of :func:`hil.plant.devices.plant_devices` by unit id, in a thread.

pymodbus 3.16's TCP server with one ``SimDevice`` per unit, on an asyncio loop in a background thread
(as :mod:`hil.emulator.server`). The simulation side calls :meth:`PlantServer.set_point`,
:meth:`~PlantServer.get_point`, :meth:`~PlantServer.take_writes` and :meth:`~PlantServer.tick` from
any thread. A write is checked before pymodbus stores it (the ``SimDevice`` action): a read-only
point, a SunSpec marker or an address outside the chain is answered ILLEGAL_DATA_ADDRESS (0x02), a
value outside a point's range or enum ILLEGAL_DATA_VALUE (0x03); either is counted, recorded and never
applied. Safety: 127.0.0.1 by default, an optional allow-list of client addresses, a bound on
connections, and a connection that sends undecodable bytes or floods is closed (the server goes on).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from hil.plant.devices import REVERSIONS, DeviceImage, DeviceSpec
from twin.errors import HilError

__all__ = ["GARBAGE_BYTES", "PlantServer", "Rejected", "Reverted", "Transaction", "Write"]

log = logging.getLogger("hil.plant")

GARBAGE_BYTES = 260  # bytes without a request (a Modbus TCP frame at most) before a connection is closed
_EXC = {"unknown_address": 0x02, "read_only": 0x02, "out_of_range": 0x03}


@dataclass(frozen=True)
class Write:
    """An accepted write of one point: value in engineering units, wall time (``time.time()``)."""

    unit_id: int
    model_id: int
    point: str
    value: Any
    wall_s: float


@dataclass(frozen=True)
class Rejected:
    """A request answered with an exception: ``kind`` unknown_address, read_only or out_of_range."""

    unit_id: int
    addr: int
    values: tuple[int, ...]
    exception: int
    kind: str
    detail: str
    wall_s: float


@dataclass(frozen=True)
class Reverted:
    """A setpoint reverted by its timer at ``t_s`` (the time :meth:`PlantServer.tick` was given)."""

    unit_id: int
    model_id: int
    point: str
    value: Any
    t_s: float


@dataclass(frozen=True)
class Transaction:
    """One request and its answer: ``exception`` 0 when answered normally; ``values`` the registers
    written (codes 6, 16) or answered (3, 4)."""

    wall_s: float
    unit_id: int
    function_code: int
    addr: int
    count: int
    written: tuple[int, ...]
    exception: int
    answered: tuple[int, ...]


class _Timer:
    def __init__(self) -> None:
        self.armed = False
        self.start_s: float | None = None


class PlantServer:
    """Serves the plant's devices over Modbus TCP (``port`` 0: a free port, see :attr:`port` after start)."""

    def __init__(
        self,
        devices: Iterable[DeviceSpec],
        host: str = "127.0.0.1",
        port: int = 502,
        allow: Iterable[str] | None = None,
        max_connections: int = 8,
        max_requests_per_s: float = 2000.0,
    ) -> None:
        self.images: dict[int, DeviceImage] = {}
        for spec in devices:
            if spec.unit_id in self.images or not 1 <= spec.unit_id <= 247:
                raise HilError(f"{spec.name}: unit id {spec.unit_id} taken or outside 1..247")
            self.images[spec.unit_id] = DeviceImage(spec)
        self.host, self.port = host, port
        self.allow = None if allow is None else frozenset(allow)
        self.max_connections = max_connections
        self.max_requests_per_s = max_requests_per_s
        self.counters: dict[int, collections.Counter[str]] = {u: collections.Counter() for u in self.images}
        self.server_counters: collections.Counter[str] = collections.Counter()
        self.rejected: list[Rejected] = []
        self._writes: list[Write] = []
        self._lock = threading.RLock()
        self._written = threading.Condition(self._lock)  # notified on every accepted write
        # every request and its answer, as it happens: (wall_s, unit, function code, address, count,
        # values written, exception code or 0, registers answered): the session recorder's hook
        self.on_transaction: Callable[[Transaction], None] | None = None
        self._pending: dict[tuple[int, int], tuple[float, int, int, int, tuple[int, ...]]] = {}
        self._timers: dict[tuple[int, int, str], _Timer] = {}
        self._now_s: float | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_evt: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # -- the simulation side ----------------------------------------------------------------------
    def image(self, unit_id: int) -> DeviceImage:
        try:
            return self.images[unit_id]
        except KeyError:
            raise HilError(f"no device with unit id {unit_id}") from None

    def set_point(self, unit_id: int, model_id: int, point: str, value: Any) -> None:
        """Set a point in engineering units (scaled by the device's scale factor registers)."""
        self.image(unit_id).set(model_id, point, value)

    def get_point(self, unit_id: int, model_id: int, point: str, computed: bool = True) -> Any:
        return self.image(unit_id).get(model_id, point, computed)

    def take_writes(self) -> list[Write]:
        """The writes accepted since the last call, in arrival order."""
        with self._lock:
            out, self._writes = self._writes, []
        return out

    def set_clock(self, now_s: float) -> None:
        """The time a write arriving from now on starts its reversion timer at (the simulated time shown)."""
        with self._lock:
            self._now_s = now_s

    def tick(self, now_s: float) -> list[Reverted]:
        """Run the reversion timers to ``now_s`` (simulated or wall seconds: the caller's clock).

        A write starts (or restarts) its timer at the time of the latest tick (the first tick after it,
        if none came before); a timer whose RvrtTms has passed sets its targets to their defaults."""
        out: list[Reverted] = []
        with self._lock:
            self._now_s = now_s
            for (uid, mid, tms), tm in self._timers.items():
                if not tm.armed:
                    continue
                if tm.start_s is None:
                    tm.start_s = now_s
                img = self.images[uid]
                rv = next(r for r in REVERSIONS[mid] if r.tms == tms)
                period = float(img.get(mid, tms) or 0)
                left = period - (now_s - tm.start_s)
                if period <= 0:
                    tm.armed = False
                    img.set(mid, rv.rem, 0)
                    continue
                if left > 0:
                    img.set(mid, rv.rem, int(-(-left // 1)))
                    continue
                tm.armed = False
                img.set(mid, rv.rem, 0)
                for target, default in rv.pairs:
                    val = img.get(mid, default)
                    img.set(mid, target, val)
                    out.append(Reverted(uid, mid, target, img.get(mid, target), now_s))
                self.counters[uid]["reversions"] += 1
        return out

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``predicate()`` holds (checked at each accepted write) or ``timeout_s`` passes."""
        with self._written:
            return self._written.wait_for(predicate, timeout_s)

    # -- a write from the wire (on the server's loop) ----------------------------------------------
    def _on_write(self, uid: int, addr: int, values: list[int]) -> int | None:
        img = self.images[uid]
        chk = img.check_write(addr, values)
        wall = time.time()
        with self._lock:
            if chk.error is not None:
                exc = _EXC[chk.error]
                self.counters[uid][f"exceptions_{chk.error}"] += 1
                self.rejected.append(Rejected(uid, addr, tuple(values), exc, chk.error, chk.detail, wall))
                log.info("unit %d: write %d = %s refused (%s: %s)", uid, addr, values, chk.error, chk.detail)
                return exc
            img.write(addr, values)
            self._written.notify_all()
            self.counters[uid]["writes"] += 1
            for mid, name, val in chk.changes:
                self._writes.append(Write(uid, mid, name, val, wall))
                for rv in REVERSIONS.get(mid, ()):
                    if name in rv.triggers:
                        tm = self._timers.setdefault((uid, mid, rv.tms), _Timer())
                        tm.armed, tm.start_s = True, self._now_s
        return None

    def _note_unknown(self, uid: int, addr: int, values: tuple[int, ...]) -> None:
        with self._lock:
            self.counters[uid]["exceptions_unknown_address"] += 1
            self.rejected.append(Rejected(uid, addr, values, 0x02, "unknown_address", "outside the chain", time.time()))

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout_s: float = 5.0) -> PlantServer:
        if self._thread is not None:
            return self
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("plant Modbus server binds to %s: reachable from other machines", self.host)
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._thread_main, name="plant-modbus", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s) or self._error is not None:
            err = self._error
            self.stop()
            raise HilError(f"plant Modbus server on {self.host}:{self.port} did not start: {err}")
        log.info("plant Modbus server on %s:%d, %d devices", self.host, self.port, len(self.images))
        return self

    def stop(self) -> None:
        loop, evt, th = self._loop, self._stop_evt, self._thread
        if loop is not None and evt is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(evt.set)
            except RuntimeError:
                pass
        if th is not None:
            th.join(timeout=5.0)
        self._thread = self._loop = self._stop_evt = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()

    async def _serve(self) -> None:
        from pymodbus.simulator import DataType, SimData, SimDevice

        self._loop = asyncio.get_running_loop()
        self._stop_evt = asyncio.Event()
        devices = [
            SimDevice(
                id=uid,
                simdata=[
                    SimData(img.start, values=img.read(img.start, img.end - img.start), datatype=DataType.REGISTERS)
                ],
                action=self._action_for(uid),
            )
            for uid, img in self.images.items()
        ]

        async def absent(*_: Any) -> Any:
            """A unit id no device has: answered as a gateway does for a device that is not there."""
            from pymodbus.constants import ExcCodes

            return ExcCodes.GATEWAY_NO_RESPONSE

        # pymodbus hands requests for unknown unit ids to device 0
        devices.append(
            SimDevice(id=0, simdata=[SimData(0, values=[0] * 65535, datatype=DataType.REGISTERS)], action=absent)
        )
        server = _make_server(self, devices)
        await server.serve_forever(background=True)
        socks = getattr(server.transport, "sockets", None)
        if not socks:
            raise HilError(f"cannot listen on {self.host}:{self.port}")
        self.port = int(socks[0].getsockname()[1])
        self._started.set()
        try:
            await self._stop_evt.wait()
        finally:
            await server.shutdown()
            server.close()

    def _action_for(self, uid: int) -> Any:
        img = self.images[uid]

        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            current_registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> Any:
            """Writes are checked and applied to the image (an exception code refuses them); reads come from
            the image, except the read-back pymodbus does after a write (codes 6 and 16) to build the echo."""
            from pymodbus.constants import ExcCodes

            if function_code == 23:  # read/write multiple: not offered (SunSpec devices use 3, 6 and 16)
                return ExcCodes.ILLEGAL_FUNCTION
            if set_values is not None:
                exc = self._on_write(uid, address, [int(v) for v in set_values])
                return None if exc is None else ExcCodes(exc)
            if function_code in (6, 16):
                return None
            off = address - start_address
            current_registers[off : off + count] = img.read(address, count)
            return None

        return action

    def _trace_pdu(self, sending: bool, pdu: Any) -> Any:
        """Count requests per unit; note requests outside a device's chain (pymodbus answers them 0x02); hand
        each request with its answer to :attr:`on_transaction`."""
        if sending:
            if self.on_transaction is not None:
                self._answered(pdu)
            return pdu
        img = self.images.get(pdu.dev_id)
        if img is None:
            self.server_counters["requests_unknown_unit"] += 1
            return pdu
        with self._lock:
            self.counters[pdu.dev_id]["transactions"] += 1
        addr = getattr(pdu, "address", None)
        if self.on_transaction is not None:
            written = tuple(int(r) for r in (getattr(pdu, "registers", None) or ()))
            n = len(written) if pdu.function_code in (6, 16) else int(getattr(pdu, "count", 0) or 0)
            key = (int(pdu.dev_id), int(getattr(pdu, "transaction_id", 0) or 0))
            self._pending[key] = (time.time(), int(pdu.function_code), int(addr or 0), n, written)
        if pdu.function_code in (3, 4, 6, 16) and addr is not None:
            regs = tuple(int(r) for r in (getattr(pdu, "registers", None) or ()))
            count = len(regs) if pdu.function_code in (6, 16) else int(getattr(pdu, "count", 1) or 1)
            if not img.contains(int(addr), max(count, 1)):
                self._note_unknown(pdu.dev_id, int(addr), regs)
        return pdu

    def _answered(self, pdu: Any) -> None:
        key = (int(pdu.dev_id), int(getattr(pdu, "transaction_id", 0) or 0))
        req = self._pending.pop(key, None)
        if req is None or self.on_transaction is None:
            return
        wall, fc, addr, n, written = req
        exc = int(getattr(pdu, "exception_code", 0) or 0) if int(pdu.function_code) & 0x80 else 0
        answered = tuple(int(r) for r in (getattr(pdu, "registers", None) or ())) if fc in (3, 4) and not exc else ()
        self.on_transaction(Transaction(wall, key[0], fc, addr, n, written, exc, answered))


def _make_server(owner: PlantServer, devices: list[Any]) -> Any:
    """A pymodbus TCP server whose connections are filtered (allow-list, bound) and policed (garbage, flood)."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.server.requesthandler import ServerRequestHandler

    class Handler(ServerRequestHandler):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            self._peer = peer[0] if peer else "?"
            self._junk = self._pdus = 0
            self._times: collections.deque[float] = collections.deque()
            n = len(self.listener.active_connections) if self.listener else 0
            why = ""
            if owner.allow is not None and self._peer not in owner.allow:
                why = "not in the allow-list"
            elif n > owner.max_connections:
                why = f"more than {owner.max_connections} connections"
            if why:
                owner.server_counters["connections_refused"] += 1
                log.warning("plant Modbus server: client %s refused (%s)", self._peer, why)
                self.close()
            else:
                owner.server_counters["connections"] += 1

        def data_received(self, data: bytes) -> None:
            before = self._pdus
            try:
                super().data_received(data)
            except Exception as exc:  # a bad frame must not take the server down
                self._drop(f"undecodable request ({exc})")
                return
            self._junk = 0 if self._pdus != before else self._junk + len(data)
            if self._junk > GARBAGE_BYTES and not self.is_closing:
                self._drop(f"{self._junk} bytes that are not Modbus TCP")

        def callback_data(self, data: bytes, addr: tuple[Any, ...] | None = None) -> int:
            used = int(super().callback_data(data, addr))
            if self.last_pdu is not None:
                self._pdus += 1
                now = time.monotonic()
                self._times.append(now)
                while self._times and now - self._times[0] > 1.0:
                    self._times.popleft()
                if len(self._times) > owner.max_requests_per_s:
                    self._drop(f"more than {owner.max_requests_per_s:g} requests/s")
            return used

        def _drop(self, why: str) -> None:
            owner.server_counters["connections_dropped"] += 1
            log.warning("plant Modbus server: client %s dropped: %s", getattr(self, "_peer", "?"), why)
            self.last_pdu = None
            self.close()

    class Server(ModbusTcpServer):
        def callback_new_connection(self) -> Any:
            return Handler(self, self.trace_packet, self.trace_pdu, self.trace_connect)

    return Server(
        devices,
        address=(owner.host, owner.port),
        ignore_missing_devices=True,
        trace_pdu=owner._trace_pdu,
    )
