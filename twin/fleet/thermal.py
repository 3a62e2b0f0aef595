"""One lumped thermal node per pack outdoors, and the enclosure's heater and cooler; compiled, inlined.

Heat into a pack: its cell losses, the enclosure's thermal management, solar
gain on the enclosure and, in a runaway, the runaway's heat (released at a
constant rate over ``runaway_duration_s``). Heat out: convection to ambient
and exchange with the neighbours in the yard. The update over a step is the
exact exponential towards the steady temperature, with the neighbours at
their temperatures of the step start, stable at any step length. Converter
losses heat the converter, not the pack.
"""

from __future__ import annotations

import numba

from twin.fleet.circuit import FASTMATH
from twin.fleet.layout import (
    F_RUNAWAY,
    P_ERW,
    S_RW_LEFT,
    TH_COOLER_SET_C,
    TH_HEATER_SET_C,
    TH_HEATER_SOC_MIN_FRAC,
    TH_INV_COOLER_BAND,
    TH_INV_COOLER_COP,
    TH_INV_HEATER_BAND,
)

__all__ = ["heat_in_w", "node_temp_c", "runaway_heat_w", "thermal_mgmt_w"]


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def thermal_mgmt_w(heat_max, cool_max, temp, soc, th):  # pragma: no cover - compiled
    """The enclosure's thermal management, fed by the pack's cells: (electric power W, heat into the
    pack W). Heater: full below set - band, off above set. Cooler: no heat removal below its set point,
    full above set + band, electric power = heat removed / COP. Both off at or below a minimum SoC."""
    if soc <= th[TH_HEATER_SOC_MIN_FRAC]:
        return 0.0, 0.0
    x = (th[TH_HEATER_SET_C] - temp) * th[TH_INV_HEATER_BAND]
    heat = heat_max * (0.0 if x <= 0.0 else (1.0 if x >= 1.0 else x))
    x = (temp - th[TH_COOLER_SET_C]) * th[TH_INV_COOLER_BAND]
    cool = cool_max * (0.0 if x <= 0.0 else (1.0 if x >= 1.0 else x))
    return heat + cool * th[TH_INV_COOLER_COP], heat - cool


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def heat_in_w(l_cell, q_tm, inv_dt, solar, ghi):  # pragma: no cover - compiled
    """Heat into a pack over the step (W): its cell losses ``l_cell`` (J, ``inv_dt`` = 1 / dt), the thermal
    management's ``q_tm`` (W) and the sun on the enclosure (``solar`` m2 x ``ghi`` W/m2)."""
    return l_cell * inv_dt + q_tm + solar * ghi


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def runaway_heat_w(i, rw_rate_dt, inv_dt, P, S, F):  # pragma: no cover - compiled
    """Heat of pack ``i``'s runaway released in the step (W): its runaway heat at a constant rate
    (``rw_rate_dt`` = dt / runaway duration) until all of it is out (then ``F_RUNAWAY`` = 2)."""
    rel = P[i, P_ERW] * rw_rate_dt
    if rel >= S[i, S_RW_LEFT]:
        rel = S[i, S_RW_LEFT]
        F[i, F_RUNAWAY] = 2
    S[i, S_RW_LEFT] -= rel
    return rel * inv_dt


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def node_temp_c(q, g, gt, temp0, ath):  # pragma: no cover - compiled
    """Temperature at the end of the step (degC) from ``temp0``: heat in ``q`` (W), total conductance ``g``
    (W/K) to ambient and neighbours, ``gt`` = their sum of conductance x temperature (W), ``ath`` =
    exp(-dt g / C_th); the exact exponential update towards the steady temperature."""
    t_inf = (gt + q) / g
    return t_inf + (temp0 - t_inf) * ath
