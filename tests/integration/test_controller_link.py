"""A controller outside the process on the plant's SunSpec Modbus TCP devices: `twin run --external` against
`twin controller` (hil/plant/client.py) or a plain pymodbus client, on 127.0.0.1; nothing mocked.

The pilot hour in lockstep agrees with the in-process reference controller within the quantisation of the
scale factors (bounds derived in tools/controller_wire_check.py, docs/controller-interface.md); a controller
that falls silent is seen (its PV limit reverts when the 704 timer runs out); refused writes change
nothing; real time starts once the controller is ready; the README's client example runs.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymodbus.client import ModbusTcpClient

from tests.conftest import ROOT, SCENARIOS, TWIN, run_cli, twin_run, write_scenario
from tools.controller_wire_check import BOUNDS, compare, free_port, run_pair

__all__: list[str] = []

SIMCTL, PV0, SPARK0 = 2, 40, 70
A_STEPCNT, A_ST, A_CYCDONE = 40076, 40081, 40082  # 64953 on unit 2 (docs/controller-interface.md)
A_PV_W, A_PV_LIM_ENA = 40080, 40291  # PV 701 W (W_SF 2); 704 WMaxLimPctEna, WMaxLimPct (SF -1)
A_SHED = 40081  # Spark 64951 ShedTier
PV_RATING_MW = 2.0


def _events(summary: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in summary["events"] if e["kind"] == kind]


def _start_twin(scen: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [*TWIN, "run", str(scen), "--out", str(out), "--no-progress", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _connect(port: int, timeout_s: float = 60.0) -> ModbusTcpClient:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        c = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
        if c.connect():
            return c
        time.sleep(0.1)
    raise AssertionError(f"the twin's plant server on {port} did not come up")


@pytest.fixture(scope="module")
def hour(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("wire")
    r = run_pair(SCENARIOS / "pilot-1h.toml", out)
    r["out"] = out
    return r


def test_lockstep_pilot_hour_agrees_with_the_in_process_controller(hour: dict[str, Any]) -> None:
    import json

    for c, d in hour["diff"].items():
        assert d["max_abs"] <= d["bound"], f"{c}: {d}"
    # the wire matters: the controller curtails PV in this hour, so the limits crossed it (a check that can fail)
    sw = json.loads((hour["out"] / "wire" / "summary.json").read_text())
    si = json.loads((hour["out"] / "in_process" / "summary.json").read_text())
    assert sw["energy_mwh"]["pv_curtailed"] > 0.1
    assert sw["energy_mwh"]["pv_curtailed"] == pytest.approx(si["energy_mwh"]["pv_curtailed"], abs=0.01)
    for s in (sw, si):
        assert s["status"] == "completed" and abs(s["energy_balance_error_frac"]) < 1e-6
    link = sw["controller_link"]
    assert link["mode"] == "lockstep" and link["steps"] == 3600 and link["owns"] == ["pv", "spark"]
    assert link["cycle_ms"]["n"] == 3600 and link["silent_periods"] == []
    assert sum(link["exceptions"].values()) == 0 and link["reverted_setpoints"] == 0
    assert hour["controller"].finished and hour["controller"].steps == 3600
    print(
        f"\nlockstep pilot-1h: {hour['wall_wire_s']:.0f} s over the wire, {hour['wall_in_process_s']:.0f} s in process"
    )
    for c, d in hour["diff"].items():
        print(f"  {c}: max |diff| {d['max_abs']:.3g} at {d['at_s']:g} s (bound {BOUNDS[c]:g})")


def test_the_session_replays_without_the_controller(hour: dict[str, Any]) -> None:
    out = hour["out"]
    r = twin_run(
        SCENARIOS / "pilot-1h.toml",
        out / "replay",
        "--replay-controller",
        str(out / "wire" / "controller_session.jsonl.gz"),
    )
    assert r.returncode == 0, r.stderr
    link = r.summary["controller_link"]
    assert link["mode"] == "replay" and link["replay_divergences"] == 0 and link["replayed_transactions"] > 100_000
    d = compare(out / "wire", out / "replay", {k: 0.0 for k in BOUNDS})
    assert all(v["max_abs"] == 0.0 for v in d.values()), d  # the same setpoints at the same steps: the same run


SILENT_SCENARIO = """
name = "silent-controller"
[run]
start = 2025-07-15T12:00:00
duration_s = 40
step_s = 1.0
seed = 11
[models.fleet]
soc_start_frac = 0.6
[controller.external]
owns = ["pv"]
mode = "lockstep"
port = {port}
cycle_timeout_s = 1.0
"""


def _silent_controller(port: int, last_step: int, log: dict[str, Any]) -> None:
    """Limits every PV block to 30 % with a 5 s reversion timer, writes it again every step up to ``last_step``,
    tries a few writes a device refuses, then falls silent (keeps the connection, writes nothing)."""
    c = _connect(port)
    done = -1
    while done < last_step:
        regs = c.read_holding_registers(A_STEPCNT, count=2, device_id=SIMCTL).registers
        n = regs[0] << 16 | regs[1]
        if n == done:
            time.sleep(0.001)
            continue
        if n >= 1:
            for u in range(8):
                # Ena = 1, WMaxLimPct = 30.0 %, its defaults 100.0 % and DISABLED, WMaxLimPctRvrtTms = 5 s
                c.write_registers(A_PV_LIM_ENA, [1, 300, 1000, 0, 0, 5], device_id=PV0 + u)
        if n == 3:
            log["out_of_range"] = c.write_registers(A_PV_LIM_ENA, [1, 1500], device_id=PV0).exception_code
            log["read_only"] = c.write_register(A_PV_W, 0, device_id=PV0).exception_code
            log["not_owned"] = c.write_register(A_SHED, 1, device_id=SPARK0).exception_code
        c.write_registers(A_CYCDONE, [n >> 16, n & 0xFFFF], device_id=SIMCTL)
        done = n
    time.sleep(8)
    c.close()


def test_a_silent_controller_is_seen_and_its_pv_limit_reverts(tmp_path: Path) -> None:
    port = free_port()
    scen = write_scenario(tmp_path, "silent", SILENT_SCENARIO.format(port=port))
    twin = _start_twin(scen, tmp_path / "out")
    log: dict[str, Any] = {}
    th = threading.Thread(target=_silent_controller, args=(port, 10, log), daemon=True)
    th.start()
    so, se = twin.communicate(timeout=300)
    th.join(15)
    assert twin.returncode == 0, se
    import json

    import pyarrow.parquet as pq

    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    t = pq.read_table(tmp_path / "out" / "timeseries.parquet", columns=["time_s", "pv_p_mw", "pv_avail_p_mw"])
    df = t.to_pandas().set_index("time_s")
    cap = 8 * 0.3 * PV_RATING_MW
    # written while step 1 was shown (1 s): in force from the row at 1 s until the reversion
    assert (df.loc[1:14, "pv_p_mw"] <= cap + 1e-3).all()
    # the last write came while step 10 was shown (10 s): 5 s later, at 15 s, the timer ran out
    rv = [r for r in s["controller_link"]["reverted_first"] if r["point"] == "704.WMaxLimPct"]
    assert len(rv) == 8 and {r["t_s"] for r in rv} == {15.0} and {r["value"] for r in rv} == {100.0}
    assert {e["time_s"] for e in _events(s, "controller_reverted")} == {15.0}
    after = df.loc[15:, "pv_p_mw"]  # the reverted limit acts from the next step: no limit
    assert (after > cap + 0.5).all() and np.allclose(after, df.loc[15:, "pv_avail_p_mw"], atol=1e-6)
    silent = _events(s, "controller_silent")
    assert silent and silent[0]["time_s"] == 11.0  # no CycDone = 11
    # refused writes: answered, counted, nothing changed (the limit stayed at 30 %)
    assert log == {"out_of_range": 0x03, "read_only": 0x02, "not_owned": 0x02}
    ex = s["controller_link"]["exceptions"]
    assert ex["out_of_range"] == 1 and ex["read_only"] == 2
    assert s["status"] == "completed" and abs(s["energy_balance_error_frac"]) < 1e-6


def test_realtime_with_the_reference_controller(tmp_path: Path) -> None:
    from hil.plant.client import run_controller

    port = free_port()
    twin = _start_twin(
        SCENARIOS / "pilot-1h.toml",
        tmp_path / "out",
        "--external",
        "pv,spark",
        "--realtime",
        "--listen",
        f"127.0.0.1:{port}",
        "--duration-s",
        "10",
        "--step-s",
        "0.5",
    )
    _connect(port).close()
    st = run_controller("127.0.0.1", port)
    so, se = twin.communicate(timeout=120)
    assert twin.returncode == 0, se
    import json

    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    link = s["controller_link"]
    late = link["lateness_ms"]
    # the controller was ready before the clock: the first step is not late
    assert _events(s, "controller_connected")[0]["time_s"] == 0.0
    assert late["n"] == 20 and late["overruns"] == 0 and late["max"] < 50.0
    assert link["cycle_ms"]["n"] >= 15 and st.finished and st.steps >= 15
    assert re.search(r"lateness: p50 [\d.]+ ms, p99 [\d.]+ ms", so)


def test_no_controller_no_start(tmp_path: Path) -> None:
    text = SILENT_SCENARIO.format(port=free_port()).replace("cycle_timeout_s = 1.0", "connect_timeout_s = 1.0")
    scen = write_scenario(tmp_path, "alone", text)
    r = twin_run(scen, tmp_path / "out")
    assert r.returncode == 1
    assert "twin controller --connect" in r.stderr
    assert r.summary["status"] == "failed" and _events(r.summary, "controller_not_connected")


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--external", "pvv"], "'pvv' is not a device group; did you mean 'pv'?"),
        (["--external", "pv", "--listen", "here"], "--listen: expected [HOST:]PORT"),
        (["--replay-controller", "nope.jsonl.gz"], "cannot read the controller session"),
    ],
)
def test_bad_flags_exit_2(tmp_path: Path, args: list[str], msg: str) -> None:
    p = run_cli(["run", str(SCENARIOS / "pilot-1h.toml"), "--out", str(tmp_path / "o"), *args])
    assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr


def test_controller_flags_exit_2() -> None:
    p = run_cli(["controller", "--connect", "nohost"])
    assert p.returncode == 2 and "expected HOST:PORT" in p.stderr


def test_readme_client_example_runs(tmp_path: Path) -> None:
    """The ten-line pymodbus client of the README's "Your controller on the wire", as printed."""
    text = (ROOT / "README.md").read_text()
    sec = text.split("## Your controller on the wire", 1)[1]
    code = re.search(r"```python\n(.*?)```", sec, re.S)
    assert code, "no python block in the README section"
    src = code.group(1)
    assert len([ln for ln in src.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]) <= 13
    port = free_port()
    twin = _start_twin(
        SCENARIOS / "pilot-1h.toml",
        tmp_path / "out",
        "--external",
        "pv",
        "--lockstep",
        "--listen",
        f"127.0.0.1:{port}",
        "--duration-s",
        "20",
    )
    _connect(port).close()
    ex = subprocess.run(
        [__import__("sys").executable, "-c", src.replace("5020", str(port))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    so, se = twin.communicate(timeout=120)
    assert ex.returncode == 0, ex.stderr
    assert twin.returncode == 0, se
    import pyarrow.parquet as pq

    df = pq.read_table(tmp_path / "out" / "timeseries.parquet", columns=["time_s", "pv_b00_p_mw"]).to_pandas()
    assert (df["pv_b00_p_mw"].iloc[2:] <= 0.5 * PV_RATING_MW + 1e-3).all()  # the example's 50 % limit acted


BREAKER_SCENARIO = SILENT_SCENARIO.replace('owns = ["pv"]', 'owns = ["breakers"]').replace(
    "duration_s = 40", "duration_s = 30"
)


def _breaker_controller(port: int, log: dict[str, Any]) -> None:
    """Opens PV block 2's breaker (64952 Cmd, unit 114) at step 5 and closes it at step 10 (inside the PV model's
    60 s period); disconnects battery block 4 by 802 SetOp (unit 14) at step 3 and connects it at step 6."""
    c = _connect(port)
    done = -1
    plan = {3: (14, 40403, 2), 5: (114, 40081, 1), 6: (14, 40403, 1), 10: (114, 40081, 2)}
    while True:
        regs = c.read_holding_registers(A_STEPCNT, count=6, device_id=SIMCTL).registers
        if regs[5] == 3:  # FINISHED
            break
        n = regs[0] << 16 | regs[1]
        if n == done:
            time.sleep(0.001)
            continue
        if n in plan:
            uid, addr, val = plan[n]
            log[n] = c.write_register(addr, val, device_id=uid).isError()
        if n == 12:
            log["counts"] = c.read_holding_registers(40082, count=6, device_id=114).registers  # Opn, Cls, Trip
        c.write_registers(A_CYCDONE, [n >> 16, n & 0xFFFF], device_id=SIMCTL)
        done = n
    c.close()


def test_breakers_and_setop_act_from_the_next_step(tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    port = free_port()
    scen = write_scenario(tmp_path, "breakers", BREAKER_SCENARIO.format(port=port))
    twin = _start_twin(scen, tmp_path / "out")
    log: dict[str, Any] = {}
    th = threading.Thread(target=_breaker_controller, args=(port, log), daemon=True)
    th.start()
    so, se = twin.communicate(timeout=300)
    th.join(15)
    assert twin.returncode == 0, se
    assert {k: v for k, v in log.items() if k != "counts"} == {3: False, 5: False, 6: False, 10: False}
    assert log["counts"] == [0, 1, 0, 1, 0, 0]  # OpnCnt 1, ClsCnt 1, TripCnt 0 (uint32 each)
    df = pq.read_table(tmp_path / "out" / "timeseries.parquet").to_pandas().set_index("time_s")
    pv2 = df["pv_b02_p_mw"]
    assert (pv2.loc[:4] > 0.3).all() and (pv2.loc[5:9] == 0).all() and (pv2.loc[10:] > 0.3).all()
    b4 = df["bess_b04_p_mw"]
    assert (b4.loc[3:5].abs() < 1e-9).all() and (b4.loc[:2].abs() > 1e-3).all()
    # back in the net from 6 s; its limits, computed by the fleet at the end of the step before the controller
    # acted, let it take power from the step after (docs/controller-interface.md, "When setpoints act")
    assert (b4.loc[7:].abs() > 1e-3).all()
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    sw = [(e["time_s"], e["detail"]) for e in _events(s, "controller_switching")]
    assert [t for t, _ in sw] == [3.0, 5.0, 6.0, 10.0]
    assert [e["time_s"] for e in _events(s, "trip_pv_block")] == [5.0]
    assert [e["time_s"] for e in _events(s, "restore_pv_block")] == [10.0]
    assert s["status"] == "completed" and abs(s["energy_balance_error_frac"]) < 1e-6
