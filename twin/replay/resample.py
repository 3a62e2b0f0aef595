"""Field samples onto the twin's step grid: the mean over each step of the held signal, or the value held.

A field series is read as a sample-and-hold signal: each sample holds until the
next (a historian's stored value stands until the next one). Before the
first sample the first value holds.

* ``mean`` (power, irradiance, temperatures): the time-weighted mean over
  each step ``[t, t + dt)`` of that held signal, exact (integrated between
  samples), so a 1 s record on a 1 s step passes unchanged and a faster
  record is averaged;
* ``hold`` (states: breakers, counts, indices): the value held at the start
  of each step.

:func:`gap_mask` marks the steps that lie inside a gap of the record (for
comparisons, which do not score them; inputs are held across gaps).
"""

from __future__ import annotations

import numpy as np

__all__ = ["gap_mask", "resample_hold", "resample_mean"]


def resample_hold(t_s: np.ndarray, v: np.ndarray, grid_t_s: np.ndarray) -> np.ndarray:
    """The value held at each grid time (the last sample at or before it; before the first: the first)."""
    i = np.searchsorted(t_s, grid_t_s, side="right") - 1
    return np.asarray(v)[np.maximum(i, 0)].astype(float)


def _integral(t_s: np.ndarray, v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """∫ from t_s[0] to x of the held signal (negative before t_s[0], where the first value holds)."""
    cum = np.concatenate([[0.0], np.cumsum(v[:-1] * np.diff(t_s))])
    i = np.maximum(np.searchsorted(t_s, x, side="right") - 1, 0)
    return cum[i] + v[i] * (x - t_s[i])


def resample_mean(t_s: np.ndarray, v: np.ndarray, grid_t_s: np.ndarray, dt_s: float) -> np.ndarray:
    """The mean of the held signal over each step ``[grid_t_s, grid_t_s + dt_s)``."""
    t = np.asarray(t_s, dtype=float)
    x = np.asarray(v, dtype=float)
    if len(t) == 1:
        return np.full(len(grid_t_s), float(x[0]))
    # integrate relative to the first sample: the sums stay small and exact for a step of a long record
    g = np.asarray(grid_t_s, dtype=float)
    return (_integral(t, x, g + dt_s) - _integral(t, x, g)) / dt_s


def gap_mask(
    t_s: np.ndarray, grid_t_s: np.ndarray, dt_s: float, gaps_s: list[tuple[float, float]], hold_s: float
) -> np.ndarray:
    """True for the steps without field data: inside a gap (the step lies strictly between the last sample
    before and the first after it), before the first sample, or more than ``hold_s`` after the last."""
    g = np.asarray(grid_t_s, dtype=float)
    out = (g + dt_s <= t_s[0]) | (g > t_s[-1] + hold_s)
    for a, b in gaps_s:
        out |= (g > a) & (g + dt_s <= b)
    return out
