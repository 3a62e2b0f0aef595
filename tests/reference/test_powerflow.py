"""The fast power-flow path against plain pandapower.runpp, and the grid's fast layer.

Reference: pandapower's own Newton-Raphson (``pandapower.runpp`` with
``distributed_slack=True`` and ``lightsim2grid=False``) on a fresh copy of the
same net with the same injections. Tolerance 1e-6 pu on every bus voltage
magnitude, 1e-6 rad on angles, 1e-6 MW on each block's power (issue 2).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from adapters.io.scenario_file import load_scenario
from adapters.world import run_scenario
from tests.conftest import SCENARIOS
from twin.config import GridModelConfig, Scenario
from twin.grid.grid import Grid
from twin.grid.network import build_network
from twin.grid.powerflow import Injections, LightSimSolver, PandapowerSolver, PowerFlowDiverged


def test_site_net_has_no_infinite_bus_and_shares_slack_by_rating():
    net, ix = build_network(Scenario().site)
    assert len(net.ext_grid) == 0, "off-grid: no ext_grid"
    assert len(net.gen) == 12 and ix.n_pv == 8 and ix.n_spark == 4
    assert np.allclose(net.gen.slack_weight, 1.0)  # 1 MVA each: weights = ratings
    assert len(net.bus) == 51 and len(net.line) == 25 and len(net.trafo) == 25


@pytest.fixture(scope="module")
def sampled_steps(tmp_path_factory):
    """Run 20 min of the 1 h scenario (a block trip at 20 min is outside; trip one
    earlier) and keep a copy of the injections and the fast result at sampled solves."""
    sc = load_scenario(SCENARIOS / "pilot-1h.toml")
    events = [e.model_copy(update={"at_s": e.at_s / 3}) for e in sc.events]
    sc = sc.model_copy(update={"run": sc.run.model_copy(update={"duration_s": 1200.0}), "events": tuple(events)})
    samples: list[tuple[Injections, np.ndarray, np.ndarray, np.ndarray, float]] = []
    calls = {"n": 0}
    orig = LightSimSolver.solve

    def recording_solve(self, inj, flat_start=False):  # instrumentation only: the real solve runs
        res = orig(self, inj, flat_start)
        calls["n"] += 1
        if calls["n"] % 97 == 1:
            samples.append(
                (copy.deepcopy(inj), res.vm_pu.copy(), res.va_deg.copy(), res.gen_p_mw.copy(), res.losses_p_mw)
            )
        return res

    LightSimSolver.solve = recording_solve
    try:
        r = run_scenario(sc, tmp_path_factory.mktemp("pf"), progress=False)
    finally:
        LightSimSolver.solve = orig
    assert r.status == "completed"
    return r.site, samples


def test_fast_path_equals_plain_runpp(sampled_steps):
    site, samples = sampled_steps
    assert len(samples) >= 12
    net = copy.deepcopy(site.net)
    ref = PandapowerSolver(net, tolerance_pu=1e-10)
    worst = 0.0
    for inj, vm, va, gen_p, losses in samples:
        r = ref.solve(inj)
        assert np.max(np.abs(r.vm_pu - vm)) < 1e-6
        assert np.max(np.abs(np.radians(r.va_deg - va))) < 1e-6
        assert np.max(np.abs(r.gen_p_mw - gen_p)) < 1e-6
        assert abs(r.losses_p_mw - losses) < 1e-6
        worst = max(worst, float(np.max(np.abs(r.vm_pu - vm))))
    # at least one sample had a tripped block (gen out of service) and PV on
    assert any(not s[0].gen_in_service.all() for s in samples)
    assert any(s[0].sgen_p_mw.sum() > 1.0 for s in samples)
    print(f"max |dV| fast vs runpp over {len(samples)} sampled steps: {worst:.2e} pu")


def _grid(solver: str = "lightsim2grid") -> tuple[Grid, object]:
    net, ix = build_network(Scenario().site)
    return Grid(net, ix, GridModelConfig(), solver=solver), ix


def test_power_balance_of_a_solve():
    g, ix = _grid()
    r = g.step(np.full(8, 1.5), np.full(4, 0.9), np.full((3, 4), 0.08 / 3), 0.15, np.full(12, 1.0), np.full(12, 1.0))
    gen = r.pv_p_mw.sum() - r.bess_p_mw.sum()
    load = r.it_p_mw.sum() + r.cooling_p_mw.sum() + r.aux_p_mw + r.losses_p_mw
    assert gen == pytest.approx(load, abs=1e-7)
    # equal ratings, equal share (distributed slack by rating)
    assert np.ptp(r.bess_p_mw) < 1e-3
    assert 0.95 <= r.v_min_pu <= r.v_max_pu <= 1.05


def test_saturated_blocks_hold_their_limit_and_others_pick_up():
    g, ix = _grid()
    ch = np.full(12, 1.0)
    ch[[2, 5]] = 0.05  # two nearly full blocks
    r = g.step(np.full(8, 1.2), np.full(4, 0.5), np.full((3, 4), 0.04 / 3), 0.15, ch, np.full(12, 1.0))
    assert r.bess_p_mw.sum() > 7.0  # 9.6 MW of PV less 2.3 MW of load, less losses
    assert r.bess_p_mw[2] == pytest.approx(0.05, abs=1e-6)
    assert r.bess_p_mw[5] == pytest.approx(0.05, abs=1e-6)
    assert np.all(r.bess_p_mw <= ch + 1e-6)
    assert r.pv_fast_curtail_p_mw == 0.0


def test_blocks_held_at_their_charge_limit_are_released_when_the_load_jumps():
    # Regression (found on the default day with training jobs): blocks held at their charge limit
    # from the last step, then the load jumps so the site must discharge. Droop sharing has every
    # block discharge; the old guess must not push the slack block past its discharge limit and
    # trigger under-frequency load shedding while 11 blocks could still give power.
    g, ix = _grid()
    ch = np.full(12, 1.0)
    ch[:6] = 0.1  # six nearly full blocks: held at their charge limit
    dis = np.full(12, 1.0)
    dis[6:] = 0.3  # the other six may give little
    cool = np.full((3, 4), 0.04 / 3)
    r = g.step(np.full(8, 1.0), np.full(4, 0.5), cool, 0.15, ch, dis)  # 8 MW PV, 2.3 MW load
    assert r.ufls_p_mw == 0.0 and np.allclose(r.bess_p_mw[:6], 0.1, atol=1e-6) and np.all(r.bess_p_mw[6:] > 0.5)
    r = g.step(np.full(8, 0.25), np.full(4, 1.0), cool, 0.15, ch, dis)  # 2 MW PV, 4.3 MW load
    assert r.ufls_p_mw == 0.0  # 2.3 MW to give, 7.8 MW of discharge limits
    assert np.all(r.bess_p_mw < 0) and np.all(-r.bess_p_mw <= dis + 1e-6)
    assert r.bess_p_mw.sum() == pytest.approx(-(4.31 - 2.0) - r.losses_p_mw, abs=1e-6)


def test_frequency_watt_curtails_pv_when_every_block_is_full():
    g, ix = _grid()
    ch = np.full(12, 0.2)  # the fleet can take 2.4 MW in all
    r = g.step(np.full(8, 2.0), np.full(4, 0.5), np.full((3, 4), 0.04 / 3), 0.15, ch, np.full(12, 1.0))
    assert np.all(r.bess_p_mw <= ch + 1e-6)
    assert r.bess_p_mw.sum() == pytest.approx(2.4, abs=1e-5)
    surplus = 16.0 - (2.0 + 0.16 + 0.15)
    assert r.pv_fast_curtail_p_mw == pytest.approx(surplus - 2.4 - r.losses_p_mw, abs=0.05)
    assert r.pv_p_mw.sum() == pytest.approx(16.0 - r.pv_fast_curtail_p_mw, abs=1e-9)


def test_ufls_sheds_load_when_every_block_is_empty():
    g, ix = _grid()
    dis = np.full(12, 0.1)  # 1.2 MW of discharge in all, 4 MW of load, no sun
    r = g.step(np.zeros(8), np.full(4, 0.9), np.full((3, 4), 0.08 / 3), 0.15, np.full(12, 1.0), dis)
    assert np.all(-r.bess_p_mw <= dis + 1e-6)
    assert r.ufls_p_mw > 2.5
    assert r.it_p_mw.sum() + r.cooling_p_mw.sum() + r.aux_p_mw + r.losses_p_mw == pytest.approx(
        -r.bess_p_mw.sum(), abs=1e-6
    )


def test_island_stays_energised_when_every_block_is_at_both_limits():
    """Empty and too cold to charge: the inverters still form the voltage at zero power; all IT load
    is shed and what cannot be shed (aux, losses) is the only battery power left."""
    g, ix = _grid()
    zero = np.zeros(12)
    r = g.step(np.zeros(8), np.full(4, 0.9), np.full((3, 4), 0.08 / 3), 0.15, zero, zero)
    assert r.it_p_mw.sum() == 0.0 and r.cooling_p_mw.sum() == 0.0 and r.ufls_p_mw == pytest.approx(3.92)
    assert -r.bess_p_mw.sum() == pytest.approx(0.15 + r.losses_p_mw, abs=1e-6)  # shown as the fleet's shortfall
    g.set_bess_block(0, False)
    for b in range(1, 12):
        g.set_bess_block(b, False)
    with pytest.raises(PowerFlowDiverged, match="no grid-forming battery block"):
        g.step(np.zeros(8), np.full(4, 0.9), np.full((3, 4), 0.08 / 3), 0.15, zero, zero)


def test_nonconvergence_raises_with_the_injections():
    net, ix = build_network(Scenario().site)
    s = LightSimSolver(net, max_iteration=10)
    n_load = len(net.load)
    inj = Injections(
        sgen_p_mw=np.zeros(len(net.sgen)),
        sgen_in_service=np.ones(len(net.sgen), bool),
        load_p_mw=np.full(n_load, 400.0),
        load_q_mvar=np.full(n_load, 300.0),  # far beyond the cables
        gen_p_mw=np.zeros(len(net.gen)),
        gen_in_service=np.ones(len(net.gen), bool),
        gen_slack_weight=np.ones(len(net.gen)),
    )
    with pytest.raises(PowerFlowDiverged, match="did not converge") as ei:
        s.solve(inj)
    assert ei.value.injections["load_p_mw"][0] == 400.0
    with pytest.raises(PowerFlowDiverged, match="did not converge"):
        PandapowerSolver(copy.deepcopy(net), max_iteration=10).solve(inj)


def test_pandapower_solver_runs_the_world_too(tmp_path):
    """The model of record can drive a run (slow: a few minutes of sim time only)."""
    sc = load_scenario(SCENARIOS / "pilot-1h.toml")
    sc = sc.model_copy(update={"run": sc.run.model_copy(update={"duration_s": 30.0}), "events": ()})
    fast = run_scenario(sc, tmp_path / "fast", progress=False)
    ref = run_scenario(sc, tmp_path / "ref", progress=False, solver="pandapower")
    assert ref.status == fast.status == "completed"
    assert ref.summary["solver"] == "pandapower"
    assert ref.summary["energy_mwh"]["losses"] == pytest.approx(fast.summary["energy_mwh"]["losses"], rel=1e-6)
    assert ref.summary["v_pu"]["min"] == pytest.approx(fast.summary["v_pu"]["min"], abs=1e-6)


def test_saturation_carried_from_the_last_step_never_changes_the_answer():
    """The grid starts each step from the previous step's saturated blocks; a
    fresh grid (no memory) must give the same operating point every step."""
    rng = np.random.default_rng(3)
    g, _ = _grid()
    for k in range(40):
        pv = rng.uniform(0.0, 2.0, 8)
        it = rng.uniform(0.3, 1.0, 4)
        ch = rng.choice([0.0, 0.05, 0.3, 1.0], 12)
        dis = rng.choice([0.0, 0.05, 0.3, 1.0], 12)
        args = (pv, it, np.tile(it * 0.08 / 3, (3, 1)), 0.15, ch, dis)
        fresh, _ = _grid()
        a, b = g.step(*args), fresh.step(*args)
        assert np.allclose(a.bess_p_mw, b.bess_p_mw, atol=1e-6), k
        assert a.pv_fast_curtail_p_mw == pytest.approx(b.pv_fast_curtail_p_mw, abs=1e-6)
        assert a.ufls_p_mw == pytest.approx(b.ufls_p_mw, abs=1e-6)
        assert np.all(a.bess_p_mw <= ch + 1e-6) and np.all(-a.bess_p_mw <= dis + 1e-6)
