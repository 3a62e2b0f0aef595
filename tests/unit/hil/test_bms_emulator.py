"""The software BMS of the HIL contract (hil.emulator) and the virtual line it is tested on (hil.ptypair).

The protection logic is tested without I/O (BmsLogic with a fake wall clock,
points written by name as the twin would write them). Then the real thing:
pymodbus's serial server on one end of a pseudo-terminal pair, pymodbus's
ModbusSerialClient on the other, SunSpec discovery through hil.sunspec_map,
and the wire faults (silence, broken CRC, garbage) seen from the client.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import serial
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerType

from hil import emulator as em
from hil.emulator import BmsEmulator, BmsLogic, EmulatorConfig, EmulatorConfigError, FaultSpec
from hil.line import LineSettings
from hil.ptypair import PtyPair
from hil.sunspec_map import MODEL_BATTERY, MODEL_COMMON, MODEL_HIL, Block, discover, next_count
from twin import sunspec802 as s802

OV_ALARM = 1 << s802.OVER_VOLT_ALARM
COMM = 1 << s802.COMMUNICATION_ERROR


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


NOMINAL = {
    "PackV": 14.9,
    "PackA": 0.0,
    "CellVMax": 3.75,
    "CellVMin": 3.70,
    "CellVAvg": 3.72,
    "CellTMax": 25.0,
    "CellTMin": 24.0,
    "SoCTrue": 50.0,
}


def make_logic(**cfg) -> tuple[BmsLogic, FakeClock]:
    clock = FakeClock()
    return BmsLogic(EmulatorConfig(**{"ncell": 4, **cfg}), wall_clock=clock), clock


def step(lg: BmsLogic, sim_t_s: float, **over: float) -> None:
    lg.write_step({**NOMINAL, "SimT": round(sim_t_s * 1000), **over})


def control(lg: BmsLogic, ctrl_hb: int, setop: int = 1, alm_rst: int | None = None) -> None:
    pts = {"CtrlHb": ctrl_hb, "SetOp": setop}
    if alm_rst is not None:
        pts["AlmRst"] = alm_rst
    lg.write_points(MODEL_BATTERY, pts, computed=False)


def p802(lg: BmsLogic, name: str, computed: bool = True):
    return lg.point(MODEL_BATTERY, name, computed)


# ------------------------------------------------------------------------------------------------
# BmsLogic, no I/O
# ------------------------------------------------------------------------------------------------
def test_connect_publishes_limits_and_mirrors_measurements():
    lg, _ = make_logic()
    assert lg.state == s802.STATE_DISCONNECTED
    fresh = Block(lg.battery.loc, lg.read_regs(lg.battery.loc.addr, lg.battery.loc.length + 2))
    assert fresh.get("SoC") is None and fresh.get("V") is None  # "not implemented" before the first step
    control(lg, 1)
    assert lg.state == s802.STATE_DISCONNECTED  # CONNECT waits for measurements
    step(lg, 0.0, PackA=-20.0)
    assert lg.state == s802.STATE_CONNECTED
    assert p802(lg, "State") == 3 and p802(lg, "Hb") == 1
    assert p802(lg, "AChaMax") == pytest.approx(115.0) and p802(lg, "ADisChaMax") == pytest.approx(230.0)
    assert p802(lg, "V") == pytest.approx(14.9) and p802(lg, "A") == pytest.approx(-20.0)
    assert p802(lg, "W") == pytest.approx(14.9 * -20.0, abs=10 ** lg.battery.sf(lg.battery.points["W"]))
    assert p802(lg, "CellVMax") == pytest.approx(3.75) and p802(lg, "CellVAvg") == pytest.approx(3.72)
    assert p802(lg, "Typ") == s802.TYP_LITHIUM_ION and p802(lg, "SoH") == pytest.approx(62.0)
    assert p802(lg, "ChaSt") == s802.CHAST_DISCHARGING
    assert lg.point(MODEL_COMMON, "SN") == "HIL-0"
    assert lg.point(MODEL_HIL, "NCell") == 4


def test_over_voltage_alarm_latches_and_opens():
    lg, _ = make_logic()
    control(lg, 1)
    step(lg, 0.0)
    assert lg.contactor_closed
    step(lg, 1.0, CellVMax=4.23)  # NMC v_max 4.2 + tolerance 0.02
    assert p802(lg, "Evt1") & OV_ALARM
    assert p802(lg, "State") == s802.STATE_FAULT
    assert p802(lg, "AChaMax") == 0 and p802(lg, "ADisChaMax") == 0
    step(lg, 2.0, CellVMax=4.0)  # cause gone, alarm still latched
    assert p802(lg, "Evt1") & OV_ALARM and lg.state == s802.STATE_FAULT
    assert not p802(lg, "Evt1") & (1 << s802.OVER_VOLT_WARNING)


def test_alarm_reset_needs_the_cause_gone():
    lg, _ = make_logic()
    control(lg, 1)
    step(lg, 0.0)
    step(lg, 1.0, CellVMax=4.25)
    assert lg.latched & OV_ALARM
    control(lg, 2, alm_rst=1)  # cause persists
    assert lg.latched & OV_ALARM and lg.state == s802.STATE_FAULT
    assert p802(lg, "AlmRst") == 0  # executed and written back
    step(lg, 2.0, CellVMax=3.9)
    assert lg.state == s802.STATE_FAULT
    control(lg, 3, alm_rst=1)  # cause gone; SetOp CONNECT is a level: recloses
    assert lg.latched == 0 and lg.state == s802.STATE_CONNECTED
    assert p802(lg, "AChaMax") > 0 and p802(lg, "AlmRst") == 0


def test_derating_taper_against_hand_calculation():
    lg, _ = make_logic(chemistry="NMC", capacity_ah=115.0)
    control(lg, 1)
    # charge: 115 A x (4.20 - 4.16) / 0.10 x (45 - 42) / 5 = 115 x 0.4 x 0.6 = 27.6 A
    # discharge: 230 A x (2.55 - 2.50) / 0.10 x 1 (55 - 42 > 5 K) = 115 A
    step(lg, 0.0, CellVMax=4.16, CellVMin=2.55, CellVAvg=3.5, CellTMax=42.0, CellTMin=24.0)
    assert p802(lg, "AChaMax") == pytest.approx(27.6, abs=1e-9)
    assert p802(lg, "ADisChaMax") == pytest.approx(115.0, abs=1e-9)
    evt = p802(lg, "Evt1")
    assert evt & (1 << s802.OVER_VOLT_WARNING) and evt & (1 << s802.UNDER_VOLT_WARNING)
    assert evt & (1 << s802.VOLTAGE_IMBALANCE_WARNING) and not evt & s802.ALARM_MASK
    # cold: charging limited by CellTMin 2 degC: (2 - 0) / 5 = 0.4 -> 46 A; discharge (2 + 20) / 5 > 1
    step(lg, 1.0, CellVMax=3.8, CellVMin=3.7, CellTMax=5.0, CellTMin=2.0)
    assert p802(lg, "AChaMax") == pytest.approx(46.0, abs=1e-9)
    assert p802(lg, "ADisChaMax") == pytest.approx(230.0, abs=1e-9)


def test_over_current_alarm_against_the_published_limit():
    lg, _ = make_logic(capacity_ah=100.0)  # limits 100 / 200 A, alarm above +10 %
    control(lg, 1)
    step(lg, 0.0)
    step(lg, 1.0, PackA=105.0)  # past the limit, inside the margin: warning
    assert p802(lg, "Evt1") & (1 << s802.OVER_CHARGE_CURRENT_WARNING) and lg.contactor_closed
    step(lg, 2.0, PackA=-225.0)
    assert lg.latched & (1 << s802.OVER_DISCHARGE_CURRENT_ALARM) and lg.state == s802.STATE_FAULT


def test_limits_read_zero_while_open():
    lg, _ = make_logic()
    control(lg, 1)
    step(lg, 0.0)
    assert p802(lg, "AChaMax") > 0
    control(lg, 2, setop=2)
    assert lg.state == s802.STATE_DISCONNECTED
    assert p802(lg, "AChaMax") == 0 and p802(lg, "ADisChaMax") == 0
    step(lg, 1.0)
    assert p802(lg, "AChaMax") == 0 and p802(lg, "ChaSt") == s802.CHAST_OFF
    control(lg, 3, setop=1)
    assert p802(lg, "AChaMax") == pytest.approx(115.0)


def test_watchdog_raises_comm_error_and_clears_when_ctrl_hb_moves():
    lg, clock = make_logic(watchdog_s=5.0)
    clock.t += 60.0
    lg.tick()
    assert not lg.comm_error  # armed by the first CtrlHb: no controller yet is not a lost controller
    control(lg, 1)
    step(lg, 0.0)
    clock.t += 4.9
    lg.tick()
    assert not lg.comm_error and lg.contactor_closed
    step(lg, 1.0)  # steps alone do not feed the watchdog: CtrlHb does
    clock.t += 0.2
    lg.tick()
    assert p802(lg, "Evt1") & COMM and lg.state == s802.STATE_FAULT
    assert p802(lg, "AChaMax") == 0
    control(lg, 1)  # same value: not a move
    assert lg.comm_error
    control(lg, 2)
    assert not p802(lg, "Evt1") & COMM
    assert lg.state == s802.STATE_CONNECTED and lg.latched == 0  # not latched: recloses on CONNECT


def test_heartbeat_wraps_skipping_65535():
    lg, _ = make_logic()
    assert next_count(65534) == 0
    lg.hb = 65533
    step(lg, 0.0)
    assert p802(lg, "Hb") == 65534
    step(lg, 1.0)
    assert p802(lg, "Hb") == 0
    step(lg, 2.0)
    assert p802(lg, "Hb") == 1


def test_soc_coulomb_counting_on_the_sim_clock():
    lg, clock = make_logic(capacity_ah=100.0)
    control(lg, 1)
    step(lg, 0.0, CellVAvg=3.72)
    soc0 = lg.soc_pct
    assert soc0 is not None and 5.0 < soc0 < 95.0
    clock.t += 0.01  # wall time is not the clock here
    step(lg, 360.0, PackA=10.0)  # 10 A x 360 s = 1 Ah = 1 % of 100 Ah
    assert lg.soc_pct == pytest.approx(soc0 + 1.0, abs=1e-9)
    assert p802(lg, "SoC") == pytest.approx(soc0 + 1.0, abs=0.006)
    step(lg, 720.0, PackA=-10.0)
    assert lg.soc_pct == pytest.approx(soc0, abs=1e-9)


def test_wall_clock_runs_the_fault_plan_and_the_soc():
    lg, clock = make_logic(clock="wall", capacity_ah=100.0, faults=[{"kind": "silent", "at_s": 1.0, "duration_s": 2.0}])
    control(lg, 1)
    step(lg, 0.0)  # SimT is ignored on the wall clock: it starts at the first PlantHb
    soc0 = lg.soc_pct
    clock.t += 1.5
    lg.tick()
    assert lg.clock_s == pytest.approx(1.5) and lg.wire_mode() == "silent"
    clock.t += 1.5
    lg.tick()
    assert lg.wire_mode() == "ok"
    step(lg, 99.0, PackA=-120.0)  # 120 A over the 3 s since the first step = 0.1 Ah
    assert lg.soc_pct == pytest.approx(soc0 - 0.1, abs=1e-9)


def test_soc_bias_and_open_contactor_faults():
    lg, _ = make_logic(faults=[{"kind": "soc_bias", "at_s": 10, "value": 3.0}, {"kind": "open_contactor", "at_s": 20}])
    control(lg, 1)
    step(lg, 0.0)
    soc0 = lg.soc_pct
    step(lg, 10.0)
    assert lg.soc_pct == pytest.approx(soc0 + 3.0)
    assert lg.contactor_closed
    step(lg, 20.0)
    assert lg.state == s802.STATE_FAULT and lg.latched == 1 << s802.OTHER_ALARM
    control(lg, 2, alm_rst=1)
    assert lg.state == s802.STATE_CONNECTED
    assert lg.counters["faults_applied"] == 2


def test_reboot_resets_heartbeat_and_opens_the_contactor():
    lg, clock = make_logic(faults=[{"kind": "reboot", "at_s": 10}], reboot_s=2.0)
    control(lg, 1)
    step(lg, 0.0)
    step(lg, 5.0)
    assert p802(lg, "Hb") == 2 and lg.contactor_closed
    step(lg, 10.0)
    assert lg.state == s802.STATE_INITIALIZING and p802(lg, "Hb") == 0
    assert p802(lg, "AChaMax") == 0 and lg.wire_mode() == "silent"
    control(lg, 2)
    step(lg, 11.0)  # a booting BMS takes nothing
    assert lg.counters["writes_ignored"] == 2 and p802(lg, "Hb") == 0 and lg.soc_pct is None
    clock.t += 2.1
    lg.tick()
    assert lg.state == s802.STATE_DISCONNECTED and lg.wire_mode() == "ok"
    control(lg, 3)
    assert lg.state == s802.STATE_DISCONNECTED  # CONNECT taken, waits for the first step after the reboot
    step(lg, 12.0)
    assert lg.state == s802.STATE_CONNECTED and p802(lg, "Hb") == 1


def test_over_temp_fault_exercises_temperature_protection():
    lg, _ = make_logic(faults=[{"kind": "over_temp", "at_s": 5, "duration_s": 5, "value": 32.0}])
    control(lg, 1)
    step(lg, 0.0)
    step(lg, 5.0)  # 25 + 32 = 57 degC sensed > 55
    assert lg.latched & (1 << s802.OVER_TEMP_ALARM) and lg.state == s802.STATE_FAULT
    step(lg, 10.0)
    control(lg, 2, alm_rst=1)
    assert lg.latched == 0 and lg.contactor_closed


def test_config_errors_name_the_key_and_suggest():
    with pytest.raises(EmulatorConfigError, match=r"unknown key 'watchdg_s'; did you mean 'watchdog_s'\?"):
        EmulatorConfig.from_dict({"watchdg_s": 3})
    with pytest.raises(
        EmulatorConfigError, match=r"--fault 'silnt@20:5': kind = 'silnt': Input should be .*; did you mean 'silent'\?"
    ):
        FaultSpec.parse("silnt@20:5")
    with pytest.raises(EmulatorConfigError, match="KIND@AT"):
        FaultSpec.parse("silent20")
    with pytest.raises(EmulatorConfigError, match="needs a duration_s"):
        FaultSpec.parse("silent@20")
    assert FaultSpec.parse("soc_bias@0=3").value == 3.0
    assert FaultSpec.parse("silent@20:5").describe() == "silent@20:5"
    cfg = EmulatorConfig(capacity_ah=50.0, chemistry="lfp")
    assert cfg.i_charge_max_a == 50.0 and cfg.i_discharge_max_a == 100.0 and cfg.v_max_cell_v == 3.6


def test_config_toml_and_cli_errors(tmp_path: Path, capsys):
    f = tmp_path / "bms.toml"
    f.write_text(
        'serial_number = "P-7"\nncell = 8\n[[faults]]\nkind = "silent"\nat_s = 1\nduration_s = 2\n'
        '[[faults]]\nkind = "reboot"\nat_s = 4\nvalu = 1\n'
    )
    with pytest.raises(
        EmulatorConfigError, match=r"bms\.toml:10: unknown key 'faults\[1\]\.valu'; did you mean 'value'\?"
    ):
        EmulatorConfig.from_toml(f)
    f.write_text('serial_number = "P-7"\nncell = 8\n[[faults]]\nkind = "silent"\nat_s = 1\nduration_s = 2\n')
    cfg = EmulatorConfig.from_toml(f, extra_faults=[FaultSpec.parse("soc_bias@0=3")])
    assert cfg.serial_number == "P-7" and [x.kind for x in cfg.faults] == ["silent", "soc_bias"]
    assert em.main(["--port", "/dev/null", "--fault", "silnt@20:5"]) == 2
    assert "did you mean 'silent'" in capsys.readouterr().err
    assert em.main(["--port", str(tmp_path / "no-such-tty"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot open serial port" in err and "no-such-tty" in err and "Traceback" not in err
    assert em.main(["--quiet"]) == 2
    assert "--port PORT" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# over a real (virtual) serial line
# ------------------------------------------------------------------------------------------------
NCELL = 6


@pytest.fixture
def pair():
    with PtyPair() as p:
        yield p


def serve(pair: PtyPair, **cfg) -> BmsEmulator:
    return BmsEmulator(LineSettings(pair.b), EmulatorConfig(**{"ncell": NCELL, "serial_number": "PK-42", **cfg}))


@pytest.fixture
def client_of():
    clients = []

    def make(port: str) -> ModbusSerialClient:
        # one retry: a loaded machine may delay an answer past 0.2 s (writes are idempotent: a repeated
        # header carries the same PlantHb, which is not a new step)
        c = ModbusSerialClient(port=port, framer=FramerType.RTU, baudrate=115200, parity="N", timeout=0.2, retries=1)
        assert c.connect()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def reader(client: ModbusSerialClient):
    def read(addr: int, count: int) -> list[int]:
        r = client.read_holding_registers(addr, count=count, device_id=1)
        assert not r.isError(), r
        return list(r.registers)

    return read


class Twin:
    """What the twin's bridge does each step, by hand: 802 controls, 64950 cells then header, read 802."""

    def __init__(self, client: ModbusSerialClient):
        self.client = client
        self.locs = {m.model_id: m for m in discover(reader(client))}
        self.b802 = Block(self.locs[MODEL_BATTERY])
        self.h = Block(self.locs[MODEL_HIL])
        self.plant_hb = 0
        self.ctrl_hb = 0

    def control(self, setop: int = 1) -> None:
        self.ctrl_hb = next_count(self.ctrl_hb)
        r = self.client.write_register(self.b802.addr("CtrlHb"), self.ctrl_hb, device_id=1)
        assert not r.isError(), r
        r = self.client.write_register(self.b802.addr("SetOp"), setop, device_id=1)
        assert not r.isError(), r

    def step(self, sim_t_s: float, **over: float) -> tuple[bool, bool]:
        """One step: the cells, then the header with a new PlantHb; (cells answered, header answered).
        A failed write does not stop the step, as in the twin (it retries, then goes on)."""
        a, n = self.h.cell_range()
        for k in range(n):
            self.h.set_cell(k, 3.70 + 0.01 * k)
        cells_ok = self._write(a, self.h.regs()[a - self.h.loc.addr :])
        self.plant_hb = next_count(self.plant_hb)
        self.h.set("PlantHb", self.plant_hb, computed=False)
        self.h.set("SimT", round(sim_t_s * 1000), computed=False)
        for name, v in {**NOMINAL, **over}.items():
            self.h.set(name, v)
        header_ok = self._write(self.h.addr("PlantHb"), self.h.regs("PlantHb", "NCell"))
        return cells_ok, header_ok

    def _write(self, addr: int, regs: list[int]) -> bool:
        try:
            r = self.client.write_registers(addr, regs, device_id=1)
        except ModbusIOException:
            return False
        return not r.isError()

    def read_802(self) -> Block:
        loc = self.locs[MODEL_BATTERY]
        r = self.client.read_holding_registers(loc.addr, count=loc.length + 2, device_id=1)
        if r.isError():
            raise ModbusIOException(str(r))
        self.b802.load(r.registers)
        return self.b802


def test_discovery_over_a_pty_pair(pair, client_of):
    with serve(pair):
        client = client_of(pair.a)
        locs = discover(reader(client))
        assert [m.model_id for m in locs] == [MODEL_COMMON, MODEL_BATTERY, MODEL_HIL]
        hil = next(m for m in locs if m.model_id == MODEL_HIL)
        assert hil.length == 12 + NCELL
        common = Block(locs[0])
        common.load(reader(client)(locs[0].addr, locs[0].length + 2))
        assert common.get("SN") == "PK-42" and common.get("Mn") == "sparks-twin"
        h = Block(hil)
        h.load(reader(client)(hil.addr, hil.length + 2))
        assert h.get("NCell") == NCELL
        # another unit id on the bus: no answer
        with pytest.raises(ModbusIOException):
            client.read_holding_registers(40000, count=2, device_id=7)


def test_step_over_the_wire_then_802_shows_the_answer(pair, client_of):
    with serve(pair) as bms:
        twin = Twin(client_of(pair.a))
        twin.control()
        twin.step(0.0)
        b = twin.read_802()
        assert b.get("Hb") == 1 and b.get("State") == s802.STATE_CONNECTED
        assert b.get("AChaMax") == pytest.approx(115.0) and b.get("ADisChaMax") == pytest.approx(230.0)
        assert b.get("SoC") == pytest.approx(bms.logic.soc_pct, abs=0.006)
        assert b.get("CellVMax") == pytest.approx(3.75)
        twin.control()
        twin.step(1.0, CellVMax=4.17)  # inside the taper: 115 x 0.3 = 34.5 A
        b = twin.read_802()
        assert b.get("Hb") == 2 and b.get("AChaMax") == pytest.approx(34.5)
        # function code 23: write CtrlHb and read model 802 in one request
        loc = twin.locs[MODEL_BATTERY]
        r = twin.client.readwrite_registers(
            read_address=loc.addr,
            read_count=loc.length + 2,
            write_address=twin.b802.addr("CtrlHb"),
            values=[99],
            device_id=1,
        )
        assert not r.isError(), r
        twin.b802.load(r.registers)
        assert twin.b802.get("CtrlHb") == 99 and twin.b802.get("Hb") == 2
        assert bms.counters["steps"] == 2 and bms.counters["requests_other_unit"] == 0


def test_silent_fault_gives_timeouts_then_answers_again(pair, client_of):
    with serve(pair, faults=[{"kind": "silent", "at_s": 10, "duration_s": 5}]) as bms:
        twin = Twin(client_of(pair.a))
        twin.control()
        assert twin.step(0.0) == (True, True)
        assert twin.step(10.0) == (True, False)  # the header starts the silence: its own answer is dropped
        with pytest.raises(ModbusIOException):
            twin.read_802()
        assert twin.step(12.0) == (False, False)  # processed all the same: the clock moves on SimT
        assert twin.step(15.0) == (False, True)  # the header ends it
        b = twin.read_802()
        assert b.get("Hb") == 4  # every step was processed, answered or not
        assert bms.counters["answers_dropped"] >= 3


def test_corrupt_fault_gives_responses_pymodbus_rejects(pair, client_of):
    with serve(pair, faults=[{"kind": "corrupt", "at_s": 10, "duration_s": 5}]) as bms:
        twin = Twin(client_of(pair.a))
        twin.control()
        assert twin.step(0.0) == (True, True)
        before = pair.bytes_b_to_a
        assert twin.step(10.0) == (True, False)
        with pytest.raises(ModbusIOException):
            twin.read_802()
        assert bms.counters["answers_corrupted"] >= 2
        assert pair.bytes_b_to_a - before >= 2 * 8  # answers did arrive: rejected for their CRC, not missing
        assert twin.step(15.0) == (False, True)
        assert twin.read_802().get("Hb") == 3


def test_garbage_fault_counts_and_the_line_recovers(pair, client_of):
    with serve(pair, faults=[{"kind": "garbage", "at_s": 10, "duration_s": 5}], seed=3) as bms:
        twin = Twin(client_of(pair.a))
        twin.control()
        assert twin.step(0.0) == (True, True)
        for t in (10.0, 11.0, 12.0):
            twin.step(t)  # answers garbled: some may still parse (garbage before a sound frame)
        assert bms.counters["answers_garbled"] >= 5
        assert twin.step(15.0)[1]
        assert twin.read_802().get("Hb") == 5


# ------------------------------------------------------------------------------------------------
# the virtual line itself
# ------------------------------------------------------------------------------------------------
def _open(path: str) -> serial.Serial:
    return serial.Serial(path, 115200, timeout=0.2)


def test_ptypair_unplug_and_replug(tmp_path: Path):
    link = tmp_path / "ttyTWIN"
    with PtyPair(link_a=link) as p:
        assert link.is_symlink() and os.path.realpath(link).startswith("/dev/pts/")
        a, b = _open(str(link)), _open(p.b)
        a.write(b"\x01\x03ping")
        assert b.read(6) == b"\x01\x03ping"
        b.write(b"pong")
        assert a.read(4) == b"pong"
        p.unplug()
        assert not os.path.lexists(link)
        with pytest.raises((serial.SerialException, OSError)):
            a.write(b"x")
            a.read(1)
        with pytest.raises((serial.SerialException, OSError)):
            a.read(1)
        a.close()
        with pytest.raises(serial.SerialException):
            _open(str(link))
        p.replug()
        a2 = _open(str(link))
        a2.write(b"again")
        assert b.read(5) == b"again"
        b.write(b"back")
        assert a2.read(4) == b"back"
        a2.close()
        b.close()
    assert not os.path.lexists(link)
    p.close()  # twice is fine


def test_ptypair_cut_corrupt_inject():
    with PtyPair() as p:
        a, b = _open(p.a), _open(p.b)
        p.cut()
        a.write(b"lost")
        b.write(b"lost too")
        assert b.read(4) == b"" and a.read(8) == b""
        assert p.bytes_dropped >= 12
        p.mend()
        p.corrupt_next(n_bytes=1, mask=0x80)
        b.write(b"\x01\x02\x03")
        assert a.read(3) == b"\x81\x02\x03" and p.bytes_corrupted == 1
        a.write(b"\x10\x20")  # A -> B is never corrupted
        assert b.read(2) == b"\x10\x20"
        p.inject("a", b"\xff\xfe")
        p.inject("b", b"zz")
        assert a.read(2) == b"\xff\xfe" and b.read(2) == b"zz"
        assert p.bytes_a_to_b == 2 and p.bytes_b_to_a == 3
        a.close()
        b.close()


def test_cli_serves_on_a_pty_link(tmp_path: Path, capsys):
    link = tmp_path / "ttyBMS"
    rc: list[int] = []
    th = threading.Thread(
        target=lambda: rc.append(
            em.main(["--pty", str(link), "--duration", "1.5", "--ncell", "3", "--serial-number", "CLI-1", "--quiet"])
        )
    )
    th.start()
    try:
        deadline = time.monotonic() + 3.0
        while not link.is_symlink() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        c = ModbusSerialClient(
            port=str(link), framer=FramerType.RTU, baudrate=115200, parity="N", timeout=0.3, retries=1
        )
        assert c.connect()
        try:
            locs = discover(reader(c))
            assert locs[-1].length == 12 + 3
        finally:
            c.close()
    finally:
        th.join(timeout=5.0)
    assert rc == [0]
    assert f"twin side of the line: {link}" in capsys.readouterr().out
    assert not os.path.lexists(link)
