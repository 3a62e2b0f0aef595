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
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class DeviceFileError(ValueError):
    """A device file or HIL option that cannot be used (the message names the file and key)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineConfig(_Strict):
    baudrate: int = Field(115200, gt=0)
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class TimingConfig(_Strict):
    timeout_s: float = Field(0.1, gt=0, le=10)
    retries: int = Field(2, ge=0, le=10)
    hb_timeout_s: float = Field(5.0, gt=0)
    io_budget_frac: float = Field(0.8, gt=0, le=1)


class BmsProductConfig(_Strict):
    current_sign: Literal[1, -1] = 1
    use_fc23: Literal["auto", "yes", "no"] = "auto"
    ncell_expected: int = Field(0, ge=0, le=192)


class PackBinding(_Strict):
    id: int = Field(ge=0)
    unit_id: int = Field(ge=1, le=247)


class DeviceConfig(_Strict):
    line: LineConfig = LineConfig()
    timing: TimingConfig = TimingConfig()
    bms: BmsProductConfig = BmsProductConfig()
    packs: list[PackBinding] = []


def _suggest(word: str, allowed: list[str]) -> str:
    m = difflib.get_close_matches(word, allowed, n=1)
    return f" (did you mean '{m[0]}'?)" if m else ""


def _allowed_at(loc: tuple) -> list[str]:
    model: type[BaseModel] = DeviceConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", None)
        inner = args[0] if args else ann
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
        else:
            return []
    return list(model.model_fields)


def parse_device(data: dict, where: str) -> DeviceConfig:
    try:
        return DeviceConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc)
            if err["type"] == "extra_forbidden":
                allowed = _allowed_at(loc)
                lines.append(
                    f"{where}: unknown key '{key}'{_suggest(str(loc[-1]), allowed)}; allowed here: {', '.join(allowed)}"
                )
            else:
                lines.append(f"{where}: key '{key}': {err['msg']} (got {err.get('input')!r})")
        raise DeviceFileError("\n".join(lines)) from None


def load_device(path: str | Path | None) -> DeviceConfig:
    """Read a device file (None: the contract's defaults)."""
    if path is None:
        return DeviceConfig()
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise DeviceFileError(f"device file {p}: cannot read it: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeviceFileError(f"device file {p}: not valid TOML: {exc}") from None
    return parse_device(data, f"device file {p}")
