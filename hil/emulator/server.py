"""The emulator's Modbus RTU server: pymodbus's serial server in a background thread, serving :class:`BmsLogic` s.

Every call into the logic from the server (datastore action, packet hooks,
the 0.1 s tick) runs on the thread's asyncio loop; an ``RLock`` in the logic
covers callers on other threads (tests, the CLI). Wire faults go through
pymodbus's ``trace_packet`` hook (:meth:`BmsEmulator._trace_packet`).
Several units on one line (a shared RS-485 bus) answer by unit id; a
request for another unit is ignored, as on a bus.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from hil.emulator.config import EmulatorConfig
from hil.emulator.logic import BmsLogic
from hil.line import LineSettings
from hil.sunspec_map import BASE_ADDR
from twin.errors import EmulatorConfigError, EmulatorError

__all__ = ["TICK_S", "BmsEmulator"]

log = logging.getLogger("hil.emulator")

TICK_S = 0.1  # watchdog / reboot / wall-clock fault plan period


class BmsEmulator:
    """Serves a :class:`BmsLogic` over Modbus RTU with pymodbus's serial server, in a background thread.

    ``start()`` returns once the port is open and the server is listening; a port that cannot be opened
    is bad input (:class:`~twin.errors.EmulatorConfigError`, exit 2, naming the port and why), a server
    that does not start is :class:`~twin.errors.EmulatorError` (exit 1). ``stop()`` is safe to call twice.
    """

    def __init__(self, settings: LineSettings, config: EmulatorConfig | None = None, n_units: int = 1) -> None:
        """``n_units`` > 1: that many BMSs on the one line (a shared RS-485 bus), unit ids
        ``settings.unit_id`` onwards, serial numbers ``<serial_number>-<k>``; :attr:`logic` is the first."""
        self.settings = settings
        self.config = config or EmulatorConfig()
        self.logics: dict[int, BmsLogic] = {}
        for k in range(n_units):
            cfg = (
                self.config
                if n_units == 1
                else self.config.model_copy(update={"serial_number": f"{self.config.serial_number}-{k}"})
            )
            self.logics[settings.unit_id + k] = BmsLogic(cfg, unit_id=settings.unit_id + k)
        self.logic = self.logics[settings.unit_id]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_evt: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._stopping = False

    @property
    def counters(self) -> collections.Counter[str]:
        return self.logic.counters

    def start(self, timeout_s: float = 5.0) -> BmsEmulator:
        if self._thread is not None:
            return self
        line = self.settings.for_port()
        _check_port(line)
        self._started.clear()
        self._error = None
        self._stopping = False
        self._thread = threading.Thread(target=self._thread_main, args=(line,), name="bms-emulator", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            self.stop()
            raise EmulatorError(f"serial port {line.port}: the server did not start within {timeout_s:g} s")
        if self._error is not None:
            err = self._error
            self.stop()
            raise EmulatorError(f"serial port {line.port}: {err}")
        log.info(
            "BMS emulator %s serving on %s (NCell %d, %s)",
            self.config.serial_number,
            line.describe(),
            self.config.ncell,
            self.config.chemistry,
        )
        return self

    def stop(self) -> None:
        """Stop the server and close the port (safe to call twice, and before start)."""
        self._stopping = True
        loop, evt, th = self._loop, self._stop_evt, self._thread
        if loop is not None and evt is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(evt.set)
            except RuntimeError:  # loop already closed
                pass
        if th is not None:
            th.join(timeout=5.0)
        self._thread = None
        self._loop = None
        self._stop_evt = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb_: TracebackType | None
    ) -> None:
        self.stop()

    def serve_forever(self, duration_s: float | None = None) -> None:
        """Serve until ``duration_s`` wall seconds have passed (None: until Ctrl-C), then stop cleanly."""
        self.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            while self._thread is not None and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                time.sleep(0.2 if left is None else min(0.2, left))
        except KeyboardInterrupt:
            log.info("interrupted: stopping")
        finally:
            self.stop()
        if self._error is not None:
            raise EmulatorError(f"the server stopped: {self._error}")

    # -- the server thread ----------------------------------------------------------------------
    def _thread_main(self, line: LineSettings) -> None:
        try:
            asyncio.run(self._serve(line))
        except BaseException as exc:  # reported to start(); the thread must not die with a traceback
            self._error = exc
            self._started.set()

    async def _serve(self, line: LineSettings) -> None:
        from pymodbus.framer import FramerType
        from pymodbus.server import ModbusSerialServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        self._loop = asyncio.get_running_loop()
        self._stop_evt = asyncio.Event()
        devices = [
            SimDevice(
                id=uid,
                simdata=[SimData(BASE_ADDR, values=lg.image(), datatype=DataType.REGISTERS)],
                action=self._action_for(lg),
            )
            for uid, lg in self.logics.items()
        ]
        server = ModbusSerialServer(
            devices if len(devices) > 1 else devices[0],
            framer=FramerType.RTU,
            port=line.port,
            baudrate=line.baudrate,
            bytesize=line.bytesize,
            parity=line.parity,
            stopbits=line.stopbits,
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise EmulatorError(f"cannot listen: {exc}") from exc
        self._started.set()
        try:
            while not self._stopping:
                try:
                    await asyncio.wait_for(self._stop_evt.wait(), timeout=TICK_S)
                    break
                except TimeoutError:
                    try:
                        for lg in self.logics.values():
                            lg.tick()
                    except Exception:  # a bug must not take the line down with it
                        log.exception("BMS tick failed")
        finally:
            await server.shutdown()

    def _action_for(self, logic: BmsLogic) -> Callable[..., Any]:
        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            current_registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> None:
            """pymodbus datastore hook, called before a read or a write of one unit's registers.

            Writes go to the logic (pymodbus then stores them in its copy, which no read uses). Reads are
            refreshed from the logic's image, except the read-back pymodbus does after a write (function
            codes 6 and 16) to build the echo, which must echo what was written."""
            if set_values is not None:
                logic.write_regs(address, [int(v) for v in set_values])
                return
            if function_code in (6, 16):
                return
            off = address - start_address
            current_registers[off : off + count] = logic.read_regs(address, count)
            return

        return action

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        """pymodbus packet hook (bytes on the wire). Incoming: unchanged. Outgoing: the wire faults.

        In pymodbus 3.16 the server sends ``trace_packet(True, frame)`` as it is returned
        (``TransactionManager.pdu_send`` -> ``ModbusProtocol.send`` -> the serial transport's write):
        b"" writes nothing, so returning it drops the answer while the request was processed."""
        if not sending:
            self.logic.counters["bytes_in"] += len(data)
            return data
        lg = self.logics.get(data[0]) if data else None
        if lg is None:
            # pymodbus answers a frame it cannot decode with an exception response carrying the frame's
            # unit id; on a shared bus a BMS must not speak for another unit
            self.logic.counters["answers_other_unit_suppressed"] += 1
            return b""
        out = lg.outgoing(data)
        lg.counters["bytes_out"] += len(out)
        return out

    def _trace_pdu(self, sending: bool, pdu: Any) -> Any:
        """Requests for another unit id are ignored, as on an RS-485 bus (pymodbus's server would
        otherwise answer them from the one device it has); returning None drops the request."""
        if not sending and pdu.dev_id not in self.logics:
            self.logic.counters["requests_other_unit"] += 1
            return None
        if not sending:
            self.logics[pdu.dev_id].counters["requests"] += 1
        return pdu


def _check_port(line: LineSettings) -> None:
    """Open and close the port with pyserial, as pymodbus will, to say why it cannot be opened
    (pymodbus only logs "Failed to start server"): a port that cannot be opened is bad input, as in
    ``twin hil``."""
    import serial

    try:
        s = serial.serial_for_url(
            line.port,
            baudrate=line.baudrate,
            bytesize=line.bytesize,
            parity=line.parity,
            stopbits=line.stopbits,
            exclusive=True,
            timeout=0,
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        reason = str(exc)
        if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
            reason = os.strerror(exc.errno)  # pyserial repeats the path in its own text
        raise EmulatorConfigError(f"cannot open serial port {line.port}: {reason}") from exc
    s.close()
