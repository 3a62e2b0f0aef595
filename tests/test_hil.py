"""Hardware in the loop, end to end: `twin hil` against `twin bms-emulator` over a pseudo-terminal pair.

Three processes, as on a bench: the twin (`twin hil`, the Modbus client), the
software BMS (`twin bms-emulator`, pymodbus's RTU server) and, in the test
process, the pseudo-terminal pair between them (hil.ptypair: two real tty
devices opened by path with pyserial; its bridge can break the wire or pull
the twin's side like a USB adapter).

With TWIN_HIL_PORT naming a real port (a USB RS-485 adapter wired to a BMS
that implements ../shared/design/BMS_HIL_PROTOCOL.md), the contract tests
(marked `contract`) run against that BMS instead of the emulator; the tests
that need the emulator's fault plan are skipped then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hil.ptypair import PtyPair

ROOT = Path(__file__).resolve().parents[1]
TWIN = [sys.executable, "-m", "adapters.cli"]
REAL_PORT = os.environ.get("TWIN_HIL_PORT", "")
EMU_ONLY = pytest.mark.skipif(bool(REAL_PORT), reason="needs the emulator's fault plan (TWIN_HIL_PORT is set)")
# columns that depend on the wall clock, not on the plant
WALL_COLUMNS = {"hil_lateness_ms", "hil_io_ms"}


def scenario(tmp: Path, events: str = "", duration_s: float = 60.0, step_s: float = 1.0) -> Path:
    """hil-one-pack.toml with extra events (the inventory path made absolute)."""
    text = (ROOT / "scenarios" / "hil-one-pack.toml").read_text()
    text = text.replace('"data/pilot-inventory.csv"', json.dumps(str(ROOT / "scenarios" / "data" / "pilot-inventory.csv")))
    text = text.replace("duration_s = 60", f"duration_s = {duration_s:g}").replace("step_s = 1.0", f"step_s = {step_s:g}")
    p = tmp / "hil.toml"
    p.write_text(text + "\n" + events)
    return p


class Bench:
    """A line with a BMS on it: the emulator behind a pty pair, or the real port of TWIN_HIL_PORT."""

    def __init__(self, tmp: Path, faults: tuple[str, ...] = (), extra: tuple[str, ...] = ()):
        self.tmp = tmp
        self.pair: PtyPair | None = None
        self.emu: subprocess.Popen | None = None
        self.faults, self.extra = faults, extra

    def __enter__(self) -> Bench:
        if REAL_PORT:
            self.port = REAL_PORT
            return self
        self.pair = PtyPair(link_a=str(self.tmp / "twin-side"), link_b=str(self.tmp / "bms-side"))
        self.pair.start()
        self.port = self.pair.a
        cmd = TWIN + ["bms-emulator", "--port", self.pair.b, "--quiet", *self.extra]
        for f in self.faults:
            cmd += ["--fault", f]
        self.emu_log = (self.tmp / "emulator.log").open("w")
        self.emu = subprocess.Popen(cmd, cwd=ROOT, stdout=self.emu_log, stderr=subprocess.STDOUT)
        time.sleep(1.5)  # the server opens its port
        assert self.emu.poll() is None, (self.tmp / "emulator.log").read_text()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.emu is not None:
            self.emu.terminate()
            try:
                self.emu.wait(10)
            except subprocess.TimeoutExpired:
                self.emu.kill()
            self.emu_log.close()
        if self.pair is not None:
            self.pair.close()


def twin_hil(scen: Path, out: Path, *args: str, port: str | None = None, timeout: float = 300,
             background: bool = False) -> subprocess.CompletedProcess | subprocess.Popen:
    cmd = TWIN + ["hil", str(scen), "--out", str(out), "--no-progress", *args]
    if port is not None:
        cmd += ["--port", port]
    if background:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def load(out: Path) -> tuple[dict, dict[str, np.ndarray]]:
    s = json.loads((out / "summary.json").read_text())
    t = pq.read_table(out / "timeseries.parquet")
    return s, {c: t.column(c).to_numpy() for c in t.column_names}


def events(s: dict, kind: str) -> list[dict]:
    return [e for e in s["events"] if e["kind"] == kind]


def check_physics(s: dict, ts: dict[str, np.ndarray]) -> None:
    """What holds in every HIL run: the site's energy books close, no pack current above the BMS's
    limits, SoC bounds."""
    h = s["hil"]
    assert s["energy_balance_error_frac"] < 1e-6
    assert h["current_limit_violations"] == 0, h
    i = ts["hil_pack_i_a"]
    # the current of step k ran under the limits read at step k (recorded in the same row)
    lim_ch, lim_dis = ts["hil_i_charge_max_a"], ts["hil_i_discharge_max_a"]
    assert np.all(i[1:] <= lim_ch[:-1] + 1e-6) and np.all(-i[1:] <= lim_dis[:-1] + 1e-6)
    assert np.all((ts["hil_soc_true_pct"] >= 0) & (ts["hil_soc_true_pct"] <= 100))


# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def realtime_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess, float]:
    tmp = tmp_path_factory.mktemp("rt")
    scen = scenario(tmp)
    with Bench(tmp) as bench:
        t0 = time.monotonic()
        r = twin_hil(scen, tmp / "out", port=bench.port)
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
    check_physics(s, ts)
    assert (tmp / "out" / "session.jsonl").stat().st_size > 0


@EMU_ONLY
def test_realtime_session_replays_to_the_same_results(realtime_run: tuple[Path, subprocess.CompletedProcess, float]) -> None:
    """The recorded real-time session, replayed without the BMS, gives the same plant results."""
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


# ----------------------------------------------------------------------------------------------
@EMU_ONLY
def test_lockstep_contactor_opened_by_the_bms(tmp_path: Path) -> None:
    """The BMS opens its contactor at 15 s (a latched alarm): the pack is out at once and the other packs of
    its block take its share; the twin's alarm reset at 30 s clears it and the pack comes back."""
    scen = scenario(tmp_path, events='[[events]]\nat_s = 30\nkind = "bms_reset"\npacks = [0]\n')
    with Bench(tmp_path, faults=("open_contactor@15",)) as bench:
        r = twin_hil(scen, tmp_path / "out", "--lockstep", port=bench.port)
    assert r.returncode == 0, r.stderr[-3000:]
    s, ts = load(tmp_path / "out")
    check_physics(s, ts)
    opened = events(s, "bms_contactor_open")
    assert opened and 15 <= opened[0]["time_s"] <= 17, s["events"]
    closed = [e for e in events(s, "bms_contactor_closed") if e["time_s"] > opened[0]["time_s"]]
    assert closed and 30 <= closed[0]["time_s"] <= 32
    t = ts["time_s"]
    out = (t > opened[0]["time_s"] + 1) & (t < 30)
    assert np.all(ts["hil_pack_i_a"][out] == 0.0) and np.all(ts["hil_i_charge_max_a"][out] == 0.0)
    back = t > closed[0]["time_s"] + 1
    assert np.any(np.abs(ts["hil_pack_i_a"][back]) > 1.0)
    # the fleet delivered what the grid asked of the blocks while the pack was out: no shortfall
    assert np.all(np.abs(ts["bess_shortfall_p_mw"][out]) < 1e-9)
    assert np.all(np.abs(ts["bess_dispatch_gap_p_mw"]) < 1e-6)
    assert s["hil"]["packs"][0]["steps_out_of_service"] >= 13


@EMU_ONLY
def test_lockstep_bms_limits_clamp_the_pack(tmp_path: Path) -> None:
    """A BMS that allows 8 A of charge: the pack is held at 8 A (never above) in every step the site charges,
    each such step is counted as clamped, and the fleet still takes what the grid asks of the block.
    Its device file says it reports discharge positive, which the twin catches from its current readings."""
    cfg = tmp_path / "emu.toml"
    cfg.write_text("i_charge_max_a = 8.0\n")
    dev = tmp_path / "bms.toml"
    dev.write_text("[bms]\ncurrent_sign = -1\n")
    with Bench(tmp_path, extra=("--config", str(cfg))) as bench:
        r = twin_hil(scenario(tmp_path, duration_s=30), tmp_path / "out", "--lockstep", "--device", str(dev),
                     port=bench.port)
    assert r.returncode == 0, r.stderr[-3000:]
    s, ts = load(tmp_path / "out")
    h = s["hil"]
    check_physics(s, ts)
    i = ts["hil_pack_i_a"][1:]
    assert np.all(ts["hil_i_charge_max_a"][1:] == 8.0)
    assert i.max() <= 8.0 + 1e-6 and np.sum(np.abs(i - 8.0) < 1e-3) >= 25  # the site charges around noon
    assert h["clamped_steps"] >= 25 and h["current_limit_violations"] == 0
    assert np.all(np.abs(ts["bess_shortfall_p_mw"]) < 1e-9)
    assert events(s, "hil_sign_mismatch") and h["current_sign_mismatch_steps"] >= 3


@EMU_ONLY
def test_lockstep_silent_bms_and_corrupt_frames(tmp_path: Path) -> None:
    """A BMS that stops answering for 2 s: retries in each step, then the pack is out with the fault
    recorded; it comes back when answers return. Then 2 s of broken CRCs: the same, seen as bad frames.

    In lockstep the twin's steps run faster than the wall while the BMS is silent (each costs its timeouts),
    and the emulator times its silence on the wall (no step reaches it), so the return is checked for order,
    not for a simulated second."""
    scen = scenario(tmp_path)
    with Bench(tmp_path, faults=("silent@20:2", "corrupt@45:2")) as bench:
        r = twin_hil(scen, tmp_path / "out", "--lockstep", "--timeout-s", "0.05", "--retries", "2", port=bench.port)
    assert r.returncode == 0, r.stderr[-3000:]
    s, ts = load(tmp_path / "out")
    h = s["hil"]
    check_physics(s, ts)
    lost = events(s, "hil_link_lost")
    back = events(s, "hil_link_restored")
    assert len(lost) == 2 and len(back) == 2, [e for e in s["events"] if e["kind"].startswith(("hil", "bms"))]
    assert 20 <= lost[0]["time_s"] <= 21 and "timeout" in lost[0]["detail"]
    assert lost[0]["time_s"] + 2 <= back[0]["time_s"] < lost[1]["time_s"] < back[1]["time_s"]
    assert lost[1]["time_s"] >= 45 and "bad_frame" in lost[1]["detail"]
    assert h["timeouts"] >= 3 * 3 and h["retries"] >= 2 * 3
    assert h["bad_frames"] >= 3
    t = ts["time_s"]
    silent = (t > lost[0]["time_s"]) & (t < back[0]["time_s"])
    assert np.all(ts["hil_link_ok"][silent] == 0)
    assert np.all(ts["hil_pack_i_a"][silent & (t > lost[0]["time_s"] + 1)] == 0)  # out of service
    assert ts["hil_link_ok"][-1] == 1 and ts["hil_bms_state"][-1] == 3


@EMU_ONLY
def test_realtime_cable_pulled_and_bms_reboot(tmp_path: Path) -> None:
    """The twin's side of the line disappears for about 5 s (a USB adapter pulled) and the BMS reboots at
    25 s: port errors, then the pack comes back; the reboot shows as a heartbeat reset."""
    scen = scenario(tmp_path, duration_s=35)
    with Bench(tmp_path, faults=("reboot@25",)) as bench:
        proc = twin_hil(scen, tmp_path / "out", "--timeout-s", "0.05", port=bench.port, background=True)
        time.sleep(14)  # start-up (~4 s) + ~10 s of the run
        assert bench.pair is not None
        bench.pair.unplug()
        time.sleep(5)
        bench.pair.replug()
        so, se = proc.communicate(timeout=120)
    assert proc.returncode == 0, se[-3000:]
    s, ts = load(tmp_path / "out")
    h = s["hil"]
    check_physics(s, ts)
    assert h["port_errors"] >= 1, h
    lost = events(s, "hil_link_lost")
    assert lost and "port_error" in lost[0]["detail"]
    assert events(s, "hil_link_restored")
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
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:  # wait for the run to be 5 steps in
            p = out / "session.jsonl"
            if p.exists() and p.read_text().count('"k":5,') > 0:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        so, se = proc.communicate(timeout=60)
        assert proc.returncode == 130, se[-3000:]
        # the port is free again: the twin's side opens (exclusively, as pymodbus does)
        import serial

        serial.Serial(bench.port, 115200, timeout=0.1, exclusive=True).close()
    s, ts = load(out)
    assert s["status"] == "interrupted" and 5 <= len(ts["time_s"]) < 60
    assert s["hil"]["exchanges"] >= 5 * 4
    lines = (out / "session.jsonl").read_text().splitlines()
    assert all(json.loads(x) for x in lines[:-1])


# ----------------------------------------------------------------------------------------------
def test_replay_of_another_plant_diverges(tmp_path: Path) -> None:
    """A session replayed against a different plant (another start SoC) is flagged, not silently accepted."""
    scen = scenario(tmp_path, duration_s=5)
    sess = tmp_path / "s.jsonl"
    if REAL_PORT:
        pytest.skip("needs the emulator")
    with Bench(tmp_path) as bench:
        r = twin_hil(scen, tmp_path / "a", "--lockstep", port=bench.port)
    assert r.returncode == 0, r.stderr[-3000:]
    sess.write_text((tmp_path / "a" / "session.jsonl").read_text())
    other = scen.read_text().replace("soc_start_frac = 0.6", "soc_start_frac = 0.5")
    scen.write_text(other)
    rep = twin_hil(scen, tmp_path / "b", "--replay", str(sess))
    assert rep.returncode == 0, rep.stderr[-3000:]
    h = json.loads((tmp_path / "b" / "summary.json").read_text())["hil"]
    assert h["replay_divergences"] > 0 and "differ" in h["replay_first_divergence"]


@pytest.mark.parametrize("args, needle", [
    (["--packs", "0"], "--port"),
    (["--port", "/dev/does-not-exist-hil"], "/dev/does-not-exist-hil"),
    (["--port", "/dev/null", "--packs", "99999"], "99999"),
    (["--port", "/dev/null", "--packs", "a,b"], "--packs"),
    (["--replay", "/nonexistent/session.jsonl"], "session file"),
])
def test_bad_hil_input_exits_2(tmp_path: Path, args: list[str], needle: str) -> None:
    r = twin_hil(scenario(tmp_path, duration_s=5), tmp_path / "out", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_device_file_typo_is_named(tmp_path: Path) -> None:
    dev = tmp_path / "bms.toml"
    dev.write_text("[timing]\ntimeout_s = 0.2\nretrys = 3\n")
    r = twin_hil(scenario(tmp_path, duration_s=5), tmp_path / "out", "--device", str(dev), port="/dev/null")
    assert r.returncode == 2
    assert str(dev) in r.stderr and "retrys" in r.stderr and "retries" in r.stderr and "Traceback" not in r.stderr
