"""One pack's BMS on the line seen from the twin (hil/bms_port.py), against the real emulator.

The emulator (pymodbus's RTU server, hil.emulator) serves on one end of a pseudo-terminal pair, the twin's
serial link (pymodbus's RTU client through pyserial, hil.link) opens the other by path: the whole stack,
no mocks. Discovery, the step's exchange in the contract's order, FC 23 and its 16 + 3 fallback, the
device file's sign setting, retries and a silent BMS, the step's deadline, a device with another NCell.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from hil.bms_port import BmsPort, PackMeas
from hil.device import DeviceConfig
from hil.emulator import BmsEmulator, EmulatorConfig, FaultSpec
from hil.line import LineSettings
from hil.link import open_link
from hil.ptypair import PtyPair
from hil.sunspec_map import MODEL_BATTERY, MODEL_HIL, MapError
from twin import sunspec802 as s802

NCELL = 6


def meas(t_s: float, pack_a: float = -20.0) -> Any:
    """The pack model's points on ``ncell`` cells (a 6-cell NMC pack at about 60 %)."""

    def f(ncell: int) -> PackMeas:
        return PackMeas.of_pack(
            t_s,
            ncell,
            v_terminal_v=6 * 3.75,
            i_a=pack_a,
            v_cell_max_v=3.76,
            v_cell_min_v=3.70,
            temp_c=25.0,
            soc_frac=0.6,
            n_series=6,
        )

    return f


@pytest.fixture
def line() -> Iterator[tuple[PtyPair, Any]]:
    with PtyPair() as pair:
        link = open_link("serial", settings=LineSettings(pair.a), timeout_s=0.2)
        link.open()
        try:
            yield pair, link
        finally:
            link.close()


def serve(pair: PtyPair, *faults: str, **cfg: Any) -> BmsEmulator:
    config = EmulatorConfig(ncell=NCELL, faults=[FaultSpec.parse(f) for f in faults], **cfg)
    return BmsEmulator(LineSettings(pair.b), config)


def test_discovery_and_a_step_in_the_contracts_order(line) -> None:
    pair, link = line
    with serve(pair) as emu:
        port = BmsPort(link, 1, 0, DeviceConfig())
        assert port.discover(-1, 0.0) and port.mapped
        assert port.serial_number == "HIL-0" and port.ncell == NCELL
        ans = port.step(0, 0.0, meas(0.0))
        assert ans is not None and port.fc23 is True
        # the BMS saw the measurements (the header last: a complete step) and the twin's CONNECT
        m = emu.logic.measurements
        assert m is not None and m.pack_v == pytest.approx(22.5) and m.pack_a == pytest.approx(-20.0)
        assert m.cell_v_max_v == pytest.approx(3.76) and m.soc_true_pct == pytest.approx(60.0)
        cells = [emu.logic.hil.cells[k].cvalue for k in range(NCELL)]
        assert cells[0] == pytest.approx(3.70) and np.allclose(cells[1:], 3.75)  # the weak cell on cell 0
        # ... and the answer is model 802 after the step's writes
        assert ans.state == s802.STATE_CONNECTED and ans.hb == 1 and ans.evt1 == emu.logic.evt1
        assert (ans.i_charge_max_a, ans.i_discharge_max_a) == pytest.approx(emu.logic.limits_a)
        assert ans.a_a == pytest.approx(-20.0) and ans.soc_pct == pytest.approx(emu.logic.soc_pct, abs=0.01)
        assert emu.logic.point(MODEL_BATTERY, "CtrlHb", computed=False) == port.ctrl_hb == 1
        assert emu.logic.point(MODEL_HIL, "PlantHb", computed=False) == port.plant_hb == 1
        ans2 = port.step(1, 1.0, meas(1.0), setop=s802.SETOP_DISCONNECT)
        assert ans2 is not None and ans2.state == s802.STATE_DISCONNECTED and ans2.hb == 2
        assert ans2.i_charge_max_a == 0.0 and ans2.i_discharge_max_a == 0.0
    # four transactions per step at NCell <= 123 (cells, header, SetOp, CtrlHb + 802), no retries
    assert port.stats["retries"] == 0 and port.stats["attempts"] == port.stats["exchanges"]


def test_fc16_and_fc3_when_the_device_file_says_no_fc23_and_the_sign_setting(line) -> None:
    pair, link = line
    dev = DeviceConfig.model_validate({"bms": {"use_fc23": "no", "current_sign": -1}})
    with serve(pair):
        port = BmsPort(link, 1, 0, dev)
        ans = port.step(0, 0.0, meas(0.0, pack_a=-20.0))
        assert ans is not None and port.fc23 is False and ans.state == s802.STATE_CONNECTED
        assert ans.a_a == pytest.approx(20.0)  # 802 A read with the product's sign
        assert ans.hb == 1 and ans.i_discharge_max_a > 0


def test_a_silent_bms_gets_its_retries_then_no_answer_and_the_map_is_kept(line) -> None:
    pair, link = line
    with serve(pair, "silent@1:30"):
        port = BmsPort(link, 1, 0, DeviceConfig())
        assert port.step(0, 0.0, meas(0.0)) is not None
        t0 = time.perf_counter()
        assert port.step(1, 1.0, meas(1.0)) is None  # the step's header is taken, then silence
        assert time.perf_counter() - t0 >= 3 * 0.2 * 0.9
        assert port.stats["timeout"] == 3 and port.stats["retries"] == 2
        assert "timeout" in port.last_failure and port.mapped  # kept: the next step writes its measurements first


def test_no_attempt_past_the_steps_deadline(line) -> None:
    pair, link = line
    with serve(pair):
        port = BmsPort(link, 1, 0, DeviceConfig())
        assert port.step(0, 0.0, meas(0.0), deadline=time.perf_counter() - 1.0) is None
        assert port.stats["skipped"] == 1 and port.stats["attempts"] == 0


def test_a_device_with_another_ncell_is_refused(line) -> None:
    pair, link = line
    with serve(pair):
        port = BmsPort(link, 1, 0, DeviceConfig.model_validate({"bms": {"ncell_expected": 96}}))
        with pytest.raises(MapError, match="NCell = 6, the device file expects 96"):
            port.discover(-1, 0.0)


def test_nobody_on_the_line(line) -> None:
    _, link = line
    port = BmsPort(link, 1, 0, DeviceConfig.model_validate({"timing": {"retries": 0}}))
    assert port.step(0, 0.0, meas(0.0)) is None and not port.mapped
    assert port.stats["timeout"] == 1 and port.last_failure.startswith("read at 40000: timeout")
