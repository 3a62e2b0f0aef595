"""What the emulated BMS is and how it protects its pack (:class:`EmulatorConfig`): a TOML file and flags.

Top-level keys of :class:`EmulatorConfig`, ``[[faults]]`` tables of
:class:`hil.emulator.faults.FaultSpec`. A bad file gives one
:class:`~twin.errors.EmulatorConfigError` (exit 2) whose lines read as every
input error of the twin: ``file:line: key = value: what is allowed; did you
mean 'x'?`` (:func:`twin.validation.format_validation_error`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from hil.emulator.faults import FaultSpec
from hil.sunspec_map import NCELL_MAX
from twin.config import Chemistry
from twin.config.base import StrictModel
from twin.errors import EmulatorConfigError
from twin.fleet.chemistry import CHEMISTRIES
from twin.validation import format_problems, format_validation_error

__all__ = ["VERSION", "EmulatorConfig"]

VERSION = "0.1.0"


def _upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


class EmulatorConfig(StrictModel):
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

    serial_number: str = Field("HIL-0", min_length=1, max_length=32)
    manufacturer: str = Field("sparks-twin", max_length=32)
    model: str = Field("bms-emulator", max_length=32)
    version: str = Field(VERSION, max_length=16)
    chemistry: Annotated[Chemistry, BeforeValidator(_upper)] = "NMC"  # any case
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
        if not self.v_min < self.v_max:
            raise ValueError(f"need v_min_cell_v < v_max_cell_v, got {self.v_min_cell_v} / {self.v_max_cell_v} V")
        if not self.t_charge[0] < self.t_charge[1]:
            raise ValueError("need temp_charge_min_c < temp_charge_max_c")
        if not self.t_discharge[0] < self.t_discharge[1]:
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

    @property
    def t_charge(self) -> tuple[float, float]:
        """(min, max) cell temperature for charging, degC."""
        return float(self.temp_charge_min_c), float(self.temp_charge_max_c)  # type: ignore[arg-type]

    @property
    def t_discharge(self) -> tuple[float, float]:
        """(min, max) cell temperature for discharging, degC: the alarms are at its ends."""
        return float(self.temp_discharge_min_c), float(self.temp_discharge_max_c)  # type: ignore[arg-type]

    @classmethod
    def from_toml(
        cls, path: str | Path, overrides: Mapping[str, Any] | None = None, extra_faults: Sequence[FaultSpec] = ()
    ) -> EmulatorConfig:
        """Load a TOML file (top-level keys of this model, ``[[faults]]`` tables); raises
        :class:`~twin.errors.EmulatorConfigError`."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except OSError as exc:
            raise EmulatorConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise EmulatorConfigError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, source=str(path), overrides=overrides, extra_faults=extra_faults, text=text)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str = "config",
        overrides: Mapping[str, Any] | None = None,
        extra_faults: Sequence[FaultSpec] = (),
        text: str | None = None,
    ) -> EmulatorConfig:
        """Validate settings (``overrides``: flags given, None for not given; ``extra_faults``: the --fault
        flags, after the file's); raises :class:`~twin.errors.EmulatorConfigError` naming ``source``."""
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
            msgs = format_validation_error(exc, model=cls, source=source, text=text, data=d)
            raise EmulatorConfigError(format_problems(source, msgs, "the emulator config")) from exc
