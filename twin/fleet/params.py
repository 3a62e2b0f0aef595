"""The fleet's per-pack parameters (the ``P`` array) and thresholds from the scenario and the inventory.

Each pack's row of ``P`` (:mod:`twin.fleet.layout`) from its chemistry's
parameter set (:mod:`twin.fleet.chemistry`), its inventory entry (nameplate
energy, cells in series, state of health, resistance factor, place in the
yard) and the scenario's fleet model; capacity, resistances and current
limits follow the ageing state (:func:`set_capacity_and_resistance`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.config import CHEMISTRY_NAMES, FleetModelConfig
from twin.fleet.chemistry import CHEMISTRIES
from twin.fleet.inventory import FleetInventory
from twin.fleet.layout import (
    D_A1,
    D_A2,
    D_ATH,
    D_B1,
    D_B2,
    N_P,
    N_TH,
    P_C0,
    P_C1,
    P_C2,
    P_CHEM,
    P_COOL,
    P_CTH,
    P_EA,
    P_ERW,
    P_G1,
    P_G2,
    P_GNB,
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
    P_RW_ONSET,
    P_SOC_HI,
    P_SOC_LO,
    P_SOLAR,
    P_TAU1,
    P_TAU2,
    P_TCH_MAX,
    P_TCH_MIN,
    P_TDIS_MAX,
    P_TDIS_MIN,
    P_UA,
    P_VMAX,
    P_VMIN,
    P_WEIGHT,
    P_WQ,
    P_WR,
    P_XICH,
    P_XIDIS,
    TH_COOLER_SET_C,
    TH_CURRENT_ALARM_MARGIN_FRAC,
    TH_HEATER_BAND_C,
    TH_HEATER_SET_C,
    TH_HEATER_SOC_MIN_FRAC,
    TH_IMBALANCE_WARN_V,
    TH_INV_COOLER_BAND,
    TH_INV_COOLER_COP,
    TH_INV_HEATER_BAND,
    TH_INV_SOC_TAPER,
    TH_INV_TEMP_DERATE_BAND,
    TH_RUNAWAY_DURATION_S,
    TH_SOC_TAPER_FRAC,
    TH_TEMP_DERATE_BAND_C,
    TH_TEMP_TRIP_C,
    TH_TEMP_WARN_MARGIN_C,
    TH_V_ALARM_TOL_V,
    TH_V_TRIP_MARGIN_V,
    TH_V_WARN_MARGIN_V,
)

__all__ = [
    "PackParameters",
    "neighbours",
    "pack_parameters",
    "set_capacity_and_resistance",
    "step_constants",
    "thresholds",
]


@dataclass
class PackParameters:
    """The ``P`` array and what its ageing-dependent columns are computed from, per pack."""

    P: np.ndarray  # (n_packs, N_P); capacity, resistance and current-limit columns: set_capacity_and_resistance
    chem_idx: np.ndarray  # int64, index into CHEMISTRY_NAMES
    q_nom_ah: np.ndarray  # nameplate Ah of the lumped cell
    r_ohm_ah: np.ndarray  # (3, n_packs): R0, R1, R2 of the chemistry's cell x capacity [ohm Ah], new
    i_c: np.ndarray  # (2, n_packs): charge and discharge current limits of the chemistry [C]
    flagged: np.ndarray  # bool: SoH below the BMS's weak-pack level (reduced SoC window)
    nb_ptr: np.ndarray  # neighbours in the yard, CSR (see neighbours)
    nb_idx: np.ndarray
    nb_g: np.ndarray


def pack_parameters(cfg: FleetModelConfig, inventory: FleetInventory, pack_converter_kw: float) -> PackParameters:
    """Every pack's parameters but those that follow the ageing state."""
    n = inventory.n_packs
    chem_idx = np.array([CHEMISTRY_NAMES.index(c) for c in inventory.chemistry], dtype=np.int64)
    chems = [CHEMISTRIES[c] for c in CHEMISTRY_NAMES]

    def per_chem(attr: str) -> np.ndarray:
        return np.array([getattr(ch, attr) for ch in chems], dtype=float)[chem_idx]

    ns = inventory.n_series.astype(float)
    v_nom = per_chem("v_nom_cell_v")
    q_nom_ah = inventory.e_nom_mwh * 1e6 / (ns * v_nom)  # nameplate Ah of the lumped cell
    P = np.zeros((n, N_P))
    P[:, P_NS] = ns
    P[:, P_TAU1], P[:, P_TAU2], P[:, P_EA] = per_chem("tau1_s"), per_chem("tau2_s"), per_chem("ea_r_j_mol")
    P[:, P_VMAX], P[:, P_VMIN] = per_chem("v_max_cell_v"), per_chem("v_min_cell_v")
    P[:, P_TCH_MIN], P[:, P_TCH_MAX] = per_chem("temp_charge_min_c"), per_chem("temp_charge_max_c")
    P[:, P_TDIS_MIN], P[:, P_TDIS_MAX] = per_chem("temp_discharge_min_c"), per_chem("temp_discharge_max_c")
    r_ohm_ah = np.vstack([per_chem("r0_ohm_ah"), per_chem("r1_ohm_ah"), per_chem("r2_ohm_ah")])
    i_c = np.vstack([per_chem("i_charge_max_c"), per_chem("i_discharge_max_c")])
    rng = np.random.default_rng([int(inventory.pack_id.sum()) % (2**32), n, 0xCE11])
    P[:, P_WQ] = 1.0 - rng.uniform(0.0, cfg.cell_capacity_spread_frac, n)
    P[:, P_INV_WQ] = 1.0 / P[:, P_WQ]
    P[:, P_INV_NS] = 1.0 / ns
    P[:, P_WR] = 1.0 + rng.uniform(0.0, cfg.cell_resistance_spread_frac, n)
    P[:, P_PCONV] = pack_converter_kw * 1e3
    P[:, P_C0], P[:, P_C1], P[:, P_C2] = (
        cfg.converter_loss_c0_frac,
        cfg.converter_loss_c1_frac,
        cfg.converter_loss_c2_frac,
    )
    th = cfg.thermal
    e_kwh = inventory.e_nom_mwh * 1e3
    mass_kg = e_kwh * 1e3 / per_chem("pack_wh_per_kg")
    P[:, P_CTH] = mass_kg * per_chem("cp_j_per_kg_k")
    P[:, P_UA] = th.ua_w_per_k_per_kwh * e_kwh
    P[:, P_SOLAR] = th.solar_absorptance * th.solar_area_m2_per_kwh * e_kwh
    P[:, P_SOC_LO] = cfg.soc_min_frac
    weak = inventory.soh_frac < cfg.bms.weak_soh_frac
    P[:, P_SOC_HI] = np.where(weak, np.minimum(cfg.bms.weak_soc_max_frac, cfg.soc_max_frac), cfg.soc_max_frac)
    P[:, P_HEAT] = th.heater_w_per_kwh * e_kwh
    P[:, P_COOL] = th.cooler_w_per_kwh * e_kwh
    P[:, P_RW_ONSET] = per_chem("runaway_onset_c")
    P[:, P_ERW] = per_chem("runaway_heat_j_per_wh") * e_kwh * 1e3
    P[:, P_CHEM] = chem_idx
    P[:, P_XICH] = P[:, P_XIDIS] = np.inf  # no external BMS
    nb_ptr, nb_idx, nb_g = neighbours(
        inventory.yard_x_m, inventory.yard_y_m, th.neighbour_radius_m, th.neighbour_w_per_k
    )
    P[:, P_GNB] = np.add.reduceat(nb_g, nb_ptr[:-1]) if len(nb_g) else 0.0
    P[:, P_GNB] = np.where(np.diff(nb_ptr) > 0, P[:, P_GNB], 0.0)
    return PackParameters(P, chem_idx, q_nom_ah, r_ohm_ah, i_c, weak, nb_ptr, nb_idx, nb_g)


def set_capacity_and_resistance(
    pp: PackParameters, q_frac: np.ndarray, r_factor: np.ndarray, cfg: FleetModelConfig
) -> None:
    """The columns of ``pp.P`` that follow the ageing state: capacity (``q_frac`` of nameplate),
    resistances at 25 degC and SoC 0.5 (``r_factor`` x new), current limits and the dispatch weight."""
    P = pp.P
    q_ah = pp.q_nom_ah * q_frac
    P[:, P_QAS] = q_ah * 3600.0
    P[:, P_INV_QAS] = 1.0 / P[:, P_QAS]
    r_scale = P[:, P_NS] / pp.q_nom_ah * r_factor  # ohm*Ah of a cell -> ohm of the pack
    P[:, P_R0], P[:, P_R1], P[:, P_R2] = pp.r_ohm_ah * r_scale
    P[:, P_G1], P[:, P_G2] = 1.0 / P[:, P_R1], 1.0 / P[:, P_R2]
    P[:, P_ICH], P[:, P_IDIS] = pp.i_c * q_ah
    if cfg.dispatch == "soh_aware":
        k = cfg.soh_aware_exponent
        P[:, P_WEIGHT] = (q_frac / max(float(q_frac.max()), 1e-9)) ** k / r_factor
    else:
        P[:, P_WEIGHT] = 1.0


def neighbours(
    x_m: np.ndarray, y_m: np.ndarray, radius_m: float, w_per_k: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packs closer than ``radius_m`` as a CSR list (ptr, idx, conductance W/K)."""
    n = len(x_m)
    order = np.lexsort((x_m, y_m))
    ptr = np.zeros(n + 1, dtype=np.int64)
    pairs: list[list[int]] = [[] for _ in range(n)]
    if radius_m > 0 and w_per_k > 0:
        # sweep over packs sorted by (y, x): only near rows can be within the radius
        ys = y_m[order]
        for a in range(n):
            i = order[a]
            lo = np.searchsorted(ys, ys[a] - radius_m, side="left")
            hi = np.searchsorted(ys, ys[a] + radius_m, side="right")
            for b in range(lo, hi):
                j = order[b]
                if j != i and (x_m[i] - x_m[j]) ** 2 + (y_m[i] - y_m[j]) ** 2 < radius_m**2:
                    pairs[i].append(int(j))
    for i in range(n):
        ptr[i + 1] = ptr[i] + len(pairs[i])
    idx = np.array([j for p in pairs for j in p], dtype=np.int64)
    return ptr, idx, np.full(len(idx), float(w_per_k))


def thresholds(cfg: FleetModelConfig) -> np.ndarray:
    """The BMS and enclosure thresholds of the compiled pass (slots ``TH_*`` of :mod:`twin.fleet.layout`)."""
    b, th = cfg.bms, cfg.thermal
    out = np.empty(N_TH)
    out[TH_V_WARN_MARGIN_V] = b.v_warn_margin_v
    out[TH_V_TRIP_MARGIN_V] = b.v_trip_margin_v
    out[TH_TEMP_WARN_MARGIN_C] = b.temp_warn_margin_c
    out[TH_TEMP_TRIP_C] = b.temp_trip_c
    out[TH_SOC_TAPER_FRAC] = b.soc_taper_frac
    out[TH_CURRENT_ALARM_MARGIN_FRAC] = b.current_alarm_margin_frac
    out[TH_IMBALANCE_WARN_V] = b.imbalance_warn_v
    out[TH_V_ALARM_TOL_V] = b.v_alarm_tol_v
    out[TH_TEMP_DERATE_BAND_C] = b.temp_derate_band_c
    out[TH_RUNAWAY_DURATION_S] = th.runaway_duration_s
    out[TH_HEATER_SET_C] = th.heater_set_c
    out[TH_HEATER_BAND_C] = th.heater_band_c
    out[TH_HEATER_SOC_MIN_FRAC] = th.heater_soc_min_frac
    out[TH_INV_SOC_TAPER] = 1.0 / b.soc_taper_frac
    out[TH_INV_TEMP_DERATE_BAND] = 1.0 / b.temp_derate_band_c
    out[TH_INV_HEATER_BAND] = 1.0 / th.heater_band_c
    out[TH_COOLER_SET_C] = th.cooler_set_c
    out[TH_INV_COOLER_BAND] = 1.0 / th.cooler_band_c
    out[TH_INV_COOLER_COP] = 1.0 / th.cooler_cop
    return out


def step_constants(P: np.ndarray, D: np.ndarray, dt_s: float) -> None:
    """Per-pack constants of a step length ``dt_s`` into ``D`` (exponentials of the RC and thermal responses)."""
    D[:, D_A1] = np.exp(-dt_s / P[:, P_TAU1])
    D[:, D_A2] = np.exp(-dt_s / P[:, P_TAU2])
    D[:, D_B1] = P[:, P_TAU1] * (1.0 - D[:, D_A1])
    D[:, D_B2] = P[:, P_TAU2] * (1.0 - D[:, D_A2])
    D[:, D_ATH] = np.exp(-dt_s * (P[:, P_UA] + P[:, P_GNB]) / P[:, P_CTH])
