"""Pack ageing (twin.fleet.ageing, .stress, .blast): agreement with the original BLAST-Lite and physical properties.

Reference data: ``tests/data/blast_reference.json``, written by
``tests/data/make_blast_reference.py`` with BLAST-Lite 1.1.1 (numpy < 2, in a
throw-away venv; the command is in that script's docstring). This test
needs neither BLAST-Lite nor its venv.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from twin.config import CHEMISTRY_NAMES
from twin.fleet import blast as blast_models
from twin.fleet.ageing import (
    DOD_NODES_FRAC,
    Q_MIN_FRAC,
    FleetAgeing,
    StressAccumulator,
)

DATA = Path(__file__).parents[2] / "data"
CH3 = np.array(CHEMISTRY_NAMES)  # one pack per chemistry: NMC, LFP, LMO


def _load_reference() -> tuple[dict, object]:
    ref = json.loads((DATA / "blast_reference.json").read_text())
    spec = importlib.util.spec_from_file_location("make_blast_reference", DATA / "make_blast_reference.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # numpy only at import; BLAST-Lite is imported in its main()
    return ref, mod


REF, MAKE = _load_reference()
PROFILES = sorted(REF["profiles"])


@functools.cache
def replay(name: str, euler: bool, every_s: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feed a reference profile through StressAccumulator/FleetAgeing (new packs: soh0 = 1, r_factor0 = 1).

    The samples are fed window by window exactly as BLAST-Lite integrated them
    (it drops the one sample interval between consecutive windows and
    restarts the profile when the time counted falls short of its length), so
    both see the same stress history. ``every_s=None``: update at BLAST-Lite's
    window ends; else every ``every_s`` of time counted (the twin's way).
    Returns time counted (days) at each update, q_frac and r_factor (n_updates, 3).
    """
    entry = REF["profiles"][name]
    t, soc, temp = MAKE.profile(entry["spec"])
    soc3 = np.repeat(soc[:, None], 3, axis=1)
    temp3 = np.repeat(temp[:, None], 3, axis=1)
    fa = FleetAgeing(CH3, np.ones(3), np.ones(3), euler=euler, min_window_s=0.0)
    acc = StressAccumulator(3, soc3[0])
    on, off = np.ones(3, bool), np.zeros(3, bool)
    t_days, q, r = [0.0], [fa.q_frac.copy()], [fa.r_factor.copy()]

    def update() -> None:
        fa.update(acc)
        t_days.append(fa.t_s / 86400.0)
        q.append(fa.q_frac.copy())
        r.append(fa.r_factor.copy())

    for i0, i1 in entry["windows"]:
        acc.add(0.0, soc3[i0], temp3[i0], off)  # the dropped interval: move the SoC, count nothing
        for j in range(i0 + 1, i1 + 1):
            acc.add(float(t[j] - t[j - 1]), soc3[j], temp3[j], on)
            if every_s is not None and acc.duration_s >= every_s - 1e-6:
                update()
        if every_s is None:
            update()
    if acc.duration_s > 0.0:
        update()
    return np.array(t_days), np.array(q), np.array(r)


def blast(name: str, chem: str, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    e = REF["profiles"][name]
    m = e["models"][chem]
    if key not in m:
        return None
    return np.r_[0.0, e["t_days"]], np.r_[1.0, m[key]]


@pytest.mark.parametrize("name", PROFILES)
def test_equations_match_blast_lite_with_its_own_windows_and_euler_step(name: str) -> None:
    """Transcription check: BLAST-Lite's windows and its explicit Euler state step.

    Storage profiles (constant T and SoC on a grid node) must agree to the
    rounding of the reference (1e-9): same stressors, rates and state rules.
    Cycling profiles: 5e-4 in capacity, 1e-3 in resistance factor; what is
    left is the stressor extraction (time at SoC on a 0.025 grid instead of
    the samples, end-of-step instead of trapezoidal time weights, 3-point
    Gauss-Hermite temperature averaging, time-mean instead of sample-mean
    SoC, half-cycle DoD).
    """
    _t, q, r = replay(name, True, None)
    tol_q, tol_r = (1e-8, 1e-8) if name.startswith("store") else (5e-4, 1e-3)
    for k, chem in enumerate(CH3):
        _, bq = blast(name, chem, "q")
        assert len(bq) == len(q)
        assert np.abs(q[:, k] - bq).max() < tol_q, chem
        br = blast(name, chem, "r")
        if br is not None:
            assert np.abs(r[:, k] - br[1]).max() < tol_r, chem


@pytest.mark.parametrize("name", PROFILES)
def test_twin_ageing_agrees_with_blast_lite(name: str) -> None:
    """The twin's way (exact state step, own daily windows) against BLAST-Lite, over the whole trajectory.

    Tolerance 0.25 % of capacity (absolute in q) and 1 % in resistance factor
    (relative). Most of the difference is BLAST-Lite's own Euler step, which
    over-estimates each window's increment of a concave power law: its largest
    share is the LMO storage at 45 degC (31 % loss in a year), 2.0e-3 of
    capacity; the rest stays below 1e-3.
    """
    t_days, q, r = replay(name, False, 86400.0)
    for k, chem in enumerate(CH3):
        bt, bq = blast(name, chem, "q")
        ours = np.interp(bt, t_days, q[:, k])
        assert np.abs(ours - bq).max() < 2.5e-3, chem
        br = blast(name, chem, "r")
        if br is not None:
            ours_r = np.interp(bt, t_days, r[:, k])
            assert np.abs(ours_r / br[1] - 1.0).max() < 0.01, chem


# ----------------------------------------------------------------------------- driving helpers


def drive(
    fa: FleetAgeing, days: float, soc_fn, temp_c: np.ndarray | float, dt_s: float = 600.0, every_s: float = 86400.0
) -> None:
    """Run `days` of stress through a fresh accumulator; soc_fn(t_s array) -> SoC, broadcastable to (len, n)."""
    n = fa.n_packs
    temp = np.broadcast_to(np.asarray(temp_c, float), (n,)).copy()
    act = np.ones(n, bool)
    steps = round(days * 86400.0 / dt_s)
    soc = np.ascontiguousarray(np.broadcast_to(soc_fn(np.arange(steps + 1)[:, None] * dt_s), (steps + 1, n)))
    acc = StressAccumulator(n, soc[0])
    for k in range(1, steps + 1):
        acc.add(dt_s, soc[k], temp, act)
        if acc.duration_s >= every_s - 1e-6:
            fa.update(acc)
    fa.update(acc)


def cycle_soc(lo: float, hi: float, period_h: float | np.ndarray):
    """Triangle hi -> lo -> hi with the given period (one per pack if an array)."""

    def f(t_s: np.ndarray) -> np.ndarray:
        ph = (t_s / 3600.0 / np.asarray(period_h)) % 1.0
        return lo + (hi - lo) * np.abs(2.0 * ph - 1.0)

    return f


def const_soc(soc: np.ndarray | float):
    return lambda t_s: np.broadcast_to(np.asarray(soc, float), np.broadcast_shapes(t_s.shape, np.shape(soc)))


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("mode", ["scaled_history", "virtual_age"])
def test_start_at_second_life_soh_and_resistance(mode: str) -> None:
    soh0 = np.tile([0.7, 0.85, 1.0], 3)
    r0 = np.tile([1.8, 1.3, 1.0], 3)
    chem = np.repeat(CH3, 3)
    fa = FleetAgeing(chem, soh0, r0, second_life=mode)
    assert np.array_equal(fa.q_frac, soh0) and np.allclose(fa.r_factor, r0)
    # the models' own outputs at t = 0 equal the start values (states initialised, not just reported)
    for name in ("NMC", "LFP"):
        s = fa.states(name)
        loss = s["qLoss_LLI_t"] + s["qLoss_LLI_EFC"] + s.get("qLoss_BreakIn_EFC", 0.0)
        np.testing.assert_allclose(1.0 - loss, soh0[chem == name], atol=1e-12)
        np.testing.assert_allclose(1.0 + s["rGain_LLI_t"] + s["rGain_LLI_EFC"], r0[chem == name], atol=1e-12)
        new = soh0[chem == name] == 1.0
        assert np.all(s["qLoss_LLI_t"][new] == 0.0) and np.all(s["qLoss_LLI_t"][~new] > s["qLoss_LLI_EFC"][~new])
    fa.update(StressAccumulator(9, np.full(9, 0.5)))  # an empty window changes nothing
    assert np.array_equal(fa.q_frac, soh0)
    drive(fa, 1.0, const_soc(0.5), 25.0)
    assert np.all(fa.q_frac < soh0) and np.all(fa.q_frac > soh0 - 0.02)


@pytest.mark.parametrize("soh0", [1.0, 0.8])
def test_hotter_storage_fades_faster(soh0: float) -> None:
    temps = np.array([15.0, 25.0, 35.0, 45.0])
    for chem in CHEMISTRY_NAMES:
        fa = FleetAgeing(np.full(4, chem), np.full(4, soh0), np.full(4, 1.0 + 2.0 * (1.0 - soh0)))
        drive(fa, 90.0, const_soc(0.6), temps, dt_s=3600.0)
        fade = soh0 - fa.q_frac
        assert np.all(np.diff(fade) > 0.0), (chem, fade)
        if chem != "LMO":
            assert np.all(np.diff(fa.r_factor) > 0.0), (chem, fa.r_factor)


def test_higher_soc_storage_fades_faster() -> None:
    """All three models make calendar fade grow with storage SoC (through U_a or SoC/T)."""
    socs = np.array([0.3, 0.6, 0.9])
    for chem in CHEMISTRY_NAMES:
        fa = FleetAgeing(np.full(3, chem), np.ones(3), np.ones(3))
        drive(fa, 90.0, const_soc(socs), 30.0, dt_s=3600.0)
        assert np.all(np.diff(1.0 - fa.q_frac) > 0.0), (chem, fa.q_frac)


@pytest.mark.parametrize("soh0", [1.0, 0.8])
def test_more_cycles_fade_more(soh0: float) -> None:
    """Same SoC range (so the same time at each SoC), 0.5, 1 and 2 full cycles a day."""
    fa = FleetAgeing(np.repeat(CH3, 3), np.full(9, soh0), np.full(9, 1.5))
    drive(fa, 64.0, cycle_soc(0.2, 0.8, np.tile([48.0, 24.0, 12.0], 3)), 25.0)
    fade, efc = (soh0 - fa.q_frac).reshape(3, 3), fa.efc.reshape(3, 3)
    np.testing.assert_allclose(efc[:, 1:] / efc[:, :-1], 2.0, rtol=0.03)  # EFC of nameplate: x q, last half cycle open
    assert np.all(np.diff(fade, axis=1) > 0.0), fade


def test_capacity_never_rises_resistance_never_falls_and_floor() -> None:
    rng = np.random.default_rng(3)
    n = 30
    chem = np.resize(CH3, n)
    soh0 = rng.uniform(0.5, 1.0, n)
    fa = FleetAgeing(chem, soh0, 1.0 + 2.0 * (1.0 - soh0), degradation_scalar=rng.uniform(0.5, 3.0, n))
    soc = rng.uniform(0.1, 0.9, n)
    acc = StressAccumulator(n, soc)
    q_prev, r_prev = fa.q_frac.copy(), fa.r_factor.copy()
    for _ in range(40):
        for _ in range(rng.integers(10, 200)):
            soc = np.clip(soc + rng.normal(0.0, 0.05, n), 0.0, 1.0)
            acc.add(float(rng.uniform(60.0, 3600.0)), soc, rng.uniform(-10.0, 60.0, n), rng.random(n) < 0.8)
        fa.update(acc)
        assert np.all(fa.q_frac <= q_prev) and np.all(fa.r_factor >= r_prev)
        assert np.all(np.isfinite(fa.q_frac)) and np.all(np.isfinite(fa.r_factor))
        q_prev, r_prev = fa.q_frac.copy(), fa.r_factor.copy()
    # a decade at 60 degC and full SoC drives the LMO model to its floor, never below
    hot = FleetAgeing(CH3, np.full(3, 0.7), np.full(3, 1.6))
    drive(hot, 3650.0, const_soc(1.0), 60.0, dt_s=86400.0, every_s=30 * 86400.0)
    assert np.all(hot.q_frac >= Q_MIN_FRAC) and hot.q_frac[2] == Q_MIN_FRAC


@pytest.mark.parametrize("mode", ["scaled_history", "virtual_age"])
def test_update_interval_barely_matters(mode: str) -> None:
    """One 30-day window against 30 one-day windows of the same constant stress.

    Storage: the exact state step makes them equal to rounding (1e-9).
    Daily cycling: 2e-4 in capacity, 2e-3 relative in resistance; the only
    difference is that a window's throughput is rescaled by the capacity at
    its start (BLAST-Lite's EFC definition), which a 30-day window holds
    fixed for longer.
    """
    soh0 = np.array([1.0, 0.8, 1.0, 0.8, 1.0, 0.7])
    r0 = np.array([1.0, 1.5, 1.0, 1.5, 1.0, 1.6])
    chem = np.repeat(CH3, 2)
    for soc_fn, tol_q, tol_r in ((const_soc(0.7), 1e-9, 1e-9), (cycle_soc(0.2, 0.9, 24.0), 2e-4, 2e-3)):
        daily = FleetAgeing(chem, soh0, r0, second_life=mode)
        monthly = FleetAgeing(chem, soh0, r0, second_life=mode)
        drive(daily, 30.0, soc_fn, 32.0, every_s=86400.0)
        drive(monthly, 30.0, soc_fn, 32.0, every_s=30 * 86400.0)
        assert np.all(daily.q_frac < soh0)
        np.testing.assert_allclose(monthly.q_frac, daily.q_frac, rtol=0.0, atol=tol_q)
        np.testing.assert_allclose(monthly.r_factor, daily.r_factor, rtol=tol_r, atol=0.0)


def test_short_windows_are_pooled_to_a_day() -> None:
    """Hourly updates of a daily cycle of SoC and temperature give the daily-window result (pooled); without
    pooling (min_window_s=0) the hot hours would be applied at their own rate and fade more."""
    soh0, r0 = np.array([1.0, 0.8, 0.8, 0.8]), np.array([1.0, 1.5, 1.5, 1.5])
    chem = np.array(["NMC", "NMC", "LFP", "LMO"])
    temp_fn = np.array([30.0, 30.0, 30.0, 30.0])
    hourly, daily, unpooled = (FleetAgeing(chem, soh0, r0, min_window_s=m) for m in (86400.0, 86400.0, 0.0))
    for fa, every in ((hourly, 3600.0), (daily, 86400.0), (unpooled, 3600.0)):
        n, dt = fa.n_packs, 600.0
        acc = StressAccumulator(n, np.full(n, 0.8))
        for k in range(1, 10 * 144 + 1):
            h = (k * dt / 3600.0) % 24.0
            soc = np.full(n, np.interp(h, [0.0, 12.0, 24.0], [0.8, 0.2, 0.8]))
            acc.add(dt, soc, temp_fn + 8.0 * np.sin(2.0 * np.pi * (h - 9.0) / 24.0), np.ones(n, bool))
            if acc.duration_s >= every - 1e-6:
                fa.update(acc)
        assert fa.pending_s == 0.0 and fa.t_s == pytest.approx(10 * 86400.0)
    np.testing.assert_allclose(hourly.q_frac, daily.q_frac, rtol=0.0, atol=1e-12)
    assert np.all(soh0 - unpooled.q_frac > soh0 - daily.q_frac)
    # a pooled remainder is applied on request
    fa = FleetAgeing(chem, soh0, r0)
    acc = StressAccumulator(4, np.full(4, 0.5))
    acc.add(3600.0, np.full(4, 0.5), np.full(4, 30.0), np.ones(4, bool))
    fa.update(acc)
    assert fa.pending_s == 3600.0 and np.array_equal(fa.q_frac, soh0) and acc.duration_s == 0.0
    fa.update(acc, force=True)
    assert fa.pending_s == 0.0 and np.all(fa.q_frac < soh0)


def test_half_cycle_counter_and_inactive_packs() -> None:
    """Depth from turning points, throughput counted when a half cycle ends, calendar time only when inactive."""
    acc = StressAccumulator(2, np.array([0.9, 0.9]))
    act = np.array([True, False])
    path = np.r_[np.linspace(0.9, 0.3, 61)[1:], np.linspace(0.3, 0.9, 61)[1:], np.linspace(0.9, 0.6, 31)[1:]]
    for s in path:
        acc.add(60.0, np.array([s, s]), np.array([30.0, 30.0]), act)
    assert acc.duration_s == pytest.approx(150 * 60.0)
    np.testing.assert_allclose(acc.window_throughput_frac, [1.5, 0.0], atol=1e-12)
    # two finished half cycles of depth 0.6 (1.2 of throughput); the running one (0.3 so far) waits
    np.testing.assert_allclose(acc.throughput_frac, [1.2, 0.0], atol=1e-9)
    w = acc.dod_weights[0]
    assert w.sum() == pytest.approx(1.2) and (w @ DOD_NODES_FRAC) / w.sum() == pytest.approx(0.6)
    hist = acc.soc_time_hist
    np.testing.assert_allclose(hist[:, :, 0].sum(axis=1), [9000.0, 9000.0])  # both packs age in time
    np.testing.assert_allclose(hist[:, :, 1].sum(axis=1), [9000.0 * 5.0, 9000.0 * 5.0])  # (T - 25) moments
    acc.reset()
    for s in np.linspace(0.6, 0.5, 11)[1:]:
        acc.add(60.0, np.array([s, s]), np.array([30.0, 30.0]), act)
    for s in np.linspace(0.5, 0.8, 31)[1:]:
        acc.add(60.0, np.array([s, s]), np.array([30.0, 30.0]), act)
    # the half cycle 0.9 -> 0.5 ended in this window: its whole 0.4 counts here, at depth 0.4
    np.testing.assert_allclose(acc.throughput_frac, [0.4, 0.0], atol=1e-9)
    w = acc.dod_weights[0]
    assert (w @ DOD_NODES_FRAC) / w.sum() == pytest.approx(0.4)


def test_fade_by_chemistry_summary() -> None:
    chem = np.array(["NMC", "NMC", "LFP", "LMO"])
    fa = FleetAgeing(chem, np.array([0.8, 0.9, 0.85, 0.7]), np.array([1.5, 1.3, 1.4, 1.7]))
    drive(fa, 30.0, cycle_soc(0.2, 0.8, 24.0), 30.0)
    out = fa.fade_by_chemistry()
    assert set(out) == {"NMC", "LFP", "LMO"}
    nmc = out["NMC"]
    assert nmc["q_start_mean_frac"] == pytest.approx(0.85)
    assert nmc["fade_mean_frac"] == pytest.approx(nmc["q_start_mean_frac"] - nmc["q_now_mean_frac"])
    for v in out.values():
        assert v["fade_mean_frac"] > 0.0 and v["r_growth_mean_frac"] > 0.0
        assert all(isinstance(x, float) for x in v.values())


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown chemistry"):
        FleetAgeing(np.array(["NCA"]), np.ones(1), np.ones(1))
    with pytest.raises(ValueError, match="soh0_frac"):
        FleetAgeing(np.array(["NMC"]), np.array([1.2]), np.ones(1))
    with pytest.raises(ValueError, match="second_life"):
        FleetAgeing(np.array(["NMC"]), np.ones(1), np.ones(1), second_life="guess")
    fa = FleetAgeing(np.array(["NMC"]), np.ones(1), np.ones(1))
    with pytest.raises(ValueError, match="packs"):
        fa.update(StressAccumulator(2, np.ones(2)))


def test_second_life_split_is_the_documented_one() -> None:
    """The shares quoted in twin.fleet.ageing's docstring: calendar share of the start loss and resistance gain."""
    fa = FleetAgeing(np.array(["NMC", "LFP"]), np.full(2, 0.8), np.full(2, 1.5))
    nmc, lfp = fa.states("NMC"), fa.states("LFP")
    assert nmc["qLoss_LLI_t"][0] / 0.2 == pytest.approx(0.73, abs=0.005)
    assert nmc["rGain_LLI_t"][0] / 0.5 == pytest.approx(0.98, abs=0.005)
    assert lfp["qLoss_LLI_t"][0] / 0.2 == pytest.approx(0.98, abs=0.005)
    assert lfp["rGain_LLI_t"][0] / 0.5 == pytest.approx(0.94, abs=0.005)
    # the new-cell models after the representative first life (closed-form trajectories): 3.6 % and 10.6 % lost
    for model, loss in ((blast_models._Kokam(), 0.036), (blast_models._SonyMurata(), 0.106)):
        states, _rates = model.first_life(1, blast_models.FIRST_LIFE)
        assert 1.0 - model.outputs(states)[0][0] == pytest.approx(loss, abs=5e-4)


def test_first_life_climate_sets_the_onward_rate() -> None:
    """Packs whose first life was as hot as the site fade slower there than packs from a 25 degC first life."""
    chem = np.array(["NMC", "LFP"])
    cool = FleetAgeing(chem, np.full(2, 0.8), np.full(2, 1.5))
    hot = FleetAgeing(chem, np.full(2, 0.8), np.full(2, 1.5), first_life={"temp_c": 35.0})
    for fa in (cool, hot):
        drive(fa, 60.0, cycle_soc(0.2, 0.8, 24.0), 35.0)
    assert np.all(0.8 - hot.q_frac < 0.8 - cool.q_frac)
    with pytest.raises(ValueError, match="first_life"):
        FleetAgeing(chem, np.ones(2), np.ones(2), first_life={"temperature": 30.0})


def test_extreme_and_bad_inputs_stay_finite() -> None:
    """Frozen and scorching packs, SoC outside 0..1 and NaN SoC: no warning, no out-of-range write, finite states."""
    fa = FleetAgeing(np.repeat(CH3, 2), np.full(6, 0.8), np.full(6, 1.5))
    acc = StressAccumulator(6, np.full(6, 0.5))
    soc = np.array([-0.2, 1.3, np.nan, 0.5, 0.0, 1.0])
    temp = np.array([-40.0, 80.0, 25.0, -40.0, 80.0, 25.0])
    for k in range(200):
        acc.add(60.0, soc if k % 50 else np.full(6, 0.5), temp, np.ones(6, bool))
    assert np.all(np.isfinite(acc.soc_time_hist)) and np.all(np.isfinite(acc.throughput_frac))
    fa.update(acc, force=True)
    assert np.all(np.isfinite(fa.q_frac)) and np.all(np.isfinite(fa.r_factor))
    assert np.all(fa.q_frac <= 0.8) and np.all(fa.r_factor >= 1.5)
