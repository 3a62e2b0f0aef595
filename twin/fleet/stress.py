"""Stress aggregates of every pack between ageing updates, and the stressors of an update window.

What :mod:`twin.fleet.ageing` turns into capacity fade and resistance growth
(its docstring, *Stressors*, says how the BLAST-Lite rates are averaged):
:class:`StressAccumulator` adds each fleet step in one compiled kernel
without storing the series (time at SoC with temperature moments, charge
throughput, half cycles with their depth); :class:`Window` turns the
aggregates of a window into the stressors of the models
(:mod:`twin.fleet.blast`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

__all__ = [
    "CRATE_MIN_PER_H",
    "DOD_NODES_FRAC",
    "HYSTERESIS_FRAC",
    "KELVIN",
    "N_DOD_NODES",
    "N_SOC_NODES",
    "SOC_NODES_FRAC",
    "TEMP_OFFSET_C",
    "Aggregate",
    "StressAccumulator",
    "Window",
]

N_SOC_NODES = 41  # SoC grid for time-at-SoC (0, 0.025, ..., 1)
SOC_NODES_FRAC = np.linspace(0.0, 1.0, N_SOC_NODES)
N_DOD_NODES = 21  # DoD grid for throughput-at-depth (0, 0.05, ..., 1)
DOD_NODES_FRAC = np.linspace(0.0, 1.0, N_DOD_NODES)
HYSTERESIS_FRAC = 1e-3  # SoC reversal smaller than this is not a turning point
CRATE_MIN_PER_H = 1e-2  # BLAST-Lite: |dSoC/dt| below 0.01 /h counts as rest for the C-rate
TEMP_OFFSET_C = 25.0  # temperature moments are accumulated about this value (precision)
KELVIN = 273.15
_SQRT3 = math.sqrt(3.0)

# Accumulator state. Per-pack scalars: rows of `cols` (float64, (_N_ROWS, n_packs)), read and written in
# pack order every step. Rows from _R_THR on are window aggregates (zeroed by reset()). Time at the present
# SoC interval [node, node + 1] is pended in _R_W0.._R_W1T2 and flushed into `big` only when the pack leaves
# that interval or at a read-out, so a step touches no scattered memory.
_R_SOC = 0  # SoC at the end of the last step [-]
_R_TURN = 1  # SoC at the last turning point of the half-cycle counter [-]
_R_EXT = 2  # extreme SoC of the running half cycle [-]
_R_DIR = 3  # direction of the running half cycle: 1 up, -1 down, 0 not known yet
_R_RUN = 4  # throughput of the running half cycle, sum |dSoC| [-]
_R_RUN0 = 5  # _R_RUN at the window's start [-]
_R_NODE = 6  # SoC-grid interval whose time is pended in _R_W* (-1: none)
_R_THR = 7  # window: throughput of the active steps, sum |dSoC| [-]
_R_THR_C = 8  # window: the part of _R_THR taken at more than CRATE_MIN_PER_H [-]
_R_W0 = 9  # pended time at the interval's lower node [s]
_R_W0T = 10  # ... times (T - TEMP_OFFSET_C) [s K]
_R_W0T2 = 11  # ... times (T - TEMP_OFFSET_C)^2 [s K^2]
_R_W1 = 12  # pended time at the interval's upper node [s]
_R_W1T = 13  # ... times (T - TEMP_OFFSET_C) [s K]
_R_W1T2 = 14  # ... times (T - TEMP_OFFSET_C)^2 [s K^2]
_N_ROWS = 15
# Per-pack histograms: rows of `big` (float64, (n_packs, _N_BIG)): throughput at DoD nodes, then
# (time, time * (T - 25), time * (T - 25)^2) at each SoC node.
_B_DOD = 0
_B_HIST = N_DOD_NODES
_N_BIG = _B_HIST + 3 * N_SOC_NODES


@numba.njit(cache=True, nogil=True)
def _unit(x: float) -> float:
    """x clipped to [0, 1]; NaN -> 0 (keeps every grid index in range)."""
    if not x > 0.0:
        return 0.0
    return min(x, 1.0)


@numba.njit(cache=True, nogil=True)
def _deposit_dod(big: np.ndarray, p: int, depth: float, weight: float) -> None:
    if not weight > 0.0:
        return
    x = _unit(depth) * (N_DOD_NODES - 1)
    i = int(x)
    if i >= N_DOD_NODES - 1:
        i = N_DOD_NODES - 2
    a = x - i
    big[p, _B_DOD + i] += weight * (1.0 - a)
    big[p, _B_DOD + i + 1] += weight * a


@numba.njit(cache=True, nogil=True)
def _flush(cols: np.ndarray, big: np.ndarray, p: int) -> None:
    node = int(cols[_R_NODE, p])
    if node < 0:
        return
    b = _B_HIST + 3 * node
    for k in range(6):
        big[p, b + k] += cols[_R_W0 + k, p]
        cols[_R_W0 + k, p] = 0.0


@numba.njit(cache=True, nogil=True)
def _flush_kernel(cols: np.ndarray, big: np.ndarray) -> None:
    for p in range(cols.shape[1]):
        _flush(cols, big, p)


@numba.njit(cache=True, nogil=True)
def _add_kernel(
    dt_s: float,
    soc_frac: np.ndarray,
    temp_c: np.ndarray,
    active: np.ndarray,
    cols: np.ndarray,
    big: np.ndarray,
    hyst: float,
) -> None:
    ns1 = N_SOC_NODES - 1
    dsoc_crate = CRATE_MIN_PER_H * dt_s / 3600.0
    for p in range(cols.shape[1]):
        s = soc_frac[p]
        if math.isnan(s):  # NaN SoC reading: hold the last one
            s = cols[_R_SOC, p]
        t = temp_c[p] - TEMP_OFFSET_C
        # calendar: time at SoC (tent weights on the SoC grid) with temperature moments
        x = _unit(s) * ns1
        i = int(x)
        if i >= ns1:
            i = ns1 - 1
        if i != cols[_R_NODE, p]:
            _flush(cols, big, p)
            cols[_R_NODE, p] = i
        w1 = dt_s * (x - i)
        w0 = dt_s - w1
        cols[_R_W0, p] += w0
        cols[_R_W0T, p] += w0 * t
        cols[_R_W0T2, p] += w0 * t * t
        cols[_R_W1, p] += w1
        cols[_R_W1T, p] += w1 * t
        cols[_R_W1T2, p] += w1 * t * t
        prev = cols[_R_SOC, p]
        cols[_R_SOC, p] = s
        if not active[p]:
            continue
        ads = abs(s - prev)
        if ads == 0.0:
            continue
        cols[_R_THR, p] += ads
        if ads >= dsoc_crate:
            cols[_R_THR_C, p] += ads
        cols[_R_RUN, p] += ads
        # half-cycle counter with hysteresis: a finished half cycle deposits its throughput at its depth
        d = cols[_R_DIR, p]
        ext = cols[_R_EXT, p]
        turn = cols[_R_TURN, p]
        if d > 0.0:
            if s > ext:
                cols[_R_EXT, p] = s
            elif ext - s > hyst:
                back = ext - s
                _deposit_dod(big, p, ext - turn, cols[_R_RUN, p] - back)
                cols[_R_RUN, p] = back
                cols[_R_TURN, p] = ext
                cols[_R_EXT, p] = s
                cols[_R_DIR, p] = -1.0
        elif d < 0.0:
            if s < ext:
                cols[_R_EXT, p] = s
            elif s - ext > hyst:
                back = s - ext
                _deposit_dod(big, p, turn - ext, cols[_R_RUN, p] - back)
                cols[_R_RUN, p] = back
                cols[_R_TURN, p] = ext
                cols[_R_EXT, p] = s
                cols[_R_DIR, p] = 1.0
        else:
            if s - turn > hyst:
                cols[_R_DIR, p] = 1.0
                cols[_R_EXT, p] = s
            elif turn - s > hyst:
                cols[_R_DIR, p] = -1.0
                cols[_R_EXT, p] = s


class StressAccumulator:
    """Per-pack running aggregates since the last ageing update.

    ``soc_frac`` passed to :meth:`add` is relative to the pack's *present*
    capacity (as BLAST-Lite's SOC); temperatures are cell temperatures.
    :meth:`add` runs one compiled kernel over preallocated arrays (pass
    float64 SoC and temperature and a bool ``active`` to stay on one
    compiled signature).
    """

    def __init__(self, n_packs: int, soc0_frac: np.ndarray, hysteresis_frac: float = HYSTERESIS_FRAC) -> None:
        soc0 = np.broadcast_to(np.asarray(soc0_frac, dtype=np.float64), (n_packs,))
        self.n_packs = int(n_packs)
        self.hysteresis_frac = float(hysteresis_frac)
        self.cols = np.zeros((_N_ROWS, self.n_packs))
        self.cols[_R_SOC] = soc0
        self.cols[_R_TURN] = soc0
        self.cols[_R_EXT] = soc0
        self.cols[_R_NODE] = -1.0
        self.big = np.zeros((self.n_packs, _N_BIG))
        self.duration_s = 0.0

    def add(self, dt_s: float, soc_frac: np.ndarray, temp_c: np.ndarray, active: np.ndarray) -> None:
        """Add one fleet step of ``dt_s``: ``soc_frac``/``temp_c`` are the values at the END of the step;
        inactive packs accumulate calendar time only (their SoC is followed, not counted as throughput).
        One compiled kernel over preallocated arrays, no allocation (about 5 µs for 805 packs)."""
        _add_kernel(dt_s, soc_frac, temp_c, active, self.cols, self.big, self.hysteresis_frac)
        self.duration_s += dt_s

    def reset(self) -> None:
        """Start a new window: zero the aggregates, keep the SoC and the running half cycle."""
        self.cols[_R_THR:] = 0.0
        self.cols[_R_RUN0] = self.cols[_R_RUN]
        self.big[:] = 0.0
        self.duration_s = 0.0

    # -- read-outs (used by FleetAgeing.update)
    @property
    def throughput_frac(self) -> np.ndarray:
        """sum |dSoC| of the half cycles finished in the window (their whole throughput, also the part before
        the window), in units of the present capacity; the running half cycle is counted when it ends."""
        c = self.cols
        return np.maximum(c[_R_THR] - c[_R_RUN] + c[_R_RUN0], 0.0)

    @property
    def window_throughput_frac(self) -> np.ndarray:
        """sum |dSoC| of the active steps in the window."""
        return self.cols[_R_THR].copy()

    @property
    def throughput_crate_frac(self) -> np.ndarray:
        """Part of :attr:`window_throughput_frac` taken at more than ``CRATE_MIN_PER_H``."""
        return self.cols[_R_THR_C].copy()

    @property
    def dod_weights(self) -> np.ndarray:
        """(n_packs, N_DOD_NODES): throughput of the finished half cycles, deposited at their depth."""
        return self.big[:, _B_DOD:_B_HIST]

    @property
    def soc_time_hist(self) -> np.ndarray:
        """(n_packs, N_SOC_NODES, 3): time (s) at each SoC node and its integrals of (T - 25 degC) and (T - 25)^2."""
        _flush_kernel(self.cols, self.big)
        return self.big[:, _B_HIST:].reshape(self.n_packs, N_SOC_NODES, 3)


class Aggregate:
    """Stress aggregates of the packs over one or more accumulator windows (summed)."""

    def __init__(self, n: int) -> None:
        self.hist = np.zeros((n, N_SOC_NODES, 3))
        self.dod = np.zeros((n, N_DOD_NODES))
        self.thr = np.zeros(n)
        self.thr_c = np.zeros(n)
        self.duration_s = 0.0

    def take(self, acc: StressAccumulator) -> None:
        """Add the accumulator's window."""
        self.hist += acc.soc_time_hist
        self.dod += acc.dod_weights
        self.thr += acc.throughput_frac
        self.thr_c += acc.throughput_crate_frac
        self.duration_s += acc.duration_s

    def clear(self) -> None:
        for a in (self.hist, self.dod, self.thr, self.thr_c):
            a[...] = 0.0
        self.duration_s = 0.0


class Window:
    """Stressors of one update window for a subset of packs (see the module docstring)."""

    def __init__(self, agg: Aggregate, idx: np.ndarray, q_ref: np.ndarray) -> None:
        self.dt_days = agg.duration_s / 86400.0
        hist = agg.hist[idx]
        w = hist[:, :, 0]
        tot = w.sum(axis=1)
        self.tot_s = np.where(tot > 0.0, tot, 1.0)
        self.w = w / self.tot_s[:, None]  # time share at each SoC node
        with np.errstate(invalid="ignore", divide="ignore"):
            m1 = np.where(w > 0.0, hist[:, :, 1] / w, 0.0)
            var = np.where(w > 0.0, hist[:, :, 2] / w - m1 * m1, 0.0)
        self.mu_k = m1 + TEMP_OFFSET_C + KELVIN
        self.dev_k = _SQRT3 * np.sqrt(np.maximum(var, 0.0))
        self.temp_mean_k = (self.w * self.mu_k).sum(axis=1)
        self.soc_mean = self.w @ SOC_NODES_FRAC
        self.defc = 0.5 * agg.thr[idx] * q_ref
        hours = max(agg.duration_s / 3600.0, 1e-300)
        self.crate = agg.thr_c[idx] / hours * q_ref
        dw = agg.dod[idx]
        dsum = dw.sum(axis=1)
        has = dsum > 0.0
        self.dod_w = np.where(has[:, None], dw / np.where(has, dsum, 1.0)[:, None], 0.0)
        self.dod_w[~has, 0] = 1.0  # no finished half cycle (then no throughput either)
        self.dod_mean = self.dod_w @ DOD_NODES_FRAC

    def time_avg(self, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Time average of f(T_K, SoC node) over the window: Gauss-Hermite in T, tent weights in SoC."""
        e = (4.0 * f(self.mu_k) + f(self.mu_k - self.dev_k) + f(self.mu_k + self.dev_k)) / 6.0
        return (self.w * e).sum(axis=1)

    def dod_avg(self, g_nodes: np.ndarray) -> np.ndarray:
        """Throughput-weighted mean of g(DoD) given at the DoD nodes, shape (n, N_DOD_NODES) or (N_DOD_NODES,)."""
        return (self.dod_w * g_nodes).sum(axis=1)
