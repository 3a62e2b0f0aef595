"""The models' hooks for recorded field inputs and a recorded start state (issue 12, physics layer).

Each test checks the physics against a reference computed here (pvlib, PsychroLib, hand
arithmetic, the fleet's constructor), not that a call "ran":

* PV: ``PVPlant.use_recorded`` with POA, GHI or available power (both step paths);
* data center: ``DataCenter.use_recorded_it`` (sample and hold, caps, cooling start);
* ambient: ``Ambient.use_recorded`` (dry bulb, RH, the override);
* fleet: ``BatteryFleet.set_start_state`` (SoC window, OCV at rest, energy books).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pvlib
import pytest

from tests.packs import one_pack
from twin.config import (
    AmbientModelConfig,
    ConstantJobConfig,
    CoolingConfig,
    DataCenterModelConfig,
    FleetModelConfig,
    PVModelConfig,
    PVSiteConfig,
    SiteConfig,
)
from twin.datacenter.datacenter import DataCenter
from twin.fleet.chemistry import CHEMISTRIES
from twin.fleet.fleet import BatteryFleet
from twin.fleet.inventory import draw_inventory
from twin.fleet.layout import P_SOC_HI, P_SOC_LO
from twin.generation.pv import PVPlant
from twin.weather.ambient import Ambient

TZ = "America/Los_Angeles"
START = pd.Timestamp("2025-07-15", tz=TZ)


# ============================================================================ PV
def plant(n_blocks: int = 8, *, n_steps: int = 289, step_s: float = 300.0, seed: int = 1, **kw: object) -> PVPlant:
    site = SiteConfig(pv=PVSiteConfig(n_blocks=n_blocks, **kw))
    # sun_grid_s = step_s: SPA at every step (no sun-vector interpolation), so pvlib in the test sees the same sun
    cfg = PVModelConfig(sun_grid_s=step_s)
    return PVPlant(cfg, site, start=START, n_steps=n_steps, step_s=step_s, seed=seed)


@pytest.mark.parametrize("n_blocks", [8, 20])  # 8: the scalar step path, 20: the numpy path
def test_recorded_poa_equal_to_the_models_reproduces_its_power(n_blocks: int) -> None:
    model = plant(n_blocks)
    rec = plant(n_blocks)
    poa = model.poa_clear_w_m2[:, None] * model.cloud_frac.T  # what the model itself puts on the panels
    said = rec.use_recorded(poa_w_m2=poa)
    assert any("POA is the recorded one (per block" in s for s in said)
    lim = np.linspace(0.5, 2.5, n_blocks)
    for k in range(0, model.n_steps, 3):
        ta = 10.0 + 25.0 * k / model.n_steps
        a, b = model.step(k, ta, lim), rec.step(k, ta, lim)
        np.testing.assert_allclose(b.p_avail_mw, a.p_avail_mw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(b.p_mw, a.p_mw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(b.temp_cell_c, a.temp_cell_c, rtol=1e-12, atol=1e-12)
    assert model.step(144, 30.0).p_avail_mw.max() > 0.5  # the comparison saw daylight, not only zeros
    # a record unlike the model's (60 % of it) is what the panels see, and PVWatts in pvlib makes its power
    other = plant(n_blocks)
    other.use_recorded(poa_w_m2=0.6 * poa)
    cfg, pv = other.config, other.site.pv
    for k in (100, 144, 180):
        s = other.step(k, 25.0)
        np.testing.assert_array_equal(s.poa_w_m2, 0.6 * poa[k])
        tc = pvlib.temperature.faiman(s.poa_w_m2, 25.0, cfg.wind_speed_m_s, cfg.faiman_u0_w_m2k, cfg.faiman_u1_w_s_m3k)
        pdc = pvlib.pvsystem.pvwatts_dc(s.poa_w_m2, tc, pv.p_dc_mw / n_blocks, cfg.gamma_pdc_per_c)
        pdc = pdc * (1.0 - cfg.dc_loss_frac)
        p_ac = pv.p_dc_mw / pv.dc_ac_ratio / n_blocks
        want = pvlib.inverter.pvwatts(pdc, p_ac / cfg.inverter_eff_nom, eta_inv_nom=cfg.inverter_eff_nom)
        np.testing.assert_allclose(s.p_avail_mw, np.clip(want, 0.0, p_ac), rtol=1e-9)


def test_recorded_poa_sets_the_enclosures_ghi_by_the_clear_sky_ratio_capped() -> None:
    p = plant(8)
    clear = p.poa_clear_w_m2
    rec = 0.5 * clear.copy()
    rec[150] = 3.0 * clear[150]  # a ratio of 3 is capped at 1.2
    rec[0] = 40.0  # night: no clear-sky POA, the cap again (clear-sky GHI is 0 there anyway)
    p.use_recorded(poa_w_m2=rec)
    assert p.ghi_w_m2(144) == pytest.approx(0.5 * p.ghi_clear_w_m2[144], rel=1e-12)
    assert p.ghi_w_m2(150) == pytest.approx(1.2 * p.ghi_clear_w_m2[150], rel=1e-12)
    assert p.ghi_w_m2(0) == pytest.approx(1.2 * p.ghi_clear_w_m2[0], abs=1e-12)
    # one value for the plant: every block sees it
    np.testing.assert_array_equal(p.step(150, 25.0).poa_w_m2, np.full(8, rec[150]))


def _pvlib_chain(
    ghi: np.ndarray, times: pd.DatetimeIndex, temp_air_c: float, site: SiteConfig, cfg: PVModelConfig
) -> tuple[np.ndarray, np.ndarray]:
    """POA and AC power per block from GHI with pvlib alone: SPA, Erbs, single-axis trackers, the sky
    model, Faiman, PVWatts DC with the DC loss derate, PVWatts inverter with pdc0 = p_ac / eta_nom."""
    loc = pvlib.location.Location(site.latitude_deg, site.longitude_deg, tz=site.timezone, altitude=site.altitude_m)
    sp = loc.get_solarposition(times)
    g = pd.Series(ghi, index=times)
    dd = pvlib.irradiance.erbs(g, sp["zenith"], times)
    trk = pvlib.tracking.singleaxis(
        sp["apparent_zenith"],
        sp["azimuth"],
        axis_tilt=cfg.axis_tilt_deg,
        axis_azimuth=cfg.axis_azimuth_deg,
        max_angle=cfg.max_angle_deg,
        backtrack=cfg.backtrack,
        gcr=cfg.gcr,
    )
    poa = pvlib.irradiance.get_total_irradiance(
        trk["surface_tilt"].fillna(0.0),
        trk["surface_azimuth"].fillna(cfg.axis_azimuth_deg + 90.0),
        sp["apparent_zenith"],
        sp["azimuth"],
        dd["dni"],
        g,
        dd["dhi"],
        dni_extra=pvlib.irradiance.get_extra_radiation(times),
        albedo=cfg.albedo,
        model=cfg.sky_model,
    )["poa_global"].to_numpy()
    poa = np.clip(np.nan_to_num(poa), 0.0, None)
    tc = pvlib.temperature.faiman(poa, temp_air_c, cfg.wind_speed_m_s, cfg.faiman_u0_w_m2k, cfg.faiman_u1_w_s_m3k)
    nb = site.pv.n_blocks
    pdc = pvlib.pvsystem.pvwatts_dc(poa, tc, site.pv.p_dc_mw / nb, cfg.gamma_pdc_per_c) * (1.0 - cfg.dc_loss_frac)
    p_ac = site.pv.p_dc_mw / site.pv.dc_ac_ratio / nb
    ac = pvlib.inverter.pvwatts(pdc, p_ac / cfg.inverter_eff_nom, eta_inv_nom=cfg.inverter_eff_nom)
    return poa, np.clip(ac, 0.0, p_ac)


def test_recorded_clear_sky_ghi_gives_the_clear_sky_poa_and_pvlibs_power() -> None:
    p = plant(8)
    times = START + pd.to_timedelta(np.arange(p.n_steps) * p.step_s, unit="s")
    loc = pvlib.location.Location(p.site.latitude_deg, p.site.longitude_deg, tz=TZ, altitude=p.site.altitude_m)
    ghi = loc.get_clearsky(times, model="ineichen")["ghi"].to_numpy()  # Ineichen at the site, as the model's clear sky
    said = p.use_recorded(ghi_w_m2=ghi)
    assert any("Erbs" in s for s in said)
    steps = [p.step(k, 30.0) for k in range(p.n_steps)]
    poa = np.array([s.poa_w_m2[0] for s in steps])
    # Around solar noon (+-3 h of the GHI maximum) within 0.5 % of the model's clear-sky POA. Not equal:
    # Erbs splits the same GHI into DNI and DHI from the clearness index alone, Ineichen from turbidity
    # and altitude; at noon the trackers lie flat and POA = GHI whatever the split, the split matters
    # more the more they tilt (15 July at the site: 0.002 % at noon, 0.3 % at +-3 h).
    hours = np.arange(p.n_steps) * p.step_s / 3600.0
    noon = np.abs(hours - hours[np.argmax(ghi)]) <= 3.0
    np.testing.assert_allclose(poa[noon], p.poa_clear_w_m2[noon], rtol=5e-3)
    # the enclosures see the recorded GHI
    assert p.ghi_w_m2(144) == ghi[144]
    # the power: an independent pvlib chain (SPA, Erbs, trackers, sky model, Faiman, PVWatts) within 1e-6
    poa_ref, ac_ref = _pvlib_chain(ghi, times, 30.0, p.site, p.config)
    np.testing.assert_allclose(poa, poa_ref, rtol=1e-9, atol=1e-9)
    avail = np.array([s.p_avail_mw for s in steps])
    np.testing.assert_allclose(avail, np.repeat(ac_ref[:, None], 8, axis=1), rtol=1e-6, atol=1e-9)
    assert 1.9 < avail.max() < 2.0  # daylight up to just below the inverters' 2 MW: the comparison is unclipped


@pytest.mark.parametrize("n_blocks", [8, 20])
def test_recorded_available_power_replaces_the_model_and_curtailment_still_caps(n_blocks: int) -> None:
    p = plant(n_blocks)
    rng = np.random.default_rng(5)
    rec = rng.uniform(0.0, 2.0, (p.n_steps, n_blocks))
    rec[10, 0] = -0.01  # inverter tare at night: set to 0 and said
    said = p.use_recorded(p_avail_mw=rec)
    assert any("1 negative recorded p_avail_mw" in s for s in said)
    lim = np.full(n_blocks, 1.0)
    lim[1] = np.nan  # no limit on block 1
    for k in (10, 100, 144, 200):
        s = p.step(k, 30.0, lim)
        want = np.maximum(rec[k], 0.0)
        np.testing.assert_array_equal(s.p_avail_mw, want)
        np.testing.assert_array_equal(s.p_mw, np.where(np.isnan(lim), want, np.minimum(want, 1.0)))
        assert np.isnan(s.poa_w_m2).all() and np.isnan(s.temp_cell_c).all()  # not known from a power record
        np.testing.assert_array_equal(p.step(k, 30.0, None).p_mw, want)
        assert p.step(k, 30.0, -1.0).p_mw.max() == 0.0


def test_a_wrong_dc_ac_ratio_shows_in_the_clipped_noon_power() -> None:
    poa = np.zeros(289)
    poa[156] = 1100.0  # noon, high irradiance (15 degC air): 2.26 MW DC a block, the inverters clip
    poa[100] = 150.0  # morning, low irradiance: no clipping
    right, wrong = plant(8, dc_ac_ratio=1.25), plant(8, dc_ac_ratio=1.5)
    for p in (right, wrong):
        p.use_recorded(poa_w_m2=poa)
    a, b = right.step(156, 15.0), wrong.step(156, 15.0)
    np.testing.assert_allclose(a.p_avail_mw, 20.0 / 1.25 / 8)  # each clipped at its own AC rating
    np.testing.assert_allclose(b.p_avail_mw, 20.0 / 1.5 / 8)
    # unclipped, the DC side is the same; only the inverter curve's load point moves (< 1 %)
    lo_a, lo_b = right.step(100, 30.0).p_avail_mw, wrong.step(100, 30.0).p_avail_mw
    np.testing.assert_allclose(lo_b, lo_a, rtol=1e-2)
    assert lo_a[0] < 20.0 / 1.5 / 8


def test_recorded_pv_inputs_are_checked() -> None:
    p = plant(8)
    n = p.n_steps
    with pytest.raises(ValueError, match="exactly one"):
        p.use_recorded(poa_w_m2=np.zeros(n), ghi_w_m2=np.zeros(n))
    with pytest.raises(ValueError, match="exactly one"):
        p.use_recorded()
    with pytest.raises(ValueError, match=r"shape \(288,\): allowed \(289, 8\)"):
        p.use_recorded(p_avail_mw=np.zeros(n - 1))
    bad = np.zeros(n)
    bad[7] = np.nan
    with pytest.raises(ValueError, match="not finite .first at step 7"):
        p.use_recorded(ghi_w_m2=bad)
    before = p.step(144, 25.0).p_avail_mw
    np.testing.assert_array_equal(plant(8).step(144, 25.0).p_avail_mw, before)  # failed calls changed nothing
    p.use_recorded(poa_w_m2=np.zeros(n))
    with pytest.raises(ValueError, match="already uses recorded poa_w_m2"):
        p.use_recorded(poa_w_m2=np.zeros(n))


# ============================================================================ data center
def datacenter(n: int = 2, *, shed: tuple[float, ...] = (0.7, 0.4, 0.0)) -> DataCenter:
    cfg = DataCenterModelConfig(
        jobs=(ConstantJobConfig(kind="constant", frac=0.85),), fine_step_s=0.01, shed_tiers_frac=shed
    )
    return DataCenter(cfg, n_units=n, it_peak_mw=1.0, start_hour=0.0, seed=7, step_s=1.0)


def test_recorded_it_is_held_and_step_means_are_the_time_weighted_means() -> None:
    ref, dc = datacenter(), datacenter()
    t = np.array([0.0, 0.25, 0.6, 1.5, 2.0])
    p = np.array([[0.5, 0.8, 0.3, 0.9, 0.4]])
    said = dc.use_recorded_it(t, p, np.array([1]))
    assert any("unit(s) 1" in s and "recorded" in s for s in said)
    # by hand: [0, 1) holds 0.5 for 0.25 s, 0.8 for 0.35 s, 0.3 for 0.4 s; [1, 2) 0.3 then 0.9, 0.5 s each
    want = [0.25 * 0.5 + 0.35 * 0.8 + 0.4 * 0.3, 0.5 * 0.3 + 0.5 * 0.9, 0.4, 0.4]
    extremes = [(0.3, 0.8), (0.3, 0.9), (0.4, 0.4), (0.4, 0.4)]
    for k in range(4):
        a, _ = ref.step(float(k), 1.0, None, 20.0, 10.0)
        b, _ = dc.step(float(k), 1.0, None, 20.0, 10.0)
        assert b.it_demand_p_mw[1] == pytest.approx(want[k], rel=1e-12)  # the meter's power: no leakage on top
        assert b.it_p_mw[1] == pytest.approx(want[k], rel=1e-12)
        assert (b.it_min_p_mw[1], b.it_max_p_mw[1]) == pytest.approx(extremes[k], rel=1e-12)
        # the unit without a record is the synthesis, bit for bit
        assert a.it_p_mw[0] == b.it_p_mw[0] and a.it_demand_p_mw[0] == b.it_demand_p_mw[0]
        assert not np.allclose(a.it_p_mw[1], b.it_p_mw[1])


def test_before_the_first_sample_the_first_is_held() -> None:
    dc = datacenter()
    dc.use_recorded_it(np.array([0.5, 10.0]), np.array([[0.2, 0.6], [0.7, 0.1]]), np.array([0, 1]))
    st, _ = dc.step(0.0, 1.0, None, 20.0, 10.0)
    np.testing.assert_allclose(st.it_p_mw, [0.2, 0.7], rtol=1e-12)


def test_the_shed_tier_caps_recorded_demand() -> None:
    dc = datacenter(shed=(0.7, 0.4, 0.0))
    dc.use_recorded_it(np.array([0.0]), np.array([[0.9], [0.9]]), np.array([0, 1]))
    st, _ = dc.step(0.0, 1.0, np.array([1, 3]), 20.0, 10.0)  # tier 1: 0.7 of peak, tier 3: 0
    np.testing.assert_allclose(st.it_demand_p_mw, [0.9, 0.9], rtol=1e-12)
    np.testing.assert_allclose(st.it_p_mw, [0.7, 0.0], atol=1e-12)
    np.testing.assert_allclose(st.shed_p_mw, [0.2, 0.9], atol=1e-12)


def test_an_it_power_cap_acts_as_the_lower_of_cap_and_tier() -> None:
    """A controller's IT cap per unit (64951 WCap over the wire): served power at most the cap, the cut counted as
    shed; the shed tier still acts where it is lower; inf is no cap."""
    dc = datacenter(shed=(0.7, 0.4, 0.0))
    dc.use_recorded_it(np.array([0.0]), np.array([[0.9], [0.9]]), np.array([0, 1]))
    st, _ = dc.step(0.0, 1.0, np.array([0, 1]), 20.0, 10.0, it_p_cap_mw=np.array([0.5, 0.8]))
    np.testing.assert_allclose(st.it_p_mw, [0.5, 0.7], atol=1e-12)  # unit 0 by its cap, unit 1 by tier 1
    np.testing.assert_allclose(st.shed_p_mw, [0.4, 0.2], atol=1e-12)
    st, _ = dc.step(1.0, 1.0, None, 20.0, 10.0, it_p_cap_mw=np.array([np.inf, np.inf]))
    np.testing.assert_allclose(st.it_p_mw, [0.9, 0.9], atol=1e-12)


def test_cooling_starts_in_the_steady_state_of_the_recorded_load() -> None:
    # Reference (as tests/unit/twin/test_cooling.py): the facility node at its set point and
    # T_coolant = T_f + (liquid_frac P_it + P_pump_c) / (eps min(m c_p)) at 1 MW peak (scale 1).
    c = CoolingConfig()
    g_cdu = c.cdu_effectiveness * min(
        c.coolant_flow_kg_s * c.coolant_cp_j_per_kg_k, c.facility_flow_kg_s * c.facility_cp_j_per_kg_k
    )
    pump_c_w = c.coolant_flow_kg_s / c.coolant_rho_kg_m3 * c.coolant_dp_kpa * 1e3 / c.pump_eff
    p_it = np.array([0.3, 0.9])
    dc = datacenter()
    dc.use_recorded_it(np.array([0.0]), p_it[:, None], np.array([0, 1]))
    dc.step(0.0, 1.0, None, 28.0, 17.0)  # the steady state is set at the first step, then one 1 s step at that load
    want = c.facility_supply_c + (c.liquid_frac * p_it * 1e6 + pump_c_w) / g_cdu
    np.testing.assert_allclose(dc.cooling.temp_coolant_c, want, atol=1e-6)


def test_no_recorded_it_is_bit_identical_and_a_refused_record_changes_nothing() -> None:
    ref, dc = datacenter(), datacenter()
    with pytest.raises(ValueError, match=r"shape \(1, 2\): allowed \(1, 3\)"):
        dc.use_recorded_it(np.array([0.0, 1.0, 2.0]), np.array([[0.5, 0.6]]), np.array([1]))
    with pytest.raises(ValueError, match="strictly increasing"):
        dc.use_recorded_it(np.array([0.0, 0.0]), np.array([[0.5, 0.6]]), np.array([1]))
    with pytest.raises(ValueError, match="distinct indices in"):
        dc.use_recorded_it(np.array([0.0]), np.array([[0.5]]), np.array([2]))
    for k in range(30):
        tier = np.array([k % 3, 0])
        a, _ = ref.step(float(k), 1.0, tier, 35.0, 18.0)
        b, _ = dc.step(float(k), 1.0, tier, 35.0, 18.0)
        for f in ("it_p_mw", "it_demand_p_mw", "it_min_p_mw", "it_max_p_mw", "gpu_temp_c", "fine_site_p_mw"):
            np.testing.assert_array_equal(getattr(b, f), getattr(a, f))
        np.testing.assert_array_equal(b.cooling.cooling_p_mw, a.cooling.cooling_p_mw)
    with pytest.raises(ValueError, match="before the data center's first step"):
        dc.use_recorded_it(np.array([0.0]), np.array([[0.5]]), np.array([1]))


# ============================================================================ ambient
def ambient() -> Ambient:
    return Ambient(AmbientModelConfig(), altitude_m=1350.0, start=START, seed=0)


@pytest.fixture(scope="module")
def psychro() -> ModuleType:
    """The PsychroLib package as users import it (its numba path), independent of the module's private copy."""
    import psychrolib

    psychrolib.SetUnitSystem(psychrolib.SI)
    return psychrolib


T_REC = np.array([0.0, 600.0, 1200.0, 1800.0])
TEMP_REC = np.array([31.0, 33.5, 35.0, 29.0])
RH_REC = np.array([0.12, 0.10, 0.35, 0.80])


def test_recorded_dry_bulb_and_rh_give_psychrolibs_wet_bulb(psychro: Any) -> None:
    amb = ambient()
    said = amb.use_recorded(T_REC, TEMP_REC, RH_REC)
    assert any("relative humidity is the recorded one" in s for s in said)
    p = amb.pressure_pa
    assert p == pytest.approx(psychro.GetStandardAtmPressure(1350.0), rel=1e-12)
    t = np.array([0.0, 300.0, 600.0, 1199.0, 1200.0, 2500.0])
    held = [0, 0, 1, 1, 2, 3]  # the last sample at or before t
    np.testing.assert_array_equal(amb.temp_c(t), TEMP_REC[held])
    np.testing.assert_array_equal(amb.rh_frac(t), RH_REC[held])
    wb = np.asarray(amb.wetbulb_c(t))
    for i, j in enumerate(held):
        want = psychro.GetTWetBulbFromRelHum(TEMP_REC[j], RH_REC[j], p)
        assert wb[i] == pytest.approx(want, abs=1e-9)
        assert amb.wetbulb_c(float(t[i])) == pytest.approx(want, abs=1e-9)  # the scalar path agrees
        assert amb.temp_c(float(t[i])) == TEMP_REC[j] and amb.rh_frac(float(t[i])) == RH_REC[j]
        # the dew point gives back the recorded RH (PsychroLib solves it to 0.001 K: RH to 1e-4)
        assert psychro.GetRelHumFromTDewPoint(TEMP_REC[j], amb.dewpoint_c(float(t[i]))) == pytest.approx(
            RH_REC[j], abs=1e-4
        )


def test_recorded_dry_bulb_alone_keeps_the_models_dew_point(psychro: Any) -> None:
    model, amb = ambient(), ambient()
    temp = np.array([30.0, 5.0])  # 5 degC is below July's model dew point (8 degC): capped there
    amb.use_recorded(np.array([0.0, 600.0]), temp, None)
    for t, tr in ((0.0, 30.0), (900.0, 5.0)):
        dew = min(float(model.dewpoint_c(t)), tr)
        assert amb.dewpoint_c(t) == dew
        assert amb.rh_frac(t) == pytest.approx(psychro.GetRelHumFromTDewPoint(tr, dew), abs=1e-12)
        assert amb.wetbulb_c(t) == pytest.approx(psychro.GetTWetBulbFromTDewPoint(tr, dew, amb.pressure_pa), abs=1e-9)
    assert amb.rh_frac(900.0) == pytest.approx(1.0)


def test_recorded_rh_alone_with_the_models_dry_bulb(psychro: Any) -> None:
    model, amb = ambient(), ambient()
    amb.use_recorded(T_REC, None, RH_REC)
    t = np.array([100.0, 1900.0])
    np.testing.assert_array_equal(amb.temp_c(t), model.temp_c(t))
    np.testing.assert_array_equal(amb.rh_frac(t), RH_REC[[0, 3]])
    for i, j in ((0, 0), (1, 3)):
        tm = float(model.temp_c(float(t[i])))
        assert amb.wetbulb_c(float(t[i])) == pytest.approx(
            psychro.GetTWetBulbFromRelHum(tm, RH_REC[j], amb.pressure_pa), abs=1e-9
        )


def test_an_override_still_forces_the_dry_bulb(psychro: Any) -> None:
    amb = ambient()
    amb.use_recorded(T_REC, TEMP_REC, RH_REC)
    amb.set_override(40.0)
    t = np.array([700.0, 1900.0])
    np.testing.assert_array_equal(amb.temp_c(t), [40.0, 40.0])
    # the air keeps the recorded humidity's dew point (from recorded dry bulb and RH), capped at 40 degC
    for ti, j in ((700.0, 1), (1900.0, 3)):
        dew = psychro.GetTDewPointFromRelHum(TEMP_REC[j], RH_REC[j])
        assert amb.dewpoint_c(ti) == pytest.approx(dew, abs=2e-3)  # both PsychroLib, NR to 0.001 K
        assert amb.rh_frac(ti) == pytest.approx(psychro.GetRelHumFromTDewPoint(40.0, dew), rel=1e-3)
        assert amb.rh_frac(ti) < RH_REC[j]  # hotter air, the same moisture: drier
    amb.set_override(None)
    np.testing.assert_array_equal(amb.temp_c(t), TEMP_REC[[1, 3]])


def test_recorded_weather_is_checked() -> None:
    amb = ambient()
    with pytest.raises(ValueError, match="neither"):
        amb.use_recorded(T_REC, None, None)
    with pytest.raises(ValueError, match="a fraction, not percent"):
        amb.use_recorded(T_REC, None, RH_REC * 100)
    with pytest.raises(ValueError, match="strictly increasing"):
        amb.use_recorded(T_REC[::-1], TEMP_REC, None)
    with pytest.raises(ValueError, match=r"\[-40, 60\] degC"):
        amb.use_recorded(T_REC, TEMP_REC + 100.0, None)
    assert amb.temp_c(0.0) == ambient().temp_c(0.0)  # refused records change nothing


# ============================================================================ fleet
def fleet(soc: float = 0.5, temp_c: float = 25.0, n_packs: int = 40) -> BatteryFleet:
    cfg = FleetModelConfig(n_packs=n_packs, soc_start_frac=soc)
    return BatteryFleet(cfg, draw_inventory(cfg, 3, 11), 3, 15.0, temp_start_c=temp_c)


def test_start_state_per_pack_with_nan_kept_and_the_window_clipped() -> None:
    f = fleet()
    n = f.inv.n_packs
    soc = np.full(n, np.nan)
    soc[:10] = np.linspace(0.2, 0.9, 10)
    soc[10], soc[11] = 0.99, 0.01  # above the window (0.95) and below it (0.05)
    temp = np.full(n, np.nan)
    temp[5:15] = 38.0
    said = f.set_start_state(soc, temp)
    assert "fleet: start SoC of 2 packs clipped to their SoC window" in said
    assert any("start SoC of 12 of 40 packs" in s for s in said)
    hi, lo = f.P[:, P_SOC_HI], f.P[:, P_SOC_LO]
    np.testing.assert_allclose(f.soc_frac[:10], np.clip(np.linspace(0.2, 0.9, 10), lo[:10], hi[:10]))
    assert f.soc_frac[10] == hi[10] and f.soc_frac[11] == 0.05
    np.testing.assert_array_equal(f.soc_frac[12:], 0.5)  # NaN: as configured
    np.testing.assert_array_equal(f.packs.soc_weak_cell_frac, f.soc_frac)
    np.testing.assert_array_equal(f.temp_c[5:15], 38.0)
    np.testing.assert_array_equal(np.r_[f.temp_c[:5], f.temp_c[15:]], 25.0)
    np.testing.assert_array_equal(f.packs.temp_max_c, f.temp_c)


def test_start_state_puts_the_packs_at_rest_on_their_ocv() -> None:
    f = one_pack(chem="NMC", soc=0.5)
    f.set_start_state(np.array([0.8]))
    ocv = float(np.interp(0.8, np.linspace(0.0, 1.0, 21), CHEMISTRIES["NMC"].ocv_v))  # the chemistry's OCV table
    assert f.packs.v_cell_max_v[0] == pytest.approx(ocv, rel=1e-12)
    assert f.packs.v_cell_min_v[0] == pytest.approx(ocv, rel=1e-12)
    assert f.packs.v_terminal_v[0] == pytest.approx(96 * ocv, rel=1e-12)


def test_start_state_equals_a_fleet_built_in_that_state_and_the_books_close() -> None:
    # everything the constructor derives from the start state is redone: the same as building the fleet there
    f, g = fleet(soc=0.5, temp_c=25.0), fleet(soc=0.7, temp_c=35.0)
    n = f.inv.n_packs
    f.set_start_state(np.full(n, 0.7), np.full(n, 35.0))
    for name in ("S", "P", "F"):
        np.testing.assert_array_equal(getattr(f, name), getattr(g, name))
    np.testing.assert_array_equal(f._e_max_start_j, g._e_max_start_j)
    assert f.stress is not None and g.stress is not None
    np.testing.assert_array_equal(f.stress.cols, g.stress.cols)  # the ageing stress starts at the new SoC
    # 600 steps at constant power: the per-pack energy books close to round-off (as tests/unit/twin/test_fleet.py)
    moved = 0.0
    for _ in range(600):
        for x in (f, g):
            x.set_ambient(30.0, 600.0)
            r = x.step(1.0, np.array([-0.6, 0.4, -0.2]))
        moved += float(np.abs(r.p_pack_mw).sum()) * 1e6
    err = f.pack_energy_balance_error_j()
    assert err.max() <= 1e-9 * moved + 1e-3, (err.max(), moved)
    np.testing.assert_array_equal(f.S, g.S)
    assert f.summary() == g.summary()


def test_start_state_only_before_the_first_step_and_checked() -> None:
    f = fleet()
    with pytest.raises(ValueError, match=r"allowed \(40,\), one value per pack"):
        f.set_start_state(np.full(39, 0.5))
    with pytest.raises(ValueError, match="none infinite"):
        f.set_start_state(temp_c=np.full(40, np.inf))
    f.step(1.0, np.zeros(3))
    with pytest.raises(ValueError, match="before its first step"):
        f.set_start_state(np.full(40, 0.5))
