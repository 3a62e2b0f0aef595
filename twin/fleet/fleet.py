"""Second-life battery fleet: every pack an equivalent circuit, all packs in a few numpy arrays.

Each pack is ``n_series`` cells of capacity ``q_ah`` (parallel strings
lumped) behind its own DC/DC converter, so packs never share current: each
is driven by its own AC power setpoint. Per pack (submodels, each a few
lines of the compiled kernels below):

* **converter**: losses ``c0 p_r + c1 |p| + c2 p^2 / p_r`` (no-load,
  linear, quadratic; ``p_r`` the rating); AC power -> DC power exactly
  (quadratic roots).
* **electrical**: two-RC equivalent circuit, ``v = n_s OCV(soc) + v1 + v2
  + i R0`` (``i > 0`` charging); OCV(SoC) per chemistry, R0/R1/R2 scaled by
  an SoC table, an Arrhenius temperature factor and the ageing resistance
  factor, RC time constants fixed (:mod:`twin.fleet.chemistry`). Over a step the
  current is constant and solves *mean power = setpoint* exactly: the
  energy into the terminals over the step, ``W(i)``, is integrated in
  closed form (OCV integral, exact zero-order-hold RC response) and
  Newton's method finds ``W(i) = p dt`` (the first iterate is the root of
  ``P = i (E + i R0)``). Stable at any step length. When a pack cannot
  take its setpoint (BMS current limit), the current is capped and the
  shortfall reported.
* **weakest cell**: a cell with less capacity (``cap_weak_frac``) and more
  resistance (``r_weak_factor``) than the pack's mean cell carries the
  same current; the highest and lowest cell voltages of the pack are the
  mean cell's and this cell's, so imbalance shows in alarms.
* **thermal**: one lumped node per pack outdoors: cell losses, solar gain
  on the enclosure, convection to ambient and exchange with neighbours in
  the yard; exact exponential update with the neighbours' temperatures of
  the step start. A pack past its runaway onset releases its runaway heat
  over ``runaway_duration_s``; the heat reaches its neighbours.
* **BMS**: :mod:`twin.fleet.bms` (warning, limit, latched trip).
* **ageing**: :mod:`twin.fleet.ageing` (BLAST-Lite forms) from stress aggregates,
  feeding capacity and resistance back at ``ageing.update_every_s``.

Energy books per pack (``pack_energy_balance_error_j``, a test invariant)::

    W_dc = d(E_chem + E_pol) - E_param + L_cell,     W_ac = W_dc + L_conv

with ``E_chem = n_s q ∫OCV dsoc`` (chemical energy), ``E_pol = Σ ½ C_k
v_k²`` (polarisation), ``L_cell`` the exact ohmic and RC losses,
``E_param`` the stored energy changed by parameter changes (temperature
and SoC moving the RC resistances at fixed ``v_k``, capacity fade),
``L_conv`` the converter losses. Sign: power and current > 0 charge.

Interface for the grid and controller (unchanged from the energy-reservoir
version): ``limits(dt_s)`` -> per-block AC charge / discharge power the
packs can take over the next step; ``step(dt_s, block_p_mw, weights)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from twin.config import FleetModelConfig
from twin.fleet import bms
from twin.fleet.ageing import FleetAgeing, StressAccumulator
from twin.fleet.chemistry import CHEMISTRIES, SOC_GRID, ocv_cell_v
from twin.fleet.inventory import CHEMISTRY_NAMES, FleetInventory

# Compiler flags of the kernels: reassociation, contraction and reciprocal approximations, but NaN and
# infinity keep their IEEE meaning (the stats use them).
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}  # error_model="numpy": x / 0 gives inf, no exception path
R_GAS_J_MOL_K = 8.314462618
T_REF_K = 298.15
_N_GRID = len(SOC_GRID) - 1

# Per-pack parameters: rows of P (float64, shape (N_P, n_packs)).
(
    P_QAS,
    P_NS,
    P_R0,
    P_R1,
    P_R2,
    P_TAU1,
    P_TAU2,
    P_EA,
    P_VMAX,
    P_VMIN,
    P_ICH,
    P_IDIS,
    P_TCH_MIN,
    P_TCH_MAX,
    P_TDIS_MIN,
    P_TDIS_MAX,
    P_WQ,
    P_WR,
    P_PCONV,
    P_C0,
    P_C1,
    P_C2,
    P_CTH,
    P_UA,
    P_SOLAR,
    P_SOC_LO,
    P_SOC_HI,
    P_RW_ONSET,
    P_ERW,
    P_CHEM,
    P_WEIGHT,
    P_GNB,
    P_HEAT,
    P_G1,
    P_G2,
    P_INV_NS,
    P_INV_QAS,
    P_INV_WQ,
    P_COOL,
    P_XICH,
    P_XIDIS,
) = range(41)  # P_XICH/P_XIDIS: current limits of an external (hardware) BMS
N_P = 41
# Per-pack state and outputs: rows of S (float64, shape (N_S, n_packs)).
(
    S_SOC,
    S_SOCW,
    S_V1,
    S_V2,
    S_TEMP,
    S_RW_LEFT,
    S_R0,
    S_R1,
    S_R2,
    S_I,
    S_VT,
    S_VCMAX,
    S_VCMIN,
    S_PAC,
    S_PDC,
    S_ICH,
    S_IDIS,
    S_PCH,
    S_PDIS,
    S_WC,
    S_WD,
    S_W_AC,
    S_W_DC,
    S_L_CELL,
    S_L_CONV,
    S_E_PARAM,
    S_HEAT,
    S_EMAX,
    S_THRU,
    S_TMAX,
    S_L_HEAT,
    S_PHEAT,
    S_G1,
    S_G2,
    S_FA,
    S_TFA,
) = range(36)
N_S = 36
# Per-pack constants of the step length: rows of D (recomputed when dt changes).
D_A1, D_A2, D_B1, D_B2, D_ATH = range(5)
N_D = 5
# Per-pack integer flags: rows of F (int64).
# F_NEW_ALARM: came into alarm this step; F_EXT: the pack's BMS is external (hardware in the loop): its
# state, event word and current limits are set from outside, the simulated BMS neither limits nor trips it
F_SERVICE, F_STATE, F_EVT, F_TRIP, F_RUNAWAY, F_NEW_ALARM, F_EXT = range(7)
N_F = 7
# Fleet statistics written by the refresh kernel.
(
    ST_E,
    ST_EMAX,
    ST_SOC_MIN,
    ST_SOC_MAX,
    ST_N_ACT,
    ST_T_MIN,
    ST_T_MAX,
    ST_T_MEAN,
    ST_VC_MAX,
    ST_VC_MIN,
    ST_N_ALARM,
    ST_N_FAULT,
    ST_N_RUNAWAY,
    ST_N_WARN,
) = range(14)
N_ST = 14


@dataclass
class FleetStep:
    p_pack_mw: np.ndarray  # per pack, AC, delivered, + charging
    block_p_mw: np.ndarray  # per block, delivered
    shortfall_mw: np.ndarray  # per block: asked but not deliverable (signed like the request)
    loss_p_mw: float  # converter + cell losses + enclosure thermal management of the step (mean power)
    loss_conv_p_mw: float
    loss_cell_p_mw: float
    thermal_mgmt_p_mw: float  # electric power of the enclosures' thermal management (heaters and coolers)
    n_new_trips: int  # packs whose contactor opened (BMS protection) in this step
    n_new_runaway: int
    n_new_alarm: int  # packs whose BMS went into alarm in this step (F_NEW_ALARM marks them)


def chemistry_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OCV, its running integral over SoC and the resistance SoC multiplier, one row per chemistry
    (in the order of :data:`twin.inventory.CHEMISTRY_NAMES`)."""
    ocv = np.array([np.asarray(CHEMISTRIES[c].ocv_v, dtype=float) for c in CHEMISTRY_NAMES])
    ds = np.diff(SOC_GRID)
    cum = np.zeros_like(ocv)
    cum[:, 1:] = np.cumsum(0.5 * (ocv[:, 1:] + ocv[:, :-1]) * ds, axis=1)
    rmult = np.array([np.asarray(CHEMISTRIES[c].r_soc_mult, dtype=float) for c in CHEMISTRY_NAMES])
    return ocv, cum, rmult


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


class BatteryFleet:
    """All packs of the site, vectorised (state in the rows of a few 2-D arrays).

    Limits, split weights and stats depend only on the state, so they are
    computed once after each change of state (:meth:`_refresh`) and reused
    by the grid's limits, the split and the controller's measurements.
    """

    def __init__(
        self,
        cfg: FleetModelConfig,
        inventory: FleetInventory,
        n_blocks: int,
        pack_converter_kw: float,
        temp_start_c: float = 25.0,
    ):
        self.cfg = cfg
        self.inv = inventory
        self.n_blocks = n_blocks
        n = inventory.n_packs
        self.block = inventory.block
        if np.any(np.diff(self.block) < 0) or len(np.unique(self.block)) != n_blocks:
            raise ValueError("packs must be grouped by block in contiguous runs, every block with at least one pack")
        self._starts = np.flatnonzero(np.r_[True, np.diff(self.block) > 0]).astype(np.int64)
        self._ends = np.r_[self._starts[1:], n].astype(np.int64)
        self.ocv_tab, self.ocv_cum, self.rmult_tab = chemistry_tables()
        chem_idx = np.array([CHEMISTRY_NAMES.index(c) for c in inventory.chemistry], dtype=np.int64)
        self.chem_idx = chem_idx
        chems = [CHEMISTRIES[c] for c in CHEMISTRY_NAMES]

        def per_chem(attr: str) -> np.ndarray:
            return np.array([getattr(ch, attr) for ch in chems], dtype=float)[chem_idx]

        ns = inventory.n_series.astype(float)
        v_nom = per_chem("v_nom_cell_v")
        self.q_nom_ah = inventory.e_nom_mwh * 1e6 / (ns * v_nom)  # nameplate Ah of the lumped cell
        self.soh_start = inventory.soh_frac.copy()
        self.q_frac = inventory.soh_frac.copy()  # capacity relative to nameplate (ageing moves it)
        self.r_factor = inventory.r_factor.copy()
        P = np.zeros((n, N_P))
        P[:, P_NS] = ns
        P[:, P_TAU1], P[:, P_TAU2], P[:, P_EA] = per_chem("tau1_s"), per_chem("tau2_s"), per_chem("ea_r_j_mol")
        P[:, P_VMAX], P[:, P_VMIN] = per_chem("v_max_cell_v"), per_chem("v_min_cell_v")
        P[:, P_TCH_MIN], P[:, P_TCH_MAX] = per_chem("temp_charge_min_c"), per_chem("temp_charge_max_c")
        P[:, P_TDIS_MIN], P[:, P_TDIS_MAX] = per_chem("temp_discharge_min_c"), per_chem("temp_discharge_max_c")
        self._r_ohm_ah = np.vstack([per_chem("r0_ohm_ah"), per_chem("r1_ohm_ah"), per_chem("r2_ohm_ah")])
        self._i_c = np.vstack([per_chem("i_charge_max_c"), per_chem("i_discharge_max_c")])
        rng = np.random.default_rng([int(inventory.pack_id.sum()) % (2**32), n, 0xCE11])
        P[:, P_WQ] = 1.0 - rng.uniform(0.0, cfg.cell_capacity_spread_frac, n)
        P[:, P_INV_WQ] = 1.0 / P[:, P_WQ]
        P[:, P_INV_NS] = 1.0 / ns
        P[:, P_WR] = 1.0 + rng.uniform(0.0, cfg.cell_resistance_spread_frac, n)
        p_r = pack_converter_kw * 1e3
        P[:, P_PCONV] = p_r
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
        self.flagged = weak  # packs with a reduced SoC window (BMS policy for weak packs)
        P[:, P_HEAT] = th.heater_w_per_kwh * e_kwh
        P[:, P_COOL] = th.cooler_w_per_kwh * e_kwh
        P[:, P_RW_ONSET] = per_chem("runaway_onset_c")
        P[:, P_ERW] = per_chem("runaway_heat_j_per_wh") * e_kwh * 1e3
        P[:, P_CHEM] = chem_idx
        P[:, P_XICH] = P[:, P_XIDIS] = np.inf  # no external BMS
        self.nb_ptr, self.nb_idx, self.nb_g = neighbours(
            inventory.yard_x_m, inventory.yard_y_m, th.neighbour_radius_m, th.neighbour_w_per_k
        )
        P[:, P_GNB] = np.add.reduceat(self.nb_g, self.nb_ptr[:-1]) if len(self.nb_g) else 0.0
        P[:, P_GNB] = np.where(np.diff(self.nb_ptr) > 0, P[:, P_GNB], 0.0)
        self.P = P
        self._f_full = self.ocv_cum[chem_idx, -1]  # ∫_0^1 OCV dsoc per pack
        self._set_capacity_and_resistance(self.q_frac, self.r_factor, book=False)

        S = np.zeros((n, N_S))
        soc0 = min(max(cfg.soc_start_frac, 0.0), 1.0)
        S[:, S_SOC] = np.minimum(soc0, P[:, P_SOC_HI])
        S[:, S_SOCW] = S[:, S_SOC]
        S[:, S_TEMP] = temp_start_c
        S[:, S_TMAX] = temp_start_c
        S[:, S_TFA] = np.inf  # Arrhenius factor not evaluated yet
        S[:, S_R0 : S_R2 + 1] = P[:, P_R0 : P_R2 + 1]  # refreshed to the state below
        S[:, S_G1], S[:, S_G2] = P[:, P_G1], P[:, P_G2]
        S[:, S_EMAX] = P[:, P_NS] * P[:, P_QAS] * self._f_full
        self.S = S
        F = np.zeros((n, N_F), dtype=np.int64)
        F[:, F_SERVICE] = 1
        F[:, F_STATE] = bms.STATE_CONNECTED
        self.F = F
        self.block_in_service = np.ones(n_blocks, dtype=bool)
        b = cfg.bms
        self._bms_th = np.array(
            [
                b.v_warn_margin_v,
                b.v_trip_margin_v,
                b.temp_warn_margin_c,
                b.temp_trip_c,
                b.soc_taper_frac,
                b.current_alarm_margin_frac,
                b.imbalance_warn_v,
                b.v_alarm_tol_v,
                b.temp_derate_band_c,
                th.runaway_duration_s,
                th.heater_set_c,
                th.heater_band_c,
                th.heater_soc_min_frac,
                1.0 / b.soc_taper_frac,
                1.0 / b.temp_derate_band_c,
                1.0 / th.heater_band_c,
                th.cooler_set_c,
                1.0 / th.cooler_band_c,
                1.0 / th.cooler_cop,
            ]
        )
        self._block_ch, self._block_dis = np.zeros(n_blocks), np.zeros(n_blocks)
        self._block_p = np.zeros(n_blocks)
        self._stats = np.zeros(N_ST)
        self._act = np.ones(n, dtype=np.bool_)
        self._no_weights = np.empty(0)
        self._p_pack = np.zeros(n)
        self._short = np.zeros(n_blocks)
        self._tmp = np.zeros(n)
        self._out = np.zeros(6)
        self.temp_amb_c = temp_start_c
        self.ghi_w_m2 = 0.0
        # ageing: stress aggregates every step, capacity and resistance every update_every_s
        self.ageing = (
            FleetAgeing(inventory.chemistry, inventory.soh_frac, inventory.r_factor, second_life=cfg.ageing.second_life)
            if cfg.ageing.enabled
            else None
        )
        self.stress = StressAccumulator(n, S[:, S_SOC].copy()) if cfg.ageing.enabled else None
        self._t_age_s = 0.0
        self.D = np.zeros((n, N_D))
        self._dt_d = -1.0
        self._dt_s = -1.0
        self._stale = True
        self._refresh(1.0)
        for k, c in enumerate(CHEMISTRY_NAMES):  # cell voltages at rest
            m = chem_idx == k
            S[m, S_VCMAX] = S[m, S_VCMIN] = ocv_cell_v(c, S[m, S_SOC])
            S[m, S_VT] = P[m, P_NS] * S[m, S_VCMAX]  # the terminal voltage at rest, before any step
        self._stale = True
        self._refresh(1.0)
        self.reset_books()  # the first refresh set the state's resistances: not a change to book
        self._e_max_start_j = S[:, S_EMAX].copy()

    # -- parameters -------------------------------------------------------------------
    def _set_capacity_and_resistance(self, q_frac: np.ndarray, r_factor: np.ndarray, book: bool = True) -> None:
        """Capacity (SoC kept) and resistances at 25 degC / SoC 0.5 from the ageing state; the stored
        energy that changes with them is booked in E_param."""
        P = self.P
        e0 = self._e_pack_j() if book else None
        self.q_frac = np.asarray(q_frac, dtype=float).copy()
        self.r_factor = np.asarray(r_factor, dtype=float).copy()
        q_ah = self.q_nom_ah * self.q_frac
        P[:, P_QAS] = q_ah * 3600.0
        P[:, P_INV_QAS] = 1.0 / P[:, P_QAS]
        r_scale = P[:, P_NS] / self.q_nom_ah * self.r_factor  # ohm*Ah of a cell -> ohm of the pack
        P[:, P_R0], P[:, P_R1], P[:, P_R2] = self._r_ohm_ah * r_scale
        P[:, P_G1], P[:, P_G2] = 1.0 / P[:, P_R1], 1.0 / P[:, P_R2]
        P[:, P_ICH], P[:, P_IDIS] = self._i_c * q_ah
        if hasattr(self, "S"):
            self.S[:, S_EMAX] = P[:, P_NS] * P[:, P_QAS] * self._f_full
        if self.cfg.dispatch == "soh_aware":
            k = self.cfg.soh_aware_exponent
            P[:, P_WEIGHT] = (self.q_frac / max(float(self.q_frac.max()), 1e-9)) ** k / self.r_factor
        else:
            P[:, P_WEIGHT] = 1.0
        if book:
            self._stale = True
            # R_k changed: re-evaluate the state's resistances (booked in the refresh) and E_chem (booked here)
            self.S[:, S_E_PARAM] += self._e_pack_j() - e0
            self._refresh(self._dt_s if self._dt_s > 0 else 1.0)

    def apply_ageing(self, force: bool = False) -> None:
        """Turn the stress accumulated since the last update into capacity fade and resistance growth
        (``force``: also a window shorter than the ageing model's minimum, at the end of a run)."""
        if self.ageing is None or self.stress is None:
            return
        self.ageing.update(self.stress, force=force)
        burnt = self.F[:, F_RUNAWAY] > 0  # a pack after a runaway is scrap: its figures stay as they were
        q = np.where(burnt, self.q_frac, np.minimum(self.ageing.q_frac, self.q_frac))
        self._set_capacity_and_resistance(q, np.where(burnt, self.r_factor, self.ageing.r_factor))
        self._t_age_s = 0.0

    def set_weak_cell(self, idx: np.ndarray, capacity_frac: float, resistance_factor: float) -> None:
        """A weak cell in each of the packs at ``idx`` (fault injection)."""
        self.P[idx, P_WQ] = np.minimum(self.P[idx, P_WQ], capacity_frac)
        self.P[idx, P_INV_WQ] = 1.0 / self.P[idx, P_WQ]
        self.P[idx, P_WR] = np.maximum(self.P[idx, P_WR], resistance_factor)
        self._stale = True

    # -- state ------------------------------------------------------------------------
    @property
    def soc_frac(self) -> np.ndarray:
        return self.S[:, S_SOC]

    @property
    def temp_c(self) -> np.ndarray:
        return self.S[:, S_TEMP]

    @property
    def active(self) -> np.ndarray:
        """Per pack: in service, contactor closed and on a block in service."""
        return self._act

    @property
    def in_service(self) -> np.ndarray:
        return self.F[:, F_SERVICE].astype(bool)

    @property
    def bms_state(self) -> np.ndarray:
        return self.F[:, F_STATE]

    @property
    def bms_evt(self) -> np.ndarray:
        return self.F[:, F_EVT]

    @property
    def e_max_mwh(self) -> np.ndarray:
        """Per pack chemical energy between SoC 0 and 1 at its capacity now."""
        return self.S[:, S_EMAX] / 3.6e9

    def _e_pack_j(self) -> np.ndarray:
        P, S = self.P, self.S
        e = np.empty(self.inv.n_packs)
        _stored_energy(P, S, self.ocv_tab, self.ocv_cum, self.chem_idx, e)
        return e

    def _refresh(self, dt_s: float) -> None:
        """Limits over the next ``dt_s``, split weights and stats for the current state."""
        if not self._stale and dt_s == self._dt_s:
            return
        self._step_constants(dt_s)
        _kernel(
            False,
            self.P,
            self.S,
            self.F,
            self.D,
            self._act,
            self._no_weights,
            self._no_weights,
            self._starts,
            self._ends,
            dt_s,
            self.ocv_tab,
            self.ocv_cum,
            self.rmult_tab,
            self.chem_idx,
            self.temp_amb_c,
            self.ghi_w_m2,
            self.nb_ptr,
            self.nb_idx,
            self.nb_g,
            self._bms_th,
            self.block_in_service,
            self._p_pack,
            self._short,
            self._tmp,
            self._out,
            self._block_ch,
            self._block_dis,
            self._block_p,
            self._stats,
        )
        self._dt_s = dt_s
        self._stale = False

    def _step_constants(self, dt_s: float) -> None:
        """Per-pack constants of a step length (exponentials of the RC and thermal responses)."""
        if dt_s == self._dt_d:
            return
        P, D = self.P, self.D
        D[:, D_A1] = np.exp(-dt_s / P[:, P_TAU1])
        D[:, D_A2] = np.exp(-dt_s / P[:, P_TAU2])
        D[:, D_B1] = P[:, P_TAU1] * (1.0 - D[:, D_A1])
        D[:, D_B2] = P[:, P_TAU2] * (1.0 - D[:, D_A2])
        D[:, D_ATH] = np.exp(-dt_s * (P[:, P_UA] + P[:, P_GNB]) / P[:, P_CTH])
        self._dt_d = dt_s

    def pack_limits_mw(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Per pack AC charge and discharge power (>= 0) deliverable over the next ``dt_s``
        within the BMS limits, the SoC window and the converter rating."""
        self._refresh(dt_s)
        return self.S[:, S_PCH] * 1e-6, self.S[:, S_PDIS] * 1e-6

    def pack_current_limits_a(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Per pack BMS charge / discharge current limits (>= 0) for the next ``dt_s``."""
        self._refresh(dt_s)
        return self.S[:, S_ICH].copy(), self.S[:, S_IDIS].copy()

    def split_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference split of a block's power over its packs (what Redwood's Pack Manager does), for
        charging and discharging: in proportion to each pack's energy room / available energy in its
        SoC window (x the SoH weight with ``dispatch = "soh_aware"``), capped at each pack's power
        limit (the excess goes to the others: water filling in :meth:`step`)."""
        self._refresh(self._dt_s if self._dt_s > 0 else 1.0)
        return self.S[:, S_WC], self.S[:, S_WD]

    def limits(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Per block AC charge / discharge power (MW, >= 0) the packs can take over the next ``dt_s``."""
        self._refresh(dt_s)
        return self._block_ch * 1e-6, self._block_dis * 1e-6

    # -- one step ---------------------------------------------------------------------
    def step(self, dt_s: float, block_p_mw: np.ndarray, weights: np.ndarray | None = None) -> FleetStep:
        """Split each block's AC power over its packs, then step every pack (converter, equivalent
        circuit, weakest cell, thermal, BMS) over ``dt_s``.

        ``weights`` (per pack, >= 0) sets the split; the default is :meth:`split_weights`. A pack never
        gets more than its limit: the split is capped and the remainder spread over the packs of the
        block with headroom (water filling); what no pack can take is the block's shortfall.
        """
        self._refresh(dt_s)
        self._step_constants(dt_s)
        p_block = np.multiply(block_p_mw, 1e6, dtype=np.float64)
        w = self._no_weights if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        out = self._out
        _kernel(
            True,
            self.P,
            self.S,
            self.F,
            self.D,
            self._act,
            p_block,
            w,
            self._starts,
            self._ends,
            dt_s,
            self.ocv_tab,
            self.ocv_cum,
            self.rmult_tab,
            self.chem_idx,
            self.temp_amb_c,
            self.ghi_w_m2,
            self.nb_ptr,
            self.nb_idx,
            self.nb_g,
            self._bms_th,
            self.block_in_service,
            self._p_pack,
            self._short,
            self._tmp,
            out,
            self._block_ch,
            self._block_dis,
            self._block_p,
            self._stats,
        )
        self._dt_s = dt_s  # the kernel left every pack's limits for the next step of this length
        self._stale = False
        if self.stress is not None:
            self.stress.add(
                dt_s, np.ascontiguousarray(self.S[:, S_SOC]), np.ascontiguousarray(self.S[:, S_TEMP]), self._act
            )
            self._t_age_s += dt_s
            if self._t_age_s >= self.cfg.ageing.update_every_s - 1e-9:
                self.apply_ageing()
        sign = np.where(p_block < 0, -1e-6, 1e-6)
        return FleetStep(
            p_pack_mw=self._p_pack * 1e-6,
            block_p_mw=self._block_p * 1e-6,
            shortfall_mw=self._short * sign,
            loss_p_mw=(out[0] + out[1] + out[4]) * 1e-6,
            loss_conv_p_mw=out[0] * 1e-6,
            loss_cell_p_mw=out[1] * 1e-6,
            thermal_mgmt_p_mw=out[4] * 1e-6,
            n_new_trips=int(out[2]),
            n_new_runaway=int(out[3]),
            n_new_alarm=int(out[5]),
        )

    # -- events -----------------------------------------------------------------------
    def set_packs(self, idx: np.ndarray | list[int], in_service: bool) -> None:
        """Operator trip / restore of packs (array positions)."""
        idx = np.asarray(idx, dtype=np.int64)
        self.F[idx, F_SERVICE] = int(in_service)
        st = self.F[idx, F_STATE]
        self.F[idx, F_STATE] = np.where(
            st == bms.STATE_FAULT, st, bms.STATE_CONNECTED if in_service else bms.STATE_DISCONNECTED
        )
        self._stale = True

    def set_block(self, block: int, in_service: bool) -> None:
        self.block_in_service[block] = in_service
        self._stale = True

    def bms_reset(self, idx: np.ndarray) -> np.ndarray:
        """Alarm reset on the packs at ``idx``: latched faults clear where the cause has gone (not after a
        thermal runaway). Returns the positions whose contactor closed again."""
        idx = np.asarray(idx, dtype=np.int64)
        S, P, F = self.S, self.P, self.F
        th = self._bms_th
        ok = (
            (F[idx, F_STATE] == bms.STATE_FAULT)
            & (F[idx, F_RUNAWAY] == 0)
            & (F[idx, F_EXT] == 0)
            & (S[idx, S_TEMP] < th[3] - th[2])
            & (S[idx, S_VCMAX] <= P[idx, P_VMAX] + th[1])
            & (S[idx, S_VCMIN] >= P[idx, P_VMIN] - th[1])
        )
        back = idx[ok]
        F[back, F_TRIP] = bms.TRIP_NONE
        F[back, F_STATE] = np.where(F[back, F_SERVICE] > 0, bms.STATE_CONNECTED, bms.STATE_DISCONNECTED)
        self._stale = True
        return back

    def trigger_runaway(self, i: int) -> None:
        """Start thermal runaway in the pack at position ``i`` (fault injection)."""
        if self.F[i, F_RUNAWAY] == 0:
            self.F[i, F_RUNAWAY] = 1
            self.S[i, S_RW_LEFT] = self.P[i, P_ERW]
            self.F[i, F_STATE] = bms.STATE_FAULT
            self.F[i, F_TRIP] = bms.TRIP_RUNAWAY
            self._stale = True

    # -- external BMS (hardware in the loop) ---------------------------------------------
    def bind_external(self, idx: np.ndarray | list[int]) -> None:
        """Hand the packs at ``idx`` to an external BMS: from now on their state, event word and current
        limits come from :meth:`set_external` (until then: contactor open, limits 0)."""
        idx = np.asarray(idx, dtype=np.int64)
        self.F[idx, F_EXT] = 1
        self.set_external(
            idx,
            np.full(len(idx), bms.STATE_DISCONNECTED),
            np.zeros(len(idx), dtype=np.int64),
            np.zeros(len(idx)),
            np.zeros(len(idx)),
        )

    def set_external(
        self,
        idx: np.ndarray,
        state: np.ndarray,
        evt1: np.ndarray,
        i_charge_max_a: np.ndarray,
        i_discharge_max_a: np.ndarray,
    ) -> None:
        """What the external BMS of the packs at ``idx`` said this step (SunSpec 802 State and Evt1, current
        limits >= 0 in A). A state other than CONNECTED takes the pack out of the dispatch; the limits
        cap its current from the next step on. A pack in thermal runaway stays in FAULT."""
        idx = np.asarray(idx, dtype=np.int64)
        rw = self.F[idx, F_RUNAWAY] > 0
        self.F[idx, F_STATE] = np.where(rw, bms.STATE_FAULT, np.asarray(state, dtype=np.int64))
        self.F[idx, F_EVT] = np.asarray(evt1, dtype=np.int64)
        self.P[idx, P_XICH] = np.maximum(np.asarray(i_charge_max_a, dtype=float), 0.0)
        self.P[idx, P_XIDIS] = np.maximum(np.asarray(i_discharge_max_a, dtype=float), 0.0)
        self._stale = True

    @property
    def external(self) -> np.ndarray:
        return self.F[:, F_EXT].astype(bool)

    # -- ambient ------------------------------------------------------------------------
    def set_ambient(self, temp_c: float, ghi_w_m2: float) -> None:
        self.temp_amb_c = float(temp_c)
        self.ghi_w_m2 = float(ghi_w_m2)

    # -- aggregates -------------------------------------------------------------------
    def totals(self) -> dict[str, float]:
        self._refresh(self._dt_s if self._dt_s > 0 else 1.0)
        st = self._stats
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

    def pack_energy_balance_error_j(self) -> np.ndarray:
        """Per pack, since construction: DC energy in - (stored change - parameter changes + cell losses),
        and AC energy in - (DC energy in + converter losses). Both ~0 (round-off) for a model that keeps
        its books; returns the larger magnitude per pack."""
        S = self.S
        d_e = self._e_pack_j() - self._e_start_pack
        err_dc = S[:, S_W_DC] - (d_e - S[:, S_E_PARAM] + S[:, S_L_CELL])
        err_ac = S[:, S_W_AC] - (S[:, S_W_DC] + S[:, S_L_CONV] + S[:, S_L_HEAT])
        return np.maximum(np.abs(err_dc), np.abs(err_ac))

    def reset_books(self) -> None:
        """Start the per-pack energy books from the current state."""
        self.S[:, [S_W_AC, S_W_DC, S_L_CELL, S_L_CONV, S_E_PARAM, S_THRU, S_L_HEAT]] = 0.0
        self._e_start_pack = self._e_pack_j()

    def param_change_j(self) -> float:
        """Stored energy changed by parameter changes since the books started (J)."""
        return float(self.S[:, S_E_PARAM].sum())

    def snapshot(self) -> dict[str, np.ndarray]:
        """Per-pack state for the results (copies, SI units as named)."""
        S, F = self.S, self.F
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
            "soh_frac": self.q_frac.copy(),
            "r_factor": self.r_factor.copy(),
            "bms_state": F[:, F_STATE].copy(),
            "bms_evt1": F[:, F_EVT].copy(),
            "in_service": F[:, F_SERVICE].copy(),
        }

    def summary(self) -> dict:
        """Fleet figures for summary.json: packs out, SoH and capacity at start and now, throughput,
        losses, temperatures, fade per chemistry."""
        inv, S, F = self.inv, self.S, self.F
        q0, q1 = self.soh_start, self.q_frac
        e_max_start = float(self._e_max_start_j.sum() / 3.6e9)
        e_max_now = float(S[:, S_EMAX].sum() / 3.6e9)
        thru_mwh = float(S[:, S_THRU].sum() / 3.6e9)
        out_op = np.flatnonzero(F[:, F_SERVICE] == 0)
        fault = np.flatnonzero(F[:, F_STATE] == bms.STATE_FAULT)
        rw = np.flatnonzero(F[:, F_RUNAWAY] > 0)

        def stats(x: np.ndarray) -> dict[str, float]:
            return {"min": round(float(x.min()), 5), "mean": round(float(x.mean()), 5), "max": round(float(x.max()), 5)}

        by_chem = {}
        for k, c in enumerate(CHEMISTRY_NAMES):
            m = self.chem_idx == k
            if not m.any():
                continue
            e0 = float(self._e_max_start_j[m].sum() / 3.6e9)
            e1 = float(S[m, S_EMAX].sum() / 3.6e9)
            by_chem[c] = {
                "n_packs": int(m.sum()),
                "soh_start_mean": round(float(q0[m].mean()), 5),
                "soh_end_mean": round(float(q1[m].mean()), 5),
                "capacity_fade_frac": round((e0 - e1) / e0, 6) if e0 > 0 else 0.0,
                "r_factor_end_mean": round(float(self.r_factor[m].mean()), 5),
                "efc_mean": round(float((S[m, S_THRU] / 2.0 / np.maximum(S[m, S_EMAX], 1.0)).mean()), 3),
            }
        b = self.books()
        return {
            "n_packs": int(inv.n_packs),
            "packs_tripped_by_operator": [int(x) for x in inv.pack_id[out_op]],
            "packs_tripped_by_bms": [int(x) for x in inv.pack_id[fault]],
            "packs_thermal_runaway": [int(x) for x in inv.pack_id[rw]],
            "n_packs_flagged_weak": int(self.flagged.sum()),
            "soh_frac_start": stats(q0),
            "soh_frac_end": stats(q1),
            "r_factor_end": stats(self.r_factor),
            "capacity_mwh_start": round(e_max_start, 4),
            "capacity_mwh_end": round(e_max_now, 4),
            "capacity_fade_frac": round((e_max_start - e_max_now) / e_max_start, 6) if e_max_start > 0 else 0.0,
            "throughput_dc_mwh": round(thru_mwh, 4),
            "efc_fleet": round(thru_mwh / 2.0 / e_max_start, 4) if e_max_start > 0 else 0.0,
            "loss_cell_mwh": round(b["loss_cell_mwh"], 5),
            "loss_converter_mwh": round(b["loss_conv_mwh"], 5),
            "pack_temp_max_c": round(float(S[:, S_TMAX].max()), 3),
            "ageing_applied_s": round(float(self.ageing.t_s), 1) if self.ageing is not None else 0.0,
            "by_chemistry": by_chem,
        }

    def books(self) -> dict[str, float]:
        """Fleet energy books since construction (MWh)."""
        S = self.S
        return {
            "ac_in_mwh": float(S[:, S_W_AC].sum() / 3.6e9),
            "dc_in_mwh": float(S[:, S_W_DC].sum() / 3.6e9),
            "loss_cell_mwh": float(S[:, S_L_CELL].sum() / 3.6e9),
            "loss_conv_mwh": float(S[:, S_L_CONV].sum() / 3.6e9),
            "thermal_mgmt_mwh": float(S[:, S_L_HEAT].sum() / 3.6e9),
            "param_change_mwh": float(S[:, S_E_PARAM].sum() / 3.6e9),
        }


# ----------------------------------------------------------------------------------------
# Compiled kernels. Conventions: W, J, A, V, s inside; i > 0 charging.
# ----------------------------------------------------------------------------------------
@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _seg(s: float) -> tuple[int, float]:  # pragma: no cover - compiled
    x = s * _N_GRID
    j = int(np.floor(x))
    if j < 0:
        j = 0
    elif j > _N_GRID - 1:
        j = _N_GRID - 1
    return j, (s - j / _N_GRID)


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _ocv(tab: np.ndarray, c: int, s: float) -> float:  # pragma: no cover
    j, ds = _seg(s)
    return tab[c, j] + (tab[c, j + 1] - tab[c, j]) * _N_GRID * ds


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _ocv_int(tab: np.ndarray, cum: np.ndarray, c: int, s: float) -> float:  # pragma: no cover
    """∫_0^s OCV dsoc (exact for the piecewise-linear table; linear extrapolation outside [0, 1])."""
    j, ds = _seg(s)
    slope = (tab[c, j + 1] - tab[c, j]) * _N_GRID
    return cum[c, j] + tab[c, j] * ds + 0.5 * slope * ds * ds


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _w_step(i_a, f0, s0, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c):  # pragma: no cover
    """Energy into the pack terminals over ``dt`` at constant current ``i_a`` (J) and dW/di.
    ``f0`` = ∫_0^s0 OCV; ``a_k`` = exp(-dt / tau_k), ``b_k`` = tau_k (1 - a_k)."""
    s1 = s0 + i_a * dt / qas
    j, ds = _seg(s1)
    slope = (tab[c, j + 1] - tab[c, j]) * _N_GRID
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


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _solve_current(p_w, f0, e0, s0, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c):  # pragma: no cover
    """Constant current over the step whose mean terminal power is ``p_w`` (Newton from the
    root of P = i (E + i R0), E = ``e0`` the EMF at the step start)."""
    if p_w == 0.0:
        return 0.0, 0.0
    disc = e0 * e0 + 4.0 * r0 * p_w
    i_a = 2.0 * p_w / (e0 + np.sqrt(disc)) if disc > 0.0 else -e0 / (2.0 * r0)
    target = p_w * dt
    w = 0.0
    for _ in range(12):
        w, dw = _w_step(i_a, f0, s0, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
        g = w - target
        if abs(g) <= 1e-11 * abs(target) + 1e-9:
            return i_a, w
        if dw <= 0.0:  # past the maximum power point: stay at it
            break
        i_a -= g / dw
    w, _ = _w_step(i_a, f0, s0, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
    return i_a, w


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _conv_dc_from_ac(p_ac, pr, c0, c1, c2):  # pragma: no cover
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


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _conv_ac_from_dc(p_dc, pr, c0, c1, c2):  # pragma: no cover
    if p_dc == 0.0:
        return 0.0
    loss = c0 * pr + c1 * abs(p_dc) + c2 * p_dc * p_dc / pr
    return p_dc + loss


@numba.njit(cache=True, fastmath=_FM, error_model="numpy")
def _stored_energy(P, S, tab, cum, chem, e):  # pragma: no cover
    for i in range(e.shape[0]):
        c = chem[i]
        e_chem = P[i, P_NS] * P[i, P_QAS] * _ocv_int(tab, cum, c, S[i, S_SOC])
        e_pol = 0.5 * (P[i, P_TAU1] * S[i, S_G1] * S[i, S_V1] ** 2 + P[i, P_TAU2] * S[i, S_G2] * S[i, S_V2] ** 2)
        e[i] = e_chem + e_pol


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _pack_refresh(i, c, on, P, S, F, D, dt, tab, cum, rmult, th):  # pragma: no cover - compiled
    """One pack, for its state now: resistances (SoC, temperature; the polarisation energy re-booked at
    fixed v_k), BMS current limits and AC power limits over the next ``dt``, split weights.
    Returns (charge limit W, discharge limit W, stored energy J)."""
    s = S[i, S_SOC]
    temp = S[i, S_TEMP]
    ns = P[i, P_NS]
    qas = P[i, P_QAS]
    # Arrhenius factor of the resistances, re-evaluated when the pack's temperature has moved by more
    # than 0.01 K (a 0.03 % change at most; the resistances are then used consistently for the step)
    if abs(temp - S[i, S_TFA]) > 0.01:
        S[i, S_FA] = np.exp(P[i, P_EA] * (1.0 / R_GAS_J_MOL_K) * (1.0 / (temp + 273.15) - 1.0 / T_REF_K))
        S[i, S_TFA] = temp
    fa = S[i, S_FA]
    j, ds = _seg(s)
    m = (rmult[c, j] + (rmult[c, j + 1] - rmult[c, j]) * _N_GRID * ds) * fa
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
    slope = (tab[c, j + 1] - tab[c, j]) * _N_GRID
    f0 = cum[c, j] + tab[c, j] * ds + 0.5 * slope * ds * ds
    ocv0 = tab[c, j] + slope * ds
    e_pack = ns * qas * f0 + e_pol_new
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
    dtq = dt * P[i, P_INV_QAS]
    inv_dtq = 1.0 / dtq
    if F[i, F_EXT] != 0:
        # a hardware BMS sets the limits (read over the line every step)
        i_ch = P[i, P_XICH]
        i_dis = P[i, P_XIDIS]
    else:
        # stage 2 of the BMS: current limits derated by temperature and SoC (th[13]: 1 / taper, th[14]: 1 / band)
        i_ch = (
            P[i, P_ICH]
            * bms.temp_derate(temp, P[i, P_TCH_MIN], P[i, P_TCH_MAX], th[8], th[14])
            * bms.soc_derate(hi - s, th[13])
        )
        i_dis = (
            P[i, P_IDIS]
            * bms.temp_derate(temp, P[i, P_TDIS_MIN], P[i, P_TDIS_MAX], th[8], th[14])
            * bms.soc_derate(s - lo, th[13])
        )
        # cell cut-offs at the end of the step (mean cell and weakest cell)
        inv_ns = P[i, P_INV_NS]
        r_eff = r0 + r1 * (1.0 - a1) + r2 * (1.0 - a2)
        v_rc = (v1 * a1 + v2 * a2) * inv_ns
        wr = P[i, P_WR]
        v_mean0 = ocv0 + v_rc
        inv_k_mean = 1.0 / (r_eff * inv_ns + slope * dtq)
        jw, dsw = _seg(S[i, S_SOCW])
        slope_w = (tab[c, jw + 1] - tab[c, jw]) * _N_GRID
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
    pr = P[i, P_PCONV]
    p_heat, _ = _thermal_mgmt_w(P[i, P_HEAT], P[i, P_COOL], temp, s, th)  # its draw over the next step
    inv_dt = 1.0 / dt
    w, _ = _w_step(i_ch, f0, s, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
    x = w * inv_dt + p_heat
    p_ch = _conv_ac_from_dc(x, pr, P[i, P_C0], P[i, P_C1], P[i, P_C2]) if w > 0.0 and x > 0.0 else 0.0
    w, _ = _w_step(-i_dis, f0, s, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
    x = w * inv_dt + p_heat
    p_dis = -_conv_ac_from_dc(x, pr, P[i, P_C0], P[i, P_C1], P[i, P_C2]) if x < 0.0 else 0.0
    p_ch = p_ch if p_ch < pr else pr
    p_dis = p_dis if p_dis < pr else pr
    p_dis = p_dis if p_dis > 0.0 else 0.0
    S[i, S_PCH] = p_ch
    S[i, S_PDIS] = p_dis
    wgt = P[i, P_WEIGHT] * S[i, S_EMAX]
    S[i, S_WC] = (hi - s) * wgt if hi > s else 0.0
    S[i, S_WD] = (s - lo) * wgt if s > lo else 0.0
    return p_ch, p_dis, e_pack


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _thermal_mgmt_w(heat_max, cool_max, temp, soc, th):  # pragma: no cover - compiled
    """The enclosure's thermal management, fed by the pack's cells: (electric power W, heat into the
    pack W). Heater: full below set - band, off above set (th[10] set, th[15] 1 / band). Cooler: no
    heat removal below its set point, full above set + band (th[16] set, th[17] 1 / band), electric
    power = heat removed / COP (th[18] 1 / COP). Both off at or below SoC th[12]."""
    if soc <= th[12]:
        return 0.0, 0.0
    x = (th[10] - temp) * th[15]
    heat = heat_max * (0.0 if x <= 0.0 else (1.0 if x >= 1.0 else x))
    x = (temp - th[16]) * th[17]
    cool = cool_max * (0.0 if x <= 0.0 else (1.0 if x >= 1.0 else x))
    return heat + cool * th[18], heat - cool


@numba.njit(cache=True, fastmath=_FM, error_model="numpy")
def _kernel(
    do_step,
    P,
    S,
    F,
    D,
    act,
    p_block,
    weights,
    starts,
    ends,
    dt,
    tab,
    cum,
    rmult,
    chem,
    t_amb,
    ghi,
    nb_ptr,
    nb_idx,
    nb_g,
    th,
    blk_on,
    p_pack,
    short,
    temp_old,
    out,
    block_ch,
    block_dis,
    block_p,
    st,
):  # pragma: no cover - compiled; tested through BatteryFleet
    """The fleet's one pass. With ``do_step``: split each block's power over its packs, then per pack
    converter, equivalent circuit, weakest cell, thermal and BMS over ``dt``. Always: per pack its
    limits and weights for the next step (:func:`_pack_refresh`), block sums and fleet stats ``st``.
    ``out`` = [converter loss W, cell loss W, new trips, new runaways, thermal management power W,
    packs newly in alarm]."""
    n = chem.shape[0]
    use_w = weights.shape[0] > 0
    loss_conv = 0.0
    loss_cell = 0.0
    heat_sum = 0.0
    n_trip = 0
    n_rw = 0
    n_new_alarm = 0
    inv_dt = 1.0 / dt
    rw_rate_dt = dt / th[9]
    if do_step:
        _split(p_block, weights, use_w, starts, ends, S, p_pack, short, temp_old)
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
                j, ds = _seg(s)
                slope = (tab[c, j + 1] - tab[c, j]) * _N_GRID
                f0 = cum[c, j] + tab[c, j] * ds + 0.5 * slope * ds * ds
                e0 = ns * (tab[c, j] + slope * ds) + v1 + v2
                pr = P[i, P_PCONV]
                p_ac = p_pack[i] if act[i] else 0.0
                p_dc = _conv_dc_from_ac(p_ac, pr, P[i, P_C0], P[i, P_C1], P[i, P_C2])
                # enclosure heater and cooler (thermostats on the step-start temperature), fed by the cells
                p_heat, q_tm = _thermal_mgmt_w(P[i, P_HEAT], P[i, P_COOL], S[i, S_TEMP], s, th)
                if F[i, F_RUNAWAY] != 0:
                    p_heat = 0.0
                    q_tm = 0.0
                i_a, w = _solve_current(
                    p_dc - p_heat, f0, e0, s, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c
                )
                clamped = False
                if i_a > S[i, S_ICH]:
                    i_a = S[i, S_ICH]
                    clamped = True
                elif i_a < -S[i, S_IDIS]:
                    i_a = -S[i, S_IDIS]
                    clamped = True
                if clamped:  # the BMS limit holds
                    w, _ = _w_step(i_a, f0, s, v1, v2, qas, ns, r0, r1, r2, a1, a2, b1, b2, dt, tab, cum, c)
                    if i_a <= 0.0:  # the cells cannot give more: thermal management gets what is left
                        x = p_dc - w * inv_dt
                        x = x if x > 0.0 else 0.0
                        if x < p_heat:
                            q_tm = q_tm * x / p_heat
                            p_heat = x
                p_dc_act = w * inv_dt + p_heat  # at the converter's DC side
                if clamped:
                    p_ac_act = (
                        _conv_ac_from_dc(p_dc_act, pr, P[i, P_C0], P[i, P_C1], P[i, P_C2]) if p_ac != 0.0 else 0.0
                    )
                    # never more than asked (a tiny DC flow would otherwise carry the whole no-load loss)
                    if (p_ac > 0.0 and p_ac_act > p_ac) or (p_ac < 0.0 and p_ac_act < p_ac):
                        p_ac_act = p_ac
                    short_b += abs(p_ac - p_ac_act)
                else:
                    p_ac_act = p_ac  # (a charge setpoint below the no-load loss moves no DC power: all loss)
                p_pack[i] = p_ac_act
                bp += p_ac_act
                lc = p_ac_act - p_dc_act
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
                vt = ns * _ocv(tab, c, s_new) + v_ir
                S[i, S_VT] = vt
                v_mean = vt * P[i, P_INV_NS]
                v_weak = _ocv(tab, c, sw_new) + P[i, P_WR] * v_ir * P[i, P_INV_NS]
                S[i, S_VCMAX] = v_mean if v_mean > v_weak else v_weak
                S[i, S_VCMIN] = v_mean if v_mean < v_weak else v_weak
                S[i, S_PAC] = p_ac_act
                S[i, S_PDC] = p_dc_act
                S[i, S_W_AC] += p_ac_act * dt
                S[i, S_W_DC] += w
                S[i, S_THRU] += abs(w)
                S[i, S_L_HEAT] += p_heat * dt
                S[i, S_PHEAT] = p_heat
                S[i, S_L_CELL] += l_cell
                S[i, S_L_CONV] += lc * dt
                heat_sum += p_heat
                loss_conv += lc
                loss_cell += l_cell * inv_dt
                # thermal: exact exponential update, neighbours at their start-of-step temperature
                q = l_cell * inv_dt + q_tm + P[i, P_SOLAR] * ghi
                if F[i, F_RUNAWAY] == 1:
                    rel = P[i, P_ERW] * rw_rate_dt
                    if rel >= S[i, S_RW_LEFT]:
                        rel = S[i, S_RW_LEFT]
                        F[i, F_RUNAWAY] = 2
                    S[i, S_RW_LEFT] -= rel
                    q += rel * inv_dt
                g = P[i, P_UA]
                gt = g * t_amb
                for k in range(nb_ptr[i], nb_ptr[i + 1]):
                    g += nb_g[k]
                    gt += nb_g[k] * temp_old[nb_idx[k]]
                t_inf = (gt + q) / g
                t_new = t_inf + (temp_old[i] - t_inf) * D[i, D_ATH]
                S[i, S_TEMP] = t_new
                if t_new > S[i, S_TMAX]:
                    S[i, S_TMAX] = t_new
                # BMS: event word, protection (latched), runaway onset
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
                    F[i, F_RUNAWAY] = 1
                    S[i, S_RW_LEFT] = P[i, P_ERW]
                    trip = bms.TRIP_RUNAWAY
                    n_rw += 1
                if F[i, F_RUNAWAY] > 0:
                    evt |= (1 << bms.OTHER_ALARM) | (1 << bms.OVER_TEMP_ALARM)
                if F[i, F_EXT] != 0:  # the hardware BMS protects this pack (a runaway still ends it)
                    if F[i, F_RUNAWAY] > 0 and F[i, F_STATE] != bms.STATE_FAULT:
                        F[i, F_STATE] = bms.STATE_FAULT
                        F[i, F_TRIP] = bms.TRIP_RUNAWAY
                        n_trip += 1
                    F[i, F_NEW_ALARM] = 0
                else:
                    if trip != bms.TRIP_NONE and F[i, F_STATE] != bms.STATE_FAULT:
                        F[i, F_STATE] = bms.STATE_FAULT
                        F[i, F_TRIP] = trip
                        n_trip += 1
                    new_alarm = (evt & bms.ALARM_MASK) != 0 and (F[i, F_EVT] & bms.ALARM_MASK) == 0
                    F[i, F_NEW_ALARM] = new_alarm
                    n_new_alarm += new_alarm
                    F[i, F_EVT] = evt
            # limits and weights for the next step; stats
            on = F[i, F_SERVICE] > 0 and F[i, F_STATE] == bms.STATE_CONNECTED and blk_on[b]
            act[i] = on
            p_ch, p_dis, e_pack = _pack_refresh(i, c, on, P, S, F, D, dt, tab, cum, rmult, th)
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
        out[0] = loss_conv
        out[1] = loss_cell
        out[2] = n_trip
        out[3] = n_rw
        out[4] = heat_sum
        out[5] = n_new_alarm


@numba.njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _split(p_block, weights, use_w, starts, ends, S, p_pack, short, wbuf):  # pragma: no cover - compiled
    """Each block's AC power over its packs: p_i = min(lim_i, w_i f) with f such that the packs sum to
    the block's power (capped proportional split, "water filling"), found exactly by sorting the packs
    by the f at which each one caps (lim_i / w_i). Writes ``p_pack`` (+ charging) and ``short``
    (per block, what no pack can take, >= 0)."""
    for b in range(starts.shape[0]):
        s0, s1 = starts[b], ends[b]
        pb = p_block[b]
        charging = pb >= 0.0
        mag = abs(pb)
        cap = 0.0
        wsum = 0.0
        for i in range(s0, s1):
            lim = S[i, S_PCH] if charging else S[i, S_PDIS]
            if use_w:
                w = weights[i] if weights[i] > 0.0 else 0.0
            else:
                w = S[i, S_WC] if charging else S[i, S_WD]
            if lim <= 0.0:
                w = 0.0
            elif w <= 0.0:
                w = lim * 1e-9  # headroom but no weight: a share as a last resort
            wbuf[i] = w
            cap += lim
            wsum += w
        if mag >= cap:  # every pack at its limit
            for i in range(s0, s1):
                p_pack[i] = S[i, S_PCH] if charging else S[i, S_PDIS]
            rem = mag - cap
        else:
            for i in range(s0, s1):  # f at which each pack caps
                lim = S[i, S_PCH] if charging else S[i, S_PDIS]
                p_pack[i] = lim / wbuf[i] if wbuf[i] > 0.0 else np.inf
            order = np.argsort(p_pack[s0:s1])
            nb_ = order.shape[0]
            # weights of the packs from k on, summed from the end (a running difference would lose
            # the small weights to rounding)
            wsuf = np.empty(nb_ + 1)
            wsuf[nb_] = 0.0
            for k in range(nb_ - 1, -1, -1):
                wsuf[k] = wsuf[k + 1] + wbuf[s0 + order[k]]
            l_capped = 0.0
            kfree = nb_  # first pack (in sorted order) below its cap; nb_: none
            for k in range(nb_):
                i = s0 + order[k]
                if wbuf[i] <= 0.0:
                    break
                f = (mag - l_capped) / wsuf[k]
                if p_pack[i] > f:
                    kfree = k
                    break
                l_capped += S[i, S_PCH] if charging else S[i, S_PDIS]
            if kfree == nb_:  # every pack capped (the request equals the block's limit up to rounding)
                scale = mag / cap if cap > mag else 1.0  # never more than asked
                for i in range(s0, s1):
                    p_pack[i] = (S[i, S_PCH] if charging else S[i, S_PDIS]) * scale
                rem = mag - cap if mag > cap else 0.0
            else:
                x = mag - l_capped
                f = (x if x > 0.0 else 0.0) / wsuf[kfree]
                tot = 0.0
                for i in range(s0, s1):
                    lim = S[i, S_PCH] if charging else S[i, S_PDIS]
                    x = wbuf[i] * f
                    p_pack[i] = x if x < lim else lim
                    tot += p_pack[i]
                rem = mag - tot if mag > tot else 0.0
        short[b] = rem if rem > 1e-6 + 1e-12 * mag else 0.0
        if not charging:
            for i in range(s0, s1):
                p_pack[i] = -p_pack[i]
