"""Per pack, for its state now: resistances, BMS current limits, AC power limits and split weights for the
next step; compiled, inlined into the pass.

The simulated BMS's stage 2 (:mod:`twin.fleet.bms`): charge and discharge
current limits derated by temperature and SoC, capped at the currents that
keep the highest (lowest) cell at its cut-off at the end of the step; an
external (hardware) BMS sets them instead. Every pack then holds the plant's
SoC window. The AC power limits the grid and the split use are these
currents through the circuit (:mod:`twin.fleet.circuit`), plus the
enclosure's thermal management, through the converter, at most its rating,
so a pack never exceeds them.
"""

from __future__ import annotations

import numba
import numpy as np

from twin.fleet import bms
from twin.fleet.circuit import FASTMATH, N_GRID, conv_ac_from_dc, seg, w_step
from twin.fleet.layout import (
    D_A1,
    D_A2,
    D_B1,
    D_B2,
    F_EXT,
    P_C0,
    P_C1,
    P_C2,
    P_COOL,
    P_EA,
    P_G1,
    P_G2,
    P_HEAT,
    P_ICH,
    P_IDIS,
    P_INV_NS,
    P_INV_QAS,
    P_INV_WQ,
    P_NS,
    P_PCONV,
    P_QAS,
    P_R0,
    P_R1,
    P_R2,
    P_SOC_HI,
    P_SOC_LO,
    P_TAU1,
    P_TAU2,
    P_TCH_MAX,
    P_TCH_MIN,
    P_TDIS_MAX,
    P_TDIS_MIN,
    P_VMAX,
    P_VMIN,
    P_WEIGHT,
    P_WR,
    P_XICH,
    P_XIDIS,
    S_E_PARAM,
    S_EMAX,
    S_FA,
    S_G1,
    S_G2,
    S_ICH,
    S_IDIS,
    S_PCH,
    S_PDIS,
    S_R0,
    S_R1,
    S_R2,
    S_SOC,
    S_SOCW,
    S_TEMP,
    S_TFA,
    S_V1,
    S_V2,
    S_WC,
    S_WD,
    TH_INV_SOC_TAPER,
    TH_INV_TEMP_DERATE_BAND,
    TH_TEMP_DERATE_BAND_C,
)
from twin.fleet.thermal import thermal_mgmt_w

__all__ = ["pack_refresh"]


R_GAS_J_MOL_K = 8.314462618
T_REF_K = 298.15


# Load order matters: with fastmath's reassociation, LLVM orders the operands of a sum or product by where their
# loads are in the code, so each value is loaded once, where the pass always loaded it, and handed on.
@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def pack_refresh(i, c, on, P, S, F, D, dt, tab, cum, rmult, th):  # pragma: no cover - compiled
    """One pack, for its state now: resistances, BMS current limits and AC power limits over the next
    ``dt``, split weights. Returns (charge limit W, discharge limit W, stored energy J)."""
    s = S[i, S_SOC]
    temp = S[i, S_TEMP]
    ns = P[i, P_NS]
    qas = P[i, P_QAS]
    j, ds, r0, r1, r2, v1, v2, e_pol = _resistances(i, c, s, temp, P, S, rmult)
    slope = (tab[c, j + 1] - tab[c, j]) * N_GRID
    f0 = cum[c, j] + tab[c, j] * ds + 0.5 * slope * ds * ds
    ocv0 = tab[c, j] + slope * ds
    e_pack = ns * qas * f0 + e_pol
    if not on:
        S[i, S_ICH] = 0.0
        S[i, S_IDIS] = 0.0
        S[i, S_PCH] = 0.0
        S[i, S_PDIS] = 0.0
        S[i, S_WC] = 0.0
        S[i, S_WD] = 0.0
        return 0.0, 0.0, e_pack
    lo = P[i, P_SOC_LO]
    hi = P[i, P_SOC_HI]
    a1 = D[i, D_A1]
    a2 = D[i, D_A2]
    b1 = D[i, D_B1]
    b2 = D[i, D_B2]
    ck = (s, v1, v2, ns, qas, r0, r1, r2, a1, a2, b1, b2, f0, ocv0)  # the circuit now (as kernel's ck, OCV for EMF)
    dtq = dt * P[i, P_INV_QAS]
    inv_dtq = 1.0 / dtq
    if F[i, F_EXT] != 0:
        # a hardware BMS sets the limits (read over the line every step)
        i_ch = P[i, P_XICH]
        i_dis = P[i, P_XIDIS]
    else:
        i_ch = (
            P[i, P_ICH]
            * bms.temp_derate(
                temp, P[i, P_TCH_MIN], P[i, P_TCH_MAX], th[TH_TEMP_DERATE_BAND_C], th[TH_INV_TEMP_DERATE_BAND]
            )
            * bms.soc_derate(hi - s, th[TH_INV_SOC_TAPER])
        )
        i_dis = (
            P[i, P_IDIS]
            * bms.temp_derate(
                temp, P[i, P_TDIS_MIN], P[i, P_TDIS_MAX], th[TH_TEMP_DERATE_BAND_C], th[TH_INV_TEMP_DERATE_BAND]
            )
            * bms.soc_derate(s - lo, th[TH_INV_SOC_TAPER])
        )
        # cell cut-offs at the end of the step (mean cell and weakest cell)
        inv_ns = P[i, P_INV_NS]
        r_eff = r0 + r1 * (1.0 - a1) + r2 * (1.0 - a2)
        v_rc = (v1 * a1 + v2 * a2) * inv_ns
        wr = P[i, P_WR]
        v_mean0 = ocv0 + v_rc
        inv_k_mean = 1.0 / (r_eff * inv_ns + slope * dtq)
        jw, dsw = seg(S[i, S_SOCW])
        slope_w = (tab[c, jw + 1] - tab[c, jw]) * N_GRID
        v_weak0 = tab[c, jw] + slope_w * dsw + wr * v_rc
        inv_k_weak = 1.0 / (wr * r_eff * inv_ns + slope_w * dtq * P[i, P_INV_WQ])
        vmax = P[i, P_VMAX]
        vmin = P[i, P_VMIN]
        x = (vmax - v_mean0) * inv_k_mean
        i_ch = x if x < i_ch else i_ch
        x = (vmax - v_weak0) * inv_k_weak
        i_ch = x if x < i_ch else i_ch
        x = (v_mean0 - vmin) * inv_k_mean
        i_dis = x if x < i_dis else i_dis
        x = (v_weak0 - vmin) * inv_k_weak
        i_dis = x if x < i_dis else i_dis
    # the plant's SoC window (energy management) holds for every pack
    x = (hi - s) * inv_dtq
    i_ch = x if x < i_ch else i_ch
    x = (s - lo) * inv_dtq
    i_dis = x if x < i_dis else i_dis
    i_ch = i_ch if i_ch > 0.0 else 0.0
    i_dis = i_dis if i_dis > 0.0 else 0.0
    S[i, S_ICH] = i_ch
    S[i, S_IDIS] = i_dis
    p_ch, p_dis = _ac_power_limits(i, c, ck, i_ch, i_dis, temp, dt, P, tab, cum, th)
    S[i, S_PCH] = p_ch
    S[i, S_PDIS] = p_dis
    wgt = P[i, P_WEIGHT] * S[i, S_EMAX]
    S[i, S_WC] = (hi - s) * wgt if hi > s else 0.0
    S[i, S_WD] = (s - lo) * wgt if s > lo else 0.0
    return p_ch, p_dis, e_pack


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _resistances(i, c, s, temp, P, S, rmult):  # pragma: no cover - compiled
    """Resistances of pack ``i`` at SoC ``s`` and temperature ``temp``, into S; the polarisation energy they
    change at fixed v_k is booked in E_param. Returns (table segment of s, SoC into it, R0, R1, R2 ohm, v1,
    v2 V, polarisation energy J)."""
    # Arrhenius factor of the resistances, re-evaluated when the pack's temperature has moved by more
    # than 0.01 K (a 0.03 % change at most; the resistances are then used consistently for the step)
    if abs(temp - S[i, S_TFA]) > 0.01:
        S[i, S_FA] = np.exp(P[i, P_EA] * (1.0 / R_GAS_J_MOL_K) * (1.0 / (temp + 273.15) - 1.0 / T_REF_K))
        S[i, S_TFA] = temp
    fa = S[i, S_FA]
    j, ds = seg(s)
    m = (rmult[c, j] + (rmult[c, j + 1] - rmult[c, j]) * N_GRID * ds) * fa
    inv_m = 1.0 / m
    r0 = P[i, P_R0] * m
    r1 = P[i, P_R1] * m
    r2 = P[i, P_R2] * m
    g1 = P[i, P_G1] * inv_m  # 1 / r1
    g2 = P[i, P_G2] * inv_m
    v1 = S[i, S_V1]
    v2 = S[i, S_V2]
    h1 = 0.5 * P[i, P_TAU1] * v1 * v1
    h2 = 0.5 * P[i, P_TAU2] * v2 * v2
    e_pol_new = h1 * g1 + h2 * g2
    S[i, S_E_PARAM] += e_pol_new - (h1 * S[i, S_G1] + h2 * S[i, S_G2])
    S[i, S_R0] = r0
    S[i, S_R1] = r1
    S[i, S_R2] = r2
    S[i, S_G1] = g1
    S[i, S_G2] = g2
    return j, ds, r0, r1, r2, v1, v2, e_pol_new


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _ac_power_limits(i, c, ck, i_ch, i_dis, temp, dt, P, tab, cum, th):  # pragma: no cover - compiled
    """AC charge and discharge power (W, >= 0) that pack ``i`` (circuit ``ck``) takes over the next ``dt`` at
    its current limits: through the circuit, plus the thermal management's draw, through the converter, at
    most its rating."""
    s, v1, v2, ns, qas, r0, r1, r2, a1, a2, b1, b2, f0, _ = ck
    pr = P[i, P_PCONV]
    p_heat, _ = thermal_mgmt_w(P[i, P_HEAT], P[i, P_COOL], temp, s, th)  # its draw over the next step
    inv_dt = 1.0 / dt
    w, _ = w_step(i_ch, f0, s, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
    x = w * inv_dt + p_heat
    p_ch = conv_ac_from_dc(x, pr, P[i, P_C0], P[i, P_C1], P[i, P_C2]) if w > 0.0 and x > 0.0 else 0.0
    w, _ = w_step(-i_dis, f0, s, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
    x = w * inv_dt + p_heat
    p_dis = -conv_ac_from_dc(x, pr, P[i, P_C0], P[i, P_C1], P[i, P_C2]) if x < 0.0 else 0.0
    p_ch = p_ch if p_ch < pr else pr
    p_dis = p_dis if p_dis < pr else pr
    p_dis = p_dis if p_dis > 0.0 else 0.0
    return p_ch, p_dis
