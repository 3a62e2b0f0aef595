"""Models 1 and 802 as the emulated BMS fills them: power-on values, scale factors, the points of each step.

Functions of the config and the BMS's state, writing into
:class:`hil.sunspec_map.Block` images; :class:`hil.emulator.logic.BmsLogic`
decides the state. Points this BMS does not implement, and the measured
ones before the first step, read as SunSpec "not implemented".
"""

from __future__ import annotations

from hil.emulator.config import EmulatorConfig
from hil.emulator.protection import Measurements
from hil.sunspec_map import Block
from twin.fleet.chemistry import CHEMISTRIES
from twin.sunspec802 import (
    CHAST_CHARGING,
    CHAST_DISCHARGING,
    CHAST_EMPTY,
    CHAST_FULL,
    CHAST_HOLDING,
    CHAST_OFF,
    LOCREMCTL_REMOTE,
    STATE_CONNECTED,
    TYP_LITHIUM_ION,
)

__all__ = ["MEASURED_802", "WRITABLE_802", "charge_status", "fill_common", "power_on_802", "publish_802", "set_nan"]

# 802 points the twin may write (the others are the BMS's; writes to them are ignored)
WRITABLE_802 = ("CtrlHb", "AlmRst", "SetOp")
# 802 points this BMS does not implement (read as SunSpec "not implemented")
_UNIMPLEMENTED_802 = (
    "DisChaRte",
    "SocRsvMax",
    "SoCRsvMin",
    "NCyc",
    "StateVnd",
    "WarrDt",
    "CellVMaxStr",
    "CellVMaxMod",
    "CellVMinStr",
    "CellVMinMod",
    "ReqW",
    "SetInvState",
)
# 802 points that have no value until the first step (measurements and what follows from them)
MEASURED_802 = ("SoC", "DoD", "V", "A", "W", "CellVMax", "CellVMin", "CellVAvg")
_NAN_RAW = {
    "uint16": 0xFFFF,
    "enum16": 0xFFFF,
    "int16": -0x8000,
    "uint32": 0xFFFFFFFF,
    "bitfield32": 0xFFFFFFFF,
    "sunssf": -0x8000,
}


def _pick_sf(max_value: float, limit: int, lo: int = -3, hi: int = 4) -> int:
    """The finest scale factor (10**sf per LSB) at which ``max_value`` still fits below ``limit``."""
    for sf in range(lo, hi + 1):
        if abs(max_value) * 10.0 ** (-sf) <= limit:
            return sf
    return hi


def set_nan(blk: Block, name: str) -> None:
    """A point reads "not implemented" (the all-ones or most negative value of its type)."""
    blk.set(name, _NAN_RAW[blk.points[name].pdef["type"]], computed=False)


def fill_common(cm: Block, c: EmulatorConfig, unit_id: int) -> None:
    """Model 1: manufacturer, model, chemistry (Opt), version, serial number, device address."""
    cm.set("Mn", c.manufacturer)
    cm.set("Md", c.model)
    cm.set("Opt", c.chemistry)
    cm.set("Vr", c.version)
    cm.set("SN", c.serial_number)
    cm.set("DA", unit_id, computed=False)


def power_on_802(b: Block, c: EmulatorConfig) -> None:
    """Model 802 at power-on: scale factors, ratings, nothing measured yet, counters and commands 0."""
    chem = CHEMISTRIES[c.chemistry]
    wh_rtg = c.capacity_ah * c.ncell * chem.v_nom_cell_v
    w_cha = c.i_ch_max * c.ncell * chem.v_nom_cell_v
    w_dis = c.i_dis_max * c.ncell * chem.v_nom_cell_v
    w_peak = max(c.ncell, 1) * c.v_max * max(c.i_ch_max, c.i_dis_max) * 1.5
    sfs = {
        "AHRtg_SF": _pick_sf(c.capacity_ah, 65534, lo=-2),
        "WHRtg_SF": _pick_sf(wh_rtg, 65534, lo=0),
        "WChaDisChaMax_SF": _pick_sf(max(w_cha, w_dis), 65534, lo=0),
        "DisChaRte_SF": 0,
        "SoC_SF": -2,
        "DoD_SF": -2,
        "SoH_SF": -2,
        "V_SF": -1 if c.ncell * c.v_max < 6000 else 0,
        "CellV_SF": -3,
        "A_SF": -1,
        "AMax_SF": -1,
        "W_SF": _pick_sf(w_peak, 32767, lo=0),
    }
    for name, sf in sfs.items():
        b.set(name, sf, computed=False)
    for name in _UNIMPLEMENTED_802 + MEASURED_802:
        set_nan(b, name)
    b.set("AHRtg", c.capacity_ah)
    b.set("WHRtg", wh_rtg)
    b.set("WChaRteMax", w_cha)
    b.set("WDisChaRteMax", w_dis)
    b.set("SoCMax", c.soc_max_pct)
    b.set("SoCMin", c.soc_min_pct)
    b.set("SoH", c.soh_pct)
    b.set("Typ", TYP_LITHIUM_ION, computed=False)
    b.set("LocRemCtl", LOCREMCTL_REMOTE, computed=False)
    b.set("VMax", c.ncell * c.v_max)
    b.set("VMin", c.ncell * c.v_min)
    for name in ("Evt1", "Evt2", "EvtVnd1", "EvtVnd2", "ReqInvState", "Hb", "CtrlHb", "AlmRst", "SetOp"):
        b.set(name, 0, computed=False)


def charge_status(c: EmulatorConfig, state: int, m: Measurements | None, soc_pct: float | None) -> int:
    """802 ChaSt: OFF while open or before the first step, FULL / EMPTY at the SoC window's ends, else by
    the current."""
    if state != STATE_CONNECTED or m is None:
        return CHAST_OFF
    soc = soc_pct or 0.0
    if soc >= c.soc_max_pct:
        return CHAST_FULL
    if soc <= c.soc_min_pct:
        return CHAST_EMPTY
    if m.pack_a > 0.5:
        return CHAST_CHARGING
    if m.pack_a < -0.5:
        return CHAST_DISCHARGING
    return CHAST_HOLDING


def publish_802(
    b: Block,
    c: EmulatorConfig,
    *,
    state: int,
    m: Measurements | None,
    soc_pct: float | None,
    lim_ch_a: float,
    lim_dis_a: float,
    evt1: int,
    hb: int,
) -> None:
    """Model 802 from the BMS's state: limits, the measurements it mirrors, SoC, Evt1, State, ChaSt, Hb."""
    b.set("AChaMax", min(lim_ch_a, 6553.4))
    b.set("ADisChaMax", min(lim_dis_a, 6553.4))
    if m is not None and soc_pct is not None:
        b.set("SoC", soc_pct)
        b.set("DoD", 100.0 - soc_pct)
        b.set("V", max(0.0, min(m.pack_v, 65534 * 10.0 ** b.sf(b.points["V"]))))
        b.set("A", max(-3276.7, min(3276.7, m.pack_a)))
        w_sf = b.sf(b.points["W"])
        b.set("W", max(-32767 * 10.0**w_sf, min(32767 * 10.0**w_sf, m.pack_v * m.pack_a)))
        b.set("CellVMax", m.cell_v_max_v)
        b.set("CellVMin", m.cell_v_min_v)
        b.set("CellVAvg", m.cell_v_avg_v)
    else:
        for name in MEASURED_802:
            set_nan(b, name)
    b.set("SoH", c.soh_pct)
    b.set("Evt1", evt1, computed=False)
    b.set("State", state, computed=False)
    b.set("ChaSt", charge_status(c, state, m, soc_pct), computed=False)
    b.set("Hb", hb, computed=False)
