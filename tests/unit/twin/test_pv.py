"""Tests of twin.generation.pv: PVWatts against pvlib, clear-sky yield, clouds, curtailment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from twin.config import AmbientModelConfig, PVModelConfig, PVSiteConfig, SiteConfig
from twin.generation.pv import PVPlant, PVStep, pvwatts_ac_mw
from twin.weather.ambient import Ambient

# the pilot site: latitude 39.55, longitude -119.45, 1350 m, America/Los_Angeles; 20 MWdc, DC/AC 1.25, 8 blocks
SITE = SiteConfig()
TZ = "America/Los_Angeles"


def make_plant(
    config: PVModelConfig,
    site: SiteConfig = SITE,
    *,
    start: str = "2025-07-15",
    n_steps: int = 1440,
    step_s: float = 60.0,
    seed: int = 1,
) -> PVPlant:
    return PVPlant(config, site, start=pd.Timestamp(start, tz=TZ), n_steps=n_steps, step_s=step_s, seed=seed)


def make_ambient(start: str) -> Ambient:
    return Ambient(AmbientModelConfig(), altitude_m=SITE.altitude_m, start=pd.Timestamp(start, tz=TZ), seed=0)


# ----------------------------------------------------------------- PVWatts model
def test_pvwatts_ac_mw_matches_pvlib_pvwatts_dc_and_inverter() -> None:
    # Reference: pvlib.pvsystem.pvwatts_dc (PVWatts v5 eq. 7) times the DC
    # derate, then pvlib.inverter.pvwatts (eqs. 8-9) with the inverter DC input
    # limit pdc0 = p_ac_max / eta_nom. Tolerance 1e-9 relative (atol 1e-12 MW
    # covers values at the inverter's zero crossing, which both clip to 0).
    poa, tc = np.meshgrid(np.linspace(0.0, 1400.0, 141), np.linspace(-25.0, 85.0, 45))
    for p_dc_mw, gamma, loss, p_ac_max_mw, eta in [
        (2.5, -0.0035, 0.10, 2.0, 0.985),
        (1.0, -0.0045, 0.0, 1.0 / 1.4, 0.96),
        (3.0, -0.002, 0.2, 3.0, 0.97),
    ]:
        got = pvwatts_ac_mw(poa, tc, p_dc_mw, gamma, loss, p_ac_max_mw, eta)
        pdc = pvlib.pvsystem.pvwatts_dc(poa, tc, p_dc_mw, gamma) * (1.0 - loss)
        want = pvlib.inverter.pvwatts(pdc, p_ac_max_mw / eta, eta_inv_nom=eta)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        assert got.max() <= p_ac_max_mw
        assert got.min() >= 0.0


def test_step_uses_pvwatts_and_faiman() -> None:
    # step() inlines the arithmetic for speed: it must agree with
    # pvwatts_ac_mw and with pvlib.temperature.faiman (Faiman 2008).
    for n_blocks in (8, 20):  # 8: Python-float path, 20: numpy path
        p = PVModelConfig()
        site = SiteConfig(pv=PVSiteConfig(n_blocks=n_blocks))
        plant = make_plant(p, site, n_steps=720, step_s=120.0)
        for k in range(0, plant.n_steps, 7):
            ta = -5.0 + 40.0 * k / plant.n_steps
            s = plant.step(k, ta, None)
            assert isinstance(s, PVStep)
            want_poa = plant.poa_clear_w_m2[k] * plant.cloud_frac[:, k]
            np.testing.assert_allclose(s.poa_w_m2, want_poa, rtol=1e-12, atol=1e-9)
            want_tc = pvlib.temperature.faiman(s.poa_w_m2, ta, p.wind_speed_m_s, p.faiman_u0_w_m2k, p.faiman_u1_w_s_m3k)
            np.testing.assert_allclose(s.temp_cell_c, want_tc, rtol=1e-12, atol=1e-9)
            want_ac = pvwatts_ac_mw(
                s.poa_w_m2,
                s.temp_cell_c,
                site.pv.p_dc_mw / n_blocks,
                p.gamma_pdc_per_c,
                p.dc_loss_frac,
                plant.p_ac_max_mw,
                p.inverter_eff_nom,
            )
            np.testing.assert_allclose(s.p_avail_mw, want_ac, rtol=1e-9, atol=1e-12)
            np.testing.assert_array_equal(s.p_mw, s.p_avail_mw)


# ----------------------------------------------------------------- clear-sky yield
def _daily_dc_kwh_per_kwdc(start: str) -> tuple[float, PVPlant, list[PVStep]]:
    """DC energy per kWdc before losses: pvwatts_dc at the Faiman cell temperature,
    ambient from the Reno normals, before DC losses and the inverter."""
    p = PVModelConfig(cloud_mode="clear")
    plant = make_plant(p, start=start, n_steps=1440, step_s=60.0)
    amb = make_ambient(start)
    steps = [plant.step(k, amb.temp_c(k * 60.0), None) for k in range(plant.n_steps)]
    poa = np.array([s.poa_w_m2[0] for s in steps])
    tc = np.array([s.temp_cell_c[0] for s in steps])
    p_dc_kw_per_kwdc = pvlib.pvsystem.pvwatts_dc(poa, tc, 1.0, p.gamma_pdc_per_c)
    return float(p_dc_kw_per_kwdc.sum() * 60.0 / 3600.0), plant, steps


def test_clear_sky_july_yield_and_ac_rating() -> None:
    # Site notes (shared/design/SITE.md): single-axis at this site yields about
    # 9.6 kWh/kWdc/day on 21 June under clear sky; mid-July must lie in 8-11.
    e_kwh_per_kwdc, plant, steps = _daily_dc_kwh_per_kwdc("2025-07-15")
    assert 8.0 <= e_kwh_per_kwdc <= 11.0, e_kwh_per_kwdc
    avail = np.array([s.p_avail_mw for s in steps])
    assert np.all(avail <= plant.p_ac_max_mw + 1e-12)
    assert np.all(avail >= 0.0)
    # night is dark: 00:00-03:00 local
    assert np.all(avail[:180] == 0.0)
    np.testing.assert_allclose(plant.p_ac_max_mw, 20.0 / 1.25 / 8)


def test_clear_sky_december_yield() -> None:
    # Site notes: about 4.0 kWh/kWdc/day on 21 December, clear sky; band 3-5.5.
    e_kwh_per_kwdc, _, _ = _daily_dc_kwh_per_kwdc("2025-12-21")
    assert 3.0 <= e_kwh_per_kwdc <= 5.5, e_kwh_per_kwdc


def test_clipping_at_july_noon() -> None:
    # With the defaults (DC/AC 1.25, 10 % DC loss, July normals, 1 m/s wind)
    # the DC power at noon is about 0.78 p_dc, just under the inverter input
    # limit p_dc/1.25/0.985 = 0.81 p_dc, so clipping is shown with DC/AC 1.4
    # (a common utility ratio): the inverter input limit is then 0.725 p_dc.
    plant = make_plant(PVModelConfig(cloud_mode="clear"), SiteConfig(pv=PVSiteConfig(dc_ac_ratio=1.4)))
    amb = make_ambient("2025-07-15")
    k_noon = 13 * 60 + 5  # solar noon is about 13:05 PDT at 119.45 W in mid-July
    s = plant.step(k_noon, amb.temp_c(k_noon * 60.0), None)
    np.testing.assert_allclose(s.p_avail_mw, plant.p_ac_max_mw, rtol=1e-12)
    avail = np.array([plant.step(k, amb.temp_c(k * 60.0), None).p_avail_mw for k in range(plant.n_steps)])
    assert avail.max() <= plant.p_ac_max_mw[0] * (1 + 1e-12)
    assert np.sum(avail[:, 0] >= plant.p_ac_max_mw[0] * (1 - 1e-12)) > 30  # a clipped plateau


# ----------------------------------------------------------------- clouds
def test_clouds_deterministic_per_seed() -> None:
    a = make_plant(PVModelConfig(), n_steps=7200, step_s=1.0, seed=7)
    b = make_plant(PVModelConfig(), n_steps=7200, step_s=1.0, seed=7)
    c = make_plant(PVModelConfig(), n_steps=7200, step_s=1.0, seed=8)
    np.testing.assert_array_equal(a.cloud_frac, b.cloud_frac)
    np.testing.assert_array_equal(a.step(3000, 25.0, None).p_mw, b.step(3000, 25.0, None).p_mw)
    assert not np.array_equal(a.cloud_frac, c.cloud_frac)
    assert a.cloud_frac.shape == (8, 7200)
    with pytest.raises(ValueError, match="read-only"):
        a.cloud_frac[0, 0] = 0.5


def test_partly_cloudy_shaded_fraction_and_mean() -> None:
    p = PVModelConfig(cloud_cover_frac=0.25, cloud_transmission_frac=0.3)
    plant = make_plant(p, n_steps=5 * 8640, step_s=10.0, seed=3)
    cf = plant.cloud_frac
    assert cf.min() >= p.cloud_transmission_frac - 1e-12
    assert cf.max() <= 1.0 + 1e-12
    # shaded = below the mid-depth; the box-filtered edges cross it at the edge time
    shaded_frac = (cf < 0.5 * (1.0 + p.cloud_transmission_frac)).mean(axis=1)
    assert np.all(np.abs(shaded_frac - p.cloud_cover_frac) <= 0.07), shaded_frac
    # the ramp filter keeps the mean: E[transmission] = 1 - (1 - tau) f
    assert abs(cf.mean() - (1.0 - (1.0 - 0.3) * 0.25)) <= 0.05


def test_cloud_field_moves_across_blocks() -> None:
    p = PVModelConfig(cloud_speed_block_lag_s=15.0)
    plant = make_plant(p, n_steps=4 * 3600, step_s=1.0, seed=11)
    cf = plant.cloud_frac
    x0 = cf[0] - cf[0].mean()
    for k in (1, 3, 7):
        xk = cf[k] - cf[k].mean()
        lags = np.arange(0, 200)
        xc = [np.dot(x0[: len(x0) - lag], xk[lag:]) for lag in lags]
        assert lags[int(np.argmax(xc))] == k * 15
        # the same pattern, delayed: block k at t equals block 0 at t - k * lag
        np.testing.assert_allclose(cf[k, k * 15 :], cf[0, : -k * 15], atol=1e-12)


def test_cloud_ramps_bounded_by_ramp_time() -> None:
    # A shadow edge is a linear ramp of cloud_ramp_s: |d transmission/dt| <= (1 - tau)/ramp_s.
    for ramp_s, tau in ((20.0, 0.3), (5.0, 0.1)):
        p = PVModelConfig(cloud_ramp_s=ramp_s, cloud_transmission_frac=tau, cloud_cover_frac=0.4)
        plant = make_plant(p, n_steps=6 * 3600, step_s=1.0, seed=5)
        rate_per_s = np.abs(np.diff(plant.cloud_frac, axis=1)).max() / plant.step_s
        assert rate_per_s <= (1.0 - tau) / ramp_s + 1e-9
        assert rate_per_s >= 0.9 * (1.0 - tau) / ramp_s  # full-depth edges do occur


def test_clear_and_overcast_modes() -> None:
    clear = make_plant(PVModelConfig(cloud_mode="clear"), n_steps=600, step_s=1.0)
    np.testing.assert_array_equal(clear.cloud_frac, 1.0)
    p = PVModelConfig(cloud_mode="overcast", cloud_transmission_frac=0.3, overcast_variation_frac=0.05)
    over = make_plant(p, n_steps=86400, step_s=1.0, seed=2)
    cf = over.cloud_frac
    assert abs(cf.mean() - 0.3) <= 0.03
    assert 0.0 < cf.std() <= 0.1
    np.testing.assert_array_equal(over.clear_sky_fraction(100), cf[:, 100])


# ----------------------------------------------------------------- curtailment
_CURTAIL_PLANT = make_plant(PVModelConfig(), seed=4)  # stateless: step() does not mutate the plant


@settings(max_examples=60, deadline=None, database=None)  # no example database in the tree
@given(
    k=st.integers(min_value=0, max_value=1439),
    temp_air_c=st.floats(min_value=-20.0, max_value=45.0),
    limits=st.lists(st.floats(min_value=-1.0, max_value=3.0), min_size=8, max_size=8),
)
def test_curtailment_is_min_of_avail_and_limit(k: int, temp_air_c: float, limits: list[float]) -> None:
    plant = _CURTAIL_PLANT
    lim = np.array(limits)
    s = plant.step(k, temp_air_c, lim)
    np.testing.assert_array_equal(s.p_mw, np.maximum(np.minimum(s.p_avail_mw, lim), 0.0))
    assert np.all(s.p_mw >= 0.0)
    np.testing.assert_array_equal(s.p_avail_mw, plant.step(k, temp_air_c, None).p_avail_mw)


def test_curtailment_scalar_and_bad_shape() -> None:
    plant = make_plant(PVModelConfig(cloud_mode="clear"))
    s = plant.step(780, 30.0, 0.5)
    np.testing.assert_array_equal(s.p_mw, np.minimum(s.p_avail_mw, 0.5))
    assert s.p_avail_mw.min() > 0.5
    with pytest.raises(ValueError, match=r"p_limit_mw has shape \(3,\)"):
        plant.step(780, 30.0, np.ones(3))
    with pytest.raises(IndexError, match="out of range"):
        plant.step(plant.n_steps, 30.0, None)


def test_step_outputs_are_fresh_arrays() -> None:
    plant = make_plant(PVModelConfig(cloud_mode="clear"))
    a = plant.step(780, 30.0, None)
    before = a.p_avail_mw.copy()
    b = plant.step(781, 10.0, None)
    b.p_mw[:] = -1.0
    np.testing.assert_array_equal(a.p_avail_mw, before)


# ----------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"gcr": 1.2}, "gcr"),
        ({"max_angle_deg": 95.0}, "max_angle_deg"),
        ({"axis_tilt_deg": 90.0}, "axis_tilt_deg"),  # [0, 90): a vertical axis is not a single-axis tracker
        ({"gamma_pdc_per_c": 0.004}, "gamma_pdc_per_c"),
        ({"inverter_eff_nom": 1.2}, "inverter_eff_nom"),
        ({"inverter_eff_nom": 0.8}, "inverter_eff_nom"),  # (0.8, 1]
        ({"dc_loss_frac": 0.5}, "dc_loss_frac"),  # [0, 0.5)
        ({"cloud_mode": "partly_cloud"}, "cloud_mode"),
        ({"cloud_cover_frac": 1.5}, "cloud_cover_frac"),
        ({"cloud_transmission_frac": -0.1}, "cloud_transmission_frac"),
        ({"cloud_mean_duration_s": 0.0}, "cloud_mean_duration_s"),
        ({"cloud_mean_duration_s": float("inf")}, "cloud_mean_duration_s"),  # numbers must be finite
        ({"cloud_ramp_s": float("nan")}, "cloud_ramp_s"),
        ({"cloud_speed_block_lag_s": -1.0}, "cloud_speed_block_lag_s"),
        ({"sky_model": "perez"}, "sky_model"),
        ({"backtrack": "yes please"}, "backtrack"),
        ({"axis_tilt": 10.0}, "axis_tilt"),  # unknown keys are errors
    ],
)
def test_bad_config_names_the_field(kwargs: dict, field: str) -> None:
    """The plant takes its config table: the table's fields and ranges are the only checks."""
    with pytest.raises(ValidationError) as ei:
        PVModelConfig(**kwargs)
    assert [e["loc"] for e in ei.value.errors()] == [(field,)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"p_dc_mw": 0.0}, "p_dc_mw"), ({"dc_ac_ratio": 0.1}, "dc_ac_ratio"), ({"n_blocks": 0}, "n_blocks")],
)
def test_bad_plant_size_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as ei:
        PVSiteConfig(**kwargs)
    assert [e["loc"] for e in ei.value.errors()] == [(field,)]
    with pytest.raises(ValidationError, match="integer"):
        PVSiteConfig(n_blocks=2.5)  # type: ignore[arg-type]


def test_tilted_axis_and_sharp_cloud_edges_are_accepted() -> None:
    # the ranges of one definition: tilts up to below 90 deg, a cloud edge of no ramp (a step)
    steep = make_plant(PVModelConfig(cloud_mode="clear", axis_tilt_deg=60.0), n_steps=1440, step_s=60.0)
    flat = make_plant(PVModelConfig(cloud_mode="clear"), n_steps=1440, step_s=60.0)
    assert steep.poa_clear_w_m2.max() > 0.0 and not np.allclose(steep.poa_clear_w_m2, flat.poa_clear_w_m2)
    sharp = make_plant(PVModelConfig(cloud_ramp_s=0.0, cloud_cover_frac=0.4), n_steps=3600, step_s=1.0, seed=5)
    assert set(np.unique(sharp.cloud_frac).round(12)) <= {0.3, 1.0}


def test_bad_plant_arguments() -> None:
    with pytest.raises(ValueError, match="start=.*timezone-aware"):
        PVPlant(PVModelConfig(), SITE, start=pd.Timestamp("2025-07-15"), n_steps=10, step_s=1.0, seed=0)
    with pytest.raises(ValueError, match="n_steps=0 "):
        make_plant(PVModelConfig(), n_steps=0)
    with pytest.raises(ValueError, match="step_s=-1.0 "):
        make_plant(PVModelConfig(), step_s=-1.0)
    with pytest.raises(TypeError, match=r"config must be a twin\.config\.PVModelConfig"):
        make_plant({})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"site must be a twin\.config\.SiteConfig"):
        make_plant(PVModelConfig(), SITE.pv)  # type: ignore[arg-type]
