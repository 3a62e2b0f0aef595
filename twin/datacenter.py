"""The modular AI data center: Spark units with GPU power, power caps and liquid cooling.

Per electrical step, for every unit (:meth:`DataCenter.step`):

1. GPU power at the fine step (:class:`twin.gpu_load.GpuLoad`: training,
   inference, constant workloads; power floor, ramp limit, PSU filter).
2. Leakage: IT power scales by ``1 + leakage_per_k (T_coolant - leakage_ref_c)``
   (the coolant temperature at the start of the step). That is the unit's
   **demand**.
3. Caps, the lower of: the controller's shed tier (``shed_tiers_frac`` of
   peak) and the **thermal cap** that holds the GPU junction at the slowdown
   temperature, ``peak (slowdown_c - T_coolant) / tj_rise_full_k``, never below
   ``throttle_min_frac`` of peak (the GPUs' lowest power limit). A unit whose
   junction would reach ``shutdown_c`` even so shuts down: its IT power is zero
   until the coolant has been below ``restart_coolant_c`` with the pumps
   running for ``restart_after_s``; its jobs then restart.
4. The fine samples after the caps give the step's **mean, minimum and
   maximum** (per unit and for the site: the site's are of the summed fine
   trace); the mean goes to the power flow, the extremes to the controller and
   the headroom check (no silent aliasing).
5. The cooling plant (:class:`twin.cooling.Cooling`) takes the mean IT power
   as heat and returns pump, fan and chiller power: the three cooling loads on
   the unit's 480 V bus.

What was cut is split in two: ``shed`` (the controller's cap) and
``thermal_cut`` (throttling and shutdown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.config import (ConstantJobConfig, DataCenterModelConfig, InferenceJobConfig, TrainingJobConfig)
from twin.cooling import REGIMES, Cooling, CoolingStep
from twin.gpu_load import ConstantLoad, GpuLoad, InferenceService, TrainingJob, UnitWorkload


@dataclass
class DataCenterStep:
    """One electrical step of every unit; powers in MW (means over the step unless named)."""

    it_demand_p_mw: np.ndarray  # what the jobs would draw (with leakage), per unit
    it_p_mw: np.ndarray  # served: after the shed and thermal caps and shutdowns
    it_min_p_mw: np.ndarray  # in-step minimum and maximum of the served power, per unit
    it_max_p_mw: np.ndarray
    it_site_min_p_mw: float  # of the summed fine trace
    it_site_max_p_mw: float
    shed_p_mw: np.ndarray  # cut by the controller's shed tier
    thermal_cut_p_mw: np.ndarray  # cut by throttling and shutdown
    gpu_temp_c: np.ndarray  # junction at the step's mean power, end of step
    gpu_temp_max_c: np.ndarray  # junction at the in-step maximum
    throttled: np.ndarray  # bool per unit: the thermal cap bit
    shutdown: np.ndarray  # bool per unit
    cooling: CoolingStep
    fine_site_p_mw: np.ndarray  # site IT power at the fine step (served)


def default_fine_step_s(step_s: float) -> float:
    """The fine step when the scenario does not set one: 10 ms up to 1 s steps, else 1/100 of the step."""
    return 0.01 if step_s <= 1.0 + 1e-9 else step_s / 100.0


def _workload(j: TrainingJobConfig | InferenceJobConfig | ConstantJobConfig) -> TrainingJob | InferenceService | ConstantLoad:
    d = j.model_dump(exclude={"kind", "units"})
    if isinstance(j, TrainingJobConfig):
        return TrainingJob(**d)
    if isinstance(j, InferenceJobConfig):
        return InferenceService(**d)
    return ConstantLoad(**d)


def unit_workloads(cfg: DataCenterModelConfig, n_units: int, it_peak_mw: float) -> list[UnitWorkload]:
    """Every unit's racks and workloads from the scenario."""
    jobs = cfg.jobs if cfg.jobs is not None else (TrainingJobConfig(kind="training"),)
    u = cfg.unit
    out = []
    for ui in range(n_units):
        mine = tuple(_workload(j) for j in jobs if j.units == "all" or ui in j.units)
        out.append(UnitWorkload(racks=u.racks, rack_peak_kw=it_peak_mw * 1000.0 / u.racks, idle_frac=u.idle_frac,
                                psu_tau_s=u.psu_tau_s, ramp_frac_per_s=u.ramp_frac_per_s, floor_frac=u.floor_frac,
                                jobs=mine))
    return out


class DataCenter:
    def __init__(self, cfg: DataCenterModelConfig, *, n_units: int, it_peak_mw: float, start_hour: float, seed: int,
                 step_s: float) -> None:
        self.cfg = cfg
        self.n = n_units
        self.peak = np.full(n_units, it_peak_mw)
        self.tiers = np.asarray((math.inf,) + tuple(cfg.shed_tiers_frac))  # tier 0: no cap
        self.fine_step_s = cfg.fine_step_s or default_fine_step_s(step_s)
        self.units = unit_workloads(cfg, n_units, it_peak_mw)
        self.gpu = GpuLoad(self.units, fine_dt_s=self.fine_step_s, seed=seed, start_hour=start_hour)
        # The plants start in the steady state of the load the jobs settle to (not of their first
        # second, still warming up from idle): a throwaway copy of the synthesis over 2 min.
        probe = GpuLoad(self.units, fine_dt_s=0.1, seed=seed, start_hour=start_hour)
        probe.samples(0.0, 60.0)
        self._p_init_mw = probe.samples(60.0, 60.0).mean(axis=1)
        self.cooling = Cooling(cfg.cooling, n_units, it_peak_mw=it_peak_mw)
        self.shutdown = np.zeros(n_units, dtype=bool)
        self.throttled = np.zeros(n_units, dtype=bool)
        self._ok_since = np.full(n_units, math.nan)  # restart conditions met since (s)
        self._stopped_jobs: list[list[int]] = [[] for _ in range(n_units)]
        self._initialised = False
        # books for the summary
        self.gpu_temp_max_c = -math.inf
        self.throttle_s = np.zeros(n_units)
        self.n_shutdowns = 0
        self.regime_s = np.zeros((len(REGIMES), n_units))
        self.water_l = 0.0
        self.e_pumps_mwh = self.e_fans_mwh = self.e_chiller_mwh = 0.0

    # ---- events ---------------------------------------------------------------
    def units_of(self, unit: int | None) -> list[int]:
        return list(range(self.n)) if unit is None else [unit]

    def set_floor(self, unit: int | None, frac: float | None, t_s: float) -> None:
        for u in self.units_of(unit):
            self.gpu.set_floor(u, frac, t_s)

    # ---- one step ---------------------------------------------------------------
    def step(self, t_s: float, dt_s: float, shed_tier: np.ndarray | None, temp_db_c: float,
             temp_wb_c: float) -> tuple[DataCenterStep, list[tuple[int, str, str]]]:
        """Advance every unit over [t_s, t_s + dt_s). Returns the step and the state changes
        ``(unit, kind, message)`` for the events log."""
        cfg, g = self.cfg, self.cfg.gpu
        log: list[tuple[int, str, str]] = []
        fine = self.gpu.samples(t_s, dt_s)  # (units, samples), MW
        cool = self.cooling
        if not self._initialised:
            cool.steady_state(self._p_init_mw, temp_db_c, temp_wb_c)
            self._initialised = True
        tc0 = cool.temp_coolant_c.copy()
        leak = np.clip(1.0 + g.leakage_per_k * (tc0 - g.leakage_ref_c), 0.8, 1.5)
        demand = fine * leak[:, None]
        peak = self.peak
        tier = np.zeros(self.n, dtype=np.int64) if shed_tier is None else np.asarray(shed_tier)
        cap_shed = peak * self.tiers[np.minimum(tier, len(self.tiers) - 1)]
        cap_th = peak * np.maximum((g.slowdown_c - tc0) / g.tj_rise_full_k, g.throttle_min_frac)
        d_max = demand.max(axis=1)
        after_shed = np.minimum(demand, cap_shed[:, None])
        served = np.minimum(after_shed, cap_th[:, None])
        # shutdown: the junction would reach the shutdown temperature even at the capped power
        tj_run = tc0 + g.tj_rise_full_k * served.max(axis=1) / peak
        for u in np.flatnonzero((tj_run >= g.shutdown_c) & ~self.shutdown):
            self.shutdown[u] = True
            self.n_shutdowns += 1
            self._ok_since[u] = math.nan
            log.append((int(u), "gpu_shutdown", f"unit {u}: GPU junction {tj_run[u]:.1f} degC >= {g.shutdown_c:g}: "
                        "IT load drops out, jobs stop"))
            t_next = t_s + dt_s
            running = [ji for ji in range(len(self.units[u].jobs)) if self._job_running(u, ji, t_next)]
            for ji in running:
                self.gpu.end_job(int(u), ji, t_next)
            self._stopped_jobs[u] = running
        served[self.shutdown] = 0.0
        throttled = (cap_th < np.minimum(d_max, cap_shed) - 1e-12) & ~self.shutdown
        for u in np.flatnonzero(throttled != self.throttled):
            if throttled[u]:
                log.append((int(u), "gpu_throttle", f"unit {u}: GPU junction at slowdown {g.slowdown_c:g} degC: "
                            f"power capped at {cap_th[u]:.3f} MW (coolant {tc0[u]:.1f} degC)"))
            elif not self.shutdown[u]:
                log.append((int(u), "gpu_throttle_end", f"unit {u}: throttling ends (coolant {tc0[u]:.1f} degC)"))
        self.throttled = throttled

        it = served.mean(axis=1)
        dem = demand.mean(axis=1)
        shed = dem - after_shed.mean(axis=1)
        cut = dem - shed - it
        site = served.sum(axis=0)
        cs = cool.step(dt_s, it, temp_db_c, temp_wb_c)
        tc1 = cool.temp_coolant_c
        tj = np.where(self.shutdown, tc1, tc1 + g.tj_rise_full_k * it / peak)
        tj_max = np.where(self.shutdown, np.maximum(tc0, tc1),
                          np.maximum(tc0, tc1) + g.tj_rise_full_k * served.max(axis=1) / peak)
        self._restart(t_s + dt_s, log)

        # books
        self.gpu_temp_max_c = max(self.gpu_temp_max_c, float(tj_max.max()))
        self.throttle_s += dt_s * throttled
        self.regime_s[cs.regime, np.arange(self.n)] += dt_s
        self.water_l += float(cs.water_l.sum())
        h = dt_s / 3600.0
        self.e_pumps_mwh += float(cs.pump_p_mw.sum()) * h
        self.e_fans_mwh += float(cs.fan_p_mw.sum()) * h
        self.e_chiller_mwh += float(cs.chiller_p_mw.sum()) * h
        st = DataCenterStep(
            it_demand_p_mw=dem, it_p_mw=it, it_min_p_mw=served.min(axis=1), it_max_p_mw=served.max(axis=1),
            it_site_min_p_mw=float(site.min()), it_site_max_p_mw=float(site.max()), shed_p_mw=shed,
            thermal_cut_p_mw=np.maximum(cut, 0.0), gpu_temp_c=tj, gpu_temp_max_c=tj_max, throttled=throttled.copy(),
            shutdown=self.shutdown.copy(), cooling=cs, fine_site_p_mw=site,
        )
        return st, log

    def _job_running(self, u: int, ji: int, t_s: float) -> bool:
        on, _ = self.gpu._life[u][ji].state(np.array([t_s]))
        return bool(np.asarray(on).reshape(-1)[0])

    def _restart(self, t_s: float, log: list[tuple[int, str, str]]) -> None:
        g, cool = self.cfg.gpu, self.cooling
        ok = cool.pump_c_on & cool.pump_f_on & (cool.temp_coolant_c < g.restart_coolant_c)
        for u in np.flatnonzero(self.shutdown):
            if not ok[u]:
                self._ok_since[u] = math.nan
                continue
            if math.isnan(self._ok_since[u]):
                self._ok_since[u] = t_s
            if t_s - self._ok_since[u] >= g.restart_after_s - 1e-9:
                self.shutdown[u] = False
                for ji in self._stopped_jobs[u]:
                    self.gpu.start_job(int(u), ji, t_s)
                self._stopped_jobs[u] = []
                log.append((int(u), "gpu_restart", f"unit {u}: coolant {cool.temp_coolant_c[u]:.1f} degC, pumps running "
                            f"for {g.restart_after_s:g} s: unit restarts, jobs restart"))

    def summary(self) -> dict:
        c = self.cooling
        heat_in = float(c.heat_in_j.sum())
        err = heat_in - float(c.heat_rejected_j.sum()) - float(c.stored_j.sum())
        return {
            "gpu_temp_c_max": round(self.gpu_temp_max_c, 3) if math.isfinite(self.gpu_temp_max_c) else None,
            "throttle_unit_s": round(float(self.throttle_s.sum()), 3),
            "n_shutdowns": self.n_shutdowns,
            "regime_unit_h": {r: round(float(self.regime_s[i].sum()) / 3600.0, 4) for i, r in enumerate(REGIMES)},
            "pumps_mwh": round(self.e_pumps_mwh, 6),
            "fans_mwh": round(self.e_fans_mwh, 6),
            "chiller_mwh": round(self.e_chiller_mwh, 6),
            "adiabatic_water_m3": round(self.water_l / 1000.0, 4),
            "heat_in_mwh": round(heat_in / 3.6e9, 6),
            "heat_rejected_mwh": round(float(c.heat_rejected_j.sum()) / 3.6e9, 6),
            "heat_stored_mwh": round(float(c.stored_j.sum()) / 3.6e9, 6),
            "heat_balance_error": err / heat_in if heat_in > 0 else 0.0,
        }
