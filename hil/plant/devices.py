"""The plant's devices as SunSpec Modbus devices: who they are, their unit ids, model chains and register images.

Every offset, type and scale factor comes from pysunspec2's model definitions (models 1, 701, 702, 704,
713, 802 ship with pysunspec2; our vendor models 64951-64953 are JSON definitions in ``hil/models``,
found the way model 64950 is). A chain starts at 40000 with the "SunS" marker and ends with the end
model, as in :mod:`hil.sunspec_map`.

Unit ids (Modbus TCP, one server): 1 site meter, 2 simulation control, 10.. battery block PCS,
40.. PV inverter blocks, 70.. Spark units, 100.. switches (the battery blocks' breakers, then the PV
blocks'). :func:`plant_devices` raises :class:`~twin.errors.MapError` when a site does not fit.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sunspec2.device as ss_device

from hil.sunspec_map import BASE_ADDR, END_ID, END_L, SUNS_MARKER, ModelLoc, _ensure_defs_path, bytes_to_regs
from twin.config import SiteConfig
from twin.errors import MapError

__all__ = [
    "CHAINS",
    "MODEL_BATTERY",
    "MODEL_DER_CAPACITY",
    "MODEL_DER_CONTROL",
    "MODEL_DER_MEASURE",
    "MODEL_PV_AVAIL",
    "MODEL_SITE_LOADS",
    "MODEL_SIM_CONTROL",
    "MODEL_SPARK",
    "MODEL_STORAGE",
    "MODEL_SWITCH",
    "NOT_TAKEN",
    "RANGES",
    "REVERSIONS",
    "UID_METER",
    "UID_PCS0",
    "UID_PV0",
    "UID_SIMCTL",
    "UID_SPARK0",
    "UID_SWITCH0",
    "DeviceImage",
    "DeviceSpec",
    "Reversion",
    "WriteCheck",
    "chain_layout",
    "model_length",
    "not_implemented_raw",
    "plant_devices",
]

MODEL_DER_MEASURE, MODEL_DER_CAPACITY, MODEL_DER_CONTROL, MODEL_STORAGE, MODEL_BATTERY = 701, 702, 704, 713, 802
MODEL_SPARK, MODEL_SWITCH, MODEL_SIM_CONTROL, MODEL_PV_AVAIL, MODEL_SITE_LOADS = 64951, 64952, 64953, 64954, 64955
UID_METER, UID_SIMCTL, UID_PCS0, UID_PV0, UID_SPARK0, UID_SWITCH0, UID_MAX = 1, 2, 10, 40, 70, 100, 247

CHAINS: dict[str, tuple[int, ...]] = {
    "pcs": (1, 701, 702, 704, 713, 802),
    "pv": (1, 701, 702, 704, MODEL_PV_AVAIL),
    "meter": (1, 701, MODEL_SITE_LOADS),
    "spark": (1, MODEL_SPARK),
    "switch": (1, MODEL_SWITCH),
    "simctl": (1, MODEL_SIM_CONTROL),
}

# Documented ranges of writable points, in engineering units (the definitions carry no min/max);
# a write outside is answered ILLEGAL_DATA_VALUE. Enums and bitfields are checked against their symbols.
RANGES: dict[tuple[int, str], tuple[float, float]] = {
    (704, "WMaxLimPct"): (0.0, 100.0),
    (704, "WMaxLimPctRvrt"): (0.0, 100.0),
    (704, "WSetPct"): (-100.0, 100.0),
    (704, "WSetPctRvrt"): (-100.0, 100.0),
    (704, "VarSetPct"): (-100.0, 100.0),
    (704, "VarSetPctRvrt"): (-100.0, 100.0),
    (704, "PFWInj.PF"): (0.0, 1.0),
    (704, "PFWInjRvrt.PF"): (0.0, 1.0),
    (704, "PFWAbs.PF"): (0.0, 1.0),
    (704, "PFWAbsRvrt.PF"): (0.0, 1.0),
    (704, "WRmp"): (0.0, 10000.0),
    (704, "VarRmp"): (0.0, 10000.0),
    (802, "SocRsvMax"): (0.0, 100.0),
    (802, "SoCRsvMin"): (0.0, 100.0),
}


# Enables of functions the twin's plant does not have: a write of ENABLED is answered ILLEGAL_DATA_VALUE with
# this reason (a device without the function refuses it rather than pretend). Keyed (kind, model, point).
_NO_REACTIVE = "the twin models no reactive power control (the inverters run at unity power factor)"
_GRID_FORMING = (
    "the battery blocks form the island's grid together: a block's power is its share of the site's balance "
    "(802 SetOp and the block's breaker take it out); it takes no active power setpoint or limit"
)
_NOT_TAKEN_ENABLES: dict[tuple[str, str], str] = {
    **{(kind, p): _NO_REACTIVE for kind in ("pcs", "pv") for p in ("VarSetEna", "PFWInjEna", "PFWAbsEna")},
    ("pcs", "WSetEna"): _GRID_FORMING,
    ("pcs", "WMaxLimPctEna"): _GRID_FORMING,
    ("pv", "WSetEna"): "a PV block is limited by WMaxLimPct, not dispatched by WSet",
}
# each enable and its reversion default (WSetEna and WSetEnaRvrt): a reversion must not enable what a write may not
NOT_TAKEN: dict[tuple[str, int, str], str] = {
    (kind, 704, name): why for (kind, p), why in _NOT_TAKEN_ENABLES.items() for name in (p, p.replace("Ena", "EnaRvrt"))
}


@dataclass(frozen=True)
class Reversion:
    """A reversion timer: when ``tms`` (s, 0 = off) passes without a write of a trigger point, each
    ``(target, default)`` pair sets ``target`` to the value of ``default``; ``rem`` shows the time left."""

    tms: str
    rem: str
    pairs: tuple[tuple[str, str], ...]

    @property
    def triggers(self) -> tuple[str, ...]:
        return (self.tms, *(t for t, _ in self.pairs))


def _rv(prefix: str, *pts: str) -> Reversion:
    return Reversion(f"{prefix}RvrtTms", f"{prefix}RvrtRem", tuple((p, _rvrt_name(p)) for p in pts))


def _rvrt_name(p: str) -> str:
    if "." in p:  # PFWInj.PF -> PFWInjRvrt.PF
        g, n = p.split(".")
        return f"{g}Rvrt.{n}"
    return f"{p}Rvrt"


REVERSIONS: dict[int, tuple[Reversion, ...]] = {
    704: (
        _rv("WMaxLimPct", "WMaxLimPct", "WMaxLimPctEna"),
        _rv("WSet", "WSet", "WSetPct", "WSetEna"),
        _rv("VarSet", "VarSet", "VarSetPct", "VarSetEna"),
        _rv("PFWInj", "PFWInj.PF", "PFWInj.Ext", "PFWInjEna"),
        _rv("PFWAbs", "PFWAbs.PF", "PFWAbs.Ext", "PFWAbsEna"),
    ),
    MODEL_SPARK: (_rv("Cmd", "ShedTier", "WCapEna", "WCap"),),
}
# 64951 names its defaults ShedTierRvrt, WCapEnaRvrt, WCapRvrt: the same rule as 704


def not_implemented_raw(typ: str, n_regs: int) -> int | None:
    """SunSpec's "not implemented" value of a point type, as its registers read unsigned (None: the type has none)."""
    if typ.startswith(("int", "sunssf")):
        return 1 << (16 * n_regs - 1)
    if typ.startswith(("uint", "enum", "bitfield")):
        return (1 << (16 * n_regs)) - 1
    return None


def model_length(model_id: int) -> int:
    """L of a model (its length without ID and L), from pysunspec2's definition (fixed groups included)."""
    _ensure_defs_path()
    try:
        return int(ss_device.Model(model_id).len) - 2
    except Exception as exc:
        raise MapError(f"model {model_id}: no usable pysunspec2 definition ({exc})") from exc


def chain_layout(model_ids: tuple[int, ...]) -> list[ModelLoc]:
    """Where each model of a chain sits, from 40002 (after the "SunS" marker)."""
    locs, addr = [], BASE_ADDR + 2
    for mid in model_ids:
        n = model_length(mid)
        locs.append(ModelLoc(mid, addr, n))
        addr += 2 + n
    return locs


def _power_sf(rating_w: float, unsigned: bool = False, margin: float = 1.5) -> int:
    """The smallest scale factor that fits ``margin`` times a rating in a 16-bit register."""
    top = 65535 if unsigned else 32767
    sf = 0
    while rating_w * margin / 10.0**sf > top:
        sf += 1
    return sf


@dataclass
class DeviceSpec:
    """One device: ``name`` (bess_b00, pv_b03, meter, spark_u01, sw_bess_b00, simctl), unit id, chain,
    and the start values in engineering units, keyed (model, point); SF points hold raw scale factors."""

    name: str
    kind: str
    unit_id: int
    index: int
    models: tuple[int, ...]
    init: dict[tuple[int, str], Any] = field(default_factory=dict)
    ranges: dict[tuple[int, str], tuple[float, float]] = field(default_factory=dict)


def _common(name: str, kind: str, uid: int) -> dict[tuple[int, str], Any]:
    return {(1, "Mn"): "microgrid-twin", (1, "Md"): kind, (1, "SN"): name, (1, "Vr"): "1", (1, "DA"): uid}


def _der(w_rating: float, v_nom: float, sf: int, v_sf: int) -> dict[tuple[int, str], Any]:
    """Models 701/702/704 of an inverter (or 701 of a meter) rated ``w_rating`` W at ``v_nom`` V."""
    i_sf = _power_sf(w_rating / (v_nom * 1.732), margin=15.0) - 1
    return {
        **{(701, k): sf for k in ("W_SF", "VA_SF", "Var_SF")},
        (701, "PF_SF"): -3,
        (701, "A_SF"): i_sf,
        (701, "V_SF"): v_sf,
        (701, "Hz_SF"): -3,
        (701, "TotWh_SF"): 0,
        (701, "TotVarh_SF"): 0,
        (701, "Tmp_SF"): -1,
        (701, "ACType"): 2,
        (701, "St"): 1,
        (701, "InvSt"): 3,
        (701, "ConnSt"): 1,
        **{(702, k): sf for k in ("W_SF", "VA_SF", "Var_SF")},
        (702, "PF_SF"): -3,
        (702, "V_SF"): v_sf,
        (702, "A_SF"): i_sf,
        (702, "S_SF"): 0,
        (704, "PF_SF"): -3,
        (704, "WMaxLimPct_SF"): -1,
        (704, "WSet_SF"): 0,
        (704, "WSetPct_SF"): -1,
        (704, "VarSet_SF"): 0,
        (704, "VarSetPct_SF"): -1,
        (704, "WMaxLimPct"): 100.0,
        (704, "WMaxLimPctRvrt"): 100.0,
    }


def _ratings(w_rating: float, v_nom: float) -> dict[tuple[int, str], Any]:
    return {
        (702, "WMaxRtg"): w_rating,
        (702, "VAMaxRtg"): w_rating,
        (702, "WMax"): w_rating,
        (702, "VAMax"): w_rating,
        (702, "VNomRtg"): v_nom,
        (702, "VNom"): v_nom,
    }


def plant_devices(site: SiteConfig, n_shed_tiers: int = 3) -> list[DeviceSpec]:
    """Every device of the plant, from the site's counts and ratings (unit ids: see the module's docstring)."""
    nb, npv, nsp = site.bess.n_blocks, site.pv.n_blocks, site.spark.n_units
    for what, n, first, nxt in (
        ("site.bess.n_blocks", nb, UID_PCS0, UID_PV0),
        ("site.pv.n_blocks", npv, UID_PV0, UID_SPARK0),
        ("site.spark.n_units", nsp, UID_SPARK0, UID_SWITCH0),
        ("switches (battery and PV blocks)", nb + npv, UID_SWITCH0, UID_MAX + 1),
    ):
        if first + n > nxt:
            raise MapError(f"{what} = {n}: more devices than unit ids {first}..{nxt - 1} (Modbus allows 1..247)")
    lv_v, mv_v = site.lv_kv * 1e3, site.mv_kv * 1e3
    bess_w = site.bess.block_inverter_mva * 1e6
    pv_w = site.pv.p_dc_mw * 1e6 / site.pv.dc_ac_ratio / npv
    it_w = site.spark.it_peak_mw * 1e6
    site_w = nb * bess_w + npv * pv_w + nsp * it_w * 1.3
    lv_vsf, mv_vsf = -1 if lv_v * 10 < 65535 else 0, _power_sf(mv_v, unsigned=True, margin=1.2)
    out: list[DeviceSpec] = []

    def add(name: str, kind: str, uid: int, idx: int, init: dict[tuple[int, str], Any]) -> None:
        chain = CHAINS[kind]
        init = {k: v for k, v in {**_common(name, kind, uid), **init}.items() if k[0] in chain}
        out.append(DeviceSpec(name, kind, uid, idx, chain, init))

    meter = _der(site_w, mv_v, _power_sf(site_w), mv_vsf)
    meter[(MODEL_SITE_LOADS, "W_SF")] = _power_sf(nsp * it_w * 1.3, unsigned=True)
    add("meter", "meter", UID_METER, 0, meter)
    add(
        "simctl",
        "simctl",
        UID_SIMCTL,
        0,
        {(MODEL_SIM_CONTROL, "StepMs"): 1000, (MODEL_SIM_CONTROL, "Mode"): 0},
    )
    sf = _power_sf(bess_w)
    for b in range(nb):
        init = _der(bess_w, lv_v, sf, lv_vsf) | _ratings(bess_w, lv_v)
        init |= {(701, "DERMode"): 1 << 1, (713, "WH_SF"): 3, (713, "Pct_SF"): -1}
        init |= {(802, k): v for k, v in (("SoC_SF", -1), ("SoH_SF", -1), ("DoD_SF", -1), ("V_SF", -1))}
        init |= {(802, k): v for k, v in (("CellV_SF", -3), ("A_SF", -1), ("AMax_SF", -1), ("W_SF", sf))}
        init |= {(802, k): v for k, v in (("WChaDisChaMax_SF", sf), ("WHRtg_SF", 3), ("AHRtg_SF", 0))}
        init |= {(802, "DisChaRte_SF"): 0, (802, "SoCMax"): 100.0}
        add(f"bess_b{b:02d}", "pcs", UID_PCS0 + b, b, init)
    sf = _power_sf(pv_w)
    for b in range(npv):
        init = _der(pv_w, lv_v, sf, lv_vsf) | _ratings(pv_w, lv_v) | {(MODEL_PV_AVAIL, "W_SF"): sf}
        add(f"pv_b{b:02d}", "pv", UID_PV0 + b, b, init)
    sf = _power_sf(it_w * 1.3, unsigned=True)
    for u in range(nsp):
        init = {(MODEL_SPARK, "W_SF"): sf, (MODEL_SPARK, "WMaxRtg"): it_w, (MODEL_SPARK, "WCap"): it_w}
        init[(MODEL_SPARK, "WCapRvrt")] = it_w
        init[(MODEL_SPARK, "NTier")] = n_shed_tiers
        add(f"spark_u{u:02d}", "spark", UID_SPARK0 + u, u, init)
        out[-1].ranges = {(MODEL_SPARK, p): (0.0, float(n_shed_tiers)) for p in ("ShedTier", "ShedTierRvrt")}
        out[-1].ranges |= {(MODEL_SPARK, p): (0.0, it_w) for p in ("WCap", "WCapRvrt")}
    for k, elem in enumerate([f"bess_b{b:02d}" for b in range(nb)] + [f"pv_b{b:02d}" for b in range(npv)]):
        init = {(MODEL_SWITCH, "Elem"): elem, (MODEL_SWITCH, "St"): 1}
        init |= {(MODEL_SWITCH, k): 0 for k in ("OpnCnt", "ClsCnt", "TripCnt")}
        add(f"sw_{elem}", "switch", UID_SWITCH0 + k, k, init)
    return out


@dataclass
class WriteCheck:
    """What a write would do: ``error`` None (accepted; ``changes`` lists (model, point, value in
    engineering units)), "read_only", "unknown_address" or "out_of_range"."""

    error: str | None
    changes: list[tuple[int, str, Any]] = field(default_factory=list)
    detail: str = ""


class DeviceImage:
    """The registers of one device (40000 to the end model), its points by (model, name), guarded by a lock.

    Values go in and out in engineering units (scaled by the point's scale factor) or raw.
    """

    def __init__(self, spec: DeviceSpec):
        _ensure_defs_path()
        self.spec = spec
        self.lock = threading.RLock()
        self.locs = chain_layout(spec.models)
        self.start = BASE_ADDR
        self.end = self.locs[-1].end + 2  # the end model included
        self.regs = [0] * (self.end - self.start)
        self.regs[0:2] = list(SUNS_MARKER)
        self.regs[-2:] = [END_ID, END_L]
        self.models: dict[int, Any] = {}
        self.points: dict[tuple[int, str], Any] = {}
        self._slots: dict[tuple[int, str], tuple[int, int, float, int, int]] = {}
        self._stale: set[int] = set()  # models whose registers put() changed since pysunspec2 parsed them
        self._owner: dict[int, tuple[int, str]] = {}  # absolute address -> (model, point)
        for loc in self.locs:
            self.regs[loc.addr - self.start : loc.addr - self.start + 2] = [loc.model_id, loc.length]
            m = ss_device.Model(loc.model_id, loc.addr, loc.length, data=self._bytes(loc))
            self.models[loc.model_id] = m
            for name, p in _flat_points(m).items():
                self.points[(loc.model_id, name)] = p
                for k in range(int(p.len)):
                    self._owner[loc.addr + int(p.offset) + k] = (loc.model_id, name)
        sfs = {key: v for key, v in spec.init.items() if self.points[key].pdef["type"] == "sunssf"}
        for key, v in sfs.items():  # scale factors first: the scaled values need them
            self.set(key[0], key[1], v, computed=False)
        self._not_implemented(spec)
        for key, v in spec.init.items():
            if key not in sfs:
                self.set(key[0], key[1], v)
        self.ranges = {**RANGES, **spec.ranges}
        self.not_taken = {(m, p): why for (kind, m, p), why in NOT_TAKEN.items() if kind == spec.kind}
        self.locked: dict[tuple[int, str], str] = {}  # writable points closed to the client, with the reason

    def _not_implemented(self, spec: DeviceSpec) -> None:
        """Read-only points nobody sets (no start value here, not published each step) read as SunSpec's "not
        implemented" value, so a controller can tell a point the twin does not model from a real zero."""
        for (mid, name), p in self.points.items():
            typ = str(p.pdef["type"])
            if mid == 1 or name in ("ID", "L") or (mid, name) in spec.init or p.pdef.get("access") == "RW":
                continue
            n = int(p.len)
            raw = not_implemented_raw(typ, n)
            if raw is None or typ == "sunssf":  # scale factors are set by the device, never "not implemented"
                continue
            a = self.loc(mid).addr + int(p.offset) - self.start
            self.regs[a : a + n] = [(raw >> (16 * (n - 1 - k))) & 0xFFFF for k in range(n)]
        for loc in self.locs:
            self.models[loc.model_id].set_mb(self._bytes(loc), dirty=False)

    def _bytes(self, loc: ModelLoc) -> bytes:
        a = loc.addr - self.start
        return b"".join(r.to_bytes(2, "big") for r in self.regs[a : a + loc.length + 2])

    def loc(self, model_id: int) -> ModelLoc:
        for loc in self.locs:
            if loc.model_id == model_id:
                return loc
        raise MapError(f"{self.spec.name} (unit {self.spec.unit_id}) has no model {model_id}")

    def point(self, model_id: int, name: str) -> Any:
        try:
            return self.points[(model_id, name)]
        except KeyError:
            self.loc(model_id)
            raise MapError(f"model {model_id} has no point {name!r}") from None

    def addr(self, model_id: int, name: str) -> int:
        return self.loc(model_id).addr + int(self.point(model_id, name).offset)

    def sf(self, p: Any) -> int:
        """A point's scale factor: its SF register, or the constant of its definition (pysunspec2's ``sf_value``
        of a constant is lost when a model is parsed again from registers)."""
        if p.sf:
            q = self.point(p.model.model_id, p.sf)
            return int(q.value) if q.value is not None else 0
        const = p.pdef.get("sf")
        return const if isinstance(const, int) else int(p.sf_value or 0)

    def put(self, items: Sequence[tuple[int, str, float]]) -> None:
        """Set many integer points at once in their units (the per-step measurements): straight into the
        registers, rounded to the scale factor's resolution and clipped to the type's range (the fast path of
        :meth:`set`; the scale factors are fixed for the run)."""
        with self.lock:
            for mid, name, value in items:
                slot = self._slots.get((mid, name))
                if slot is None:
                    slot = self._slots[(mid, name)] = self._slot(mid, name)
                a, n, scale, lo, hi = slot
                raw = round(value * scale)
                raw = lo if raw < lo else hi if raw > hi else raw
                if n == 1:
                    self.regs[a] = raw & 0xFFFF
                else:
                    u = raw & ((1 << (16 * n)) - 1)
                    for k in range(n):
                        self.regs[a + k] = (u >> (16 * (n - 1 - k))) & 0xFFFF
                self._stale.add(mid)

    def _slot(self, mid: int, name: str) -> tuple[int, int, float, int, int]:
        p = self.point(mid, name)
        typ = str(p.pdef["type"])
        n = int(p.len)
        if typ.startswith("int"):
            lo, hi = -(1 << (16 * n - 1)) + 1, (1 << (16 * n - 1)) - 1  # the most negative is "not implemented"
        elif typ.startswith(("uint", "enum", "bitfield", "acc")):
            lo, hi = 0, (1 << (16 * n)) - 2
        else:
            raise MapError(f"{self.spec.name}: {mid}.{name} is {typ}: not a point put() writes")
        scale = 10.0 ** (-self.sf(p)) if p.sf_required else 1.0
        return self.loc(mid).addr + int(p.offset) - self.start, n, scale, lo, hi

    def _fresh(self, model_id: int) -> None:
        """Re-read a model the fast path wrote from the registers (pysunspec2 keeps its own values)."""
        if model_id in self._stale:
            self._stale.discard(model_id)
            self.models[model_id].set_mb(self._bytes(self.loc(model_id)), dirty=False)

    def get(self, model_id: int, name: str, computed: bool = True) -> Any:
        with self.lock:
            self._fresh(model_id)
            p = self.point(model_id, name)
            if p.value is None or not computed or not p.sf_required:
                return p.value
            return p.value * 10.0 ** self.sf(p)

    def set(self, model_id: int, name: str, value: Any, computed: bool = True) -> None:
        """Set a point (``computed``: in its unit, rounded to the resolution its scale factor gives)."""
        with self.lock:
            self._fresh(model_id)
            p = self.point(model_id, name)
            if not isinstance(value, str):
                if computed and p.sf_required:
                    value = round(value * 10.0 ** (-self.sf(p)))
                value = int(value)
            old = p.value
            try:
                p.set_value(value)
                data = p.get_mb()
            except Exception as exc:
                p.set_value(old)
                raise MapError(f"{self.spec.name}: {model_id}.{name} = {value!r} does not fit ({exc})") from exc
            a = self.loc(model_id).addr + int(p.offset) - self.start
            self.regs[a : a + int(p.len)] = bytes_to_regs(data)

    def read(self, addr: int, count: int) -> list[int]:
        with self.lock:
            return self.regs[addr - self.start : addr - self.start + count]

    def contains(self, addr: int, count: int) -> bool:
        return self.start <= addr and addr + count <= self.end

    def check_write(self, addr: int, values: list[int]) -> WriteCheck:
        """Would writing ``values`` from ``addr`` be accepted? Nothing is changed."""
        if not self.contains(addr, len(values)):
            return WriteCheck("unknown_address", detail=f"{addr}+{len(values)} outside {self.start}..{self.end - 1}")
        touched: list[tuple[int, str]] = []
        for a in range(addr, addr + len(values)):
            key = self._owner.get(a)
            if key is None:
                return WriteCheck("read_only", detail=f"{a} is a SunSpec marker")
            if self.points[key].pdef.get("access", "R") != "RW":
                return WriteCheck("read_only", detail=f"{key[0]}.{key[1]} is read-only")
            if key in self.locked:
                return WriteCheck("read_only", detail=f"{key[0]}.{key[1]}: {self.locked[key]}")
            if key not in touched:
                touched.append(key)
        with self.lock:
            trial = list(self.regs)
        trial[addr - self.start : addr - self.start + len(values)] = values
        models: dict[int, Any] = {}
        changes: list[tuple[int, str, Any]] = []
        for mid, name in touched:
            if mid not in models:
                loc = self.loc(mid)
                a = loc.addr - self.start
                data = b"".join(r.to_bytes(2, "big") for r in trial[a : a + loc.length + 2])
                models[mid] = ss_device.Model(mid, loc.addr, loc.length, data=data)
            p = _flat_points(models[mid])[name]
            bad = self._bad_value(mid, name, p)
            if bad:
                return WriteCheck("out_of_range", detail=f"{mid}.{name}: {bad}")
            changes.append((mid, name, p.cvalue if p.sf_required else p.value))
        return WriteCheck(None, changes)

    def _bad_value(self, mid: int, name: str, p: Any) -> str:
        typ = p.pdef["type"]
        if typ == "string":
            return ""
        if p.value is None or not p.is_impl():
            return "the 'not implemented' value"
        syms = [int(s["value"]) for s in p.pdef.get("symbols", [])]
        if typ.startswith("enum") and syms and int(p.value) not in syms:
            return f"{p.value} is none of {syms}"
        if typ.startswith("bitfield") and syms and int(p.value) & ~sum(1 << s for s in syms):
            return f"{p.value:#x} sets undefined bits"
        why = self.not_taken.get((mid, name))
        if why and int(p.value) != 0:
            return f"{p.value} refused: {why}"
        lo_hi = self.ranges.get((mid, name))
        v = p.cvalue if p.sf_required else p.value
        if lo_hi and not lo_hi[0] <= float(v) <= lo_hi[1]:
            return f"{v:g} outside {lo_hi[0]:g}..{lo_hi[1]:g}"
        return ""

    def write(self, addr: int, values: list[int]) -> None:
        """Apply a checked write to the image (and re-parse the models it touches)."""
        with self.lock:
            self.regs[addr - self.start : addr - self.start + len(values)] = list(values)
            for loc in self.locs:
                if addr < loc.end and addr + len(values) > loc.addr:
                    self.models[loc.model_id].set_mb(self._bytes(loc), dirty=False)


def _flat_points(m: Any) -> dict[str, Any]:
    """A model's points by name, a fixed group's as ``Group.Point``."""
    out = dict(m.points)
    for gname, g in m.groups.items():
        for grp in g if isinstance(g, list) else [g]:
            for pname, p in grp.points.items():
                out[f"{gname}.{pname}"] = p
    return out
