"""The SunSpec register map of the HIL contract (``../shared/design/BMS_HIL_PROTOCOL.md``).

The chain on a BMS, from base address 40000: the "SunS" marker, model 1
(Common), model 802 (Battery Base), optionally model 804, model 64950 (HIL
pack injection, our vendor model, shipped as a pysunspec2 JSON definition in
``hil/models``) and the end marker. Point offsets, types and scale factors
come from pysunspec2's model definitions; nothing here hard-codes an offset.

Both ends use it: the twin (the Modbus client) discovers the chain with
:func:`discover`; the emulator (the server) lays it out with
:func:`standard_layout` and keeps each model's registers in a :class:`Block`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sunspec2.device as ss_device

from twin.errors import MapError

__all__ = [
    "BASE_ADDR",
    "END_ID",
    "END_L",
    "HIL_HEADER_LEN",
    "MAX_READ_REGS",
    "MAX_WRITE_REGS",
    "MODELS_DIR",
    "MODEL_BATTERY",
    "MODEL_COMMON",
    "MODEL_HIL",
    "MODEL_LION_STRING",
    "NCELL_MAX",
    "SUNS_MARKER",
    "U16_WRAP",
    "U32_WRAP",
    "Block",
    "MapError",
    "ModelLoc",
    "bytes_to_regs",
    "discover",
    "next_count",
    "regs_to_bytes",
    "split_ranges",
    "standard_layout",
]

BASE_ADDR = 40000
SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_ID, END_L = 0xFFFF, 0
MODEL_COMMON = 1
MODEL_BATTERY = 802
MODEL_LION_STRING = 804
MODEL_HIL = 64950
HIL_HEADER_LEN = 12  # L of model 64950 = 12 + NCell
NCELL_MAX = 192
MAX_READ_REGS = 125  # Modbus limits per request
MAX_WRITE_REGS = 123
U16_WRAP = 65535  # heartbeats count 0..65534 (65535 reads as "not implemented")
U32_WRAP = 0xFFFFFFFF

MODELS_DIR = Path(__file__).with_name("models")

# model 802's codes (State, SetOp, Evt1 bits...) are in twin.sunspec802


def _ensure_defs_path() -> None:
    path = ss_device.get_model_defs_path()
    if str(MODELS_DIR) not in path:
        ss_device.set_model_defs_path([str(MODELS_DIR), *path])


def regs_to_bytes(regs: Sequence[int]) -> bytes:
    return struct.pack(f">{len(regs)}H", *regs)


def bytes_to_regs(data: bytes) -> list[int]:
    return list(struct.unpack(f">{len(data) // 2}H", data))


def next_count(x: int, wrap: int = U16_WRAP) -> int:
    """A heartbeat's next value: +1, 0..wrap-1 (the all-ones value means "not implemented")."""
    return (x + 1) % wrap


@dataclass(frozen=True)
class ModelLoc:
    """Where one model sits: ``addr`` is the address of its ID register; ``length`` is its L."""

    model_id: int
    addr: int
    length: int

    @property
    def end(self) -> int:
        """First address after the model."""
        return self.addr + 2 + self.length


class Block:
    """The registers of one model, with its points by name through pysunspec2.

    ``get``/``set`` take scaled values (``computed=True``: SoC in %, A in A) or raw register values.
    Holds the whole model image (ID and L included) so ``regs(point, ...)`` gives the registers to
    write for a range of points.
    """

    def __init__(self, loc: ModelLoc, regs: Sequence[int] | None = None):
        _ensure_defs_path()
        self.loc = loc
        if regs is None:
            regs = [loc.model_id, loc.length] + [0] * loc.length
            if loc.model_id == MODEL_HIL:
                regs[2 + HIL_HEADER_LEN - 1] = loc.length - HIL_HEADER_LEN  # NCell
        if len(regs) != loc.length + 2:
            raise MapError(f"model {loc.model_id}: {len(regs)} registers given, L + 2 = {loc.length + 2} expected")
        self.model = ss_device.Model(loc.model_id, loc.addr, loc.length, data=regs_to_bytes(regs))
        self._regs = list(regs)
        self.points: dict[str, Any] = dict(self.model.points)
        if loc.model_id == MODEL_HIL:
            self.cells = [g.points["CellV"] for g in self.model.groups.get("cell", [])]
        else:
            self.cells = []

    # -- addresses --------------------------------------------------------------------
    def offset(self, name: str) -> int:
        """Offset of a point from the model's ID register."""
        return int(self.points[name].offset)

    def addr(self, name: str) -> int:
        return self.loc.addr + self.offset(name)

    def size(self, name: str) -> int:
        return int(self.points[name].len)

    # -- values -----------------------------------------------------------------------
    def load(self, regs: Sequence[int], start: int | None = None) -> None:
        """Take registers read from the device starting at absolute address ``start`` (default: the
        model's ID register) and re-parse the points."""
        off = 0 if start is None else start - self.loc.addr
        if off < 0 or off + len(regs) > len(self._regs):
            raise MapError(f"model {self.loc.model_id}: registers {start}+{len(regs)} outside the model")
        self._regs[off : off + len(regs)] = list(regs)
        self.model.set_mb(regs_to_bytes(self._regs), dirty=False)

    def get(self, name: str, computed: bool = True) -> Any:
        p = self.points[name]
        return p.cvalue if computed else p.value

    def set(self, name: str, value: float | str, computed: bool = True) -> None:
        """Set a point (``computed``: a value in its unit, rounded to the register's resolution)."""
        p = self.points[name]
        self._set_point(p, value, computed)

    def set_cell(self, k: int, v_v: float) -> None:
        self._set_point(self.cells[k], v_v, True)

    def sf(self, p: Any) -> int:
        """The scale factor of a point (a constant in its definition or the value of its SF point)."""
        if p.sf:
            v = self.points[p.sf].value
            return int(v) if v is not None else 0
        return int(p.sf_value or 0)

    def _set_point(self, p: Any, value: float | str, computed: bool) -> None:
        if isinstance(value, str):
            p.value = value
        else:
            if computed and p.sf_required:
                value = round(value * 10.0 ** (-self.sf(p)))
            p.value = int(value)
        data = p.get_mb()
        self._regs[p.offset : p.offset + p.len] = bytes_to_regs(data)

    def regs(self, first: str | None = None, last: str | None = None) -> list[int]:
        """Registers of the points ``first``..``last`` (inclusive; default the whole model)."""
        a = 0 if first is None else self.offset(first)
        b = len(self._regs) if last is None else self.offset(last) + self.size(last)
        return self._regs[a:b]

    def all_regs(self) -> list[int]:
        return list(self._regs)

    def cell_range(self) -> tuple[int, int]:
        """(absolute address, count) of the per-cell points of model 64950."""
        if not self.cells:
            return self.loc.addr + 2 + HIL_HEADER_LEN, 0
        return self.loc.addr + int(self.cells[0].offset), len(self.cells)


def standard_layout(ncell: int, with_804: bool = False) -> list[ModelLoc]:
    """The chain an emulator exposes: models 1, 802, (804), 64950 one after another from 40002."""
    if not 0 <= ncell <= NCELL_MAX:
        raise MapError(f"NCell {ncell} outside 0..{NCELL_MAX}")
    locs = []
    addr = BASE_ADDR + 2
    for mid in (MODEL_COMMON, MODEL_BATTERY, *((MODEL_LION_STRING,) if with_804 else ()), MODEL_HIL):
        if mid == MODEL_HIL:
            length = HIL_HEADER_LEN + ncell
        else:  # the fixed part of the model (804: no string modules)
            _ensure_defs_path()
            points = ss_device.get_model_def(mid)["group"]["points"]
            length = sum(int(p.get("size", 1)) for p in points) - 2
        locs.append(ModelLoc(mid, addr, length))
        addr += 2 + length
    return locs


def split_ranges(addr: int, count: int, limit: int) -> list[tuple[int, int]]:
    """(addr, count) pieces of at most ``limit`` registers."""
    out = []
    while count > 0:
        n = min(count, limit)
        out.append((addr, n))
        addr += n
        count -= n
    return out


def discover(read: Callable[[int, int], list[int]]) -> list[ModelLoc]:
    """Walk the SunSpec chain from 40000 as a SunSpec client does (``read(addr, count)`` returns
    holding registers). Raises :class:`MapError` when the chain breaks the contract."""
    _ensure_defs_path()
    marker = tuple(read(BASE_ADDR, 2))
    if marker != SUNS_MARKER:
        raise MapError(
            f"no SunSpec marker at {BASE_ADDR}: read {marker[0]:#06x} {marker[1]:#06x}, expected 0x5375 0x6e53 ('SunS')"
        )
    locs: list[ModelLoc] = []
    addr = BASE_ADDR + 2
    for _ in range(64):
        mid, length = read(addr, 2)
        if mid == END_ID:
            break
        locs.append(ModelLoc(int(mid), addr, int(length)))
        addr += 2 + int(length)
    else:
        raise MapError("no end marker within 64 models")
    ids = [m.model_id for m in locs]
    for need in (MODEL_COMMON, MODEL_BATTERY, MODEL_HIL):
        if need not in ids:
            raise MapError(f"model {need} missing from the device's SunSpec chain (found {ids})")
    hil = next(m for m in locs if m.model_id == MODEL_HIL)
    if not HIL_HEADER_LEN <= hil.length <= HIL_HEADER_LEN + NCELL_MAX:
        raise MapError(f"model 64950 has L = {hil.length}; the contract allows 12..{12 + NCELL_MAX}")
    return locs
