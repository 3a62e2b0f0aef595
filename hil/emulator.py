"""``twin bms-emulator``: a software BMS serving the HIL contract's map over Modbus RTU.

Why: the twin's serial HIL bridge needs a counterpart before a real BMS is on
the bench, and a real BMS cannot be made to misbehave on cue. This one follows
``../shared/design/BMS_HIL_PROTOCOL.md`` (models 1, 802 and 64950 from 40000,
served by pymodbus's serial server) and misbehaves on a fault plan: it goes
silent, garbles or corrupts its answers, freezes its heartbeat, biases its
SoC, reboots, opens its contactor, or senses its cells hotter than they are.

Three layers:

* :class:`EmulatorConfig` (pydantic; a TOML file, CLI flags) with its fault plan
  (:class:`FaultSpec`);
* :class:`BmsLogic`, the BMS itself, pure (no I/O): a register image, protection,
  derating, SoC estimation, watchdog, fault plan. Unit-testable with plain
  dicts of point values and an injected wall clock;
* :class:`BmsEmulator`, which serves a :class:`BmsLogic` with pymodbus's
  ``ModbusSerialServer`` (RTU) in a background thread with its own asyncio loop.

Every call into the logic from the server (datastore action, packet hooks, the
0.1 s tick) runs on that loop; an ``RLock`` in the logic covers callers on
other threads (tests, the CLI).

Times: the fault plan runs on the emulator clock, either ``sim`` (SimT written
by the twin, unwrapped; the default, as the contract asks of a BMS in lockstep)
or ``wall`` (monotonic seconds since the first PlantHb). Before the first step
the clock has not started and no fault is active. On the ``sim`` clock, while
no step arrives (the emulator is silent, rebooting or garbling its answers, or
the line is down, so the twin never gets to write its header) the clock runs
on the wall from the last step, so a timed fault can end; it never runs back
when SimT resumes, and a fault whose whole window it jumped over still happens,
from the moment it is seen. The coulomb count then takes the first step's
current over one step only (the steps in between never reached the BMS; the
twin had the pack out of service). The watchdog (``watchdog_s``)
and the reboot time (``reboot_s``) are wall seconds: both concern a line on which
no step may be arriving, so SimT would not move. The watchdog arms at the first
CtrlHb written after power-on or a reboot (no controller yet is not a lost one).

Choices the contract leaves open: writes to model 802 points other than CtrlHb,
AlmRst and SetOp, and to model 1, are acknowledged and ignored (a range write that
spans read-only points does not fail); a watchdog timeout shows State FAULT (the
BMS opened on its own decision) with COMMUNICATION_ERROR, unlatched; the contactor
closes on CONNECT only once a step has brought measurements; before the first
step SoC, V, A, W and the cell voltages read "not implemented" (0xFFFF / 0x8000).

Wire faults go through pymodbus's ``trace_packet`` hook (see :meth:`BmsEmulator._trace_packet`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import difflib
import logging
import math
import os
import random
import re
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hil.line import PARITIES, LineSettings
from hil.ptypair import PtyPair
from hil.sunspec_map import (
    BASE_ADDR,
    END_ID,
    END_L,
    MODEL_BATTERY,
    MODEL_COMMON,
    MODEL_HIL,
    NCELL_MAX,
    SETOP_CONNECT,
    STATE_NAMES,
    SUNS_MARKER,
    U32_WRAP,
    Block,
    next_count,
    standard_layout,
)
from twin.fleet import bms as tb
from twin.fleet.chemistry import CHEMISTRIES, ocv_cell_v

log = logging.getLogger("hil.emulator")

VERSION = "0.1.0"

STATE_DISCONNECTED = tb.STATE_DISCONNECTED
STATE_INITIALIZING = 2  # model 802 State; twin.fleet.bms has no use for it (its packs do not boot)
STATE_CONNECTED = tb.STATE_CONNECTED
STATE_FAULT = tb.STATE_FAULT
TYP_LITHIUM_ION = 4  # model 802 Typ symbol LITHIUM_ION
CHAST_OFF, CHAST_EMPTY, CHAST_DISCHARGING, CHAST_CHARGING, CHAST_FULL, CHAST_HOLDING = 1, 2, 3, 4, 5, 6
COMM_BIT = 1 << tb.COMMUNICATION_ERROR

TICK_S = 0.1  # watchdog / reboot / wall-clock fault plan period

FAULT_KINDS = ("open_contactor", "silent", "corrupt", "garbage", "freeze_heartbeat", "soc_bias", "reboot", "over_temp")
_NEEDS_DURATION = frozenset({"silent", "corrupt", "garbage", "freeze_heartbeat", "over_temp"})
_NEEDS_VALUE = frozenset({"soc_bias", "over_temp"})
_ONE_SHOT = frozenset({"open_contactor", "reboot"})
_WIRE_KINDS = ("silent", "corrupt", "garbage")  # priority order when several overlap

# 802 points the twin may write (the others are the BMS's; writes to them are ignored)
_802_WRITABLE = ("CtrlHb", "AlmRst", "SetOp")
# 802 points this BMS does not implement (read as SunSpec "not implemented")
_802_UNIMPLEMENTED = (
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
_802_MEASURED = ("SoC", "DoD", "V", "A", "W", "CellVMax", "CellVMin", "CellVAvg")
_NAN_RAW = {
    "uint16": 0xFFFF,
    "enum16": 0xFFFF,
    "int16": -0x8000,
    "uint32": 0xFFFFFFFF,
    "bitfield32": 0xFFFFFFFF,
    "sunssf": -0x8000,
}


class ConfigError(ValueError):
    """Bad emulator input (config file, fault syntax, flags): the message is for the user, one line."""


class EmulatorError(RuntimeError):
    """The emulator could not start (the serial port cannot be opened, ...)."""


def _suggest(word: str, choices: Sequence[str] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
class FaultSpec(BaseModel):
    """One entry of the fault plan: ``kind`` from ``at_s`` (emulator clock) for ``duration_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    at_s: float = Field(ge=0)
    duration_s: float | None = Field(None, gt=0)
    value: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return _reject_unknown_keys(cls, data)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {v!r}{_suggest(v, FAULT_KINDS)}; known: {', '.join(FAULT_KINDS)}")
        return v

    @model_validator(mode="after")
    def _complete(self) -> FaultSpec:
        if self.kind in _NEEDS_DURATION and self.duration_s is None:
            raise ValueError(f"fault {self.kind!r} needs a duration_s (e.g. {self.kind}@{self.at_s:g}:5)")
        if self.kind in _ONE_SHOT and self.duration_s is not None:
            raise ValueError(f"fault {self.kind!r} happens once at at_s and takes no duration_s")
        if self.kind in _NEEDS_VALUE and self.value is None:
            what = "percentage points" if self.kind == "soc_bias" else "kelvin"
            raise ValueError(f"fault {self.kind!r} needs a value ({what}, e.g. {self.kind}@{self.at_s:g}=3)")
        if self.kind not in _NEEDS_VALUE and self.value is not None:
            raise ValueError(f"fault {self.kind!r} takes no value")
        return self

    def active(self, t_s: float) -> bool:
        end = math.inf if self.duration_s is None else self.at_s + self.duration_s
        return self.at_s <= t_s < end

    def describe(self) -> str:
        s = f"{self.kind}@{self.at_s:g}"
        if self.duration_s is not None:
            s += f":{self.duration_s:g}"
        if self.value is not None:
            s += f"={self.value:g}"
        return s

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``KIND@AT[:DURATION][=VALUE]`` (``silent@20:5``, ``soc_bias@0=3``); raises :class:`ConfigError`."""
        m = _FAULT_RE.match(text.strip())
        if not m:
            raise ConfigError(
                f"--fault {text!r}: expected KIND@AT[:DURATION][=VALUE] with times in seconds, "
                f"e.g. silent@20:5 or soc_bias@0=3"
            )
        kind, at, dur, val = m.groups()
        data: dict[str, Any] = {"kind": kind, "at_s": float(at)}
        if dur is not None:
            data["duration_s"] = float(dur)
        if val is not None:
            data["value"] = float(val)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"--fault {text!r}: {_first_error(exc, with_loc=False)}") from None


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_FAULT_RE = re.compile(rf"^([A-Za-z_]\w*)@({_NUM})(?::({_NUM}))?(?:=({_NUM}))?$")


class EmulatorConfig(BaseModel):
    """What the emulated BMS is and how it protects its pack. ``None`` limits come from the chemistry.

    Voltage: warning ``v_warn_margin_v`` inside a cut-off, alarm (latched, contactor opens) past it by
    ``v_alarm_tol_v``; the charge (discharge) limit falls linearly to 0 over the last ``v_taper_v``
    before ``v_max_cell_v`` (above ``v_min_cell_v``). Temperature: the charge limit falls to 0 over
    ``temp_derate_band_c`` inside the chemistry's charge range, the discharge limit inside its discharge
    range; the alarms are at the discharge range's ends (outside it the pack may carry no current at
    all), warnings ``temp_warn_margin_c`` before them. Over-current: alarm when |PackA| exceeds the limit
    published for that step by ``current_alarm_margin_frac`` (plus ``current_tol_a``, two register LSBs,
    so a limit of 0 is not tripped by rounding), warning past the limit itself.
    """

    model_config = ConfigDict(extra="forbid")

    serial_number: str = Field("HIL-0", min_length=1, max_length=32)
    manufacturer: str = Field("sparks-twin", max_length=32)
    model: str = Field("bms-emulator", max_length=32)
    version: str = Field(VERSION, max_length=16)
    chemistry: Literal["NMC", "LFP", "LMO"] = "NMC"
    ncell: int = Field(96, ge=0, le=NCELL_MAX)
    capacity_ah: float = Field(115.0, gt=0, le=6000)
    soh_pct: float = Field(62.0, ge=0, le=100)
    i_charge_max_a: float | None = Field(None, ge=0, le=3000)  # default 1.0 C
    i_discharge_max_a: float | None = Field(None, ge=0, le=3000)  # default 2.0 C
    v_max_cell_v: float | None = Field(None, gt=0, le=6)
    v_min_cell_v: float | None = Field(None, gt=0, le=6)
    v_warn_margin_v: float = Field(0.05, ge=0, le=1)
    v_alarm_tol_v: float = Field(0.02, ge=0, le=1)
    v_taper_v: float = Field(0.10, gt=0, le=1)
    temp_charge_min_c: float | None = Field(None, ge=-60, le=100)
    temp_charge_max_c: float | None = Field(None, ge=-60, le=100)
    temp_discharge_min_c: float | None = Field(None, ge=-60, le=100)
    temp_discharge_max_c: float | None = Field(None, ge=-60, le=100)
    temp_derate_band_c: float = Field(5.0, gt=0, le=40)
    temp_warn_margin_c: float = Field(3.0, ge=0, le=40)
    current_alarm_margin_frac: float = Field(0.10, ge=0, le=2)
    current_tol_a: float = Field(0.2, ge=0, le=100)
    imbalance_warn_v: float = Field(0.10, gt=0, le=2)
    soc_min_pct: float = Field(5.0, ge=0, le=100)
    soc_max_pct: float = Field(95.0, ge=0, le=100)
    watchdog_s: float = Field(5.0, gt=0)  # wall s of unchanged CtrlHb -> COMMUNICATION_ERROR, contactor open
    reboot_s: float = Field(2.0, ge=0)  # wall s INITIALIZING and silent after a reboot fault
    soc_source: Literal["coulomb"] = "coulomb"
    clock: Literal["sim", "wall"] = "sim"
    seed: int = 0  # garbage bytes
    faults: list[FaultSpec] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return _reject_unknown_keys(cls, data)

    @field_validator("chemistry", mode="before")
    @classmethod
    def _chem_upper(cls, v: Any) -> Any:
        if isinstance(v, str) and v.upper() in CHEMISTRIES:
            return v.upper()
        if isinstance(v, str):
            raise ValueError(
                f"unknown chemistry {v!r}{_suggest(v.upper(), CHEMISTRIES)}; known: {', '.join(CHEMISTRIES)}"
            )
        return v

    @model_validator(mode="after")
    def _defaults(self) -> EmulatorConfig:
        p = CHEMISTRIES[self.chemistry]
        fill = {
            "i_charge_max_a": 1.0 * self.capacity_ah,
            "i_discharge_max_a": 2.0 * self.capacity_ah,
            "v_max_cell_v": p.v_max_cell_v,
            "v_min_cell_v": p.v_min_cell_v,
            "temp_charge_min_c": p.temp_charge_min_c,
            "temp_charge_max_c": p.temp_charge_max_c,
            "temp_discharge_min_c": p.temp_discharge_min_c,
            "temp_discharge_max_c": p.temp_discharge_max_c,
        }
        for k, v in fill.items():
            if getattr(self, k) is None:
                object.__setattr__(self, k, float(v))
        if not self.v_min_cell_v < self.v_max_cell_v:
            raise ValueError(f"need v_min_cell_v < v_max_cell_v, got {self.v_min_cell_v} / {self.v_max_cell_v} V")
        if not self.temp_charge_min_c < self.temp_charge_max_c:
            raise ValueError("need temp_charge_min_c < temp_charge_max_c")
        if not self.temp_discharge_min_c < self.temp_discharge_max_c:
            raise ValueError("need temp_discharge_min_c < temp_discharge_max_c")
        if not self.soc_min_pct < self.soc_max_pct:
            raise ValueError("need soc_min_pct < soc_max_pct")
        return self

    # resolved values (after validation they are never None)
    @property
    def v_max(self) -> float:
        return float(self.v_max_cell_v)  # type: ignore[arg-type]

    @property
    def v_min(self) -> float:
        return float(self.v_min_cell_v)  # type: ignore[arg-type]

    @property
    def i_ch_max(self) -> float:
        return float(self.i_charge_max_a)  # type: ignore[arg-type]

    @property
    def i_dis_max(self) -> float:
        return float(self.i_discharge_max_a)  # type: ignore[arg-type]

    @classmethod
    def from_toml(
        cls, path: str | Path, overrides: Mapping[str, Any] | None = None, extra_faults: Sequence[FaultSpec] = ()
    ) -> EmulatorConfig:
        """Load a TOML file (top-level keys of this model, ``[[faults]]`` tables); raises :class:`ConfigError`."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path), overrides=overrides, extra_faults=extra_faults)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str = "config",
        overrides: Mapping[str, Any] | None = None,
        extra_faults: Sequence[FaultSpec] = (),
    ) -> EmulatorConfig:
        d = dict(data)
        d.update({k: v for k, v in (overrides or {}).items() if v is not None})
        if extra_faults:
            faults = d.get("faults", [])
            d["faults"] = [
                *(faults if isinstance(faults, list) else [faults]),
                *(f.model_dump(exclude_none=True) for f in extra_faults),
            ]
        try:
            return cls.model_validate(d)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {_first_error(exc)}") from None


def _reject_unknown_keys(cls: type[BaseModel], data: Any) -> Any:
    if isinstance(data, Mapping):
        for k in data:
            if k not in cls.model_fields:
                raise ValueError(f"unknown key {k!r}{_suggest(str(k), cls.model_fields)}")
    return data


def _first_error(exc: ValidationError, with_loc: bool = True) -> str:
    e = exc.errors()[0]
    msg = str(e["msg"]).removeprefix("Value error, ")
    loc = ".".join(str(x) for x in e["loc"])
    if e["type"] not in ("value_error", "assertion_error") and "input" in e:
        msg += f" (got {e['input']!r})"
    return f"{loc}: {msg}" if with_loc and loc else msg


# ---------------------------------------------------------------------------------------------
# the BMS
# ---------------------------------------------------------------------------------------------
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


def _pick_sf(max_value: float, limit: int, lo: int = -3, hi: int = 4) -> int:
    """The finest scale factor (10**sf per LSB) at which ``max_value`` still fits below ``limit``."""
    for sf in range(lo, hi + 1):
        if abs(max_value) * 10.0 ** (-sf) <= limit:
            return sf
    return hi


class BmsLogic:
    """The emulated BMS: register image, protection, derating, SoC estimate, watchdog and fault plan.

    No I/O. The server calls :meth:`read_regs` / :meth:`write_regs` for every request,
    :meth:`outgoing` for every answer and :meth:`tick` every 0.1 s; tests do the same, or use
    :meth:`write_points` / :meth:`write_step` / :meth:`point`, with an injected ``wall_clock``.
    A complete step is a write that covers PlantHb with a new value (the twin writes the header of
    64950 last); the step is processed at once.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, unit_id: int = 1, wall_clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or EmulatorConfig()
        self.unit_id = unit_id
        self._wall = wall_clock
        self._lock = threading.RLock()
        self.locs = {loc.model_id: loc for loc in standard_layout(self.config.ncell)}
        self.end_addr = self.locs[MODEL_HIL].end + 2  # first address after the end marker
        self.counters: collections.Counter[str] = collections.Counter()
        self.events: collections.deque[tuple[float | None, str]] = collections.deque(maxlen=2000)
        self._rng = random.Random(self.config.seed)
        self._ocv_soc = np.linspace(0.0, 1.0, 1001)
        self._ocv_v = np.asarray(ocv_cell_v(self.config.chemistry, self._ocv_soc), dtype=float)
        # clock (not BMS state: survives a reboot so the fault plan does not start over)
        self._clock_s: float | None = None
        self._last_step_clock_s: float | None = None
        self._last_simt_ms: int | None = None
        self._sim_clock_s: float | None = None  # the clock from SimT alone
        self._simt_step_ms = 0  # the last regular SimT increment
        self._step_wall: float | None = None  # wall time of the last step
        self._step_wall_s = 0.0  # wall time between regular steps (1 s in real time, less in lockstep)
        self._wall_origin: float | None = None
        self._fault_done: set[int] = set()
        self._fault_active: set[int] = set()
        self._fault_start: dict[int, float] = {}  # clock at which each duration fault began
        self._fault_prev_t = 0.0  # the clock at the previous look at the fault plan
        self._rebooting = False
        self._reboot_until = 0.0
        self._ncell_warned = False
        self._reset_state()

    # -- state ------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        """Power-on state: fresh registers, contactor open, no alarms, Hb 0, SoC unknown."""
        c = self.config
        self.common = Block(self.locs[MODEL_COMMON])
        self.battery = Block(self.locs[MODEL_BATTERY])
        self.hil = Block(self.locs[MODEL_HIL])
        cm = self.common
        cm.set("Mn", c.manufacturer)
        cm.set("Md", c.model)
        cm.set("Opt", c.chemistry)
        cm.set("Vr", c.version)
        cm.set("SN", c.serial_number)
        cm.set("DA", self.unit_id, computed=False)
        b = self.battery
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
        for name in _802_UNIMPLEMENTED + _802_MEASURED:
            self._set_nan(b, name)
        b.set("AHRtg", c.capacity_ah)
        b.set("WHRtg", wh_rtg)
        b.set("WChaRteMax", w_cha)
        b.set("WDisChaRteMax", w_dis)
        b.set("SoCMax", c.soc_max_pct)
        b.set("SoCMin", c.soc_min_pct)
        b.set("SoH", c.soh_pct)
        b.set("Typ", TYP_LITHIUM_ION, computed=False)
        b.set("LocRemCtl", 0, computed=False)  # REMOTE
        b.set("VMax", c.ncell * c.v_max)
        b.set("VMin", c.ncell * c.v_min)
        for name in ("Evt1", "Evt2", "EvtVnd1", "EvtVnd2", "ReqInvState", "Hb", "CtrlHb", "AlmRst", "SetOp"):
            b.set(name, 0, computed=False)
        self._hb = 0
        self._latched = 0  # latched alarm bits
        self._alarm_now = 0  # alarm causes present at the last evaluation
        self._warnings = 0
        self._comm_error = False
        self._setop = 0
        self._last_ctrl_hb: int | None = None
        self._ctrl_hb_wall: float | None = None  # the watchdog arms at the first CtrlHb written
        self._last_plant_hb: int | None = None
        self._meas: Measurements | None = None
        self._soc_est_pct: float | None = None
        self._lim_ch_a = 0.0  # limits as published (register resolution)
        self._lim_dis_a = 0.0
        self._state = STATE_DISCONNECTED
        self._publish()

    @staticmethod
    def _set_nan(blk: Block, name: str) -> None:
        blk.set(name, _NAN_RAW[blk.points[name].pdef["type"]], computed=False)

    def _event(self, text: str, level: int = logging.INFO) -> None:
        self.events.append((self._clock_s, text))
        t = "--" if self._clock_s is None else f"{self._clock_s:.1f}"
        log.log(level, "%s t=%s s: %s", self.config.serial_number, t, text)

    # -- read-only views ----------------------------------------------------------------------
    @property
    def state(self) -> int:
        return self._state

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self._state, str(self._state))

    @property
    def contactor_closed(self) -> bool:
        return self._state == STATE_CONNECTED

    @property
    def evt1(self) -> int:
        return self._latched | self._warnings | (COMM_BIT if self._comm_error else 0)

    @property
    def latched(self) -> int:
        return self._latched

    @property
    def comm_error(self) -> bool:
        return self._comm_error

    @property
    def rebooting(self) -> bool:
        return self._rebooting

    @property
    def limits_a(self) -> tuple[float, float]:
        """(AChaMax, ADisChaMax) as published."""
        return self._lim_ch_a, self._lim_dis_a

    @property
    def soc_pct(self) -> float | None:
        """The SoC the BMS reports (estimate plus any soc_bias), None before the first step."""
        if self._soc_est_pct is None:
            return None
        return min(100.0, max(0.0, self._soc_est_pct + self._active_sum("soc_bias")))

    @property
    def clock_s(self) -> float | None:
        return self._clock_s

    @property
    def measurements(self) -> Measurements | None:
        return self._meas

    @property
    def hb(self) -> int:
        return self._hb

    @hb.setter
    def hb(self, value: int) -> None:
        """Set the heartbeat (tests of the wrap; replay)."""
        with self._lock:
            self._hb = int(value) % 65535
            self._publish()

    # -- register image -------------------------------------------------------------------------
    def image(self) -> list[int]:
        """All registers from 40000 to the end marker."""
        with self._lock:
            return [
                *SUNS_MARKER,
                *self.common.all_regs(),
                *self.battery.all_regs(),
                *self.hil.all_regs(),
                END_ID,
                END_L,
            ]

    def read_regs(self, addr: int, count: int) -> list[int]:
        off = addr - BASE_ADDR
        if off < 0 or off + count > self.end_addr - BASE_ADDR:
            raise IndexError(f"registers {addr}+{count} outside the map {BASE_ADDR}..{self.end_addr - 1}")
        return self.image()[off : off + count]

    def block(self, model_id: int) -> Block:
        return {MODEL_COMMON: self.common, MODEL_BATTERY: self.battery, MODEL_HIL: self.hil}[model_id]

    def point(self, model_id: int, name: str, computed: bool = True) -> Any:
        with self._lock:
            return self.block(model_id).get(name, computed)

    def write_regs(self, addr: int, values: Sequence[int]) -> None:
        """A Modbus write from the twin. Only the twin's points are taken: 802 CtrlHb, AlmRst, SetOp and
        64950 (but its ID, L and NCell, which the BMS fixes). Ignored while the BMS reboots."""
        with self._lock:
            self.counters["writes"] += 1
            if self._rebooting:
                self.counters["writes_ignored"] += 1
                return
            end = addr + len(values)
            ctrl: dict[str, int] = {}
            b = self.battery
            for name in _802_WRITABLE:
                a = b.addr(name)
                if addr <= a < end:
                    ctrl[name] = int(values[a - addr])
                    b.load([ctrl[name]], a)
            new_plant_hb: int | None = None
            h = self.hil
            lo, hi = max(addr, h.loc.addr), min(end, h.loc.end)
            if lo < hi:
                regs = [int(v) for v in values[lo - addr : hi - addr]]
                for name in ("ID", "L", "NCell"):
                    a = h.addr(name)
                    if lo <= a < hi:
                        if name == "NCell" and regs[a - lo] != self.config.ncell and not self._ncell_warned:
                            self._ncell_warned = True
                            self._event(
                                f"twin wrote NCell {regs[a - lo]}, the BMS has {self.config.ncell}: kept",
                                logging.WARNING,
                            )
                        regs[a - lo] = h.all_regs()[a - h.loc.addr]
                h.load(regs, lo)
                a = h.addr("PlantHb")
                if lo <= a < hi:
                    new_plant_hb = regs[a - lo]
            if "CtrlHb" in ctrl:
                self._on_ctrl_hb(ctrl["CtrlHb"])
            if "SetOp" in ctrl:
                self._on_setop(ctrl["SetOp"])
            if ctrl.get("AlmRst") == 1:
                self._alarm_reset()
            if new_plant_hb is not None and new_plant_hb != self._last_plant_hb:
                self._last_plant_hb = new_plant_hb
                self._step()
            if not self._rebooting:
                self._update_contactor()
            self._publish()

    def write_points(self, model_id: int, values: Mapping[str, float | int], computed: bool = True) -> None:
        """Write points by name as one Modbus write would (tests, demos): the registers from the first to
        the last point named, the others unchanged."""
        with self._lock:
            blk = self.block(model_id)
            tmp = Block(blk.loc, blk.all_regs())
            for name, v in values.items():
                tmp.set(name, v, computed)
            first = min(blk.addr(n) for n in values)
            last = max(blk.addr(n) + blk.size(n) for n in values)
            regs = tmp.all_regs()[first - blk.loc.addr : last - blk.loc.addr]
        self.write_regs(first, regs)

    def write_step(self, header: Mapping[str, float | int], cells_v: Sequence[float] | None = None) -> None:
        """Write one complete step as the twin does: the cells first, then the header (offsets 0-11) with
        PlantHb +1 unless given. Header points not given keep their register values."""
        with self._lock:
            h = self.hil
            if cells_v is not None:
                a, n = h.cell_range()
                tmp = Block(h.loc, h.all_regs())
                for k, v in enumerate(cells_v[:n]):
                    tmp.set_cell(k, v)
                self.write_regs(a, tmp.all_regs()[a - h.loc.addr : a - h.loc.addr + n])
            tmp = Block(h.loc, h.all_regs())
            hb = header.get("PlantHb", next_count(int(h.get("PlantHb", computed=False) or 0)))
            tmp.set("PlantHb", hb, computed=False)
            for name, v in header.items():
                if name != "PlantHb":
                    tmp.set(name, v, computed=name != "SimT")
            regs = tmp.regs("PlantHb", "NCell")
            self.write_regs(h.addr("PlantHb"), regs)

    # -- commands -------------------------------------------------------------------------------
    def _on_ctrl_hb(self, value: int) -> None:
        if value != self._last_ctrl_hb:
            self._last_ctrl_hb = value
            self._ctrl_hb_wall = self._wall()
            if self._comm_error:
                self._comm_error = False
                self._event("CtrlHb moves again: COMMUNICATION_ERROR cleared")

    def _on_setop(self, value: int) -> None:
        if value != self._setop:
            self._setop = value
            self._event(
                f"SetOp {'CONNECT' if value == SETOP_CONNECT else 'DISCONNECT' if value == 2 else value}", logging.DEBUG
            )

    def _alarm_reset(self) -> None:
        kept = self._latched & self._alarm_now
        cleared = self._latched & ~self._alarm_now
        self._latched = kept
        self.counters["alarm_resets"] += 1
        text = f"alarm reset: cleared {tb.evt1_names(cleared) or 'nothing'}"
        if kept:
            text += f", still latched (cause persists): {tb.evt1_names(kept)}"
        self._event(text)
        self.battery.set("AlmRst", 0, computed=False)  # executed: the BMS writes it back to 0

    # -- a complete step --------------------------------------------------------------------------
    def _read_meas(self) -> Measurements:
        h = self.hil
        c = self.config
        v_nom = CHEMISTRIES[c.chemistry].v_nom_cell_v

        def num(name: str, default: float) -> float:
            v = h.get(name)
            return float(v) if v is not None else default

        vmax = num("CellVMax", v_nom)
        vmin = num("CellVMin", v_nom)
        dt_k = self._active_sum("over_temp")
        return Measurements(
            plant_hb=int(h.get("PlantHb", computed=False) or 0),
            sim_t_ms=int(h.get("SimT", computed=False) or 0),
            pack_v=num("PackV", 0.0),
            pack_a=num("PackA", 0.0),
            cell_v_max_v=vmax,
            cell_v_min_v=vmin,
            cell_v_avg_v=num("CellVAvg", 0.5 * (vmax + vmin)),
            cell_t_max_c=num("CellTMax", 25.0) + dt_k,
            cell_t_min_c=num("CellTMin", 25.0) + dt_k,
            soc_true_pct=h.get("SoCTrue"),
        )

    def _advance_clock(self, simt_ms: int) -> float:
        """Move the emulator clock to this step; returns dt in seconds since the previous step (the tick
        also moves the wall clock, so the step keeps its own mark)."""
        prev = self._last_step_clock_s
        now_wall = self._wall()
        if self._step_wall is not None:
            gap = now_wall - self._step_wall
            if self._step_wall_s == 0.0 or gap < 2.0 * self._step_wall_s:  # a regular step, not after a stall
                self._step_wall_s = gap
        self._step_wall = now_wall
        if self.config.clock == "sim":
            if self._last_simt_ms is None:
                self._clock_s = simt_ms / 1000.0
                self._sim_clock_s = self._clock_s
            else:
                d = (simt_ms - self._last_simt_ms) % U32_WRAP
                if d > U32_WRAP // 2:  # SimT went back (the twin restarted): the clock holds
                    self._event(f"SimT went back from {self._last_simt_ms} to {simt_ms} ms", logging.WARNING)
                    d = 0
                # steps that never arrived (the line was down, the twin had the pack out of service): the
                # current of the step written now describes only its own step, so count one step of it
                gap_ms = d
                if self._simt_step_ms and d > 2 * self._simt_step_ms:
                    d = self._simt_step_ms
                elif d > 0:
                    self._simt_step_ms = d
                self._sim_clock_s = (self._sim_clock_s or 0.0) + gap_ms / 1000.0
                # the clock never runs back: while no step arrived it ran on the wall (see tick)
                self._clock_s = max(self._sim_clock_s, self._clock_s or 0.0)
                self._last_simt_ms = simt_ms
                self._last_step_clock_s = self._clock_s
                return d / 1000.0
            self._last_simt_ms = simt_ms
        else:
            now = self._wall()
            if self._wall_origin is None:
                self._wall_origin = now
            self._clock_s = now - self._wall_origin
        self._last_step_clock_s = self._clock_s
        return 0.0 if prev is None else max(0.0, self._clock_s - prev)

    def _step(self) -> None:
        self.counters["steps"] += 1
        simt = int(self.hil.get("SimT", computed=False) or 0)
        dt_s = self._advance_clock(simt)
        self._apply_faults()
        if self._rebooting:
            return
        was_closed = self._state == STATE_CONNECTED
        first = self._meas is None
        m = self._read_meas()
        self._meas = m
        c = self.config
        if self._soc_est_pct is None:
            self._soc_est_pct = 100.0 * float(np.interp(m.cell_v_avg_v, self._ocv_v, self._ocv_soc))
            self._event(f"SoC initialised from OCV at CellVAvg {m.cell_v_avg_v:.3f} V: {self._soc_est_pct:.2f} %")
        else:
            self._soc_est_pct += m.pack_a * dt_s / 3600.0 / c.capacity_ah * 100.0
            self._soc_est_pct = min(100.0, max(0.0, self._soc_est_pct))
        alarms, warnings = self._evaluate(m, was_closed)
        self._alarm_now = alarms
        new = alarms & ~self._latched
        if new:
            self._latched |= new
            self.counters["alarms_latched"] += 1
            self._event(f"alarm latched: {tb.evt1_names(new)}", logging.WARNING)
        self._warnings = warnings
        if "freeze_heartbeat" not in self._active_kinds():
            self._hb = next_count(self._hb)
        if first:
            self._event("first step received")

    def _evaluate(self, m: Measurements, was_closed: bool) -> tuple[int, int]:
        """(alarm causes present, warnings) for one step's measurements."""
        c = self.config
        a = w = 0
        if m.cell_v_max_v >= c.v_max - c.v_warn_margin_v:
            w |= 1 << tb.OVER_VOLT_WARNING
        if m.cell_v_max_v > c.v_max + c.v_alarm_tol_v:
            a |= 1 << tb.OVER_VOLT_ALARM
        if m.cell_v_min_v <= c.v_min + c.v_warn_margin_v:
            w |= 1 << tb.UNDER_VOLT_WARNING
        if m.cell_v_min_v < c.v_min - c.v_alarm_tol_v:
            a |= 1 << tb.UNDER_VOLT_ALARM
        t_hi, t_lo = float(c.temp_discharge_max_c), float(c.temp_discharge_min_c)  # type: ignore[arg-type]
        if m.cell_t_max_c >= t_hi - c.temp_warn_margin_c:
            w |= 1 << tb.OVER_TEMP_WARNING
        if m.cell_t_max_c > t_hi:
            a |= 1 << tb.OVER_TEMP_ALARM
        if m.cell_t_min_c <= t_lo + c.temp_warn_margin_c:
            w |= 1 << tb.UNDER_TEMP_WARNING
        if m.cell_t_min_c < t_lo:
            a |= 1 << tb.UNDER_TEMP_ALARM
        if was_closed:  # with the contactor open the limits read 0 and no current is the BMS's to judge
            i = m.pack_a
            if i > 0:
                if i > self._lim_ch_a * (1 + c.current_alarm_margin_frac) + c.current_tol_a:
                    a |= 1 << tb.OVER_CHARGE_CURRENT_ALARM
                elif i > self._lim_ch_a + c.current_tol_a:
                    w |= 1 << tb.OVER_CHARGE_CURRENT_WARNING
            elif i < 0:
                if -i > self._lim_dis_a * (1 + c.current_alarm_margin_frac) + c.current_tol_a:
                    a |= 1 << tb.OVER_DISCHARGE_CURRENT_ALARM
                elif -i > self._lim_dis_a + c.current_tol_a:
                    w |= 1 << tb.OVER_DISCHARGE_CURRENT_WARNING
        soc = self.soc_pct
        if soc is not None:
            if soc <= c.soc_min_pct:
                w |= 1 << tb.UNDER_SOC_MIN_WARNING
            if soc >= c.soc_max_pct:
                w |= 1 << tb.OVER_SOC_MAX_WARNING
        if m.cell_v_max_v - m.cell_v_min_v > c.imbalance_warn_v:
            w |= 1 << tb.VOLTAGE_IMBALANCE_WARNING
        return a, w

    def derated_limits(self, m: Measurements) -> tuple[float, float]:
        """(charge, discharge) current limits in A for these measurements, contactor closed: the rated
        limits times the cell-voltage taper and the temperature derating."""
        c = self.config
        f_v_ch = _clamp01((c.v_max - m.cell_v_max_v) / c.v_taper_v)
        f_v_dis = _clamp01((m.cell_v_min_v - c.v_min) / c.v_taper_v)
        band = c.temp_derate_band_c
        f_t_ch = (
            _clamp01((float(c.temp_charge_max_c) - m.cell_t_max_c) / band)  # type: ignore[arg-type]
            * _clamp01((m.cell_t_min_c - float(c.temp_charge_min_c)) / band)
        )  # type: ignore[arg-type]
        f_t_dis = (
            _clamp01((float(c.temp_discharge_max_c) - m.cell_t_max_c) / band)  # type: ignore[arg-type]
            * _clamp01((m.cell_t_min_c - float(c.temp_discharge_min_c)) / band)
        )  # type: ignore[arg-type]
        return c.i_ch_max * f_v_ch * f_t_ch, c.i_dis_max * f_v_dis * f_t_dis

    # -- contactor and registers ------------------------------------------------------------------
    def _update_contactor(self) -> None:
        prev = self._state
        if self._rebooting:
            new, why = STATE_INITIALIZING, "reboot"
        elif self._latched:
            new, why = STATE_FAULT, f"alarm latched: {', '.join(tb.evt1_names(self._latched))}"
        elif self._comm_error:
            new, why = STATE_FAULT, f"watchdog: CtrlHb unchanged for {self.config.watchdog_s:g} s"
        elif self._setop == SETOP_CONNECT and self._meas is not None:
            new, why = STATE_CONNECTED, "SetOp CONNECT"
        else:
            new, why = (
                STATE_DISCONNECTED,
                ("SetOp CONNECT waits for the first step" if self._setop == SETOP_CONNECT else "no CONNECT request"),
            )
        if new != prev:
            self._state = new
            if new == STATE_CONNECTED:
                self.counters["contactor_closed"] += 1
                self._event(f"contactor closed ({why})")
            elif prev == STATE_CONNECTED:
                self.counters["contactor_opened"] += 1
                self._event(
                    f"contactor opened ({why}); State {STATE_NAMES[new]}",
                    logging.WARNING if new == STATE_FAULT else logging.INFO,
                )
            else:
                self._event(f"State {STATE_NAMES.get(prev, prev)} -> {STATE_NAMES.get(new, new)} ({why})")

    def _publish(self) -> None:
        """Model 802 from the BMS's state."""
        b = self.battery
        c = self.config
        m = self._meas
        if self._state == STATE_CONNECTED and m is not None:
            ch, dis = self.derated_limits(m)
        else:
            ch = dis = 0.0
        self._lim_ch_a = round(ch * 10.0) / 10.0
        self._lim_dis_a = round(dis * 10.0) / 10.0
        b.set("AChaMax", min(self._lim_ch_a, 6553.4))
        b.set("ADisChaMax", min(self._lim_dis_a, 6553.4))
        soc = self.soc_pct
        if m is not None and soc is not None:
            b.set("SoC", soc)
            b.set("DoD", 100.0 - soc)
            b.set("V", max(0.0, min(m.pack_v, 65534 * 10.0 ** b.sf(b.points["V"]))))
            b.set("A", max(-3276.7, min(3276.7, m.pack_a)))
            w_sf = b.sf(b.points["W"])
            b.set("W", max(-32767 * 10.0**w_sf, min(32767 * 10.0**w_sf, m.pack_v * m.pack_a)))
            b.set("CellVMax", m.cell_v_max_v)
            b.set("CellVMin", m.cell_v_min_v)
            b.set("CellVAvg", m.cell_v_avg_v)
        else:
            for name in _802_MEASURED:
                self._set_nan(b, name)
        b.set("SoH", c.soh_pct)
        b.set("Evt1", self.evt1, computed=False)
        b.set("State", self._state, computed=False)
        b.set("ChaSt", self._cha_st(), computed=False)
        b.set("Hb", self._hb, computed=False)

    def _cha_st(self) -> int:
        if self._state != STATE_CONNECTED or self._meas is None:
            return CHAST_OFF
        soc = self.soc_pct or 0.0
        if soc >= self.config.soc_max_pct:
            return CHAST_FULL
        if soc <= self.config.soc_min_pct:
            return CHAST_EMPTY
        if self._meas.pack_a > 0.5:
            return CHAST_CHARGING
        if self._meas.pack_a < -0.5:
            return CHAST_DISCHARGING
        return CHAST_HOLDING

    # -- time: watchdog, reboot, fault plan ------------------------------------------------------
    def tick(self) -> None:
        """Called every ~0.1 s wall: end of a reboot, the watchdog, and the fault plan on the wall clock."""
        with self._lock:
            now = self._wall()
            if self._rebooting:
                if now < self._reboot_until:
                    return
                self._rebooting = False
                self._event("reboot done: DISCONNECTED until the next CONNECT")
            if self.config.clock == "wall" and self._wall_origin is not None:
                self._clock_s = now - self._wall_origin
                self._apply_faults()
                if self._rebooting:
                    return
            elif self._step_wall is not None and self._clock_s is not None:
                # sim clock, but no step for a while (silent, rebooting, a line down: the twin cannot write
                # its header): the clock runs on the wall from the last step, so a timed fault can end
                stall = now - self._step_wall
                if stall > 2.0 * max(self._step_wall_s, 0.05):  # two steps' time without a step
                    t = (self._sim_clock_s or 0.0) + stall
                    if t > self._clock_s:
                        self._clock_s = t
                        self._apply_faults()
                        if self._rebooting:
                            return
            last = self._ctrl_hb_wall
            if not self._comm_error and last is not None and now - last >= self.config.watchdog_s:
                self._comm_error = True
                self.counters["watchdog_trips"] += 1
                self._event(f"watchdog: CtrlHb unchanged for {now - last:.1f} s: COMMUNICATION_ERROR", logging.WARNING)
            self._update_contactor()
            self._publish()

    def _active_kinds(self) -> set[str]:
        return {self.config.faults[i].kind for i in self._fault_active}

    def _active_sum(self, kind: str) -> float:
        return sum(
            float(self.config.faults[i].value or 0.0) for i in self._fault_active if self.config.faults[i].kind == kind
        )

    def _apply_faults(self) -> None:
        t = self._clock_s
        if t is None:
            return
        prev_t, self._fault_prev_t = self._fault_prev_t, t
        for i, f in enumerate(self.config.faults):
            if f.kind in _ONE_SHOT:
                if i in self._fault_done or t < f.at_s:
                    continue
                self._fault_done.add(i)
                self.counters["faults_applied"] += 1
                if f.kind == "open_contactor":
                    self._latched |= 1 << tb.OTHER_ALARM
                    self._event(
                        f"fault {f.describe()}: the BMS opens its contactor (OTHER_ALARM latched)", logging.WARNING
                    )
                    self._update_contactor()
                else:
                    self._reboot(f)
                    return
            else:
                # edge-triggered: a fault starts when the clock reaches at_s and lasts duration_s; a clock
                # that jumped past the whole window (no step arrived for a while) still gets it, from now
                if i not in self._fault_active and i not in self._fault_done and t >= f.at_s:
                    self._fault_active.add(i)
                    start = max(f.at_s, prev_t)
                    self._fault_start[i] = start if f.duration_s is None or t - start < f.duration_s else t
                    self.counters["faults_applied"] += 1
                    self._event(f"fault {f.describe()} starts", logging.WARNING)
                elif i in self._fault_active and f.duration_s is not None and t >= self._fault_start[i] + f.duration_s:
                    self._fault_active.discard(i)
                    self._fault_done.add(i)
                    self._event(f"fault {f.describe()} ends")

    def _reboot(self, f: FaultSpec) -> None:
        self._event(f"fault {f.describe()}: rebooting, silent for {self.config.reboot_s:g} s", logging.WARNING)
        self.counters["reboots"] += 1
        self._reset_state()
        self._rebooting = True
        self._reboot_until = self._wall() + self.config.reboot_s
        self._update_contactor()
        self._publish()
        if self.config.reboot_s <= 0:
            self.tick()

    # -- the wire -----------------------------------------------------------------------------------
    def wire_mode(self) -> str:
        """What happens to the next answer: ``ok``, ``silent``, ``corrupt`` or ``garbage``."""
        with self._lock:
            if self._rebooting:
                return "silent"
            kinds = self._active_kinds()
            return next((k for k in _WIRE_KINDS if k in kinds), "ok")

    def outgoing(self, frame: bytes) -> bytes:
        """An answer on its way out, after the wire faults: b"" for none, a broken CRC, garbage."""
        mode = self.wire_mode()
        with self._lock:
            if mode == "silent":
                self.counters["answers_dropped"] += 1
                return b""
            if mode == "corrupt" and len(frame) >= 2:
                self.counters["answers_corrupted"] += 1
                return frame[:-2] + bytes((frame[-2] ^ 0xFF, frame[-1] ^ 0xFF))
            if mode == "garbage":
                self.counters["answers_garbled"] += 1
                noise = bytes(self._rng.getrandbits(8) for _ in range(self._rng.randint(3, 12)))
                if self._rng.random() < 0.5:
                    return noise + frame  # preceded by garbage
                return bytes(self._rng.getrandbits(8) for _ in range(len(frame)))  # replaced
            self.counters["answers"] += 1
            return frame


# ---------------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------------
class BmsEmulator:
    """Serves a :class:`BmsLogic` over Modbus RTU with pymodbus's serial server, in a background thread.

    ``start()`` returns once the port is open and the server is listening (raises
    :class:`EmulatorError` naming the port when it cannot be opened); ``stop()`` is safe to call twice.
    """

    def __init__(self, settings: LineSettings, config: EmulatorConfig | None = None, n_units: int = 1) -> None:
        """``n_units`` > 1: that many BMSs on the one line (a shared RS-485 bus), unit ids
        ``settings.unit_id`` onwards, serial numbers ``<serial_number>-<k>``; :attr:`logic` is the first."""
        self.settings = settings
        self.config = config or EmulatorConfig()
        self.logics: dict[int, BmsLogic] = {}
        for k in range(n_units):
            cfg = (
                self.config
                if n_units == 1
                else self.config.model_copy(update={"serial_number": f"{self.config.serial_number}-{k}"})
            )
            self.logics[settings.unit_id + k] = BmsLogic(cfg, unit_id=settings.unit_id + k)
        self.logic = self.logics[settings.unit_id]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_evt: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._stopping = False

    @property
    def counters(self) -> collections.Counter[str]:
        return self.logic.counters

    def start(self, timeout_s: float = 5.0) -> BmsEmulator:
        if self._thread is not None:
            return self
        line = self.settings.for_port()
        _check_port(line)
        self._started.clear()
        self._error = None
        self._stopping = False
        self._thread = threading.Thread(target=self._thread_main, args=(line,), name="bms-emulator", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            self.stop()
            raise EmulatorError(f"serial port {line.port}: the server did not start within {timeout_s:g} s")
        if self._error is not None:
            err = self._error
            self.stop()
            raise EmulatorError(f"serial port {line.port}: {err}")
        log.info(
            "BMS emulator %s serving on %s (NCell %d, %s)",
            self.config.serial_number,
            line.describe(),
            self.config.ncell,
            self.config.chemistry,
        )
        return self

    def stop(self) -> None:
        """Stop the server and close the port (safe to call twice, and before start)."""
        self._stopping = True
        loop, evt, th = self._loop, self._stop_evt, self._thread
        if loop is not None and evt is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(evt.set)
            except RuntimeError:  # loop already closed
                pass
        if th is not None:
            th.join(timeout=5.0)
        self._thread = None
        self._loop = None
        self._stop_evt = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb_: TracebackType | None
    ) -> None:
        self.stop()

    def serve_forever(self, duration_s: float | None = None) -> None:
        """Serve until ``duration_s`` wall seconds have passed (None: until Ctrl-C), then stop cleanly."""
        self.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            while self._thread is not None and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                time.sleep(0.2 if left is None else min(0.2, left))
        except KeyboardInterrupt:
            log.info("interrupted: stopping")
        finally:
            self.stop()
        if self._error is not None:
            raise EmulatorError(f"the server stopped: {self._error}")

    # -- the server thread ----------------------------------------------------------------------
    def _thread_main(self, line: LineSettings) -> None:
        try:
            asyncio.run(self._serve(line))
        except BaseException as exc:  # reported to start(); the thread must not die with a traceback
            self._error = exc
            self._started.set()

    async def _serve(self, line: LineSettings) -> None:
        from pymodbus.framer import FramerType
        from pymodbus.server import ModbusSerialServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        self._loop = asyncio.get_running_loop()
        self._stop_evt = asyncio.Event()
        devices = [
            SimDevice(
                id=uid,
                simdata=[SimData(BASE_ADDR, values=lg.image(), datatype=DataType.REGISTERS)],
                action=self._action_for(lg),
            )
            for uid, lg in self.logics.items()
        ]
        server = ModbusSerialServer(
            devices if len(devices) > 1 else devices[0],
            framer=FramerType.RTU,
            port=line.port,
            baudrate=line.baudrate,
            bytesize=line.bytesize,
            parity=line.parity,
            stopbits=line.stopbits,
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,  # type: ignore[arg-type]
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise EmulatorError(f"cannot listen: {exc}") from None
        self._started.set()
        try:
            while not self._stopping:
                try:
                    await asyncio.wait_for(self._stop_evt.wait(), timeout=TICK_S)
                    break
                except TimeoutError:
                    try:
                        for lg in self.logics.values():
                            lg.tick()
                    except Exception:  # a bug must not take the line down with it
                        log.exception("BMS tick failed")
        finally:
            await server.shutdown()

    def _action_for(self, logic: BmsLogic) -> Callable[..., Any]:
        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            current_registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> None:
            """pymodbus datastore hook, called before a read or a write of one unit's registers.

            Writes go to the logic (pymodbus then stores them in its copy, which no read uses). Reads are
            refreshed from the logic's image, except the read-back pymodbus does after a write (function
            codes 6 and 16) to build the echo, which must echo what was written."""
            if set_values is not None:
                logic.write_regs(address, [int(v) for v in set_values])
                return
            if function_code in (6, 16):
                return
            off = address - start_address
            current_registers[off : off + count] = logic.read_regs(address, count)
            return

        return action

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        """pymodbus packet hook (bytes on the wire). Incoming: unchanged. Outgoing: the wire faults.

        In pymodbus 3.16 the server sends ``trace_packet(True, frame)`` as it is returned
        (``TransactionManager.pdu_send`` -> ``ModbusProtocol.send`` -> the serial transport's write):
        b"" writes nothing, so returning it drops the answer while the request was processed."""
        if not sending:
            self.logic.counters["bytes_in"] += len(data)
            return data
        lg = self.logics.get(data[0]) if data else None
        if lg is None:
            # pymodbus answers a frame it cannot decode with an exception response carrying the frame's
            # unit id; on a shared bus a BMS must not speak for another unit
            self.logic.counters["answers_other_unit_suppressed"] += 1
            return b""
        out = lg.outgoing(data)
        lg.counters["bytes_out"] += len(out)
        return out

    def _trace_pdu(self, sending: bool, pdu: Any) -> Any:
        """Requests for another unit id are ignored, as on an RS-485 bus (pymodbus's server would
        otherwise answer them from the one device it has); returning None drops the request."""
        if not sending and pdu.dev_id not in self.logics:
            self.logic.counters["requests_other_unit"] += 1
            return None
        if not sending:
            self.logics[pdu.dev_id].counters["requests"] += 1
        return pdu


def _check_port(line: LineSettings) -> None:
    """Open and close the port with pyserial, as pymodbus will, to say why it cannot be opened
    (pymodbus only logs "Failed to start server")."""
    import serial

    try:
        s = serial.serial_for_url(
            line.port,
            baudrate=line.baudrate,
            bytesize=line.bytesize,
            parity=line.parity,
            stopbits=line.stopbits,
            exclusive=True,
            timeout=0,
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        reason = str(exc)
        if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
            reason = os.strerror(exc.errno)  # pyserial repeats the path in its own text
        raise EmulatorError(f"cannot open serial port {line.port}: {reason}") from None
    s.close()


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``twin bms-emulator``."""
    parser.add_argument("--port", help="serial port to serve on (the BMS's side of the line); required unless --pty")
    parser.add_argument(
        "--pty",
        metavar="LINK",
        help="make a virtual line: serve on one end of a pseudo-terminal "
        "pair and make the other end available as a symlink at LINK",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file of emulator settings and [[faults]]")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND@AT[:DURATION][=VALUE]",
        help=f"fault to inject (repeatable), e.g. silent@20:5, soc_bias@0=3; kinds: "
        f"{', '.join(FAULT_KINDS)}; times on the emulator clock, s",
    )
    parser.add_argument("--baudrate", type=int, default=115200)
    parser.add_argument("--parity", default="E", help="N, E or O (a pseudo-terminal always uses N)")
    parser.add_argument("--stopbits", type=int, default=1)
    parser.add_argument("--bytesize", type=int, default=8)
    parser.add_argument("--unit-id", type=int, default=1)
    parser.add_argument(
        "--units",
        type=int,
        default=1,
        metavar="N",
        help="N BMSs on the one line (a shared RS-485 bus): unit ids from --unit-id on, serial "
        "numbers <serial number>-0, -1, ... (default 1)",
    )
    parser.add_argument("--serial-number", help="model 1 SN (the pack id)")
    parser.add_argument("--ncell", type=int, help=f"number of cells in model 64950 (0..{NCELL_MAX})")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S wall seconds (default: Ctrl-C)")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")


def _build(args: argparse.Namespace) -> tuple[EmulatorConfig, LineSettings | None]:
    faults = [FaultSpec.parse(t) for t in (args.fault or [])]
    overrides = {"serial_number": args.serial_number, "ncell": args.ncell}
    if args.config:
        config = EmulatorConfig.from_toml(args.config, overrides=overrides, extra_faults=faults)
    else:
        config = EmulatorConfig.from_dict({}, source="arguments", overrides=overrides, extra_faults=faults)
    parity = str(args.parity).upper()
    if parity not in PARITIES:
        raise ConfigError(f"--parity {args.parity!r}: use one of {', '.join(PARITIES)}")
    checks = [
        ("--baudrate", args.baudrate, args.baudrate > 0),
        ("--stopbits", args.stopbits, args.stopbits in (1, 2)),
        ("--bytesize", args.bytesize, args.bytesize in (5, 6, 7, 8)),
        ("--unit-id", args.unit_id, 1 <= args.unit_id <= 247),
    ]
    for flag, v, ok in checks:
        if not ok:
            allowed = {"--baudrate": "> 0", "--stopbits": "1 or 2", "--bytesize": "5..8", "--unit-id": "1..247"}[flag]
            raise ConfigError(f"{flag} {v}: must be {allowed}")
    if args.duration is not None and args.duration <= 0:
        raise ConfigError(f"--duration {args.duration}: must be > 0 seconds")
    if args.port and args.pty:
        raise ConfigError("give either --port PORT or --pty LINK, not both")
    if not args.port and not args.pty:
        raise ConfigError("give --port PORT (the BMS's side of a serial line) or --pty LINK (a virtual line)")
    line = None
    if args.port:
        line = LineSettings(
            port=args.port,
            baudrate=args.baudrate,
            bytesize=args.bytesize,
            parity=parity,
            stopbits=args.stopbits,
            unit_id=args.unit_id,
        )
    return config, line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (it may be replaced after set-up)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _setup_logging(quiet: bool) -> Callable[[], None]:
    """Log the ``hil`` loggers to stderr for the CLI; returns the undo (main is also called in-process)."""
    lg = logging.getLogger("hil")
    h = _StderrHandler()
    h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
    old_level = lg.level
    lg.addHandler(h)
    lg.setLevel(logging.WARNING if quiet else logging.INFO)

    def undo() -> None:
        lg.removeHandler(h)
        lg.setLevel(old_level)

    return undo


def _sigterm_as_interrupt() -> Callable[[], None]:
    """SIGTERM (a test harness or a service manager stopping us) stops as cleanly as Ctrl-C does.
    Only the main thread may set handlers; elsewhere (main called in a thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    return lambda: signal.signal(signal.SIGTERM, old)


def main(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """``twin bms-emulator``: 0 when stopped (duration over, Ctrl-C), 2 with a one-line message on bad input
    (config, fault syntax, a port that cannot be opened), 1 if the server died while serving."""
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(
            prog="twin bms-emulator",
            description="software BMS on a serial line (SunSpec models 1, 802, 64950 over Modbus RTU)",
        )
        add_arguments(parser)
        args = parser.parse_args(args)
    undo_logging = _setup_logging(args.quiet)
    pair: PtyPair | None = None
    try:
        config, line = _build(args)
        if args.pty:
            link = Path(args.pty)
            if link.exists() and not link.is_symlink():
                raise ConfigError(f"--pty {link}: a file is already there (not a symlink); choose another path")
            if not link.parent.is_dir():
                raise ConfigError(f"--pty {link}: directory {link.parent} does not exist")
            pair = PtyPair(link_a=link).start()
            line = LineSettings(
                port=pair.b,
                baudrate=args.baudrate,
                bytesize=args.bytesize,
                parity=str(args.parity).upper(),
                stopbits=args.stopbits,
                unit_id=args.unit_id,
            )
        assert line is not None
        if not 1 <= args.units <= 32 or args.unit_id + args.units - 1 > 247:
            raise ConfigError(
                f"--units {args.units}: 1..32 BMSs with unit ids up to 247 (from --unit-id {args.unit_id})"
            )
        emulator = BmsEmulator(line, config, n_units=args.units)
        emulator.start()
        if pair is not None:
            print(f"twin side of the line: {args.pty}", flush=True)
            print(f"  (run: twin hil SCENARIO --port {args.pty})", flush=True)
        if config.faults:
            log.info("fault plan (%s clock): %s", config.clock, ", ".join(f.describe() for f in config.faults))
        restore_sigterm = _sigterm_as_interrupt()
        try:
            emulator.serve_forever(duration_s=args.duration)
        except EmulatorError as exc:
            print(f"twin bms-emulator: {exc}", file=sys.stderr)
            return 1
        finally:
            restore_sigterm()
        if not args.quiet:
            for lg in emulator.logics.values():
                c = lg.counters
                print(
                    f"bms-emulator {lg.config.serial_number} (unit {lg.unit_id}): {c['requests']} requests, "
                    f"{c['answers']} answered, {c['steps']} steps, {c['faults_applied']} faults applied, "
                    f"final State {lg.state_name}",
                    flush=True,
                )
        return 0
    except (ConfigError, EmulatorError) as exc:
        print(f"twin bms-emulator: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        if pair is not None:
            pair.close()
        undo_logging()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
