"""mosaik simulator of the data center (all Spark units in one entity).

Steps every electrical step. Per step it synthesises the GPU power at the
fine step, applies the controller's shed tiers (time-shifted input) and the
thermal caps, steps the cooling plants, and hands the grid:

* ``it_p_mw``: the served IT power per unit, mean over the step (power flow);
* ``it_demand_p_mw``: what the jobs would have drawn;
* ``it_max_p_mw`` / ``it_min_p_mw``: in-step extremes per unit, and
  ``it_site_max_p_mw`` / ``it_site_min_p_mw`` of the summed fine trace;
* ``cooling_p_mw``: shape (3, units), pumps, fans and chiller: three loads on
  each unit's 480 V bus.

Job and power-floor events act at their exact time (fine-step resolution);
cooling-plant events at the first electrical step at or after their time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.sims.base import ModelSim
from twin.datacenter.cooling import REGIMES

__all__ = ["COOLING_EVENTS", "JOB_EVENTS", "DataCenterSim"]

# applied at the first electrical step at or after their time
COOLING_EVENTS = frozenset(
    {
        "cooling_pump_trip",
        "cooling_pump_restore",
        "dry_cooler_fan_fail",
        "dry_cooler_fan_restore",
        "chiller_trip",
        "chiller_restore",
    }
)
JOB_EVENTS = frozenset({"job_start", "job_stop", "job_crash", "power_floor"})  # at their exact time


class DataCenterSim(ModelSim):
    MODEL = "DataCenter"
    # Each output on its own, and all of them as one ``dc_meas`` dict for the grid (one attribute
    # per step costs less in mosaik than seven).
    MEAS = [
        "it_demand_p_mw",
        "it_p_mw",
        "it_min_p_mw",
        "it_max_p_mw",
        "it_site_min_p_mw",
        "it_site_max_p_mw",
        "cooling_p_mw",
    ]
    ATTRS = MEAS + ["dc_meas"]
    INPUTS = ["temp_amb_c", "temp_wb_c", "shed_tier", "it_p_cap_mw"]
    EVENT_KINDS = COOLING_EVENTS | JOB_EVENTS

    def setup(self) -> None:
        if self.period_s != self.time_resolution:
            raise ValueError("the data center steps every electrical step")
        self.events = self.event_queue(COOLING_EVENTS)
        self.job_events = self.event_queue(JOB_EVENTS)
        n = self.site.datacenter.n
        self.names = {
            k: [f"spark_u{i:02d}_{k}" for i in range(n)]
            for k in ("gpu_temp_c", "coolant_temp_c", "facility_temp_c", "regime_idx", "cooling_p_mw")
        }
        self._regime: np.ndarray | None = None
        self.fine_rows: list[np.ndarray] = []  # site IT at the fine step, when record_fine_it

    def _cooling_event(self, t_s: float, ev: Any) -> str:
        c = self.site.datacenter.cooling
        u = ev.unit
        if ev.kind in ("cooling_pump_trip", "cooling_pump_restore"):
            on = ev.kind == "cooling_pump_restore"
            (c.pump_c_on if ev.loop == "coolant" else c.pump_f_on)[u] = on
            return f"unit {u}: {ev.loop} pump {'restored' if on else 'tripped'}"
        if ev.kind == "dry_cooler_fan_fail":
            c.fans_ok_frac[u] = max(0.0, c.fans_ok_frac[u] - ev.lost_frac)
            return f"unit {u}: dry-cooler fans failed, {c.fans_ok_frac[u]:.0%} left"
        if ev.kind == "dry_cooler_fan_restore":
            c.fans_ok_frac[u] = 1.0
            return f"unit {u}: dry-cooler fans restored"
        on = ev.kind == "chiller_restore"
        c.chiller_ok[u] = on
        return f"unit {u}: chiller {'restored' if on else 'tripped'}"

    def _job_event(self, t_s: float, ev: Any) -> str:
        dc = self.site.datacenter
        if ev.kind == "power_floor":
            dc.set_floor(ev.unit, ev.floor_frac, t_s)
            where = "every unit" if ev.unit is None else f"unit {ev.unit}"
            return f"{where}: power floor {'off' if ev.floor_frac is None else f'{ev.floor_frac:g} of rack peak'}"
        if ev.kind == "job_crash":
            dc.gpu.crash_job(ev.unit, ev.job, t_s, ev.restart_after_s)
        elif ev.kind == "job_start":
            dc.gpu.start_job(ev.unit, ev.job, t_s)
        else:
            dc.gpu.end_job(ev.unit, ev.job, t_s)
        where = "every unit running it" if ev.unit is None else f"unit {ev.unit}"
        return f"job {ev.job!r} on {where}: {ev.kind.removeprefix('job_')}"

    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        dc = self.site.datacenter
        dt = self.dt_s
        for ev in self.events.due(t_s):
            self.site.log(t_s, ev.kind, self._cooling_event(t_s, ev))
        for ev in self.job_events.due_before(t_s + dt):
            t_ev = max(ev.at_s, t_s)
            self.site.log(t_ev, ev.kind, self._job_event(t_ev, ev))
        temp = float(inputs["temp_amb_c"])
        wb = float(inputs.get("temp_wb_c", temp))
        st, changes = dc.step(t_s, dt, inputs.get("shed_tier"), temp, wb, it_p_cap_mw=inputs.get("it_p_cap_mw"))
        for _u, kind, msg in changes:
            self.site.log(t_s, kind, msg)
        cs = st.cooling
        if self._regime is None or (cs.regime != self._regime).any():
            for u in np.flatnonzero(cs.regime != (self._regime if self._regime is not None else -1)):
                self.site.log(
                    t_s,
                    "cooling_regime",
                    f"unit {u}: {REGIMES[cs.regime[u]]} (ambient {temp:.1f} degC, wet bulb {wb:.1f} degC)",
                )
            self._regime = cs.regime.copy()
        cool = cs.cooling_p_mw
        self.out = {
            "it_demand_p_mw": st.it_demand_p_mw,
            "it_p_mw": st.it_p_mw,
            "it_min_p_mw": st.it_min_p_mw,
            "it_max_p_mw": st.it_max_p_mw,
            "it_site_min_p_mw": st.it_site_min_p_mw,
            "it_site_max_p_mw": st.it_site_max_p_mw,
            "cooling_p_mw": cool,
        }
        self.out["dc_meas"] = dict(self.out)
        # read by the controller link (64951), not wired in mosaik
        self.out["gpu_temp_c"], self.out["gpu_temp_max_c"] = st.gpu_temp_c, st.gpu_temp_max_c
        self.out["coolant_temp_c"], self.out["regime_idx"] = dc.cooling.temp_coolant_c, cs.regime
        cool_u = cool.sum(axis=0)
        rec = {
            "it_demand_p_mw": sum(st.it_demand_p_mw.tolist()),
            "it_site_min_p_mw": st.it_site_min_p_mw,
            "it_site_max_p_mw": st.it_site_max_p_mw,
            "shed_p_mw": sum(st.shed_p_mw.tolist()),
            "it_thermal_cut_p_mw": sum(st.thermal_cut_p_mw.tolist()),
            "heat_rejected_mw": float(cs.q_dry_mw.sum() + cs.q_chiller_mw.sum()),
            "gpu_temp_max_c": float(st.gpu_temp_max_c.max()),
            "n_units_throttled": int(st.throttled.sum()),
            "n_units_shutdown": int(st.shutdown.sum()),
        }
        rec.update(zip(self.names["gpu_temp_c"], st.gpu_temp_c.tolist()))
        rec.update(zip(self.names["coolant_temp_c"], dc.cooling.temp_coolant_c.tolist()))
        rec.update(zip(self.names["facility_temp_c"], dc.cooling.temp_facility_c.tolist()))
        rec.update(zip(self.names["regime_idx"], cs.regime.tolist()))
        rec.update(zip(self.names["cooling_p_mw"], cool_u.tolist()))
        self.record = rec
        if dc.cfg.record_fine_it:
            self.fine_rows.append(st.fine_site_p_mw.astype(np.float32))
