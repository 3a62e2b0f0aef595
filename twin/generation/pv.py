"""PV plant: single-axis trackers, PVWatts DC and inverter models, moving clouds.

The plant is ``n_blocks`` identical inverter blocks. Everything that does not
depend on the simulation inputs is precomputed at construction, vectorised
over the whole run with pvlib (the sky: :mod:`twin.generation.sky`):

* solar position (``Location.get_solarposition``, NREL SPA in numpy) on a
  coarse grid (``sun_grid_s``), the sun's unit vector interpolated to the
  irradiance grid;
* clear-sky GHI/DNI/DHI (Ineichen with pvlib's Linke turbidity climatology,
  ``Location.get_clearsky``), tracker orientation
  (``pvlib.tracking.singleaxis``) and plane-of-array irradiance
  (``pvlib.irradiance.get_total_irradiance``) on the irradiance grid
  (``irradiance_grid_s``), linearly interpolated to the step grid;
* the seeded cloud transmission of every block at every step.

``PVPlant.step`` then only does per-block arithmetic: POA under clouds, the
Faiman cell temperature, the PVWatts DC model, the PVWatts inverter and the
curtailment limit.

Recorded field inputs (``PVPlant.use_recorded``) replace one stage of that
chain: the POA (then clear sky and clouds are not used), the GHI (turned into
POA with Erbs and the trackers: :func:`measured_poa_w_m2`) or the available
AC power itself (only the curtailment limit then acts).

Units are in the names; power is positive out of the plant (a source).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib
from scipy.signal import lfilter

from twin.config import CLOUD_MODES, SKY_MODELS, PVModelConfig, SiteConfig
from twin.generation.sky import clear_sky_ghi_w_m2, clear_sky_poa_w_m2, measured_poa_w_m2

__all__ = [
    "CLOUD_MODES",
    "SKY_MODELS",
    "PVPlant",
    "PVStep",
    "clear_sky_ghi_w_m2",
    "clear_sky_poa_w_m2",
    "cloud_transmission_frac",
    "measured_poa_w_m2",
    "pvwatts_ac_mw",
]

# PVWatts constants (A. P. Dobos, "PVWatts Version 5 Manual", NREL/TP-6A20-62641,
# 2014, eqs. 7 and 8-9; identical to pvlib.pvsystem.pvwatts_dc and
# pvlib.inverter.pvwatts).
PVWATTS_TEMP_REF_C = 25.0  # cell reference temperature of pvwatts_dc
PVWATTS_ETA_INV_REF = 0.9637  # reference inverter efficiency, pvlib eta_inv_ref
_INV_K_LIN = 0.9858  # inverter efficiency curve coefficients (PVWatts v5 eq. 9)
_INV_K_ZETA = 0.0162
_INV_K_INV_ZETA = 0.0059

# Blocks up to this count are stepped with Python floats: for a handful of
# elements a numpy ufunc call (about 1 us each) costs more than the arithmetic,
# and step() must stay under about 15 us. Larger plants use numpy arrays.
_SCALAR_PATH_MAX_BLOCKS = 16

# Recorded POA without GHI: the enclosures' GHI is clear-sky GHI x (recorded / clear-sky POA) up to
# this cap. An assumption: 1-min irradiance under broken clouds exceeds clear sky by 10-30 % at
# cloud edges (cloud enhancement), and the ratio is unbounded near sunrise where clear-sky POA -> 0.
_GHI_POA_RATIO_MAX = 1.2


@dataclass(slots=True)
class PVStep:
    """Result of one ``PVPlant.step``: per-block arrays (fresh every step)."""

    p_avail_mw: np.ndarray  # AC power the block could deliver now (after clipping)
    p_mw: np.ndarray  # delivered AC power = min(avail, limit), >= 0
    poa_w_m2: np.ndarray  # plane-of-array irradiance under clouds
    temp_cell_c: np.ndarray  # Faiman cell temperature


def pvwatts_ac_mw(
    poa_w_m2: npt.ArrayLike,
    temp_cell_c: npt.ArrayLike,
    p_dc_mw: npt.ArrayLike,
    gamma_pdc_per_c: npt.ArrayLike,
    dc_loss_frac: npt.ArrayLike,
    p_ac_max_mw: npt.ArrayLike,
    eta_nom: npt.ArrayLike,
) -> np.ndarray:
    """AC power of a PVWatts system: DC model, DC losses, inverter, clipping.

    DC (``pvlib.pvsystem.pvwatts_dc``, PVWatts v5 eq. 7), with the DC losses
    applied as one derate (as PVWatts applies its system losses)::

        p_dc = poa/1000 * p_dc_mw * (1 + gamma * (temp_cell - 25)) * (1 - dc_loss)

    Inverter (``pvlib.inverter.pvwatts``, PVWatts v5 eqs. 8-9), with the
    inverter DC input limit ``pdc0 = p_ac_max / eta_nom`` and
    ``zeta = p_dc / pdc0``::

        eta  = eta_nom / 0.9637 * (-0.0162 zeta - 0.0059 / zeta + 0.9858)
        p_ac = clip(eta * p_dc, 0, p_ac_max)

    ``eta * p_dc`` is evaluated as ``eta_nom/0.9637 * (p_dc * (0.9858 -
    0.0162 p_dc/pdc0) - 0.0059 pdc0)``, algebraically identical and free of the
    division by zero at night (both are negative there and clipped to 0).

    All arguments broadcast; power in MW (any consistent unit works).
    """
    poa = np.asarray(poa_w_m2, dtype=float)
    tc = np.asarray(temp_cell_c, dtype=float)
    p_ac_max = np.asarray(p_ac_max_mw, dtype=float)
    eta = np.asarray(eta_nom, dtype=float)
    p_dc = (
        poa
        * 1e-3
        * np.asarray(p_dc_mw, dtype=float)
        * (1.0 + np.asarray(gamma_pdc_per_c, dtype=float) * (tc - PVWATTS_TEMP_REF_C))
        * (1.0 - np.asarray(dc_loss_frac, dtype=float))
    )
    pdc0 = p_ac_max / eta
    p_ac = (eta / PVWATTS_ETA_INV_REF) * (p_dc * (_INV_K_LIN - _INV_K_ZETA * p_dc / pdc0) - _INV_K_INV_ZETA * pdc0)
    return np.asarray(np.minimum(np.maximum(p_ac, 0.0), p_ac_max))


# --------------------------------------------------------------------------- clouds
def _shade_fraction_semi_markov(
    query_t_s: np.ndarray,
    *,
    t0_s: float,
    t1_s: float,
    cover_frac: float,
    mean_shaded_s: float,
    ramp_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Shade depth in [0, 1] of a two-state clear/shaded process at ``query_t_s``.

    Alternating renewal process with exponential durations (a semi-Markov
    chain): mean shaded ``mean_shaded_s``, mean clear ``mean_shaded_s *
    (1 - f) / f`` so that the long-run shaded fraction is ``f``; it starts in
    its stationary law (shaded with probability ``f``; exponential residual
    times are memoryless), so there is no warm-up transient. The 0/1 state is
    averaged over a moving window of ``ramp_s`` (a box filter), which turns
    each edge into a linear ramp lasting exactly ``ramp_s`` (slope bounded by
    1/ramp_s) and keeps the mean. Computed exactly through the cumulative
    shaded time, which is piecewise linear between the edges.
    """
    mean_clear_s = mean_shaded_s * (1.0 - cover_frac) / cover_frac
    shaded0 = bool(rng.random() < cover_frac)
    means = np.array([mean_shaded_s, mean_clear_s]) if shaded0 else np.array([mean_clear_s, mean_shaded_s])
    span_s = t1_s - t0_s
    n_pairs = int(span_s / (mean_shaded_s + mean_clear_s) * 1.2) + 16
    durations: list[np.ndarray] = []
    total_s = 0.0
    while total_s < span_s:
        d = rng.standard_exponential(2 * n_pairs) * np.tile(means, n_pairs)
        durations.append(d)
        total_s += float(d.sum())
    dur = np.concatenate(durations)
    edges_s = t0_s + np.concatenate([[0.0], np.cumsum(dur)])
    shaded = (np.arange(len(dur)) % 2 == 0) == shaded0  # state of each interval
    if ramp_s == 0.0:
        idx = np.searchsorted(edges_s, query_t_s, side="right") - 1
        return shaded[idx].astype(float)
    cum_shaded_s = np.concatenate([[0.0], np.cumsum(dur * shaded)])
    half = 0.5 * ramp_s
    hi = np.interp(query_t_s + half, edges_s, cum_shaded_s)
    lo = np.interp(query_t_s - half, edges_s, cum_shaded_s)
    return np.clip((hi - lo) / ramp_s, 0.0, 1.0)


def _overcast_transmission(
    query_t_s: np.ndarray,
    *,
    t0_s: float,
    t1_s: float,
    mean_frac: float,
    std_frac: float,
    corr_s: float,
    knot_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Transmission ``mean + std * z(t)``, z a unit-variance Ornstein-Uhlenbeck process.

    Exact OU discretisation on knots every ``knot_s`` (AR(1), phi =
    exp(-knot_s/corr_s)), started stationary, linearly interpolated; clipped to
    [0, 1].
    """
    n_knots = int(math.ceil((t1_s - t0_s) / knot_s)) + 2
    knots_t_s = t0_s + np.arange(n_knots) * knot_s
    phi = math.exp(-knot_s / corr_s)
    w = rng.standard_normal(n_knots + 1)
    z = lfilter([math.sqrt(1.0 - phi * phi)], [1.0, -phi], w[1:], zi=[phi * w[0]])[0]
    x = np.clip(mean_frac + std_frac * z, 0.0, 1.0)
    return np.interp(query_t_s, knots_t_s, x)


def cloud_transmission_frac(
    config: PVModelConfig, n_blocks: int, n_steps: int, step_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Seeded irradiance transmission of each of ``n_blocks`` blocks at every step, shape [n_steps, n_blocks].

    Block ``b`` sees the pattern of block 0 delayed by
    ``b * cloud_speed_block_lag_s`` (a cloud field moving across the plant).
    """
    nb = int(n_blocks)
    tau = config.cloud_transmission_frac
    if config.cloud_mode == "clear":
        return np.ones((n_steps, nb))
    lag_s = config.cloud_speed_block_lag_s
    # query_t_s[j, b] = time on the pattern seen by block b at step j
    query_t_s = (np.arange(n_steps) * step_s)[:, None] - lag_s * np.arange(nb)[None, :]
    margin_s = config.cloud_ramp_s + 1.0
    t0_s = -(nb - 1) * lag_s - margin_s
    t1_s = (n_steps - 1) * step_s + margin_s
    if config.cloud_mode == "overcast":
        return _overcast_transmission(
            query_t_s,
            t0_s=t0_s,
            t1_s=t1_s,
            mean_frac=tau,
            std_frac=config.overcast_variation_frac,
            corr_s=config.cloud_mean_duration_s,
            knot_s=max(config.cloud_ramp_s, 1.0),
            rng=rng,
        )
    # partly_cloudy
    f = config.cloud_cover_frac
    if f == 0.0:
        return np.ones((n_steps, nb))
    if f == 1.0:
        return np.full((n_steps, nb), tau)
    depth = _shade_fraction_semi_markov(
        query_t_s,
        t0_s=t0_s,
        t1_s=t1_s,
        cover_frac=f,
        mean_shaded_s=config.cloud_mean_duration_s,
        ramp_s=config.cloud_ramp_s,
        rng=rng,
    )
    return 1.0 - (1.0 - tau) * depth


# --------------------------------------------------------------------------- plant
class PVPlant:
    """The PV plant of ``n_blocks`` identical tracker + inverter blocks.

    ``step(k, ...)`` evaluates step ``k`` at time ``start + k * step_s``.

    Attributes (read-only arrays):
        poa_clear_w_m2: clear-sky POA on the trackers, shape [n_steps].
        cloud_frac: cloud transmission (1 = clear sky), shape [n_blocks, n_steps]
            (a transposed view of C-contiguous [n_steps, n_blocks] storage).
        p_ac_max_mw: inverter AC rating per block, shape [n_blocks].
    """

    def __init__(
        self,
        config: PVModelConfig,
        site: SiteConfig,
        *,
        start: pd.Timestamp,
        n_steps: int,
        step_s: float,
        seed: int,
    ) -> None:
        """``config``: ``[models.pv]``; ``site``: ``[site]`` (``site.pv`` sizes the plant, the site's
        latitude, longitude, altitude and time zone place it). Both are validated models: their
        fields and ranges are the only ones. ``step_s`` here is the step of the arrays (the
        electrical step), not ``config.step_s`` (the simulator's period)."""
        if not isinstance(config, PVModelConfig):
            raise TypeError(f"config must be a twin.config.PVModelConfig, got {type(config).__name__}")
        if not isinstance(site, SiteConfig):
            raise TypeError(f"site must be a twin.config.SiteConfig, got {type(site).__name__}")
        if not isinstance(start, pd.Timestamp) or start.tz is None:
            raise ValueError(
                f"start={start!r} is invalid: allowed a timezone-aware pandas.Timestamp "
                "(e.g. pd.Timestamp('2025-07-15', tz='America/Los_Angeles'))"
            )
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"n_steps={n_steps!r} is invalid: allowed an integer >= 1")
        if not (isinstance(step_s, (int, float)) and math.isfinite(step_s) and step_s > 0):
            raise ValueError(f"step_s={step_s!r} is invalid: allowed a finite number > 0")

        self.config = config
        self.site = site
        plant = site.pv
        self.n_blocks: int = int(plant.n_blocks)
        self.n_steps: int = int(n_steps)
        self.step_s: float = float(step_s)
        self.start: pd.Timestamp = start
        location = pvlib.location.Location(
            site.latitude_deg, site.longitude_deg, tz=site.timezone, altitude=site.altitude_m
        )
        self.p_dc_block_mw: float = plant.p_dc_mw / self.n_blocks
        p_ac_block_mw = plant.p_dc_mw / plant.dc_ac_ratio / self.n_blocks
        self.p_ac_max_mw: np.ndarray = np.full(self.n_blocks, p_ac_block_mw)
        self.p_ac_max_mw.flags.writeable = False

        self.poa_clear_w_m2: np.ndarray = clear_sky_poa_w_m2(config, location, start, self.n_steps, self.step_s)
        self.poa_clear_w_m2.flags.writeable = False
        rng = np.random.default_rng(seed)
        self._cloud_sb = np.ascontiguousarray(
            cloud_transmission_frac(config, self.n_blocks, self.n_steps, self.step_s, rng)
        )
        self._cloud_sb.flags.writeable = False
        self.cloud_frac: np.ndarray = self._cloud_sb.T
        self.ghi_clear_w_m2: np.ndarray = clear_sky_ghi_w_m2(location, start, self.n_steps, self.step_s)
        self.ghi_clear_w_m2.flags.writeable = False

        # Constants of the per-step arithmetic (see pvwatts_ac_mw and step).
        # Faiman (2008) cell temperature, pvlib.temperature.faiman:
        #   temp_cell = temp_air + poa / (u0 + u1 * wind)
        self._k_faiman = 1.0 / (config.faiman_u0_w_m2k + config.faiman_u1_w_s_m3k * config.wind_speed_m_s)
        dc_per_w_m2 = 1e-3 * self.p_dc_block_mw * (1.0 - config.dc_loss_frac)
        g = config.gamma_pdc_per_c
        # pvwatts_dc * (1 - loss) = dc_per_w_m2 * poa * (1 + g * (ta + kf * poa - 25))
        #                         = poa * (a0 + a1 * ta + b * poa)
        self._dc_a0 = dc_per_w_m2 * (1.0 - g * PVWATTS_TEMP_REF_C)
        self._dc_a1 = dc_per_w_m2 * g
        self._dc_b = dc_per_w_m2 * g * self._k_faiman
        pdc0 = p_ac_block_mw / config.inverter_eff_nom  # inverter DC input limit
        c = config.inverter_eff_nom / PVWATTS_ETA_INV_REF
        self._inv_c1 = c * _INV_K_LIN
        self._inv_c2 = c * _INV_K_ZETA / pdc0
        self._inv_c3 = c * _INV_K_INV_ZETA * pdc0
        self._p_ac_block_mw = p_ac_block_mw
        self._location = location
        # step() takes POA = _poa_sb[k] * _poa_scale[k]: cloud transmission x clear-sky POA, or the
        # recorded POA x 1 (use_recorded): one product either way, no test in the step.
        self._poa_sb: np.ndarray = self._cloud_sb
        self._poa_scale: np.ndarray = self.poa_clear_w_m2
        self._ghi_rec: np.ndarray | None = None  # enclosures' GHI from recorded irradiance, [n_steps]
        self._avail_rec: np.ndarray | None = None  # recorded available AC power, [n_steps, n_blocks]
        self.recorded: tuple[str, ...] = ()  # names of the recorded inputs in use
        # None: the scalar path inline in step(); else the method step() hands over to
        self._other_step: Callable[[int, float, np.ndarray | float | None], PVStep] | None = (
            None if self.n_blocks <= _SCALAR_PATH_MAX_BLOCKS else self._step_numpy
        )

    def use_recorded(
        self,
        *,
        poa_w_m2: np.ndarray | None = None,
        ghi_w_m2: np.ndarray | None = None,
        p_avail_mw: np.ndarray | None = None,
    ) -> list[str]:
        """Drive the plant by recorded inputs on the step grid (row ``k``: time ``start + k * step_s``);
        returns what was replaced, in plain English, for the results. Exactly one of:

        * ``poa_w_m2`` [W/m2], shape [n_steps] (the whole plant) or [n_steps, n_blocks]: replaces
          clear-sky POA x cloud transmission; cell temperature, DC and inverter models act as before.
          The enclosures' GHI (:meth:`ghi_w_m2`) is then the clear-sky GHI x (recorded / clear-sky
          POA, mean over the blocks), capped at 1.2 (an assumption: the POA/GHI ratio of a tracker
          changes over the day, so this is a cloudiness index, not a transposition; 1.2 bounds it
          where clear-sky POA is near 0 at dawn and dusk, and lets cloud-edge enhancement through).
        * ``ghi_w_m2`` [W/m2], same shapes: measured GHI turned into POA on the trackers
          (:func:`measured_poa_w_m2`); the enclosures' GHI is the measured one (mean over blocks).
        * ``p_avail_mw`` [MW], shape [n_steps, n_blocks]: replaces the available AC power; the
          curtailment limit of :meth:`step` still applies; POA and cell temperature are NaN.

        Negative values (pyranometer offsets at night, inverter tare) are set to 0 and counted.
        """
        given = {
            k: v
            for k, v in (("poa_w_m2", poa_w_m2), ("ghi_w_m2", ghi_w_m2), ("p_avail_mw", p_avail_mw))
            if v is not None
        }
        if len(given) != 1:
            raise ValueError(
                f"recorded PV inputs {sorted(given) or 'none'}: allowed exactly one of poa_w_m2 or ghi_w_m2 "
                "(irradiance; the plant's models make the power) or p_avail_mw (the power itself)"
            )
        if self.recorded:
            raise ValueError(f"the PV plant already uses recorded {self.recorded[0]}: allowed once per plant")
        ((name, raw),) = given.items()
        x = np.array(raw, dtype=float)  # a copy: the caller's array stays theirs
        ns, nb = self.n_steps, self.n_blocks
        shapes = [(ns, nb)] if name == "p_avail_mw" else [(ns,), (ns, nb)]
        if x.shape not in shapes:
            raise ValueError(
                f"recorded {name} has shape {x.shape}: allowed {' or '.join(map(str, shapes))} "
                f"({ns} steps of {self.step_s:g} s from {self.start}, {nb} blocks)"
            )
        if not np.isfinite(x).all():
            k = int(np.argwhere(~np.isfinite(x))[0][0])
            raise ValueError(
                f"recorded {name} has {int((~np.isfinite(x)).sum())} values that are not finite (first at step {k})"
            )
        n_neg = int((x < 0).sum())
        np.maximum(x, 0.0, out=x)
        what = "one value for the whole plant" if x.ndim == 1 else f"per block ({nb})"
        out = []
        if name == "p_avail_mw":
            self._avail_rec = x
            self._other_step = self._step_recorded_avail
            out.append(
                "PV: the available AC power of every block is the recorded one (clear sky, clouds, cell "
                "temperature, PVWatts DC and inverter models not used); the controller's curtailment limits "
                "still apply; POA and cell temperature are not known (NaN); the battery enclosures' GHI "
                "stays the model's (clear sky x synthetic clouds)"
            )
        else:
            models = "the Faiman cell temperature, PVWatts DC and inverter models act on it as before"
            if name == "ghi_w_m2":
                self._ghi_rec = x if x.ndim == 1 else x.mean(axis=1)
                x = measured_poa_w_m2(self.config, self._location, self.start, self.step_s, x)
                out.append(
                    f"PV: the GHI is the recorded one ({what}), turned into POA on the trackers with pvlib "
                    f"(Erbs decomposition into DNI and DHI, single-axis tracking, {self.config.sky_model} sky "
                    f"diffuse, albedo {self.config.albedo:g}) instead of clear sky x clouds; {models}"
                )
                out.append("PV: the battery enclosures' GHI is the recorded GHI (mean over the blocks)")
            else:
                out.append(f"PV: the POA is the recorded one ({what}) instead of clear sky x clouds; {models}")
                clear, xm = self.poa_clear_w_m2, (x if x.ndim == 1 else x.mean(axis=1))
                ratio = np.divide(xm, clear, out=np.where(xm > 0, np.inf, 0.0), where=clear > 0)
                self._ghi_rec = self.ghi_clear_w_m2 * np.minimum(ratio, _GHI_POA_RATIO_MAX)
                out.append(
                    "PV: the battery enclosures' GHI is the clear-sky GHI x the ratio of recorded to clear-sky "
                    f"POA (mean over the blocks), capped at {_GHI_POA_RATIO_MAX:g}"
                )
            self._poa_sb = np.ascontiguousarray(np.broadcast_to(x.reshape(ns, -1), (ns, nb)))
            self._poa_scale = np.ones(ns)
        if n_neg:
            out.append(f"PV: {n_neg} negative recorded {name} values set to 0")
        for a in (self._poa_sb, self._poa_scale, self._ghi_rec, self._avail_rec):
            if a is not None:
                a.flags.writeable = False
        self.recorded = (name,)
        return out

    def ghi_w_m2(self, k: int) -> float:
        """Global horizontal irradiance at step ``k`` under the clouds (mean over the blocks), or from the
        recorded irradiance (:meth:`use_recorded`)."""
        if self._ghi_rec is not None:
            return float(self._ghi_rec[k])
        return float(self.ghi_clear_w_m2[k] * self._cloud_sb[k].mean())

    def clear_sky_fraction(self, k: int) -> np.ndarray:
        """Per-block irradiance at step ``k`` as a fraction of clear sky (the model's cloud transmission,
        also when recorded inputs replace it)."""
        return self._cloud_sb[k].copy()

    def step(self, k: int, temp_air_c: float, p_limit_mw: np.ndarray | float | None = None) -> PVStep:
        """Evaluate step ``k`` (time ``start + k * step_s``).

        ``temp_air_c``: ambient dry-bulb temperature. ``p_limit_mw``: per-block
        curtailment limit [MW], shape [n_blocks] (a scalar applies to all
        blocks; NaN means no limit), or None for no limit. Limits below 0
        deliver 0.
        """
        if not 0 <= k < self.n_steps:
            raise IndexError(f"step k={k} out of range [0, {self.n_steps})")
        ta = float(temp_air_c)
        if self._other_step is not None:
            return self._other_step(k, ta, p_limit_mw)
        poa_clear = self._poa_scale.item(k)
        kf = self._k_faiman
        # pvwatts_dc * (1 - loss) = poa * (a + b * poa) with temp_cell = ta + kf * poa
        a = self._dc_a0 + self._dc_a1 * ta
        b = self._dc_b
        c1, c2, c3 = self._inv_c1, self._inv_c2, self._inv_c3
        p_max = self._p_ac_block_mw
        poa = []
        tc = []
        avail = []
        for c in self._poa_sb[k].tolist():
            x = c * poa_clear
            poa.append(x)
            tc.append(ta + kf * x)
            pdc = x * (a + b * x)
            pac = pdc * (c1 - c2 * pdc) - c3  # pvlib.inverter.pvwatts: eta * pdc
            avail.append(p_max if pac > p_max else (pac if pac > 0.0 else 0.0))
        if p_limit_mw is None:
            out = avail
        else:
            out = []
            for av, li in zip(avail, self._limit_list(p_limit_mw)):
                v = li if li < av else av  # NaN limit: no limit
                out.append(v if v > 0.0 else 0.0)
        # four 1-D arrays: cheaper than rows of one 2-D array (view creation)
        return PVStep(np.array(avail), np.array(out), np.array(poa), np.array(tc))

    def _limit_list(self, p_limit_mw: np.ndarray | float) -> list[float]:
        if type(p_limit_mw) is np.ndarray and p_limit_mw.shape == (self.n_blocks,):
            return p_limit_mw.tolist()
        arr = np.asarray(p_limit_mw, dtype=float)
        if arr.ndim == 0:
            return [float(arr)] * self.n_blocks
        if arr.shape != (self.n_blocks,):
            raise ValueError(f"p_limit_mw has shape {arr.shape}: allowed a scalar or shape ({self.n_blocks},)")
        return arr.tolist()

    def _step_numpy(self, k: int, ta: float, p_limit_mw: np.ndarray | float | None) -> PVStep:
        p = self.config
        poa = self._poa_sb[k] * float(self._poa_scale[k])
        tc = poa * self._k_faiman + ta
        avail = pvwatts_ac_mw(
            poa,
            tc,
            self.p_dc_block_mw,
            p.gamma_pdc_per_c,
            p.dc_loss_frac,
            self._p_ac_block_mw,
            p.inverter_eff_nom,
        )
        # the limit inline (as _limited): a method call costs ~1-3 % of this step
        if p_limit_mw is None:
            return PVStep(avail, avail.copy(), poa, tc)
        lim = np.asarray(p_limit_mw, dtype=float)
        if lim.ndim != 0 and lim.shape != (self.n_blocks,):
            raise ValueError(f"p_limit_mw has shape {lim.shape}: allowed a scalar or shape ({self.n_blocks},)")
        return PVStep(avail, np.maximum(np.fmin(avail, lim), 0.0), poa, tc)  # fmin: NaN limit = no limit

    def _limited(self, avail: np.ndarray, p_limit_mw: np.ndarray | float | None) -> np.ndarray:
        if p_limit_mw is None:
            return avail.copy()
        lim = np.asarray(p_limit_mw, dtype=float)
        if lim.ndim != 0 and lim.shape != (self.n_blocks,):
            raise ValueError(f"p_limit_mw has shape {lim.shape}: allowed a scalar or shape ({self.n_blocks},)")
        return np.maximum(np.fmin(avail, lim), 0.0)  # fmin: NaN limit = no limit

    def _step_recorded_avail(self, k: int, ta: float, p_limit_mw: np.ndarray | float | None) -> PVStep:
        """Step ``k`` with the recorded available power (both plant sizes): only the limit acts."""
        assert self._avail_rec is not None
        avail = self._avail_rec[k].copy()
        unknown = np.full(self.n_blocks, np.nan)
        return PVStep(avail, self._limited(avail, p_limit_mw), unknown, unknown.copy())
