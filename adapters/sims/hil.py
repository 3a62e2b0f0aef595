"""mosaik simulator of the hardware-in-the-loop bridge: packs of the fleet handed to BMSs on a serial line.

At each electrical step ``t``, before the fleet steps (the fleet's input
``hil_ok`` comes from here; the fleet's measurements come back time-shifted,
so this simulator cannot run ahead of the plant):

1. real time: wait for the step's wall-clock slot and measure how late it
   began (lateness); lockstep: no waiting;
2. per bound pack: write the pack model's state at ``t`` (the end of the
   step just completed) into model 64950, read model 802 (:mod:`hil.bms_port`);
3. hand the BMS's State, Evt1 and current limits to the fleet
   (:meth:`twin.fleet.BatteryFleet.set_external`): a pack whose contactor is
   open, whose BMS does not answer or whose heartbeat froze is out of the
   dispatch for the step; the fleet's split gives its share to the other
   packs and the controller sees the lower limits at the next step;
4. score: exchanges, retries, timeouts, the BMS's SoC estimate against the
   model's true SoC, steps clamped by the BMS's limits, and a check that no
   pack current exceeded the limits in force.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adapters.sims.base import EventQueue, ModelSim, SimulationAborted
from hil.bms_port import BmsAnswer, BmsPort, PackMeas
from hil.device import DeviceConfig
from hil.line import LineSettings
from hil.sunspec_map import SETOP_CONNECT, SETOP_DISCONNECT, STATE_NAMES, MapError
from twin.fleet import bms
from twin.fleet.fleet import P_NS, S_I, S_SOC, S_TEMP, S_VCMAX, S_VCMIN, S_VT

HIL_EVENTS = {"bms_reset", "hil_setop"}


@dataclass
class HilOptions:
    """How ``twin hil`` runs (from the command line and the device file)."""

    packs: list[int]
    device: DeviceConfig = field(default_factory=DeviceConfig)
    port: str = ""
    realtime: bool = True  # False: lockstep (no wall clock; every answer is waited for)
    replay: Path | None = None  # a session file to answer from instead of the port
    record: bool = True  # write session.jsonl in the results folder
    overrun_frac: float = 0.1  # a step that starts later than this share of a step is an overrun
    max_overruns: int | None = None  # stop the run when more steps than this overran
    units: list[int] = field(default_factory=list)  # unit id per pack (default: device file, else 1..n)


def _pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(x), q)) if x else 0.0


class HilSim(ModelSim):
    MODEL = "HIL"
    ATTRS = ["hil_ok"]
    INPUTS = ["fleet_meas"]
    PER_STEP_RECORD = False
    EVENT_KINDS = frozenset(HIL_EVENTS - {"bms_reset"})  # owned: hil_setop
    EVENT_KINDS_FOLLOWED = frozenset({"bms_reset"})  # the Fleet's: the alarm reset is also written to the BMSs

    def init(self, sid: str, time_resolution: float = 1.0, *, hil: HilOptions | None = None, **kw: Any) -> dict:
        if hil is None:
            raise ValueError("the HIL simulator needs its options (hil=HilOptions(...))")
        self.opts = hil
        return super().init(sid, time_resolution, **kw)

    # -- set-up ------------------------------------------------------------------------
    def setup(self) -> None:
        from hil.link import open_link
        from hil.session import Session, SessionRecorder

        o, site = self.opts, self.site
        fleet, inv = site.fleet, site.fleet.inv
        self.idx = inv.index_of(o.packs)
        units = o.units or [
            next((b.unit_id for b in o.device.packs if b.id == p), i + 1) for i, p in enumerate(o.packs)
        ]
        self.units = units
        self.events = EventQueue(site.scenario.events, HIL_EVENTS)
        self.session = Session.read(o.replay) if o.replay is not None else None
        timing = o.device.timing
        if self.session is not None:
            self.link = open_link("replay", session=self.session)
        else:
            ln = o.device.line
            self.link = open_link(
                "serial",
                timeout_s=timing.timeout_s,
                settings=LineSettings(o.port, ln.baudrate, ln.bytesize, ln.parity, ln.stopbits),
            )
        self.recorder = None
        out = getattr(self.sink.writer, "out", None) if self.sink is not None else None
        if o.record and out is not None and self.session is None:
            self.recorder = SessionRecorder(
                Path(out) / "session.jsonl",
                {
                    "scenario": site.scenario.name,
                    "step_s": self.dt_s,
                    "mode": "realtime" if o.realtime else "lockstep",
                    "port": o.port,
                    "packs": [{"id": int(p), "unit": int(u)} for p, u in zip(o.packs, units)],
                    "device": o.device.model_dump(mode="json"),
                },
            )
        self.ports = [BmsPort(self.link, u, int(p), o.device, self.recorder) for p, u in zip(o.packs, units)]
        if self.session is None:
            self.link.open()
        fleet.bind_external(self.idx)
        n = len(self.idx)
        self.setop = np.full(n, SETOP_CONNECT)
        self.reset_pending = np.zeros(n, dtype=bool)
        self.link_ok = np.zeros(n, dtype=bool)
        self.ever_ok = np.zeros(n, dtype=bool)
        self.state = np.full(n, bms.STATE_DISCONNECTED)
        self.evt = np.zeros(n, dtype=np.int64)
        self.i_ch = np.zeros(n)
        self.i_dis = np.zeros(n)
        self.lim_ch = np.zeros(n)  # the limits handed to the fleet (0 while the pack is out)
        self.lim_dis = np.zeros(n)
        self.hb = [None] * n
        self.hb_t = np.zeros(n)
        self.hb_frozen = np.zeros(n, dtype=bool)
        self.soc_bms = np.full(n, np.nan)  # the BMS's last SoC estimate, %
        self.soc_err: list[float] = []
        self.lateness: list[float] = []
        self.overruns = 0
        self.io_s: list[float] = []
        self.clamp_steps = np.zeros(n, dtype=np.int64)
        self.sign_mismatch = np.zeros(n, dtype=np.int64)
        self.violations = 0
        self.max_over_a = 0.0
        self.steps_out = np.zeros(n, dtype=np.int64)
        self.n_lost = 0
        self.t0_wall: float | None = None
        self.k = 0
        self.out = {"hil_ok": True}

    def close(self) -> None:
        """Close the port and the session file (safe to call twice)."""
        for obj in (getattr(self, "link", None), getattr(self, "recorder", None)):
            if obj is not None:
                obj.close()

    def finalize(self) -> None:
        self.close()

    # -- measurements of the bound packs -----------------------------------------------
    def _meas(self, j: int, t_s: float, ncell: int) -> PackMeas:
        fleet = self.site.fleet
        i = int(self.idx[j])
        S, P = fleet.S, fleet.P
        ns = P[i, P_NS]
        v_avg = S[i, S_VT] / ns
        vmax, vmin = S[i, S_VCMAX], S[i, S_VCMIN]
        # the model has a mean cell and one weak cell: the weak one is the extreme farther from the mean
        weak = vmax if abs(vmax - v_avg) > abs(vmin - v_avg) else vmin
        cells = np.full(ncell, v_avg)
        if ncell:
            cells[0] = weak
        return PackMeas(
            sim_t_s=t_s,
            pack_v=S[i, S_VT],
            pack_a=S[i, S_I],
            cell_v_max=vmax,
            cell_v_min=vmin,
            cell_v_avg=v_avg,
            cell_t_max_c=S[i, S_TEMP],
            cell_t_min_c=S[i, S_TEMP],
            soc_true_frac=S[i, S_SOC],
            cells_v=cells,
        )

    # -- events ------------------------------------------------------------------------
    def _apply_events(self, t_s: float) -> None:
        inv = self.site.fleet.inv
        for ev in self.events.due(t_s):
            sel = set(int(p) for p in inv.pack_id[inv.select(ev.packs, ev.vehicle, ev.yard_row, ev.block)])
            for j, pid in enumerate(self.opts.packs):
                if int(pid) not in sel:
                    continue
                if ev.kind == "bms_reset":
                    self.reset_pending[j] = True
                    self.site.log(t_s, "hil_alarm_reset", f"pack {pid}: AlmRst = 1 written to its BMS")
                else:
                    self.setop[j] = SETOP_CONNECT if ev.op == "connect" else SETOP_DISCONNECT
                    self.site.log(t_s, "hil_setop", f"pack {pid}: SetOp {ev.op.upper()} from now on")

    # -- one step ----------------------------------------------------------------------
    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        o, site, fleet = self.opts, self.site, self.site.fleet
        dt = self.dt_s
        now = time.perf_counter()
        if self.t0_wall is None:
            self.t0_wall = now
        slot = self.t0_wall + t_s
        if o.realtime:
            if now < slot:
                time.sleep(slot - now)
            late = time.perf_counter() - slot
            self.lateness.append(late)
            if late > o.overrun_frac * dt:
                self.overruns += 1
                if self.overruns == 1 or self.overruns % 100 == 0:
                    site.log(
                        t_s, "hil_overrun", f"step began {late * 1e3:.1f} ms late ({self.overruns} overrun(s) so far)"
                    )
                if o.max_overruns is not None and self.overruns > o.max_overruns:
                    site.log(t_s, "hil_aborted", f"more than {o.max_overruns} overrun(s): run stopped")
                    raise SimulationAborted(
                        f"HIL: {self.overruns} steps overran (limit {o.max_overruns}) at t = {t_s:g} s"
                    )
            deadline = slot + o.device.timing.io_budget_frac * dt
        else:
            deadline = float("inf")
        self._apply_events(t_s)
        k = self.k
        self.k += 1
        t_io = time.perf_counter()
        S = fleet.S
        i_now = S[self.idx, S_I].copy()  # the current of the step just completed
        for j, port in enumerate(self.ports):
            pid = port.pack_id
            # the limits in force during the step just completed: was any exceeded? was it clamped?
            if k > 0:
                ia = i_now[j]
                lim = self.lim_ch[j] if ia > 0 else self.lim_dis[j]
                over = abs(ia) - lim
                if over > 1e-6 * max(lim, 1.0):
                    self.violations += 1
                    self.max_over_a = max(self.max_over_a, float(over))
                elif lim > 0 and abs(ia) >= lim * (1 - 1e-4):
                    self.clamp_steps[j] += 1
            try:
                ans = port.step(
                    k,
                    t_s,
                    lambda ncell, j=j: self._meas(j, t_s, ncell),
                    int(self.setop[j]),
                    bool(self.reset_pending[j]),
                    deadline,
                )
            except MapError as exc:
                raise SimulationAborted(f"HIL pack {pid} (unit {port.unit}): {exc}") from None
            self._take(j, t_s, ans, port)
        self.io_s.append(time.perf_counter() - t_io)
        # what the fleet sees: the BMS's state, or DISCONNECTED while its link or heartbeat is lost; limits
        # only for a pack in service (they are in force for the next step)
        usable = self.link_ok & ~self.hb_frozen
        on = usable & (self.state == bms.STATE_CONNECTED)
        self.steps_out += ~on
        self.lim_ch, self.lim_dis = np.where(on, self.i_ch, 0.0), np.where(on, self.i_dis, 0.0)
        fleet.set_external(
            self.idx, np.where(usable, self.state, bms.STATE_DISCONNECTED), self.evt, self.lim_ch, self.lim_dis
        )
        j0 = 0
        p0 = self.ports[j0]
        i0 = int(self.idx[j0])
        self.record = {
            "hil_link_ok": float(self.link_ok.all()),
            "hil_bms_state": float(self.state[j0]),
            "hil_i_charge_max_a": float(self.lim_ch[j0]),
            "hil_i_discharge_max_a": float(self.lim_dis[j0]),
            "hil_pack_i_a": float(i_now[j0]),
            "hil_soc_true_pct": float(S[i0, S_SOC] * 100.0),
            "hil_soc_bms_pct": float(self.soc_bms[j0]),
            "hil_lateness_ms": float(self.lateness[-1] * 1e3) if o.realtime and self.lateness else 0.0,
            "hil_io_ms": float(self.io_s[-1] * 1e3),
            "hil_attempts": float(p0.stats["attempts"]),
        }
        self.out = {"hil_ok": True}

    def _note_cells(self, port: BmsPort, j: int, t_s: float) -> None:
        ns = int(self.site.fleet.P[int(self.idx[j]), P_NS])
        if port.ncell != ns:
            self.site.log(
                t_s,
                "hil_cell_map",
                f"pack {port.pack_id}: the BMS has NCell = {port.ncell}, the pack model {ns} series cells: "
                f"its mean cell and weakest cell are mapped onto {port.ncell} points (one weak, the rest "
                f"at the mean)",
            )

    def _take(self, j: int, t_s: float, ans: BmsAnswer | None, port: BmsPort) -> None:
        site, pid = self.site, port.pack_id
        if ans is None:
            if self.link_ok[j] or self.k == 1:  # lost now, or never there from the first step
                self.n_lost += 1
                site.log(
                    t_s,
                    "hil_link_lost",
                    f"pack {pid} (unit {port.unit}): no answer after "
                    f"{1 + self.opts.device.timing.retries} attempt(s): "
                    f"{port.last_failure}; pack out of service",
                )
                if self.recorder is not None:
                    self.recorder.note(self.k - 1, t_s, "link_lost", unit=port.unit, why=port.last_failure)
            self.link_ok[j] = False
            return
        if not self.ever_ok[j]:
            self._note_cells(port, j, t_s)
        if not self.link_ok[j]:
            what = "answers" if self.ever_ok[j] else "first answer"
            site.log(
                t_s,
                "hil_link_restored" if self.ever_ok[j] else "hil_link_up",
                f"pack {pid} (unit {port.unit}): {what} from BMS '{port.serial_number}', NCell {port.ncell}, "
                f"State {STATE_NAMES.get(ans.state, ans.state)}",
            )
            if self.recorder is not None:
                self.recorder.note(self.k - 1, t_s, "link_up", unit=port.unit)
        self.link_ok[j] = True
        self.ever_ok[j] = True
        # heartbeat: frozen, or gone backwards (the BMS rebooted)
        old = self.hb[j]
        if ans.hb is not None:
            if old is None or ans.hb != old:
                if old is not None and ans.hb < old and not (old > 65000 and ans.hb < 500):
                    site.log(t_s, "bms_reboot", f"pack {pid}: BMS heartbeat went back from {old} to {ans.hb}")
                if self.hb_frozen[j]:
                    site.log(t_s, "bms_heartbeat_restored", f"pack {pid}: BMS heartbeat moves again")
                self.hb_frozen[j] = False
                self.hb[j] = ans.hb
                self.hb_t[j] = t_s
            elif not self.hb_frozen[j] and t_s - self.hb_t[j] >= self.opts.device.timing.hb_timeout_s:
                self.hb_frozen[j] = True
                site.log(
                    t_s,
                    "bms_heartbeat_frozen",
                    f"pack {pid}: BMS heartbeat stuck at {ans.hb} for {t_s - self.hb_t[j]:g} s; pack out of service",
                )
        if ans.state != self.state[j]:
            names = ", ".join(bms.evt1_names(ans.evt1)) or "no alarm"
            kind = "bms_contactor_closed" if ans.state == bms.STATE_CONNECTED else "bms_contactor_open"
            site.log(
                t_s,
                kind,
                f"pack {pid}: BMS State {STATE_NAMES.get(int(self.state[j]), self.state[j])} -> "
                f"{STATE_NAMES.get(ans.state, ans.state)} (Evt1: {names})",
            )
        new_alarm = ans.evt1 & ~int(self.evt[j]) & (bms.ALARM_MASK | 1 << bms.COMMUNICATION_ERROR)
        if new_alarm:
            site.log(
                t_s, "bms_alarm", f"pack {pid}: BMS raised {', '.join(bms.evt1_names(new_alarm)) or hex(new_alarm)}"
            )
        self.reset_pending[j] = False  # written with this exchange
        self.state[j] = ans.state
        self.evt[j] = ans.evt1
        self.i_ch[j] = ans.i_charge_max_a
        self.i_dis[j] = ans.i_discharge_max_a
        # the BMS's own current reading (802 A, after the device file's sign) against the model's: opposite
        # signs step after step mean the product reports discharge positive (current_sign = -1)
        i_model = float(self.site.fleet.S[int(self.idx[j]), S_I])
        if ans.a_a is not None and abs(i_model) > 1.0 and abs(ans.a_a) > 1.0 and (ans.a_a > 0) != (i_model > 0):
            self.sign_mismatch[j] += 1
            if self.sign_mismatch[j] == 3:
                site.log(
                    t_s,
                    "hil_sign_mismatch",
                    f"pack {pid}: the BMS reads {ans.a_a:+.1f} A where the model has {i_model:+.1f} A "
                    f"(3 steps so far): if the product reports discharge positive, set "
                    f"[bms] current_sign = {-self.opts.device.bms.current_sign} in its device file",
                )
        if ans.soc_pct is not None:
            true_pct = float(self.site.fleet.S[int(self.idx[j]), S_SOC] * 100.0)
            self.soc_bms[j] = ans.soc_pct
            self.soc_err.append(float(ans.soc_pct) - true_pct)

    # -- scores ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        o = self.opts
        tot: dict[str, int] = {}
        for p in self.ports:
            for key, v in p.stats.items():
                tot[key] = tot.get(key, 0) + int(v)
        err = np.asarray(self.soc_err)
        late_ms = [x * 1e3 for x in self.lateness]
        s: dict[str, Any] = {
            "mode": "replay" if o.replay is not None else ("realtime" if o.realtime else "lockstep"),
            "port": o.port if o.replay is None else str(o.replay),
            "step_s": self.dt_s,
            "steps": self.k,
            "packs": [
                {
                    "id": p.pack_id,
                    "unit": p.unit,
                    "serial_number": p.serial_number,
                    "ncell": p.ncell,
                    "steps_out_of_service": int(self.steps_out[j]),
                    "clamped_steps": int(self.clamp_steps[j]),
                }
                for j, p in enumerate(self.ports)
            ],
            "exchanges": tot.get("exchanges", 0),
            "attempts": tot.get("attempts", 0),
            "retries": tot.get("retries", 0),
            "timeouts": tot.get("timeout", 0),
            "bad_frames": tot.get("bad_frame", 0),
            "port_errors": tot.get("port_error", 0),
            "modbus_exceptions": tot.get("modbus_exception", 0),
            "skipped_for_deadline": tot.get("skipped", 0),
            "link_lost_events": self.n_lost,
            "soc_estimate_error_pct": {
                "n": int(err.size),
                "mean": round(float(err.mean()), 4) if err.size else None,
                "mean_abs": round(float(np.abs(err).mean()), 4) if err.size else None,
                "rms": round(float(np.sqrt((err**2).mean())), 4) if err.size else None,
                "max_abs": round(float(np.abs(err).max()), 4) if err.size else None,
                "last": round(float(err[-1]), 4) if err.size else None,
            },
            "clamped_steps": int(self.clamp_steps.sum()),
            "current_sign_mismatch_steps": int(self.sign_mismatch.sum()),
            "current_limit_violations": int(self.violations),
            "current_over_limit_max_a": round(self.max_over_a, 6),
            "io_ms": {
                "p50": round(_pct(self.io_s, 50) * 1e3, 3),
                "p99": round(_pct(self.io_s, 99) * 1e3, 3),
                "max": round(max(self.io_s, default=0.0) * 1e3, 3),
            },
        }
        if o.realtime and o.replay is None:
            s["lateness_ms"] = {
                "p50": round(_pct(late_ms, 50), 3),
                "p99": round(_pct(late_ms, 99), 3),
                "max": round(max(late_ms, default=0.0), 3),
                "overruns": self.overruns,
                "overrun_threshold_ms": round(o.overrun_frac * self.dt_s * 1e3, 3),
            }
        if self.session is not None:
            s["replay_divergences"] = int(self.link.divergences)
            s["replay_first_divergence"] = self.link.first_divergence
        if self.recorder is not None:
            s["session_file"] = str(self.recorder.path)
            s["session_lines"] = self.recorder.n_lines
        return s
