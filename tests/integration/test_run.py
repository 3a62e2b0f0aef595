"""End to end through the `twin` command line: the 1 h scenario, a custom
controller, failures, an interrupted run. Physics invariants are checked on
the written results, not on internals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT, SCENARIOS, TWIN, twin_run, write_scenario

SUMMARY_KEYS = {
    "scenario",
    "sim_time_s",
    "step_s",
    "wall_time_s",
    "realtime_factor",
    "n_packs",
    "n_buses",
    "interrupted",
    "energy_mwh",
    "energy_balance_error_frac",
    "soc_frac",
    "pue",
    "v_pu",
    "loading_max_pct",
    "events",
}
ENERGY_KEYS = {
    "pv_available",
    "pv_delivered",
    "pv_curtailed",
    "bess_charge",
    "bess_discharge",
    "it_load",
    "cooling_load",
    "aux_load",
    "losses",
    "unserved",
}
UNIT_SUFFIXES = ("_s", "_mw", "_mvar", "_mwh", "_frac", "_pu", "_pct", "_c", "_w_m2", "_v")


@pytest.fixture(scope="module")
def hour(module_tmp):
    r = twin_run(SCENARIOS / "pilot-1h.toml", module_tmp / "hour")
    assert r.returncode == 0, r.stderr
    return r


def test_one_hour_run_writes_every_result(hour):
    out = hour.out
    for name in ("timeseries.parquet", "summary.json", "network.json", "scenario.toml", "overview.png"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "timeseries.parts").exists()
    assert f"results: {out.resolve()}" in hour.stdout
    s = hour.summary
    assert SUMMARY_KEYS <= set(s) and ENERGY_KEYS <= set(s["energy_mwh"])
    assert set(s["soc_frac"]) >= {"min", "max", "start", "end"} and set(s["v_pu"]) == {"min", "max"}
    assert s["status"] == "completed" and s["interrupted"] is False
    assert s["n_packs"] == 805 and s["n_buses"] == 51 and s["sim_time_s"] == 3600
    assert s["realtime_factor"] > 1


def test_columns_have_units_and_one_row_per_step(hour):
    t = hour.table()
    assert t.column_names[0] == "time_s"
    # a unit suffix, or a count (n_ prefix) or an index (_idx suffix): docs/nomenclature.md
    unitless = [
        c for c in t.column_names if not (c.endswith(UNIT_SUFFIXES) or c.startswith("n_") or c.endswith("_idx"))
    ]
    assert not unitless
    time_s = t.column("time_s").to_numpy()
    assert len(time_s) == 3600 and np.array_equal(time_s, np.arange(3600.0))


def test_power_balance_every_step_and_energy_balance(hour):
    d = {c: hour.table().column(c).to_numpy() for c in hour.table().column_names}
    # source = sink at every step: PV + discharge = loads + losses + charge (1e-6 MW)
    bal = (
        d["pv_p_mw"]
        + d["bess_discharge_p_mw"]
        - d["bess_charge_p_mw"]
        - d["it_p_mw"]
        - d["cooling_p_mw"]
        - d["aux_p_mw"]
        - d["losses_p_mw"]
    )
    assert np.max(np.abs(bal)) < 1e-6
    # per block powers add up to the totals
    blocks = sum(d[f"bess_b{i:02d}_p_mw"] for i in range(12))
    assert np.allclose(blocks, d["bess_p_mw"], atol=1e-9)
    s = hour.summary
    assert s["energy_balance_error_frac"] < 1e-3
    # the fleet's books: stored energy change = charge - discharge - conversion losses
    assert s["bess_energy_balance_error_frac"] < 1e-9
    e = s["energy_mwh"]
    assert e["pv_curtailed"] == pytest.approx(e["pv_available"] - e["pv_delivered"], abs=1e-5)
    # losses are a few percent of the energy moved, not zero, not absurd
    assert 0.003 < e["losses"] / (e["pv_delivered"] + e["bess_discharge"]) < 0.05


def test_state_of_charge_and_voltages_in_bounds(hour):
    t = hour.table(["soc_frac", "pack_soc_min_frac", "pack_soc_max_frac", "v_min_pu", "v_max_pu"])
    soc_min = t.column("pack_soc_min_frac").to_numpy()
    soc_max = t.column("pack_soc_max_frac").to_numpy()
    assert np.all((0 <= soc_min) & (soc_max <= 1))
    assert soc_min.min() >= 0.05 - 1e-9 and soc_max.max() <= 0.95 + 1e-9  # the packs' usable window
    assert t.column("v_min_pu").to_numpy().min() >= 0.95
    assert t.column("v_max_pu").to_numpy().max() <= 1.05


def test_events_are_applied_and_recorded_in_order(hour):
    ev = hour.summary["events"]
    scenario_kinds = {"trip_bess_block", "restore_bess_block", "job_stop", "trip_pv_block"}
    kinds = [(e["time_s"], e["kind"]) for e in ev if e["kind"] in scenario_kinds]
    assert kinds == [
        (1200.0, "trip_bess_block"),
        (1800.0, "restore_bess_block"),
        (2400.0, "job_stop"),
        (3000.0, "trip_pv_block"),
    ]
    t = hour.table(["time_s", "bess_b03_p_mw", "bess_b04_p_mw", "pv_b00_p_mw", "spark_u01_it_p_mw"])
    b3 = t.column("bess_b03_p_mw").to_numpy()
    b4 = t.column("bess_b04_p_mw").to_numpy()
    assert np.all(b3[1200:1800] == 0) and np.any(b3[:1200] != 0) and np.any(b3[1800:] != 0)
    assert np.all(np.abs(b4[1200:1800]) > 0)  # the others picked up its share
    assert np.all(t.column("pv_b00_p_mw").to_numpy()[3000:] == 0)
    u1 = t.column("spark_u01_it_p_mw").to_numpy()
    # the training job (0.7 x 100 % + 0.3 x 45 % of peak, checkpoints) stops: unit 1's racks fall to idle (20 %)
    assert u1[2400:].mean() == pytest.approx(0.2, abs=0.01) and u1[:2400].mean() == pytest.approx(0.82, abs=0.03)


def test_resolved_scenario_runs_again_to_the_same_numbers(hour, module_tmp):
    again = twin_run(hour.out / "scenario.toml", module_tmp / "again")
    assert again.returncode == 0, again.stderr
    a, b = hour.summary["energy_mwh"], again.summary["energy_mwh"]
    assert a == b  # seeded: the same scenario gives the same results


def test_network_json_is_a_pandapower_net(hour):
    import pandapower as pp

    net = pp.from_json(str(hour.out / "network.json"))
    assert len(net.bus) == 51 and len(net.gen) == 12 and len(net.ext_grid) == 0


CUSTOM = '''
import numpy as np
from twin.controller import Controller, Setpoints

class HoldPV(Controller):
    """Caps every PV block at a fixed power: a controller under test."""
    def step(self, m):
        return Setpoints(pv_p_limit_mw=np.full(self.site.n_pv_blocks, self.params.get("cap_mw", 0.5)))

class Broken(Controller):
    def step(self, m):
        if m.t_s >= 30:
            raise RuntimeError("controller under test crashed at 30 s")
        return Setpoints()
'''


def _short(tmp_path, name: str, extra: str, duration: int = 120) -> object:
    text = (
        (SCENARIOS / "pilot-1h.toml")
        .read_text()
        .split("[[events]]")[0]
        .replace("duration_s = 3600", f"duration_s = {duration}")
    )
    return write_scenario(tmp_path, name, text + extra)


def test_a_controller_named_by_import_path_drives_the_plant(tmp_path):
    (tmp_path / "my_ctl.py").write_text(CUSTOM)
    sc = _short(tmp_path, "custom", '\n[controller]\nclass = "my_ctl:HoldPV"\n[controller.params]\ncap_mw = 0.5\n')
    r = twin_run(sc, tmp_path / "out", env={"PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"})
    assert r.returncode == 0, r.stderr
    pv = r.table(["pv_p_mw"]).column("pv_p_mw").to_numpy()
    assert pv[0] > 4.0  # the first step runs before the controller has spoken
    assert np.allclose(pv[1:], 8 * 0.5, atol=1e-9)  # then its limit holds, one step later (time-shifted)
    assert r.summary["controller"] == "my_ctl:HoldPV"


def test_a_simulator_error_fails_the_run_and_keeps_results(tmp_path):
    (tmp_path / "my_ctl.py").write_text(CUSTOM)
    sc = _short(tmp_path, "broken", '\n[controller]\nclass = "my_ctl:Broken"\n')
    r = twin_run(sc, tmp_path / "out", env={"PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"})
    assert r.returncode == 1
    assert "controller under test crashed at 30 s" in r.stderr
    s = r.summary
    assert s["status"] == "failed" and s["interrupted"] is True and "crashed at 30 s" in s["error"]
    assert any(e["kind"] == "error" for e in s["events"])
    assert r.table().num_rows >= 29  # everything before the failure is kept


def test_nonconvergence_is_recorded_with_time_and_injections(tmp_path):
    sc = _short(tmp_path, "diverge", "\n[site.spark]\nit_peak_mw = 60.0\n", duration=30)
    r = twin_run(sc, tmp_path / "out")
    assert r.returncode == 1
    ev = [e for e in r.summary["events"] if e["kind"] == "powerflow_not_converged"]
    # the training jobs start from idle (5 s warm-up): the flow fails within the first seconds
    assert ev and ev[0]["time_s"] <= 5.0
    assert f"power flow did not converge at t = {ev[0]['time_s']:g} s" in r.stderr
    assert max(ev[0]["detail"]["injections"]["load_p_mw"]) > 10
    assert r.table().num_rows == int(ev[0]["time_s"])  # the steps before are kept


def test_ctrl_c_leaves_readable_results(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(
        TWIN + ["run", str(SCENARIOS / "pilot-summer-day.toml"), "--out", str(out), "--no-progress"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    parts = out / "timeseries.parts"
    while time.time() < deadline and not (parts.exists() and any(parts.glob("part-*.parquet"))):
        time.sleep(0.2)
    assert any(parts.glob("part-*.parquet")), "no chunk was written"
    # a chunk on disk is a complete Parquet file while the run goes on
    first = sorted(parts.glob("part-*.parquet"))[0]
    assert pq.read_table(first).num_rows == 3600
    running = json.loads((out / "summary.json").read_text())
    assert running["status"] == "running" and running["interrupted"] is True
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "interrupted" and s["interrupted"] is True
    n = pq.read_table(out / "timeseries.parquet").num_rows
    assert n >= 3600 and s["n_rows"] == n and s["sim_time_s"] >= n - 1
    assert any(e["kind"] == "interrupted" for e in s["events"])
    assert (out / "overview.png").exists()


def test_reference_controller_sheds_in_tiers_at_the_floor(tmp_path):
    text = (SCENARIOS / "pilot-1h.toml").read_text().split("[[events]]")[0]
    text = (
        text.replace("start = 2025-07-15T12:00:00", "start = 2025-07-15T02:00:00")
        .replace("duration_s = 3600", "duration_s = 900")
        .replace("soc_start_frac = 0.6", "soc_start_frac = 0.102")
    )
    text += "\n[controller.params]\nmin_dwell_s = 30\n"
    r = twin_run(write_scenario(tmp_path, "floor", text), tmp_path / "out")
    assert r.returncode == 0, r.stderr
    tiers = [e for e in r.summary["events"] if e["kind"] == "controller_shed_tier"]
    assert [e["detail"] for e in tiers[:2]] == ["shed tier 0 -> 1", "shed tier 1 -> 2"]
    assert tiers[1]["time_s"] - tiers[0]["time_s"] >= 30  # dwell time between tier changes
    t = r.table(["it_demand_p_mw", "it_p_mw", "shed_p_mw", "ctrl_shed_tier_idx"])
    it, dem = t.column("it_p_mw").to_numpy(), t.column("it_demand_p_mw").to_numpy()
    tier = t.column("ctrl_shed_tier_idx").to_numpy()
    assert np.all(it[tier >= 2] <= 4 * 0.7 + 1e-9)  # tier 1 caps the units at 70 % of peak (applied a step later)
    assert r.summary["energy_mwh"]["unserved"] > 0
    assert r.summary["soc_frac"]["pack_min"] >= 0.05 - 1e-9  # never below the window
    assert np.all(dem >= it - 1e-12)


def test_unwritable_results_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = twin_run(SCENARIOS / "pilot-1h.toml", blocker / "out")
    assert r.returncode == 2
    assert "cannot write results to" in r.stderr and "choose another --out" in r.stderr
    assert "Traceback" not in r.stderr


def test_pack_group_trip_and_ambient_override_through_the_world(tmp_path):
    text = (
        (SCENARIOS / "pilot-1h.toml")
        .read_text()
        .split("[[events]]")[0]
        .replace("duration_s = 3600", "duration_s = 600")
    )
    text += (
        """
[[events]]
at_s = 60
kind = "trip_packs"
packs = ["""
        + ", ".join(str(i) for i in range(100, 200))
        + """]
reason = "firmware fault on a row of packs"

[[events]]
at_s = 120
kind = "ambient"
temp_c = 42.0

[[events]]
at_s = 300
kind = "restore_packs"
packs = ["""
        + ", ".join(str(i) for i in range(100, 200))
        + """]

[[events]]
at_s = 420
kind = "ambient"
"""
    )
    r = twin_run(write_scenario(tmp_path, "evs", text), tmp_path / "out")
    assert r.returncode == 0, r.stderr
    t = r.table(["time_s", "n_packs_in_service", "temp_amb_c", "cooling_p_mw", "it_p_mw", "bess_charge_max_p_mw"])
    n = t.column("n_packs_in_service").to_numpy()
    # the fleet applies an event at the end of the step before it, so its limits already hold at at_s
    assert np.all(n[:59] == 805) and np.all(n[59:299] == 705) and np.all(n[299:] == 805)
    temp = t.column("temp_amb_c").to_numpy()
    assert np.all(temp[120:420] == 42.0) and temp[100] < 40 and temp[480] < 40
    # cooling per IT power grows with ambient (dry coolers, then the chiller above 32 degC)
    cool_ratio = t.column("cooling_p_mw").to_numpy() / t.column("it_p_mw").to_numpy()
    assert cool_ratio[121:420].mean() > 1.5 * cool_ratio[:119].mean()
    ev = {e["kind"]: e for e in r.summary["events"]}
    assert ev["trip_packs"]["time_s"] == 60.0 and "firmware fault" in ev["trip_packs"]["detail"]
    assert ev["ambient"]["detail"] in ("ambient forced to 42 degC", "override cleared")
