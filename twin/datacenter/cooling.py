"""Liquid cooling of a Spark unit: three thermal nodes, heat rejection, GPU junction.

Per unit (all arrays have one entry per unit; every unit has the same plant,
:class:`twin.config.CoolingConfig`):

* **coolant** node ``c``: the technology cooling loop (cold plates, manifolds,
  the CDU's secondary side), heat capacity ``coolant_c_j_per_k``. It takes the
  share ``liquid_frac`` of IT heat and the secondary pump's power.
* **air** node ``a``: the residual air in the unit (heat not captured by the
  cold plates, plus the in-row fans), ``air_c_j_per_k``; cooled by in-row coils
  on facility water, conductance ``air_coil_ua_w_per_k``.
* **facility** water node ``f``: the primary loop, ``facility_c_j_per_k``, fed
  by the CDU (conductance ``cdu_effectiveness * min(m c_p)`` of the two loops),
  the air coils and the facility pump's power; its temperature is the supply
  temperature the heat rejection holds at ``facility_supply_c``.

Heat rejection from node ``f``: dry coolers (conductance ``dc_ua_w_per_k`` at
full fan speed, scaling as speed ** ``dc_ua_exponent``; fan power by the cube
law), with adiabatic pre-cooling of their inlet air toward the wet bulb
(``T_in = T_db - adiabatic_eff (T_db - T_wb)``) and a trim chiller (capacity
``chiller_kw``, COP a fraction of Carnot between the facility water and its own
air-cooled condenser at the ambient dry bulb, so it falls as the air gets hotter;
the fraction covers the compressor and the condenser fans).

**Regimes** follow the ambient dry bulb with a hysteresis band:
``dry`` below ``adiabatic_on_c``; ``adiabatic`` from there; ``chiller`` (the
chiller enabled, adiabatic on) from ``chiller_on_c``. Within a regime the
cheapest means come first: fan speed up to full, then the chiller trims what
is left. When even that cannot hold the set point, the water warms.

**Integration**: backward Euler on the three nodes, solved in closed form
(the node equations are linear once the rejection mode is chosen). It is
stable for any step and closes the heat books exactly in discrete form::

    (IT heat + pump and in-row fan power) dt = (dry-cooler + chiller heat) dt + sum C_i dT_i

so :attr:`Cooling.heat_in_j`, :attr:`heat_rejected_j` and :attr:`stored_j`
(books since construction) differ only by rounding.

**GPU junction**: ``T_j = T_coolant + tj_rise_full_k * P_it / P_peak``
(the cold plates' thermal resistance lumped per unit; ASSUMPTION). The power
cap that holds the slowdown temperature, ``throttle_cap_p_mw``, and the
junction temperature at shutdown are the data center's business
(:mod:`twin.datacenter.datacenter`).

Powers in MW at the interface (W inside), temperatures in degC, energies in J.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from twin.config import CoolingConfig

__all__ = ["Cooling", "CoolingStep", "REGIMES"]

REGIMES: tuple[str, ...] = ("dry", "adiabatic", "chiller")
_H_FG_J_PER_KG = 2.45e6  # latent heat of evaporation of water near 20 degC
_CP_AIR = 1006.0  # J/(kg K)


@dataclass
class CoolingStep:
    """One step of every unit's cooling plant: powers in MW (means over the step)."""

    pump_p_mw: np.ndarray  # secondary + facility pumps + adiabatic water pumps
    fan_p_mw: np.ndarray  # dry-cooler fans + in-row fans
    chiller_p_mw: np.ndarray  # trim chiller compressor
    q_dry_mw: np.ndarray  # heat rejected by the dry coolers
    q_chiller_mw: np.ndarray  # heat taken from the facility water by the chiller
    fan_speed_frac: np.ndarray
    cop: np.ndarray  # chiller COP (nan when off)
    water_l: np.ndarray  # adiabatic water evaporated in the step, litres
    regime: np.ndarray  # index into REGIMES

    @property
    def cooling_p_mw(self) -> np.ndarray:
        """(3, units): pumps, fans, chiller: the three cooling loads on each unit's 480 V bus."""
        return np.stack([self.pump_p_mw, self.fan_p_mw, self.chiller_p_mw])


@numba.njit(cache=True, error_model="numpy")
def _kernel(
    dt: float,
    p_it: np.ndarray,
    t_db: float,
    t_wb: float,
    tc: np.ndarray,
    ta: np.ndarray,
    tf: np.ndarray,
    pump_c_on: np.ndarray,
    pump_f_on: np.ndarray,
    chiller_ok: np.ndarray,
    fans_ok: np.ndarray,
    regime: np.ndarray,
    par: np.ndarray,
    o: np.ndarray,
) -> None:
    """One backward-Euler step of every unit's three nodes (updated in place); per-unit
    outputs in the rows of ``o``: pumps c/f, in-row fans, dry-cooler heat, chiller heat,
    fan speed, dry-cooler fan power, COP, chiller power, adiabatic pump, water (W, l)."""
    (
        liq,
        p_air_fan,
        p_pc,
        p_pf,
        g_cdu0,
        g_air0,
        c_c,
        c_a,
        c_f,
        ad_eff,
        ua_dc,
        ch_max0,
        t_set,
        ua_exp,
        fan_w,
        ev_app,
        cd_app,
        carnot,
        cop_max,
        ad_pump_w,
        air_flow,
    ) = (
        par[0],
        par[1],
        par[2],
        par[3],
        par[4],
        par[5],
        par[6],
        par[7],
        par[8],
        par[9],
        par[10],
        par[11],
        par[12],
        par[13],
        par[14],
        par[15],
        par[16],
        par[17],
        par[18],
        par[19],
        par[20],
    )
    for u in range(p_it.shape[0]):
        flow = pump_f_on[u]
        pc = p_pc if pump_c_on[u] else 0.0
        pf = p_pf if flow else 0.0
        q_c = liq * p_it[u] + pc
        q_a = (1.0 - liq) * p_it[u] + p_air_fan
        g_cdu = g_cdu0 if (pump_c_on[u] and flow) else 0.0
        g_air = g_air0 if flow else 0.0
        a_c, a_a, a_f = c_c / dt, c_a / dt, c_f / dt
        # T_c = al_c + be_c T_f (and the same for air), from the node's own equation
        al_c = (a_c * tc[u] + q_c) / (a_c + g_cdu)
        be_c = g_cdu / (a_c + g_cdu)
        al_a = (a_a * ta[u] + q_a) / (a_a + g_air)
        be_a = g_air / (a_a + g_air)
        k = a_f + g_cdu * (1.0 - be_c) + g_air * (1.0 - be_a)
        r = a_f * tf[u] + g_cdu * al_c + g_air * al_a + pf  # K T_f = r - Q_rej
        adiabatic = regime[u] >= 1
        # inlet air of the dry coolers and the condenser: pre-cooled from the adiabatic stage on
        t_in = t_db - ad_eff * max(t_db - t_wb, 0.0) if adiabatic else t_db
        g_dc = ua_dc * fans_ok[u] if flow else 0.0  # at full fan speed
        q_ch_max = ch_max0 if (regime[u] >= 2 and chiller_ok[u] and flow) else 0.0
        q_need = r - k * t_set  # the rejection that holds the set point this step
        q_dc_full = max(g_dc * (t_set - t_in), 0.0)
        if q_need < 0.0:  # too cold: nothing to reject
            t_f, q_dc, q_ch = r / k, 0.0, 0.0
        elif q_need <= q_dc_full + q_ch_max:  # holding: fans first, the chiller trims the rest
            t_f = t_set
            q_dc = min(q_need, q_dc_full)
            q_ch = min(max(q_need - q_dc_full, 0.0), q_ch_max)
        else:  # everything at full; the water warms
            q_ch = q_ch_max
            t_f = (r + g_dc * t_in - q_ch) / (k + g_dc)
            if t_f > t_in:
                q_dc = g_dc * (t_f - t_in)
            else:  # the dry coolers would heat the water: bypassed
                t_f = (r - q_ch) / k
                q_dc = 0.0
        tc[u] = al_c + be_c * t_f
        ta[u] = al_a + be_a * t_f
        tf[u] = t_f
        # fan speed that gives q_dc at this water temperature: UA(s) = UA_full s^n
        span = g_dc * (t_f - t_in)
        s = min(q_dc / span, 1.0) ** (1.0 / ua_exp) if (q_dc > 0.0 and span > 0.0) else 0.0
        p_fan = fan_w * fans_ok[u] * s**3
        # chiller: a fraction of Carnot between evaporator (below the water) and its own air-cooled
        # condenser (above the ambient dry bulb: no adiabatic pre-cooling on the condenser)
        t_ev = t_set - ev_app + 273.15
        t_cd = t_db + cd_app + 273.15
        cop = min(carnot * t_ev / max(t_cd - t_ev, 1.0), cop_max)
        p_ch = q_ch / cop if q_ch > 0.0 else 0.0
        p_ad = ad_pump_w if (adiabatic and s > 0.0) else 0.0
        water = air_flow * fans_ok[u] * s * _CP_AIR * (t_db - t_in) / _H_FG_J_PER_KG * dt if adiabatic else 0.0
        o[0, u], o[1, u], o[2, u], o[3, u], o[4, u], o[5, u] = pc, pf, p_air_fan, q_dc, q_ch, s
        o[6, u], o[7, u], o[8, u], o[9, u], o[10, u] = p_fan, cop, p_ch, p_ad, water


class Cooling:
    """The cooling plants of ``n`` Spark units."""

    # extensive parameters: given for a 1 MW unit, scaled with the unit's IT peak
    SCALED = (
        "coolant_c_j_per_k",
        "air_c_j_per_k",
        "facility_c_j_per_k",
        "coolant_flow_kg_s",
        "facility_flow_kg_s",
        "air_coil_ua_w_per_k",
        "air_fan_kw",
        "dc_ua_w_per_k",
        "dc_fan_kw",
        "dc_air_flow_kg_s",
        "adiabatic_pump_kw",
        "chiller_kw",
    )

    def __init__(self, cfg: CoolingConfig, n: int, temp_start_c: float | None = None, it_peak_mw: float = 1.0) -> None:
        """``cfg`` describes the plant of a 1 MW unit; its extensive values (:attr:`SCALED`:
        heat capacities, flows, conductances, fan, pump and chiller ratings) scale with
        ``it_peak_mw``, so temperatures and PUE do not depend on the unit size."""
        c = cfg.model_copy(update={k: getattr(cfg, k) * it_peak_mw for k in self.SCALED})
        self.cfg = c
        self.n = n
        g_c = c.coolant_flow_kg_s * c.coolant_cp_j_per_kg_k
        g_f = c.facility_flow_kg_s * c.facility_cp_j_per_kg_k
        self.g_cdu_w_per_k = c.cdu_effectiveness * min(g_c, g_f)
        # pump power from flow and head: P = V_dot dp / eta (wire to water)
        self.p_pump_c_w = c.coolant_flow_kg_s / c.coolant_rho_kg_m3 * c.coolant_dp_kpa * 1e3 / c.pump_eff
        self.p_pump_f_w = c.facility_flow_kg_s / c.facility_rho_kg_m3 * c.facility_dp_kpa * 1e3 / c.pump_eff
        t0 = c.facility_supply_c if temp_start_c is None else temp_start_c
        self.temp_facility_c = np.full(n, float(t0))
        self.temp_coolant_c = np.full(n, float(t0))
        self.temp_air_c = np.full(n, float(t0))
        self.pump_c_on = np.ones(n, dtype=bool)
        self.pump_f_on = np.ones(n, dtype=bool)
        self.chiller_ok = np.ones(n, dtype=bool)
        self.fans_ok_frac = np.ones(n)
        self.regime = np.zeros(n, dtype=np.int64)
        self.heat_in_j = np.zeros(n)
        self.heat_rejected_j = np.zeros(n)
        self._stored0 = self._stored_abs()
        self._par = np.array(
            [
                c.liquid_frac,
                c.air_fan_kw * 1e3,
                self.p_pump_c_w,
                self.p_pump_f_w,
                self.g_cdu_w_per_k,
                c.air_coil_ua_w_per_k,
                c.coolant_c_j_per_k,
                c.air_c_j_per_k,
                c.facility_c_j_per_k,
                c.adiabatic_eff,
                c.dc_ua_w_per_k,
                c.chiller_kw * 1e3,
                c.facility_supply_c,
                c.dc_ua_exponent,
                c.dc_fan_kw * 1e3,
                c.chiller_evap_approach_k,
                c.chiller_cond_approach_k,
                c.chiller_carnot_frac,
                c.chiller_cop_max,
                c.adiabatic_pump_kw * 1e3,
                c.dc_air_flow_kg_s,
            ]
        )

    # ---- state -----------------------------------------------------------------
    def _stored_abs(self) -> np.ndarray:
        c = self.cfg
        return (
            c.coolant_c_j_per_k * self.temp_coolant_c
            + c.air_c_j_per_k * self.temp_air_c
            + c.facility_c_j_per_k * self.temp_facility_c
        )

    @property
    def stored_j(self) -> np.ndarray:
        """Heat stored in the three nodes since construction, J per unit."""
        return self._stored_abs() - self._stored0

    def steady_state(self, it_p_mw: np.ndarray, temp_db_c: float, temp_wb_c: float) -> None:
        """Start from the steady state at constant IT load (a long backward-Euler step converges to it)."""
        for _ in range(3):  # the regime and fan speed settle in a couple of passes
            self.step(1e9, np.asarray(it_p_mw, float), temp_db_c, temp_wb_c, books=False)

    def update_regime(self, temp_db_c: float) -> None:
        """Stage adiabatic assist and the chiller by the ambient dry bulb, with hysteresis."""
        c = self.cfg
        h = c.regime_hysteresis_k
        r = self.regime
        up = np.where(temp_db_c >= c.chiller_on_c, 2, np.where(temp_db_c >= c.adiabatic_on_c, 1, 0))
        down = np.where(temp_db_c >= c.chiller_on_c - h, 2, np.where(temp_db_c >= c.adiabatic_on_c - h, 1, 0))
        # rise at once to the stage the ambient asks for; fall only below the threshold less the band
        self.regime = np.where(up > r, up, np.minimum(r, down))

    # ---- one step ---------------------------------------------------------------
    def step(
        self, dt_s: float, it_p_mw: np.ndarray, temp_db_c: float, temp_wb_c: float, books: bool = True
    ) -> CoolingStep:
        """Advance every unit by ``dt_s`` with mean IT power ``it_p_mw`` (MW per unit)."""
        self.update_regime(temp_db_c)
        n = self.n
        o = np.empty((11, n))
        p_it = np.asarray(it_p_mw, float) * 1e6
        _kernel(
            dt_s,
            p_it,
            float(temp_db_c),
            float(temp_wb_c),
            self.temp_coolant_c,
            self.temp_air_c,
            self.temp_facility_c,
            self.pump_c_on,
            self.pump_f_on,
            self.chiller_ok,
            self.fans_ok_frac,
            self.regime,
            self._par,
            o,
        )
        pc, pf, p_air_fan, q_dc, q_ch, s, p_dc_fan, cop, p_ch, p_ad, water_l = o
        reg = self.regime
        if books:
            self.heat_in_j += (p_it + pc + pf + p_air_fan) * dt_s
            self.heat_rejected_j += (q_dc + q_ch) * dt_s
        else:
            self._stored0 = self._stored_abs()
            self.heat_in_j[:] = 0.0
            self.heat_rejected_j[:] = 0.0
        return CoolingStep(
            pump_p_mw=(pc + pf + p_ad) * 1e-6,
            fan_p_mw=(p_dc_fan + p_air_fan) * 1e-6,
            chiller_p_mw=p_ch * 1e-6,
            q_dry_mw=q_dc * 1e-6,
            q_chiller_mw=q_ch * 1e-6,
            fan_speed_frac=s,
            cop=np.where(q_ch > 0, cop, np.nan),
            water_l=water_l,
            regime=reg.copy(),
        )
