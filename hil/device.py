"""Device file of a BMS product on the HIL line (TOML): line settings, timing, sign convention, packs.

Example (every key optional; the defaults are the contract's)::

    [line]
    baudrate = 115200
    parity = "E"          # N, E or O (no parity on a pseudo-terminal, whatever is set)
    stopbits = 1
    bytesize = 8

    [timing]
    timeout_s = 0.1       # one attempt: request out, answer back
    retries = 2           # further attempts within the same step
    hb_timeout_s = 5.0    # BMS heartbeat (802 Hb) frozen this long: the pack is taken out
    io_budget_frac = 0.8  # share of a step the serial exchange may take (real time)

    [bms]
    current_sign = 1      # -1 for a product whose 802 A and W are positive when discharging
    use_fc23 = "auto"     # read/write-multiple: "auto" (try once, fall back to 16 + 3), "yes", "no"
    ncell_expected = 0    # 0: take NCell from the device; else refuse a device with another NCell

    [[packs]]             # which fleet pack answers at which unit id (default: --packs in order, ids 1..n)
    id = 0
    unit_id = 1

The line's allowed values are :mod:`hil.line`'s (the same as the line flags of ``twin hil``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from hil.line import LineConfig
from twin.config.base import StrictModel
from twin.errors import DeviceFileError
from twin.validation import format_problems, format_validation_error

__all__ = [
    "BmsProductConfig",
    "DeviceConfig",
    "DeviceFileError",
    "LineConfig",
    "PackBinding",
    "TimingConfig",
    "load_device",
    "parse_device",
]


class TimingConfig(StrictModel):
    timeout_s: float = Field(0.1, gt=0, le=10)
    retries: int = Field(2, ge=0, le=10)
    hb_timeout_s: float = Field(5.0, gt=0)
    io_budget_frac: float = Field(0.8, gt=0, le=1)


class BmsProductConfig(StrictModel):
    current_sign: Literal[1, -1] = 1
    use_fc23: Literal["auto", "yes", "no"] = "auto"
    ncell_expected: int = Field(0, ge=0, le=192)


class PackBinding(StrictModel):
    id: int = Field(ge=0)
    unit_id: int = Field(ge=1, le=247)


class DeviceConfig(StrictModel):
    line: LineConfig = LineConfig()
    timing: TimingConfig = TimingConfig()
    bms: BmsProductConfig = BmsProductConfig()
    packs: list[PackBinding] = []


def parse_device(data: dict[str, Any], source: str, text: str | None = None) -> DeviceConfig:
    """Validate a device file's table; :class:`DeviceFileError` (exit 2) names ``source``, the line (given
    the file's ``text``), the key and a close match for a misspelled key."""
    try:
        return DeviceConfig.model_validate(data)
    except ValidationError as exc:
        msgs = format_validation_error(exc, model=DeviceConfig, source=source, text=text, data=data)
        raise DeviceFileError(format_problems(source, msgs, "the device file")) from exc


def load_device(path: str | Path | None) -> DeviceConfig:
    """Read a device file (None: the contract's defaults)."""
    if path is None:
        return DeviceConfig()
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise DeviceFileError(f"device file {p}: cannot read it: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeviceFileError(f"device file {p}: not valid TOML: {exc}") from exc
    return parse_device(data, str(p), text)
