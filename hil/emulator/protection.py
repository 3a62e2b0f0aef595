"""The emulated BMS's protection rules, pure: alarms and warnings for one step's measurements, derated limits.

No state: :class:`hil.emulator.logic.BmsLogic` latches the alarms, opens
the contactor and publishes the limits. Bits are SunSpec 802 Evt1's
(:mod:`twin.sunspec802`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.emulator.config import EmulatorConfig
from twin.sunspec802 import (
    OVER_CHARGE_CURRENT_ALARM,
    OVER_CHARGE_CURRENT_WARNING,
    OVER_DISCHARGE_CURRENT_ALARM,
    OVER_DISCHARGE_CURRENT_WARNING,
    OVER_SOC_MAX_WARNING,
    OVER_TEMP_ALARM,
    OVER_TEMP_WARNING,
    OVER_VOLT_ALARM,
    OVER_VOLT_WARNING,
    UNDER_SOC_MIN_WARNING,
    UNDER_TEMP_ALARM,
    UNDER_TEMP_WARNING,
    UNDER_VOLT_ALARM,
    UNDER_VOLT_WARNING,
    VOLTAGE_IMBALANCE_WARNING,
)

__all__ = ["Measurements", "derated_limits", "evaluate"]


@dataclass(frozen=True)
class Measurements:
    """One step's model 64950 header as the BMS senses it (temperatures after any over_temp fault)."""

    plant_hb: int
    sim_t_ms: int
    pack_v: float
    pack_a: float
    cell_v_max_v: float
    cell_v_min_v: float
    cell_v_avg_v: float
    cell_t_max_c: float
    cell_t_min_c: float
    soc_true_pct: float | None


def _clamp01(x: float) -> float:
    return 0.0 if x <= 0.0 else min(1.0, x)


def evaluate(
    c: EmulatorConfig,
    m: Measurements,
    *,
    was_closed: bool,
    lim_ch_a: float,
    lim_dis_a: float,
    soc_pct: float | None,
) -> tuple[int, int]:
    """(alarm causes present, warnings) for one step's measurements; the current is judged against the
    limits published for the step (``lim_ch_a``, ``lim_dis_a``) only when the contactor was closed."""
    a = w = 0
    if m.cell_v_max_v >= c.v_max - c.v_warn_margin_v:
        w |= 1 << OVER_VOLT_WARNING
    if m.cell_v_max_v > c.v_max + c.v_alarm_tol_v:
        a |= 1 << OVER_VOLT_ALARM
    if m.cell_v_min_v <= c.v_min + c.v_warn_margin_v:
        w |= 1 << UNDER_VOLT_WARNING
    if m.cell_v_min_v < c.v_min - c.v_alarm_tol_v:
        a |= 1 << UNDER_VOLT_ALARM
    t_lo, t_hi = c.t_discharge
    if m.cell_t_max_c >= t_hi - c.temp_warn_margin_c:
        w |= 1 << OVER_TEMP_WARNING
    if m.cell_t_max_c > t_hi:
        a |= 1 << OVER_TEMP_ALARM
    if m.cell_t_min_c <= t_lo + c.temp_warn_margin_c:
        w |= 1 << UNDER_TEMP_WARNING
    if m.cell_t_min_c < t_lo:
        a |= 1 << UNDER_TEMP_ALARM
    if was_closed:  # with the contactor open the limits read 0 and no current is the BMS's to judge
        i = m.pack_a
        if i > 0:
            if i > lim_ch_a * (1 + c.current_alarm_margin_frac) + c.current_tol_a:
                a |= 1 << OVER_CHARGE_CURRENT_ALARM
            elif i > lim_ch_a + c.current_tol_a:
                w |= 1 << OVER_CHARGE_CURRENT_WARNING
        elif i < 0:
            if -i > lim_dis_a * (1 + c.current_alarm_margin_frac) + c.current_tol_a:
                a |= 1 << OVER_DISCHARGE_CURRENT_ALARM
            elif -i > lim_dis_a + c.current_tol_a:
                w |= 1 << OVER_DISCHARGE_CURRENT_WARNING
    if soc_pct is not None:
        if soc_pct <= c.soc_min_pct:
            w |= 1 << UNDER_SOC_MIN_WARNING
        if soc_pct >= c.soc_max_pct:
            w |= 1 << OVER_SOC_MAX_WARNING
    if m.cell_v_max_v - m.cell_v_min_v > c.imbalance_warn_v:
        w |= 1 << VOLTAGE_IMBALANCE_WARNING
    return a, w


def derated_limits(c: EmulatorConfig, m: Measurements) -> tuple[float, float]:
    """(charge, discharge) current limits in A for these measurements, contactor closed: the rated limits
    times the cell-voltage taper and the temperature derating."""
    f_v_ch = _clamp01((c.v_max - m.cell_v_max_v) / c.v_taper_v)
    f_v_dis = _clamp01((m.cell_v_min_v - c.v_min) / c.v_taper_v)
    band = c.temp_derate_band_c
    (t_ch_lo, t_ch_hi), (t_dis_lo, t_dis_hi) = c.t_charge, c.t_discharge
    f_t_ch = _clamp01((t_ch_hi - m.cell_t_max_c) / band) * _clamp01((m.cell_t_min_c - t_ch_lo) / band)
    f_t_dis = _clamp01((t_dis_hi - m.cell_t_max_c) / band) * _clamp01((m.cell_t_min_c - t_dis_lo) / band)
    return c.i_ch_max * f_v_ch * f_t_ch, c.i_dis_max * f_v_dis * f_t_dis
