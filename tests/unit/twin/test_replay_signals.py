"""Field-data helpers of the twin: units, the signal catalogue and resampling (twin/replay/)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.config import SiteConfig
from twin.replay.resample import gap_mask, resample_hold, resample_mean
from twin.replay.signals import resolve_signal
from twin.replay.units import alternatives, conversion

SITE = SiteConfig()


def test_conversions() -> None:
    assert conversion("kW", "MW") == (1e-3, 0.0)
    assert conversion("", "MW") == (1.0, 0.0)
    f, off = conversion("degF", "degC")
    assert f * 212.0 + off == pytest.approx(100.0)
    f, off = conversion("K", "degC")
    assert f * 273.15 + off == pytest.approx(0.0)
    assert conversion("%", "frac") == (0.01, 0.0)
    assert conversion("°C", "degC") == (1.0, 0.0)
    with pytest.raises(ValueError, match="did you mean 'kW'"):
        conversion("kw", "MW")
    with pytest.raises(ValueError, match="power units"):
        conversion("degC", "MW")
    assert alternatives("MW") == {"MW": 1.0, "W": 1e-6, "kW": 1e-3, "GW": 1e3}


def test_signals_resolve_with_units_bounds_and_targets() -> None:
    s = resolve_signal("pv_b03_poa_w_m2", SITE, "input")
    assert (s.target, s.index, s.unit, s.resample) == ("pv_poa", 3, "W/m2", "mean")
    s = resolve_signal("spark_u02_it_p_mw", SITE, "input")
    assert (s.target, s.index, s.rating) == ("it", 2, SITE.spark.it_peak_mw)
    s = resolve_signal("bess_b07_p_mw", SITE, "compare")
    assert s.rating == SITE.bess.block_inverter_mva and s.bounds[0] < 0  # a battery block charges and discharges
    s = resolve_signal("pv_p_mw", SITE, "compare")
    assert s.rating == pytest.approx(SITE.pv.p_dc_mw / SITE.pv.dc_ac_ratio) and s.bounds[0] > -s.rating
    assert resolve_signal("ctrl_shed_tier_idx", SITE, "compare").is_state
    assert resolve_signal("bess_b05_soc_frac", SITE, "initial").target == "soc_block"
    assert resolve_signal("pack_1234_in_service", SITE, "initial").index == 1234


def test_signal_errors_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="index 12 is not one of the site's 12 battery blocks"):
        resolve_signal("bess_b12_p_mw", SITE, "compare")
    with pytest.raises(ValueError, match="did you mean 'pv_b00_poa_w_m2'"):
        resolve_signal("pv_b00_poa_wm2", SITE, "input")
    with pytest.raises(ValueError, match="not a column"):
        resolve_signal("bess_power", SITE, "compare")
    with pytest.raises(ValueError, match="cannot be an input signal"):
        resolve_signal("bess_p_mw", SITE, "input")


def test_mean_of_held_samples_by_hand() -> None:
    # samples at 0, 0.5, 2.0 s of 1, 3, 5: the held signal is 1 on [0, .5), 3 on [.5, 2), 5 after
    t = np.array([0.0, 0.5, 2.0])
    v = np.array([1.0, 3.0, 5.0])
    got = resample_mean(t, v, np.array([0.0, 1.0, 2.0, -1.0]), 1.0)
    np.testing.assert_allclose(got, [0.5 * 1 + 0.5 * 3, 3.0, 5.0, 1.0])
    np.testing.assert_allclose(resample_hold(t, v, np.array([-1.0, 0.0, 0.7, 2.0, 9.0])), [1, 1, 3, 5, 5])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=50), st.integers(1, 5))
def test_mean_is_exact_for_samples_on_the_grid(vals: list[float], every: int) -> None:
    """Samples every ``every`` steps: each step's mean is the held value (a 1 s record on a 1 s step passes
    unchanged), and the mean over the record equals the samples' mean."""
    v = np.asarray(vals)
    t = np.arange(len(v)) * float(every)
    grid = np.arange(len(v) * every, dtype=float)
    got = resample_mean(t, v, grid, 1.0)
    np.testing.assert_allclose(got, np.repeat(v, every), atol=1e-9 * (1 + np.abs(v).max()))


def test_gap_mask() -> None:
    t = np.array([0.0, 1, 2, 3, 10, 11])
    grid = np.arange(14.0)
    m = gap_mask(t, grid, 1.0, [(3.0, 10.0)], hold_s=1.0)
    assert np.flatnonzero(m).tolist() == [4, 5, 6, 7, 8, 9, 13]


def test_build_site_applies_a_recorded_start_state_by_block_and_pack_id() -> None:
    """``build_site(recorded=...)``: block SoC to every pack of the block (clipped to the window), pack SoC and
    temperature by pack id, packs out of service; an unknown pack id names the fleet's ids."""
    from twin.config import Scenario
    from twin.replay.inputs import RecordedInputs
    from twin.site import build_site

    sc = Scenario.model_validate({"run": {"duration_s": 60, "step_s": 1.0}})
    rec = RecordedInputs(
        start_soc_block={2: 0.8, 3: 0.99},
        start_soc_pack={5: 0.3},
        start_temp_pack={5: 41.0},
        out_of_service_packs=(7,),
        statements=("given",),
    )
    site = build_site(sc, recorded=rec)
    f, inv = site.fleet, site.fleet.inv
    soc = f.packs.soc_frac
    i5, i7 = (int(x) for x in inv.index_of([5, 7]))
    assert soc[i5] == pytest.approx(0.3) and f.packs.temp_c[i5] == pytest.approx(41.0)
    assert np.allclose(soc[inv.block == 2], 0.8)
    hi = sc.models.fleet.soc_max_frac
    assert (soc[inv.block == 3] <= hi + 1e-12).all() and soc[inv.block == 3].max() == pytest.approx(hi, abs=0.05)
    assert not f.packs.in_service[i7] and f.packs.in_service[i5]
    assert site.recorded[0] == "given" and any("clipped" in s for s in site.recorded)
    with pytest.raises(ValueError, match=r"pack id\(s\) 99999 are not in the fleet"):
        build_site(sc, recorded=RecordedInputs(start_soc_pack={99999: 0.5}))
