"""The pack's equivalent circuit and converter in closed form: compiled scalar functions of one pack.

Two RC branches per pack, ``v = n_s OCV(soc) + v1 + v2 + i R0`` (``i > 0``
charging), the current constant over a step (the kernels in
:mod:`twin.fleet.kernel` call these, inlined):

* :func:`ocv`, :func:`ocv_int`: OCV and its integral over SoC from the
  piecewise-linear tables of :func:`chemistry_tables`;
* :func:`w_step`: the energy into the terminals over a step at constant
  current (OCV integral over the SoC swept, exact zero-order-hold RC
  response) and its derivative; :func:`solve_current`: the current whose
  mean power is a setpoint (Newton);
* :func:`conv_dc_from_ac`, :func:`conv_ac_from_dc`: the DC/DC converter,
  losses ``c0 p_r + c1 |p| + c2 p^2 / p_r``, inverted exactly.

The RC voltages at the end of a step and the cell losses over it (exact at
any step length) are computed inside the pass, ``kernel._circuit_update``:
there each value is loaded where the bit-identical results need it.

Conventions: W, J, A, V, ohm, s inside.
"""

from __future__ import annotations

import numba
import numpy as np

from twin.config import CHEMISTRY_NAMES
from twin.fleet import layout
from twin.fleet.chemistry import CHEMISTRIES, SOC_GRID
from twin.fleet.jitcache import cache_on_sources
from twin.fleet.layout import P_NS, P_QAS, P_TAU1, P_TAU2, S_G1, S_G2, S_SOC, S_V1, S_V2

__all__ = [
    "FASTMATH",
    "N_GRID",
    "chemistry_tables",
    "conv_ac_from_dc",
    "conv_dc_from_ac",
    "ocv",
    "ocv_int",
    "seg",
    "solve_current",
    "stored_energy",
    "w_step",
]


# Compiler flags of the kernels: reassociation, contraction and reciprocal approximations, but NaN and
# infinity keep their IEEE meaning (the stats use them). With error_model="numpy": x / 0 gives inf, no exception
# path. Every compiled function of the fleet's pass uses these flags: a change changes results in the last bits.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
N_GRID = len(SOC_GRID) - 1  # segments of the OCV and resistance tables


def chemistry_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OCV, its running integral over SoC and the resistance SoC multiplier, one row per chemistry
    (in the order of :data:`twin.config.CHEMISTRY_NAMES`), on :data:`twin.fleet.chemistry.SOC_GRID`."""
    ocv_tab = np.array([np.asarray(CHEMISTRIES[c].ocv_v, dtype=float) for c in CHEMISTRY_NAMES])
    ds = np.diff(SOC_GRID)
    cum = np.zeros_like(ocv_tab)
    cum[:, 1:] = np.cumsum(0.5 * (ocv_tab[:, 1:] + ocv_tab[:, :-1]) * ds, axis=1)
    rmult = np.array([np.asarray(CHEMISTRIES[c].r_soc_mult, dtype=float) for c in CHEMISTRY_NAMES])
    return ocv_tab, cum, rmult


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def seg(s: float) -> tuple[int, float]:  # pragma: no cover - compiled
    """Table segment of SoC ``s`` and the SoC past its start (the end segments extend beyond [0, 1])."""
    x = s * N_GRID
    j = int(np.floor(x))
    if j < 0:
        j = 0
    elif j > N_GRID - 1:
        j = N_GRID - 1
    return j, (s - j / N_GRID)


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def ocv(tab: np.ndarray, c: int, s: float) -> float:  # pragma: no cover
    """Cell OCV of chemistry ``c`` at SoC ``s`` [V]."""
    j, ds = seg(s)
    return tab[c, j] + (tab[c, j + 1] - tab[c, j]) * N_GRID * ds


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def ocv_int(tab: np.ndarray, cum: np.ndarray, c: int, s: float) -> float:  # pragma: no cover
    """∫_0^s OCV dsoc (exact for the piecewise-linear table; linear extrapolation outside [0, 1])."""
    j, ds = seg(s)
    slope = (tab[c, j + 1] - tab[c, j]) * N_GRID
    return cum[c, j] + tab[c, j] * ds + 0.5 * slope * ds * ds


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def w_step(i_a, f0, s0, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c):  # pragma: no cover
    """Energy into the pack terminals over ``dt`` at constant current ``i_a`` (J) and dW/di.
    ``f0`` = ∫_0^s0 OCV; ``a_k`` = exp(-dt / tau_k), ``b_k`` = tau_k (1 - a_k)."""
    s1 = s0 + i_a * dt / qas
    j, ds = seg(s1)
    slope = (tab[c, j + 1] - tab[c, j]) * N_GRID
    f1 = cum[c, j] + tab[c, j] * ds + 0.5 * slope * ds * ds
    ocv1 = tab[c, j] + slope * ds
    e_chem = ns * qas * (f1 - f0)
    vi1 = r1 * i_a
    vi2 = r2 * i_a
    int1 = vi1 * dt + (v1 - vi1) * b1
    int2 = vi2 * dt + (v2 - vi2) * b2
    w = e_chem + i_a * (int1 + int2) + i_a * i_a * r0 * dt
    dw = ns * ocv1 * dt + int1 + int2 + i_a * (r1 * (dt - b1) + r2 * (dt - b2)) + 2.0 * i_a * r0 * dt
    return w, dw


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def solve_current(p_w, f0, e0, s0, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c):  # pragma: no cover
    """Constant current over the step whose mean terminal power is ``p_w`` (Newton from the
    root of P = i (E + i R0), E = ``e0`` the EMF at the step start). Returns (current A, energy J)."""
    if p_w == 0.0:
        return 0.0, 0.0
    disc = e0 * e0 + 4.0 * r0 * p_w
    i_a = 2.0 * p_w / (e0 + np.sqrt(disc)) if disc > 0.0 else -e0 / (2.0 * r0)
    target = p_w * dt
    w = 0.0
    for _ in range(12):
        w, dw = w_step(i_a, f0, s0, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
        g = w - target
        if abs(g) <= 1e-11 * abs(target) + 1e-9:
            return i_a, w
        if dw <= 0.0:  # past the maximum power point: stay at it
            break
        i_a -= g / dw
    w, _ = w_step(i_a, f0, s0, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
    return i_a, w


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def conv_dc_from_ac(p_ac, pr, c0, c1, c2):  # pragma: no cover
    """DC power at the pack for an AC setpoint (converter losses c0 pr + c1 |p| + c2 p^2 / pr)."""
    if p_ac == 0.0:
        return 0.0
    k2 = c2 / pr
    if p_ac > 0.0:
        x = p_ac - c0 * pr
        if x <= 0.0:
            return 0.0
        b = 1.0 + c1
        return 2.0 * x / (b + np.sqrt(b * b + 4.0 * k2 * x))
    a = c0 * pr - p_ac  # c0 pr + |p_ac|
    b = 1.0 - c1
    d = b * b - 4.0 * k2 * a
    if d < 0.0:
        d = 0.0
    return -2.0 * a / (b + np.sqrt(d))


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def conv_ac_from_dc(p_dc, pr, c0, c1, c2):  # pragma: no cover
    """AC power for a DC power at the pack (the converter's losses added)."""
    if p_dc == 0.0:
        return 0.0
    loss = c0 * pr + c1 * abs(p_dc) + c2 * p_dc * p_dc / pr
    return p_dc + loss


@numba.njit(fastmath=FASTMATH, error_model="numpy")  # cached below, on all its sources
def stored_energy(P, S, tab, cum, chem, e):  # pragma: no cover
    """Per pack, the energy stored above SoC 0 into ``e`` (J): chemical ``n_s q ∫OCV`` and polarisation
    ``Σ ½ C_k v_k²``."""
    for i in range(e.shape[0]):
        c = chem[i]
        e_chem = P[i, P_NS] * P[i, P_QAS] * ocv_int(tab, cum, c, S[i, S_SOC])
        e_pol = 0.5 * (P[i, P_TAU1] * S[i, S_G1] * S[i, S_V1] ** 2 + P[i, P_TAU2] * S[i, S_G2] * S[i, S_V2] ** 2)
        e[i] = e_chem + e_pol


stored_energy = cache_on_sources(stored_energy, [__file__, layout.__file__])
