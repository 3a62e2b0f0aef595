"""Simulated battery management system of every pack: alarms, current limits, contactor.

Each pack's BMS works in three stages, as pack BMSs in the field do:

1. **warning**: a cell voltage, the pack temperature or the SoC comes near a
   limit; a bit is set in the event word, nothing else happens;
2. **limit**: the charge and discharge current limits fall (derating by
   temperature and SoC, and the current that keeps the highest / lowest
   cell inside its cut-off over the next step); the controller and the
   fleet dispatch must respect them (a test checks that no pack current
   ever exceeds them);
3. **protection**: past a trip level (cell over/under-voltage beyond the
   cut-off by a margin, pack over-temperature, thermal runaway) the
   contactor opens and the fault latches until an alarm reset
   (``bms_reset`` event) finds the cause gone.

The event word uses the bit positions of SunSpec model 802 ``Evt1`` and the
state the codes of model 802 ``State`` (pysunspec2's ``model_802.json``),
so the HIL bridge can put a simulated BMS and a real one side by side
without a translation table. Physics only: no I/O here; the compiled
functions are called from the fleet's compiled pass (:mod:`twin.fleet.kernel`,
:mod:`twin.fleet.limits`).
"""

from __future__ import annotations

import numba
import numpy as np

from twin import sunspec802
from twin.fleet import layout
from twin.fleet.jitcache import cache_on_sources
from twin.fleet.layout import (
    TH_CURRENT_ALARM_MARGIN_FRAC,
    TH_IMBALANCE_WARN_V,
    TH_SOC_TAPER_FRAC,
    TH_TEMP_TRIP_C,
    TH_TEMP_WARN_MARGIN_C,
    TH_V_ALARM_TOL_V,
    TH_V_TRIP_MARGIN_V,
    TH_V_WARN_MARGIN_V,
)

# SunSpec model 802 State, Evt1 bits and names: the one table is twin.sunspec802 (the HIL side reads it too);
# the names stay here, where the compiled kernels read them as globals and the fleet as bms.X
from twin.sunspec802 import (  # noqa: F401 - re-exported as bms.X
    ALARM_MASK,
    COMMUNICATION_ERROR,
    EVT1_NAMES,
    OTHER_ALARM,
    OVER_CHARGE_CURRENT_ALARM,
    OVER_CHARGE_CURRENT_WARNING,
    OVER_DISCHARGE_CURRENT_ALARM,
    OVER_DISCHARGE_CURRENT_WARNING,
    OVER_SOC_MAX_ALARM,
    OVER_SOC_MAX_WARNING,
    OVER_TEMP_ALARM,
    OVER_TEMP_WARNING,
    OVER_VOLT_ALARM,
    OVER_VOLT_WARNING,
    STATE_CONNECTED,
    STATE_DISCONNECTED,
    STATE_FAULT,
    UNDER_SOC_MIN_ALARM,
    UNDER_SOC_MIN_WARNING,
    UNDER_TEMP_ALARM,
    UNDER_TEMP_WARNING,
    UNDER_VOLT_ALARM,
    UNDER_VOLT_WARNING,
    VOLTAGE_IMBALANCE_WARNING,
    WARNING_MASK,
    evt1_names,
)

__all__ = [  # its own names and the SunSpec 802 names it re-exports
    "ALARM_MASK",
    "COMMUNICATION_ERROR",
    "EVT1_NAMES",
    "OTHER_ALARM",
    "OVER_CHARGE_CURRENT_ALARM",
    "OVER_CHARGE_CURRENT_WARNING",
    "OVER_DISCHARGE_CURRENT_ALARM",
    "OVER_DISCHARGE_CURRENT_WARNING",
    "OVER_SOC_MAX_ALARM",
    "OVER_SOC_MAX_WARNING",
    "OVER_TEMP_ALARM",
    "OVER_TEMP_WARNING",
    "OVER_VOLT_ALARM",
    "OVER_VOLT_WARNING",
    "STATE_CONNECTED",
    "STATE_DISCONNECTED",
    "STATE_FAULT",
    "TRIP_NAMES",
    "TRIP_NONE",
    "TRIP_OVER_TEMP",
    "TRIP_OVER_VOLT",
    "TRIP_RUNAWAY",
    "TRIP_UNDER_VOLT",
    "UNDER_SOC_MIN_ALARM",
    "UNDER_SOC_MIN_WARNING",
    "UNDER_TEMP_ALARM",
    "UNDER_TEMP_WARNING",
    "UNDER_VOLT_ALARM",
    "UNDER_VOLT_WARNING",
    "VOLTAGE_IMBALANCE_WARNING",
    "WARNING_MASK",
    "evaluate",
    "evt1_names",
    "ramp",
    "soc_derate",
    "temp_derate",
]

# Why a contactor opened (latched cause, one value per pack).
TRIP_NONE = 0
TRIP_OVER_VOLT = 1
TRIP_UNDER_VOLT = 2
TRIP_OVER_TEMP = 3
TRIP_RUNAWAY = 4
TRIP_NAMES = {
    TRIP_NONE: "",
    TRIP_OVER_VOLT: "cell over-voltage",
    TRIP_UNDER_VOLT: "cell under-voltage",
    TRIP_OVER_TEMP: "pack over-temperature",
    TRIP_RUNAWAY: "thermal runaway",
}


@numba.njit(cache=True, inline="always", error_model="numpy")
def ramp(x: float, lo: float, inv_width: float) -> float:  # pragma: no cover - compiled
    """0 below ``lo``, 1 above ``lo + 1 / inv_width``, linear between."""
    f = (x - lo) * inv_width
    return 0.0 if f <= 0.0 else (1.0 if f >= 1.0 else f)


@numba.njit(cache=True, inline="always", error_model="numpy")
def temp_derate(temp_c: float, t_min: float, t_max: float, band: float, inv_band: float) -> float:  # pragma: no cover
    """Current-limit factor over temperature: 0 outside [t_min, t_max], 1 inside by ``band``."""
    return ramp(temp_c, t_min, inv_band) * (1.0 - ramp(temp_c, t_max - band, inv_band))


@numba.njit(cache=True, inline="always", error_model="numpy")
def soc_derate(room_frac: float, inv_taper: float) -> float:  # pragma: no cover
    """Current-limit factor near the end of the SoC window (``room_frac`` = distance to it, ``inv_taper``
    = 1 / the taper width): falls linearly to 5 % at the end (the window's own energy limit stops the
    pack there)."""
    if room_frac <= 0.0:
        return 0.0
    f = room_frac * inv_taper
    return 1.0 if f >= 1.0 else (0.05 if f < 0.05 else f)


@numba.njit(error_model="numpy")  # cached below, on all its sources
def evaluate(
    vc_max: float,
    vc_min: float,
    temp_c: float,
    i_a: float,
    i_ch_lim: float,
    i_dis_lim: float,
    soc: float,
    soc_lo: float,
    soc_hi: float,
    v_max: float,
    v_min: float,
    t_ch_min: float,
    t_ch_max: float,
    th: np.ndarray,
) -> tuple[int, int]:  # pragma: no cover
    """Event word and trip cause (``TRIP_*``, 0 for none) of one pack after a step.

    ``th``: the thresholds, slots ``TH_*`` of :mod:`twin.fleet.layout`.
    """
    w = 0
    trip = TRIP_NONE
    v_warn = th[TH_V_WARN_MARGIN_V]
    v_trip = th[TH_V_TRIP_MARGIN_V]
    t_warn = th[TH_TEMP_WARN_MARGIN_C]
    t_trip = th[TH_TEMP_TRIP_C]
    taper = th[TH_SOC_TAPER_FRAC]
    i_marg = th[TH_CURRENT_ALARM_MARGIN_FRAC]
    imb = th[TH_IMBALANCE_WARN_V]
    v_tol = th[TH_V_ALARM_TOL_V]
    if vc_max >= v_max - v_warn:
        w |= 1 << OVER_VOLT_WARNING
    if vc_max > v_max + v_tol:
        w |= 1 << OVER_VOLT_ALARM
    if vc_max > v_max + v_trip:
        trip = TRIP_OVER_VOLT
    if vc_min <= v_min + v_warn:
        w |= 1 << UNDER_VOLT_WARNING
    if vc_min < v_min - v_tol:
        w |= 1 << UNDER_VOLT_ALARM
    if vc_min < v_min - v_trip:
        trip = TRIP_UNDER_VOLT
    if temp_c >= t_ch_max - t_warn:
        w |= 1 << OVER_TEMP_WARNING
    if temp_c >= t_ch_max:
        w |= 1 << OVER_TEMP_ALARM
    if temp_c >= t_trip:
        trip = TRIP_OVER_TEMP
    if temp_c <= t_ch_min + t_warn:
        w |= 1 << UNDER_TEMP_WARNING
    if temp_c <= t_ch_min:
        w |= 1 << UNDER_TEMP_ALARM
    if i_a > 0.0:
        if i_a > i_ch_lim + 1e-6:  # past the limit, within the alarm margin
            w |= 1 << OVER_CHARGE_CURRENT_WARNING
        if i_a > i_ch_lim * (1.0 + i_marg) + 1e-6:
            w |= 1 << OVER_CHARGE_CURRENT_ALARM
    elif i_a < 0.0:
        if -i_a > i_dis_lim + 1e-6:
            w |= 1 << OVER_DISCHARGE_CURRENT_WARNING
        if -i_a > i_dis_lim * (1.0 + i_marg) + 1e-6:
            w |= 1 << OVER_DISCHARGE_CURRENT_ALARM
    if soc <= soc_lo + taper:
        w |= 1 << UNDER_SOC_MIN_WARNING
    if soc < soc_lo - 0.01:
        w |= 1 << UNDER_SOC_MIN_ALARM
    if soc >= soc_hi - taper:
        w |= 1 << OVER_SOC_MAX_WARNING
    if soc > soc_hi + 0.01:
        w |= 1 << OVER_SOC_MAX_ALARM
    if vc_max - vc_min > imb:
        w |= 1 << VOLTAGE_IMBALANCE_WARNING
    return w, trip


evaluate = cache_on_sources(evaluate, [__file__, layout.__file__, sunspec802.__file__])
