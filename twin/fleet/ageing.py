"""Pack ageing: calendar and cycle capacity fade and resistance growth in the form of NREL's BLAST-Lite.

The equations are re-implemented from BLAST-Lite 1.1.1 (P. Gasper, N. Prakash,
K. Smith, NREL; https://github.com/NatLabRockies/BLAST-Lite, BSD-3-Clause;
the package pins numpy < 2 so it is not a dependency) as numpy over arrays of
packs. One BLAST-Lite model per chemistry of the fleet:

* **NMC** -- ``Nmc111_Gr_Kokam75Ah_Battery`` (``nmc111_gr_Kokam75Ah_2017.py``),
  a 75 Ah NMC-graphite pouch cell, the only large-format NMC model in
  BLAST-Lite with resistance growth. Data and model form: K. Smith et al.,
  "Life prediction model for grid-connected Li-ion battery energy storage
  system", American Control Conference 2017,
  https://ieeexplore.ieee.org/iel7/7951530/7962914/07963578.pdf.
  Capacity ``q = min(q_LLI, q_LAM)``: lithium inventory lost with time
  (``q1 t^q2``, ``q1 = q1_0 exp(q1_1/T_N) exp(q1_2 U_a,N/T_N)``) and with
  charge throughput (``q3 EFC^q4``, ``q3 = q3_0 exp(q3_1/T_N)
  exp(q3_2 exp(DoD^2))``), active material lost along a sigmoid in EFC
  (``1.01 - tanh((EFC/q5)^10 / 2)``, ``q5 = q5_0 + q5_1 (T_C - 55) DoD
  SoC_mean/0.6``); resistance ``r = max(1 + r1 q1 t^r2 + r3 q3 EFC^r4,
  r5 + r6/q_LAM)``; ``T_N = T/308.15 K``, ``U_a,N = U_a/0.123 V``.
* **LFP** -- ``Lfp_Gr_SonyMurata3Ah_Battery`` (``lfp_gr_SonyMurata3Ah_2018.py``),
  chosen over ``Lfp_Gr_250AhPrismatic`` because it models resistance growth,
  which the electrical model needs (the 250 Ah model has capacity only).
  Calendar data: M. Naumann et al., J. Energy Storage (2018),
  https://doi.org/10.1016/j.est.2018.01.019; cycle data: M. Naumann et al.,
  J. Power Sources (2020), https://doi.org/10.1016/j.jpowsour.2019.227666;
  capacity model identification: P. Gasper et al., J. Electrochem. Soc.
  (2022), https://doi.org/10.1149/1945-7111/ac86a8; resistance model after
  Naumann et al. (refitted in BLAST-Lite). Capacity
  ``q = 1 - qLoss_t - qLoss_EFC - qLoss_BreakIn`` with a sigmoid calendar
  loss ``q1 tanh((q2 t)^q3 / 2)`` (``q1``, ``q3`` Arrhenius-like in ``T``
  and ``U_a``), a power-law cycle loss ``(q5 EFC)^q6`` (``q5`` linear in
  DoD plus ``exp(DoD^2 C^3)``) and a break-in sigmoid active only above 3
  EFC per day; resistance ``r = 1 + k_T(T) k_SoC(SoC) t_s + k_C(C) k_DoD(DoD)
  EFC/100`` (linear in time and throughput).
* **LMO** -- ``Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery``
  (``lmo_gr_NissanLeaf66Ah_2ndLife_2020.py``), fitted to *second-life*
  Nissan Leaf half-modules: calendar data E. Braco et al., EEEIC/I&CPS
  Europe 2022, https://doi.org/10.1109/EEEIC/ICPSEUROPE54979.2022.9854784;
  cycle data E. Braco et al., J. Energy Storage (2020),
  https://doi.org/10.1016/j.est.2020.101695.
  Capacity relative to the start of second life ``q = 1 - k_cal t^0.464 -
  7.58e-5 EFC^1.08`` with ``k_cal = 3.25e8 exp(-7580/T) exp(162 SoC/T)``.
  BLAST-Lite has no resistance model for it; see *Second-life start* below.

``U_a`` is the graphite anode potential vs Li from SoC (M. Safari,
C. Delacourt, J. Electrochem. Soc. 158 (2011) A562,
https://doi.org/10.1149/1.3567007; lithiation range as in BLAST-Lite), ``t`` in
days, ``T`` in K, ``EFC`` equivalent full cycles of the model's reference
capacity, ``C`` the window-mean C-rate.

Stressors (BLAST-Lite ``_extract_stressors``/``update_rates``). Over an
update window a rate that depends on temperature and SoC is the *time
average* of the instantaneous rate; rates that depend on depth of discharge
use the window's DoD; ``dEFC = sum|dSoC| / 2 * q`` (SoC is relative to the
present capacity, so throughput is rescaled to the reference capacity);
the C-rate is ``sum|dSoC| / window hours * q`` counting only steps faster
than 0.01 /h. :class:`StressAccumulator` keeps, per pack and without
storing the series,

* time spent at SoC, deposited on a 41-node SoC grid (linear "tent"
  weights, which keep the time-mean SoC exact) together with the first two
  temperature moments at each node; a rate ``f(T, SoC)`` is then averaged
  as ``sum_j w_j E_j[f(T, SoC_j)]`` with a 3-point Gauss-Hermite rule in
  temperature (exact for a constant temperature; 0.6 % high for an
  Arrhenius rate of 60 kJ/mol under a +-10 degC daily sine);
* throughput ``sum|dSoC|`` (active packs only) and the part of it at more
  than 0.01 C;
* a half-cycle counter: SoC turning points with a hysteresis of
  ``HYSTERESIS_FRAC``; every half cycle's depth is deposited on a DoD grid
  weighted by its throughput, so the window's DoD-dependent rate is the
  throughput-weighted mean over its half cycles (BLAST-Lite uses max - min
  SoC of a window of about one cycle; for regular cycling the two agree).
  The throughput of a half cycle enters the window in which it ends (so
  its depth is known; cycle ageing lags by at most half a cycle), which
  keeps the result independent of where window boundaries fall.

State update (BLAST-Lite ``_update_power_state``, ``_update_power_B_state``,
``_update_sigmoid_state``). Each loss state follows a trajectory ``y(x)``
(``k x^p``, ``(k x)^p`` or ``y_inf tanh((k x)^p / 2)``) whose parameters
depend on the present stress; a window advances the state from its
*virtual* abscissa ``x_v = y^-1(y0)`` under the *current* rates, so a
state carries its history into new conditions. BLAST-Lite advances with
one explicit Euler step of the derivative at ``x_v``; here the default is
the exact step ``y(x_v + dx) - y0``, which makes the result independent of
the update interval at constant stress (the Euler step converges to it as
windows shrink; with BLAST-Lite's windows of about a day the two differ by
up to 0.2 % of capacity over a year -- LMO at 45 degC, 31 % loss -- and
mostly by less than 0.05 %, see ``tests/test_ageing.py``).
``FleetAgeing(..., euler=True)`` reproduces BLAST-Lite's Euler step.

Second-life start. A pack starts at capacity ``soh0`` (of nameplate) and
resistance factor ``r_factor0`` (of new).

* NMC and LFP models describe a cell from new, so their loss states are set
  so the model's capacity is ``soh0`` and its resistance ``r_factor0``. The
  split of the lost capacity ``1 - soh0`` between the time (calendar) and
  throughput (cycle) states, and of the resistance gain between its two
  states, is the model's own split after a representative EV first life
  (``FIRST_LIFE``: 8 years -- the usual traction-battery warranty -- at
  25 degC, mean SoC 0.6, 60 EFC a year at 0.5 DoD, i.e. about 15,000 km a
  year at 0.18 kWh/km on a 45 kWh pack). With it the NMC model puts 73 % of
  the capacity loss on the calendar state and 98 % of the resistance gain;
  the LFP model 98 % and 94 %. The split matters because, with BLAST-Lite's
  state equations, a state's size sets its virtual age and so its onward
  rate; taking it from the model's own first-life trajectory keeps both
  states on paths the model would have followed. How the pack continues
  (``FleetAgeing(second_life=...)``):

  - ``"scaled_history"`` (default): the pack is taken to have followed the
    model's trajectories scaled by ``sq = (1 - soh0) / loss_model`` (and
    ``sr = (r_factor0 - 1) / gain_model`` for resistance), the model's loss
    and gain after the representative first life; it keeps that scale (a
    per-pack "degradation scalar" applied to the trajectory: power-law
    ``k -> sq k``, sigmoid plateau ``y_inf -> sq y_inf``), so its states sit
    at the real first-life age (8 years) and a pack that aged faster than
    the model cell keeps ageing faster. The EV cells of the fleet aged
    several times faster than these laboratory cells (the NMC model loses
    only 3.6 % in the representative first life, the LFP model 10.6 %), so
    this is the default.
  - ``"virtual_age"``: unscaled model trajectories; each state's virtual
    age is whatever the model needs to reach it (the NMC calendar state at
    20 % loss is centuries old), so used packs then fade about ten times
    slower than new ones (about 0.2 % a year for NMC at 25 degC against
    2.4 % with ``"scaled_history"`` for the duty in ``tests/test_ageing.py``).
    The LFP calendar state, a sigmoid below its plateau ``q1``, is then
    capped at ``FIRST_LIFE_CAL_CAP`` of the first-life plateau and the rest
    put on cycle loss.

  The NMC active-material (knee) state starts where the first-life
  throughput (480 EFC) leaves it, far before its knee (second-life packs
  are screened to be before the knee). New packs (``soh0 = 1``) start
  exactly as BLAST-Lite's new cell in both modes.
* The LMO model was fitted to modules *at* the start of their second life
  (70 % of new on average), with its losses zero there; so its states start
  at zero for every pack and ``q_frac = soh0 * q_model``: the same relative
  fade from each pack's own start. For resistance (not modelled in
  BLAST-Lite) the pack is assumed to keep the ratio of resistance growth to
  capacity loss it showed over its first life, ``r_factor = r_factor0 +
  beta (soh0 - q_frac)``, ``beta = (r_factor0 - 1)/(1 - soh0)``
  (``LMO_R_PER_Q_LOSS`` when the pack has lost less than 2 %); a linear
  resistance-capacity relation across retired packs is reported e.g. by
  J. A. Drallmeier et al. (2022), https://arxiv.org/abs/2203.12376. This is
  an assumption, not a fitted model.

``q_frac`` never increases and never drops below ``Q_MIN_FRAC``;
``r_factor`` never decreases. The models' stated validity ranges
(BLAST-Lite docstrings) are narrower than a desert site: NMC cycling fit
at 0-45 degC and 80-100 % DoD, LFP cycling only at 25 and 45 degC (no
temperature dependence of cycle fade), LMO cycling only at 25 degC, 100 %
DoD, 1C (cycle fade depends on throughput only).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numba
import numpy as np

# ----------------------------------------------------------------------------- grids and constants

N_SOC_NODES = 41  # SoC grid for time-at-SoC (0, 0.025, ..., 1)
SOC_NODES_FRAC = np.linspace(0.0, 1.0, N_SOC_NODES)
N_DOD_NODES = 21  # DoD grid for throughput-at-depth (0, 0.05, ..., 1)
DOD_NODES_FRAC = np.linspace(0.0, 1.0, N_DOD_NODES)
HYSTERESIS_FRAC = 1e-3  # SoC reversal smaller than this is not a turning point
CRATE_MIN_PER_H = 1e-2  # BLAST-Lite: |dSoC/dt| below 0.01 /h counts as rest for the C-rate
TEMP_OFFSET_C = 25.0  # temperature moments are accumulated about this value (precision)
Q_MIN_FRAC = 0.05
MIN_WINDOW_S = 86400.0  # shorter update windows are pooled up to this (see FleetAgeing.update)
LMO_R_PER_Q_LOSS = 2.0  # LMO resistance growth per unit capacity lost, when the pack's own is undefined
FIRST_LIFE = {"years": 8.0, "temp_c": 25.0, "soc_frac": 0.6, "efc_per_year": 60.0, "dod_frac": 0.5}
FIRST_LIFE_CAL_CAP = 0.9  # LFP: calendar state at most this share of its plateau q1 at first-life stress
CHEMISTRIES: tuple[str, ...] = ("NMC", "LFP", "LMO")
SECOND_LIFE_MODES: tuple[str, ...] = ("scaled_history", "virtual_age")

_SQRT3 = math.sqrt(3.0)
_KELVIN = 273.15

# Accumulator state. Per-pack scalars: rows of `cols` (float64, (_N_ROWS, n_packs)), read and written in
# pack order every step. Rows from _R_THR on are window aggregates (zeroed by reset()). Time at the present
# SoC interval [node, node + 1] is pended in _R_W0.._R_W1T2 and flushed into `big` only when the pack leaves
# that interval or at a read-out, so a step touches no scattered memory.
(
    _R_SOC,
    _R_TURN,
    _R_EXT,
    _R_DIR,
    _R_RUN,
    _R_RUN0,
    _R_NODE,
    _R_THR,
    _R_THR_C,
    _R_W0,
    _R_W0T,
    _R_W0T2,
    _R_W1,
    _R_W1T,
    _R_W1T2,
) = range(15)
_N_ROWS = 15
# Per-pack histograms: rows of `big` (float64, (n_packs, _N_BIG)): throughput at DoD nodes, then
# (time, time * (T - 25), time * (T - 25)^2) at each SoC node.
_B_DOD = 0
_B_HIST = N_DOD_NODES
_N_BIG = _B_HIST + 3 * N_SOC_NODES


def anode_potential_v(soc_frac: np.ndarray) -> np.ndarray:
    """Graphite potential vs Li (V) from SoC: Safari & Delacourt (2011), lithiation as in BLAST-Lite."""
    xa = 8.5e-3 + np.asarray(soc_frac, dtype=float) * (0.78 - 8.5e-3)
    return (
        0.6379
        + 0.5416 * np.exp(-305.5309 * xa)
        + 0.044 * np.tanh(-(xa - 0.1958) / 0.1088)
        - 0.1978 * np.tanh((xa - 1.0571) / 0.0854)
        - 0.6875 * np.tanh((xa + 0.0117) / 0.0529)
        - 0.0175 * np.tanh((xa - 0.5692) / 0.0875)
    )


_UA_NODES_V = anode_potential_v(SOC_NODES_FRAC)

# ----------------------------------------------------------------------------- accumulator


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


# ----------------------------------------------------------------------------- window aggregates


class _Aggregate:
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


class _Window:
    """Stressors of one update window for a subset of packs (see the module docstring)."""

    def __init__(self, agg: _Aggregate, idx: np.ndarray, q_ref: np.ndarray) -> None:
        self.dt_days = agg.duration_s / 86400.0
        hist = agg.hist[idx]
        w = hist[:, :, 0]
        tot = w.sum(axis=1)
        self.tot_s = np.where(tot > 0.0, tot, 1.0)
        self.w = w / self.tot_s[:, None]  # time share at each SoC node
        with np.errstate(invalid="ignore", divide="ignore"):
            m1 = np.where(w > 0.0, hist[:, :, 1] / w, 0.0)
            var = np.where(w > 0.0, hist[:, :, 2] / w - m1 * m1, 0.0)
        self.mu_k = m1 + TEMP_OFFSET_C + _KELVIN
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


# ----------------------------------------------------------------------------- state-update rules


def _adv_power(y0: np.ndarray, dx: np.ndarray, k: np.ndarray, p: float, euler: bool) -> np.ndarray:
    """Increment of a state on y = k x^p over dx from its present value (BLAST-Lite ``_update_power_state``)."""
    y0, dx, k = np.broadcast_arrays(np.asarray(y0, float), np.asarray(dx, float), np.asarray(k, float))
    dy = np.zeros(y0.shape)
    go = (dx > 0.0) & (k > 0.0)
    new = go & (y0 <= 0.0)
    dy[new] = k[new] * dx[new] ** p
    old = go & (y0 > 0.0)
    if old.any():
        y, d, kk = y0[old], dx[old], k[old]
        with np.errstate(over="ignore"):  # a vanishing rate: x_v -> inf, increment -> 0
            xv = (y / kk) ** (1.0 / p)
            if euler:
                dy[old] = kk * p * (y / kk) ** ((p - 1.0) / p) * d
            else:
                dy[old] = y * np.expm1(p * np.log1p(d / xv))
    return np.maximum(dy, 0.0)


def _adv_power_b(y0: np.ndarray, dx: np.ndarray, k: np.ndarray, p: float, euler: bool) -> np.ndarray:
    """Increment of a state on y = (k x)^p (BLAST-Lite ``_update_power_B_state``)."""
    y0, dx, k = np.broadcast_arrays(np.asarray(y0, float), np.asarray(dx, float), np.asarray(k, float))
    dy = np.zeros(y0.shape)
    go = (dx > 0.0) & (k > 0.0)
    new = go & (y0 <= 0.0)
    dy[new] = (k[new] * dx[new]) ** p
    old = go & (y0 > 0.0)
    if old.any():
        y, d, kk = y0[old], dx[old], k[old]
        with np.errstate(over="ignore"):  # a vanishing rate: x_v -> inf, increment -> 0
            xv = y ** (1.0 / p) / kk
            if euler:
                dy[old] = p * y / xv * d
            else:
                dy[old] = y * np.expm1(p * np.log1p(d / xv))
    return np.maximum(dy, 0.0)


def _adv_sigmoid(
    y0: np.ndarray, dx: np.ndarray, y_inf: np.ndarray, k: np.ndarray, p: np.ndarray, euler: bool
) -> np.ndarray:
    """Increment of a state on y = 2 y_inf (1/2 - 1/(1 + exp((k x)^p))) = y_inf tanh((k x)^p / 2)
    (BLAST-Lite ``_update_sigmoid_state``). A state at or above its plateau y_inf does not move (BLAST-Lite
    returns NaN there)."""
    y0, dx, y_inf, k, p = np.broadcast_arrays(*(np.asarray(a, float) for a in (y0, dx, y_inf, k, p)))
    dy = np.zeros(y0.shape)
    go = (dx > 0.0) & (k > 0.0) & (y_inf > 0.0) & (p > 0.0)
    new = go & (y0 <= 0.0)
    old = go & (y0 > 0.0) & (y0 < y_inf)
    with np.errstate(over="ignore"):  # (k x)^p -> inf saturates tanh; x_v -> inf gives no increment
        dy[new] = y_inf[new] * np.tanh(0.5 * (k[new] * dx[new]) ** p[new])
        if old.any():
            y, d, yi, kk, pp = y0[old], dx[old], y_inf[old], k[old], p[old]
            u = y / yi
            z0 = np.log1p(u) - np.log1p(-u)  # = (k x_v)^p
            xv = z0 ** (1.0 / pp) / kk
            if euler:
                ez = np.exp(-z0)  # e^z/(e^z+1)^2 = e^-z/(1+e^-z)^2
                dy[old] = 2.0 * yi * pp * z0 * ez / (xv * (1.0 + ez) ** 2) * d
            else:
                dy[old] = yi * np.tanh(0.5 * (kk * (xv + d)) ** pp) - y
    return np.maximum(np.nan_to_num(dy, nan=0.0), 0.0)


def _sigmoid_y(x: np.ndarray, y_inf: np.ndarray, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    return y_inf * np.tanh(0.5 * (k * np.asarray(x, float)) ** p)


# ----------------------------------------------------------------------------- the three models


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x, float) / math.sqrt(2.0)))


def _skewnormpdf(x: np.ndarray, skew: float, width: float) -> np.ndarray:
    xp = (np.asarray(x, float) - 0.5) / width
    return 2.0 * _norm_pdf(xp) * _norm_cdf(skew * xp)


class _Stress:
    """Constant stress (for the first-life history): duck-types _Window."""

    def __init__(self, n: int, temp_c: float, soc_frac: float, dod_frac: float, crate: float) -> None:
        self.mu_k = np.full((n, 1), temp_c + _KELVIN)
        self.temp_mean_k = np.full(n, temp_c + _KELVIN)
        self.soc_mean = np.full(n, soc_frac)
        self.dod_mean = np.full(n, dod_frac)
        self.crate = np.full(n, crate)
        self.soc = soc_frac
        self.dod = dod_frac
        self.ua = float(anode_potential_v(np.array([soc_frac]))[0])

    def time_avg(self, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        return f(self.mu_k)[:, 0]


class _Kokam:
    """NMC: BLAST-Lite ``Nmc111_Gr_Kokam75Ah_Battery`` (Smith et al., ACC 2017)."""

    P: ClassVar[dict[str, float]] = {
        "q1_0": 2.66e7,
        "q1_1": -17.8,
        "q1_2": -5.21,
        "q2": 0.357,
        "q3_0": 3.80e3,
        "q3_1": -18.4,
        "q3_2": 1.04,
        "q4": 0.778,
        "q5_0": 1e4,
        "q5_1": 153.0,
        "p_LAM": 10.0,
        "r1": 0.0570,
        "r2": 1.25,
        "r3": 4.87,
        "r4": 0.712,
        "r5": -0.08,
        "r6": 1.09,
    }
    STATES = ("qLoss_LLI_t", "qLoss_LLI_EFC", "qLoss_LAM", "rGain_LLI_t", "rGain_LLI_EFC")
    INIT = (0.0, 0.0, 1e-8, 0.0, 0.0)
    Q_IDX: ClassVar[list[int]] = [0, 1]  # time and throughput capacity-loss states
    R_IDX: ClassVar[list[int]] = [3, 4]  # time and throughput resistance-gain states
    Q5_MIN = 100.0  # the linear q5 can reach <= 0 far outside the data (cold, deep, high SoC); kept positive

    def rates(self, w: _Window | _Stress) -> dict[str, np.ndarray]:
        p = self.P
        if isinstance(w, _Stress):
            ua = np.full((1,), w.ua)
            h_dod = np.exp(p["q3_2"] * np.exp(w.dod**2))
        else:
            ua = _UA_NODES_V
            h_dod = w.dod_avg(np.exp(p["q3_2"] * np.exp(DOD_NODES_FRAC**2)))
        uan = ua / 0.123
        q1 = w.time_avg(lambda tk: p["q1_0"] * np.exp(p["q1_1"] * 308.15 / tk) * np.exp(p["q1_2"] * uan * 308.15 / tk))
        q3 = w.time_avg(lambda tk: p["q3_0"] * np.exp(p["q3_1"] * 308.15 / tk)) * h_dod
        q5 = p["q5_0"] + p["q5_1"] * (w.temp_mean_k - _KELVIN - 55.0) * w.dod_mean * (w.soc_mean / 0.6)
        return {"q1": q1, "q3": q3, "q5": np.maximum(q5, self.Q5_MIN)}

    def advance(
        self,
        s: np.ndarray,
        r: dict[str, np.ndarray],
        dt_days: float,
        defc: np.ndarray,
        sq: np.ndarray,
        sr: np.ndarray,
        euler: bool,
    ) -> None:
        """Advance the states in place; sq, sr scale the capacity-loss and resistance-gain trajectories."""
        p = self.P
        s[:, 0] += _adv_power(s[:, 0], dt_days, sq * r["q1"], p["q2"], euler)
        s[:, 1] += _adv_power(s[:, 1], defc, sq * r["q3"], p["q4"], euler)
        s[:, 2] += _adv_sigmoid(s[:, 2], defc, 1.0, 1.0 / r["q5"], p["p_LAM"], euler)
        s[:, 3] += _adv_power(s[:, 3], dt_days, sr * p["r1"] * r["q1"], p["r2"], euler)
        s[:, 4] += _adv_power(s[:, 4], defc, sr * p["r3"] * r["q3"], p["r4"], euler)

    def outputs(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.P
        q_lli = 1.0 - s[:, 0] - s[:, 1]
        q_lam = 1.01 - s[:, 2]
        r_lli = 1.0 + s[:, 3] + s[:, 4]
        r_lam = p["r5"] + p["r6"] / np.maximum(q_lam, 1e-6)
        return np.minimum(q_lli, q_lam), np.maximum(r_lli, r_lam)

    def first_life(self, n: int, fl: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """States after the representative first life ``fl`` from new (exact trajectories), and its rates."""
        t, efc, st = _first_life(n, fl)
        r = self.rates(st)
        p = self.P
        s = np.zeros((n, 5))
        s[:, 0] = r["q1"] * t ** p["q2"]
        s[:, 1] = r["q3"] * efc ** p["q4"]
        s[:, 2] = self.INIT[2] + _adv_sigmoid(self.INIT[2], efc, 1.0, 1.0 / r["q5"], p["p_LAM"], False)
        s[:, 3] = p["r1"] * r["q1"] * t ** p["r2"]
        s[:, 4] = p["r3"] * r["q3"] * efc ** p["r4"]
        return s, r


class _SonyMurata:
    """LFP: BLAST-Lite ``Lfp_Gr_SonyMurata3Ah_Battery`` (Naumann et al. 2018, 2020; Gasper et al. 2022)."""

    P: ClassVar[dict[str, float]] = {
        "q2": 0.000130510034211874,
        "q1_b0": 0.989687151293590,
        "q1_b1": -2881067.56019324,
        "q1_b2": 8742.06309157261,
        "q3_b0": 0.000332850281062177,
        "q3_b1": 734553185711.369,
        "q3_b2": -2.82161575620780e-06,
        "q3_b3": -3284991315.45121,
        "q3_b4": 0.00127227593657290,
        "q8": 0.00303553871631028,
        "q9": 1.43752162947637,
        "q7_b0": 0.582258029148225,
        "q7_soc_skew": 0.0583128906965484,
        "q7_soc_width": 0.208738181522897,
        "q7_dod_skew": -3.80744333129564,
        "q7_dod_width": 1.16126260428210,
        "q7_dod_growth": 25.4130804598602,
        "q6": 1.12847759334355,
        "q5_b0": -6.81260579372875e-06,
        "q5_b1": 2.59615973160844e-05,
        "q5_b2": 2.11559710307295e-06,
        "k_ref_r_cal": 3.4194e-10,
        "Ea_r_cal": 71827.0,
        "C_r_cal": -3.3903,
        "D_r_cal": 1.5604,
        "A_r_cyc": -0.002,
        "B_r_cyc": 0.0021,
        "C_r_cyc": 6.8477,
        "D_r_cyc": 0.91882,
    }
    STATES = ("qLoss_LLI_t", "qLoss_LLI_EFC", "qLoss_BreakIn_EFC", "rGain_LLI_t", "rGain_LLI_EFC")
    INIT = (0.0, 0.0, 1e-10, 0.0, 0.0)
    Q_IDX: ClassVar[list[int]] = [0, 1]  # time and throughput capacity-loss states
    R_IDX: ClassVar[list[int]] = [3, 4]  # time and throughput resistance-gain states
    R_GAS = 8.3144  # as in BLAST-Lite

    def __init__(self) -> None:
        p = self.P
        self.skew_soc_nodes = _skewnormpdf(SOC_NODES_FRAC, p["q7_soc_skew"], p["q7_soc_width"])
        self.ksoc_r_nodes = p["C_r_cal"] * (SOC_NODES_FRAC - 0.5) ** 3 + p["D_r_cal"]
        d = DOD_NODES_FRAC
        self.q7_dod_nodes = (
            _skewnormpdf(d, p["q7_dod_skew"], p["q7_dod_width"])
            * 2.0
            * (0.5 - 1.0 / (1.0 + np.exp(p["q7_dod_growth"] * d)))
        )
        self.kdod_r_nodes = p["C_r_cyc"] * (d - 0.5) ** 3 + p["D_r_cyc"]

    def rates(self, w: _Window | _Stress) -> dict[str, np.ndarray]:
        p = self.P
        if isinstance(w, _Stress):
            ua = np.full((1,), w.ua)
            skew_soc = np.full((1,), _skewnormpdf(w.soc, p["q7_soc_skew"], p["q7_soc_width"]))
            ksoc_r = np.full((1,), p["C_r_cal"] * (w.soc - 0.5) ** 3 + p["D_r_cal"])
            d = np.array([w.dod])
            q5 = np.abs(p["q5_b0"] + p["q5_b1"] * d + p["q5_b2"] * np.exp(d**2 * w.crate**3))
            q7_dod = (
                _skewnormpdf(d, p["q7_dod_skew"], p["q7_dod_width"])
                * 2.0
                * (0.5 - 1.0 / (1.0 + np.exp(p["q7_dod_growth"] * d)))
            )
            kdod_r = p["C_r_cyc"] * (d - 0.5) ** 3 + p["D_r_cyc"]
        else:
            ua, skew_soc, ksoc_r = _UA_NODES_V, self.skew_soc_nodes, self.ksoc_r_nodes
            d = DOD_NODES_FRAC[None, :]
            q5_nodes = np.abs(p["q5_b0"] + p["q5_b1"] * d + p["q5_b2"] * np.exp(d**2 * w.crate[:, None] ** 3))
            q5 = w.dod_avg(q5_nodes)
            q7_dod = w.dod_avg(self.q7_dod_nodes)
            kdod_r = w.dod_avg(self.kdod_r_nodes)
        sua = np.sqrt(ua)
        q1 = w.time_avg(
            lambda tk: np.abs(p["q1_b0"] * np.exp(p["q1_b1"] / tk**2 * sua) * np.exp(p["q1_b2"] / tk * sua))
        )
        cua, qua = ua ** (1.0 / 3.0), ua**0.25
        q3 = w.time_avg(
            lambda tk: np.abs(
                p["q3_b0"]
                * np.exp(p["q3_b1"] / tk**4 * cua)
                * np.exp(p["q3_b2"] * tk**3 * qua)
                * np.exp(p["q3_b3"] / tk**3 * cua)
                * np.exp(p["q3_b4"] * tk**2 * qua)
            )
        )
        q7 = np.abs(p["q7_b0"] * w.time_avg(lambda tk: skew_soc + 0.0 * tk) * q7_dod)
        k_temp_r = w.time_avg(
            lambda tk: p["k_ref_r_cal"] * np.exp(-p["Ea_r_cal"] / self.R_GAS * (1.0 / tk - 1.0 / 298.15))
        )
        k_soc_r = w.time_avg(lambda tk: ksoc_r + 0.0 * tk)
        r_kcyc = (p["A_r_cyc"] * w.crate + p["B_r_cyc"]) * kdod_r
        return {"q1": q1, "q3": q3, "q5": q5, "q7": q7, "r_kcal": k_temp_r * k_soc_r, "r_kcyc": r_kcyc}

    def advance(
        self,
        s: np.ndarray,
        r: dict[str, np.ndarray],
        dt_days: float,
        defc: np.ndarray,
        sq: np.ndarray,
        sr: np.ndarray,
        euler: bool,
    ) -> None:
        """Advance the states in place; sq, sr scale the capacity-loss and resistance-gain trajectories."""
        p = self.P
        breakin = defc / max(dt_days, 1e-300) > 3.0  # BLAST-Lite: break-in only above 3 EFC per day
        s[:, 0] += _adv_sigmoid(s[:, 0], dt_days, sq * r["q1"], p["q2"], r["q3"], euler)
        s[:, 1] += _adv_power_b(s[:, 1], defc, sq ** (1.0 / p["q6"]) * r["q5"], p["q6"], euler)
        s[:, 2] += np.where(breakin, _adv_sigmoid(s[:, 2], defc, r["q7"], p["q8"], p["q9"], euler), 0.0)
        s[:, 3] += sr * r["r_kcal"] * dt_days * 86400.0
        s[:, 4] += sr * r["r_kcyc"] * defc / 100.0

    def outputs(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 1.0 - s[:, 0] - s[:, 1] - s[:, 2], 1.0 + s[:, 3] + s[:, 4]

    def first_life(self, n: int, fl: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """States after the representative first life ``fl`` from new (exact trajectories), and its rates."""
        t, efc, st = _first_life(n, fl)
        r = self.rates(st)
        p = self.P
        s = np.zeros((n, 5))
        s[:, 0] = _sigmoid_y(t, r["q1"], p["q2"], r["q3"])
        s[:, 1] = (r["q5"] * efc) ** p["q6"]
        s[:, 2] = self.INIT[2]  # break-in needs > 3 EFC per day
        s[:, 3] = r["r_kcal"] * t * 86400.0
        s[:, 4] = r["r_kcyc"] * efc / 100.0
        return s, r


class _NissanLeaf:
    """LMO: BLAST-Lite ``Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery`` (Braco et al. 2020, 2022); q is relative to
    the start of second life."""

    P: ClassVar[dict[str, float]] = {
        "qcal_A": 3.25e8,
        "qcal_B": -7.58e3,
        "qcal_C": 162.0,
        "qcal_p": 0.464,
        "qcyc_A": 7.58e-5,
        "qcyc_p": 1.08,
    }
    STATES = ("qLoss_t", "qLoss_EFC")
    INIT = (0.0, 0.0)

    def rates(self, w: _Window | _Stress) -> dict[str, np.ndarray]:
        p = self.P
        soc = np.full((1,), w.soc) if isinstance(w, _Stress) else SOC_NODES_FRAC
        k_cal = w.time_avg(lambda tk: p["qcal_A"] * np.exp(p["qcal_B"] / tk) * np.exp(p["qcal_C"] * soc / tk))
        return {"k_cal": k_cal}

    def advance(
        self,
        s: np.ndarray,
        r: dict[str, np.ndarray],
        dt_days: float,
        defc: np.ndarray,
        sq: np.ndarray,
        sr: np.ndarray,
        euler: bool,
    ) -> None:
        """Advance the states in place; sq scales the capacity-loss trajectories (no resistance states)."""
        p = self.P
        s[:, 0] += _adv_power(s[:, 0], dt_days, sq * r["k_cal"], p["qcal_p"], euler)
        s[:, 1] += _adv_power(s[:, 1], defc, sq * p["qcyc_A"], p["qcyc_p"], euler)

    def outputs(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 1.0 - s[:, 0] - s[:, 1], np.ones(s.shape[0])


def _second_life_start(
    model: _Kokam | _SonyMurata, soh0: np.ndarray, r0: np.ndarray, mode: str, fl_spec: dict[str, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States at the start of second life and the trajectory scales (sq, sr) of a new-cell model.

    The lost capacity ``1 - soh0`` (and resistance gain ``r0 - 1``) is split
    between the time and throughput states as the model splits it after the
    representative first life. ``mode="scaled_history"``: the pack followed
    the model's trajectories scaled by ``sq = (1 - soh0) / loss_first_life``
    (``sr`` likewise), so its states sit at the real first-life age and keep
    that scale. ``mode="virtual_age"``: unscaled trajectories (``sq = sr =
    1``); each state's virtual age is whatever the model needs to reach it.
    New packs (``soh0 = 1``) start as BLAST-Lite's new cell with ``sq = sr = 1``.
    """
    n = soh0.size
    fl, r = model.first_life(n, fl_spec)
    qi, ri = model.Q_IDX, model.R_IDX
    s = np.tile(np.asarray(model.INIT, float), (n, 1))
    used = soh0 < 1.0
    other_q = 1.0 - model.outputs(s)[0]  # loss of the other states at their initial values
    loss = np.maximum(1.0 - soh0 - other_q, 0.0)
    gain = np.maximum(r0 - 1.0, 0.0)
    loss_fl, gain_fl = fl[:, qi].sum(axis=1), fl[:, ri].sum(axis=1)
    s[:, qi] = (loss / loss_fl)[:, None] * fl[:, qi]
    s[:, ri] = (gain / gain_fl)[:, None] * fl[:, ri]
    extra = [j for j in range(s.shape[1]) if j not in qi + ri]
    s[np.ix_(used, extra)] = fl[np.ix_(used, extra)]  # knee / break-in states: where the first life left them
    if mode == "virtual_age":
        if isinstance(model, _SonyMurata):  # calendar sigmoid must stay below its plateau q1
            cal = np.minimum(s[:, 0], FIRST_LIFE_CAL_CAP * r["q1"])
            s[:, 1] += s[:, 0] - cal
            s[:, 0] = cal
        return s, np.ones(n), np.ones(n)
    sq = np.where(used, loss / loss_fl, 1.0)
    sr = np.where(used & (gain > 0.01), gain / gain_fl, sq)
    return s, sq, sr


def _first_life(n: int, fl: dict[str, float]) -> tuple[float, float, _Stress]:
    """Duration (days), throughput (EFC) and stress of a representative first life (keys of ``FIRST_LIFE``)."""
    t_days = fl["years"] * 365.0
    efc = fl["years"] * fl["efc_per_year"]
    crate = 2.0 * fl["efc_per_year"] / (365.0 * 24.0)  # window-mean |dSoC/dt|, as BLAST-Lite averages it
    return t_days, efc, _Stress(n, fl["temp_c"], fl["soc_frac"], fl["dod_frac"], crate)


_MODELS = {"NMC": _Kokam, "LFP": _SonyMurata, "LMO": _NissanLeaf}
MODEL_CLASSES: dict[str, str] = {
    "NMC": "Nmc111_Gr_Kokam75Ah_Battery",
    "LFP": "Lfp_Gr_SonyMurata3Ah_Battery",
    "LMO": "Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery",
}


# ----------------------------------------------------------------------------- fleet


class FleetAgeing:
    """Capacity and resistance of every pack, advanced from :class:`StressAccumulator` windows.

    ``chemistry``: "NMC"/"LFP"/"LMO" per pack; ``soh0_frac``: capacity of
    nameplate at the start of second life; ``r_factor0``: resistance of new
    at the start. ``second_life``: how NMC/LFP packs continue from their
    first life, ``"scaled_history"`` (default) or ``"virtual_age"`` (see the
    module docstring); ``first_life`` overrides keys of ``FIRST_LIFE``
    (years, temp_c, soc_frac, efc_per_year, dod_frac), the representative
    first life that sets the split of the start losses and, in
    ``"scaled_history"``, the trajectory scales. ``degradation_scalar``
    (per pack or one value) scales every capacity-loss and resistance-gain
    trajectory (cell-to-cell spread; BLAST-Lite's scalar of the same name
    multiplies each Euler increment instead, which is the same only for the
    first step). ``euler=True`` advances states with BLAST-Lite's explicit
    Euler step instead of the exact step.

    Temperature sensitivity to know about (BLAST-Lite's state rule, both
    modes): a state advanced from its virtual age under a hotter rate ``k'``
    grows at ``(k'/k)^(1/p)`` times its old rate, ``1/p = 2.8`` for the NMC
    calendar state; a pack whose first life was at 25 degC (``FIRST_LIFE``)
    fades about 3 to 5 times faster at 35 degC than at 25 degC, a new pack
    about 2 times. Set ``first_life={"temp_c": ...}`` to the climate the
    packs came from. For the same reason the rates must be averaged over
    whole days: averaged over an hour, the hot afternoon hours are applied
    at their own rate to the power ``1/p`` and a used NMC pack at 30 +- 8
    degC fades about 3 times faster than with daily windows (BLAST-Lite's
    windows are a day or one EFC). :meth:`update` therefore pools windows
    shorter than ``min_window_s`` (default one day; 0 applies every window
    as it comes).
    """

    q_frac: np.ndarray  # capacity relative to nameplate now (starts at soh0)
    r_factor: np.ndarray  # resistance relative to new now (starts at r_factor0)

    def __init__(
        self,
        chemistry: np.ndarray,
        soh0_frac: np.ndarray,
        r_factor0: np.ndarray,
        degradation_scalar: np.ndarray | float = 1.0,
        euler: bool = False,
        second_life: str = "scaled_history",
        first_life: dict[str, float] | None = None,
        min_window_s: float = MIN_WINDOW_S,
    ) -> None:
        chem = np.asarray(chemistry).astype(str)
        n = chem.size
        self.n_packs = n
        self.chemistry = chem
        self.soh0_frac = np.broadcast_to(np.asarray(soh0_frac, float), (n,)).copy()
        self.r_factor0 = np.broadcast_to(np.asarray(r_factor0, float), (n,)).copy()
        self.scale = np.broadcast_to(np.asarray(degradation_scalar, float), (n,)).copy()
        self.euler = bool(euler)
        if second_life not in SECOND_LIFE_MODES:
            raise ValueError(f"ageing: second_life {second_life!r}; allowed: {', '.join(SECOND_LIFE_MODES)}")
        self.second_life = second_life
        unknown = sorted(set(first_life or {}) - set(FIRST_LIFE))
        if unknown:
            raise ValueError(f"ageing: first_life keys {unknown}; allowed: {', '.join(FIRST_LIFE)}")
        self.first_life = {**FIRST_LIFE, **(first_life or {})}
        bad = sorted(set(chem.tolist()) - set(CHEMISTRIES))
        if bad:
            raise ValueError(f"ageing: unknown chemistry {bad}; allowed: {', '.join(CHEMISTRIES)}")
        if np.any((self.soh0_frac <= 0.0) | (self.soh0_frac > 1.0)):
            raise ValueError("ageing: soh0_frac must be in (0, 1]")
        self.q_frac = self.soh0_frac.copy()
        self.r_factor = np.maximum(self.r_factor0, 1.0)
        self.min_window_s = float(min_window_s)
        self._pend = _Aggregate(n)
        self.t_s = 0.0  # time aged since the start
        self.efc = np.zeros(n)  # equivalent full cycles of nameplate since the start
        self._groups: list[tuple[str, np.ndarray, object, np.ndarray, np.ndarray, np.ndarray]] = []
        for name in CHEMISTRIES:
            idx = np.flatnonzero(chem == name)
            if idx.size == 0:
                continue
            model = _MODELS[name]()
            if name == "LMO":  # fitted from the start of second life: zero states, relative fade
                states, sq, sr = np.zeros((idx.size, 2)), np.ones(idx.size), np.ones(idx.size)
            else:
                states, sq, sr = _second_life_start(
                    model, self.soh0_frac[idx], self.r_factor[idx], second_life, self.first_life
                )
            self._groups.append((name, idx, model, states, sq * self.scale[idx], sr * self.scale[idx]))
        loss = 1.0 - self.soh0_frac
        self._lmo_beta = np.where(loss >= 0.02, (self.r_factor - 1.0) / np.maximum(loss, 0.02), LMO_R_PER_Q_LOSS)

    def states(self, chemistry: str) -> dict[str, np.ndarray]:
        """Internal loss/gain states of one chemistry's packs (names as in BLAST-Lite), a copy."""
        for name, _idx, model, s, _sq, _sr in self._groups:
            if name == chemistry:
                return {k: s[:, j].copy() for j, k in enumerate(model.STATES)}
        return {}

    @property
    def pending_s(self) -> float:
        """Stress time taken from accumulators but not applied yet (less than ``min_window_s``)."""
        return self._pend.duration_s

    def update(self, acc: StressAccumulator, force: bool = False) -> None:
        """Advance ageing by the stress accumulated in acc (any window length: hours to a month), then acc.reset().

        Windows shorter than ``min_window_s`` are pooled and applied once the
        pool reaches it (or at once with ``force=True``, e.g. at the end of a
        run): BLAST-Lite averages its rates over windows of about a day, and
        averaging over less than a day with a daily temperature swing
        overstates fade (see the class docstring).
        """
        if acc.n_packs != self.n_packs:
            raise ValueError(f"ageing: accumulator has {acc.n_packs} packs, fleet {self.n_packs}")
        if acc.duration_s > 0.0:
            self._pend.take(acc)
        acc.reset()
        pend = self._pend
        if pend.duration_s <= 0.0 or (pend.duration_s < self.min_window_s * (1.0 - 1e-9) and not force):
            return
        dt_days = pend.duration_s / 86400.0
        self.efc += 0.5 * pend.thr * self.q_frac
        for name, idx, model, s, sq, sr in self._groups:
            soh0 = self.soh0_frac[idx]
            q_ref = self.q_frac[idx] / soh0 if name == "LMO" else self.q_frac[idx]
            w = _Window(pend, idx, q_ref)
            r = model.rates(w)
            model.advance(s, r, dt_days, w.defc, sq, sr, self.euler)
            q_model, r_model = model.outputs(s)
            if name == "LMO":
                q_new = soh0 * q_model
                r_new = np.maximum(self.r_factor0[idx], 1.0) + self._lmo_beta[idx] * (soh0 - q_new)
            else:
                q_new, r_new = q_model, r_model
            self.q_frac[idx] = np.clip(q_new, Q_MIN_FRAC, self.q_frac[idx])
            self.r_factor[idx] = np.maximum(r_new, self.r_factor[idx])
        self.t_s += pend.duration_s
        pend.clear()

    def fade_by_chemistry(self) -> dict[str, dict[str, float]]:
        """Per chemistry: mean capacity at the start and now (of nameplate), mean fade, mean resistance growth."""
        out: dict[str, dict[str, float]] = {}
        for name, idx, *_ in self._groups:
            q0, q1 = self.soh0_frac[idx], self.q_frac[idx]
            r0 = np.maximum(self.r_factor0[idx], 1.0)
            out[name] = {
                "n_packs": float(idx.size),
                "q_start_mean_frac": float(q0.mean()),
                "q_now_mean_frac": float(q1.mean()),
                "fade_mean_frac": float((q0 - q1).mean()),
                "r_growth_mean_frac": float((self.r_factor[idx] / r0 - 1.0).mean()),
            }
        return out
