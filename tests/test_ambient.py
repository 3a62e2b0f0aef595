"""Tests of twin.ambient: Reno normals, daily shape, continuity, override."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.ambient import Ambient, AmbientParams

TZ = "America/Los_Angeles"


def f_to_c(temp_f: float) -> float:
    return (temp_f - 32.0) * 5.0 / 9.0


# NOAA NCEI 1991-2020 normals, Reno Tahoe International Airport (rounded degF),
# written out independently of the module's table.
JULY_MAX_C = f_to_c(93.0)
JULY_MIN_C = f_to_c(56.0)
DEC_MAX_C = f_to_c(45.0)
DEC_MIN_C = f_to_c(23.0)


def make(start: str = "2025-07-15", seed: int = 0, **kwargs: object) -> Ambient:
    return Ambient(AmbientParams(**kwargs), start=pd.Timestamp(start, tz=TZ), seed=seed)


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
    ("kwargs", "match"),
    [
        ({"t_max_c": 99.0}, r"AmbientParams\.t_max_c=99\.0 .*\[-60\.0, 60\.0\]"),
        ({"t_max_c": 10.0, "t_min_c": 20.0}, r"AmbientParams\.t_max_c=10\.0 .*>= t_min_c=20\.0"),
        ({"hour_min": 24.0}, r"AmbientParams\.hour_min=24\.0 "),
        ({"hour_max": 4.0}, r"AmbientParams\.hour_max=4\.0 .*hour_min=5\.5"),
        ({"noise_c": -1.0}, r"AmbientParams\.noise_c=-1\.0 "),
        ({"noise_corr_s": 0.0}, r"AmbientParams\.noise_corr_s=0\.0 "),
    ],
)
def test_bad_params_raise_naming_the_field(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AmbientParams(**kwargs)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="start=.*timezone-aware"):
        Ambient(AmbientParams(), start=pd.Timestamp("2025-07-15"), seed=0)
    with pytest.raises(ValueError, match=r"t_max_c=-10\.00 < t_min_c=13\.\d\d on 2025-07-1[45]"):
        make("2025-07-15", t_max_c=-10.0)
    amb = make()
    with pytest.raises(ValueError, match="t_s=-1.0 "):
        amb.temp_c(-1.0)
    with pytest.raises(ValueError, match="temp_c=100.0 "):
        amb.set_override(100.0)
