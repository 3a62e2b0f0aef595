"""The emulated BMS, pure (no I/O): register image, protection, derating, SoC estimate, watchdog, fault plan.

A complete step is a write that covers PlantHb with a new value (the twin
writes the header of 64950 last); it is processed at once.

Times: the fault plan runs on the emulator clock, either ``sim`` (SimT written
by the twin, unwrapped; the default, as the contract asks of a BMS in lockstep)
or ``wall`` (monotonic seconds since the first PlantHb). Before the first step
the clock has not started and no fault is active. On the ``sim`` clock, while
no step arrives (the emulator is silent, rebooting or garbling its answers, or
the line is down, so the twin never gets to write its header) the clock runs
on the wall from the last step, so a timed fault can end; it never runs back
when SimT resumes, and a fault whose whole window it jumped over still happens,
from the moment it is seen. The coulomb count then takes the first step's
current over one step only (the steps in between never reached the BMS; the
twin had the pack out of service). The watchdog (``watchdog_s``)
and the reboot time (``reboot_s``) are wall seconds: both concern a line on which
no step may be arriving, so SimT would not move. The watchdog arms at the first
CtrlHb written after power-on or a reboot (no controller yet is not a lost one).

Choices the contract leaves open: writes to model 802 points other than CtrlHb,
AlmRst and SetOp, and to model 1, are acknowledged and ignored (a range write that
spans read-only points does not fail); a watchdog timeout shows State FAULT (the
BMS opened on its own decision) with COMMUNICATION_ERROR, unlatched; the contactor
closes on CONNECT only once a step has brought measurements; before the first
step SoC, V, A, W and the cell voltages read "not implemented" (0xFFFF / 0x8000).
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hil.emulator.config import EmulatorConfig
from hil.emulator.faults import FaultPlan, FaultSpec, garble
from hil.emulator.protection import Measurements, derated_limits, evaluate
from hil.emulator.registers import WRITABLE_802, fill_common, power_on_802, publish_802
from hil.sunspec_map import (
    BASE_ADDR,
    END_ID,
    END_L,
    MODEL_BATTERY,
    MODEL_COMMON,
    MODEL_HIL,
    SUNS_MARKER,
    U32_WRAP,
    Block,
    next_count,
    standard_layout,
)
from twin.fleet.chemistry import CHEMISTRIES, ocv_cell_v
from twin.sunspec802 import (
    COMMUNICATION_ERROR,
    OTHER_ALARM,
    SETOP_CONNECT,
    SETOP_NAMES,
    STATE_CONNECTED,
    STATE_DISCONNECTED,
    STATE_FAULT,
    STATE_INITIALIZING,
    STATE_NAMES,
    evt1_names,
)

__all__ = ["BmsLogic"]

log = logging.getLogger("hil.emulator")

COMM_BIT = 1 << COMMUNICATION_ERROR


class BmsLogic:
    """The emulated BMS: register image, protection, derating, SoC estimate, watchdog and fault plan.

    No I/O. The server calls :meth:`read_regs` / :meth:`write_regs` for every request,
    :meth:`outgoing` for every answer and :meth:`tick` every 0.1 s; tests do the same, or use
    :meth:`write_points` / :meth:`write_step` / :meth:`point`, with an injected ``wall_clock``.
    A complete step is a write that covers PlantHb with a new value (the twin writes the header of
    64950 last); the step is processed at once.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, unit_id: int = 1, wall_clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or EmulatorConfig()
        self.unit_id = unit_id
        self._wall = wall_clock
        self._lock = threading.RLock()
        self.locs = {loc.model_id: loc for loc in standard_layout(self.config.ncell)}
        self.end_addr = self.locs[MODEL_HIL].end + 2  # first address after the end marker
        self.counters: collections.Counter[str] = collections.Counter()
        self.events: collections.deque[tuple[float | None, str]] = collections.deque(maxlen=2000)
        self._rng = random.Random(self.config.seed)
        self._ocv_soc = np.linspace(0.0, 1.0, 1001)
        self._ocv_v = np.asarray(ocv_cell_v(self.config.chemistry, self._ocv_soc), dtype=float)
        # clock (not BMS state: survives a reboot so the fault plan does not start over)
        self._clock_s: float | None = None
        self._last_step_clock_s: float | None = None
        self._last_simt_ms: int | None = None
        self._sim_clock_s: float | None = None  # the clock from SimT alone
        self._simt_step_ms = 0  # the last regular SimT increment
        self._step_wall: float | None = None  # wall time of the last step
        self._step_wall_s = 0.0  # wall time between regular steps (1 s in real time, less in lockstep)
        self._wall_origin: float | None = None
        self.plan = FaultPlan(self.config.faults)
        self._rebooting = False
        self._reboot_until = 0.0
        self._ncell_warned = False
        self._reset_state()

    # -- state ------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        """Power-on state: fresh registers, contactor open, no alarms, Hb 0, SoC unknown."""
        c = self.config
        self.common = Block(self.locs[MODEL_COMMON])
        self.battery = Block(self.locs[MODEL_BATTERY])
        self.hil = Block(self.locs[MODEL_HIL])
        fill_common(self.common, c, self.unit_id)
        power_on_802(self.battery, c)
        self._hb = 0
        self._latched = 0  # latched alarm bits
        self._alarm_now = 0  # alarm causes present at the last evaluation
        self._warnings = 0
        self._comm_error = False
        self._setop = 0
        self._last_ctrl_hb: int | None = None
        self._ctrl_hb_wall: float | None = None  # the watchdog arms at the first CtrlHb written
        self._last_plant_hb: int | None = None
        self._meas: Measurements | None = None
        self._soc_est_pct: float | None = None
        self._lim_ch_a = 0.0  # limits as published (register resolution)
        self._lim_dis_a = 0.0
        self._state = STATE_DISCONNECTED
        self._publish()

    def _event(self, text: str, level: int = logging.INFO) -> None:
        self.events.append((self._clock_s, text))
        t = "--" if self._clock_s is None else f"{self._clock_s:.1f}"
        log.log(level, "%s t=%s s: %s", self.config.serial_number, t, text)

    # -- read-only views ----------------------------------------------------------------------
    @property
    def state(self) -> int:
        return self._state

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self._state, str(self._state))

    @property
    def contactor_closed(self) -> bool:
        return self._state == STATE_CONNECTED

    @property
    def evt1(self) -> int:
        return self._latched | self._warnings | (COMM_BIT if self._comm_error else 0)

    @property
    def latched(self) -> int:
        return self._latched

    @property
    def comm_error(self) -> bool:
        return self._comm_error

    @property
    def rebooting(self) -> bool:
        return self._rebooting

    @property
    def limits_a(self) -> tuple[float, float]:
        """(AChaMax, ADisChaMax) as published."""
        return self._lim_ch_a, self._lim_dis_a

    @property
    def soc_pct(self) -> float | None:
        """The SoC the BMS reports (estimate plus any soc_bias), None before the first step."""
        if self._soc_est_pct is None:
            return None
        return min(100.0, max(0.0, self._soc_est_pct + self.plan.active_sum("soc_bias")))

    @property
    def clock_s(self) -> float | None:
        return self._clock_s

    @property
    def measurements(self) -> Measurements | None:
        return self._meas

    @property
    def hb(self) -> int:
        return self._hb

    @hb.setter
    def hb(self, value: int) -> None:
        """Set the heartbeat (tests of the wrap; replay)."""
        with self._lock:
            self._hb = int(value) % 65535
            self._publish()

    # -- register image -------------------------------------------------------------------------
    def image(self) -> list[int]:
        """All registers from 40000 to the end marker."""
        with self._lock:
            return [
                *SUNS_MARKER,
                *self.common.all_regs(),
                *self.battery.all_regs(),
                *self.hil.all_regs(),
                END_ID,
                END_L,
            ]

    def read_regs(self, addr: int, count: int) -> list[int]:
        off = addr - BASE_ADDR
        if off < 0 or off + count > self.end_addr - BASE_ADDR:
            raise IndexError(f"registers {addr}+{count} outside the map {BASE_ADDR}..{self.end_addr - 1}")
        return self.image()[off : off + count]

    def block(self, model_id: int) -> Block:
        return {MODEL_COMMON: self.common, MODEL_BATTERY: self.battery, MODEL_HIL: self.hil}[model_id]

    def point(self, model_id: int, name: str, computed: bool = True) -> Any:
        with self._lock:
            return self.block(model_id).get(name, computed)

    def write_regs(self, addr: int, values: Sequence[int]) -> None:
        """A Modbus write from the twin. Only the twin's points are taken: 802 CtrlHb, AlmRst, SetOp and
        64950 (but its ID, L and NCell, which the BMS fixes). Ignored while the BMS reboots."""
        with self._lock:
            self.counters["writes"] += 1
            if self._rebooting:
                self.counters["writes_ignored"] += 1
                return
            end = addr + len(values)
            ctrl: dict[str, int] = {}
            b = self.battery
            for name in WRITABLE_802:
                a = b.addr(name)
                if addr <= a < end:
                    ctrl[name] = int(values[a - addr])
                    b.load([ctrl[name]], a)
            new_plant_hb: int | None = None
            h = self.hil
            lo, hi = max(addr, h.loc.addr), min(end, h.loc.end)
            if lo < hi:
                regs = [int(v) for v in values[lo - addr : hi - addr]]
                for name in ("ID", "L", "NCell"):
                    a = h.addr(name)
                    if lo <= a < hi:
                        if name == "NCell" and regs[a - lo] != self.config.ncell and not self._ncell_warned:
                            self._ncell_warned = True
                            self._event(
                                f"twin wrote NCell {regs[a - lo]}, the BMS has {self.config.ncell}: kept",
                                logging.WARNING,
                            )
                        regs[a - lo] = h.all_regs()[a - h.loc.addr]
                h.load(regs, lo)
                a = h.addr("PlantHb")
                if lo <= a < hi:
                    new_plant_hb = regs[a - lo]
            if "CtrlHb" in ctrl:
                self._on_ctrl_hb(ctrl["CtrlHb"])
            if "SetOp" in ctrl:
                self._on_setop(ctrl["SetOp"])
            if ctrl.get("AlmRst") == 1:
                self._alarm_reset()
            if new_plant_hb is not None and new_plant_hb != self._last_plant_hb:
                self._last_plant_hb = new_plant_hb
                self._step()
            if not self._rebooting:
                self._update_contactor()
            self._publish()

    def write_points(self, model_id: int, values: Mapping[str, float | int], computed: bool = True) -> None:
        """Write points by name as one Modbus write would (tests, demos): the registers from the first to
        the last point named, the others unchanged."""
        with self._lock:
            blk = self.block(model_id)
            tmp = Block(blk.loc, blk.all_regs())
            for name, v in values.items():
                tmp.set(name, v, computed)
            first = min(blk.addr(n) for n in values)
            last = max(blk.addr(n) + blk.size(n) for n in values)
            regs = tmp.all_regs()[first - blk.loc.addr : last - blk.loc.addr]
        self.write_regs(first, regs)

    def write_step(self, header: Mapping[str, float | int], cells_v: Sequence[float] | None = None) -> None:
        """Write one complete step as the twin does: the cells first, then the header (offsets 0-11) with
        PlantHb +1 unless given. Header points not given keep their register values."""
        with self._lock:
            h = self.hil
            if cells_v is not None:
                a, n = h.cell_range()
                tmp = Block(h.loc, h.all_regs())
                for k, v in enumerate(cells_v[:n]):
                    tmp.set_cell(k, v)
                self.write_regs(a, tmp.all_regs()[a - h.loc.addr : a - h.loc.addr + n])
            tmp = Block(h.loc, h.all_regs())
            hb = header.get("PlantHb", next_count(int(h.get("PlantHb", computed=False) or 0)))
            tmp.set("PlantHb", hb, computed=False)
            for name, v in header.items():
                if name != "PlantHb":
                    tmp.set(name, v, computed=name != "SimT")
            regs = tmp.regs("PlantHb", "NCell")
            self.write_regs(h.addr("PlantHb"), regs)

    # -- commands -------------------------------------------------------------------------------
    def _on_ctrl_hb(self, value: int) -> None:
        if value != self._last_ctrl_hb:
            self._last_ctrl_hb = value
            self._ctrl_hb_wall = self._wall()
            if self._comm_error:
                self._comm_error = False
                self._event("CtrlHb moves again: COMMUNICATION_ERROR cleared")

    def _on_setop(self, value: int) -> None:
        if value != self._setop:
            self._setop = value
            self._event(f"SetOp {SETOP_NAMES.get(value, value)}", logging.DEBUG)

    def _alarm_reset(self) -> None:
        kept = self._latched & self._alarm_now
        cleared = self._latched & ~self._alarm_now
        self._latched = kept
        self.counters["alarm_resets"] += 1
        text = f"alarm reset: cleared {evt1_names(cleared) or 'nothing'}"
        if kept:
            text += f", still latched (cause persists): {evt1_names(kept)}"
        self._event(text)
        self.battery.set("AlmRst", 0, computed=False)  # executed: the BMS writes it back to 0

    # -- a complete step --------------------------------------------------------------------------
    def _read_meas(self) -> Measurements:
        h = self.hil
        c = self.config
        v_nom = CHEMISTRIES[c.chemistry].v_nom_cell_v

        def num(name: str, default: float) -> float:
            v = h.get(name)
            return float(v) if v is not None else default

        vmax = num("CellVMax", v_nom)
        vmin = num("CellVMin", v_nom)
        dt_k = self.plan.active_sum("over_temp")
        return Measurements(
            plant_hb=int(h.get("PlantHb", computed=False) or 0),
            sim_t_ms=int(h.get("SimT", computed=False) or 0),
            pack_v=num("PackV", 0.0),
            pack_a=num("PackA", 0.0),
            cell_v_max_v=vmax,
            cell_v_min_v=vmin,
            cell_v_avg_v=num("CellVAvg", 0.5 * (vmax + vmin)),
            cell_t_max_c=num("CellTMax", 25.0) + dt_k,
            cell_t_min_c=num("CellTMin", 25.0) + dt_k,
            soc_true_pct=h.get("SoCTrue"),
        )

    def _advance_clock(self, simt_ms: int) -> float:
        """Move the emulator clock to this step; returns dt in seconds since the previous step (the tick
        also moves the wall clock, so the step keeps its own mark)."""
        prev = self._last_step_clock_s
        now_wall = self._wall()
        if self._step_wall is not None:
            gap = now_wall - self._step_wall
            if self._step_wall_s == 0.0 or gap < 2.0 * self._step_wall_s:  # a regular step, not after a stall
                self._step_wall_s = gap
        self._step_wall = now_wall
        if self.config.clock == "sim":
            if self._last_simt_ms is None:
                self._clock_s = simt_ms / 1000.0
                self._sim_clock_s = self._clock_s
            else:
                d = (simt_ms - self._last_simt_ms) % U32_WRAP
                if d > U32_WRAP // 2:  # SimT went back (the twin restarted): the clock holds
                    self._event(f"SimT went back from {self._last_simt_ms} to {simt_ms} ms", logging.WARNING)
                    d = 0
                # steps that never arrived (the line was down, the twin had the pack out of service): the
                # current of the step written now describes only its own step, so count one step of it
                gap_ms = d
                if self._simt_step_ms and d > 2 * self._simt_step_ms:
                    d = self._simt_step_ms
                elif d > 0:
                    self._simt_step_ms = d
                self._sim_clock_s = (self._sim_clock_s or 0.0) + gap_ms / 1000.0
                # the clock never runs back: while no step arrived it ran on the wall (see tick)
                self._clock_s = max(self._sim_clock_s, self._clock_s or 0.0)
                self._last_simt_ms = simt_ms
                self._last_step_clock_s = self._clock_s
                return d / 1000.0
            self._last_simt_ms = simt_ms
        else:
            now = self._wall()
            if self._wall_origin is None:
                self._wall_origin = now
            self._clock_s = now - self._wall_origin
        self._last_step_clock_s = self._clock_s
        return 0.0 if prev is None else max(0.0, self._clock_s - prev)

    def _step(self) -> None:
        self.counters["steps"] += 1
        simt = int(self.hil.get("SimT", computed=False) or 0)
        dt_s = self._advance_clock(simt)
        self._apply_faults()
        if self._rebooting:
            return
        was_closed = self._state == STATE_CONNECTED
        first = self._meas is None
        m = self._read_meas()
        self._meas = m
        c = self.config
        if self._soc_est_pct is None:
            self._soc_est_pct = 100.0 * float(np.interp(m.cell_v_avg_v, self._ocv_v, self._ocv_soc))
            self._event(f"SoC initialised from OCV at CellVAvg {m.cell_v_avg_v:.3f} V: {self._soc_est_pct:.2f} %")
        else:
            self._soc_est_pct += m.pack_a * dt_s / 3600.0 / c.capacity_ah * 100.0
            self._soc_est_pct = min(100.0, max(0.0, self._soc_est_pct))
        alarms, warnings = evaluate(
            c, m, was_closed=was_closed, lim_ch_a=self._lim_ch_a, lim_dis_a=self._lim_dis_a, soc_pct=self.soc_pct
        )
        self._alarm_now = alarms
        new = alarms & ~self._latched
        if new:
            self._latched |= new
            self.counters["alarms_latched"] += 1
            self._event(f"alarm latched: {evt1_names(new)}", logging.WARNING)
        self._warnings = warnings
        if "freeze_heartbeat" not in self.plan.active_kinds():
            self._hb = next_count(self._hb)
        if first:
            self._event("first step received")

    # -- contactor and registers ------------------------------------------------------------------
    def _update_contactor(self) -> None:
        prev = self._state
        if self._rebooting:
            new, why = STATE_INITIALIZING, "reboot"
        elif self._latched:
            new, why = STATE_FAULT, f"alarm latched: {', '.join(evt1_names(self._latched))}"
        elif self._comm_error:
            new, why = STATE_FAULT, f"watchdog: CtrlHb unchanged for {self.config.watchdog_s:g} s"
        elif self._setop == SETOP_CONNECT and self._meas is not None:
            new, why = STATE_CONNECTED, "SetOp CONNECT"
        else:
            new, why = (
                STATE_DISCONNECTED,
                ("SetOp CONNECT waits for the first step" if self._setop == SETOP_CONNECT else "no CONNECT request"),
            )
        if new != prev:
            self._state = new
            if new == STATE_CONNECTED:
                self.counters["contactor_closed"] += 1
                self._event(f"contactor closed ({why})")
            elif prev == STATE_CONNECTED:
                self.counters["contactor_opened"] += 1
                self._event(
                    f"contactor opened ({why}); State {STATE_NAMES[new]}",
                    logging.WARNING if new == STATE_FAULT else logging.INFO,
                )
            else:
                self._event(f"State {STATE_NAMES.get(prev, prev)} -> {STATE_NAMES.get(new, new)} ({why})")

    def _publish(self) -> None:
        """Model 802 from the BMS's state (the limits at register resolution, kept for the current checks)."""
        c = self.config
        m = self._meas
        if self._state == STATE_CONNECTED and m is not None:
            ch, dis = derated_limits(c, m)
        else:
            ch = dis = 0.0
        self._lim_ch_a = round(ch * 10.0) / 10.0
        self._lim_dis_a = round(dis * 10.0) / 10.0
        publish_802(
            self.battery,
            c,
            state=self._state,
            m=m,
            soc_pct=self.soc_pct,
            lim_ch_a=self._lim_ch_a,
            lim_dis_a=self._lim_dis_a,
            evt1=self.evt1,
            hb=self._hb,
        )

    # -- time: watchdog, reboot, fault plan ------------------------------------------------------
    def tick(self) -> None:
        """Called every ~0.1 s wall: end of a reboot, the watchdog, and the fault plan on the wall clock."""
        with self._lock:
            now = self._wall()
            if self._rebooting:
                if now < self._reboot_until:
                    return
                self._rebooting = False
                self._event("reboot done: DISCONNECTED until the next CONNECT")
            if self.config.clock == "wall" and self._wall_origin is not None:
                self._clock_s = now - self._wall_origin
                self._apply_faults()
                if self._rebooting:
                    return
            elif self._step_wall is not None and self._clock_s is not None:
                # sim clock, but no step for a while (silent, rebooting, a line down: the twin cannot write
                # its header): the clock runs on the wall from the last step, so a timed fault can end
                stall = now - self._step_wall
                if stall > 2.0 * max(self._step_wall_s, 0.05):  # two steps' time without a step
                    t = (self._sim_clock_s or 0.0) + stall
                    if t > self._clock_s:
                        self._clock_s = t
                        self._apply_faults()
                        if self._rebooting:
                            return
            last = self._ctrl_hb_wall
            if not self._comm_error and last is not None and now - last >= self.config.watchdog_s:
                self._comm_error = True
                self.counters["watchdog_trips"] += 1
                self._event(f"watchdog: CtrlHb unchanged for {now - last:.1f} s: COMMUNICATION_ERROR", logging.WARNING)
            self._update_contactor()
            self._publish()

    def derated_limits(self, m: Measurements) -> tuple[float, float]:
        """(charge, discharge) current limits in A for these measurements, contactor closed."""
        return derated_limits(self.config, m)

    def _apply_faults(self) -> None:
        """The fault plan's changes as the clock reaches its present value."""
        t = self._clock_s
        if t is None:
            return
        for f, what in self.plan.advance(t):
            if what != "end":
                self.counters["faults_applied"] += 1
            if what == "once" and f.kind == "open_contactor":
                self._latched |= 1 << OTHER_ALARM
                self._event(f"fault {f.describe()}: the BMS opens its contactor (OTHER_ALARM latched)", logging.WARNING)
                self._update_contactor()
            elif what == "once":
                self._reboot(f)
                return
            elif what == "start":
                self._event(f"fault {f.describe()} starts", logging.WARNING)
            else:
                self._event(f"fault {f.describe()} ends")

    def _reboot(self, f: FaultSpec) -> None:
        self._event(f"fault {f.describe()}: rebooting, silent for {self.config.reboot_s:g} s", logging.WARNING)
        self.counters["reboots"] += 1
        self._reset_state()
        self._rebooting = True
        self._reboot_until = self._wall() + self.config.reboot_s
        self._update_contactor()
        self._publish()
        if self.config.reboot_s <= 0:
            self.tick()

    # -- the wire -----------------------------------------------------------------------------------
    def wire_mode(self) -> str:
        """What happens to the next answer: ``ok``, ``silent``, ``corrupt`` or ``garbage``."""
        with self._lock:
            if self._rebooting:
                return "silent"
            return self.plan.wire_mode()

    def outgoing(self, frame: bytes) -> bytes:
        """An answer on its way out, after the wire faults: b"" for none, a broken CRC, garbage."""
        mode = self.wire_mode()
        with self._lock:
            if mode == "silent":
                self.counters["answers_dropped"] += 1
                return b""
            if mode == "corrupt" and len(frame) >= 2:
                self.counters["answers_corrupted"] += 1
                return frame[:-2] + bytes((frame[-2] ^ 0xFF, frame[-1] ^ 0xFF))
            if mode == "garbage":
                self.counters["answers_garbled"] += 1
                return garble(frame, self._rng)
            self.counters["answers"] += 1
            return frame
