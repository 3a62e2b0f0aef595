"""The HIL simulator's glue (adapters/sims/hil.py): a short lockstep run of the HIL demo against the real
emulator over a pseudo-terminal pair, in this process, and its replay from the session it recorded.

The glue reads the bound packs from the fleet's view, hands them to the supervisor and the BMS's answers to
the fleet, records the supervisor's row and summary: the run must show the documented ``hil`` summary and
``hil_*`` columns, the fleet must obey the BMS (the pack out while the BMS says FAULT), and the replay must
give the same plant, column by column, with no divergence. (The three-process bench, real time and the
line faults are the integration tests', tests/integration/test_hil_*.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from adapters.io.scenario_file import load_scenario
from adapters.sims.hil import HilOptions
from adapters.world import run_scenario
from hil.emulator import BmsEmulator, EmulatorConfig, FaultSpec
from hil.line import LineSettings
from hil.ptypair import PtyPair
from twin import sunspec802 as s802

ROOT = Path(__file__).resolve().parents[3]
STEPS = 8
SUMMARY_KEYS = [
    "mode",
    "port",
    "step_s",
    "steps",
    "packs",
    "exchanges",
    "attempts",
    "retries",
    "timeouts",
    "bad_frames",
    "port_errors",
    "modbus_exceptions",
    "skipped_for_deadline",
    "link_lost_events",
    "soc_estimate_error_pct",
    "clamped_steps",
    "current_sign_mismatch_steps",
    "current_limit_violations",
    "current_over_limit_max_a",
    "io_ms",
]
COLUMNS = [
    "hil_link_ok",
    "hil_bms_state",
    "hil_i_charge_max_a",
    "hil_i_discharge_max_a",
    "hil_pack_i_a",
    "hil_soc_true_pct",
    "hil_soc_bms_pct",
    "hil_lateness_ms",
    "hil_io_ms",
    "hil_attempts",
]


def columns(out: Path) -> dict[str, np.ndarray]:
    t = pq.read_table(out / "timeseries.parquet")
    return {c: t.column(c).to_numpy() for c in t.column_names}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hil")
    sc = load_scenario(ROOT / "scenarios" / "hil-one-pack.toml")
    sc = sc.model_copy(update={"run": sc.run.model_copy(update={"duration_s": float(STEPS)})})
    cfg = EmulatorConfig(faults=[FaultSpec.parse("soc_bias@0=3"), FaultSpec.parse("open_contactor@4")])
    with PtyPair(link_a=str(tmp / "twin"), link_b=str(tmp / "bms")) as pair, BmsEmulator(LineSettings(pair.b), cfg):
        live = run_scenario(
            sc,
            tmp / "live",
            scenario_name=sc.name,
            progress=False,
            hil=HilOptions(packs=[0], port=pair.a, realtime=False),
        )
    replay = run_scenario(
        sc,
        tmp / "replay",
        scenario_name=sc.name,
        progress=False,
        hil=HilOptions(packs=[0], units=[1], realtime=False, replay=tmp / "live" / "session.jsonl"),
    )
    return live, replay


def test_the_summary_and_the_columns(runs) -> None:
    live, _ = runs
    assert live.status == "completed", live.summary.get("error")
    h = live.summary["hil"]
    assert list(h) == [*SUMMARY_KEYS, "session_file", "session_lines"]  # lockstep: no lateness
    assert h["mode"] == "lockstep" and h["steps"] == STEPS and h["step_s"] == 1.0
    assert h["packs"][0]["id"] == 0 and h["packs"][0]["serial_number"] == "HIL-0" and h["packs"][0]["ncell"] == 96
    assert h["retries"] == h["timeouts"] == h["link_lost_events"] == 0 and h["current_limit_violations"] == 0
    assert h["attempts"] == h["exchanges"] and h["session_lines"] == h["attempts"] + 1 + 1  # header, link_up note
    soc = h["soc_estimate_error_pct"]
    assert soc["n"] == STEPS and 2.5 < soc["mean"] < 3.5  # the BMS's 3-point bias, scored
    ts = columns(live.out_dir)
    assert all(c in ts for c in COLUMNS) and len(ts["hil_link_ok"]) == STEPS
    assert np.all(ts["hil_link_ok"] == 1) and np.all(ts["hil_lateness_ms"] == 0)
    assert np.all(np.diff(ts["hil_attempts"]) > 0)


def test_the_fleet_obeys_the_bms(runs) -> None:
    live, _ = runs
    ts = columns(live.out_dir)
    t, state = ts["time_s"], ts["hil_bms_state"]
    assert np.all(state[t < 4] == s802.STATE_CONNECTED) and np.all(state[t >= 4] == s802.STATE_FAULT)
    assert np.all(ts["hil_i_discharge_max_a"][t >= 4] == 0) and np.all(ts["hil_i_charge_max_a"][t < 4] > 0)
    assert np.all(ts["hil_pack_i_a"][t >= 5] == 0)  # out of the dispatch from the step after
    kinds = [e["kind"] for e in live.summary["events"]]
    assert "hil_link_up" in kinds and "bms_contactor_open" in kinds and "bms_alarm" in kinds
    assert live.summary["hil"]["packs"][0]["steps_out_of_service"] == STEPS - 4


def test_the_replay_gives_the_same_plant(runs) -> None:
    live, replay = runs
    assert replay.status == "completed", replay.summary.get("error")
    h = replay.summary["hil"]
    assert h["mode"] == "replay" and h["replay_divergences"] == 0 and h["replay_first_divergence"] is None
    a, b = columns(live.out_dir), columns(replay.out_dir)
    for c in a:
        if c not in ("hil_io_ms", "hil_lateness_ms"):
            assert np.array_equal(a[c], b[c], equal_nan=True), c
