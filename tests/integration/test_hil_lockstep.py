"""Hardware in the loop in lockstep (no wall clock) and the bad-input paths of `twin hil` (helpers and the
bench: tests/integration/hil_support.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hil.ptypair import PtyPair
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
)


@pytest.mark.contract
def test_lockstep_is_deterministic(tmp_path: Path) -> None:
    """Lockstep: no wall clock, every answer waited for. Every step exchanged, the pack connected and within
    its limits; against the emulator (whose clock is SimT) two runs give the same results."""
    runs = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        with Bench(d) as bench:
            r = twin_hil(scenario(d, duration_s=20), d / "out", "--lockstep", port=bench.port)
        assert r.returncode == 0, r.stderr[-3000:]
        runs.append(load(d / "out"))
        if REAL_PORT:
            break
    s, ts = runs[0]
    h = s["hil"]
    check_physics(s, ts)
    assert h["mode"] == "lockstep" and h["steps"] == 20 and "lateness_ms" not in h
    assert h["timeouts"] == 0 and h["link_lost_events"] == 0 and h["exchanges"] >= 20 * 4
    assert np.all(ts["hil_bms_state"][1:] == 3) and np.all(ts["hil_link_ok"] == 1)
    if len(runs) == 2:
        ts_b = runs[1][1]
        for c in ts:
            if c not in WALL_COLUMNS:
                np.testing.assert_array_equal(ts[c], ts_b[c], err_msg=c)


@EMU_ONLY
def test_lockstep_contactor_opened_by_the_bms(tmp_path: Path) -> None:
    """The BMS opens its contactor at 15 s (a latched alarm): the pack is out at once and the other packs of
    its block take its share; the twin's alarm reset at 30 s clears it and the pack comes back. Its heartbeat
    freezes at 40 s for 8 s: the twin takes the pack out after 5 s and back when it moves."""
    scen = scenario(tmp_path, events='[[events]]\nat_s = 30\nkind = "bms_reset"\npacks = [0]\n')
    with Bench(tmp_path, faults=("open_contactor@15", "freeze_heartbeat@40:8")) as bench:
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
    # its heartbeat stops at 40 s for 8 s: after hb_timeout_s (5 s) the pack is out until it moves again
    frozen, moving = events(s, "bms_heartbeat_frozen"), events(s, "bms_heartbeat_restored")
    assert frozen and 44 <= frozen[0]["time_s"] <= 46, s["events"]
    assert moving and 47 <= moving[0]["time_s"] <= 50
    stale = (t > frozen[0]["time_s"] + 1) & (t < moving[0]["time_s"])
    assert np.all(ts["hil_pack_i_a"][stale] == 0.0) and np.all(ts["hil_link_ok"][stale] == 1.0)
    assert s["hil"]["packs"][0]["steps_out_of_service"] >= 13 + 2


@EMU_ONLY
def test_lockstep_bms_limits_clamp_the_pack(tmp_path: Path) -> None:
    """A BMS that allows 8 A of charge: the pack is held at 8 A (never above) in every step the site charges,
    each such step is counted as clamped, and the fleet still takes what the grid asks of the block.
    Its device file says it reports discharge positive, which the twin catches from its current readings;
    its SoC estimate is biased by 3 points from 15 s, which the SoC score catches."""
    cfg = tmp_path / "emu.toml"
    cfg.write_text("i_charge_max_a = 8.0\n")
    dev = tmp_path / "bms.toml"
    dev.write_text("[bms]\ncurrent_sign = -1\n")
    with Bench(tmp_path, faults=("soc_bias@15=3",), extra=("--config", str(cfg))) as bench:
        r = twin_hil(
            scenario(tmp_path, duration_s=30), tmp_path / "out", "--lockstep", "--device", str(dev), port=bench.port
        )
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
    # from 15 s its SoC estimate reads 3 points high: the score sees it
    err = ts["hil_soc_bms_pct"] - ts["hil_soc_true_pct"]
    t = ts["time_s"]
    assert np.all(np.abs(err[(t >= 1) & (t < 15)]) < 0.5) and np.all(np.abs(err[t >= 16] - 3.0) < 0.5)
    assert 2.5 < h["soc_estimate_error_pct"]["max_abs"] < 3.5 and abs(h["soc_estimate_error_pct"]["last"] - 3) < 0.5


@EMU_ONLY
def test_lockstep_two_packs_on_one_line_with_a_hex_trace(tmp_path: Path) -> None:
    """Two BMSs on one line (unit ids 1 and 2) for packs 0 and 1, through pyserial's spy:// URL: both packs
    are exchanged every step, each BMS says who it is, the twin's SetOp reaches the right one, and the trace
    file has the bytes."""
    trace = tmp_path / "trace.txt"
    ev = (
        '[[events]]\nat_s = 4\nkind = "hil_setop"\npacks = [1]\nop = "disconnect"\n\n'
        '[[events]]\nat_s = 7\nkind = "hil_setop"\npacks = [1]\nop = "connect"\n'
    )
    with Bench(tmp_path, extra=("--units", "2")) as bench:
        r = twin_hil(
            scenario(tmp_path, ev, duration_s=10),
            tmp_path / "out",
            "--lockstep",
            "--packs",
            "0,1",
            port=f"spy://{bench.port}?file={trace}",
        )
    assert r.returncode == 0, r.stderr[-3000:]
    s, ts = load(tmp_path / "out")
    h = s["hil"]
    check_physics(s, ts)
    assert [(p["id"], p["unit"], p["serial_number"]) for p in h["packs"]] == [(0, 1, "HIL-0-0"), (1, 2, "HIL-0-1")]
    assert h["exchanges"] >= 2 * 10 * 4 and h["timeouts"] == 0
    # the twin asked pack 1's BMS to open from 4 s to 7 s (SetOp DISCONNECT): only pack 1 was out, then back
    assert h["packs"][0]["steps_out_of_service"] == 0 and 3 <= h["packs"][1]["steps_out_of_service"] <= 4
    opened = [e for e in events(s, "bms_contactor_open") if e["detail"].startswith("pack 1:")]
    closed = [e for e in events(s, "bms_contactor_closed") if e["detail"].startswith("pack 1:") and e["time_s"] > 0]
    assert [e["time_s"] for e in opened] == [4.0] and [e["time_s"] for e in closed] == [7.0]
    # pack 1 (a GM Ultium pack) has 192 cells in series; the BMS has 96 points: mapped, and said so
    assert any("pack 1" in e["detail"] for e in events(s, "hil_cell_map"))
    text = trace.read_text()
    assert "TX" in text.upper() and len(text) > 1000


def test_link_closes_twice_and_caps_its_wait(tmp_path: Path) -> None:
    """The serial backend: nobody answers on this line; one attempt waits its timeout, or less when the
    step's deadline is nearer; closing twice is fine."""
    from hil.line import LineSettings
    from hil.link import Request, open_link

    with PtyPair() as pair:
        link = open_link("serial", settings=LineSettings(pair.a), timeout_s=0.2)
        with link:
            t0 = time.perf_counter()
            a = link.exchange(Request("read", 1, 40000, 2))
            t1 = time.perf_counter()
            b = link.exchange(Request("read", 1, 40000, 2), 0.03)
            t2 = time.perf_counter()
        link.close()
    assert a.outcome == b.outcome == "timeout" and a.tx and not a.rx
    assert 0.19 <= t1 - t0 < 0.5 and 0.025 <= t2 - t1 < 0.15


@EMU_ONLY
def test_lockstep_silent_bms_corrupt_frames_and_garbage(tmp_path: Path) -> None:
    """A BMS that stops answering for 2 s: retries in each step, then the pack is out with the fault
    recorded; it comes back when answers return. Then 1 s of broken CRCs and 1 s of garbage bytes: the
    same, seen as bad frames.

    In lockstep the twin's steps run faster than the wall while the BMS is silent (each costs its timeouts),
    and the emulator times its silence on the wall (no step reaches it), so the return is checked for order,
    not for a simulated second."""
    scen = scenario(tmp_path)
    with Bench(tmp_path, faults=("silent@15:2", "corrupt@30:1", "garbage@45:1")) as bench:
        r = twin_hil(scen, tmp_path / "out", "--lockstep", "--timeout-s", "0.2", "--retries", "2", port=bench.port)
    assert r.returncode == 0, r.stderr[-3000:]
    s, ts = load(tmp_path / "out")
    h = s["hil"]
    check_physics(s, ts)
    lost = events(s, "hil_link_lost")
    back = events(s, "hil_link_restored")
    assert len(lost) == 3 and len(back) == 3, [e for e in s["events"] if e["kind"].startswith(("hil", "bms"))]
    assert 15 <= lost[0]["time_s"] <= 16 and "timeout" in lost[0]["detail"]
    assert 30 <= lost[1]["time_s"] <= 31 and "bad_frame" in lost[1]["detail"]
    assert 45 <= lost[2]["time_s"] <= 46 and "bad_frame" in lost[2]["detail"]
    for lo, up, nxt in zip(lost, back, [*lost[1:], None], strict=True):
        assert lo["time_s"] < up["time_s"] and (nxt is None or up["time_s"] < nxt["time_s"])
    assert h["timeouts"] >= 2 * 3 and h["retries"] >= 3 * 2
    assert h["bad_frames"] >= 2 * 3
    t = ts["time_s"]
    silent = (t > lost[0]["time_s"]) & (t < back[0]["time_s"])
    assert np.all(ts["hil_link_ok"][silent] == 0)
    assert np.all(ts["hil_pack_i_a"][silent & (t > lost[0]["time_s"] + 1)] == 0)  # out of service
    assert ts["hil_link_ok"][-1] == 1 and ts["hil_bms_state"][-1] == 3


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


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--packs", "0"], "--port"),
        (["--port", "/dev/does-not-exist-hil"], "/dev/does-not-exist-hil"),
        (["--port", "/dev/null", "--packs", "99999"], "99999"),
        (["--port", "/dev/null", "--packs", "a,b"], "--packs"),
        (["--replay", "/nonexistent/session.jsonl"], "session file"),
    ],
)
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
