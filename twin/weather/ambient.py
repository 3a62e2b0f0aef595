"""Ambient air at the site (Reno, Nevada, 1,350 m): dry bulb, dew point, wet bulb, RH.

Daily shape: the daily minimum at ``hour_min`` and maximum at ``hour_max``
(local clock hours), joined by half-cosines: rising from the minimum of day d
to the maximum of day d, falling from the maximum of day d to the minimum of
day d+1. The profile is continuous with a continuous first derivative (zero
at the extremes), also across days whose extremes differ.

Daily extremes default to the NOAA monthly normals for Reno, linearly
interpolated between the 15th of consecutive months (so the normal holds
exactly on the 15th); ``AmbientModelConfig.t_max_c`` / ``t_min_c`` override them.
An optional seeded slow random variation (Ornstein-Uhlenbeck) can be added,
and a scenario event can force the temperature (``Ambient.set_override``).

Humidity: in Reno's dry climate the dew point changes little over a day, so
the model carries a dew point that follows the season only: the monthly
values of ``RENO_NORMAL_DEWPOINT_C`` (an assumption, see there) interpolated
in time between 00:00 on the 15th of consecutive months (linear between the
daily values at midnight), or a constant ``AmbientModelConfig.dewpoint_c``. The
dew point is capped at the dry bulb (RH <= 1, e.g. a cold dawn or a forced
low temperature). Wet bulb and relative humidity follow from dry bulb, dew
point and the standard-atmosphere station pressure at ``altitude_m`` with
PsychroLib (ASHRAE Handbook - Fundamentals psychrometrics, SI). Below 0 degC
PsychroLib's saturation pressure is over ice, so there the "dew point" is the
frost point.

Heat wave (``AmbientModelConfig.heatwave``): every day takes ``heatwave_t_max_c`` /
``heatwave_t_min_c`` as its extremes and ``heatwave_dewpoint_c`` as its dew
point; explicit ``t_max_c`` / ``t_min_c`` / ``dewpoint_c`` still win.

Recorded weather (``Ambient.use_recorded``): a station's dry bulb replaces the
daily profile and its relative humidity the model's dew point, each held from
sample to sample (see there); an override event still forces the dry bulb.

Time: ``t_s`` is seconds since ``start``. Clock hours are those of ``start``'s
UTC offset, held for the whole run (a DST change within a run does not shift
the profile by an hour).
"""

from __future__ import annotations

import bisect
import datetime as dt
import importlib.util
import math
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.signal import lfilter

from twin.config import AMBIENT_TEMP_RANGE_C, AmbientModelConfig

__all__ = [
    "RENO_NORMALS_F",
    "RENO_NORMAL_DEWPOINT_C",
    "RENO_NORMAL_T_MAX_C",
    "RENO_NORMAL_T_MIN_C",
    "Ambient",
    "normal_dewpoint_c",
    "normal_extremes_c",
]


def _pure_python_psychrolib() -> ModuleType:
    """A private, pure-Python copy of PsychroLib (ASHRAE Handbook psychrometrics).

    With numba importable (a dependency of this project) PsychroLib wraps every
    ``Get*`` function in ``numba.vectorize`` at import, and the first call in
    each process compiles for about 3.5 s (2-CPU development machine): every
    ``twin run`` would pay it. This loads the same module file once more with
    numba hidden, so PsychroLib takes its documented pure-Python path (scalars
    only; one wet bulb costs tens of microseconds, called once per ambient step).
    Other importers of ``psychrolib`` are not affected.
    """
    spec = importlib.util.find_spec("psychrolib")
    if spec is None or spec.loader is None:
        raise ImportError("psychrolib is not installed (pip install 'psychrolib>=2.5,<3')")
    saved = sys.modules.get("numba")
    sys.modules["numba"] = None  # type: ignore[assignment]  # "from numba import ..." raises ImportError
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        if saved is None:
            del sys.modules["numba"]
        else:
            sys.modules["numba"] = saved
    mod.SetUnitSystem(mod.SI)
    return mod


psychrolib = _pure_python_psychrolib()

# NOAA NCEI U.S. Climate Normals 1991-2020, monthly normals, station RENO TAHOE
# INTERNATIONAL AIRPORT, NV (GHCND:USW00023185): mean daily maximum / minimum
# temperature, rounded to whole degF (as given in the project brief; not
# re-checked against the NCEI product, which was not reachable offline).
# (month, t_max_f, t_min_f)
RENO_NORMALS_F: tuple[tuple[int, float, float], ...] = (
    (1, 46.0, 24.0),
    (2, 52.0, 27.0),
    (3, 58.0, 31.0),
    (4, 64.0, 35.0),
    (5, 73.0, 42.0),
    (6, 84.0, 49.0),
    (7, 93.0, 56.0),
    (8, 91.0, 54.0),
    (9, 83.0, 47.0),
    (10, 70.0, 37.0),
    (11, 56.0, 29.0),
    (12, 45.0, 23.0),
)


def _f_to_c(temp_f: float) -> float:
    return (temp_f - 32.0) * 5.0 / 9.0


# index 0 = January
RENO_NORMAL_T_MAX_C: tuple[float, ...] = tuple(_f_to_c(r[1]) for r in RENO_NORMALS_F)
RENO_NORMAL_T_MIN_C: tuple[float, ...] = tuple(_f_to_c(r[2]) for r in RENO_NORMALS_F)

# ASSUMPTION (not from a cited data set; no climate product was reachable offline):
# monthly mean dew point at Reno, degC, index 0 = January. Reno's high-desert air is
# dry: mean dew points are roughly -6 degC in winter, near -4..-1 degC in spring and
# autumn, and a few degC above zero in summer (monsoon moisture in July/August).
# July and August are set at the humid end (8 / 7 degC) so that a normal 15 July
# afternoon (dry bulb 33.9 degC, 86.1 kPa) has a wet bulb of 17.4 degC, inside the
# site notes' "summer wet bulb about 17-19 degC"; a higher wet bulb is the
# conservative side for evaporative (adiabatic) pre-cooling. Replace with the NOAA
# normals / ISD hourly dew points for USW00023185 when they can be checked.
RENO_NORMAL_DEWPOINT_C: tuple[float, ...] = (
    -6.0,  # Jan
    -5.0,  # Feb
    -5.0,  # Mar
    -4.0,  # Apr
    -1.0,  # May
    3.0,  # Jun
    8.0,  # Jul
    7.0,  # Aug
    3.0,  # Sep
    -1.0,  # Oct
    -4.0,  # Nov
    -6.0,  # Dec
)

_ANCHOR_DAY = 15  # the monthly normal holds exactly on this day of each month
_DAYS_PER_CHUNK = 366  # daily extremes are tabulated this many days at a time
_TEMP_LIMITS_C = AMBIENT_TEMP_RANGE_C  # a forced temperature: the range of every ambient dry bulb


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    m = month - 1 + n
    return year + m // 12, m % 12 + 1


def _monthly(date: dt.date, table: tuple[float, ...], interpolate: bool) -> float:
    """Value of a 12-month table (index 0 = January) for a calendar date.

    With ``interpolate``, linear in time between the values of the 15th of
    consecutive months; otherwise the value of the date's month.
    """
    if not interpolate:
        return table[date.month - 1]
    if date.day >= _ANCHOR_DAY:
        y0, m0 = date.year, date.month
    else:
        y0, m0 = _add_months(date.year, date.month, -1)
    y1, m1 = _add_months(y0, m0, 1)
    a = dt.date(y0, m0, _ANCHOR_DAY)
    b = dt.date(y1, m1, _ANCHOR_DAY)
    w = (date - a).days / (b - a).days
    return (1.0 - w) * table[m0 - 1] + w * table[m1 - 1]


def normal_extremes_c(date: dt.date, *, interpolate: bool = True) -> tuple[float, float]:
    """Reno normal (t_max_c, t_min_c) for a calendar date.

    With ``interpolate``, linear in time between the normals of the 15th of
    consecutive months; otherwise the normal of the date's month.
    """
    return _monthly(date, RENO_NORMAL_T_MAX_C, interpolate), _monthly(date, RENO_NORMAL_T_MIN_C, interpolate)


def normal_dewpoint_c(date: dt.date, *, interpolate: bool = True) -> float:
    """Reno monthly dew point (assumption, ``RENO_NORMAL_DEWPOINT_C``) for a calendar date, interpolated as
    :func:`normal_extremes_c`."""
    return _monthly(date, RENO_NORMAL_DEWPOINT_C, interpolate)


def _check_si() -> None:
    if psychrolib.PSYCHROLIB_UNITS is not psychrolib.SI:
        raise RuntimeError(
            "psychrolib's unit system was switched away from SI; twin.weather.ambient needs "
            "psychrolib.SetUnitSystem(psychrolib.SI)"
        )


# psychrolib (the private pure-Python copy above) takes one value at a time.
def _wetbulb_scalar(temp_c: float, dew_c: float, pressure_pa: float) -> float:
    return float(psychrolib.GetTWetBulbFromTDewPoint(temp_c, dew_c, pressure_pa))


def _rh_scalar(temp_c: float, dew_c: float) -> float:
    return float(psychrolib.GetRelHumFromTDewPoint(temp_c, dew_c))


def _dew_from_rh_scalar(temp_c: float, rh_frac: float) -> float:
    return float(psychrolib.GetTDewPointFromRelHum(temp_c, rh_frac))


def _map(fn: Callable[..., float], a: float | np.ndarray, b: float | np.ndarray, *args: float) -> float | np.ndarray:
    """``fn(a, b, *args)`` of scalars, or element by element of same-shape arrays."""
    if isinstance(a, float):
        return fn(a, float(b), *args)
    aa, ba = np.asarray(a), np.asarray(b)
    out = np.fromiter((fn(x, y, *args) for x, y in zip(aa.ravel().tolist(), ba.ravel().tolist())), np.float64, aa.size)
    return out.reshape(aa.shape)


# A recorded sample counts as "at or before" a time within this much after it (float times).
_HOLD_EPS_S = 1e-6


class Ambient:
    """Ambient air at ``t_s`` seconds since ``start``: dry bulb ``temp_c``, dew point ``dewpoint_c``,
    wet bulb ``wetbulb_c`` and relative humidity ``rh_frac``."""

    def __init__(self, config: AmbientModelConfig, *, altitude_m: float, start: pd.Timestamp, seed: int) -> None:
        """``config``: ``[models.ambient]`` (a validated model: its fields and ranges are the only ones);
        ``altitude_m``: the site's (``site.altitude_m``), for the standard-atmosphere station pressure."""
        if not isinstance(config, AmbientModelConfig):
            raise TypeError(f"config must be a twin.config.AmbientModelConfig, got {type(config).__name__}")
        if not isinstance(start, pd.Timestamp) or start.tz is None:
            raise ValueError(
                f"start={start!r} is invalid: allowed a timezone-aware pandas.Timestamp in local "
                "time (e.g. pd.Timestamp('2025-07-15', tz='America/Los_Angeles'))"
            )
        self.config = config
        self.altitude_m = float(altitude_m)
        self.start = start
        self._hour0 = (
            start.hour
            + start.minute / 60.0
            + (start.second + start.microsecond * 1e-6 + start.nanosecond * 1e-9) / 3600.0
        )
        self._date0 = start.date()
        self._h_min = float(config.hour_min)
        self._h_max = float(config.hour_max)
        self._rise_h = self._h_max - self._h_min
        self._fall_h = 24.0 - self._rise_h
        # daily extremes for day d at list index d + 1 (day -1 precedes start)
        self._t_max_day: list[float] = []
        self._t_min_day: list[float] = []
        self._t_max_arr = np.empty(0)
        self._t_min_arr = np.empty(0)
        self._dew_day: list[float] = []  # dew point at 00:00 of day d, index d + 1
        self._dew_arr = np.empty(0)
        self._dew_interp = bool(config.interpolate_normals)
        self._extend_days(_DAYS_PER_CHUNK)
        # standard-atmosphere station pressure (ASHRAE Fundamentals ch. 1 eq. 3): 86.1 kPa at 1,350 m
        self._pressure_pa = float(psychrolib.GetStandardAtmPressure(self.altitude_m))
        self._override_c: float | None = None
        # recorded weather (use_recorded): sample times, dry bulb and RH (arrays and lists for scalars)
        self._rec_t: np.ndarray | None = None
        self._rec_t_list: list[float] = []
        self._rec_temp: np.ndarray | None = None
        self._rec_temp_list: list[float] = []
        self._rec_rh: np.ndarray | None = None
        self._rec_rh_list: list[float] = []
        # slow random variation: OU knots generated in fixed chunks (deterministic)
        self._rng = np.random.default_rng(seed)
        self._noise_knots: np.ndarray = np.empty(0)
        self._noise_state = 0.0
        self._noise_knot_s = float(config.noise_knot_s)
        self._noise_phi = math.exp(-config.noise_knot_s / config.noise_corr_s)
        if config.noise_c > 0.0:
            self._noise_state = float(self._rng.standard_normal())
            self._extend_noise(1)

    # ------------------------------------------------------------------ tables
    def _extend_days(self, n_days: int) -> None:
        """Tabulate daily extremes up to day index ``n_days - 2`` (list length n_days)."""
        p = self.config
        d_first = len(self._t_max_day) - 1
        for d in range(d_first, n_days - 1):
            date = self._date0 + dt.timedelta(days=d)
            if p.heatwave:
                nmax, nmin, ndew = float(p.heatwave_t_max_c), float(p.heatwave_t_min_c), float(p.heatwave_dewpoint_c)
            else:
                nmax, nmin = normal_extremes_c(date, interpolate=bool(p.interpolate_normals))
                ndew = normal_dewpoint_c(date, interpolate=bool(p.interpolate_normals))
            t_max = nmax if p.t_max_c is None else float(p.t_max_c)
            t_min = nmin if p.t_min_c is None else float(p.t_min_c)
            dew = ndew if p.dewpoint_c is None else float(p.dewpoint_c)
            if t_max < t_min:
                raise ValueError(
                    f"models.ambient gives t_max_c={t_max:.2f} < t_min_c={t_min:.2f} on {date}: "
                    "set both t_max_c and t_min_c, or neither"
                )
            self._t_max_day.append(t_max)
            self._t_min_day.append(t_min)
            self._dew_day.append(dew)
        self._t_max_arr = np.array(self._t_max_day)
        self._t_min_arr = np.array(self._t_min_day)
        self._dew_arr = np.array(self._dew_day)

    def _extend_noise(self, n_chunks: int) -> None:
        """Append ``n_chunks`` chunks of one day of OU knots (unit variance)."""
        per_chunk = int(math.ceil(86400.0 / self._noise_knot_s))
        phi = self._noise_phi
        parts = [self._noise_knots] if self._noise_knots.size else [np.array([self._noise_state])]
        for _ in range(n_chunks):
            w = self._rng.standard_normal(per_chunk)
            z = lfilter([math.sqrt(1.0 - phi * phi)], [1.0, -phi], w, zi=[phi * self._noise_state])[0]
            self._noise_state = float(z[-1])
            parts.append(z)
        self._noise_knots = np.concatenate(parts)
        self._noise_list: list[float] = self._noise_knots.tolist()

    def _extend_noise_to(self, n_knots: int) -> None:
        """Generate whole chunks until at least ``n_knots`` knots exist."""
        per_chunk = int(math.ceil(86400.0 / self._noise_knot_s))
        missing = n_knots - len(self._noise_knots)
        self._extend_noise(max(1, -(-missing // per_chunk)))

    # ------------------------------------------------------------------ public
    def set_override(self, temp_c: float | None) -> None:
        """Force the dry bulb to ``temp_c`` for all times (None: back to the profile).

        The dew point keeps its own model (capped at the forced dry bulb), so wet
        bulb and RH follow the forced dry bulb.
        """
        if temp_c is None:
            self._override_c = None
            return
        lo, hi = _TEMP_LIMITS_C
        if not (_is_number(temp_c) and lo <= temp_c <= hi):
            raise ValueError(f"temp_c={temp_c!r} is invalid: allowed None or a number in [{lo}, {hi}] degC")
        self._override_c = float(temp_c)

    def use_recorded(self, t_s: np.ndarray, temp_c: np.ndarray | None, rh_frac: np.ndarray | None) -> list[str]:
        """Drive the air by a weather station's record; returns what was replaced, for the results.

        ``t_s`` [s since start], shape (m,), strictly increasing; ``temp_c`` [degC] and ``rh_frac``
        [0-1], shape (m,) each, or None. Each is held: the value at a time is the last sample at or
        before it (before the first sample: the first). The recorded dry bulb replaces the daily
        profile (and its noise); the recorded RH replaces the model's dew point: wet bulb from dry
        bulb and RH (``GetTWetBulbFromRelHum``), dew point from both (``GetTDewPointFromRelHum``),
        PsychroLib at the station pressure. With the dry bulb only, the model's dew point (capped at
        the recorded dry bulb) gives RH and wet bulb; with RH only, the model's dry bulb and the
        recorded RH. An override (:meth:`set_override`) still forces the dry bulb; the air then keeps
        the recorded humidity's dew point (from the recorded or model dry bulb and the recorded RH),
        capped at the forced dry bulb, as the model's dew point is.
        """
        if self._rec_t is not None:
            raise ValueError("the ambient model already uses recorded weather: allowed once")
        if temp_c is None and rh_frac is None:
            raise ValueError("recorded weather: give temp_c, rh_frac or both (got neither)")
        t = np.array(t_s, dtype=float)
        if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all() or (np.diff(t) <= 0).any():
            raise ValueError(
                f"recorded weather times t_s (shape {t.shape}) must be finite, 1-D and strictly increasing"
            )
        lo, hi = _TEMP_LIMITS_C
        out = []
        held = f"{t.size} samples from {t[0]:g} s to {t[-1]:g} s, held from sample to sample"
        if temp_c is not None:
            x = np.array(temp_c, dtype=float)
            if x.shape != t.shape or not np.isfinite(x).all() or (x < lo).any() or (x > hi).any():
                raise ValueError(
                    f"recorded temp_c (shape {x.shape}) must have shape {t.shape} and finite values in "
                    f"[{lo:g}, {hi:g}] degC"
                )
            self._rec_temp, self._rec_temp_list = x, x.tolist()
            out.append(f"ambient: the dry bulb is the recorded one ({held}) instead of the daily profile")
        if rh_frac is not None:
            x = np.array(rh_frac, dtype=float)
            if x.shape != t.shape or not np.isfinite(x).all() or (x <= 0.0).any() or (x > 1.0).any():
                raise ValueError(
                    f"recorded rh_frac (shape {x.shape}) must have shape {t.shape} and finite values in (0, 1] "
                    "(a fraction, not percent)"
                )
            self._rec_rh, self._rec_rh_list = x, x.tolist()
            src = "recorded" if temp_c is not None else "model's"
            out.append(
                f"ambient: the relative humidity is the recorded one ({held}) instead of the model's dew point; "
                f"wet bulb and dew point from the {src} dry bulb and the recorded RH (PsychroLib, "
                f"{self._pressure_pa / 1000:.1f} kPa)"
            )
        else:
            out.append("ambient: RH and wet bulb from the recorded dry bulb and the model's dew point (capped at it)")
        self._rec_t, self._rec_t_list = t, t.tolist()
        out.append("ambient: an 'ambient' override event still forces the dry bulb")
        return out

    @property
    def override_c(self) -> float | None:
        """The forced temperature, or None when the profile applies."""
        return self._override_c

    @property
    def pressure_pa(self) -> float:
        """Station pressure used by the psychrometrics: standard atmosphere at ``altitude_m``, Pa."""
        return self._pressure_pa

    def temp_c(self, t_s: float | npt.ArrayLike) -> float | np.ndarray:
        """Ambient temperature [degC] at ``t_s`` seconds since start (scalar or array, >= 0)."""
        if isinstance(t_s, (float, int)) and not isinstance(t_s, bool):
            if not t_s >= 0.0:
                raise ValueError(f"t_s={t_s!r} is invalid: allowed a time >= 0 s since start")
            if self._override_c is not None:
                return self._override_c
            if self._rec_temp is not None:
                return self._rec_temp_list[self._held_i(float(t_s))]
            return self._temp_scalar(float(t_s))
        arr = np.asarray(t_s, dtype=float)
        if arr.ndim == 0:
            return self.temp_c(float(arr))
        if arr.size and not np.all(arr >= 0.0):
            raise ValueError("t_s is invalid: allowed times >= 0 s since start (got a negative or NaN time)")
        if self._override_c is not None:
            return np.full(arr.shape, self._override_c)
        if self._rec_temp is not None:
            return self._rec_temp[self._held_idx(arr)]
        return self._temp_array(arr)

    def dewpoint_c(self, t_s: float | npt.ArrayLike) -> float | np.ndarray:
        """Dew point [degC] at ``t_s`` (scalar or array): the seasonal/constant dew point (or the recorded
        humidity's) capped at the dry bulb."""
        return self._air(t_s)[1]

    def wetbulb_c(self, t_s: float | npt.ArrayLike) -> float | np.ndarray:
        """Thermodynamic wet-bulb temperature [degC] at ``t_s`` (scalar or array), PsychroLib at station pressure.

        PsychroLib solves one value at a time (a bisection): measured ~10 us per scalar
        call after the one-off numba compilation (~3.5 s on the first call in a process,
        see ``_wetbulb_scalar``), ~55 ms for a year of hourly values (8,760), on the
        2-CPU development machine (Python 3.12, psychrolib 2.5.0, numba 0.68). One call
        per 60 s co-simulation step costs nothing noticeable.
        """
        temp, dew, rh = self._air(t_s)
        _check_si()
        if rh is not None:  # recorded RH: straight from dry bulb and RH
            return _map(psychrolib.GetTWetBulbFromRelHum, temp, rh, self._pressure_pa)
        return _map(_wetbulb_scalar, temp, dew, self._pressure_pa)

    def rh_frac(self, t_s: float | npt.ArrayLike) -> float | np.ndarray:
        """Relative humidity [0-1] at ``t_s`` (scalar or array), PsychroLib (over ice below 0 degC)."""
        temp, dew, rh = self._air(t_s)
        _check_si()
        return rh if rh is not None else _map(_rh_scalar, temp, dew)

    # ------------------------------------------------------------------ kernels
    def _held_i(self, t_s: float) -> int:
        """Index of the recorded sample held at ``t_s`` (the last at or before it, else the first)."""
        return max(bisect.bisect_right(self._rec_t_list, t_s + _HOLD_EPS_S) - 1, 0)

    def _held_idx(self, t_s: np.ndarray) -> np.ndarray:
        assert self._rec_t is not None
        return np.maximum(np.searchsorted(self._rec_t, t_s + _HOLD_EPS_S, side="right") - 1, 0)

    def _air(self, t_s: float | npt.ArrayLike) -> tuple[Any, Any, Any]:
        """(dry bulb, dew point capped at the dry bulb, the recorded RH where it holds as it is, else None);
        floats for a scalar ``t_s``, arrays otherwise."""
        temp = self.temp_c(t_s)  # validates t_s and tabulates the days
        if isinstance(temp, float):
            t = float(t_s)  # type: ignore[arg-type]
            if self._rec_rh is None:
                return temp, min(self._dew_scalar(t), temp), None
            i = self._held_i(t)
            rh = self._rec_rh_list[i]
            if self._override_c is None:
                return temp, _dew_from_rh_scalar(temp, rh), rh
            # forced dry bulb: the recorded humidity's dew point (at the unforced dry bulb), capped at it
            base = self._rec_temp_list[i] if self._rec_temp is not None else self._temp_scalar(t)
            return temp, min(_dew_from_rh_scalar(base, rh), temp), None
        arr = np.asarray(t_s, dtype=float)
        if self._rec_rh is None:
            return temp, np.minimum(self._dew_array(arr), temp), None
        idx = self._held_idx(arr)
        rh_a = self._rec_rh[idx]
        if self._override_c is None:
            return temp, _map(_dew_from_rh_scalar, temp, rh_a), rh_a
        base_a = self._rec_temp[idx] if self._rec_temp is not None else self._temp_array(arr)
        return temp, np.minimum(_map(_dew_from_rh_scalar, base_a, rh_a), temp), None

    def _dew_scalar(self, t_s: float) -> float:
        h = self._hour0 + t_s / 3600.0
        d = int(h // 24.0)
        i = d + 1
        if i + 1 >= len(self._dew_day):
            self._extend_days(i + 2 + _DAYS_PER_CHUNK)
        d0 = self._dew_day[i]
        if not self._dew_interp:
            return d0
        return d0 + (h - 24.0 * d) / 24.0 * (self._dew_day[i + 1] - d0)

    def _dew_array(self, t_s: np.ndarray) -> np.ndarray:
        h = self._hour0 + t_s / 3600.0
        d = np.floor(h / 24.0).astype(np.int64)
        i = d + 1
        if i.size and int(i.max()) + 1 >= len(self._dew_day):
            self._extend_days(int(i.max()) + 2 + _DAYS_PER_CHUNK)
        d0 = self._dew_arr[i]
        if not self._dew_interp:
            return d0
        return d0 + (h - 24.0 * d) / 24.0 * (self._dew_arr[np.minimum(i + 1, len(self._dew_arr) - 1)] - d0)

    def _temp_scalar(self, t_s: float) -> float:
        h = self._hour0 + t_s / 3600.0
        d = int(h // 24.0)
        hd = h - 24.0 * d
        i = d + 1
        if i + 1 >= len(self._t_max_day):
            self._extend_days(i + 2 + _DAYS_PER_CHUNK)
        if hd < self._h_min:  # falling from yesterday's max to today's min
            lo = self._t_min_day[i]
            hi = self._t_max_day[i - 1]
            temp = lo + (hi - lo) * 0.5 * (1.0 + math.cos(math.pi * (hd + 24.0 - self._h_max) / self._fall_h))
        elif hd < self._h_max:  # rising from today's min to today's max
            lo = self._t_min_day[i]
            hi = self._t_max_day[i]
            temp = lo + (hi - lo) * 0.5 * (1.0 - math.cos(math.pi * (hd - self._h_min) / self._rise_h))
        else:  # falling from today's max to tomorrow's min
            lo = self._t_min_day[i + 1]
            hi = self._t_max_day[i]
            temp = lo + (hi - lo) * 0.5 * (1.0 + math.cos(math.pi * (hd - self._h_max) / self._fall_h))
        if self.config.noise_c > 0.0:
            x = t_s / self._noise_knot_s
            j = int(x)
            if j + 1 >= len(self._noise_list):
                self._extend_noise_to(j + 2)
            z0 = self._noise_list[j]
            temp += self.config.noise_c * (z0 + (x - j) * (self._noise_list[j + 1] - z0))
        return temp

    def _temp_array(self, t_s: np.ndarray) -> np.ndarray:
        h = self._hour0 + t_s / 3600.0
        d = np.floor(h / 24.0).astype(np.int64)
        hd = h - 24.0 * d
        i = d + 1
        if i.size and int(i.max()) + 1 >= len(self._t_max_day):
            self._extend_days(int(i.max()) + 2 + _DAYS_PER_CHUNK)
        t_max, t_min = self._t_max_arr, self._t_min_arr
        before = hd < self._h_min
        after = hd >= self._h_max
        # low / high ends of the half-cosine each time lies on, and its phase in [0, 1]
        lo = np.where(after, t_min[np.minimum(i + 1, len(t_min) - 1)], t_min[i])
        hi = np.where(before, t_max[np.maximum(i - 1, 0)], t_max[i])
        rising_phase = (hd - self._h_min) / self._rise_h
        falling_phase = np.where(before, hd + 24.0 - self._h_max, hd - self._h_max) / self._fall_h
        shape = np.where(
            before | after,
            0.5 * (1.0 + np.cos(np.pi * falling_phase)),
            0.5 * (1.0 - np.cos(np.pi * rising_phase)),
        )
        temp = lo + (hi - lo) * shape
        if self.config.noise_c > 0.0 and t_s.size:
            x = t_s / self._noise_knot_s
            j_max = int(x.max()) + 1
            if j_max >= len(self._noise_knots):
                self._extend_noise_to(j_max + 1)
            knots_t = np.arange(len(self._noise_knots)) * self._noise_knot_s
            temp = temp + self.config.noise_c * np.interp(t_s, knots_t, self._noise_knots)
        return temp
