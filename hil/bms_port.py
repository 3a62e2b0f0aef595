"""One pack's BMS on the line, seen from the twin (the Modbus client): discovery, the step's exchange,
retries within the step, statistics.

Per step, in this order (``../shared/design/BMS_HIL_PROTOCOL.md``):

1. model 64950: the per-cell points (split at 123 registers), then the
   header (offsets 0-11) with a new PlantHb, which marks a complete step;
2. model 802 SetOp (a level: CONNECT or DISCONNECT);
3. model 802 CtrlHb (+ AlmRst on command) written and model 802 read, in one
   FC 23 transaction where the device supports it, else FC 16 + FC 3.

Each transaction gets ``1 + retries`` attempts as long as the step's
deadline allows; when one fails for good the pack has no answer this step
(:meth:`BmsPort.step` returns None) and the caller treats it as
disconnected. After a failure the chain is discovered again before the next
exchange (a BMS that rebooted may come back with another layout).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.device import DeviceConfig
from hil.link import Attempt, Request
from hil.sunspec_map import (
    MAX_READ_REGS,
    MAX_WRITE_REGS,
    MODEL_BATTERY,
    MODEL_COMMON,
    MODEL_HIL,
    U32_WRAP,
    Block,
    MapError,
    ModelLoc,
    discover,
    next_count,
    split_ranges,
)
from twin.sunspec802 import SETOP_CONNECT

__all__ = ["BmsAnswer", "BmsPort", "PackMeas"]


@dataclass
class PackMeas:
    """What the twin's pack model says about the step just completed (64950's points)."""

    sim_t_s: float
    pack_v: float
    pack_a: float  # mean over the step, + charging
    cell_v_max: float
    cell_v_min: float
    cell_v_avg: float
    cell_t_max_c: float
    cell_t_min_c: float
    soc_true_frac: float
    cells_v: np.ndarray  # NCell values

    @classmethod
    def of_pack(
        cls,
        sim_t_s: float,
        ncell: int,
        *,
        v_terminal_v: float,
        i_a: float,
        v_cell_max_v: float,
        v_cell_min_v: float,
        temp_c: float,
        soc_frac: float,
        n_series: float,
    ) -> PackMeas:
        """The points of a pack model with a mean cell and one weak cell, on the BMS's ``ncell`` points: the
        weak cell (the extreme farther from the mean) on cell 0, the mean on the others; the lumped
        temperature is both CellTMax and CellTMin."""
        v_avg = v_terminal_v / n_series
        weak = v_cell_max_v if abs(v_cell_max_v - v_avg) > abs(v_cell_min_v - v_avg) else v_cell_min_v
        cells = np.full(ncell, v_avg)
        if ncell:
            cells[0] = weak
        return cls(
            sim_t_s=sim_t_s,
            pack_v=v_terminal_v,
            pack_a=i_a,
            cell_v_max=v_cell_max_v,
            cell_v_min=v_cell_min_v,
            cell_v_avg=v_avg,
            cell_t_max_c=temp_c,
            cell_t_min_c=temp_c,
            soc_true_frac=soc_frac,
            cells_v=cells,
        )


@dataclass
class BmsAnswer:
    """Model 802 as read after the step's writes (currents in the twin's convention, + charging)."""

    state: int
    evt1: int
    soc_pct: float | None
    soh_pct: float | None
    i_charge_max_a: float
    i_discharge_max_a: float
    hb: int | None
    v_v: float | None
    a_a: float | None
    alm_rst: int | None


class _Failed(Exception):
    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


class BmsPort:
    def __init__(self, link: Any, unit: int, pack_id: int, device: DeviceConfig, recorder: Any = None):
        self.link = link
        self.unit = unit
        self.pack_id = pack_id
        self.dev = device
        self.rec = recorder
        self.blocks: dict[int, Block] = {}
        self.locs: list[ModelLoc] = []
        self.ncell = 0
        self.serial_number = ""
        self.plant_hb = 0
        self.ctrl_hb = 0
        self.fc23: bool | None = {"auto": None, "yes": True, "no": False}[device.bms.use_fc23]
        self.stats: Counter[str] = Counter()
        self.last_failure = ""
        self._k = -1
        self._t = 0.0
        self._seq = 0
        self._deadline = float("inf")

    # -- one transaction with retries ---------------------------------------------------
    def _do(self, req: Request) -> Attempt:
        seq = self._seq
        self._seq += 1
        last = "timeout"
        for a in range(1 + self.dev.timing.retries):
            if self.link.past_deadline(self.unit, self._deadline):
                self.stats["skipped"] += 1
                if self.rec is not None:
                    self.rec.attempt(self._k, self._t, seq, a, req, Attempt("skipped", wall_s=time.time()))
                raise _Failed("skipped")
            # never wait for an answer past the step's deadline
            left = self._deadline - time.perf_counter()
            att = self.link.exchange(req, None if left == float("inf") else left)
            if self.rec is not None:
                self.rec.attempt(self._k, self._t, seq, a, req, att)
            self.stats["attempts"] += 1
            if a > 0:
                self.stats["retries"] += 1
            if att.ok:
                self.stats["exchanges"] += 1
                return att
            self.stats[att.outcome] += 1
            last = att.outcome
            self.last_failure = f"{req.op} at {req.addr}: {att.outcome}" + (f" ({att.detail})" if att.detail else "")
            if att.outcome == "modbus_exception":  # the device answered: no point asking again
                raise _Failed(last)
        raise _Failed(last)

    def _read(self, addr: int, count: int) -> list[int]:
        out: list[int] = []
        for a, n in split_ranges(addr, count, MAX_READ_REGS):
            att = self._do(Request("read", self.unit, a, n))
            regs = att.regs or []
            if len(regs) != n:
                raise _Failed("bad_frame")
            out += regs
        return out

    def _write(self, addr: int, values: list[int]) -> None:
        for a, n in split_ranges(addr, len(values), MAX_WRITE_REGS):
            self._do(Request("write", self.unit, a, 0, tuple(values[a - addr : a - addr + n])))

    def _begin(self, k: int, t_s: float, deadline: float) -> None:
        self._k, self._t, self._seq, self._deadline = k, t_s, 0, deadline
        self.link.begin_step(k)

    # -- discovery -----------------------------------------------------------------------
    def discover(self, k: int, t_s: float, deadline: float = float("inf")) -> bool:
        """Walk the SunSpec chain and read model 1 and the layout of 64950. False when the device does not
        answer (the reason is in :attr:`last_failure`); raises :class:`MapError` when it answers with a map
        that breaks the contract."""
        self._begin(k, t_s, deadline)
        return self._discover()

    def _discover(self) -> bool:
        try:
            self.locs = discover(lambda a, n: self._read(a, n))
            self.blocks = {}
            for loc in self.locs:
                if loc.model_id in (MODEL_COMMON, MODEL_BATTERY, MODEL_HIL):
                    self.blocks[loc.model_id] = Block(loc, self._read(loc.addr, loc.length + 2))
        except _Failed:
            self.blocks = {}
            return False
        self.ncell = self.blocks[MODEL_HIL].loc.length - 12
        want = self.dev.bms.ncell_expected
        if want and want != self.ncell:
            raise MapError(f"unit {self.unit}: model 64950 has NCell = {self.ncell}, the device file expects {want}")
        sn = self.blocks[MODEL_COMMON].get("SN")
        self.serial_number = str(sn or "").strip("\x00 ")
        return True

    @property
    def mapped(self) -> bool:
        return bool(self.blocks)

    # -- one step ------------------------------------------------------------------------
    def step(
        self,
        k: int,
        t_s: float,
        meas: Callable[[int], PackMeas],
        setop: int = SETOP_CONNECT,
        alm_rst: bool = False,
        deadline: float = float("inf"),
    ) -> BmsAnswer | None:
        """The step's exchange (see the module docstring), discovering the device first when its map is not
        known; ``meas(ncell)`` gives the pack's measurements on the device's NCell points. None when the BMS
        did not answer in time."""
        self._begin(k, t_s, deadline)
        if not self.mapped and not self._discover():
            return None
        try:
            return self._exchange(meas(self.ncell), setop, alm_rst)
        except _Failed as exc:
            # a device that answered with an exception, a port that went away or a map that moved: walk the
            # chain again before the next exchange. After timeouts and broken frames the map is kept, so the
            # next step writes its measurements first, as the contract orders.
            if exc.outcome in ("modbus_exception", "port_error", "map_changed"):
                self.blocks = {}
            return None

    def _exchange(self, meas: PackMeas, setop: int, alm_rst: bool) -> BmsAnswer:
        h = self.blocks[MODEL_HIL]
        b = self.blocks[MODEL_BATTERY]
        self.plant_hb = next_count(self.plant_hb)
        self.ctrl_hb = next_count(self.ctrl_hb)
        for kcell in range(self.ncell):
            h.set_cell(kcell, float(meas.cells_v[kcell]))
        h.set("PlantHb", self.plant_hb, computed=False)
        h.set("SimT", int(round(meas.sim_t_s * 1000.0)) % U32_WRAP, computed=False)
        h.set("PackV", meas.pack_v)
        h.set("PackA", meas.pack_a)
        h.set("CellVMax", meas.cell_v_max)
        h.set("CellVMin", meas.cell_v_min)
        h.set("CellVAvg", meas.cell_v_avg)
        h.set("CellTMax", meas.cell_t_max_c)
        h.set("CellTMin", meas.cell_t_min_c)
        h.set("SoCTrue", meas.soc_true_frac * 100.0)
        h.set("NCell", self.ncell, computed=False)
        if self.ncell:
            a0, n = h.cell_range()
            self._write(a0, h.all_regs()[a0 - h.loc.addr : a0 - h.loc.addr + n])
        self._write(h.addr("PlantHb"), h.regs("PlantHb", "NCell"))  # the header last: a complete step
        self._do(Request("write", self.unit, b.addr("SetOp"), 0, (int(setop),)))
        hb_vals = (self.ctrl_hb, 1) if alm_rst else (self.ctrl_hb,)
        loc = b.loc
        if self.fc23 is not False:
            try:
                att = self._do(Request("readwrite", self.unit, b.addr("CtrlHb"), loc.length + 2, hb_vals, loc.addr))
                regs = att.regs or []
                self.fc23 = True
            except _Failed as exc:
                if exc.outcome != "modbus_exception" or self.fc23:
                    raise
                self.fc23 = False  # the device does not support FC 23: 16 + 3 from now on
                regs = []
            if self.fc23:
                return self._answer(b, regs)
        self._write(b.addr("CtrlHb"), list(hb_vals))
        return self._answer(b, self._read(loc.addr, loc.length + 2))

    def _answer(self, b: Block, regs: list[int]) -> BmsAnswer:
        loc = b.loc
        if len(regs) != loc.length + 2:
            raise _Failed("bad_frame")
        if regs[0] != MODEL_BATTERY or regs[1] != loc.length:
            self.last_failure = f"model 802 no longer at {loc.addr} (read ID {regs[0]}, L {regs[1]}): the map changed"
            raise _Failed("map_changed")
        b.load(regs)
        return self._decode(b)

    def _decode(self, b: Block) -> BmsAnswer:
        sign = self.dev.bms.current_sign

        def val(name: str) -> Any:
            try:
                return b.get(name)
            except Exception:  # a scale factor not implemented: the point is unusable
                return None

        a = val("A")
        state = b.get("State", computed=False)
        evt = b.get("Evt1", computed=False)
        return BmsAnswer(
            state=int(state) if state is not None else 0,
            evt1=int(evt or 0),
            soc_pct=val("SoC"),
            soh_pct=val("SoH"),
            i_charge_max_a=float(val("AChaMax") or 0.0),
            i_discharge_max_a=float(val("ADisChaMax") or 0.0),
            hb=b.get("Hb", computed=False),
            v_v=val("V"),
            a_a=None if a is None else sign * a,
            alm_rst=b.get("AlmRst", computed=False),
        )
