"""The data center inside the whole twin: the issue's must-show runs, through the CLI.

Each test runs a scenario file from ``scenarios/`` (shortened or at a coarser
step where noted, so CI stays short) on the real stack: mosaik, the
pandapower/lightsim2grid power flow, the battery fleet, the controller.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import SCENARIOS, twin_run, write_scenario

ADIABATIC_ON_C, CHILLER_ON_C, HYST_K = 22.0, 31.0, 1.0  # CoolingConfig defaults (docs/datacenter.md)


def _variant(tmp, name: str, **subs: str) -> object:
    """A scenario file with whole lines replaced: ``{"old line": "new line"}`` given as pairs."""
    text = (SCENARIOS / f"{name}.toml").read_text()
    for old, new in subs.values():
        assert re.search(rf"^{re.escape(old)}$", text, flags=re.M), f"{old!r} not in {name}.toml"
        text = re.sub(rf"^{re.escape(old)}$", new, text, flags=re.M)
    return write_scenario(tmp, name + "-variant", text)


@pytest.fixture(scope="module")
def days(module_tmp):
    """The heat-wave day and the mild day, 24 h each at 60 s electrical steps (the ambient step; fine step 0.6 s)."""
    out = {}
    for name in ("pilot-heatwave-day", "pilot-mild-day"):
        sc = _variant(module_tmp, name, step=("step_s = 1.0", "step_s = 60.0"))
        r = twin_run(sc, module_tmp / name)
        assert r.returncode == 0, r.stderr
        out[name] = r
    return out


def test_heatwave_day_costs_more_cooling_than_a_mild_day(days):
    hot, mild = days["pilot-heatwave-day"].summary, days["pilot-mild-day"].summary
    for s in (hot, mild):
        assert s["energy_balance_error_frac"] < 1e-6
        assert abs(s["cooling_load"]["heat_balance_error"]) < 1e-9  # the plants' books
        assert s["cooling_load"]["energy_mwh"] == pytest.approx(
            s["cooling_load"]["pumps_mwh"] + s["cooling_load"]["fans_mwh"] + s["cooling_load"]["chiller_mwh"], abs=1e-5
        )
    print(
        f"heat wave: PUE {hot['pue']}, data center {hot['pue_datacenter']}, cooling {hot['cooling_load']}, "
        f"GPU max {hot['gpu_temp_c_max']} degC"
    )
    print(
        f"mild:      PUE {mild['pue']}, data center {mild['pue_datacenter']}, cooling {mild['cooling_load']}, "
        f"GPU max {mild['gpu_temp_c_max']} degC"
    )
    assert hot["cooling_load"]["energy_mwh"] > 1.3 * mild["cooling_load"]["energy_mwh"]
    assert hot["pue"] > mild["pue"] and hot["pue_datacenter"] > mild["pue_datacenter"]
    # the chiller holds the facility water at its set point, so the GPUs run about as warm on both days
    # the chiller works only on the hot day; no unit throttles on either
    assert hot["cooling_load"]["chiller_mwh"] > 0.1 and mild["cooling_load"]["chiller_mwh"] == 0.0
    assert hot["cooling_load"]["regime_unit_h"]["chiller"] > 4 and mild["cooling_load"]["regime_unit_h"]["chiller"] == 0
    assert mild["cooling_load"]["regime_unit_h"]["dry"] > 4 * 12  # 4 units, most of a May day
    assert hot["datacenter"]["throttle_unit_s"] == 0 and hot["datacenter"]["n_shutdowns"] == 0
    assert hot["gpu_temp_c_max"] < 87.0  # below the GPUs' max operating temperature


@pytest.mark.parametrize("name", ["pilot-heatwave-day", "pilot-mild-day"])
def test_regimes_switch_at_the_documented_thresholds(days, name):
    t = days[name].table(["temp_amb_c", "spark_u00_regime_idx", "cooling_chiller_p_mw"])
    temp = t.column("temp_amb_c").to_numpy()
    reg = t.column("spark_u00_regime_idx").to_numpy().astype(int)
    thr = {1: ADIABATIC_ON_C, 2: CHILLER_ON_C}
    changes = np.flatnonzero(np.diff(reg)) + 1
    assert len(changes) >= 2  # each day crosses a threshold up and back down
    for k in changes:
        up = reg[k] > reg[k - 1]
        if up:  # rises at the first step at or above the threshold
            assert temp[k] >= thr[reg[k]] and temp[k - 1] < thr[reg[k]], (k, temp[k - 1], temp[k])
        else:  # falls only below the threshold less the hysteresis band
            level = thr[reg[k - 1]] - HYST_K
            assert temp[k] < level <= temp[k - 1], (k, temp[k - 1], temp[k])
    # in every step the stage is consistent with the ambient and the band
    assert np.all(temp[reg == 0] < ADIABATIC_ON_C)
    assert np.all(temp[reg == 2] >= CHILLER_ON_C - HYST_K)
    assert np.all(t.column("cooling_chiller_p_mw").to_numpy()[reg < 2] == 0.0)
    seen = set(reg.tolist())
    assert seen == ({1, 2} if name == "pilot-heatwave-day" else {0, 1})


def test_pump_trip_throttles_then_shuts_the_unit_down_and_it_restarts(module_tmp):
    r = twin_run(SCENARIOS / "cooling-pump-trip.toml", module_tmp / "pump-trip")
    assert r.returncode == 0, r.stderr
    ev = [
        e
        for e in r.summary["events"]
        if e["kind"]
        in (
            "cooling_pump_trip",
            "gpu_throttle",
            "gpu_shutdown",
            "cooling_pump_restore",
            "gpu_restart",
            "gpu_throttle_end",
        )
    ]
    kinds = [e["kind"] for e in ev]
    assert all("unit 2" in e["detail"] for e in ev), ev  # only the unit whose pump tripped
    assert kinds == ["cooling_pump_trip", "gpu_throttle", "gpu_shutdown", "cooling_pump_restore", "gpu_restart"], kinds
    t = {e["kind"]: e["time_s"] for e in ev}
    print({k: v - 600.0 for k, v in t.items()})
    # 0.85 MW of liquid heat into 5 MJ/K: ~10 K/min from ~40 degC; GPUs (35 K above coolant at full
    # power) reach the 89 degC slowdown in 1-3 min; throttled, the coolant keeps warming to shutdown
    assert 30 <= t["gpu_throttle"] - t["cooling_pump_trip"] <= 300
    assert 120 <= t["gpu_shutdown"] - t["cooling_pump_trip"] <= 900
    assert t["gpu_restart"] - t["cooling_pump_restore"] >= 600  # restart_after_s with the coolant below 45 degC
    tab = r.table(
        [
            "time_s",
            "spark_u02_coolant_temp_c",
            "spark_u02_gpu_temp_c",
            "spark_u02_it_p_mw",
            "spark_u01_coolant_temp_c",
            "gpu_temp_max_c",
            "it_p_mw",
            "bess_p_mw",
        ]
    ).to_pandas()
    ts = tab["time_s"].to_numpy()
    cool2 = tab["spark_u02_coolant_temp_c"].to_numpy()
    it2 = tab["spark_u02_it_p_mw"].to_numpy()
    i_trip, i_shut, i_rest = (
        int(np.searchsorted(ts, t[k])) for k in ("cooling_pump_trip", "gpu_shutdown", "gpu_restart")
    )
    rise_1min = cool2[i_trip + 60] - cool2[i_trip]
    print(f"coolant rise in the first minute after the trip: {rise_1min:.1f} K")
    assert 6.0 <= rise_1min <= 12.0
    assert np.all(np.diff(cool2[i_trip:i_shut]) > 0)  # warms all the time the pump is off and GPUs run
    assert np.all(it2[i_shut:i_rest] == 0.0) and it2[i_rest + 60 :].mean() > 0.5
    assert tab["gpu_temp_max_c"].max() < 92.0 + 1.0  # shuts down at the limit, not far past it
    # other units are unaffected: their coolant stays at its usual ~40 degC (checkpoints move it a few K)
    assert tab["spark_u01_coolant_temp_c"].max() < 46.0 and cool2.max() > 80.0
    # the site loses unit 2's (throttled) IT load at the shutdown, and the grid serves the rest
    it_site = tab["it_p_mw"].to_numpy()
    d_it = it_site[i_shut - 10 : i_shut].mean() - it_site[i_shut : i_shut + 10].mean()
    assert d_it == pytest.approx(it2[i_shut - 10 : i_shut].mean(), abs=0.2) and d_it > 0.2


@pytest.fixture(scope="module")
def training(module_tmp):
    """The synchronised training day, shortened: 30 min, the power floor on at 15 min, a crash at 25 min."""
    sc = _variant(
        module_tmp,
        "training-oscillation",
        dur=("duration_s = 86400", "duration_s = 1800"),
        floor=("at_s = 43200", "at_s = 900"),
        crash=("at_s = 54000", "at_s = 1500"),
        fine=("checkpoint_frac = 0.3", "checkpoint_frac = 0.3\n\n[models.datacenter]\nrecord_fine_it = true"),
    )
    r = twin_run(sc, module_tmp / "training")
    assert r.returncode == 0, r.stderr
    return r


def _peak_hz(x: np.ndarray, dt_s: float) -> float:
    f = np.fft.rfftfreq(len(x), dt_s)
    a = np.abs(np.fft.rfft(x - x.mean()))
    return float(f[1 + np.argmax(a[1:])])


def test_synchronised_training_swings_the_site_at_the_iteration_period(training):
    period_s = 6.0
    t = training.table(["time_s", "it_p_mw", "it_site_min_p_mw", "it_site_max_p_mw", "bess_p_mw"]).to_pandas()
    it = t["it_p_mw"].to_numpy()
    swing = (t["it_site_max_p_mw"] - t["it_site_min_p_mw"]).to_numpy()
    before, after = slice(60, 900), slice(960, 1500)
    # 4 units x 1 MW in lockstep between 100 % and 45 % of peak: about 2.2 MW peak to peak inside every
    # step that holds an edge (2 of every 6 steps of 1 s)
    p90 = np.percentile(swing[before], 90)
    print(
        f"in-step swing (90th percentile): {p90:.3f} MW before the floor, "
        f"{np.percentile(swing[after], 90):.3f} MW with it; 1 s means p2p {np.ptp(it[before]):.3f} / "
        f"{np.ptp(it[after]):.3f} MW"
    )
    assert p90 == pytest.approx(4 * (1.0 - 0.45), rel=0.12)
    assert np.mean(swing[before] > 1.0) == pytest.approx(2 / 6, abs=0.05)
    assert np.ptp(it[before]) > 1.5  # the 1 s means still swing (6 s period, 70 % duty)
    # the spectral line at 1/period in the 1 s trace (bin width 1/840 Hz)
    assert _peak_hz(it[before], 1.0) == pytest.approx(1.0 / period_s, abs=1.5 / 840)
    # the fleet carries the swing: its power follows the IT load step by step
    bess = t["bess_p_mw"].to_numpy()
    assert np.corrcoef(np.diff(it[before]), np.diff(bess[before]))[0, 1] < -0.9
    # the power floor (90 % of rack peak) shrinks the swing to about 4 x (1.0 - 0.9) MW
    assert np.percentile(swing[after], 90) < 0.25 * p90
    assert np.ptp(it[after]) < 0.3 * np.ptp(it[before])
    # the crash: idle (4 x 0.2 MW) within the step
    assert t["it_site_min_p_mw"].to_numpy()[1500] < 0.9 and t["it_site_min_p_mw"].to_numpy()[1499] > 3.0


def test_step_means_and_extremes_are_exact_statistics_of_the_fine_trace(training):
    fine = pq.read_table(training.out / "it_fine.parquet").to_pandas()
    dt_fine = float(fine["time_s"].iloc[1] - fine["time_s"].iloc[0])
    assert dt_fine == pytest.approx(0.01)
    p = fine["it_p_mw"].to_numpy().reshape(-1, 100)  # 100 fine samples per 1 s step
    t = training.table(["it_p_mw", "it_site_min_p_mw", "it_site_max_p_mw", "ufls_p_mw"]).to_pandas()
    assert (t["ufls_p_mw"] == 0).all()  # the grid served what the data center asked for
    # the fine trace is written as float32: agreement to its resolution
    assert np.allclose(p.mean(axis=1), t["it_p_mw"], atol=2e-6)
    assert np.allclose(p.min(axis=1), t["it_site_min_p_mw"], atol=2e-6)
    assert np.allclose(p.max(axis=1), t["it_site_max_p_mw"], atol=2e-6)
    # the waveform itself: the line at 1/6 Hz; edges filtered by the 30 ms power supplies
    x = fine["it_p_mw"].to_numpy()[6000:90000]
    assert _peak_hz(x, dt_fine) == pytest.approx(1.0 / 6.0, abs=0.002)
    # the crash drops the site from > 3 MW to < 1 MW within 0.2 s
    k = 150000
    assert x.size and fine["it_p_mw"].to_numpy()[k - 20 : k].max() > 2.0
    assert fine["it_p_mw"].to_numpy()[k + 20] < 1.0


def test_electrical_step_of_0p1_s_resolves_the_swing(module_tmp):
    sc = _variant(
        module_tmp,
        "training-oscillation",
        dur=("duration_s = 86400", "duration_s = 120"),
        step=("step_s = 1.0", "step_s = 0.1"),
        floor=("at_s = 43200", "at_s = 120"),
        crash=("at_s = 54000", "at_s = 120"),
    )
    r = twin_run(sc, module_tmp / "training-0p1")
    assert r.returncode == 0, r.stderr
    t = r.table(["time_s", "it_p_mw", "it_site_min_p_mw", "it_site_max_p_mw", "bess_p_mw"]).to_pandas()
    assert len(t) == 1200 and t["time_s"].iloc[1] == pytest.approx(0.1)
    it = t["it_p_mw"].to_numpy()[100:]
    # at 0.1 s the step means are the square wave: nearly the full 2.2 MW swing, line at 1/6 Hz
    assert np.ptp(it) > 2.0
    assert _peak_hz(it, 0.1) == pytest.approx(1.0 / 6.0, abs=1.5 / 110)
    # inside a 0.1 s step there is little left to hide
    assert np.median((t["it_site_max_p_mw"] - t["it_site_min_p_mw"]).to_numpy()[100:]) < 0.05
    assert np.corrcoef(np.diff(it), np.diff(t["bess_p_mw"].to_numpy()[100:]))[0, 1] < -0.9


def test_chiller_trip_and_dry_cooler_fan_failure_on_a_heatwave_afternoon(module_tmp):
    """Unit 0 loses its trim chiller and unit 1 three quarters of its dry-cooler fans at 14:10 on the heat-wave
    day; both are restored at 14:40. Unit 3 keeps its plant: its facility water stays at the set point."""
    text = (
        (SCENARIOS / "pilot-heatwave-day.toml")
        .read_text()
        .replace("start = 2025-07-15T00:00:00", "start = 2025-07-15T14:00:00")
        .replace("duration_s = 86400", "duration_s = 3600")
    )
    for at, kind, unit, extra in (
        (600, "chiller_trip", 0, ""),
        (600, "dry_cooler_fan_fail", 1, "lost_frac = 0.75"),
        (2400, "chiller_restore", 0, ""),
        (2400, "dry_cooler_fan_restore", 1, ""),
    ):
        text += f'\n[[events]]\nat_s = {at}\nkind = "{kind}"\nunit = {unit}\n{extra}\n'
    r = twin_run(write_scenario(module_tmp, "plant-faults", text), module_tmp / "plant-faults")
    assert r.returncode == 0, r.stderr
    ev = [(e["time_s"], e["kind"]) for e in r.summary["events"] if "chiller" in e["kind"] or "fan" in e["kind"]]
    assert ev == [
        (600.0, "chiller_trip"),
        (600.0, "dry_cooler_fan_fail"),
        (2400.0, "chiller_restore"),
        (2400.0, "dry_cooler_fan_restore"),
    ]
    t = r.table(
        [
            "temp_amb_c",
            "spark_u00_facility_temp_c",
            "spark_u01_facility_temp_c",
            "spark_u03_facility_temp_c",
            "cooling_chiller_p_mw",
            "spark_u00_gpu_temp_c",
        ]
    ).to_pandas()
    set_c = 30.0
    assert t["temp_amb_c"].iloc[600:2400].min() > 38.0  # the chiller regime all along
    f0, f1, f3 = (t[f"spark_u0{u}_facility_temp_c"].to_numpy() for u in (0, 1, 3))
    # unit 3 holds its set point; units 0 and 1 cannot while faulted, and recover after the restore
    assert np.allclose(f3, set_c, atol=1e-9)
    assert np.allclose(f0[:600], set_c, atol=1e-9) and f0[1800:2400].min() > set_c + 1.0
    assert f1[1800:2400].min() > set_c + 1.0
    assert abs(f0[-1] - set_c) < 1e-9 and abs(f1[-1] - set_c) < 1e-9
    print(
        f"facility water at 14:39: unit 0 (no chiller) {f0[2399]:.2f} degC, "
        f"unit 1 (a quarter of the fans) {f1[2399]:.2f} "
        f"degC; GPUs of unit 0 up to {t['spark_u00_gpu_temp_c'].max():.1f} degC"
    )
