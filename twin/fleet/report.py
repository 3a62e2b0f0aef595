"""The fleet's figures for the results: totals of the state, per-pack snapshots, the summary and the books."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twin.config import CHEMISTRY_NAMES
from twin.fleet import bms
from twin.fleet.layout import (
    F_EVT,
    F_RUNAWAY,
    F_SERVICE,
    F_STATE,
    S_E_PARAM,
    S_EMAX,
    S_I,
    S_ICH,
    S_IDIS,
    S_L_CELL,
    S_L_CONV,
    S_L_HEAT,
    S_PAC,
    S_PHEAT,
    S_SOC,
    S_SOCW,
    S_TEMP,
    S_THRU,
    S_TMAX,
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
)

if TYPE_CHECKING:
    from twin.fleet.fleet import BatteryFleet

__all__ = ["BOOK_COLUMNS", "balance_error_j", "books", "snapshot", "summary", "totals"]

# the per-pack energy books (columns of S), zeroed when the books start
BOOK_COLUMNS = [S_W_AC, S_W_DC, S_L_CELL, S_L_CONV, S_E_PARAM, S_THRU, S_L_HEAT]


def totals(st: np.ndarray) -> dict[str, float]:
    """Fleet figures from the pass's statistics ``st`` (layout ``ST_*``)."""
    return {
        "e_stored_mwh": float(st[ST_E] / 3.6e9),
        "soc_frac": float(st[ST_E] / st[ST_EMAX]),
        "pack_soc_min_frac": float(st[ST_SOC_MIN]),
        "pack_soc_max_frac": float(st[ST_SOC_MAX]),
        "n_packs_in_service": float(st[ST_N_ACT]),
        "pack_temp_min_c": float(st[ST_T_MIN]),
        "pack_temp_max_c": float(st[ST_T_MAX]),
        "pack_temp_mean_c": float(st[ST_T_MEAN]),
        "cell_v_max_v": float(st[ST_VC_MAX]),
        "cell_v_min_v": float(st[ST_VC_MIN]),
        "n_packs_alarm": float(st[ST_N_ALARM]),
        "n_packs_warning": float(st[ST_N_WARN]),
        "n_packs_fault": float(st[ST_N_FAULT]),
        "n_packs_runaway": float(st[ST_N_RUNAWAY]),
    }


def snapshot(fleet: BatteryFleet) -> dict[str, np.ndarray]:
    """Per-pack state for the results (copies, SI units as named)."""
    S, F = fleet.S, fleet.F
    return {
        "soc_frac": S[:, S_SOC].copy(),
        "soc_weak_cell_frac": S[:, S_SOCW].copy(),
        "temp_c": S[:, S_TEMP].copy(),
        "temp_max_c": S[:, S_TMAX].copy(),
        "thermal_mgmt_kw": S[:, S_PHEAT] * 1e-3,
        "v_v": S[:, S_VT].copy(),
        "i_a": S[:, S_I].copy(),
        "p_ac_kw": S[:, S_PAC] * 1e-3,
        "cell_v_max_v": S[:, S_VCMAX].copy(),
        "cell_v_min_v": S[:, S_VCMIN].copy(),
        "i_charge_max_a": S[:, S_ICH].copy(),
        "i_discharge_max_a": S[:, S_IDIS].copy(),
        "soh_frac": fleet.q_frac.copy(),
        "r_factor": fleet.r_factor.copy(),
        "bms_state": F[:, F_STATE].copy(),
        "bms_evt1": F[:, F_EVT].copy(),
        "in_service": F[:, F_SERVICE].copy(),
    }


def summary(fleet: BatteryFleet) -> dict:
    """Fleet figures for summary.json: packs out, SoH and capacity at start and now, throughput,
    losses, temperatures, fade per chemistry."""
    inv, S, F = fleet.inv, fleet.S, fleet.F
    q0, q1 = fleet.soh_start, fleet.q_frac
    e_max_start = float(fleet._e_max_start_j.sum() / 3.6e9)
    e_max_now = float(S[:, S_EMAX].sum() / 3.6e9)
    thru_mwh = float(S[:, S_THRU].sum() / 3.6e9)
    out_op = np.flatnonzero(F[:, F_SERVICE] == 0)
    fault = np.flatnonzero(F[:, F_STATE] == bms.STATE_FAULT)
    rw = np.flatnonzero(F[:, F_RUNAWAY] > 0)

    def stats(x: np.ndarray) -> dict[str, float]:
        return {"min": round(float(x.min()), 5), "mean": round(float(x.mean()), 5), "max": round(float(x.max()), 5)}

    by_chem = {}
    for k, c in enumerate(CHEMISTRY_NAMES):
        m = fleet.chem_idx == k
        if not m.any():
            continue
        e0 = float(fleet._e_max_start_j[m].sum() / 3.6e9)
        e1 = float(S[m, S_EMAX].sum() / 3.6e9)
        by_chem[c] = {
            "n_packs": int(m.sum()),
            "soh_start_mean": round(float(q0[m].mean()), 5),
            "soh_end_mean": round(float(q1[m].mean()), 5),
            "capacity_fade_frac": round((e0 - e1) / e0, 6) if e0 > 0 else 0.0,
            "r_factor_end_mean": round(float(fleet.r_factor[m].mean()), 5),
            "efc_mean": round(float((S[m, S_THRU] / 2.0 / np.maximum(S[m, S_EMAX], 1.0)).mean()), 3),
        }
    b = books(S)
    return {
        "n_packs": int(inv.n_packs),
        "packs_tripped_by_operator": [int(x) for x in inv.pack_id[out_op]],
        "packs_tripped_by_bms": [int(x) for x in inv.pack_id[fault]],
        "packs_thermal_runaway": [int(x) for x in inv.pack_id[rw]],
        "n_packs_flagged_weak": int(fleet.flagged.sum()),
        "soh_frac_start": stats(q0),
        "soh_frac_end": stats(q1),
        "r_factor_end": stats(fleet.r_factor),
        "capacity_mwh_start": round(e_max_start, 4),
        "capacity_mwh_end": round(e_max_now, 4),
        "capacity_fade_frac": round((e_max_start - e_max_now) / e_max_start, 6) if e_max_start > 0 else 0.0,
        "throughput_dc_mwh": round(thru_mwh, 4),
        "efc_fleet": round(thru_mwh / 2.0 / e_max_start, 4) if e_max_start > 0 else 0.0,
        "loss_cell_mwh": round(b["loss_cell_mwh"], 5),
        "loss_converter_mwh": round(b["loss_conv_mwh"], 5),
        "pack_temp_max_c": round(float(S[:, S_TMAX].max()), 3),
        "ageing_applied_s": round(float(fleet.ageing.t_s), 1) if fleet.ageing is not None else 0.0,
        "by_chemistry": by_chem,
    }


def books(S: np.ndarray) -> dict[str, float]:
    """Fleet energy books since the books started (MWh), from the state array ``S``."""
    return {
        "ac_in_mwh": float(S[:, S_W_AC].sum() / 3.6e9),
        "dc_in_mwh": float(S[:, S_W_DC].sum() / 3.6e9),
        "loss_cell_mwh": float(S[:, S_L_CELL].sum() / 3.6e9),
        "loss_conv_mwh": float(S[:, S_L_CONV].sum() / 3.6e9),
        "thermal_mgmt_mwh": float(S[:, S_L_HEAT].sum() / 3.6e9),
        "param_change_mwh": float(S[:, S_E_PARAM].sum() / 3.6e9),
    }


def balance_error_j(S: np.ndarray, d_e: np.ndarray) -> np.ndarray:
    """Per pack, since the books started, given the change of stored energy ``d_e`` (J): DC energy in -
    (``d_e`` - parameter changes + cell losses), and AC energy in - (DC energy in + converter losses +
    thermal management). Both ~0 (round-off) for a model that keeps its books; the larger magnitude."""
    err_dc = S[:, S_W_DC] - (d_e - S[:, S_E_PARAM] + S[:, S_L_CELL])
    err_ac = S[:, S_W_AC] - (S[:, S_W_DC] + S[:, S_L_CONV] + S[:, S_L_HEAT])
    return np.maximum(np.abs(err_dc), np.abs(err_ac))
