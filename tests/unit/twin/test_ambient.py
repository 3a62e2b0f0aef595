"""Tests of twin.weather.ambient: Reno normals, daily shape, continuity, override, humidity, heat wave."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from adapters.io.scenario_file import load_scenario
from tests.conftest import SCENARIOS, write_scenario
from twin.config import AmbientModelConfig, SiteConfig
from twin.errors import ScenarioFileError
from twin.weather.ambient import Ambient

TZ = "America/Los_Angeles"


def f_to_c(temp_f: float) -> float:
    return (temp_f - 32.0) * 5.0 / 9.0


# NOAA NCEI 1991-2020 normals, Reno Tahoe International Airport (rounded degF),
# written out independently of the module's table.
JULY_MAX_C = f_to_c(93.0)
JULY_MIN_C = f_to_c(56.0)
DEC_MAX_C = f_to_c(45.0)
DEC_MIN_C = f_to_c(23.0)


def make(start: str = "2025-07-15", seed: int = 0, altitude_m: float = 1350.0, **kwargs: object) -> Ambient:
    """The model as build_site makes it: its config table as is, plus the site's altitude."""
    cfg = AmbientModelConfig.model_validate(kwargs)
    return Ambient(cfg, altitude_m=altitude_m, start=pd.Timestamp(start, tz=TZ), seed=seed)


def test_july_extremes_at_hour_min_and_hour_max() -> None:
    amb = make("2025-07-15")
    assert abs(amb.temp_c(5.5 * 3600.0) - JULY_MIN_C) <= 0.05
    assert abs(amb.temp_c(15.5 * 3600.0) - JULY_MAX_C) <= 0.05
    t = np.arange(0.0, 86400.0, 1.0)
    temp = amb.temp_c(t)
    assert abs(temp.max() - JULY_MAX_C) <= 0.05
    assert abs(t[np.argmax(temp)] / 3600.0 - 15.5) <= 0.01
    # the minimum of the calendar day is at hour_min (next morning's min is later)
    assert abs(temp[: 12 * 3600].min() - JULY_MIN_C) <= 0.05


def test_month_normal_without_interpolation_and_december() -> None:
    amb = make("2025-07-01", interpolate_normals=False)
    assert abs(amb.temp_c(15.5 * 3600.0) - JULY_MAX_C) <= 0.05
    assert abs(amb.temp_c(5.5 * 3600.0) - JULY_MIN_C) <= 0.05
    dec = make("2025-12-15")
    assert abs(dec.temp_c(15.5 * 3600.0) - DEC_MAX_C) <= 0.05
    assert abs(dec.temp_c(5.5 * 3600.0) - DEC_MIN_C) <= 0.05


def test_interpolated_normals_between_months() -> None:
    # 1 August lies between the 15 July and 15 August anchors.
    amb = make("2025-08-01")
    t_max = amb.temp_c(15.5 * 3600.0)
    assert f_to_c(91.0) < t_max < f_to_c(93.0)


def test_profile_continuous_over_days_and_month_ends() -> None:
    for start in ("2025-07-15", "2025-07-30 10:17", "2025-12-30"):
        amb = make(start)
        t = np.arange(0.0, 3 * 86400.0 + 1.0, 1.0)
        temp = amb.temp_c(t)
        assert np.abs(np.diff(temp)).max() <= 0.01
        assert np.all(np.isfinite(temp))


def test_scalar_and_array_paths_agree() -> None:
    amb = make("2025-03-10 13:45", noise_c=1.5, seed=4)
    t = np.linspace(0.0, 10 * 86400.0, 977)
    vec = amb.temp_c(t)
    scalar = np.array([amb.temp_c(float(x)) for x in t])
    np.testing.assert_allclose(scalar, vec, rtol=0, atol=1e-9)
    assert isinstance(amb.temp_c(100.0), float)


def test_explicit_extremes() -> None:
    amb = make("2025-07-15", t_max_c=40.0, t_min_c=20.0)
    assert amb.temp_c(15.5 * 3600.0) == pytest.approx(40.0, abs=1e-9)
    assert amb.temp_c(5.5 * 3600.0) == pytest.approx(20.0, abs=1e-9)
    temp = amb.temp_c(np.arange(0.0, 2 * 86400.0, 60.0))
    assert temp.min() >= 20.0 - 1e-9 and temp.max() <= 40.0 + 1e-9


def test_override_works_and_clears() -> None:
    amb = make()
    base = amb.temp_c(50000.0)
    amb.set_override(42.0)
    assert amb.temp_c(50000.0) == 42.0
    np.testing.assert_array_equal(amb.temp_c(np.array([0.0, 1.0, 9e5])), 42.0)
    assert amb.override_c == 42.0
    amb.set_override(None)
    assert amb.temp_c(50000.0) == base
    assert amb.override_c is None


def test_noise_seeded_slow_and_sized() -> None:
    t = np.arange(0.0, 30 * 86400.0, 60.0)
    plain = make("2025-07-15").temp_c(t)
    a = make("2025-07-15", noise_c=1.0, seed=1).temp_c(t)
    b = make("2025-07-15", noise_c=1.0, seed=1).temp_c(t)
    c = make("2025-07-15", noise_c=1.0, seed=2).temp_c(t)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    dev = a - plain
    assert 0.75 <= dev.std() <= 1.25  # stationary std = noise_c (OU, 360 correlation times)
    # slow: OU correlation time noise_corr_s = 2 h, so the 1 h autocorrelation is exp(-0.5) = 0.61
    lag = 60
    rho = np.corrcoef(dev[:-lag], dev[lag:])[0, 1]
    assert 0.4 <= rho <= 0.8, rho
    assert np.abs(np.diff(a)).max() <= 0.6  # continuous: degC per minute


@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        ({"t_max_c": 99.0}, "t_max_c", r"less than or equal to 60"),
        ({"t_max_c": 10.0, "t_min_c": 20.0}, "", r"t_max_c \(10\) must not be below t_min_c \(20\)"),
        ({"hour_min": 24.0}, "hour_min", r"less than 24"),
        ({"hour_max": 4.0}, "", r"hour_max \(4\) must be after hour_min \(5\.5\)"),
        ({"noise_c": -1.0}, "noise_c", r"greater than or equal to 0"),
        ({"noise_corr_s": 0.0}, "noise_corr_s", r"greater than 0"),
        ({"dewpoint_c": 45.0}, "dewpoint_c", r"less than or equal to 35"),
        ({"heatwave_dewpoint_c": float("nan")}, "heatwave_dewpoint_c", r"finite number"),
        ({"heatwave_t_max_c": 75.0}, "heatwave_t_max_c", r"less than or equal to 60"),
        ({"heatwave_t_max_c": 20.0}, "", r"heatwave_t_max_c \(20\) must not be below heatwave_t_min_c \(22\)"),
        ({"heatwave": True, "t_max_c": 15.0}, "", r"with heatwave the daily max \(15\) must not be below .* \(22\)"),
        ({"heatwave": "maybe"}, "heatwave", r"valid boolean"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict, field: str, match: str) -> None:
    """The model takes its config table: the table's fields and ranges are the only checks."""
    with pytest.raises(ValidationError, match=match) as ei:
        AmbientModelConfig(**kwargs)
    (err,) = ei.value.errors()
    assert err["loc"] == ((field,) if field else ())


def test_altitude_range_is_the_site_table_s() -> None:
    with pytest.raises(ValidationError, match=r"altitude_m\n.*less than or equal to 6000"):
        SiteConfig(altitude_m=9000.0)
    with pytest.raises(TypeError, match=r"config must be a twin\.config\.AmbientModelConfig, got dict"):
        Ambient({}, altitude_m=0.0, start=pd.Timestamp("2025-07-15", tz=TZ), seed=0)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="start=.*timezone-aware"):
        Ambient(AmbientModelConfig(), altitude_m=1350.0, start=pd.Timestamp("2025-07-15"), seed=0)
    with pytest.raises(ValueError, match=r"t_max_c=-10\.00 < t_min_c=13\.\d\d on 2025-07-1[45]"):
        make("2025-07-15", t_max_c=-10.0)
    amb = make()
    with pytest.raises(ValueError, match="t_s=-1.0 "):
        amb.temp_c(-1.0)
    with pytest.raises(ValueError, match="temp_c=100.0 "):
        amb.set_override(100.0)


# ---------------------------------------------------------------- humidity
H = 3600.0


def test_wetbulb_at_sea_level_matches_the_psychrometric_chart() -> None:
    # ASHRAE Handbook - Fundamentals psychrometric chart No. 1 (sea level, 101.325 kPa):
    # 30 degC dry bulb, 50 % RH: dew point 18.4 degC, wet bulb 22.0 degC.
    amb = make(t_max_c=30.0, t_min_c=30.0, dewpoint_c=18.4, altitude_m=0.0)
    assert amb.pressure_pa == pytest.approx(101325.0, abs=1.0)
    assert amb.wetbulb_c(12 * H) == pytest.approx(22.0, abs=0.3)
    assert amb.rh_frac(12 * H) == pytest.approx(0.50, abs=0.01)


def test_site_pressure_lowers_the_wet_bulb() -> None:
    # Standard atmosphere (ASHRAE Fundamentals 2017 ch. 1 eq. 3), written out here:
    # p = 101.325 kPa * (1 - 2.25577e-5 h)^5.2559 -> 86.1 kPa at 1,350 m.
    p_site = 101325.0 * (1.0 - 2.25577e-5 * 1350.0) ** 5.2559
    sea = make(t_max_c=30.0, t_min_c=30.0, dewpoint_c=10.0, altitude_m=0.0)
    site = make(t_max_c=30.0, t_min_c=30.0, dewpoint_c=10.0)  # default altitude 1,350 m
    assert site.pressure_pa == pytest.approx(p_site, rel=1e-4)
    wb_sea, wb_site = sea.wetbulb_c(12 * H), site.wetbulb_c(12 * H)
    # same vapour content per volume, thinner air: more evaporative cooling, a slightly lower wet bulb
    assert 0.2 < wb_sea - wb_site < 1.5, (wb_sea, wb_site)
    assert site.rh_frac(12 * H) == pytest.approx(sea.rh_frac(12 * H), abs=1e-12)  # RH = p_w(Td) / p_ws(T)

    # Independent check at the site pressure: the wet bulb closes the ASHRAE adiabatic-saturation
    # balance (Fundamentals 2017 ch. 1 eq. 35) with Magnus saturation pressures (Alduchov &
    # Eskridge 1996), W = ((2501 - 2.326 t*) W*s - 1.006 (t - t*)) / (2501 + 1.86 t - 4.186 t*).
    def p_ws(t: float) -> float:
        return 610.94 * math.exp(17.625 * t / (t + 243.04))

    def hum_ratio(p_w: float) -> float:
        return 0.621945 * p_w / (p_site - p_w)

    t, ts = 30.0, wb_site
    w = hum_ratio(p_ws(10.0))
    w_balance = ((2501.0 - 2.326 * ts) * hum_ratio(p_ws(ts)) - 1.006 * (t - ts)) / (2501.0 + 1.86 * t - 4.186 * ts)
    # dW/dt* is about 0.6 g/kg per K here: 0.06 g/kg is 0.1 K of wet bulb
    assert abs(w_balance - w) < 6e-5, (w_balance, w)


def test_humidity_orderings_over_a_year_hourly() -> None:
    amb = make("2025-01-01")
    t = np.arange(0.0, 365 * 86400.0, H)
    temp, dew, wb, rh = amb.temp_c(t), amb.dewpoint_c(t), amb.wetbulb_c(t), amb.rh_frac(t)
    assert wb.shape == t.shape and rh.shape == t.shape
    assert np.all(wb <= temp + 1e-9)
    assert np.all(dew <= wb + 1e-3)  # psychrolib's iteration tolerance is 0.001 K
    assert np.all((rh > 0.0) & (rh <= 1.0))
    # seasons: the dry bulb-wet bulb depression (what adiabatic pre-cooling can use) is largest in summer
    month = pd.DatetimeIndex(amb.start + pd.to_timedelta(t, unit="s")).month
    dep = temp - wb
    assert dep[month == 7].max() > 12.0 and dep[month == 1].max() < 8.0
    # scalar and array paths agree
    for k in (0, 4000, 8759):
        assert amb.wetbulb_c(float(t[k])) == pytest.approx(wb[k], abs=1e-12)
        assert isinstance(amb.rh_frac(float(t[k])), float)


def test_dewpoint_capped_at_the_dry_bulb() -> None:
    # a cold night under a moist air mass: the air saturates (RH = 1, fog) instead of RH > 1
    amb = make(t_max_c=15.0, t_min_c=0.0, dewpoint_c=5.0)
    t = np.arange(0.0, 86400.0, 600.0)
    temp, dew, wb, rh = amb.temp_c(t), amb.dewpoint_c(t), amb.wetbulb_c(t), amb.rh_frac(t)
    sat = temp < 5.0
    assert sat.any() and (~sat).any()
    np.testing.assert_allclose(dew[sat], temp[sat], atol=1e-12)
    np.testing.assert_allclose(rh[sat], 1.0, atol=1e-9)
    np.testing.assert_allclose(wb[sat], temp[sat], atol=2e-3)  # saturated air: wet bulb = dry bulb
    np.testing.assert_allclose(dew[~sat], 5.0, atol=1e-12)
    assert np.all(rh[~sat] < 1.0)


def test_july_15_normal_day_wet_bulb_and_rh() -> None:
    # site notes: "summer wet bulb about 17-19 degC"; dry bulb max = NOAA July normal 93 degF
    amb = make("2025-07-15")
    t = np.arange(0.0, 86400.0, 300.0)
    temp, wb, rh = amb.temp_c(t), amb.wetbulb_c(t), amb.rh_frac(t)
    k_max = int(np.argmax(temp))
    assert abs(temp[k_max] - JULY_MAX_C) <= 0.05
    assert 16.5 <= wb[k_max] <= 19.0, wb[k_max]
    assert 16.5 <= wb.max() <= 19.0
    # nearly constant dew point: RH is lowest at the afternoon maximum, highest at the dawn minimum
    assert abs(t[np.argmin(rh)] / H - 15.5) <= 0.5
    assert abs(t[np.argmax(rh)] / H - 5.5) <= 0.5
    assert rh.min() < 0.3 < rh.max() < 1.0
    # dry desert air: the afternoon wet bulb is far below the dry bulb
    assert temp[k_max] - wb[k_max] > 12.0


def test_override_moves_wet_bulb_and_rh_with_the_same_dew_point() -> None:
    amb = make("2025-07-15")
    t = 15.5 * H
    dew, wb, rh = amb.dewpoint_c(t), amb.wetbulb_c(t), amb.rh_frac(t)
    amb.set_override(42.0)
    assert amb.dewpoint_c(t) == dew
    assert amb.wetbulb_c(t) > wb and amb.rh_frac(t) < rh  # hotter, same moisture: drier, higher wet bulb
    amb.set_override(dew - 3.0)  # forced below the dew point: saturated at the forced temperature
    assert amb.dewpoint_c(t) == dew - 3.0
    assert amb.rh_frac(t) == pytest.approx(1.0, abs=1e-9)
    assert amb.wetbulb_c(t) == pytest.approx(dew - 3.0, abs=2e-3)
    np.testing.assert_allclose(amb.rh_frac(np.array([0.0, t])), 1.0, atol=1e-9)
    amb.set_override(None)
    assert amb.wetbulb_c(t) == wb


def test_heatwave_day() -> None:
    amb = make("2025-07-15", heatwave=True)
    t = np.arange(0.0, 2 * 86400.0, 60.0)
    temp = amb.temp_c(t)
    assert abs(amb.temp_c(15.5 * H) - 42.0) <= 0.05  # Reno record high
    assert abs(amb.temp_c(5.5 * H) - 22.0) <= 0.05
    assert abs(temp.max() - 42.0) <= 0.05 and abs(temp.min() - 22.0) <= 0.05
    assert abs(t[np.argmax(temp[:1440])] / H - 15.5) <= 0.02
    wb_max = amb.wetbulb_c(15.5 * H)
    assert 19.0 <= wb_max <= 21.5, wb_max
    assert amb.rh_frac(15.5 * H) < 0.15  # very dry heat
    # the heat wave's day is hotter and its wet bulb higher than the normal 15 July
    assert wb_max > make("2025-07-15").wetbulb_c(15.5 * H)
    # explicit values win over the heat wave's
    mixed = make("2025-07-15", heatwave=True, t_max_c=40.0, dewpoint_c=0.0)
    assert mixed.temp_c(15.5 * H) == pytest.approx(40.0, abs=1e-9)
    assert mixed.temp_c(5.5 * H) == pytest.approx(22.0, abs=1e-9)
    assert mixed.dewpoint_c(15.5 * H) == 0.0


def test_the_model_takes_its_config_table() -> None:
    # twin/site.py builds Ambient(models.ambient, altitude_m=site.altitude_m, ...): the table as is
    cfg = AmbientModelConfig(heatwave=True, dewpoint_c=5.0)
    amb = Ambient(cfg, altitude_m=1350.0, start=pd.Timestamp("2025-07-15", tz=TZ), seed=0)
    assert amb.config is cfg and amb.altitude_m == 1350.0
    assert amb.temp_c(15.5 * H) == pytest.approx(42.0, abs=0.05) and amb.dewpoint_c(15.5 * H) == 5.0


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (
            "heatwave = true\nheatwave_t_max_c = 70",
            r"models\.ambient\.heatwave_t_max_c = 70: Input should be less than or equal to 60",
        ),
        ("dewpoint_c = 50", r"models\.ambient\.dewpoint_c = 50: Input should be less than or equal to 35"),
        (
            "heatwave_t_max_c = 20",
            r"models\.ambient = .*heatwave_t_max_c \(20\) must not be below heatwave_t_min_c \(22\)",
        ),
    ],
)
def test_scenario_rejects_bad_humidity_and_heatwave_values(tmp_path, table: str, match: str) -> None:
    good = (SCENARIOS / "pilot-1h.toml").read_text()
    bad = write_scenario(tmp_path, "amb", good + "\n[models.ambient]\n" + table + "\n")
    with pytest.raises(ScenarioFileError, match=match):
        load_scenario(bad)
