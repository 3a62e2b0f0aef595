"""The modular AI data center: Spark units with GPU power, power caps and liquid cooling.

Per electrical step, for every unit (:meth:`DataCenter.step`):

1. GPU power at the fine step (:class:`twin.datacenter.gpu_load.GpuLoad`: training,
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
5. The cooling plant (:class:`twin.datacenter.cooling.Cooling`) takes the mean IT power
   as heat and returns pump, fan and chiller power: the three cooling loads on
   the unit's 480 V bus.

What was cut is split in two: ``shed`` (the controller's cap) and
``thermal_cut`` (throttling and shutdown).

Recorded IT power (:meth:`DataCenter.use_recorded_it`) replaces steps 1 and 2
for the units it names: their demand is the recorded power, held from sample
to sample; the caps, shutdown and cooling act on it as on the synthesis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from twin.config import ConstantJobConfig, DataCenterModelConfig, InferenceJobConfig, TrainingJobConfig
from twin.datacenter.cooling import REGIMES, Cooling, CoolingStep
from twin.datacenter.gpu_load import ConstantLoad, GpuLoad, InferenceService, TrainingJob, UnitWorkload

__all__ = ["INIT_WINDOW_S", "DataCenter", "DataCenterStep", "default_fine_step_s", "unit_workloads"]

# Recorded IT power: the cooling plants start in the steady state of its mean over this first window (s).
INIT_WINDOW_S = 120.0


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


def _workload(
    j: TrainingJobConfig | InferenceJobConfig | ConstantJobConfig,
) -> TrainingJob | InferenceService | ConstantLoad:
    d = j.workload_kwargs()
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
        out.append(
            UnitWorkload(
                racks=u.racks,
                rack_peak_kw=it_peak_mw * 1000.0 / u.racks,
                idle_frac=u.idle_frac,
                psu_tau_s=u.psu_tau_s,
                ramp_frac_per_s=u.ramp_frac_per_s,
                floor_frac=u.floor_frac,
                jobs=mine,
            )
        )
    return out


@numba.njit(cache=True, error_model="numpy")
def _caps(
    fine: np.ndarray, leak: np.ndarray, cap_shed: np.ndarray, cap_th: np.ndarray, served: np.ndarray, stats: np.ndarray
) -> None:
    """Leakage and the two caps on every fine sample, in one pass. ``served`` gets the samples
    after both caps; ``stats`` rows per unit: mean demand, mean after the shed cap, mean / min /
    max served, max demand."""
    for u in range(fine.shape[0]):
        s_dem = s_shed = s_srv = 0.0
        mn, mx, dmx = np.inf, -np.inf, -np.inf
        for k in range(fine.shape[1]):
            d = fine[u, k] * leak[u]
            a = min(d, cap_shed[u])
            v = min(a, cap_th[u])
            served[u, k] = v
            s_dem += d
            s_shed += a
            s_srv += v
            mn = min(mn, v)
            mx = max(mx, v)
            dmx = max(dmx, d)
        n = fine.shape[1]
        stats[0, u], stats[1, u], stats[2, u] = s_dem / n, s_shed / n, s_srv / n
        stats[3, u], stats[4, u], stats[5, u] = mn, mx, dmx


def _combine(parts: list[tuple[float, CoolingStep]]) -> CoolingStep:
    """Thermal sub-steps as one step: time-weighted means of powers and speeds, summed water,
    the last regime; the COP of the chiller's heat over its power."""

    def mean(attr: str) -> np.ndarray:
        return sum(w * getattr(c, attr) for w, c in parts)

    q_ch, p_ch = mean("q_chiller_mw"), mean("chiller_p_mw")
    return CoolingStep(
        pump_p_mw=mean("pump_p_mw"),
        fan_p_mw=mean("fan_p_mw"),
        chiller_p_mw=p_ch,
        q_dry_mw=mean("q_dry_mw"),
        q_chiller_mw=q_ch,
        fan_speed_frac=mean("fan_speed_frac"),
        cop=np.where(p_ch > 0, q_ch / np.where(p_ch > 0, p_ch, 1.0), np.nan),
        water_l=sum((c.water_l for _, c in parts), np.zeros_like(parts[0][1].water_l)),
        regime=parts[-1][1].regime,
    )


class DataCenter:
    """Every Spark unit of the site: GPU power, caps, shutdown and cooling, vectorised over units."""

    def __init__(
        self,
        cfg: DataCenterModelConfig,
        *,
        n_units: int,
        it_peak_mw: float,
        start_hour: float,
        seed: int,
        step_s: float,
    ) -> None:
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
        self._last_p_max = np.full(n_units, it_peak_mw)  # served in-step maximum of the last step
        # books for the summary
        self.gpu_temp_max_c = -math.inf
        self.throttle_s = np.zeros(n_units)
        self.n_shutdowns = 0
        self.regime_s = np.zeros((len(REGIMES), n_units))
        self.water_l = 0.0
        self._rec: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # recorded IT: (units, t_s, p_mw)

    # ---- recorded IT power ----------------------------------------------------
    def use_recorded_it(self, t_s: np.ndarray, p_mw: np.ndarray, units: np.ndarray) -> list[str]:
        """Drive the IT power of ``units`` by a record (before the first step); returns what was replaced.

        ``t_s`` [s since the run start], shape (m,), strictly increasing; ``p_mw`` [MW], shape
        (len(units), m): the units' metered IT power. Sample and hold: at every fine sample time
        ``t + j * fine_step_s`` of a step a unit's demand is the last recorded sample at or before
        it (before the first sample: the first), so a step's mean demand is the time-weighted mean
        of the held record over the step (exactly when the record's times lie on the fine grid,
        else within one fine step per change). The recorded power is the unit's demand as
        metered: no leakage factor on top (the meter saw it); the shed tier, the thermal cap and
        shutdown act on it as on the synthesis. The cooling plants start in the steady state of the
        record's mean over its first ``INIT_WINDOW_S``. Job and power-floor events no longer change a
        recorded unit's power (its jobs still run in the synthesis, unused). Negative samples are set to 0 and counted.
        """
        if self._initialised:
            raise ValueError("recorded IT power must be set before the data center's first step")
        if self._rec is not None:
            raise ValueError("the data center already uses recorded IT power: allowed once")
        t = np.array(t_s, dtype=float)
        p = np.array(p_mw, dtype=float)
        u = np.asarray(units)
        if u.ndim != 1 or u.size == 0 or not np.issubdtype(u.dtype, np.integer):
            raise ValueError(f"units must be a non-empty 1-D array of unit indices, got {u!r}")
        if u.min() < 0 or u.max() >= self.n or len(np.unique(u)) != u.size:
            raise ValueError(f"units {u.tolist()} are invalid: allowed distinct indices in [0, {self.n})")
        if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all() or (np.diff(t) <= 0).any():
            raise ValueError(f"recorded IT times t_s (shape {t.shape}) must be finite, 1-D and strictly increasing")
        if p.shape != (u.size, t.size):
            raise ValueError(f"recorded IT power p_mw has shape {p.shape}: allowed ({u.size}, {t.size}) (units, times)")
        if not np.isfinite(p).all():
            raise ValueError(f"recorded IT power p_mw has {int((~np.isfinite(p)).sum())} values that are not finite")
        n_neg = int((p < 0).sum())
        np.maximum(p, 0.0, out=p)
        self._rec = (u.astype(np.int64), t, p)
        self._p_init_mw = self._p_init_mw.copy()
        # the plants start in the steady state of the record's mean over its first INIT_WINDOW_S (the coolant
        # and facility loops settle in about a minute: 5 MJ/K over 24 kg/s x 3.8 kJ/kg/K; one sample may be a
        # transient, as a job warming up at the start)
        edges = np.clip(np.r_[t, INIT_WINDOW_S], 0.0, INIT_WINDOW_S)
        edges[0] = 0.0  # before the first sample the first value holds
        w = np.diff(np.maximum.accumulate(edges))
        self._p_init_mw[u] = (p * w).sum(axis=1) / w.sum()
        names = ", ".join(str(x) for x in u.tolist())
        out = [
            f"data center: the IT power of unit(s) {names} is the recorded one ({t.size} samples from "
            f"{t[0]:g} s to {t[-1]:g} s, held from sample to sample at the {self.fine_step_s:g} s fine step) "
            "instead of the GPU synthesis; no leakage on top; shed tiers, thermal caps and shutdown still act",
            f"data center: the cooling plants of unit(s) {names} start in the steady state of the recorded power's "
            f"mean over its first {INIT_WINDOW_S:g} s",
            f"data center: job and power-floor events do not change the power of unit(s) {names}",
        ]
        if n_neg:
            out.append(f"data center: {n_neg} negative recorded IT samples set to 0")
        return out

    def _held(self, fine: np.ndarray, t_s: float) -> None:
        """The recorded units' fine samples of the step from ``t_s``, held (in place)."""
        assert self._rec is not None
        u, t_rec, p = self._rec
        h = self.fine_step_s
        k0 = round(t_s / h)
        # at or before: a sample within 1e-6 of a fine step of a fine time counts as at it (float times)
        idx = np.searchsorted(t_rec, np.arange(k0, k0 + fine.shape[1]) * h + 1e-6 * h, side="right") - 1
        fine[u] = p[:, np.maximum(idx, 0)]

    # ---- events ---------------------------------------------------------------
    def units_of(self, unit: int | None) -> list[int]:
        return list(range(self.n)) if unit is None else [unit]

    def set_floor(self, unit: int | None, frac: float | None, t_s: float) -> None:
        for u in self.units_of(unit):
            self.gpu.set_floor(u, frac, t_s)

    # ---- one step ---------------------------------------------------------------
    def step(
        self,
        t_s: float,
        dt_s: float,
        shed_tier: np.ndarray | None,
        temp_db_c: float,
        temp_wb_c: float,
        it_p_cap_mw: np.ndarray | None = None,
    ) -> tuple[DataCenterStep, list[tuple[int, str, str]]]:
        """Advance every unit over [t_s, t_s + dt_s) under the controller's shed tiers and IT power caps
        (``it_p_cap_mw`` per unit, MW, inf: none for that unit; None or empty: none; counted as shed).
        Returns the step and the state changes ``(unit, kind, message)`` for the events log.

        Steps longer than ``thermal_step_s`` are cut into thermal sub-steps (whole fine samples)
        whenever the GPUs' protection may act (a pump off, a unit throttled or shut down, junctions
        within 10 K of slowdown): the caps, the shutdown check and the plants then follow the
        coolant within the step, so thermal protection works the same at 60 or 900 s electrical
        steps as at 1 s."""
        g = self.cfg.gpu
        log: list[tuple[int, str, str]] = []
        fine = self.gpu.samples(t_s, dt_s)  # (units, samples), MW
        if self._rec is not None:
            self._held(fine, t_s)
        cool = self.cooling
        if not self._initialised:
            cool.steady_state(self._p_init_mw, temp_db_c, temp_wb_c)
            self._initialised = True
        peak = self.peak
        tier = np.zeros(self.n, dtype=np.int64) if shed_tier is None else np.asarray(shed_tier)
        cap_shed = peak * self.tiers[np.minimum(tier, len(self.tiers) - 1)]
        if it_p_cap_mw is not None and len(it_p_cap_mw):  # a controller's power cap per unit (inf: none)
            cap_shed = np.minimum(cap_shed, np.maximum(np.asarray(it_p_cap_mw, float), 0.0))
        ns = fine.shape[1]
        # Sub-steps only when the GPUs' protection may act within the step: a pump off, a unit
        # throttled or shut down, or junctions within 10 K of the slowdown temperature. In quiet
        # operation one backward-Euler step is accurate (the plants sit near their steady state).
        tj0 = cool.temp_coolant_c + g.tj_rise_full_k * self._last_p_max / peak
        quiet = (
            cool.pump_c_on.all()
            and cool.pump_f_on.all()
            and not self.throttled.any()
            and not self.shutdown.any()
            and float(tj0.max()) < g.slowdown_c - 10.0
        )
        n_sub = 1 if quiet else min(ns, max(1, math.ceil(dt_s / self.cfg.thermal_step_s - 1e-9)))
        bounds = [round(k * ns / n_sub) for k in range(n_sub + 1)]
        served = np.empty_like(fine)
        stats = np.empty((6, self.n))
        dem = np.zeros(self.n)
        after_shed = np.zeros(self.n)
        it = np.zeros(self.n)
        it_min = np.full(self.n, np.inf)
        it_max = np.zeros(self.n)
        tj_max = np.full(self.n, -np.inf)
        throttled_s = np.zeros(self.n)
        parts: list[tuple[float, CoolingStep]] = []
        h = self.fine_step_s
        for a, b in zip(bounds[:-1], bounds[1:]):
            w = (b - a) / ns
            tc0 = cool.temp_coolant_c.copy()
            leak = np.clip(1.0 + g.leakage_per_k * (tc0 - g.leakage_ref_c), 0.8, 1.5)
            if self._rec is not None:
                leak[self._rec[0]] = 1.0  # recorded: the metered power, leakage included
            cap_th = peak * np.maximum((g.slowdown_c - tc0) / g.tj_rise_full_k, g.throttle_min_frac)
            srv = served[:, a:b]
            _caps(fine[:, a:b], leak, cap_shed, cap_th, srv, stats)
            c_dem, c_shed, c_it, c_min, c_max, c_dmax = stats
            # shutdown: the junction would reach the shutdown temperature even at the capped power
            tj_run = tc0 + g.tj_rise_full_k * c_max / peak
            for u in np.flatnonzero((tj_run >= g.shutdown_c) & ~self.shutdown):
                self._shut(int(u), t_s + a * h, t_s + dt_s, tj_run[u], log)
            if self.shutdown.any():
                sd = self.shutdown
                srv[sd] = 0.0
                c_it[sd] = c_min[sd] = c_max[sd] = 0.0
            throttled = (cap_th < np.minimum(c_dmax, cap_shed) - 1e-12) & ~self.shutdown
            if (throttled != self.throttled).any():
                for u in np.flatnonzero(throttled != self.throttled):
                    if throttled[u]:
                        log.append(
                            (
                                int(u),
                                "gpu_throttle",
                                f"unit {u}: GPU junction at slowdown {g.slowdown_c:g} "
                                f"degC: power capped at {cap_th[u]:.3f} MW (coolant {tc0[u]:.1f} degC)",
                            )
                        )
                    elif not self.shutdown[u]:
                        log.append(
                            (int(u), "gpu_throttle_end", f"unit {u}: throttling ends (coolant {tc0[u]:.1f} degC)")
                        )
            self.throttled = throttled
            throttled_s += (b - a) * h * throttled
            cs = cool.step((b - a) * h, c_it, temp_db_c, temp_wb_c)
            parts.append((w, cs))
            tc1 = cool.temp_coolant_c
            tj_max = np.maximum(tj_max, np.maximum(tc0, tc1) + g.tj_rise_full_k * c_max / peak)  # c_max 0 if off
            dem += w * c_dem
            after_shed += w * c_shed
            it += w * c_it
            it_min = np.minimum(it_min, c_min)
            it_max = np.maximum(it_max, c_max)
        cs = parts[0][1] if n_sub == 1 else _combine(parts)
        tc1 = cool.temp_coolant_c
        tj = np.where(self.shutdown, tc1, tc1 + g.tj_rise_full_k * it / peak)
        site = served.sum(axis=0)
        self._last_p_max = it_max.copy()
        self._restart(t_s + dt_s, log)

        # books
        self.gpu_temp_max_c = max(self.gpu_temp_max_c, float(tj_max.max()))
        self.throttle_s += throttled_s
        self.regime_s[cs.regime, np.arange(self.n)] += dt_s
        self.water_l += float(cs.water_l.sum())
        st = DataCenterStep(
            it_demand_p_mw=dem,
            it_p_mw=it,
            it_min_p_mw=it_min,
            it_max_p_mw=it_max,
            it_site_min_p_mw=float(site.min()),
            it_site_max_p_mw=float(site.max()),
            shed_p_mw=dem - after_shed,
            thermal_cut_p_mw=np.maximum(after_shed - it, 0.0),
            gpu_temp_c=tj,
            gpu_temp_max_c=tj_max,
            throttled=self.throttled.copy(),
            shutdown=self.shutdown.copy(),
            cooling=cs,
            fine_site_p_mw=site,
        )
        return st, log

    def _shut(self, u: int, t_s: float, t_jobs_s: float, tj_c: float, log: list[tuple[int, str, str]]) -> None:
        """Unit ``u`` shuts down at ``t_s``; its running jobs end at ``t_jobs_s`` (the end of the
        generated samples; the unit draws nothing from ``t_s`` on anyway)."""
        g = self.cfg.gpu
        self.shutdown[u] = True
        self.n_shutdowns += 1
        self._ok_since[u] = math.nan
        log.append(
            (
                u,
                "gpu_shutdown",
                f"unit {u}: GPU junction {tj_c:.1f} degC >= {g.shutdown_c:g}: "
                f"IT load drops out, jobs stop (t = {t_s:g} s)",
            )
        )
        running = [ji for ji in range(len(self.units[u].jobs)) if self._job_running(u, ji, t_jobs_s)]
        for ji in running:
            self.gpu.end_job(u, ji, t_jobs_s)
        self._stopped_jobs[u] = running

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
                log.append(
                    (
                        int(u),
                        "gpu_restart",
                        f"unit {u}: coolant {cool.temp_coolant_c[u]:.1f} degC, pumps running "
                        f"for {g.restart_after_s:g} s: unit restarts, jobs restart",
                    )
                )

    def summary(self) -> dict:
        c = self.cooling
        heat_in = float(c.heat_in_j.sum())
        err = heat_in - float(c.heat_rejected_j.sum()) - float(c.stored_j.sum())
        return {
            "gpu_temp_c_max": round(self.gpu_temp_max_c, 3) if math.isfinite(self.gpu_temp_max_c) else None,
            "throttle_unit_s": round(float(self.throttle_s.sum()), 3),
            "n_shutdowns": self.n_shutdowns,
            "regime_unit_h": {r: round(float(self.regime_s[i].sum()) / 3600.0, 4) for i, r in enumerate(REGIMES)},
            "adiabatic_water_m3": round(self.water_l / 1000.0, 4),
            "heat_in_mwh": round(heat_in / 3.6e9, 6),
            "heat_rejected_mwh": round(float(c.heat_rejected_j.sum()) / 3.6e9, 6),
            "heat_stored_mwh": round(float(c.stored_j.sum()) / 3.6e9, 6),
            "heat_balance_error": err / heat_in if heat_in > 0 else 0.0,
        }
