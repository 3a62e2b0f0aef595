"""The fleet's faults from a scenario's timeline, end to end through `twin run`.

scenarios/fleet-faults-1h.toml: a firmware fault trips every pack of one vehicle model (300-900 s),
a hot row is taken out (600 s), two packs get a weak cell (1200 s), one pack is forced into thermal
runaway (1500 s), block 1 gets an alarm reset (3000 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from twin.fleet import bms

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "adapters.cli",
            "run",
            str(ROOT / "scenarios/fleet-faults-1h.toml"),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    summary = json.loads((out / "summary.json").read_text())
    packs = pq.read_table(out / "packs.parquet").to_pandas()
    return summary, packs


def test_events_are_logged_in_order_with_their_packs(run):
    s, _ = run
    kinds = [e["kind"] for e in s["events"]]
    for k in ("trip_packs", "restore_packs", "weak_cell", "thermal_runaway", "bms_reset"):
        assert k in kinds
    assert [e["time_s"] for e in s["events"]] == sorted(e["time_s"] for e in s["events"])
    first = next(e for e in s["events"] if e["kind"] == "trip_packs")
    assert first["time_s"] == 300.0 and "vehicle ford_mach_e_99" in first["detail"]
    rw = [e for e in s["events"] if e["kind"] == "bms_alarm" and e["detail"].endswith(": 100")]
    assert rw and rw[0]["time_s"] == pytest.approx(1501.0)  # the BMS sees it at the end of that step


def test_group_trip_takes_the_packs_out_and_the_fleet_picks_up_their_power(run):
    s, packs = run
    snap = packs[packs.time_s == 660.0]
    out = snap[snap.in_service == 0]
    assert len(out) >= 142  # the firmware group (plus the hot row from 600 s)
    assert np.all(out.p_ac_kw == 0.0)
    # the rest of the fleet carried the site: nothing unserved, books closed
    assert s["energy_mwh"]["unserved"] == 0.0
    assert s["bess_energy_balance_error_frac"] < 1e-9
    assert s["bess_dispatch_gap_max_mw"] < 1e-6  # the grid's block powers = what the packs took + shortfall
    assert s["energy_balance_error_frac"] < 1e-9


def test_runaway_pack_is_faulted_hot_and_latched(run):
    s, packs = run
    f = s["fleet"]
    assert f["packs_thermal_runaway"] == [100]
    assert 100 in f["packs_tripped_by_bms"]
    end = packs[packs.time_s == packs.time_s.max()].set_index("pack_id")
    assert end.loc[100, "bms_state"] == bms.STATE_FAULT
    assert end.loc[100, "temp_max_c"] > 300
    assert end.loc[100, "bms_evt1"] >> bms.OTHER_ALARM & 1
    # the reset at 3000 s does not close a contactor after a runaway
    reset = next(e for e in s["events"] if e["kind"] == "bms_reset")
    assert "contactor closed again on 0" in reset["detail"]


def test_weak_cell_packs_show_imbalance(run):
    _, packs = run
    after = packs[packs.time_s >= 1800.0]
    weak = after[after.pack_id.isin([17, 42])]
    other = after[~after.pack_id.isin([17, 42]) & (after.in_service == 1)]
    spread_weak = (weak.cell_v_max_v - weak.cell_v_min_v).median()
    spread_other = (other.cell_v_max_v - other.cell_v_min_v).median()
    assert spread_weak > 3 * spread_other
