"""The plant's devices coupled to the simulation: measurements into the registers, setpoints out of them.

Plain Python on a :class:`hil.plant.server.PlantServer` (no mosaik). Per controller step the twin calls

1. :meth:`PlantCoupling.publish` with the :class:`PlantState` of the step just solved (the registers a
   controller reads: PCS 701/713/802, PV 701/64954, Spark 64951, the meter's 701/64955, switch states,
   simulation control);
2. :meth:`PlantCoupling.commands` at the step's end: the reversion timers run on simulated time, the
   accepted writes are taken, and what the owned devices' registers say becomes :class:`Commands` for the
   next electrical step: PV limits (704 ``WMaxLimPct`` with ``WMaxLimPctEna``, ramped up at ``WRmp``),
   Spark shed tiers and IT power caps (64951), breaker operations (64952 ``Cmd``, 802 ``SetOp``).

Groups of devices an external controller may own (``[controller.external] owns``): ``pv`` (704 of the PV
blocks), ``spark`` (64951 commands), ``breakers`` (64952 ``Cmd``, 802 ``SetOp``). The writable points of a
group it does not own are closed (a write is answered ILLEGAL_DATA_ADDRESS naming the setting), and the
in-process controller keeps that part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from hil.plant.devices import (
    MODEL_BATTERY,
    MODEL_DER_CONTROL,
    MODEL_DER_MEASURE,
    MODEL_PV_AVAIL,
    MODEL_SIM_CONTROL,
    MODEL_SITE_LOADS,
    MODEL_SPARK,
    MODEL_STORAGE,
    MODEL_SWITCH,
    UID_METER,
    UID_SIMCTL,
    DeviceImage,
)
from hil.plant.server import PlantServer, Reverted, Write
from twin.config import EXTERNAL_GROUPS
from twin.sunspec802 import SETOP_CONNECT, SETOP_DISCONNECT, STATE_CONNECTED, STATE_DISCONNECTED

__all__ = [
    "GROUPS",
    "SIM_FINISHED",
    "SIM_RUNNING",
    "SIM_STARTING",
    "SIM_WAITING",
    "Commands",
    "PlantCoupling",
    "PlantState",
    "Switching",
]

GROUPS = EXTERNAL_GROUPS  # pv, spark, breakers: the scenario's [controller.external] owns
SIM_STARTING, SIM_RUNNING, SIM_WAITING, SIM_FINISHED = 0, 1, 2, 3  # 64953 St
_CMD_OPEN, _CMD_CLOSE = 1, 2  # 64952 Cmd
_ENABLED = 1
WRMP_PCT_PER_UNIT = 0.01  # 704 WRmp: hundredths of a percent of WMaxRtg per second (10000 = 100 %/s)


@dataclass
class PlantState:
    """The plant over the electrical step just solved, in the twin's units and signs (per block / unit)."""

    steps_done: int  # StepCnt: electrical steps completed
    t_end_s: float  # simulated time at the end of the step
    bess_p_mw: np.ndarray  # + charging
    bess_charge_max_p_mw: np.ndarray  # limits for the next step
    bess_discharge_max_p_mw: np.ndarray
    bess_soc_frac: np.ndarray  # the block's packs, weighted by their usable energy
    bess_e_stored_mwh: np.ndarray
    bess_e_max_mwh: np.ndarray
    bess_in_service: np.ndarray
    pv_p_mw: np.ndarray
    pv_avail_p_mw: np.ndarray
    pv_in_service: np.ndarray
    it_p_mw: np.ndarray
    it_demand_p_mw: np.ndarray
    it_min_p_mw: np.ndarray
    it_max_p_mw: np.ndarray
    cooling_p_mw: np.ndarray
    it_site_min_p_mw: float
    it_site_max_p_mw: float
    aux_p_mw: float
    frequency_hz: float = 60.0  # the island's frequency is not modelled yet: nominal
    gpu_temp_c: np.ndarray | None = None  # per unit: junction at the step's mean power
    gpu_temp_max_c: np.ndarray | None = None  # per unit: at the in-step maximum
    coolant_temp_c: np.ndarray | None = None  # per unit: facility coolant supply
    regime_idx: np.ndarray | None = None  # per unit: 0 dry, 1 adiabatic, 2 chiller (64951 Regime)


@dataclass(frozen=True)
class Switching:
    """A breaker operation the controller asked for: ``elem`` "bess" or "pv", the block, close or open."""

    elem: str
    block: int
    close: bool
    how: str  # "64952 Cmd" or "802 SetOp"


@dataclass
class Commands:
    """What the owned devices' registers ask of the plant from the next electrical step (None: not owned)."""

    pv_p_limit_mw: np.ndarray | None = None  # per PV block, inf: no limit
    shed_tier: np.ndarray | None = None  # per Spark unit
    it_p_cap_mw: np.ndarray | None = None  # per Spark unit, inf: no cap
    switching: list[Switching] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    reverted: list[Reverted] = field(default_factory=list)


class PlantCoupling:
    """Measurements into the devices' registers and the owned devices' setpoints out, per controller step."""

    def __init__(
        self,
        server: PlantServer,
        owns: Iterable[str],
        *,
        step_s: float,
        realtime: bool,
        log: Callable[[float, str, str], None],
    ) -> None:
        self.server = server
        self.owns = frozenset(owns)
        bad = self.owns - set(GROUPS)
        if bad:
            raise ValueError(f"unknown device groups {sorted(bad)}; allowed: {', '.join(GROUPS)}")
        self.step_s = step_s
        self.log = log
        by_kind: dict[str, list[DeviceImage]] = {}
        for img in server.images.values():
            by_kind.setdefault(img.spec.kind, []).append(img)
        for imgs in by_kind.values():
            imgs.sort(key=lambda i: i.spec.index)
        self.pcs, self.pv = by_kind.get("pcs", []), by_kind.get("pv", [])
        self.spark, self.switches = by_kind.get("spark", []), by_kind.get("switch", [])
        self.meter, self.simctl = server.image(UID_METER), server.image(UID_SIMCTL)
        self.pv_rating_mw = np.array([i.get(702, "WMaxRtg") * 1e-6 for i in self.pv])
        self._pv_lim = np.full(len(self.pv), np.inf)  # the limit in force (ramped)
        self._closed = [True] * len(self.switches)  # as last published
        self._commanded_open: set[int] = set()  # switches opened by a command since the last publish
        for img in self.pcs:
            img.set(MODEL_BATTERY, "SetOp", SETOP_CONNECT)
        self._lock_unowned()
        self._cyc_addr = self.simctl.addr(MODEL_SIM_CONTROL, "CycDone")
        self.simctl.set(MODEL_SIM_CONTROL, "StepMs", round(step_s * 1000))
        self.simctl.set(MODEL_SIM_CONTROL, "Mode", 0 if realtime else 1)
        self.simctl.set(MODEL_SIM_CONTROL, "St", SIM_STARTING)

    def _lock_unowned(self) -> None:
        groups: dict[str, list[tuple[DeviceImage, int, str | None]]] = {
            "pv": [(i, MODEL_DER_CONTROL, None) for i in self.pv],
            "spark": [(i, MODEL_SPARK, None) for i in self.spark],
            "breakers": [(i, MODEL_SWITCH, "Cmd") for i in self.switches],  # and 802 SetOp, below
        }
        groups["breakers"] += [(i, MODEL_BATTERY, "SetOp") for i in self.pcs]
        for g, items in groups.items():
            if g in self.owns:
                continue
            why = (
                f"the twin's in-process controller owns the '{g}' devices in this run "
                f"([controller.external] owns = {sorted(self.owns)})"
            )
            for img, mid, only in items:
                for (m, name), p in img.points.items():
                    if m == mid and (only is None or name == only) and p.pdef.get("access") == "RW":
                        img.locked[(m, name)] = why

    # -- measurements in ---------------------------------------------------------------------------
    def publish(self, s: PlantState, *, state: int = SIM_RUNNING) -> None:
        """The step's measurements into the registers, then simulation control (StepCnt last: a controller
        that sees the new StepCnt reads the new values)."""
        for b, img in enumerate(self.pcs):
            on = bool(s.bess_in_service[b])
            w = -float(s.bess_p_mw[b]) * 1e6
            img.put(
                [
                    (MODEL_DER_MEASURE, "W", w),
                    (MODEL_DER_MEASURE, "VA", abs(w)),
                    (MODEL_DER_MEASURE, "ConnSt", 1 if on else 0),
                    (MODEL_DER_MEASURE, "Hz", s.frequency_hz),
                    (MODEL_STORAGE, "WHRtg", float(s.bess_e_max_mwh[b]) * 1e6),
                    (MODEL_STORAGE, "WHAvail", float(s.bess_e_stored_mwh[b]) * 1e6),
                    (MODEL_STORAGE, "SoC", float(s.bess_soc_frac[b]) * 100.0),
                    (MODEL_BATTERY, "SoC", float(s.bess_soc_frac[b]) * 100.0),
                    (MODEL_BATTERY, "WHRtg", float(s.bess_e_max_mwh[b]) * 1e6),
                    (MODEL_BATTERY, "WChaRteMax", float(s.bess_charge_max_p_mw[b]) * 1e6),
                    (MODEL_BATTERY, "WDisChaRteMax", float(s.bess_discharge_max_p_mw[b]) * 1e6),
                    (MODEL_BATTERY, "W", w),
                    (MODEL_BATTERY, "State", STATE_CONNECTED if on else STATE_DISCONNECTED),
                ]
            )
        for b, img in enumerate(self.pv):
            w = float(s.pv_p_mw[b]) * 1e6
            img.put(
                [
                    (MODEL_DER_MEASURE, "W", w),
                    (MODEL_DER_MEASURE, "VA", w),
                    (MODEL_DER_MEASURE, "ConnSt", 1 if s.pv_in_service[b] else 0),
                    (MODEL_DER_MEASURE, "Hz", s.frequency_hz),
                    (MODEL_PV_AVAIL, "WAvail", float(s.pv_avail_p_mw[b]) * 1e6),
                ]
            )
        for u, img in enumerate(self.spark):
            img.put(
                [
                    (MODEL_SPARK, "ITW", float(s.it_p_mw[u]) * 1e6),
                    (MODEL_SPARK, "ITDemW", float(s.it_demand_p_mw[u]) * 1e6),
                    (MODEL_SPARK, "ITMinW", float(s.it_min_p_mw[u]) * 1e6),
                    (MODEL_SPARK, "ITMaxW", float(s.it_max_p_mw[u]) * 1e6),
                    (MODEL_SPARK, "CoolW", float(s.cooling_p_mw[u]) * 1e6),
                ]
            )
            if s.gpu_temp_c is not None and s.gpu_temp_max_c is not None and s.coolant_temp_c is not None:
                img.put(
                    [
                        (MODEL_SPARK, "GPUTmpAvg", float(s.gpu_temp_c[u])),
                        (MODEL_SPARK, "GPUTmpMax", float(s.gpu_temp_max_c[u])),
                        (MODEL_SPARK, "CoolTmp", float(s.coolant_temp_c[u])),
                    ]
                )
            if s.regime_idx is not None:
                img.put([(MODEL_SPARK, "Regime", int(s.regime_idx[u]))])
        fed = float(np.sum(s.pv_p_mw)) - float(np.sum(s.bess_p_mw))  # what the sources deliver to the site
        self.meter.put(
            [
                (MODEL_DER_MEASURE, "W", fed * 1e6),
                (MODEL_DER_MEASURE, "VA", abs(fed) * 1e6),
                (MODEL_DER_MEASURE, "Hz", s.frequency_hz),
                (MODEL_SITE_LOADS, "ITW", float(np.sum(s.it_p_mw)) * 1e6),
                (MODEL_SITE_LOADS, "ITMaxW", s.it_site_max_p_mw * 1e6),
                (MODEL_SITE_LOADS, "ITMinW", s.it_site_min_p_mw * 1e6),
                (MODEL_SITE_LOADS, "AuxW", s.aux_p_mw * 1e6),
            ]
        )
        closed = np.concatenate([np.asarray(s.bess_in_service, bool), np.asarray(s.pv_in_service, bool)])
        for k, img in enumerate(self.switches):
            was, now = self._closed[k], bool(closed[k])
            if was != now:  # counted as it happens: opened (commanded here or tripped) or closed
                cnt = "OpnCnt" if was else "ClsCnt"
                items = [(MODEL_SWITCH, cnt, int(img.get(MODEL_SWITCH, cnt) or 0) + 1)]
                if was and k not in self._commanded_open:
                    items.append((MODEL_SWITCH, "TripCnt", int(img.get(MODEL_SWITCH, "TripCnt") or 0) + 1))
                img.put(items)
                self._closed[k] = now
            if not now:  # open now: a command to open it has been carried out (or had nothing to do)
                self._commanded_open.discard(k)
            img.put([(MODEL_SWITCH, "St", 1 if now else 0)])
        self.server.set_clock(s.t_end_s)  # writes answering these measurements start their timers here
        self.simctl.put(
            [
                (MODEL_SIM_CONTROL, "SimTms", round(s.t_end_s * 1000)),
                (MODEL_SIM_CONTROL, "St", state),
                (MODEL_SIM_CONTROL, "StepCnt", s.steps_done),
            ]
        )

    def set_run_state(self, state: int) -> None:
        self.simctl.put([(MODEL_SIM_CONTROL, "St", state)])

    def cycle_done(self) -> int:
        """64953 CycDone as written (0xFFFFFFFF: none yet), from the registers (pysunspec2 reads that as None)."""
        hi, lo = self.simctl.read(self._cyc_addr, 2)
        return hi << 16 | lo

    # -- setpoints out -----------------------------------------------------------------------------
    def commands(self, now_s: float) -> Commands:
        """Run the reversion timers to ``now_s`` (simulated), take the accepted writes, and read what the owned
        devices ask for the next step. Breaker commands act once (64952 ``Cmd`` goes back to NONE)."""
        reverted = self.server.tick(now_s)
        for r in reverted:
            name = self.server.images[r.unit_id].spec.name
            self.log(now_s, "controller_reverted", f"{name}: {r.model_id}.{r.point} reverted to {r.value:g}")
        out = Commands(writes=self.server.take_writes(), reverted=reverted)
        if "pv" in self.owns:
            out.pv_p_limit_mw = self._pv_limits()
        if "spark" in self.owns:
            out.shed_tier = np.array([int(i.get(MODEL_SPARK, "ShedTier") or 0) for i in self.spark], dtype=np.int64)
            out.it_p_cap_mw = np.array(
                [
                    float(i.get(MODEL_SPARK, "WCap")) * 1e-6 if i.get(MODEL_SPARK, "WCapEna") == _ENABLED else np.inf
                    for i in self.spark
                ]
            )
        if "breakers" in self.owns:
            out.switching = self._switching(out.writes)
        return out

    def _pv_limits(self) -> np.ndarray:
        """704 WMaxLimPct of WMaxRtg where enabled (inf where not); an increase is ramped at WRmp (0: at once)."""
        for b, img in enumerate(self.pv):
            rating = float(img.get(702, "WMax") or 0.0) * 1e-6 or self.pv_rating_mw[b]  # SunSpec: % of WMax
            on = img.get(MODEL_DER_CONTROL, "WMaxLimPctEna") == _ENABLED
            target = float(img.get(MODEL_DER_CONTROL, "WMaxLimPct")) / 100.0 * rating if on else np.inf
            rmp = float(img.get(MODEL_DER_CONTROL, "WRmp") or 0) * WRMP_PCT_PER_UNIT / 100.0 * rating * self.step_s
            cur = self._pv_lim[b]
            if rmp > 0 and target > cur:  # ramp up from the limit in force; no limit once past the rating
                nxt = cur + rmp
                target = nxt if nxt < min(target, rating) else target
            self._pv_lim[b] = target
        return self._pv_lim.copy()

    def _switching(self, writes: list[Write]) -> list[Switching]:
        out: list[Switching] = []
        n_bess = len(self.pcs)
        for k, img in enumerate(self.switches):
            cmd = int(img.get(MODEL_SWITCH, "Cmd") or 0)
            if cmd not in (_CMD_OPEN, _CMD_CLOSE):
                continue
            elem, block = ("bess", k) if k < n_bess else ("pv", k - n_bess)
            close = cmd == _CMD_CLOSE
            img.put([(MODEL_SWITCH, "Cmd", 0)])
            if not close:
                self._commanded_open.add(k)
            out.append(Switching(elem, block, close, "64952 Cmd"))
        uid_pcs = {img.spec.unit_id: b for b, img in enumerate(self.pcs)}
        for w in writes:  # every accepted SetOp write acts (CONNECT after a trip closes the block again)
            b = uid_pcs.get(w.unit_id)
            if b is None or w.model_id != MODEL_BATTERY or w.point != "SetOp":
                continue
            op = int(w.value)
            if op in (SETOP_CONNECT, SETOP_DISCONNECT):
                if op == SETOP_DISCONNECT:
                    self._commanded_open.add(b)
                out.append(Switching("bess", b, op == SETOP_CONNECT, "802 SetOp"))
        return out
