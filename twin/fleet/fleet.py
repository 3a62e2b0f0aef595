"""Second-life battery fleet: every pack an equivalent circuit, all packs in a few numpy arrays.

Each pack is ``n_series`` cells of capacity ``q_ah`` (parallel strings
lumped) behind its own DC/DC converter, so packs never share current: each
is driven by its own AC power setpoint. Per pack (submodels, each a few
lines of the compiled pass, :mod:`twin.fleet.kernel`):

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

Interface for the grid and controller: ``limits(dt_s)`` -> per-block AC
charge / discharge power the packs can take over the next step;
``step(dt_s, block_p_mw, weights)``. Adapters read the packs through
:attr:`BatteryFleet.packs` (a read-only :class:`PackView`), not the arrays.

Where things are: the arrays' layout (one named index per column) in
:mod:`twin.fleet.layout`; the compiled pass in :mod:`twin.fleet.kernel`
with its stages in :mod:`twin.fleet.split`, :mod:`twin.fleet.circuit`,
:mod:`twin.fleet.thermal`, :mod:`twin.fleet.bms` and :mod:`twin.fleet.limits`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.config import CHEMISTRY_NAMES, FleetModelConfig
from twin.fleet import bms, report
from twin.fleet.ageing import FleetAgeing, StressAccumulator
from twin.fleet.chemistry import ocv_cell_v
from twin.fleet.circuit import chemistry_tables, stored_energy
from twin.fleet.inventory import FleetInventory
from twin.fleet.kernel import fleet_pass
from twin.fleet.layout import (
    F_EVT,
    F_EXT,
    F_RUNAWAY,
    F_SERVICE,
    F_STATE,
    F_TRIP,
    N_D,
    N_F,
    N_OUT,
    N_S,
    N_ST,
    OUT_LOSS_CELL_W,
    OUT_LOSS_CONV_W,
    OUT_N_NEW_ALARM,
    OUT_N_RUNAWAY,
    OUT_N_TRIPS,
    OUT_THERMAL_MGMT_W,
    P_ERW,
    P_G1,
    P_G2,
    P_INV_WQ,
    P_NS,
    P_QAS,
    P_R0,
    P_R2,
    P_SOC_HI,
    P_SOC_LO,
    P_VMAX,
    P_VMIN,
    P_WQ,
    P_WR,
    P_XICH,
    P_XIDIS,
    S_E_PARAM,
    S_EMAX,
    S_G1,
    S_G2,
    S_ICH,
    S_IDIS,
    S_PCH,
    S_PDIS,
    S_R0,
    S_R2,
    S_RW_LEFT,
    S_SOC,
    S_SOCW,
    S_TEMP,
    S_TFA,
    S_TMAX,
    S_VCMAX,
    S_VCMIN,
    S_VT,
    S_WC,
    S_WD,
    TH_TEMP_TRIP_C,
    TH_TEMP_WARN_MARGIN_C,
    TH_V_TRIP_MARGIN_V,
)
from twin.fleet.params import pack_parameters, set_capacity_and_resistance, step_constants, thresholds
from twin.fleet.start_state import merge_start_state
from twin.fleet.view import PackView

__all__ = ["BatteryFleet", "FleetStep", "PackView"]


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
        self.params = pp = pack_parameters(cfg, inventory, pack_converter_kw)
        self.P = P = pp.P
        self.chem_idx = chem_idx = pp.chem_idx
        self.q_nom_ah = pp.q_nom_ah
        self.flagged = pp.flagged  # packs with a reduced SoC window (BMS policy for weak packs)
        self.nb_ptr, self.nb_idx, self.nb_g = pp.nb_ptr, pp.nb_idx, pp.nb_g
        self.soh_start = inventory.soh_frac.copy()
        self.q_frac = inventory.soh_frac.copy()  # capacity relative to nameplate (ageing moves it)
        self.r_factor = inventory.r_factor.copy()
        self._f_full = self.ocv_cum[chem_idx, -1]  # ∫_0^1 OCV dsoc per pack
        self._set_capacity_and_resistance(self.q_frac, self.r_factor, book=False)

        S = np.zeros((n, N_S))
        S[:, S_EMAX] = P[:, P_NS] * P[:, P_QAS] * self._f_full
        self.S = S
        F = np.zeros((n, N_F), dtype=np.int64)
        F[:, F_SERVICE] = 1
        F[:, F_STATE] = bms.STATE_CONNECTED
        self.F = F
        self.block_in_service = np.ones(n_blocks, dtype=bool)
        self._bms_th = thresholds(cfg)
        self._block_ch, self._block_dis = np.zeros(n_blocks), np.zeros(n_blocks)
        self._block_p = np.zeros(n_blocks)
        self._stats = np.zeros(N_ST)
        self._act = np.ones(n, dtype=np.bool_)
        self._no_weights = np.empty(0)
        self._p_pack = np.zeros(n)
        self._short = np.zeros(n_blocks)
        self._tmp = np.zeros(n)
        self._out = np.zeros(N_OUT)
        self.temp_amb_c = temp_start_c
        self.ghi_w_m2 = 0.0
        # ageing: stress aggregates every step, capacity and resistance every update_every_s
        self.ageing = (
            FleetAgeing(inventory.chemistry, inventory.soh_frac, inventory.r_factor, second_life=cfg.ageing.second_life)
            if cfg.ageing.enabled
            else None
        )
        self.stress: StressAccumulator | None = None  # made by _start_state
        self._t_age_s = 0.0
        self.D = np.zeros((n, N_D))
        self._dt_d = -1.0
        self._dt_s = -1.0
        # the compiled pass's arguments, grouped (tuples of the arrays above, which are only ever changed in place)
        self._packs_args = (P, S, F, self.D, chem_idx, self._act)
        self._tables = (self.ocv_tab, self.ocv_cum, self.rmult_tab)
        self._yard = (self.nb_ptr, self.nb_idx, self.nb_g)
        self._blocks = (self._starts, self._ends, self.block_in_service)
        self._res = (
            self._p_pack,
            self._short,
            self._block_ch,
            self._block_dis,
            self._block_p,
            self._out,
            self._stats,
            self._tmp,
        )
        self._view = PackView(self)
        self._stepped = False
        soc0 = min(max(cfg.soc_start_frac, 0.0), 1.0)
        self._start_state(np.minimum(soc0, P[:, P_SOC_HI]), np.full(n, float(temp_start_c)))

    def _start_state(self, soc_frac: np.ndarray, temp_c: np.ndarray) -> None:
        """The packs at rest at ``soc_frac`` and ``temp_c`` (per pack) before the first step, and everything
        derived from them: resistances, cell and terminal voltages at rest (OCV), limits, the ageing
        stress's start, the energy books and the capacity at start."""
        S, P = self.S, self.P
        S[:, S_SOC] = soc_frac
        S[:, S_SOCW] = soc_frac
        S[:, S_TEMP] = temp_c
        S[:, S_TMAX] = temp_c
        S[:, S_TFA] = np.inf  # Arrhenius factor not evaluated yet
        S[:, S_R0 : S_R2 + 1] = P[:, P_R0 : P_R2 + 1]  # refreshed to the state below
        S[:, S_G1], S[:, S_G2] = P[:, P_G1], P[:, P_G2]
        self.stress = StressAccumulator(len(S), S[:, S_SOC].copy()) if self.cfg.ageing.enabled else None
        self._stale = True
        self._refresh(1.0)
        for k, c in enumerate(CHEMISTRY_NAMES):  # cell voltages at rest
            m = self.chem_idx == k
            S[m, S_VCMAX] = S[m, S_VCMIN] = ocv_cell_v(c, S[m, S_SOC])
            S[m, S_VT] = P[m, P_NS] * S[m, S_VCMAX]  # the terminal voltage at rest, before any step
        self._stale = True
        self._refresh(1.0)
        self.reset_books()  # the first refresh set the state's resistances: not a change to book
        self._e_max_start_j = S[:, S_EMAX].copy()

    def set_start_state(self, soc_frac: np.ndarray | None = None, temp_c: np.ndarray | None = None) -> list[str]:
        """Start the packs from a recorded state (before the first step); returns what was set, for the results.

        ``soc_frac`` [0-1] and ``temp_c`` [degC]: per pack, shape (n_packs,), NaN keeps the pack's value.
        SoC is clipped to each pack's window [P_SOC_LO, P_SOC_HI] (as the constructor caps the scenario's
        start SoC); the packs are at rest (cell voltages at the OCV) and everything derived from the state
        is redone (limits, ageing stress start, energy books from here, capacity at start)."""
        if self._stepped:
            raise ValueError("the fleet's start state can only be set before its first step")
        S, P = self.S, self.P
        soc, temp, out = merge_start_state(S[:, S_SOC], S[:, S_TEMP], P[:, P_SOC_LO], P[:, P_SOC_HI], soc_frac, temp_c)
        self._start_state(soc, temp)
        return out

    # -- parameters -------------------------------------------------------------------
    def _set_capacity_and_resistance(self, q_frac: np.ndarray, r_factor: np.ndarray, book: bool = True) -> None:
        """Capacity (SoC kept) and resistances at 25 degC / SoC 0.5 from the ageing state; the stored
        energy that changes with them is booked in E_param."""
        e0 = self._e_pack_j() if book else None
        self.q_frac = np.asarray(q_frac, dtype=float).copy()
        self.r_factor = np.asarray(r_factor, dtype=float).copy()
        set_capacity_and_resistance(self.params, self.q_frac, self.r_factor, self.cfg)
        P = self.P
        if hasattr(self, "S"):
            self.S[:, S_EMAX] = P[:, P_NS] * P[:, P_QAS] * self._f_full
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
    def packs(self) -> PackView:
        """The packs' state, read-only and by name (what adapters and tests read)."""
        return self._view

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

    def block_soc_frac(self) -> np.ndarray:
        """Per battery block: its packs' SoC weighted by their usable energy (as the block's EMS reports it)."""
        blk, w = self.inv.block, self.e_max_mwh
        return np.bincount(blk, w * self.S[:, S_SOC], self.n_blocks) / np.maximum(
            np.bincount(blk, w, self.n_blocks), 1e-12
        )

    def block_energy_mwh(self) -> tuple[np.ndarray, np.ndarray]:
        """Per battery block: stored energy (chemical + polarisation, as the fleet's ``e_stored_mwh``) and
        the packs' energy between SoC 0 and 1 (as ``e_max_mwh``); their sums give the fleet's ``soc_frac``."""
        blk = self.inv.block
        e = np.bincount(blk, self._e_pack_j(), self.n_blocks) / 3.6e9
        return e, np.bincount(blk, self.S[:, S_EMAX], self.n_blocks) / 3.6e9

    def _e_pack_j(self) -> np.ndarray:
        P, S = self.P, self.S
        e = np.empty(self.inv.n_packs)
        stored_energy(P, S, self.ocv_tab, self.ocv_cum, self.chem_idx, e)
        return e

    def _refresh(self, dt_s: float) -> None:
        """Limits over the next ``dt_s``, split weights and stats for the current state."""
        if not self._stale and dt_s == self._dt_s:
            return
        self._step_constants(dt_s)
        fleet_pass(
            False,
            dt_s,
            self._no_weights,
            self._no_weights,
            self.temp_amb_c,
            self.ghi_w_m2,
            self._bms_th,
            self._packs_args,
            self._tables,
            self._yard,
            self._blocks,
            self._res,
        )
        self._dt_s = dt_s
        self._stale = False

    def _step_constants(self, dt_s: float) -> None:
        """Per-pack constants of a step length (exponentials of the RC and thermal responses)."""
        if dt_s == self._dt_d:
            return
        step_constants(self.P, self.D, dt_s)
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
        fleet_pass(
            True,
            dt_s,
            p_block,
            w,
            self.temp_amb_c,
            self.ghi_w_m2,
            self._bms_th,
            self._packs_args,
            self._tables,
            self._yard,
            self._blocks,
            self._res,
        )
        self._dt_s = dt_s  # the kernel left every pack's limits for the next step of this length
        self._stale = False
        self._stepped = True
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
            loss_p_mw=(out[OUT_LOSS_CONV_W] + out[OUT_LOSS_CELL_W] + out[OUT_THERMAL_MGMT_W]) * 1e-6,
            loss_conv_p_mw=out[OUT_LOSS_CONV_W] * 1e-6,
            loss_cell_p_mw=out[OUT_LOSS_CELL_W] * 1e-6,
            thermal_mgmt_p_mw=out[OUT_THERMAL_MGMT_W] * 1e-6,
            n_new_trips=int(out[OUT_N_TRIPS]),
            n_new_runaway=int(out[OUT_N_RUNAWAY]),
            n_new_alarm=int(out[OUT_N_NEW_ALARM]),
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
            & (S[idx, S_TEMP] < th[TH_TEMP_TRIP_C] - th[TH_TEMP_WARN_MARGIN_C])
            & (S[idx, S_VCMAX] <= P[idx, P_VMAX] + th[TH_V_TRIP_MARGIN_V])
            & (S[idx, S_VCMIN] >= P[idx, P_VMIN] - th[TH_V_TRIP_MARGIN_V])
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
        """Fleet figures of the state now (stored energy, SoC range, temperatures, packs in alarm...)."""
        self._refresh(self._dt_s if self._dt_s > 0 else 1.0)
        return report.totals(self._stats)

    def pack_energy_balance_error_j(self) -> np.ndarray:
        """Per pack, since construction: DC energy in - (stored change - parameter changes + cell losses),
        and AC energy in - (DC energy in + converter losses). Both ~0 (round-off) for a model that keeps
        its books; returns the larger magnitude per pack."""
        return report.balance_error_j(self.S, self._e_pack_j() - self._e_start_pack)

    def reset_books(self) -> None:
        """Start the per-pack energy books from the current state."""
        self.S[:, report.BOOK_COLUMNS] = 0.0
        self._e_start_pack = self._e_pack_j()

    def param_change_j(self) -> float:
        """Stored energy changed by parameter changes since the books started (J)."""
        return float(self.S[:, S_E_PARAM].sum())

    def snapshot(self) -> dict[str, np.ndarray]:
        """Per-pack state for the results (copies, SI units as named)."""
        return report.snapshot(self)

    def summary(self) -> dict:
        """Fleet figures for summary.json: packs out, SoH and capacity at start and now, throughput,
        losses, temperatures, fade per chemistry."""
        return report.summary(self)

    def books(self) -> dict[str, float]:
        """Fleet energy books since construction (MWh)."""
        return report.books(self.S)
