"""Modular AI data center: Spark units with IT power and cooling power.

First version. Each unit's IT power follows a profile (``training``: near
constant high utilisation with seeded jitter; ``inference``: a daily request
curve; ``constant``) times its peak. Cooling power is a fraction of IT power
that grows with ambient temperature (dry coolers, fans and pumps) and gains a
chiller term in hot weather. The data-center issue replaces both with GPU
power synthesis and a liquid-cooling thermal model behind the same
``step()``.

Load shedding: the controller asks for a tier per unit; tier ``k >= 1`` caps
the unit's IT power at ``shed_tiers_frac[k-1]`` of its peak, and cooling
follows IT. What the unit wanted but did not get is ``unserved``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.config import DataCenterModelConfig


@dataclass
class DataCenterStep:
    it_demand_p_mw: np.ndarray  # what the jobs would draw, per unit
    it_p_mw: np.ndarray  # after shedding caps
    cooling_p_mw: np.ndarray
    unserved_p_mw: np.ndarray  # IT + cooling not served because of shedding


class DataCenter:
    def __init__(self, cfg: DataCenterModelConfig, *, n_units: int, it_peak_mw: float, start_hour: float, seed: int):
        self.cfg = cfg
        self.n = n_units
        self.peak = np.full(n_units, it_peak_mw)
        self.util = np.full(n_units, cfg.util_frac)
        self.start_hour = start_hour
        self.rng = np.random.default_rng([seed, 0xDC])
        self._noise = np.zeros(n_units)
        self.tiers = np.asarray((1.0,) + tuple(cfg.shed_tiers_frac))

    def set_util(self, unit: int, util_frac: float) -> None:
        self.util[unit] = util_frac

    def _profile(self, t_s: float) -> np.ndarray:
        c = self.cfg
        if c.profile == "inference":
            hour = (self.start_hour + t_s / 3600.0) % 24.0
            # request rate: low at night, peak mid-afternoon (a diurnal curve)
            daily = c.inference_min_frac + (1 - c.inference_min_frac) * 0.5 * (1 - np.cos(2 * np.pi * (hour - 3.0) / 24.0))
            return self.util * daily
        return self.util

    def cooling_frac(self, temp_amb_c: float) -> float:
        c = self.cfg
        f = c.cool_base_frac + c.cool_slope_per_c * max(0.0, temp_amb_c - c.cool_ref_c)
        f += c.chiller_slope_per_c * max(0.0, temp_amb_c - c.chiller_on_c)
        return f

    def step(self, t_s: float, dt_s: float, temp_amb_c: float, shed_tier: np.ndarray | None) -> DataCenterStep:
        c = self.cfg
        if c.profile == "training" and c.noise_frac > 0:
            # AR(1) jitter with correlation time noise_corr_s, independent of dt
            a = np.exp(-dt_s / c.noise_corr_s)
            self._noise = a * self._noise + np.sqrt(1 - a * a) * c.noise_frac * self.rng.standard_normal(self.n)
        demand = self.peak * np.clip(self._profile(t_s) + self._noise, 0.0, 1.2)
        f = self.cooling_frac(temp_amb_c)
        tier = np.zeros(self.n, dtype=np.int64) if shed_tier is None else shed_tier
        it, cool, unserved = apply_caps(demand, tier, self.tiers, self.peak, f)
        return DataCenterStep(it_demand_p_mw=demand, it_p_mw=it, cooling_p_mw=cool, unserved_p_mw=unserved)


def apply_caps(demand_p_mw: np.ndarray, tier: np.ndarray, tiers_frac: np.ndarray, peak_p_mw: np.ndarray,
               cooling_frac: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A unit's response to a shed tier: IT power capped at the tier's fraction
    of peak (power capping at the racks), cooling following IT. Returns IT,
    cooling and unserved (IT + its cooling) power per unit.

    ``tiers_frac`` is ``[1.0, cap of tier 1, cap of tier 2, ...]``.
    """
    cap = peak_p_mw * tiers_frac[np.minimum(tier, len(tiers_frac) - 1)]  # tiers are >= 0
    it = np.minimum(demand_p_mw, cap)
    return it, it * cooling_frac, (demand_p_mw - it) * (1.0 + cooling_frac)
