"""The fleet's one pass over all packs, compiled: split, converter, circuit, thermal, BMS, limits, stats.

:func:`fleet_pass` is the only entry point (called by
:class:`twin.fleet.fleet.BatteryFleet`). It loops over the blocks and their
packs once; each stage is a small function inlined into the loop
(``inline="always"``: the loop compiles as if written in one piece):

1. split (:func:`twin.fleet.split.split_blocks`): each block's AC power over
   its packs (capped proportional split, exact water filling);
2. converter (:func:`twin.fleet.circuit.conv_dc_from_ac`,
   :func:`_converter_ac_w`): AC <-> DC;
3. circuit (:func:`_circuit_at_start`, :func:`_circuit_current`,
   :func:`_bms_cap`, :func:`_capped`, :func:`_circuit_update`, :func:`_book`):
   the current of the step within the BMS limits, the state it leaves and
   the energy books;
4. thermal (:mod:`twin.fleet.thermal`): the enclosure's heater and cooler,
   heat in, the exchange with the neighbours, the exact update;
5. BMS (:func:`twin.fleet.bms.evaluate`, :func:`_runaway_onset`,
   :func:`_bms_latch`): event word, runaway onset, latched trip;
6. limits (:func:`twin.fleet.limits.pack_refresh`): resistances at the new
   state, BMS current limits and AC power limits for the next step, split
   weights;

and sums the blocks' limits and the fleet statistics on the way. Array
layout and the meaning of every index: :mod:`twin.fleet.layout`.

Two things keep this fast and its results unchanged by the split into
stages (a test compares a run with the previous layout's bit for bit):

* the helpers of the per-pack loop take numbers, or arrays only where their
  code runs straight through: an array handed to an inlined function with
  branches costs a reference-count increment and decrement per pack;
* each value is loaded from the arrays once, where the pass always loaded
  it, and handed on (``ck``): with fastmath's reassociation LLVM orders the
  operands of a sum or product by where their loads are, so moving a load
  moves the last bits of the result.

The pass is cached on disk keyed on all the files its code comes from
(:mod:`twin.fleet.jitcache`).
"""

from __future__ import annotations

import sys

import numba
import numpy as np

from twin import sunspec802
from twin.fleet import bms, circuit, layout, limits, split, thermal
from twin.fleet.circuit import (
    FASTMATH,
    N_GRID,
    conv_ac_from_dc,
    conv_dc_from_ac,
    ocv,
    seg,
    solve_current,
    w_step,
)
from twin.fleet.jitcache import cache_on_sources
from twin.fleet.layout import (
    D_A1,
    D_A2,
    D_ATH,
    D_B1,
    D_B2,
    F_EVT,
    F_EXT,
    F_NEW_ALARM,
    F_RUNAWAY,
    F_SERVICE,
    F_STATE,
    F_TRIP,
    OUT_LOSS_CELL_W,
    OUT_LOSS_CONV_W,
    OUT_N_NEW_ALARM,
    OUT_N_RUNAWAY,
    OUT_N_TRIPS,
    OUT_THERMAL_MGMT_W,
    P_C0,
    P_C1,
    P_C2,
    P_COOL,
    P_ERW,
    P_HEAT,
    P_INV_NS,
    P_INV_QAS,
    P_INV_WQ,
    P_NS,
    P_PCONV,
    P_QAS,
    P_RW_ONSET,
    P_SOC_HI,
    P_SOC_LO,
    P_SOLAR,
    P_TCH_MAX,
    P_TCH_MIN,
    P_UA,
    P_VMAX,
    P_VMIN,
    P_WR,
    S_EMAX,
    S_G1,
    S_G2,
    S_I,
    S_ICH,
    S_IDIS,
    S_L_CELL,
    S_L_CONV,
    S_L_HEAT,
    S_PAC,
    S_PDC,
    S_PHEAT,
    S_R0,
    S_R1,
    S_R2,
    S_RW_LEFT,
    S_SOC,
    S_SOCW,
    S_TEMP,
    S_THRU,
    S_TMAX,
    S_V1,
    S_V2,
    S_VCMAX,
    S_VCMIN,
    S_VT,
    S_W_AC,
    S_W_DC,
    ST_E,
    ST_EMAX,
    ST_N_ACT,
    ST_N_ALARM,
    ST_N_FAULT,
    ST_N_RUNAWAY,
    ST_N_WARN,
    ST_SOC_MAX,
    ST_SOC_MIN,
    ST_T_MAX,
    ST_T_MEAN,
    ST_T_MIN,
    ST_VC_MAX,
    ST_VC_MIN,
    TH_RUNAWAY_DURATION_S,
)
from twin.fleet.limits import pack_refresh
from twin.fleet.split import split_blocks
from twin.fleet.thermal import heat_in_w, node_temp_c, runaway_heat_w, thermal_mgmt_w

__all__ = ["fleet_pass"]


@numba.njit(fastmath=FASTMATH, error_model="numpy")  # cached below, on all its sources
def fleet_pass(do_step, dt, p_block, weights, t_amb, ghi, th, packs, tables, yard, blocks, res):  # pragma: no cover
    """The fleet's one pass. With ``do_step``: split each block's power ``p_block`` (W, + charging) over its
    packs by ``weights`` (per pack; empty: the packs' own split weights), then step every pack over ``dt``
    (s) at ambient ``t_amb`` (degC) and irradiance ``ghi`` (W/m2). Always: per pack its limits and weights
    for the next step, block sums and fleet stats.

    Grouped arguments (tuples of arrays, layout in :mod:`twin.fleet.layout`):
    ``th`` thresholds; ``packs`` = (P, S, F, D, chem, act) per-pack arrays, chemistry index, active mask
    (written); ``tables`` = (ocv, ocv integral, resistance SoC multiplier) per chemistry; ``yard`` = CSR
    neighbour list (ptr, idx, conductance W/K); ``blocks`` = (start, end, in service) per block; ``res`` =
    (p_pack W, shortfall W, block charge limit W, block discharge limit W, block power W, out, stats,
    scratch) written."""
    P, S, F, D, chem, act = packs
    starts, ends, blk_on = blocks
    p_pack, short, block_ch, block_dis, block_p, out, st, temp_old = res
    tab, cum, rmult = tables
    nb_ptr, nb_idx, nb_g = yard
    n = chem.shape[0]
    use_w = weights.shape[0] > 0
    loss_conv = 0.0
    loss_cell = 0.0
    heat_sum = 0.0
    n_trip = 0
    n_rw = 0
    n_new_alarm = 0
    inv_dt = 1.0 / dt
    rw_rate_dt = dt / th[TH_RUNAWAY_DURATION_S]
    if do_step:
        split_blocks(p_block, weights, use_w, starts, ends, S, p_pack, short, temp_old)
        for i in range(n):
            temp_old[i] = S[i, S_TEMP]
    e_sum = 0.0
    e_max = 0.0
    smin = np.inf
    smax = -np.inf
    n_act = 0
    tmin = np.inf
    tmax = -np.inf
    tsum = 0.0
    vcmax = -np.inf
    vcmin = np.inf
    n_alarm = 0
    n_warn = 0
    n_fault = 0
    n_rws = 0
    for b in range(starts.shape[0]):
        bc = 0.0
        bd = 0.0
        bp = 0.0
        short_b = short[b]
        for i in range(starts[b], ends[b]):
            c = chem[i]
            if do_step:
                ck = _circuit_at_start(i, c, P, S, D, tab, cum)
                s = ck[0]
                # converter: the AC setpoint's DC power
                pr = P[i, P_PCONV]
                p_ac = p_pack[i] if act[i] else 0.0
                p_dc = conv_dc_from_ac(p_ac, pr, P[i, P_C0], P[i, P_C1], P[i, P_C2])  # converter, AC -> DC
                # enclosure heater and cooler (thermostats on the step-start temperature), fed by the cells
                p_heat, q_tm = thermal_mgmt_w(P[i, P_HEAT], P[i, P_COOL], S[i, S_TEMP], s, th)
                if F[i, F_RUNAWAY] != 0:
                    p_heat = 0.0
                    q_tm = 0.0
                # circuit: the current of the step, within the BMS limits; what the converter then takes
                i_a, w = _circuit_current(c, ck, p_dc - p_heat, dt, tab, cum)
                i_a, clamped = _bms_cap(i_a, S[i, S_ICH], S[i, S_IDIS])
                if clamped:  # the BMS limit holds: the energy at the capped current
                    w, p_heat, q_tm = _capped(c, ck, i_a, p_dc, p_heat, q_tm, inv_dt, dt, tab, cum)
                p_dc_act = w * inv_dt + p_heat  # at the converter's DC side
                if clamped:
                    p_ac_act = _converter_ac_w(i, p_ac, p_dc_act, pr, P)
                    short_b += abs(p_ac - p_ac_act)
                else:
                    p_ac_act = p_ac  # (a charge setpoint below the no-load loss moves no DC power: all loss)
                p_pack[i] = p_ac_act
                bp += p_ac_act
                lc = p_ac_act - p_dc_act
                s_new, l_cell = _circuit_update(i, c, i_a, ck, dt, P, S, tab)
                _book(i, p_ac_act, p_dc_act, w, p_heat, l_cell, lc, dt, S)
                heat_sum += p_heat
                loss_conv += lc
                loss_cell += l_cell * inv_dt
                # thermal: heat in, convection to ambient and exchange with the neighbours at their
                # temperatures of the step start, exact exponential update
                q = heat_in_w(l_cell, q_tm, inv_dt, P[i, P_SOLAR], ghi)
                if F[i, F_RUNAWAY] == 1:
                    q += runaway_heat_w(i, rw_rate_dt, inv_dt, P, S, F)
                g = P[i, P_UA]
                gt = g * t_amb
                for k in range(nb_ptr[i], nb_ptr[i + 1]):
                    g += nb_g[k]
                    gt += nb_g[k] * temp_old[nb_idx[k]]
                t_new = node_temp_c(q, g, gt, temp_old[i], D[i, D_ATH])
                S[i, S_TEMP] = t_new
                if t_new > S[i, S_TMAX]:
                    S[i, S_TMAX] = t_new
                # BMS: event word, runaway onset, protection (latched)
                evt, trip = bms.evaluate(
                    S[i, S_VCMAX],
                    S[i, S_VCMIN],
                    t_new,
                    i_a,
                    S[i, S_ICH],
                    S[i, S_IDIS],
                    s_new,
                    P[i, P_SOC_LO],
                    P[i, P_SOC_HI],
                    P[i, P_VMAX],
                    P[i, P_VMIN],
                    P[i, P_TCH_MIN],
                    P[i, P_TCH_MAX],
                    th,
                )
                if F[i, F_RUNAWAY] == 0 and t_new >= P[i, P_RW_ONSET]:
                    trip = _runaway_onset(i, P, S, F)
                    n_rw += 1
                state, cause, evt, new_alarm, opened = _bms_latch(
                    evt, trip, F[i, F_RUNAWAY], F[i, F_EXT], F[i, F_STATE], F[i, F_TRIP], F[i, F_EVT]
                )
                F[i, F_STATE] = state
                F[i, F_TRIP] = cause
                F[i, F_EVT] = evt
                F[i, F_NEW_ALARM] = new_alarm
                n_trip += opened
                n_new_alarm += new_alarm
            # limits and weights for the next step; stats
            on = F[i, F_SERVICE] > 0 and F[i, F_STATE] == bms.STATE_CONNECTED and blk_on[b]
            act[i] = on
            p_ch, p_dis, e_pack = pack_refresh(i, c, on, P, S, F, D, dt, tab, cum, rmult, th)
            bc += p_ch
            bd += p_dis
            e_sum += e_pack
            e_max += S[i, S_EMAX]
            temp = S[i, S_TEMP]
            tmin = temp if temp < tmin else tmin
            tmax = temp if temp > tmax else tmax
            tsum += temp
            evt = F[i, F_EVT]
            if evt & bms.ALARM_MASK:
                n_alarm += 1
            if evt & bms.WARNING_MASK:
                n_warn += 1
            if F[i, F_STATE] == bms.STATE_FAULT:
                n_fault += 1
            if F[i, F_RUNAWAY] > 0:
                n_rws += 1
            if on:
                n_act += 1
                x = S[i, S_SOC]
                smin = x if x < smin else smin
                smax = x if x > smax else smax
                x = S[i, S_VCMAX]
                vcmax = x if x > vcmax else vcmax
                x = S[i, S_VCMIN]
                vcmin = x if x < vcmin else vcmin
        block_ch[b] = bc
        block_dis[b] = bd
        if do_step:
            block_p[b] = bp
            short[b] = short_b
    st[ST_E] = e_sum
    st[ST_EMAX] = e_max
    st[ST_SOC_MIN] = smin if n_act else np.nan
    st[ST_SOC_MAX] = smax if n_act else np.nan
    st[ST_N_ACT] = n_act
    st[ST_T_MIN] = tmin
    st[ST_T_MAX] = tmax
    st[ST_T_MEAN] = tsum / n if n else np.nan
    st[ST_VC_MAX] = vcmax if n_act else np.nan
    st[ST_VC_MIN] = vcmin if n_act else np.nan
    st[ST_N_ALARM] = n_alarm
    st[ST_N_WARN] = n_warn
    st[ST_N_FAULT] = n_fault
    st[ST_N_RUNAWAY] = n_rws
    if do_step:
        out[OUT_LOSS_CONV_W] = loss_conv
        out[OUT_LOSS_CELL_W] = loss_cell
        out[OUT_N_TRIPS] = n_trip
        out[OUT_N_RUNAWAY] = n_rw
        out[OUT_THERMAL_MGMT_W] = heat_sum
        out[OUT_N_NEW_ALARM] = n_new_alarm


fleet_pass = cache_on_sources(
    fleet_pass,
    [str(m.__file__) for m in (sys.modules[__name__], circuit, split, thermal, limits, bms, layout, sunspec802)],
)


# -- converter and circuit -----------------------------------------------------------------------------------------
@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _circuit_at_start(i, c, P, S, D, tab, cum):  # pragma: no cover - compiled
    """Pack ``i``'s circuit at the start of the step: ``ck`` = (SoC, v1 V, v2 V, cells in series, capacity A s,
    R0, R1, R2 ohm, a1, a2, b1 s, b2 s, ∫_0^soc OCV, EMF V) (a_k, b_k: layout's D_A*, D_B*)."""
    ns = P[i, P_NS]
    qas = P[i, P_QAS]
    r0 = S[i, S_R0]
    r1 = S[i, S_R1]
    r2 = S[i, S_R2]
    a1 = D[i, D_A1]
    a2 = D[i, D_A2]
    b1 = D[i, D_B1]
    b2 = D[i, D_B2]
    s = S[i, S_SOC]
    v1 = S[i, S_V1]
    v2 = S[i, S_V2]
    j, ds = seg(s)
    slope = (tab[c, j + 1] - tab[c, j]) * N_GRID
    f0 = cum[c, j] + tab[c, j] * ds + 0.5 * slope * ds * ds
    e0 = ns * (tab[c, j] + slope * ds) + v1 + v2
    return s, v1, v2, ns, qas, r0, r1, r2, a1, a2, b1, b2, f0, e0


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _circuit_current(c, ck, p_w, dt, tab, cum):  # pragma: no cover - compiled
    """The constant current (A) of a pack (circuit ``ck``) over the step whose mean power into the cells is
    ``p_w``, and the energy into the cells (J)."""
    s, v1, v2, ns, qas, r0, r1, r2, a1, a2, b1, b2, f0, e0 = ck
    return solve_current(p_w, f0, e0, s, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _bms_cap(i_a, i_ch_max, i_dis_max):  # pragma: no cover - compiled
    """A pack's current ``i_a`` within its BMS limits for the step (A, >= 0 each); (current A, capped?)."""
    clamped = False
    if i_a > i_ch_max:
        i_a = i_ch_max
        clamped = True
    elif i_a < -i_dis_max:
        i_a = -i_dis_max
        clamped = True
    return i_a, clamped


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _capped(c, ck, i_a, p_dc, p_heat, q_tm, inv_dt, dt, tab, cum):  # pragma: no cover - compiled
    """A pack (circuit ``ck``) held at its BMS limit ``i_a``: the energy into the cells over the step (J) and,
    when that stops a discharge, what the thermal management can still have of ``p_dc`` (its power W and
    heat into the pack W, scaled down from ``p_heat``, ``q_tm``)."""
    s, v1, v2, ns, qas, r0, r1, r2, a1, a2, b1, b2, f0, e0 = ck
    w, _ = w_step(i_a, f0, s, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
    if i_a <= 0.0:  # the cells cannot give more: thermal management gets what is left
        x = p_dc - w * inv_dt
        x = x if x > 0.0 else 0.0
        if x < p_heat:
            q_tm = q_tm * x / p_heat
            p_heat = x
    return w, p_heat, q_tm


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _converter_ac_w(i, p_ac, p_dc_act, pr, P):  # pragma: no cover - compiled
    """AC power pack ``i`` took when the BMS limit capped it: what moves ``p_dc_act`` through the converter
    (rating ``pr``), never more than asked (``p_ac``)."""
    p_ac_act = conv_ac_from_dc(p_dc_act, pr, P[i, P_C0], P[i, P_C1], P[i, P_C2]) if p_ac != 0.0 else 0.0
    # never more than asked (a tiny DC flow would otherwise carry the whole no-load loss)
    if (p_ac > 0.0 and p_ac_act > p_ac) or (p_ac < 0.0 and p_ac_act < p_ac):
        p_ac_act = p_ac
    return p_ac_act


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _circuit_update(i, c, i_a, ck, dt, P, S, tab):  # pragma: no cover - compiled
    """Pack ``i`` (circuit ``ck`` at the step start) at the end of a step at current ``i_a``: RC voltages, SoC
    of the mean and the weakest cell, terminal voltage, highest and lowest cell voltage. Returns (SoC, cell
    losses over the step J)."""
    s, v1, v2, ns, qas, r0, r1, r2, a1, a2, b1, b2, f0, e0 = ck
    # exact RC response and losses over the step
    vi1 = r1 * i_a
    vi2 = r2 * i_a
    d1 = v1 - vi1
    d2 = v2 - vi2
    v1n = vi1 + d1 * a1
    v2n = vi2 + d2 * a2
    sq1 = vi1 * vi1 * dt + 2.0 * vi1 * d1 * b1 + d1 * d1 * 0.5 * b1 * (1.0 + a1)
    sq2 = vi2 * vi2 * dt + 2.0 * vi2 * d2 * b2 + d2 * d2 * 0.5 * b2 * (1.0 + a2)
    l_cell = i_a * i_a * r0 * dt + sq1 * S[i, S_G1] + sq2 * S[i, S_G2]
    dq = i_a * dt * P[i, P_INV_QAS]
    s_new = s + dq
    sw_new = S[i, S_SOCW] + dq * P[i, P_INV_WQ]
    S[i, S_SOC] = s_new
    S[i, S_SOCW] = sw_new
    S[i, S_V1] = v1n
    S[i, S_V2] = v2n
    S[i, S_I] = i_a
    v_ir = v1n + v2n + i_a * r0
    vt = ns * ocv(tab, c, s_new) + v_ir
    S[i, S_VT] = vt
    v_mean = vt * P[i, P_INV_NS]
    v_weak = ocv(tab, c, sw_new) + P[i, P_WR] * v_ir * P[i, P_INV_NS]
    S[i, S_VCMAX] = v_mean if v_mean > v_weak else v_weak
    S[i, S_VCMIN] = v_mean if v_mean < v_weak else v_weak
    return s_new, l_cell


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _book(i, p_ac, p_dc, w, p_heat, l_cell, l_conv, dt, S):  # pragma: no cover - compiled
    """The step's powers and the energy books of pack ``i`` (:mod:`twin.fleet.fleet`'s docstring)."""
    S[i, S_PAC] = p_ac
    S[i, S_PDC] = p_dc
    S[i, S_W_AC] += p_ac * dt
    S[i, S_W_DC] += w
    S[i, S_THRU] += abs(w)
    S[i, S_L_HEAT] += p_heat * dt
    S[i, S_PHEAT] = p_heat
    S[i, S_L_CELL] += l_cell
    S[i, S_L_CONV] += l_conv * dt


# -- BMS ---------------------------------------------------------------------------------------------------------
@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _runaway_onset(i, P, S, F):  # pragma: no cover - compiled
    """Pack ``i`` is past its runaway onset: it starts releasing its runaway heat. Returns the trip cause."""
    F[i, F_RUNAWAY] = 1
    S[i, S_RW_LEFT] = P[i, P_ERW]
    return bms.TRIP_RUNAWAY


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def _bms_latch(evt, trip, runaway, ext, state, cause, evt_old):  # pragma: no cover - compiled
    """A pack's BMS after its step, from the event word ``evt`` and trip cause ``trip`` of
    :func:`twin.fleet.bms.evaluate` and its flags (``F_RUNAWAY``, ``F_EXT``, ``F_STATE``, ``F_TRIP``,
    ``F_EVT``): the protection latches (a runaway ends a pack behind an external BMS too). Returns (state,
    trip cause, event word, newly in alarm 0/1, contactor opened 0/1)."""
    opened = 0
    new_alarm = 0
    if runaway > 0:
        evt |= (1 << bms.OTHER_ALARM) | (1 << bms.OVER_TEMP_ALARM)
    if ext != 0:  # the hardware BMS protects this pack; its event word stays what it said
        if runaway > 0 and state != bms.STATE_FAULT:
            state = bms.STATE_FAULT
            cause = bms.TRIP_RUNAWAY
            opened = 1
        return state, cause, evt_old, 0, opened
    if trip != bms.TRIP_NONE and state != bms.STATE_FAULT:
        state = bms.STATE_FAULT
        cause = trip
        opened = 1
    if (evt & bms.ALARM_MASK) != 0 and (evt_old & bms.ALARM_MASK) == 0:
        new_alarm = 1
    return state, cause, evt, new_alarm, opened
