"""The sky over the PV plant: solar position, clear-sky irradiance and the POA on the trackers.

Split from :mod:`twin.generation.pv` (which re-exports the public names), vectorised over a run
with pvlib:

* solar position (``Location.get_solarposition``, NREL SPA in numpy), on a coarse grid
  (``sun_grid_s``) with the sun's unit vector interpolated when the grid asked for is finer;
* clear-sky GHI/DNI/DHI (Ineichen with pvlib's Linke turbidity climatology);
* the plane of array of the single-axis trackers (``pvlib.tracking.singleaxis``,
  ``pvlib.irradiance.get_total_irradiance`` with the config's sky model and albedo), from
  the clear-sky components or from measured GHI (Erbs decomposition).

Times are seconds since ``start`` (a timezone-aware pandas Timestamp); irradiance in W/m2.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

from twin.config import PVModelConfig

__all__ = ["clear_sky_ghi_w_m2", "clear_sky_poa_w_m2", "measured_poa_w_m2"]


def _times(start: pd.Timestamp, t_s: np.ndarray) -> pd.DatetimeIndex:
    """``start + t_s`` (seconds, float). Integer nanoseconds: pandas' float path is ~50x slower."""
    ns = np.round(np.asarray(t_s, dtype=float) * 1e9).astype(np.int64)
    return start + pd.to_timedelta(ns, unit="ns")


def _sun_vectors(elevation_deg: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
    el = np.radians(elevation_deg)
    az = np.radians(azimuth_deg)
    c = np.cos(el)
    return np.stack([c * np.sin(az), c * np.cos(az), np.sin(el)])  # east, north, up


def _vectors_to_angles(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    horiz = np.hypot(v[0], v[1])
    elevation_deg = np.degrees(np.arctan2(v[2], horiz))
    azimuth_deg = np.degrees(np.arctan2(v[0], v[1])) % 360.0
    return elevation_deg, azimuth_deg


def _solar_position(
    location: pvlib.location.Location, start: pd.Timestamp, grid_t_s: np.ndarray, sun_grid_s: float
) -> pd.DataFrame:
    """SPA solar position at ``start + grid_t_s``.

    Computed with ``Location.get_solarposition`` (NREL SPA, numpy) directly if
    the grid is at least as coarse as ``sun_grid_s``; otherwise on a
    ``sun_grid_s`` grid, and the true and apparent sun unit vectors are
    linearly interpolated and renormalised (the sun moves 2.5 deg in 10 min;
    the chord error after renormalisation is below 0.01 deg).
    """
    times = _times(start, grid_t_s)
    spacing_s = float(grid_t_s[1] - grid_t_s[0]) if len(grid_t_s) > 1 else math.inf
    if spacing_s >= sun_grid_s:
        sp = location.get_solarposition(times)
        return sp[["apparent_zenith", "zenith", "apparent_elevation", "elevation", "azimuth"]]
    n_sun = int(math.ceil(grid_t_s[-1] / sun_grid_s - 1e-9)) + 1
    sun_t_s = np.arange(n_sun) * sun_grid_s
    sp_c = location.get_solarposition(_times(start, sun_t_s))
    az_c = sp_c["azimuth"].to_numpy()
    out = {}
    for kind in ("elevation", "apparent_elevation"):
        vec_c = _sun_vectors(sp_c[kind].to_numpy(), az_c)
        vec = np.stack([np.interp(grid_t_s, sun_t_s, comp) for comp in vec_c])
        el, az = _vectors_to_angles(vec)
        out[kind] = el
        if kind == "elevation":
            out["azimuth"] = az
    return pd.DataFrame(
        {
            "apparent_zenith": 90.0 - out["apparent_elevation"],
            "zenith": 90.0 - out["elevation"],
            "apparent_elevation": out["apparent_elevation"],
            "elevation": out["elevation"],
            "azimuth": out["azimuth"],
        },
        index=times,
    )


def clear_sky_poa_w_m2(
    config: PVModelConfig,
    location: pvlib.location.Location,
    start: pd.Timestamp,
    n_steps: int,
    step_s: float,
) -> np.ndarray:
    """Clear-sky plane-of-array irradiance on the trackers at every step [W/m2].

    pvlib calls run on a ``config.irradiance_grid_s`` grid (or on the step
    grid when the steps are coarser) and are linearly interpolated to the
    steps: Ineichen clear sky with the Linke turbidity climatology shipped
    with pvlib, ``tracking.singleaxis`` and ``get_total_irradiance``.
    """
    span_s = (n_steps - 1) * step_s
    step_t_s = np.arange(n_steps) * step_s
    if step_s >= config.irradiance_grid_s or n_steps == 1:
        grid_t_s = step_t_s
    else:
        n_grid = int(math.ceil(span_s / config.irradiance_grid_s - 1e-9)) + 1
        grid_t_s = np.arange(max(n_grid, 2)) * config.irradiance_grid_s
    sp = _solar_position(location, start, grid_t_s, config.sun_grid_s)
    times = sp.index
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    cs = location.get_clearsky(times, model="ineichen", solar_position=sp, dni_extra=dni_extra)
    poa = _tracker_poa_w_m2(config, sp, dni_extra, cs["dni"], cs["ghi"], cs["dhi"])
    if grid_t_s is step_t_s:
        return poa
    return np.interp(step_t_s, grid_t_s, poa)


def _tracker_poa_w_m2(
    config: PVModelConfig,
    sp: pd.DataFrame,
    dni_extra: pd.Series,
    dni: npt.ArrayLike,
    ghi: npt.ArrayLike,
    dhi: npt.ArrayLike,
) -> np.ndarray:
    """POA on the single-axis trackers from horizontal components: ``tracking.singleaxis`` and
    ``get_total_irradiance`` with the config's sky model and albedo (clipped at 0, 0 where NaN)."""
    trk = pvlib.tracking.singleaxis(
        sp["apparent_zenith"],
        sp["azimuth"],
        axis_tilt=config.axis_tilt_deg,
        axis_azimuth=config.axis_azimuth_deg,
        max_angle=config.max_angle_deg,
        backtrack=bool(config.backtrack),
        gcr=config.gcr,
    )
    # At night singleaxis returns NaN; park the trackers flat (no irradiance anyway).
    tilt = trk["surface_tilt"].fillna(0.0)
    azim = trk["surface_azimuth"].fillna(config.axis_azimuth_deg + 90.0)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt,
        azim,
        sp["apparent_zenith"],
        sp["azimuth"],
        dni,
        ghi,
        dhi,
        dni_extra=dni_extra,
        albedo=config.albedo,
        model=config.sky_model,
    )["poa_global"]
    return np.clip(np.nan_to_num(np.asarray(poa, dtype=float), nan=0.0), 0.0, None)


def measured_poa_w_m2(
    config: PVModelConfig, location: pvlib.location.Location, start: pd.Timestamp, step_s: float, ghi_w_m2: np.ndarray
) -> np.ndarray:
    """POA on the trackers from measured GHI at every step [W/m2], the shape of ``ghi_w_m2``
    ([n_steps] or [n_steps, n_blocks]): solar position on the step grid (:func:`_solar_position`),
    Erbs (1982) decomposition into DNI and DHI (``pvlib.irradiance.erbs``, true zenith as it asks),
    then the trackers and sky model of :func:`clear_sky_poa_w_m2` with the measured components."""
    ghi = np.asarray(ghi_w_m2, dtype=float)
    sp = _solar_position(location, start, np.arange(ghi.shape[0]) * step_s, config.sun_grid_s)
    dni_extra = pvlib.irradiance.get_extra_radiation(sp.index)
    cols = ghi.reshape(ghi.shape[0], -1)
    out = np.empty_like(cols)
    for b in range(cols.shape[1]):
        g = pd.Series(cols[:, b], index=sp.index)
        dd = pvlib.irradiance.erbs(g, sp["zenith"], sp.index)
        out[:, b] = _tracker_poa_w_m2(config, sp, dni_extra, dd["dni"], g, dd["dhi"])
    return out.reshape(ghi.shape)


def clear_sky_ghi_w_m2(
    location: pvlib.location.Location, start: pd.Timestamp, n_steps: int, step_s: float, grid_s: float = 600.0
) -> np.ndarray:
    """Clear-sky global horizontal irradiance at every step [W/m2] (Ineichen, pvlib), computed on a
    ``grid_s`` grid and interpolated (the sun on battery enclosures: a slow, smooth input)."""
    step_t_s = np.arange(n_steps) * step_s
    g = max(grid_s, step_s)
    grid_t_s = np.arange(int(math.ceil(step_t_s[-1] / g)) + 2) * g
    times = _times(start, grid_t_s)
    ghi = location.get_clearsky(times, model="ineichen")["ghi"].to_numpy()
    return np.interp(step_t_s, grid_t_s, np.clip(np.nan_to_num(ghi, nan=0.0), 0.0, None))
