"""Battery fleet: energy books per pack, SoC bounds, BMS limits, thermal, faults, dispatch.

Invariants checked here (twin/fleet/fleet.py docstring):

* per pack, DC energy in = change of stored energy (chemical + polarisation) - parameter
  changes + cell losses, and AC energy in = DC energy in + converter losses, to round-off
  (1e-9 of the energy moved, plus 1e-3 J);
* SoC stays in [0, 1] (and within each pack's window, up to one step's rounding);
* no pack current ever exceeds the BMS limits published for that step;
* a block delivers what it was asked minus the reported shortfall.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.packs import one_pack
from twin.config import BmsConfig, FleetModelConfig, FleetVehicleModel, ThermalConfig
from twin.fleet import bms, layout
from twin.fleet.chemistry import CHEMISTRIES
from twin.fleet.fleet import BatteryFleet
from twin.fleet.inventory import draw_inventory


def make_fleet(
    n_packs: int = 805, n_blocks: int = 12, soc: float = 0.5, seed: int = 7, temp_c: float = 25.0, **cfg_kw
) -> BatteryFleet:
    cfg = FleetModelConfig(n_packs=n_packs, soc_start_frac=soc, **cfg_kw)
    return BatteryFleet(cfg, draw_inventory(cfg, n_blocks, seed), n_blocks, 15.0, temp_start_c=temp_c)


def test_default_fleet_matches_the_published_site():
    f = make_fleet()
    assert f.inv.n_packs == 805
    # SITE.md: 12 MW / 63 MWh; the default mix lands near 63 MWh (an assumption, +-5 %)
    assert f.e_max_mwh.sum() == pytest.approx(63.0, rel=0.05)
    ch, dis = f.limits(1.0)
    # 805 x 15 kW converters: the AC limits sit at the converter rating but for BMS-limited packs
    assert 11.0 < dis.sum() <= 12.075 + 1e-9 and 11.0 < ch.sum() <= 12.075 + 1e-9
    assert np.all(np.bincount(f.block) >= 67)
    assert 0.5 <= f.inv.soh_frac.min() and f.inv.soh_frac.max() <= 1.0
    assert 1.0 <= f.inv.r_factor.min() and f.inv.r_factor.max() <= 2.0
    # pack voltages inside the converter's 200-900 V input range (SITE.md)
    r = f.step(1.0, np.full(12, 0.5))
    v = f.snapshot()["v_v"]
    assert 200 <= v.min() and v.max() <= 900, (v.min(), v.max())
    assert r.block_p_mw == pytest.approx(np.full(12, 0.5), abs=1e-9)


def test_inventory_is_seeded():
    a, b, c = (draw_inventory(FleetModelConfig(), 12, s) for s in (1, 1, 2))
    assert np.array_equal(a.soh_frac, b.soh_frac) and not np.array_equal(a.soh_frac, c.soh_frac)
    # resistance growth goes with fade: the most faded packs have the highest resistance factor
    used = a.soh_frac < 1.0
    assert np.corrcoef(a.soh_frac[used], a.r_factor[used])[0, 1] < -0.7


@settings(max_examples=40, deadline=None)
@given(
    seq=st.lists(st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=3, max_size=3), min_size=1, max_size=40),
    soc=st.floats(0.05, 0.95),
    dt=st.sampled_from([0.1, 1.0, 60.0, 900.0]),
    temp=st.floats(-5.0, 50.0),
)
def test_energy_books_soc_bounds_and_bms_limits_under_random_setpoints(seq, soc, dt, temp):
    f = make_fleet(n_packs=40, n_blocks=3, soc=soc, temp_c=temp)
    f.set_ambient(temp, 800.0)
    moved = 0.0
    for p in seq:
        ch, dis = (x.copy() for x in f.pack_limits_mw(dt))
        i_ch, i_dis = f.pack_current_limits_a(dt)
        r = f.step(dt, np.array(p))
        # never past a pack's power limit nor its BMS current limits (1e-6 relative: Newton tolerance)
        assert np.all(r.p_pack_mw <= ch * (1 + 1e-9) + 1e-12) and np.all(-r.p_pack_mw <= dis * (1 + 1e-9) + 1e-12)
        i = f.packs.i_a
        assert np.all(i <= i_ch * (1 + 1e-6) + 1e-6) and np.all(-i <= i_dis * (1 + 1e-6) + 1e-6)
        # block power delivered + shortfall = asked
        assert np.allclose(r.block_p_mw + r.shortfall_mw, p, atol=1e-6)
        moved += float(np.abs(r.p_pack_mw).sum()) * dt * 3.6e9 / 3600
        soc_now = f.soc_frac
        assert np.all((soc_now >= 0.0) & (soc_now <= 1.0))
        assert np.all(soc_now >= 0.05 - 1e-6) and np.all(soc_now <= 0.95 + 1e-6)
    err = f.pack_energy_balance_error_j()
    assert err.max() <= 1e-9 * moved + 1e-3, (err.max(), moved)
    assert np.all(f.bms_state == bms.STATE_CONNECTED)  # within limits no protection trips


def test_relaxation_is_exact_at_any_step():
    """At zero current the RC voltages decay as exp(-t / tau) exactly: one 600 s step equals 600 steps of 1 s."""
    a, b = one_pack(), one_pack()
    for f in (a, b):
        for _ in range(30):
            f.step(1.0, np.array([0.012]))
    a.step(600.0, np.zeros(1))
    for _ in range(600):
        b.step(1.0, np.zeros(1))
    assert a.packs.v_rc1_v == pytest.approx(b.packs.v_rc1_v, rel=1e-9, abs=1e-12)
    assert a.packs.v_rc2_v == pytest.approx(b.packs.v_rc2_v, rel=1e-9, abs=1e-12)
    assert a.snapshot()["v_v"] == pytest.approx(b.snapshot()["v_v"], abs=1e-6)


def test_constant_power_is_delivered_exactly_and_voltage_follows_the_circuit():
    """Mean terminal power over a step = setpoint (the current solves W(i) = p dt); the terminal
    voltage after a current step from rest is OCV + i (R0 + R1 (1 - e^-t/tau1) + R2 (1 - e^-t/tau2))."""
    f = one_pack(soc=0.5)
    c = CHEMISTRIES["NMC"]
    f.step(10.0, np.array([0.010]))
    s = f.snapshot()
    p_dc = s["v_v"] * s["i_a"]  # end-of-step power: close to, not equal to, the step mean
    assert p_dc[0] == pytest.approx(f.packs.p_dc_w[0], rel=2e-3)
    i = s["i_a"][0]
    assert i > 0
    ns = 96
    r0, r1, r2 = f.packs.r0_ohm[0], f.packs.r1_ohm[0], f.packs.r2_ohm[0]
    soc1 = f.soc_frac[0]
    ocv = np.interp(soc1, np.linspace(0, 1, 21), c.ocv_v) * ns
    v = ocv + i * (r0 + r1 * (1 - np.exp(-10 / c.tau1_s)) + r2 * (1 - np.exp(-10 / c.tau2_s)))
    # resistances are those at the state after the step (refreshed): 0.5 % slack for their move
    assert s["v_v"][0] == pytest.approx(v, rel=5e-4)


def test_converter_efficiency_curve():
    """AC/DC losses c0 p_r + c1 |p| + c2 p^2 / p_r: 97.4 % at the rating, 96.6 % at 20 % (defaults)."""
    f = one_pack(soc=0.5)
    r = f.step(1.0, np.array([0.015]))
    s = f.snapshot()
    assert f.packs.p_dc_w[0] / (r.p_pack_mw[0] * 1e6) == pytest.approx(1 - 0.026 / (1 + 0.026), rel=2e-3)
    f = one_pack(soc=0.5)
    f.step(1.0, np.array([0.003]))
    assert f.packs.p_dc_w[0] / 3000.0 == pytest.approx(1 - 0.0068 / 0.2068, rel=2e-3)
    del s


def test_thermal_steady_state_and_solar_gain():
    """No current, no thermal management: the pack settles at ambient + solar gain / UA (heat balance
    of the lumped node); with the cooler it settles where UA (T - T_amb) + heat removed = solar gain."""
    th = ThermalConfig(heater_w_per_kwh=0.0, cooler_w_per_kwh=0.0)
    f = one_pack(temp_c=10.0, thermal=th)
    f.set_ambient(30.0, 1000.0)
    for _ in range(200):
        f.step(3600.0, np.zeros(1))
    q_solar = th.solar_absorptance * th.solar_area_m2_per_kwh * 66.0 * 1000.0
    ua = th.ua_w_per_k_per_kwh * 66.0
    assert f.temp_c[0] == pytest.approx(30.0 + q_solar / ua, abs=1e-6)
    assert f.snapshot()["thermal_mgmt_kw"][0] == 0.0
    th = ThermalConfig(heater_w_per_kwh=0.0)
    g = one_pack(temp_c=10.0, thermal=th)
    g.set_ambient(30.0, 1000.0)
    for _ in range(2000):
        g.step(60.0, np.zeros(1))
    t = g.temp_c[0]
    cool = th.cooler_w_per_kwh * 66.0 * min(max((t - th.cooler_set_c) / th.cooler_band_c, 0.0), 1.0)
    assert ua * (t - 30.0) + cool == pytest.approx(q_solar, rel=1e-3)
    assert th.cooler_set_c < t < 30.0 + q_solar / ua
    # the cooler's electric power (heat / COP) comes from the cells; the books still close
    assert g.snapshot()["thermal_mgmt_kw"][0] == pytest.approx(cool / th.cooler_cop / 1e3, rel=1e-2)
    assert g.pack_energy_balance_error_j().max() < 1e-3


def test_bms_derates_charging_when_hot_and_trips_latched_when_too_hot():
    f = one_pack(temp_c=25.0)
    ch25, _ = f.pack_current_limits_a(1.0)
    c = CHEMISTRIES["NMC"]
    f.S[0, layout.S_TEMP] = c.temp_charge_max_c - 2.0  # inside the derating band
    f._stale = True
    ch_hot, _ = f.pack_current_limits_a(1.0)
    assert 0 < ch_hot[0] < ch25[0]
    f.S[0, layout.S_TEMP] = f.cfg.bms.temp_trip_c + 1.0
    f.step(1.0, np.zeros(1))
    assert f.bms_state[0] == bms.STATE_FAULT and not f.active[0]
    assert f.bms_evt[0] >> bms.OVER_TEMP_ALARM & 1
    assert f.limits(1.0)[0][0] == 0.0
    assert len(f.bms_reset(np.array([0]))) == 0  # still hot: the fault stays latched
    f.S[0, layout.S_TEMP] = 25.0
    f.step(1.0, np.zeros(1))
    assert len(f.bms_reset(np.array([0]))) == 1 and f.bms_state[0] == bms.STATE_CONNECTED
    assert f.limits(1.0)[0][0] > 0


def test_weak_cell_shows_as_imbalance_and_limits_charging():
    a = one_pack(soc=0.85)
    b = one_pack(soc=0.85, bms=BmsConfig(imbalance_warn_v=0.05))
    b.set_weak_cell(np.array([0]), 0.6, 4.0)
    for f in (a, b):
        for _ in range(120):
            f.step(10.0, np.array([0.015]))
    sa, sb = a.snapshot(), b.snapshot()
    assert sb["cell_v_max_v"][0] > sa["cell_v_max_v"][0]
    assert sb["cell_v_max_v"][0] - sb["cell_v_min_v"][0] > 0.08
    assert b.bms_evt[0] >> bms.VOLTAGE_IMBALANCE_WARNING & 1 and b.bms_evt[0] >> bms.OVER_VOLT_WARNING & 1
    assert not a.bms_evt[0] >> bms.VOLTAGE_IMBALANCE_WARNING & 1
    assert sb["cell_v_max_v"][0] <= CHEMISTRIES["NMC"].v_max_cell_v + 0.005  # the limit holds it at the cut-off
    assert b.soc_frac[0] < a.soc_frac[0]  # so the weak pack charged less


def _runaway_onsets(neighbour_w_per_k: float) -> tuple[BatteryFleet, dict[int, int]]:
    # packs touching along rows (1.2 m pitch, strong coupling); rows 6 m apart
    th = ThermalConfig(
        yard_row_packs=10,
        yard_pitch_m=1.2,
        neighbour_radius_m=1.5,
        neighbour_w_per_k=neighbour_w_per_k,
        runaway_duration_s=300.0,
    )
    bolt = FleetVehicleModel(name="chevy_bolt_66", chemistry="NMC", e_nom_kwh=66.0, n_series=96, share=1.0)
    f = make_fleet(n_packs=30, n_blocks=3, thermal=th, mix=(bolt,))
    f.trigger_runaway(5)
    onset: dict[int, int] = {}
    for k in range(480):
        f.step(15.0, np.zeros(3))
        for i in np.flatnonzero(f.packs.runaway):
            onset.setdefault(int(i), k)
    return f, onset


def test_thermal_runaway_propagates_to_neighbours_only():
    f, onset = _runaway_onsets(2000.0)
    assert f.snapshot()["temp_max_c"][5] > 250  # the pack in runaway
    assert f.bms_state[5] == bms.STATE_FAULT and not f.active[5]
    assert 4 in onset and 6 in onset and onset[4] > 0 and onset[6] > 0  # its neighbours, later
    for i, k in onset.items():  # spreading along the row, one pitch at a time
        assert f.inv.yard_row[i] == f.inv.yard_row[5]
        assert all(onset[j] <= k for j in onset if abs(j - 5) < abs(i - 5))
    far = [i for i in range(30) if f.inv.yard_row[i] != f.inv.yard_row[5]]
    assert np.all(f.packs.bms_state[far] == bms.STATE_CONNECTED) and all(i not in onset for i in far)
    # without the coupling, nothing spreads
    f0, onset0 = _runaway_onsets(0.0)
    assert list(onset0) == [5]


def test_soh_aware_dispatch_spares_weak_packs():
    prop = make_fleet(n_packs=120, n_blocks=2, soc=0.6)
    soh = make_fleet(n_packs=120, n_blocks=2, soc=0.6, dispatch="soh_aware")
    for f in (prop, soh):
        for k in range(200):
            f.step(60.0, np.full(2, 0.4 if (k // 50) % 2 else -0.4))
    weak = prop.inv.soh_frac < 0.6
    thru_p = prop.packs.throughput_dc_j[weak].sum() / prop.packs.throughput_dc_j.sum()
    thru_s = soh.packs.throughput_dc_j[weak].sum() / soh.packs.throughput_dc_j.sum()
    assert thru_s < 0.8 * thru_p, (thru_p, thru_s)


def test_out_of_service_packs_get_nothing():
    f = make_fleet(n_packs=60, n_blocks=2)
    f.set_packs(np.arange(10), False)
    f.set_block(1, False)
    r = f.step(1.0, np.array([0.3, 0.3]))
    assert np.all(r.p_pack_mw[:10] == 0) and np.all(r.p_pack_mw[f.block == 1] == 0)
    assert r.shortfall_mw[1] == pytest.approx(0.3)
    assert r.block_p_mw[0] == pytest.approx(0.3)


def test_split_is_exact_when_a_block_is_asked_its_limit():
    """Asking a block exactly its limit (or a hair below, rounding) must give every pack its limit: a
    regression of a split that lost the block's power to rounding of the running weight sum."""
    f = make_fleet(soc=0.6)
    f.set_ambient(30.0, 900.0)
    rng = np.random.default_rng(1)
    for k in range(3000):
        ch, dis = f.limits(1.0)
        p = [ch, ch * (1 - 1e-12), -dis, ch * rng.uniform(0.9, 1.1, 12)][k % 4]
        r = f.step(1.0, p)
        assert np.all(np.isfinite(r.shortfall_mw))
        assert np.allclose(r.block_p_mw + r.shortfall_mw, p, atol=1e-9)
        assert np.all(np.sign(r.block_p_mw) * np.sign(p) >= 0)


def test_pack_view_reads_the_state_by_name_and_cannot_write_it():
    """Adapters read packs through ``fleet.packs`` (no raw indices): live, read-only views of the state."""
    f = make_fleet(n_packs=40, n_blocks=3)
    f.trigger_runaway(3)
    f.step(1.0, np.full(3, 0.2))
    v = f.packs
    assert len(v) == 40
    assert np.array_equal(v.soc_frac, f.soc_frac) and np.array_equal(v.temp_c, f.temp_c)
    assert np.array_equal(v.n_series, f.inv.n_series) and np.array_equal(v.bms_state, f.bms_state)
    assert v.runaway.dtype == bool and list(np.flatnonzero(v.runaway)) == [3]
    assert v.trip_cause[3] == bms.TRIP_RUNAWAY and v.trip_cause[0] == bms.TRIP_NONE
    assert v.new_alarm.dtype == bool and np.array_equal(v.active, f.active)
    assert np.all(v.v_terminal_v > 0) and np.all(v.v_cell_max_v >= v.v_cell_min_v)
    assert np.all(v.i_a[v.active] > 0)  # charging
    with pytest.raises(ValueError, match="read-only"):
        v.soc_frac[0] = 0.0
    before = v.i_a.copy()
    f.step(1.0, np.full(3, -0.2))
    assert not np.array_equal(v.i_a, before)  # a view follows the state


def test_the_compiled_pass_is_cached_on_all_its_sources():
    """numba watches only the file defining a cached function; the pass inlines code from other modules,
    so its cache is keyed on all of them (twin.fleet.jitcache): an edit there recompiles it."""
    from twin.fleet import kernel

    names = {p.name for p in kernel.fleet_pass._sources}
    assert {"kernel.py", "circuit.py", "split.py", "thermal.py", "limits.py", "bms.py", "layout.py"} <= names


@pytest.mark.parametrize("group", ["P", "S", "D", "F", "ST", "OUT", "TH"])
def test_layout_indices_are_contiguous_and_match_the_arrays(group):
    """twin/fleet/layout.py: each group's indices run 0..N-1 with no gap or repeat, and the fleet's arrays have
    exactly N columns (a new quantity added without moving N would overwrite another one's column)."""
    idx = {k: v for k, v in vars(layout).items() if k.startswith(f"{group}_") and isinstance(v, int)}
    n = getattr(layout, f"N_{group}")
    assert sorted(idx.values()) == list(range(n)), f"{group}_* indices: {sorted(idx.values())} for N_{group} = {n}"
    f = one_pack()
    shapes = {"P": f.P.shape[1], "S": f.S.shape[1], "D": f.D.shape[1], "F": f.F.shape[1]}
    if group in shapes:
        assert shapes[group] == n
