"""Replay scores and the reading of divergences: figures computed by hand, on short synthetic series.

twin.replay.scores (errors with a time tolerance, figures, divergences, event windows) and
twin.replay.explain (the context of a divergence and its plain-English reading).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from twin.config.recorded import ScoringConfig
from twin.replay.explain import divergence_context
from twin.replay.scores import Divergence, Window, band_error, event_windows, score_signal


def _cfg(**kw: float) -> ScoringConfig:
    base = {"time_tolerance_s": 0.0, "min_inside_frac": 0.99, "min_divergence_s": 0.0}
    return ScoringConfig(**{**base, **kw})


def _score(field: np.ndarray, twin: np.ndarray, *, tolerance: float = 0.5, step_s: float = 1.0, **kw: float):
    t = np.arange(len(field)) * step_s
    return score_signal(
        "bess_p_mw", "BESS.P", "MW", t, field, twin, tolerance=tolerance, cfg=_cfg(**kw), step_s=step_s, windows=[]
    )


# -- figures ---------------------------------------------------------------------------------------------------


def test_known_errors_give_the_hand_computed_figures() -> None:
    twin = np.array([10.0, 10.0, 10.0, 10.0, 10.0])
    err = np.array([0.2, -0.4, 1.0, 0.0, -0.8])  # field - twin
    s = _score(twin + err, twin, tolerance=0.5)
    o = s.overall
    assert o.n == 5
    assert o.rmse == pytest.approx(math.sqrt((0.04 + 0.16 + 1.0 + 0.0 + 0.64) / 5))
    assert o.bias == pytest.approx((0.2 - 0.4 + 1.0 + 0.0 - 0.8) / 5)
    assert o.max_abs_error == pytest.approx(1.0)
    assert o.max_error == pytest.approx(1.0)
    assert o.max_error_s == 2.0
    assert o.inside_frac == pytest.approx(3 / 5)  # |0.2|, |-0.4|, |0| within 0.5
    assert not s.passed
    assert _score(twin + err, twin, tolerance=1.0).passed  # every |error| <= 1.0
    d = s.as_dict()
    assert d["overall"] == {
        "n": 5,
        "rmse": o.rmse,
        "bias": o.bias,
        "max_abs_error": o.max_abs_error,
        "max_error_s": 2.0,
        "max_error": o.max_error,
        "inside_frac": o.inside_frac,
    }
    assert (d["signal"], d["tag"], d["unit"], d["tolerance"], d["passed"]) == ("bess_p_mw", "BESS.P", "MW", 0.5, False)


def test_relative_tolerance_is_a_share_of_the_field_value() -> None:
    twin = np.array([10.0, 10.0, 10.0])
    field = np.array([11.0, 10.5, 9.0])  # errors 1.0, 0.5, -1.0; tolerances 0.5 + 0.05 * (11, 10.5, 9)
    s = _score(field, twin, tolerance=0.5, rel_tolerance_frac=0.05)
    # 1.0 <= 1.05 inside; 0.5 <= 1.025 inside; 1.0 > 0.95 outside (a tolerance on |twin| would take it)
    assert s.overall.inside_frac == pytest.approx(2 / 3)


def test_one_step_lag_is_no_error_within_the_time_tolerance() -> None:
    t = np.arange(200.0)
    twin = np.sin(t / 10.0) * 5.0
    field = np.roll(twin, 1)  # the field lags the twin by one step
    field[0] = twin[0]
    lagged = _score(field, twin, tolerance=1e-6, time_tolerance_s=1.0)
    assert lagged.overall.max_abs_error == 0.0
    assert lagged.overall.inside_frac == 1.0
    assert lagged.passed and lagged.divergences == []
    strict = _score(field, twin, tolerance=1e-6, time_tolerance_s=0.0)
    assert strict.overall.max_abs_error > 0.4  # 5 * (sin(x) - sin(x - 0.1)) peaks near 0.5
    assert not strict.passed


def test_time_tolerance_counts_in_steps() -> None:
    # step 0.5 s and a 1 s tolerance: two rows either side
    twin = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    field = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])  # the field steps 1.5 s later
    err = band_error(field, twin, k=2)
    np.testing.assert_array_equal(err, [0, 0, 0, 0, 0, -1, 0])


def test_a_field_step_30_s_after_the_twin_diverges_from_the_end_of_the_time_tolerance() -> None:
    t = np.arange(300.0)
    twin = np.where(t >= 100, 2.0, 0.0)
    field = np.where(t >= 130, 2.0, 0.0)
    s = _score(field, twin, tolerance=0.5, time_tolerance_s=2.0)
    assert len(s.divergences) == 1
    d = s.divergences[0]
    assert d.start_s == 102.0  # rows 98..102 see the twin at 0: the field's 0 is reached within 2 s
    assert d.end_s == 130.0
    assert d.duration_s == 28.0
    assert d.peak_error == -2.0 and d.peak_s == 102.0
    assert d.mean_error == -2.0
    assert s.first_divergence == d and s.worst == d
    assert s.overall.n == 300


def test_nan_rows_are_not_scored() -> None:
    twin = np.zeros(10)
    field = np.zeros(10)
    field[3:6] = np.nan
    field[8] = 100.0
    s = _score(field, twin, tolerance=0.5)
    assert s.overall.n == 7
    assert s.overall.max_error_s == 8.0
    assert s.overall.rmse == pytest.approx(100.0 / math.sqrt(7))
    empty = _score(np.full(5, np.nan), np.zeros(5))
    assert empty.overall.n == 0 and math.isnan(empty.overall.rmse) and not empty.passed
    assert empty.as_dict()["overall"]["rmse"] is None
    json.dumps(empty.as_dict(), allow_nan=False)


def test_a_short_gap_joins_a_divergence_and_a_long_one_splits_it() -> None:
    twin = np.zeros(20)
    field = np.full(20, 5.0)
    field[:3] = 0.0
    field[15:] = 0.0
    field[8:10] = np.nan  # 2 s of gap inside a run outside the tolerance
    joined = _score(field, twin, tolerance=0.5, time_tolerance_s=3.0)
    assert [(d.start_s, d.end_s) for d in joined.divergences] == [(3.0, 15.0)]  # 2 s < 3 s: one run
    split = _score(field, twin, tolerance=0.5, time_tolerance_s=0.0)
    assert [(d.start_s, d.end_s) for d in split.divergences] == [(3.0, 8.0), (10.0, 15.0)]


def test_min_divergence_s_drops_short_blips() -> None:
    twin = np.zeros(100)
    field = np.zeros(100)
    field[10] = 3.0  # a one-row blip: lasts 1 s
    field[50:60] = -4.0  # 10 s
    every = _score(field, twin, tolerance=0.5)
    assert [d.duration_s for d in every.divergences] == [1.0, 10.0]
    assert every.worst is not None and every.worst.peak_error == -4.0
    long_only = _score(field, twin, tolerance=0.5, min_divergence_s=5.0)
    assert [(d.start_s, d.duration_s) for d in long_only.divergences] == [(50.0, 10.0)]
    # the blip still counts in the figures
    assert long_only.overall.inside_frac == pytest.approx(89 / 100)


# -- windows ---------------------------------------------------------------------------------------------------


def test_windows_around_an_event_with_and_without_a_clearing_event() -> None:
    ws = event_windows(
        [(100.0, "trip", 130.0), (500.0, "job_crash", None)], pre_s=60.0, fault_s=10.0, post_s=120.0, t_end_s=600.0
    )
    assert [(w.label, w.event, w.start_s, w.end_s) for w in ws] == [
        ("pre", "trip", 40.0, 100.0),
        ("fault", "trip", 100.0, 130.0),
        ("post", "trip", 130.0, 250.0),
        ("pre", "job_crash", 440.0, 500.0),
        ("fault", "job_crash", 500.0, 510.0),
        ("post", "job_crash", 510.0, 600.0),  # clipped at the end of the run
    ]
    early = event_windows([(20.0, "x", None)], pre_s=60.0, fault_s=10.0, post_s=120.0, t_end_s=600.0)
    assert early[0] == Window("pre", "x", 0.0, 20.0)
    at_start = event_windows([(0.0, "x", None)], pre_s=60.0, fault_s=10.0, post_s=120.0, t_end_s=600.0)
    assert [w.label for w in at_start] == ["fault", "post"]  # the empty pre window is dropped
    with pytest.raises(ValueError, match="clears before"):
        event_windows([(10.0, "x", 5.0)], pre_s=1.0, fault_s=1.0, post_s=1.0, t_end_s=60.0)


def test_window_scores_select_their_rows() -> None:
    t = np.arange(300.0)
    twin = np.zeros(300)
    field = np.where((t >= 100) & (t < 110), 1.0, 0.0)
    ws = event_windows([(100.0, "trip", None)], pre_s=60.0, fault_s=10.0, post_s=120.0, t_end_s=300.0)
    s = score_signal("x", "X", "MW", t, field, twin, tolerance=0.5, cfg=_cfg(), step_s=1.0, windows=ws)
    by = {w.label: sc for w, sc in s.windows}
    assert (by["pre"].n, by["fault"].n, by["post"].n) == (60, 10, 120)
    assert by["pre"].rmse == 0.0 and by["post"].rmse == 0.0
    assert by["fault"].rmse == 1.0 and by["fault"].inside_frac == 0.0
    d = s.as_dict()
    assert [w["label"] for w in d["windows"]] == ["pre", "fault", "post"]
    assert d["windows"][1]["score"]["n"] == 10
    assert d["first_divergence"]["start_s"] == 100.0
    json.dumps(d, allow_nan=False)


# -- property --------------------------------------------------------------------------------------------------

_vals = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 40),
    k=st.integers(0, 4),
)
def test_errors_never_exceed_the_difference_and_vanish_inside_the_band(data: st.DataObject, n: int, k: int) -> None:
    twin = data.draw(arrays(np.float64, n, elements=_vals))
    field = data.draw(arrays(np.float64, n, elements=_vals))
    err = band_error(field, twin, k)
    assert np.all(np.abs(err) <= np.abs(field - twin) * (1 + 1e-12))
    lo = np.array([twin[max(i - k, 0) : i + k + 1].min() for i in range(n)])
    hi = np.array([twin[max(i - k, 0) : i + k + 1].max() for i in range(n)])
    inside = (field >= lo) & (field <= hi)
    assert np.all(err[inside] == 0.0)
    assert np.all(np.sign(err[~inside]) == np.sign(field - twin)[~inside])
    # a field taken inside the band scores zero
    w = data.draw(arrays(np.float64, n, elements=st.floats(0, 1)))
    assert np.all(band_error(np.clip(lo + w * (hi - lo), lo, hi), twin, k) == 0.0)


# -- explain ---------------------------------------------------------------------------------------------------


def _twin_frame(n: int = 200) -> pd.DataFrame:
    t = np.arange(float(n))
    return pd.DataFrame(
        {
            "time_s": t,
            "bess_p_mw": np.full(n, 3.0),
            "soc_frac": 0.5 - t * 1e-4,
            "n_packs_fault": np.zeros(n),
            "n_packs_in_service": np.full(n, 805.0),
            "ctrl_shed_tier_idx": np.zeros(n),
            "ctrl_pv_p_limit_mw": np.full(n, np.inf),
            "pv_avail_p_mw": np.full(n, 10.0),
            "pv_p_mw": np.full(n, 10.0),
            "bess_b03_discharge_max_p_mw": np.full(n, 1.0),
        }
    )


_DIV = Divergence(start_s=100.0, end_s=120.0, duration_s=20.0, peak_s=110.0, peak_error=0.3, mean_error=0.12)


def test_a_twin_state_change_in_the_window_is_named_with_its_time() -> None:
    df = _twin_frame()
    df.loc[df.time_s >= 108, "n_packs_fault"] = 12.0
    ctx = divergence_context(df, [], _DIV, context_s=30.0, signal="bess_p_mw", unit="MW")
    first = ctx["reading"][0]
    assert "n_packs_fault rose from 0 to 12 at 108 s (8 s after the divergence starts)" in first
    assert "a twin-side protection acted that the field did not record" in first
    by = {s["column"]: s for s in ctx["states"]}
    assert by["n_packs_fault"]["at_window_start"] == 0.0 and by["n_packs_fault"]["at_window_end"] == 12.0
    assert by["n_packs_fault"]["at_divergence_start"] == 0.0 and by["n_packs_fault"]["changed"] is True
    assert by["n_packs_in_service"]["changed"] is False
    assert by["ctrl_pv_p_limit_mw"]["max"] is None  # no limit: infinite, not JSON
    assert ctx["window"] == {"start_s": 70.0, "end_s": 150.0}
    json.dumps(ctx, allow_nan=False)


def test_a_field_event_just_before_the_divergence_is_named_first() -> None:
    df = _twin_frame()
    df.loc[df.time_s >= 112, "ctrl_shed_tier_idx"] = 2.0  # a twin change, later
    df.loc[df.time_s >= 99, "bess_b03_discharge_max_p_mw"] = 0.0
    events = [
        {"time_s": 98.0, "kind": "trip_bess_block", "detail": "block 3", "source": "field"},
        {"time_s": 40.0, "kind": "job_stop", "detail": "outside the window", "source": "field"},
        {"time_s": 125.0, "kind": "pv_frequency_watt", "detail": "PV cut by 0.2 MW", "source": "twin"},
    ]
    ctx = divergence_context(df, events, _DIV, context_s=30.0, signal="bess_p_mw", unit="MW")
    reading = ctx["reading"]
    assert reading[0] == "the field recorded 'trip_bess_block block 3' 2 s before the divergence starts"
    assert any("shed tier went 0 -> 2 at 112 s (12 s after the divergence starts)" in r for r in reading)
    assert any("discharge limit fell to 0" in r and "at 99 s" in r for r in reading)
    assert any("the field recorded no 'pv_frequency_watt'" in r for r in reading)
    offsets = [(e["kind"], e["offset_s"]) for e in ctx["events"]]
    assert offsets == [("trip_bess_block", -2.0), ("pv_frequency_watt", 25.0)]  # the one at 40 s is outside


def test_no_event_and_no_change_reads_as_a_steady_model_error() -> None:
    ctx = divergence_context(_twin_frame(), [], _DIV, context_s=30.0, signal="bess_p_mw", unit="MW")
    assert ctx["reading"] == [
        "no event and no change of state within 30 s: a steady model error"
        " (bias +0.12 MW over the divergence, peak +0.3 MW at 110 s)"
    ]


def test_pv_curtailment_by_the_controller_is_read() -> None:
    df = _twin_frame()
    on = df.time_s >= 95
    df.loc[on, "ctrl_pv_p_limit_mw"] = 7.5
    df.loc[on, "pv_p_mw"] = 7.5
    ctx = divergence_context(df, [], _DIV, context_s=30.0, signal="pv_p_mw", unit="MW")
    assert ctx["reading"] == [
        "the twin curtailed PV (ctrl_pv_p_limit_mw fell from no limit to 7.5 MW, first at 95 s,"
        " 5 s before the divergence starts; PV delivered up to 2.5 MW below available)"
    ]


def test_a_cut_on_throughout_the_window_still_reads_as_a_steady_error_first() -> None:
    df = _twin_frame()
    df["pv_fast_curtail_p_mw"] = 0.4  # on from before the window to after it: no change
    ctx = divergence_context(df, [], _DIV, context_s=30.0, signal="pv_p_mw", unit="MW")
    assert ctx["reading"][0].startswith("no event and no change of state within 30 s: a steady model error")
    assert ctx["reading"][1] == (
        "in the twin, pv_fast_curtail_p_mw was above 0 throughout from the window's start (up to 0.4 MW)"
    )


def test_a_twin_held_at_its_run_maximum_below_the_field_is_read_as_a_ceiling() -> None:
    """PV clipped at the model's AC rating (12.5 MW) while the field delivers more: named as a rating or limit."""
    df = _twin_frame()
    df["pv_p_mw"] = np.where(df.time_s < 90, 9.0 + df.time_s / 100, 12.5)
    d = Divergence(start_s=100.0, end_s=150.0, duration_s=50.0, peak_s=120.0, peak_error=2.4, mean_error=2.1)
    r = divergence_context(df, [], d, context_s=30.0, signal="pv_p_mw", unit="MW")["reading"]
    assert r[0].startswith("the twin's pv_p_mw sits at 12.5 MW for 100% of the divergence") and "rating" in r[0]
    d_low = Divergence(start_s=100.0, end_s=150.0, duration_s=50.0, peak_s=120.0, peak_error=-2.4, mean_error=-2.1)
    r = divergence_context(df, [], d_low, context_s=30.0, signal="pv_p_mw", unit="MW")["reading"]
    assert not any("rating" in x for x in r)  # the field below the twin: no ceiling of the model


def test_a_field_peak_above_anything_the_twin_reaches_is_read_as_a_ceiling() -> None:
    """Clouds keep the twin's PV below its 12.5 MW rating part of the time, so it does not sit at it; the field's
    peak (12 + 3.1 = 15.1 MW) is above the twin's highest value of the run: still a rating or limit."""
    df = _twin_frame()
    df["pv_p_mw"] = 10.0 + 2.5 * np.abs(np.sin(df.time_s / 7.0))
    d = Divergence(start_s=100.0, end_s=150.0, duration_s=50.0, peak_s=120.0, peak_error=3.1, mean_error=2.0)
    at_peak = float(df.loc[df.time_s == 120.0, "pv_p_mw"].iloc[0])
    r = divergence_context(df, [], d, context_s=30.0, signal="pv_p_mw", unit="MW")["reading"]
    top = float(df["pv_p_mw"].max())
    assert any(x.startswith(f"the field reaches {at_peak + 3.1:.4g} MW at 120 s, above anything") for x in r), r
    assert any(f"({top:.4g} MW)" in x for x in r)
