"""Battery fleet invariants: energy balance per pack, SoC bounds, limits, split.

Energy balance reference: per pack, e_end - e_start = sum(eta_c p_ch - p_dis / eta_d) dt
(:func:`twin.fleet.energy_balance_error_mwh`), to 1e-9 MWh.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.config import FleetModelConfig
from twin.fleet import BatteryFleet, draw_inventory, energy_balance_error_mwh


def make_fleet(n_packs: int = 805, n_blocks: int = 12, soc: float = 0.5, seed: int = 7) -> BatteryFleet:
    cfg = FleetModelConfig(n_packs=n_packs, soc_start_frac=soc)
    return BatteryFleet(cfg, draw_inventory(cfg, n_blocks, seed), n_blocks, 15.0)


def test_default_fleet_matches_the_published_site():
    f = make_fleet()
    assert f.inv.n_packs == 805
    # SITE.md: 12 MW / 63 MWh; the default mix lands near 63 MWh (an assumption, +-5 %)
    assert f.e_max_mwh.sum() == pytest.approx(63.0, rel=0.05)
    ch, dis = f.limits(1.0)
    assert dis.sum() == pytest.approx(12.0, rel=0.02)  # 805 x 15 kW converters, a few C-rate limited
    assert np.all(np.bincount(f.block) >= 67)
    assert set(np.unique(f.inv.chemistry)) <= {"NMC", "LFP", "LMO"}
    assert 0.5 <= f.inv.soh_frac.min() and f.inv.soh_frac.max() <= 1.0


def test_inventory_is_seeded():
    a, b, c = (draw_inventory(FleetModelConfig(), 12, s) for s in (1, 1, 2))
    assert np.array_equal(a.soh_frac, b.soh_frac) and not np.array_equal(a.soh_frac, c.soh_frac)


@settings(max_examples=40, deadline=None)
@given(
    seq=st.lists(st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=3, max_size=3), min_size=1, max_size=60),
    soc=st.floats(0.05, 0.95),
    dt=st.sampled_from([0.1, 1.0, 60.0, 900.0]),
)
def test_energy_balance_and_soc_bounds_under_random_setpoints(seq, soc, dt):
    f = make_fleet(n_packs=40, n_blocks=3, soc=soc)
    e0 = f.e_mwh.copy()
    steps = []
    for p in seq:
        ch, dis = (x.copy() for x in f.pack_limits_mw(dt))
        r = f.step(dt, np.array(p))
        # never past a pack's limit; block power delivered + shortfall = asked
        assert np.all(r.p_pack_mw <= ch + 1e-12) and np.all(-r.p_pack_mw <= dis + 1e-12)
        assert np.allclose(r.block_p_mw + r.shortfall_mw, p, atol=1e-9)
        # what the block could take is delivered in full
        asked = np.abs(np.array(p))
        cap_block = np.bincount(f.block, weights=np.where(np.array(p)[f.block] >= 0, ch, dis), minlength=3)
        assert np.all(np.abs(r.shortfall_mw) <= np.maximum(asked - cap_block, 0) + 1e-9)
        steps.append(r.p_pack_mw)
        soc_now = f.soc_frac
        assert np.all(soc_now >= f.cfg.soc_min_frac - 1e-9) and np.all(soc_now <= f.cfg.soc_max_frac + 1e-9)
        assert np.all((0 <= soc_now) & (soc_now <= 1))
    err = energy_balance_error_mwh(e0, f.e_mwh, np.array(steps), f.eta_c, f.eta_d, dt)
    assert np.max(np.abs(err)) < 1e-9


def test_losses_reported_match_energy_books():
    f = make_fleet()
    e0 = f.e_mwh.sum()
    r1 = f.step(3600.0, np.full(12, 0.5))  # one hour at 6 MW charging
    r2 = f.step(3600.0, np.full(12, -0.5))
    stored = f.e_mwh.sum() - e0
    assert stored == pytest.approx((6.0 - r1.loss_p_mw) - (6.0 + r2.loss_p_mw), abs=1e-9)
    assert r1.loss_p_mw == pytest.approx(6.0 * (1 - 0.96), rel=1e-9)
    assert r2.loss_p_mw == pytest.approx(6.0 * (1 / 0.96 - 1), rel=1e-9)


def test_default_split_favours_packs_with_more_energy():
    f = make_fleet(n_packs=20, n_blocks=1, soc=0.5)
    f.e_mwh[:10] = f.e_max_mwh[:10] * 0.9
    f.e_mwh[10:] = f.e_max_mwh[10:] * 0.2
    f._stale = True
    r = f.step(1.0, np.array([-0.05]))
    full, low = -r.p_pack_mw[:10], -r.p_pack_mw[10:]
    assert np.all(full > 0) and np.all(low > 0)
    ratio = (full / f.e_max_mwh[:10]).mean() / (low / f.e_max_mwh[10:]).mean()
    assert ratio > 1.5


def test_tripped_packs_and_blocks_get_nothing():
    f = make_fleet()
    f.set_packs([0, 1, 2], False)
    f.set_block(5, False)
    ch, dis = f.limits(1.0)
    assert ch[5] == 0 and dis[5] == 0
    r = f.step(1.0, np.full(12, -0.5))
    assert np.all(r.p_pack_mw[[0, 1, 2]] == 0)
    assert np.all(r.p_pack_mw[f.block == 5] == 0)
    assert r.shortfall_mw[5] == pytest.approx(-0.5)
    f.set_packs([0, 1, 2], True)
    assert f.limits(1.0)[1][0] > dis[0]


def test_custom_weights_split_in_proportion():
    f = make_fleet(n_packs=4, n_blocks=1)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    r = f.step(1.0, np.array([0.01]), weights=w)
    assert np.allclose(r.p_pack_mw / r.p_pack_mw.sum(), w / w.sum())
