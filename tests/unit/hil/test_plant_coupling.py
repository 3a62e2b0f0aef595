"""The plant's devices coupled to a run (hil/plant/coupling.py, link.py, session.py, client.py): a real server on
127.0.0.1, pymodbus clients on the other end, no mosaik. Signs, scale-factor rounding, which setpoints act when,
ramps, reversion on simulated time, refused writes, the lockstep handshake, sessions."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pymodbus.client import ModbusTcpClient

from hil.plant.client import WirePlant, measurements
from hil.plant.coupling import PlantCoupling, PlantState
from hil.plant.devices import plant_devices
from hil.plant.link import ControllerLink, ReplayControllerLink
from hil.plant.server import PlantServer
from hil.plant.session import ControllerSession
from twin.config import SiteConfig
from twin.errors import SessionError, SimulationAborted

__all__: list[str] = []

SIMCTL, PCS0, PV0, SPARK0, SW0 = 2, 10, 40, 70, 100
NB, NPV, NSP = 12, 8, 4


def _state(k: int = 1, t_end: float = 1.0, rng: np.random.Generator | None = None) -> PlantState:
    r = rng or np.random.default_rng(3)
    bess = r.uniform(-0.8, 0.8, NB)
    pv = r.uniform(0.5, 1.9, NPV)
    it = r.uniform(2.0, 3.0, NSP)
    return PlantState(
        steps_done=k,
        t_end_s=t_end,
        bess_p_mw=bess,
        bess_charge_max_p_mw=r.uniform(0.5, 1.0, NB),
        bess_discharge_max_p_mw=r.uniform(0.5, 1.0, NB),
        bess_soc_frac=r.uniform(0.4, 0.7, NB),
        bess_e_stored_mwh=r.uniform(2.0, 3.5, NB),
        bess_e_max_mwh=np.full(NB, 5.2),
        bess_in_service=np.ones(NB, bool),
        pv_p_mw=pv,
        pv_avail_p_mw=pv + 0.1,
        pv_in_service=np.ones(NPV, bool),
        it_p_mw=it,
        it_demand_p_mw=it + 0.05,
        it_min_p_mw=it - 0.3,
        it_max_p_mw=it + 0.3,
        cooling_p_mw=r.uniform(0.1, 0.3, NSP),
        it_site_min_p_mw=float(it.sum() - 0.5),
        it_site_max_p_mw=float(it.sum() + 0.6),
        aux_p_mw=0.25,
    )


@pytest.fixture
def plant() -> Iterator[tuple[PlantServer, PlantCoupling, list[tuple[float, str, str]]]]:
    events: list[tuple[float, str, str]] = []
    srv = PlantServer(plant_devices(SiteConfig()), port=0)
    cpl = PlantCoupling(srv, ["pv", "spark"], step_s=1.0, realtime=False, log=lambda t, k, d: events.append((t, k, d)))
    with srv:
        yield srv, cpl, events


def _client(srv: PlantServer) -> ModbusTcpClient:
    c = ModbusTcpClient("127.0.0.1", port=srv.port, timeout=2)
    assert c.connect()
    return c


def test_measurements_cross_the_wire_with_signs_and_scale_factor_rounding(plant) -> None:
    srv, cpl, _ = plant
    s = _state()
    cpl.publish(s)
    wp = WirePlant("127.0.0.1", srv.port)
    try:
        wp.discover()
        assert [len(wp.devices[k]) for k in ("pcs", "pv", "spark", "meter", "simctl")] == [NB, NPV, NSP, 1, 1]
        sim = wp.read_points(wp.devices["simctl"][0], [(64953, p) for p in ("SimTms", "StepCnt", "StepMs", "St")])
        m = measurements(wp, sim)
    finally:
        wp.close()
    half_lsb = 50e-6  # MW: W_SF = 2 on the pilot's PCS, PV and Spark points
    assert np.abs(m.bess_p_mw - s.bess_p_mw).max() <= half_lsb + 1e-12  # + charging on both sides of the wire
    assert np.abs(m.pv_p_mw - s.pv_p_mw).max() <= half_lsb + 1e-12
    assert np.abs(m.pv_avail_p_mw - s.pv_avail_p_mw).max() <= half_lsb + 1e-12
    assert np.abs(m.it_demand_p_mw - s.it_demand_p_mw).max() <= half_lsb + 1e-12
    assert np.abs(m.bess_charge_max_p_mw - s.bess_charge_max_p_mw).max() <= half_lsb + 1e-12
    assert m.soc_frac == pytest.approx(s.bess_e_stored_mwh.sum() / s.bess_e_max_mwh.sum(), abs=1e-4)
    assert m.it_site_max_p_mw == pytest.approx(s.it_site_max_p_mw, abs=5e-4)  # 64955 W_SF = 3
    # the balance: PV - battery = IT + cooling + aux + losses, so the losses the wire implies close it
    assert m.losses_p_mw == pytest.approx(
        s.pv_p_mw.sum() - s.bess_p_mw.sum() - s.it_p_mw.sum() - s.cooling_p_mw.sum() - s.aux_p_mw, abs=3e-3
    )
    assert (m.t_s, m.dt_s) == (0.0, 1.0)


def test_pv_limit_acts_ramps_and_reverts_on_simulated_time(plant) -> None:
    srv, cpl, events = plant
    cpl.publish(_state(1, 1.0))
    assert np.isinf(cpl.commands(1.0).pv_p_limit_mw).all()  # WMaxLimPctEna DISABLED: no limit
    c = _client(srv)
    c.write_registers(40291, [1, 300], device_id=PV0)  # WMaxLimPctEna = 1, WMaxLimPct = 30.0 %
    c.write_registers(40291 + 4, [0, 5], device_id=PV0)  # WMaxLimPctRvrtTms = 5 s (uint32)
    cpl.publish(_state(2, 2.0))
    lim = cpl.commands(2.0).pv_p_limit_mw
    assert lim is not None and lim[0] == pytest.approx(0.6) and np.isinf(lim[1:]).all()  # 30 % of 2 MW
    # a ramp for increases: WRmp 1000 = 10 %/s of WMaxRtg = 0.2 MW per 1 s step
    c.write_registers(40291, [1, 700], device_id=PV0)
    c.write_register(40291 + 35, 1000, device_id=PV0)  # WRmp
    cpl.publish(_state(3, 3.0))
    assert cpl.commands(3.0).pv_p_limit_mw[0] == pytest.approx(0.8)
    cpl.publish(_state(4, 4.0))
    assert cpl.commands(4.0).pv_p_limit_mw[0] == pytest.approx(1.0)
    # the last write came while 2 s was shown: the timer runs out at 7 s of simulated time, not before
    for t in (5.0, 6.0):
        cpl.publish(_state(int(t), t))
        assert cpl.commands(t).reverted == []
    cpl.publish(_state(7, 7.0))
    cmds = cpl.commands(7.0)
    assert {(r.point, r.value, r.t_s) for r in cmds.reverted} == {("WMaxLimPct", 100.0, 7.0), ("WMaxLimPctEna", 0, 7.0)}
    assert np.isinf(cmds.pv_p_limit_mw[0]) or cmds.pv_p_limit_mw[0] > 1.0  # ramps back up, then no limit
    assert any(k == "controller_reverted" and t == 7.0 for t, k, _ in events)
    c.close()


def test_refused_writes_change_nothing(plant) -> None:
    srv, cpl, _ = plant
    cpl.publish(_state())
    c = _client(srv)
    r = c.write_registers(40291, [1, 1500], device_id=PV0)  # WMaxLimPct 150 %: out of range
    assert r.isError() and r.exception_code == 0x03
    r = c.write_registers(40080, [1234], device_id=PV0)  # 701 W: read-only
    assert r.isError() and r.exception_code == 0x02
    # breakers are not owned in this run: 64952 Cmd is closed to the client, with the reason
    img = srv.image(SW0)
    r = c.write_register(img.addr(64952, "Cmd"), 1, device_id=SW0)
    assert r.isError() and r.exception_code == 0x02
    assert "in-process controller owns the 'breakers'" in srv.rejected[-1].detail
    # a PCS takes no power setpoint: WSetEna = ENABLED refused with the reason
    pcs = srv.image(PCS0)
    r = c.write_register(pcs.addr(704, "WSetEna"), 1, device_id=PCS0)
    assert r.isError() and r.exception_code == 0x03 and "form the island's grid" in srv.rejected[-1].detail
    cmds = cpl.commands(1.0)
    assert np.isinf(cmds.pv_p_limit_mw).all() and cmds.writes == [] and cmds.switching == []
    assert srv.counters[PV0]["exceptions_out_of_range"] == 1 and srv.counters[PV0]["exceptions_read_only"] == 1
    # a unit id no device has: a gateway's answer, not a silence
    r = c.read_holding_registers(40000, count=2, device_id=9)
    assert r.isError() and r.exception_code == 0x0B
    c.close()


def test_breakers_and_setop_act_once() -> None:
    srv = PlantServer(plant_devices(SiteConfig()), port=0)
    cpl = PlantCoupling(srv, ["breakers"], step_s=1.0, realtime=False, log=lambda *a: None)
    with srv:
        cpl.publish(_state())
        c = _client(srv)
        sw = srv.image(SW0 + NB + 2)  # the breaker of PV block 2
        assert c.write_register(sw.addr(64952, "Cmd"), 1, device_id=SW0 + NB + 2).isError() is False
        pcs = srv.image(PCS0 + 5)
        assert c.write_register(pcs.addr(802, "SetOp"), 2, device_id=PCS0 + 5).isError() is False  # DISCONNECT
        got = cpl.commands(1.0).switching
        assert {(s.elem, s.block, s.close) for s in got} == {("pv", 2, False), ("bess", 5, False)}
        assert sw.get(64952, "Cmd") == 0
        assert cpl.commands(2.0).switching == []  # once
        # the PV 704 points are not owned here
        assert c.write_registers(40291, [1, 300], device_id=PV0).exception_code == 0x02
        c.close()


def _controller(port: int, steps: int, stop: threading.Event) -> None:
    c = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
    c.connect()
    done = -1
    while not stop.is_set() and done < steps:
        regs = c.read_holding_registers(40076, count=2, device_id=SIMCTL).registers
        n = regs[0] << 16 | regs[1]
        if n != done:
            c.read_holding_registers(40080, count=1, device_id=PV0)  # PV block 0's 701 W
            if n == 1:
                c.write_registers(40291, [1, 250], device_id=PV0)
            c.write_registers(40082, [n >> 16, n & 0xFFFF], device_id=SIMCTL)
            done = n
    c.close()


def test_lockstep_handshake_session_and_replay(tmp_path: Path) -> None:
    events: list[tuple[float, str, str]] = []
    log = lambda t, k, d: events.append((t, k, d))  # noqa: E731
    srv = PlantServer(plant_devices(SiteConfig()), port=0)
    cpl = PlantCoupling(srv, ["pv"], step_s=1.0, realtime=False, log=log)
    path = tmp_path / "s.jsonl.gz"
    link = ControllerLink(
        srv,
        cpl,
        realtime=False,
        step_s=1.0,
        log=log,
        session_path=path,
        header={"mode": "lockstep", "owns": ["pv"]},
        connect_timeout_s=5,
        cycle_timeout_s=5,
    )
    link.open(_state(0, 0.0))  # the start state, then the server listens
    stop = threading.Event()
    th = threading.Thread(target=_controller, args=(srv.port, 3, stop), daemon=True)
    th.start()
    link.connect()
    lims = [link.exchange(_state(k, float(k))).pv_p_limit_mw for k in (1, 2, 3)]
    stop.set()
    th.join(5)
    summ = link.summary()
    link.close()
    assert lims[0][0] == pytest.approx(0.5)  # written while step 1 was shown: in force from the next step
    assert summ["mode"] == "lockstep" and summ["cycle_ms"]["n"] == 3 and summ["steps"] == 3
    assert [k for _, k, _ in events][:1] == ["controller_connected"]
    # the session: every request, with its step; a replay without the controller reproduces it
    ses = ControllerSession.read(path)
    assert ses.header["format"] == "twin-controller-session" and sorted(ses.by_step) == [0, 1, 2, 3]
    writes = [t for t in ses.by_step[1] if t.function_code == 16 and t.unit_id == PV0]
    assert writes and writes[0].data == [1, 250]
    srv2 = PlantServer(plant_devices(SiteConfig()), port=0)
    cpl2 = PlantCoupling(srv2, ["pv"], step_s=1.0, realtime=False, log=log)
    rep = ReplayControllerLink(srv2, cpl2, ses, step_s=1.0, log=log)
    rep.open(_state(0, 0.0))
    rep.connect()
    again = [rep.exchange(_state(k, float(k))).pv_p_limit_mw for k in (1, 2, 3)]
    assert all(np.array_equal(a, b) for a, b in zip(lims, again, strict=True))
    assert rep.summary()["replay_divergences"] == 0
    # a different plant: the reads the controller made no longer match
    rep3 = ReplayControllerLink(
        srv3 := PlantServer(plant_devices(SiteConfig()), port=0),
        PlantCoupling(srv3, ["pv"], step_s=1.0, realtime=False, log=log),
        ses,
        step_s=1.0,
        log=log,
    )
    rep3.open(_state(0, 0.0, np.random.default_rng(9)))
    rep3.connect()
    rep3.exchange(_state(1, 1.0, np.random.default_rng(9)))
    assert rep3.divergences > 0 and "differ from the recorded answer" in (rep3.first_divergence or "")


def test_no_controller_stops_the_start() -> None:
    srv = PlantServer(plant_devices(SiteConfig()), port=0)
    cpl = PlantCoupling(srv, ["pv"], step_s=1.0, realtime=True, log=lambda *a: None)
    link = ControllerLink(srv, cpl, realtime=True, step_s=1.0, log=lambda *a: None, connect_timeout_s=0.3)
    with srv, pytest.raises(SimulationAborted, match="twin controller --connect"):
        link.open(_state(0, 0.0))
        link.connect()


def test_a_broken_session_file_is_bad_input(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl.gz"
    p.write_bytes(b"not gzip")
    with pytest.raises(SessionError, match="cannot read the controller session"):
        ControllerSession.read(p)
    with gzip.open(p, "wt") as f:
        f.write('{"format": "twin-hil-session"}\n')
    with pytest.raises(SessionError, match="expected 'twin-controller-session'"):
        ControllerSession.read(p)
    with gzip.open(p, "wt") as f:
        f.write(
            '{"format": "twin-controller-session", "version": 1, "owns": ["pv"], "mode": "lockstep"}\n[1, 0.1, 40]\n'
        )
    with pytest.raises(SessionError, match=r":2: expected \[k, wall_s"):
        ControllerSession.read(p)
    with gzip.open(p, "wt") as f:
        f.write('{"format": "twin-controller-session", "version": 1, "owns": "pv", "mode": "lockstep"}\n')
    with pytest.raises(SessionError, match="owns = 'pv', expected a non-empty list"):
        ControllerSession.read(p)


def test_a_silent_lockstep_controller_comes_back() -> None:
    """Silent past the cycle timeout, the twin runs on; any later CycDone brings it back into step."""
    events: list[tuple[float, str, str]] = []
    log = lambda t, k, d: events.append((t, k, d))  # noqa: E731
    srv = PlantServer(plant_devices(SiteConfig()), port=0)
    cpl = PlantCoupling(srv, ["pv"], step_s=1.0, realtime=False, log=log)
    link = ControllerLink(srv, cpl, realtime=False, step_s=1.0, log=log, connect_timeout_s=5, cycle_timeout_s=0.2)
    with srv:
        c = _client(srv)
        link.open(_state(0, 0.0))
        c.write_registers(40082, [0, 0], device_id=SIMCTL)
        link.connect()
        link.exchange(_state(1, 1.0))  # no CycDone = 1: silent
        for k in range(2, 6):
            link.exchange(_state(k, float(k)))  # runs on without waiting
        c.write_registers(40082, [0, 3], device_id=SIMCTL)  # the controller answers an old step: it is back
        c.close()

        def answer() -> None:
            time.sleep(0.05)
            c2 = _client(srv)
            c2.write_registers(40082, [0, 6], device_id=SIMCTL)
            c2.close()

        th = threading.Thread(target=answer)
        th.start()
        link.exchange(_state(6, 6.0))  # ... and the twin waits for it again
        th.join(5)
    kinds = [(t, k) for t, k, _ in events if k.startswith("controller_")]
    assert kinds == [(0.0, "controller_connected"), (1.0, "controller_silent"), (6.0, "controller_back")]
    assert link.silent is False and link.summary()["silent_periods"] == [{"from_s": 1.0, "to_s": 6.0}]


def test_setop_acts_on_every_write() -> None:
    srv = PlantServer(plant_devices(SiteConfig()), port=0)
    cpl = PlantCoupling(srv, ["breakers"], step_s=1.0, realtime=False, log=lambda *a: None)
    with srv:
        cpl.publish(_state())
        c = _client(srv)
        a = srv.image(PCS0 + 1).addr(802, "SetOp")
        # the block was tripped by something else; CONNECT (the register's value already) closes it again
        c.write_register(a, 1, device_id=PCS0 + 1)
        assert [(s.elem, s.block, s.close) for s in cpl.commands(1.0).switching] == [("bess", 1, True)]
        c.write_register(a, 2, device_id=PCS0 + 1)
        c.write_register(a, 2, device_id=PCS0 + 1)
        assert [s.close for s in cpl.commands(2.0).switching] == [False, False]
        c.close()
