"""Hardware in the loop in real time: `twin hil` against `twin bms-emulator` over a pseudo-terminal pair,
paced by the wall clock (helpers and the bench: tests/integration/hil_support.py).

With TWIN_HIL_PORT naming a real port, the `contract` tests run against the BMS on it (README, "Wiring a
real BMS"); the tests that need the emulator's fault plan are skipped then.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.integration.hil_support import (
    EMU_ONLY,
    REAL_PORT,
    WALL_COLUMNS,
    Bench,
    check_physics,
    events,
    load,
    scenario,
    twin_hil,
    wait_for_step,
)


@pytest.fixture(scope="module")
def realtime_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess, float]:
    tmp = tmp_path_factory.mktemp("rt")
    scen = scenario(tmp)
    with Bench(tmp) as bench:
        t0 = time.monotonic()
        # 0.5 s per attempt: the other test processes load the machine; a 1 s step has room for it
        r = twin_hil(scen, tmp / "out", "--timeout-s", "0.5", port=bench.port)
        wall = time.monotonic() - t0
    return tmp, r, wall


@pytest.mark.contract
def test_realtime_one_second_steps(realtime_run: tuple[Path, subprocess.CompletedProcess, float]) -> None:
    """60 s of the site at wall-clock pace with pack 0 on the BMS: every step exchanged, paced, scored."""
    tmp, r, wall = realtime_run
    assert r.returncode == 0, r.stderr[-3000:]
    s, ts = load(tmp / "out")
    h = s["hil"]
    assert h["mode"] == "realtime" and h["steps"] == 60
    # pacing: the run cannot be faster than real time (the first slot starts at the first step)
    assert s["wall_time_s"] >= 59.0 and wall >= 59.0
    late = h["lateness_ms"]
    assert 0 <= late["p50"] <= late["p99"] <= late["max"]
    assert isinstance(late["overruns"], int)
    # real time starts once the BMS is discovered: found before the clock, no link lost at the start, and
    # the first steps begin on time (discovery took 182 ms in the first step before, at 0.1 s steps)
    assert [e["time_s"] for e in events(s, "hil_connected")] == [0.0]
    assert not events(s, "hil_link_lost") and not events(s, "hil_overrun")
    assert ts["hil_lateness_ms"][:3].max() < 100.0
    # every step: 64950 cells + header, SetOp, CtrlHb + 802 read (FC 23, or 16 + 3)
    assert h["timeouts"] == 0 and h["bad_frames"] == 0 and h["link_lost_events"] == 0
    per_step = 4 if h["packs"][0]["ncell"] <= 123 else 5
    assert h["exchanges"] >= 60 * per_step
    assert h["packs"][0]["steps_out_of_service"] == 0
    assert ts["hil_link_ok"].min() == 1.0
    assert np.all(ts["hil_bms_state"][1:] == 3)  # CONNECTED after the first answer
    # the BMS's SoC estimate against the model's true SoC, every step
    soc = h["soc_estimate_error_pct"]
    assert soc["n"] >= 59 and soc["max_abs"] is not None
    if not REAL_PORT:
        # the emulator starts from the OCV of the cells the twin wrote (the same chemistry table as the pack
        # model) and counts the current with 115 Ah where the pack has 113.4 Ah left: within 0.01 % resolution
        # and a drift of 1.4 % of the charge moved in a minute
        assert soc["max_abs"] < 0.3
    check_physics(s, ts)
    assert (tmp / "out" / "session.jsonl").stat().st_size > 0


@pytest.mark.contract
def test_realtime_session_replays_to_the_same_results(
    realtime_run: tuple[Path, subprocess.CompletedProcess, float],
) -> None:
    """The recorded real-time session, replayed without the BMS, gives the same plant results (a session
    recorded against a real BMS replays the same way)."""
    tmp, r, _ = realtime_run
    assert r.returncode == 0, r.stderr[-3000:]
    rep = twin_hil(scenario(tmp), tmp / "replay", "--replay", str(tmp / "out" / "session.jsonl"))
    assert rep.returncode == 0, rep.stderr[-3000:]
    s0, ts0 = load(tmp / "out")
    s1, ts1 = load(tmp / "replay")
    assert s1["hil"]["mode"] == "replay" and s1["hil"]["replay_divergences"] == 0, s1["hil"]
    assert set(ts0) == set(ts1)
    for c in ts0:
        if c not in WALL_COLUMNS:
            np.testing.assert_array_equal(ts0[c], ts1[c], err_msg=c)
    for key in ("exchanges", "retries", "timeouts", "soc_estimate_error_pct", "clamped_steps"):
        assert s0["hil"][key] == s1["hil"][key], key


@EMU_ONLY
def test_realtime_cable_pulled_and_bms_reboot(tmp_path: Path) -> None:
    """The twin's side of the line disappears for about 5 s (a USB adapter pulled) and the BMS reboots at
    25 s: port errors, then the pack comes back; the reboot shows as a heartbeat reset."""
    scen = scenario(tmp_path, duration_s=35)
    with Bench(tmp_path, faults=("reboot@25",)) as bench:
        proc = twin_hil(scen, tmp_path / "out", "--timeout-s", "0.2", port=bench.port, background=True)
        wait_for_step(tmp_path / "out", 8)
        assert bench.pair is not None
        bench.pair.unplug()
        time.sleep(5)
        bench.pair.replug()
        _, se = proc.communicate(timeout=120)
    assert proc.returncode == 0, se[-3000:]
    s, ts = load(tmp_path / "out")
    h = s["hil"]
    check_physics(s, ts)
    assert h["port_errors"] >= 1, h
    lost = [e for e in events(s, "hil_link_lost") if "port_error" in e["detail"]]
    assert lost and 8 <= lost[0]["time_s"] <= 12, s["events"]
    back = [e for e in events(s, "hil_link_restored") if e["time_s"] > lost[0]["time_s"]]
    assert back and 3 <= back[0]["time_s"] - lost[0]["time_s"] <= 8
    assert events(s, "bms_reboot"), s["events"]
    assert ts["hil_link_ok"][-1] == 1 and ts["hil_bms_state"][-1] == 3


@EMU_ONLY
def test_ctrl_c_closes_the_port_and_keeps_the_results(tmp_path: Path) -> None:
    """Ctrl-C in the middle of a real-time run: exit 130, the port closed, results and session readable."""
    import signal

    scen = scenario(tmp_path)
    with Bench(tmp_path) as bench:
        proc = twin_hil(scen, tmp_path / "out", port=bench.port, background=True)
        out = tmp_path / "out"
        wait_for_step(out, 5)
        proc.send_signal(signal.SIGINT)
        _, se = proc.communicate(timeout=60)
        assert proc.returncode == 130, se[-3000:]
        # the port is free again: the twin's side opens (exclusively, as pymodbus does)
        import serial

        serial.Serial(bench.port, 115200, timeout=0.1, exclusive=True).close()
    s, ts = load(out)
    assert s["status"] == "interrupted" and 5 <= len(ts["time_s"]) < 60
    assert s["hil"]["exchanges"] >= 5 * 4
    lines = (out / "session.jsonl").read_text().splitlines()
    assert all(json.loads(x) for x in lines[:-1])


@EMU_ONLY
def test_stop_on_overruns(tmp_path: Path) -> None:
    """Told to stop after 3 overruns, with an overrun threshold of 10 us (below any sleep's overshoot, so
    every step overruns): the run stops at the 4th step as failed, and what ran is written."""
    scen = scenario(tmp_path, duration_s=30)
    scen.write_text(scen.read_text().replace("realtime = true", "realtime = true\noverrun_frac = 0.00001"))
    with Bench(tmp_path) as bench:
        r = twin_hil(scen, tmp_path / "out", "--max-overruns", "3", port=bench.port)
    assert r.returncode == 1, (r.stdout, r.stderr[-3000:])
    assert "overran" in r.stderr and "Traceback" not in r.stderr
    s, ts = load(tmp_path / "out")
    assert s["status"] == "failed" and events(s, "hil_aborted") and events(s, "hil_overrun")
    assert 3 <= len(ts["time_s"]) <= 5
    assert s["hil"]["lateness_ms"]["overruns"] == 4
