"""A controller outside the process: the plant seen only through Modbus TCP and SunSpec (``twin controller``).

:class:`WirePlant` finds the devices the way a site controller is commissioned against the contract
(docs/controller-interface.md): unit ids by kind (1 meter, 2 simulation control, 10.. PCS, 40.. PV,
70.. Spark units, 100.. switches, each range read until a unit does not answer), each device's SunSpec
chain walked from 40000 and checked against its kind (model 1's ``Md``), the scale factors read once.
Points are located with pysunspec2's model definitions (the public SunSpec ones and our vendor JSONs), as
any SunSpec client does; nothing is taken from the twin's memory.

:func:`run_controller` runs a :class:`twin.controller.Controller` (the reference one by default) on it: per
``StepCnt`` it reads the measurements, rebuilds :class:`twin.controller.Measurements`, steps the controller,
writes the setpoints (704 ``WMaxLimPct`` with ``WMaxLimPctEna`` and its reversion timer, 64951
``ShedTier`` / ``WCap``) and then ``CycDone`` = ``StepCnt``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sunspec2.device as ss_device

from hil.plant.coupling import SIM_FINISHED
from hil.plant.devices import (
    MODEL_BATTERY,
    MODEL_DER_CAPACITY,
    MODEL_DER_CONTROL,
    MODEL_DER_MEASURE,
    MODEL_PV_AVAIL,
    MODEL_SIM_CONTROL,
    MODEL_SITE_LOADS,
    MODEL_SPARK,
    MODEL_STORAGE,
    UID_METER,
    UID_PCS0,
    UID_PV0,
    UID_SIMCTL,
    UID_SPARK0,
    not_implemented_raw,
)
from hil.sunspec_map import BASE_ADDR, END_ID, SUNS_MARKER, _ensure_defs_path
from twin.controller import Controller, Measurements, ReferenceController, Setpoints, SiteInfo
from twin.errors import HilError

__all__ = ["ControllerStats", "WireDevice", "WirePlant", "run_controller"]

log = logging.getLogger("hil.plant.client")

MAX_READ = 125  # registers per read (Modbus)


@dataclass
class _Point:
    addr: int
    size: int
    typ: str
    sf_name: str | None
    sf_const: int


class WireDevice:
    """One device found on the wire: unit id, kind, name, where each point of its models is."""

    def __init__(self, unit_id: int, models: dict[int, int]) -> None:
        self.unit_id = unit_id
        self.models = models  # model id -> address of its ID register
        self.kind = self.name = ""
        self.sf: dict[tuple[int, str], int] = {}
        self._pts: dict[tuple[int, str], _Point] = {}

    def point(self, mid: int, name: str) -> _Point:
        key = (mid, name)
        if key not in self._pts:
            if mid not in self.models:
                raise HilError(f"unit {self.unit_id} ({self.name}) has no model {mid}")
            m = ss_device.Model(mid)
            pdef = m.points.get(name)
            if pdef is None:
                raise HilError(f"model {mid} has no point {name!r}")
            sf = pdef.pdef.get("sf")
            self._pts[key] = _Point(
                self.models[mid] + int(pdef.offset),
                int(pdef.len),
                str(pdef.pdef["type"]),
                sf if isinstance(sf, str) else None,
                int(sf) if isinstance(sf, int) else 0,
            )
        return self._pts[key]

    def decode(self, mid: int, name: str, regs: dict[int, int]) -> float | None:
        p = self.point(mid, name)
        raw = 0
        for k in range(p.size):
            raw = (raw << 16) | regs[p.addr + k]
        if raw == not_implemented_raw(p.typ, p.size):
            return None
        if p.typ.startswith(("int", "sunssf")) and raw >= 1 << (16 * p.size - 1):
            raw -= 1 << (16 * p.size)
        exp = self.sf.get((mid, p.sf_name), 0) if p.sf_name else p.sf_const
        return raw * 10.0**exp if exp else float(raw)

    def encode(self, mid: int, name: str, value: float) -> tuple[int, list[int]]:
        p = self.point(mid, name)
        exp = self.sf.get((mid, p.sf_name), 0) if p.sf_name else p.sf_const
        raw = int(round(value * 10.0 ** (-exp)))
        u = raw & ((1 << (16 * p.size)) - 1)
        return p.addr, [(u >> (16 * (p.size - 1 - k))) & 0xFFFF for k in range(p.size)]


def _spans(addrs: list[tuple[int, int]], gap: int = 24) -> list[tuple[int, int]]:
    """Merge (addr, size) into reads of at most MAX_READ registers, bridging gaps up to ``gap``."""
    out: list[tuple[int, int]] = []
    for a, n in sorted(addrs):
        if out and a <= out[-1][0] + out[-1][1] + gap and a + n - out[-1][0] <= MAX_READ:
            s0 = out[-1][0]
            out[-1] = (s0, max(out[-1][1], a + n - s0))
        else:
            out.append((a, n))
    return out


class WirePlant:
    """The plant as a controller sees it: a pymodbus TCP client, the devices found, reads and writes by point."""

    def __init__(self, host: str, port: int, timeout_s: float = 2.0, wait_s: float = 0.0) -> None:
        """``wait_s``: keep trying to connect this long (the twin builds its site before it listens)."""
        from pymodbus.client import ModbusTcpClient

        _ensure_defs_path()
        self.host, self.port = host, port
        self.client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        self.timeout_s = timeout_s
        self.devices: dict[str, list[WireDevice]] = {}
        self.requests = 0
        t0 = time.monotonic()
        pm_log = logging.getLogger("pymodbus.logging")
        level = pm_log.level
        pm_log.setLevel(logging.CRITICAL)  # "connection refused" while the twin builds its site is expected
        try:
            while not self.client.connect():
                if time.monotonic() - t0 >= wait_s:
                    raise HilError(f"cannot connect to the plant at {host}:{port} (tried for {wait_s:g} s)")
                time.sleep(0.2)
        finally:
            pm_log.setLevel(level)

    def close(self) -> None:
        self.client.close()

    # -- raw ---------------------------------------------------------------------------------------
    def read(self, uid: int, addr: int, count: int) -> list[int]:
        self.requests += 1
        r = self.client.read_holding_registers(addr, count=count, device_id=uid)
        if r.isError():
            raise HilError(f"unit {uid}: read {addr}+{count} answered {r}")
        return list(r.registers)

    def write(self, uid: int, addr: int, values: list[int]) -> None:
        self.requests += 1
        r = self.client.write_registers(addr, values, device_id=uid)
        if r.isError():
            raise HilError(f"unit {uid}: write {addr} = {values} answered {r}")

    def read_points(self, dev: WireDevice, pts: list[tuple[int, str]]) -> dict[tuple[int, str], float | None]:
        locs = [dev.point(m, n) for m, n in pts]
        regs: dict[int, int] = {}
        for a, n in _spans([(p.addr, p.size) for p in locs]):
            regs.update(zip(range(a, a + n), self.read(dev.unit_id, a, n), strict=True))
        return {key: dev.decode(key[0], key[1], regs) for key in pts}

    def write_points(self, dev: WireDevice, items: list[tuple[int, str, float]]) -> None:
        """Write points, adjacent ones in one request."""
        enc = sorted(dev.encode(m, n, v) for m, n, v in items)
        i = 0
        while i < len(enc):
            a, vals = enc[i][0], list(enc[i][1])
            while i + 1 < len(enc) and enc[i + 1][0] == a + len(vals):
                i += 1
                vals += enc[i][1]
            self.write(dev.unit_id, a, vals)
            i += 1

    # -- discovery ---------------------------------------------------------------------------------
    def _probe(self, uid: int) -> WireDevice | None:
        """The device at ``uid`` with its chain, or None when the unit does not answer."""
        try:
            r = self.client.read_holding_registers(BASE_ADDR, count=2, device_id=uid)
        except Exception:  # pymodbus raises on a timeout of some requests
            r = None
        self.requests += 1
        if r is None or r.isError() or tuple(r.registers) != tuple(SUNS_MARKER):
            return None
        models: dict[int, int] = {}
        addr = BASE_ADDR + 2
        while True:
            mid, length = self.read(uid, addr, 2)
            if mid == END_ID:
                break
            models[mid] = addr
            addr += 2 + length
        dev = WireDevice(uid, models)
        m1 = ss_device.Model(1)
        common = self.read(uid, models[1], int(m1.len))
        for attr, pname in (("kind", "Md"), ("name", "SN")):
            p = m1.points[pname]
            setattr(dev, attr, _string(common[int(p.offset) : int(p.offset) + int(p.len)]))
        for mid in models:
            if mid == 1:
                continue
            m = ss_device.Model(mid)
            sfs = [n for n, p in m.points.items() if p.pdef["type"] == "sunssf"]
            if sfs:
                vals = self.read_points(dev, [(mid, n) for n in sfs])
                dev.sf.update({k: int(v or 0) for k, v in vals.items()})
        return dev

    def discover(self) -> dict[str, list[WireDevice]]:
        """Every device by kind (pcs, pv, spark, meter, simctl), each range read until a unit is silent."""
        found: dict[str, list[WireDevice]] = {"meter": [], "simctl": [], "pcs": [], "pv": [], "spark": []}
        for uid, kind in ((UID_METER, "meter"), (UID_SIMCTL, "simctl")):
            dev = self._probe(uid)
            if dev is None:
                raise HilError(f"no {kind} at unit {uid} of {self.host}:{self.port}")
            found[kind].append(dev)
        for first, kind in ((UID_PCS0, "pcs"), (UID_PV0, "pv"), (UID_SPARK0, "spark")):
            uid = first
            while (dev := self._probe(uid)) is not None:
                if dev.kind != kind:
                    raise HilError(f"unit {uid} is a {dev.kind!r}, expected {kind!r} (docs/controller-interface.md)")
                found[kind].append(dev)
                uid += 1
        self.devices = found
        return found


def _string(regs: list[int]) -> str:
    return b"".join(r.to_bytes(2, "big") for r in regs).split(b"\0")[0].decode("ascii", "replace")


@dataclass
class ControllerStats:
    steps: int = 0
    skipped: int = 0  # real time: steps published while the controller was busy
    cycle_s: list[float] = field(default_factory=list)
    requests: int = 0
    finished: bool = False
    owns: list[str] = field(default_factory=list)  # the device groups the twin gave this controller


def _site_info(p: WirePlant, step_s: float) -> SiteInfo:
    """What the controller may know of the site, from the wire (PV: 702 WMax, the setting WMaxLimPct refers to)."""
    d = p.devices
    rating = [
        p.read_points(dv, [(MODEL_DER_CAPACITY, "WMaxRtg")])[(MODEL_DER_CAPACITY, "WMaxRtg")] or 0.0 for dv in d["pcs"]
    ]
    pv_rt = [p.read_points(dv, [(MODEL_DER_CAPACITY, "WMax")])[(MODEL_DER_CAPACITY, "WMax")] or 0.0 for dv in d["pv"]]
    it_pk, tiers = [], 0
    for dv in d["spark"]:
        v = p.read_points(dv, [(MODEL_SPARK, "WMaxRtg"), (MODEL_SPARK, "NTier")])
        it_pk.append(v[(MODEL_SPARK, "WMaxRtg")] or 0.0)
        tiers = int(v[(MODEL_SPARK, "NTier")] or 0)
    return SiteInfo(
        n_bess_blocks=len(d["pcs"]),
        n_pv_blocks=len(d["pv"]),
        n_spark_units=len(d["spark"]),
        n_packs=0,  # the wire carries blocks (802 is a block's packs together), not packs
        bess_rating_mva=np.array(rating) * 1e-6,
        pv_p_ac_max_mw=np.array(pv_rt) * 1e-6,
        it_peak_mw=np.array(it_pk) * 1e-6,
        n_shed_tiers=tiers,
        step_s=step_s,
    )


_PCS_PTS = [
    (MODEL_DER_MEASURE, "W"),
    (MODEL_STORAGE, "WHRtg"),
    (MODEL_STORAGE, "WHAvail"),
    (MODEL_BATTERY, "WChaRteMax"),
    (MODEL_BATTERY, "WDisChaRteMax"),
    (MODEL_BATTERY, "SoC"),
]
_PV_PTS = [(MODEL_DER_MEASURE, "W"), (MODEL_PV_AVAIL, "WAvail")]
_SPARK_PTS = [(MODEL_SPARK, p) for p in ("ITW", "ITDemW", "ITMinW", "ITMaxW", "CoolW")]
_SIM_PTS = [(MODEL_SIM_CONTROL, p) for p in ("SimTms", "StepCnt", "StepMs", "St")]


def measurements(p: WirePlant, sim: dict[tuple[int, str], float | None]) -> Measurements:
    """The controller's :class:`Measurements` from the wire (powers in MW, signs as the twin's)."""
    d = p.devices

    def col(devs: list[WireDevice], pts: list[tuple[int, str]]) -> list[dict[tuple[int, str], float | None]]:
        return [p.read_points(dv, pts) for dv in devs]

    pcs, pv, sp = col(d["pcs"], _PCS_PTS), col(d["pv"], _PV_PTS), col(d["spark"], _SPARK_PTS)
    site = p.read_points(d["meter"][0], [(MODEL_SITE_LOADS, "ITMaxW"), (MODEL_SITE_LOADS, "AuxW")])

    def arr(rows: list[dict[tuple[int, str], float | None]], key: tuple[int, str], scale: float = 1e-6) -> np.ndarray:
        return np.array([(r[key] or 0.0) * scale for r in rows])

    bess_p = -arr(pcs, (MODEL_DER_MEASURE, "W"))  # 701 W: + generating; the twin: + charging
    e_rtg, e_av = arr(pcs, (MODEL_STORAGE, "WHRtg")), arr(pcs, (MODEL_STORAGE, "WHAvail"))
    pv_p, it_p, cool = arr(pv, (MODEL_DER_MEASURE, "W")), arr(sp, (MODEL_SPARK, "ITW")), arr(sp, (MODEL_SPARK, "CoolW"))
    aux = (site[(MODEL_SITE_LOADS, "AuxW")] or 0.0) * 1e-6
    losses = float(pv_p.sum() - bess_p.sum() - it_p.sum() - cool.sum()) - aux  # the balance: what the net takes
    step = (sim[(MODEL_SIM_CONTROL, "StepMs")] or 0.0) / 1000.0
    t_end = (sim[(MODEL_SIM_CONTROL, "SimTms")] or 0.0) / 1000.0
    return Measurements(
        t_s=t_end - step,
        dt_s=step,
        soc_frac=float(e_av.sum() / e_rtg.sum()) if e_rtg.sum() > 0 else 0.0,
        e_stored_mwh=float(e_av.sum()),
        bess_p_mw=bess_p,
        bess_charge_max_p_mw=arr(pcs, (MODEL_BATTERY, "WChaRteMax")),
        bess_discharge_max_p_mw=arr(pcs, (MODEL_BATTERY, "WDisChaRteMax")),
        pv_avail_p_mw=arr(pv, (MODEL_PV_AVAIL, "WAvail")),
        pv_p_mw=pv_p,
        it_demand_p_mw=arr(sp, (MODEL_SPARK, "ITDemW")),
        it_p_mw=it_p,
        cooling_p_mw=cool,
        aux_p_mw=aux,
        losses_p_mw=losses,
        pack_soc_frac=arr(pcs, (MODEL_BATTERY, "SoC"), 0.01),  # per block: the wire has no packs
        pack_in_service=np.empty(0, dtype=bool),
        it_max_p_mw=arr(sp, (MODEL_SPARK, "ITMaxW")),
        it_site_max_p_mw=(site[(MODEL_SITE_LOADS, "ITMaxW")] or 0.0) * 1e-6,
    )


class _Writer:
    """Writes setpoints when they change, and again before the reversion timer would run out."""

    def __init__(self, p: WirePlant, rvrt_s: float) -> None:
        self.p, self.rvrt_s = p, rvrt_s
        self.last: dict[tuple[int, str], tuple[tuple[float, ...], float]] = {}

    def put(self, dev: WireDevice, key: str, items: list[tuple[int, str, float]], t_s: float, timed: bool) -> None:
        vals = tuple(v for _, _, v in items)
        old = self.last.get((dev.unit_id, key))
        due = timed and self.rvrt_s > 0 and old is not None and t_s - old[1] >= self.rvrt_s / 3
        if old is None or old[0] != vals or due:
            self.p.write_points(dev, items)
            self.last[(dev.unit_id, key)] = (vals, t_s)


def _write_setpoints(p: WirePlant, w: _Writer, sp: Setpoints, info: SiteInfo, t_s: float, owns: set[str]) -> None:
    d = p.devices
    for b, dev in enumerate(d["pv"] if "pv" in owns else []):
        lim = None if sp.pv_p_limit_mw is None else float(np.broadcast_to(sp.pv_p_limit_mw, (info.n_pv_blocks,))[b])
        if lim is None or not np.isfinite(lim):
            w.put(dev, "pv", [(MODEL_DER_CONTROL, "WMaxLimPctEna", 0)], t_s, timed=True)
        else:
            pct = min(max(lim / info.pv_p_ac_max_mw[b] * 100.0, 0.0), 100.0)
            w.put(
                dev, "pv", [(MODEL_DER_CONTROL, "WMaxLimPctEna", 1), (MODEL_DER_CONTROL, "WMaxLimPct", pct)], t_s, True
            )
    tiers = (
        np.zeros(info.n_spark_units, dtype=np.int64)
        if sp.shed_tier is None
        else np.broadcast_to(sp.shed_tier, (info.n_spark_units,))
    )
    caps = None if sp.it_p_cap_mw is None else np.broadcast_to(sp.it_p_cap_mw, (info.n_spark_units,))
    for u, dev in enumerate(d["spark"] if "spark" in owns else []):
        items = [(MODEL_SPARK, "ShedTier", float(tiers[u]))]
        if caps is not None and np.isfinite(caps[u]):
            items += [(MODEL_SPARK, "WCapEna", 1), (MODEL_SPARK, "WCap", float(caps[u]) * 1e6)]
        else:
            items += [(MODEL_SPARK, "WCapEna", 0)]
        w.put(dev, "spark", items, t_s, timed=True)


def run_controller(
    host: str,
    port: int,
    make: Callable[[SiteInfo], Controller] | None = None,
    *,
    rvrt_s: float = 30.0,
    poll_s: float | None = None,
    max_steps: int | None = None,
    on_step: Callable[[int, Measurements, Setpoints], None] | None = None,
    wait_s: float = 60.0,
) -> ControllerStats:
    """Run a controller on the plant at ``host:port`` until the twin says FINISHED (or ``max_steps``).

    ``make(site_info)`` builds the controller (default: :class:`ReferenceController` with its defaults);
    ``rvrt_s``: the reversion time written with the setpoints (0: none; a setpoint is written again after a
    third of it); ``poll_s``: how often simulation control is read while waiting for the next step (default
    1 ms in lockstep, 5 ms in real time); ``wait_s``: how long to keep trying to connect. The groups the twin
    gives this controller are found by writing their reversion times: a group it keeps answers 0x02."""
    p = WirePlant(host, port, wait_s=wait_s)
    stats = ControllerStats()
    try:
        p.discover()
        simdev = p.devices["simctl"][0]
        sim = p.read_points(simdev, _SIM_PTS)
        step_s = (sim[(MODEL_SIM_CONTROL, "StepMs")] or 1000.0) / 1000.0
        lockstep = p.read_points(simdev, [(MODEL_SIM_CONTROL, "Mode")])[(MODEL_SIM_CONTROL, "Mode")] == 1
        poll = poll_s if poll_s is not None else (0.001 if lockstep else 0.005)
        info = _site_info(p, step_s)
        ctrl = make(info) if make is not None else ReferenceController(info, {})
        w = _Writer(p, rvrt_s)
        # the reversion timers, once (a controller that goes silent is seen by the plant); a group this
        # controller does not own answers ILLEGAL_DATA_ADDRESS, and it leaves that group alone
        owns: set[str] = set()
        for group, devs, mid, pt in (
            ("pv", p.devices["pv"], MODEL_DER_CONTROL, "WMaxLimPctRvrtTms"),
            ("spark", p.devices["spark"], MODEL_SPARK, "CmdRvrtTms"),
        ):
            try:
                for dev in devs:
                    p.write_points(dev, [(mid, pt, rvrt_s)])
                owns.add(group)
            except HilError as exc:
                if "exception_code=2" not in str(exc):
                    raise
                log.info("the twin keeps the %s devices: %s", group, exc)
        stats.owns = sorted(owns)
        done = -1
        while True:
            sim = p.read_points(simdev, _SIM_PTS)
            if sim[(MODEL_SIM_CONTROL, "St")] == SIM_FINISHED:
                stats.finished = True
                break
            n = int(sim[(MODEL_SIM_CONTROL, "StepCnt")] or 0)
            if n == done:
                time.sleep(poll)
                continue
            t0 = time.perf_counter()
            if n > 0:
                stats.skipped += max(n - done - 1, 0) if done >= 0 else 0
                m = measurements(p, sim)
                sp = ctrl.step(m)
                _write_setpoints(p, w, sp, info, m.t_s + m.dt_s, owns)
                if on_step is not None:
                    on_step(n, m, sp)
                stats.steps += 1
            p.write_points(simdev, [(MODEL_SIM_CONTROL, "CycDone", n)])
            stats.cycle_s.append(time.perf_counter() - t0)
            done = n
            if max_steps is not None and stats.steps >= max_steps:
                break
    except HilError:
        raise
    except Exception as exc:  # the connection went away
        if not stats.finished:
            raise HilError(f"lost the plant at {host}:{port} after {stats.steps} step(s): {exc}") from exc
    finally:
        stats.requests = p.requests
        p.close()
    return stats
