"""The data-quality checks of one tag (adapters/io/telemetry/quality.py): each problem found once, at its rows."""

from __future__ import annotations

import time

import numpy as np
import pytest

from adapters.io.telemetry.quality import check_tag
from adapters.io.telemetry.series import CleanSeries, Finding, TagSeries
from twin.config.recorded import QualityConfig

T0_NS = 1_752_600_000 * 10**9  # 2025-07-15T17:20:00Z
S_NS = 10**9
POWER_UNITS = {"W": 1e-6, "kW": 1e-3, "MW": 1.0, "GW": 1e3}


def _series(t_s: np.ndarray, v: np.ndarray, good: np.ndarray | None = None, tag: str = "X.P") -> TagSeries:
    n = len(v)
    return TagSeries(
        tag=tag,
        source="src",
        file="f.csv",
        row=np.arange(2, n + 2, dtype=np.int64),  # CSV lines: the header is line 1
        time_ns=T0_NS + np.asarray(np.round(np.asarray(t_s) * 1e9), np.int64),
        value=np.asarray(v, np.float64),
        good=np.ones(n, bool) if good is None else good,
    )


def _check(series: TagSeries, **kw: object) -> tuple[CleanSeries, list[Finding]]:
    args: dict[str, object] = dict(
        to_signal=1.0,
        unit="MW",
        signal="bess_p_mw",
        signal_unit="MW",
        alternatives=POWER_UNITS,
        bounds=(-100.0, 100.0),
        rating=None,
        is_state=False,
        qcfg=QualityConfig(stuck_s=120.0, clock_step_s=60.0),
        t0_ns=T0_NS - 3600 * S_NS,
        t1_ns=T0_NS + 10 * 86400 * S_NS,
    )
    args.update(kw)
    return check_tag(series, **args)  # type: ignore[arg-type]


def _by_kind(findings: list[Finding]) -> dict[str, Finding]:
    kinds = [f.kind for f in findings]
    assert len(kinds) == len(set(kinds)), f"one finding per kind expected: {kinds}"
    return {f.kind: f for f in findings}


def test_each_problem_found_once_at_its_rows() -> None:
    n = 60
    i = np.arange(n)
    t = i * 10.0  # 10 s spacing
    v = 50.0 * np.sin(i / 5.0) + 0.1 * i  # varies at every sample
    good = np.ones(n, bool)
    # rows are i + 2
    v[3] = np.nan  # row 5
    good[5] = False  # row 7
    t[9] = t[8]  # row 11 repeats row 10's stamp (another value)
    t[12], t[13] = t[13], t[12]  # row 15 is 10 s earlier than row 14
    t[19:] += 1800.0  # a 30 min gap before row 21
    v[28:44] = 7.0  # rows 30..45: 16 samples over 150 s unchanged
    v[48] = 1e4  # row 50 outside [-100, 100]
    clean, findings = _check(_series(t, v, good))
    f = _by_kind(findings)
    assert set(f) == {"nan", "bad_quality", "duplicate", "out_of_order", "gap", "stuck", "out_of_bounds"}
    assert f["nan"].rows == (5,)
    assert f["bad_quality"].rows == (7,)
    assert f["duplicate"].rows == (10,)  # the earlier sample of the stamp is dropped: the last one is kept
    assert "kept the last of 2 samples" in f["duplicate"].message and "differ" in f["duplicate"].message
    assert f["out_of_order"].rows == (15,)
    assert f["gap"].rows == (20, 21) and f["gap"].action.endswith("comparisons: not scored")
    assert f["stuck"].rows == tuple(range(30, 46)) and f["stuck"].n_rows == 16
    assert f["stuck"].action.startswith("kept")
    assert f["out_of_bounds"].rows == (50,) and "10,000.0" in f["out_of_bounds"].message
    # what is left: 60 samples less the NaN, the bad one, the duplicate and the out-of-bounds one
    assert len(clean.time_ns) == 56
    assert np.all(np.diff(clean.time_ns) > 0) and np.all(np.isfinite(clean.value))
    assert clean.gaps_ns == ((T0_NS + 180 * S_NS, T0_NS + (190 + 1800) * S_NS),)
    # the duplicate keeps the later value (row 11's)
    k = np.flatnonzero(clean.time_ns == T0_NS + 80 * S_NS)
    assert len(k) == 1 and clean.value[k[0]] == pytest.approx(v[9])
    # the swapped pair ends in time order with its values
    assert clean.value[np.flatnonzero(clean.time_ns == T0_NS + 120 * S_NS)[0]] == pytest.approx(v[13])


def test_conversion_and_offset_reach_the_clean_series() -> None:
    t = np.arange(10) * 60.0
    v = np.arange(10) * 100.0  # kW
    clean, findings = _check(_series(t, v), to_signal=1e-3, offset=0.5, unit="kW")
    assert not findings
    np.testing.assert_allclose(clean.value, np.arange(10) * 0.1 + 0.5)


def test_clean_tag_has_no_findings() -> None:
    t = np.arange(1000) * 1.0
    clean, findings = _check(_series(t, np.sin(t / 30.0)))
    assert findings == [] and len(clean.time_ns) == 1000 and clean.gaps_ns == ()


def test_kw_column_mapped_as_mw_is_a_unit_error_suggesting_kw() -> None:
    t = np.arange(600) * 1.0
    kw = 1200.0 * np.abs(np.sin(t / 50.0)) + 30.0  # a 1.5 MW block in kW
    _, findings = _check(_series(t, kw, tag="BESS03.P"), rating=1.5, bounds=(-3.0, 3.0))
    f = _by_kind(findings)
    assert set(f) == {"unit"}  # the bounds violations are the same cause: not reported again
    assert f["unit"].severity == "error"
    assert 'set unit = "kW"' in f["unit"].message and "the mapping says MW" in f["unit"].message
    assert "1.5 MW" in f["unit"].message


def test_same_column_mapped_as_kw_has_no_unit_finding() -> None:
    t = np.arange(600) * 1.0
    kw = 1200.0 * np.abs(np.sin(t / 50.0)) + 30.0
    clean, findings = _check(_series(t, kw), to_signal=1e-3, unit="kW", rating=1.5, bounds=(-3.0, 3.0))
    assert findings == []
    assert clean.value.max() == pytest.approx(kw.max() / 1000.0)


def test_too_small_values_suggest_the_larger_unit() -> None:
    """Too small is listed as a warning (a quiet signal can be small), with the unit that would fit."""
    t = np.arange(600) * 1.0
    kw = 1200.0 * np.abs(np.sin(t / 50.0)) + 30.0
    _, findings = _check(_series(t, kw), to_signal=1e-6, unit="W", rating=1.5, bounds=(-3.0, 3.0))
    f = _by_kind(findings)
    assert f["unit"].severity == "warning" and 'set unit = "kW"' in f["unit"].message


def test_mostly_zero_signal_is_not_judged_too_small() -> None:
    t = np.arange(600) * 1.0
    v = np.zeros(600)
    v[500:] = 1e-4  # a night, then a little
    _, findings = _check(_series(t, v), rating=1.5)
    assert [f.kind for f in findings] == []


def test_clock_step_back_one_hour() -> None:
    i = np.arange(1200)
    t = np.where(i < 400, i * 10.0, (i - 360) * 10.0)  # at sample 400 the logger's clock goes back 3590 s
    clean, findings = _check(_series(t, np.sin(i / 7.0)))
    f = _by_kind(findings)
    assert "clock_step" in f and "out_of_order" not in f
    step = f["clock_step"]
    assert step.severity == "warning"
    assert step.rows[0] == 402 and step.n_rows == 359  # rows 402..760 lie behind the stamp before the step
    assert "back by 59.83 min" in step.message
    # the overlap's stamps (400 s to 3990 s: the last one, row 761, is not behind but equal) repeat earlier ones
    assert f["duplicate"].n_rows == 360
    assert np.all(np.diff(clean.time_ns) > 0)


def test_out_of_order_below_the_clock_step_is_not_a_clock_step() -> None:
    t = np.arange(100) * 10.0
    t[50] = t[49] - 30.0  # 30 s back, sampled between two neighbours
    _, findings = _check(_series(t, np.sin(t)))
    f = _by_kind(findings)
    assert f["out_of_order"].rows == (52,) and "clock_step" not in f


def test_samples_outside_the_run_are_counted_once() -> None:
    t = np.arange(100) * 60.0
    clean, findings = _check(
        _series(t, np.sin(t)), t0_ns=T0_NS + 600 * S_NS, t1_ns=T0_NS + 3000 * S_NS, keep_state=True
    )
    f = _by_kind(findings)
    # 10 samples before 600 s and 49 after 3000 s: the last before and the first after are kept (the state in
    # force at the start of a tag logged on change), the others ignored
    assert f["outside_run"].severity == "info" and f["outside_run"].n_rows == 9 + 48
    assert (
        "9 samples before and 48 after" in f["outside_run"].message
        and "kept the last before" in f["outside_run"].message
    )
    assert len(clean.time_ns) == 43
    assert clean.time_ns[0] == T0_NS + 540 * S_NS and clean.time_ns[-1] == T0_NS + 3060 * S_NS


def test_a_state_logged_long_before_the_run_is_kept() -> None:
    """A breaker logged on change: open 2 h before the run, closed 10 min into it: both samples survive."""
    t = np.array([-7200.0, 600.0])
    clean, _ = _check(
        _series(t, np.array([0.0, 1.0])),
        is_state=True,
        t0_ns=T0_NS - 3600 * S_NS,
        t1_ns=T0_NS + 3600 * S_NS,
        keep_state=True,
    )
    assert clean.time_ns.tolist() == [T0_NS - 7200 * S_NS, T0_NS + 600 * S_NS] and clean.value.tolist() == [0.0, 1.0]
    # a quantity (an input's power) keeps nothing from before the margin: a value that old is stale
    clean, _ = _check(_series(t, np.array([0.0, 1.0])), t0_ns=T0_NS - 3600 * S_NS, t1_ns=T0_NS + 3600 * S_NS)
    assert clean.time_ns.tolist() == [T0_NS + 600 * S_NS]


def test_states_and_zero_runs_are_not_stuck() -> None:
    t = np.arange(200) * 10.0
    v = np.r_[np.zeros(100), np.ones(100)]
    assert _check(_series(t, v), is_state=True)[1] == []
    v2 = np.r_[np.zeros(100), np.sin(np.arange(100))]  # a long exact zero (a night) in a varying tag
    assert _check(_series(t, v2))[1] == []


def test_gap_threshold_from_the_mapping_and_the_median_floor() -> None:
    t = np.r_[np.arange(50) * 10.0, 600.0 + np.arange(50) * 10.0]  # a 110 s spacing once
    v = np.sin(t)
    assert _check(_series(t, v), qcfg=QualityConfig(max_gap_s=200.0))[1] == []
    f = _by_kind(_check(_series(t, v), qcfg=QualityConfig(max_gap_s=100.0))[1])
    assert f["gap"].rows == (51, 52)
    # a threshold under twice the median spacing is raised to it: 10 s spacing is no gap at max_gap_s = 5
    assert _check(_series(np.arange(50) * 10.0, np.sin(np.arange(50))), qcfg=QualityConfig(max_gap_s=5.0))[1] == []


def test_a_million_samples_check_in_under_a_second() -> None:
    n = 1_000_000
    rng = np.random.default_rng(1)
    t = np.arange(n) * 1.0
    v = rng.normal(0.5, 0.2, n)
    v[rng.integers(0, n, 100)] = np.nan
    t[500_000:] += 600.0  # a gap
    t[700_000], t[700_001] = t[700_001], t[700_000]
    series = _series(t, v)
    _check(_series(t[:1000], v[:1000]))  # warm-up (first calls into numpy's sort and percentile)
    t_start = time.perf_counter()
    clean, findings = _check(series, rating=1.5, bounds=(-3.0, 3.0), t1_ns=T0_NS + 2 * n * S_NS)
    elapsed_s = time.perf_counter() - t_start
    assert {f.kind for f in findings} == {"nan", "out_of_order", "gap"}
    assert len(clean.time_ns) == n - int(np.isnan(v).sum())
    assert elapsed_s < 3.0, f"{elapsed_s:.2f} s"  # about 0.1 s here; 3 s leaves room on a shared CI machine
