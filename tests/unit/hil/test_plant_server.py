"""The plant's SunSpec Modbus TCP server (hil/plant): real servers on 127.0.0.1, pysunspec2's client as the reader."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import sunspec2.modbus.client as ss_client
from pymodbus.client import ModbusTcpClient

from hil.plant.devices import CHAINS, DeviceImage, plant_devices
from hil.plant.server import PlantServer
from twin.config import SiteConfig

__all__: list[str] = []

DOC = Path(__file__).resolve().parents[3] / "docs" / "controller-interface.md"
PCS, PV = 10, 40


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return SiteConfig()


@pytest.fixture
def server(site: SiteConfig) -> Iterator[PlantServer]:
    with PlantServer(plant_devices(site), port=0) as srv:
        yield srv


def _client(srv: PlantServer) -> ModbusTcpClient:
    c = ModbusTcpClient("127.0.0.1", port=srv.port, timeout=2)
    assert c.connect()
    return c


def test_pysunspec2_discovers_every_device_and_reads_back(server: PlantServer, site: SiteConfig) -> None:
    specs = plant_devices(site)
    kinds = [s.kind for s in specs]
    assert (kinds.count("pcs"), kinds.count("pv"), kinds.count("meter"), kinds.count("spark")) == (12, 8, 1, 4)
    assert kinds.count("switch") == 20 and kinds.count("simctl") == 1
    server.set_point(PCS + 3, 701, "W", -523_456.0)  # 701 W: positive generating; this block charges
    server.set_point(PCS + 3, 802, "SoC", 61.37)
    server.set_point(PV + 7, 701, "W", 1_234_567.0)
    server.set_point(70, 64951, "GPUTmpMax", 71.26)
    server.set_point(2, 64953, "SimTms", 86_400_123)
    for spec in specs:
        dev = ss_client.SunSpecModbusClientDeviceTCP(slave_id=spec.unit_id, ipaddr="127.0.0.1", ipport=server.port)
        try:
            dev.scan()
            found = [k for k in dev.models if isinstance(k, int)]
            assert found == list(CHAINS[spec.kind]), spec.name
            assert dev.common[0].SN.cvalue == spec.name
        finally:
            dev.close()
    checks = [(PCS + 3, 701, "W", -523_456.0), (PCS + 3, 802, "SoC", 61.37), (PV + 7, 701, "W", 1_234_567.0)]
    checks += [(70, 64951, "GPUTmpMax", 71.26), (2, 64953, "SimTms", 86_400_123)]
    for uid, mid, name, want in checks:
        dev = ss_client.SunSpecModbusClientDeviceTCP(slave_id=uid, ipaddr="127.0.0.1", ipport=server.port)
        try:
            dev.scan()
            p = dev.models[mid][0].points[name]
            img = server.image(uid)
            q = 10.0 ** img.sf(img.point(mid, name)) if p.sf_required else 1.0
            assert abs(p.cvalue - want) <= q / 2 + 1e-9, (uid, name, p.cvalue, want, q)
        finally:
            dev.close()


def test_writes_exceptions_and_counters(server: PlantServer) -> None:
    img = server.image(PV)
    a = img.addr(704, "WMaxLimPct")
    c = _client(server)
    try:
        r = c.write_register(a, 555, device_id=PV)  # 55.5 % at WMaxLimPct_SF = -1
        assert not r.isError()
        (w,) = server.take_writes()
        assert (w.unit_id, w.model_id, w.point, w.value) == (PV, 704, "WMaxLimPct", pytest.approx(55.5))
        r = c.write_register(a, 1500, device_id=PV)
        assert r.isError() and r.exception_code == 0x03
        assert server.get_point(PV, 704, "WMaxLimPct") == pytest.approx(55.5)
        assert c.read_holding_registers(a, count=1, device_id=PV).registers == [555]
        r = c.write_register(img.addr(701, "W"), 7, device_id=PV)
        assert r.isError() and r.exception_code == 0x02
        r = c.write_register(30_000, 7, device_id=PV)
        assert r.isError() and r.exception_code == 0x02
        r = c.write_register(img.end + 10, 7, device_id=PV)
        assert r.isError() and r.exception_code == 0x02
        r = c.write_register(img.addr(704, "WSetPct"), (-1001) & 0xFFFF, device_id=PV)  # -100.1 %
        assert r.isError() and r.exception_code == 0x03
        r = c.write_register(img.addr(704, "WMaxLimPctEna"), 2, device_id=PV)  # not an enum value
        assert r.isError() and r.exception_code == 0x03
    finally:
        c.close()
    assert server.take_writes() == []
    n = server.counters[PV]
    assert n["writes"] == 1 and n["exceptions_out_of_range"] == 3
    assert n["exceptions_read_only"] == 1 and n["exceptions_unknown_address"] == 2
    assert n["transactions"] == 8
    assert [(r.kind, r.exception) for r in server.rejected][:2] == [("out_of_range", 3), ("read_only", 2)]


def test_reversion_timer(server: PlantServer) -> None:
    img = server.image(PV + 1)
    c = _client(server)
    server.tick(0.0)
    try:
        assert not c.write_registers(img.addr(704, "WMaxLimPctRvrtTms"), [0, 5], device_id=PV + 1).isError()
        assert not c.write_registers(img.addr(704, "WMaxLimPctEna"), [1, 300], device_id=PV + 1).isError()
        assert server.tick(4.9) == []
        assert server.get_point(PV + 1, 704, "WMaxLimPctRvrtRem") == 1
        rev = server.tick(5.0)
        assert {(r.point, r.value) for r in rev} == {("WMaxLimPct", 100.0), ("WMaxLimPctEna", 0)}
        assert all(r.unit_id == PV + 1 and r.t_s == 5.0 for r in rev)
        assert server.get_point(PV + 1, 704, "WMaxLimPct") == 100.0
        assert server.counters[PV + 1]["reversions"] == 1
        # a rewrite before the time is up restarts the timer
        assert not c.write_register(img.addr(704, "WMaxLimPct"), 400, device_id=PV + 1).isError()
        assert server.tick(8.0) == []
        assert not c.write_register(img.addr(704, "WMaxLimPct"), 450, device_id=PV + 1).isError()
        assert server.tick(12.0) == []
        assert server.get_point(PV + 1, 704, "WMaxLimPct") == 45.0
        assert [r.point for r in server.tick(13.0)] == ["WMaxLimPct", "WMaxLimPctEna"]
    finally:
        c.close()


def test_allow_list_default_bind_and_garbage(site: SiteConfig, caplog: pytest.LogCaptureFixture) -> None:
    devices = plant_devices(site)[:3]
    with PlantServer(devices, port=0, allow=["10.9.9.9"]) as srv:
        assert srv.host == "127.0.0.1"
        c = ModbusTcpClient("127.0.0.1", port=srv.port, timeout=0.5, retries=0)
        c.connect()
        r = None
        try:
            r = c.read_holding_registers(40000, count=2, device_id=1)
        except Exception:  # the connection was closed: pymodbus raises or answers an error
            pass
        c.close()
        assert r is None or r.isError()
        assert srv.server_counters["connections_refused"] >= 1
    with PlantServer(devices, port=0) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        s.sendall(bytes(range(256)) * 4)
        s.settimeout(2)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        assert srv.server_counters["connections_dropped"] >= 1
        c = _client(srv)
        assert c.read_holding_registers(40000, count=2, device_id=1).registers == [0x5375, 0x6E53]
        c.close()
    with caplog.at_level(logging.WARNING, logger="hil.plant"):
        with PlantServer(devices, host="0.0.0.0", port=0):
            pass
    assert any("reachable from other machines" in r.message for r in caplog.records)


def test_doc_lists_every_device_kind_and_writable_point(site: SiteConfig) -> None:
    text = DOC.read_text()
    seen: set[tuple[int, str]] = set()
    for spec in plant_devices(site):
        img = DeviceImage(spec)
        for (mid, name), p in img.points.items():
            if p.pdef.get("access") == "RW" and (mid, name) not in seen:
                seen.add((mid, name))
                assert re.search(rf"\|\s*{mid}\s*\|\s*`{re.escape(name)}`", text), f"{mid} {name} not in the doc"
    assert len(seen) > 40
