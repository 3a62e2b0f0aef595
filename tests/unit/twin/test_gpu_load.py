"""GPU power synthesis (twin/datacenter/gpu_load.py): swing, spectral line, smoothing, chunk independence, events."""

from __future__ import annotations

import numpy as np
import pytest

from twin.datacenter.gpu_load import GpuLoad, InferenceService, TrainingJob, UnitWorkload

DT = 0.01


def trace(g: GpuLoad, t0: float, duration: float, step: float = 1.0) -> np.ndarray:
    """Fine samples (units, samples) over [t0, t0 + duration) in steps of ``step``."""
    n = round(duration / step)
    return np.concatenate([g.step(t0 + i * step, step).fine_p_mw for i in range(n)], axis=1)


def sync_units(n: int = 4, **unit_kw: object) -> list[UnitWorkload]:
    job = TrainingJob(
        name="llm", period_s=4.0, duty_frac=0.7, low_frac=0.4, jitter_s=0.02, checkpoint_every_s=None, start_s=-60.0
    )
    return [UnitWorkload(jobs=(job,), **unit_kw) for _ in range(n)]  # type: ignore[arg-type]


def test_synchronised_training_swing_and_spectral_line() -> None:
    g = GpuLoad(sync_units(), fine_dt_s=DT, seed=3)
    site = trace(g, 0.0, 600.0).sum(axis=0)
    peak = g.peak_mw.sum()
    assert site.max() - site.min() > 0.5 * peak
    spec = np.abs(np.fft.rfft(site - site.mean()))
    freq = np.fft.rfftfreq(site.size, DT)
    k = int(np.argmax(spec[1:])) + 1
    assert abs(freq[k] - 1 / 4.0) <= freq[1] + 1e-12


def test_floor_shrinks_swing() -> None:
    g = GpuLoad(sync_units(1, floor_frac=0.8), fine_dt_s=DT, seed=3)
    p = trace(g, 0.0, 120.0)[0]
    assert p.max() - p.min() < 0.25 * g.peak_mw[0]
    assert p.min() >= 0.8 * g.peak_mw[0] - 1e-9


def test_ramp_limit_bounds_fine_step_changes() -> None:
    ramp = 2.0  # of unit peak per s
    g = GpuLoad(sync_units(1, ramp_frac_per_s=ramp), fine_dt_s=DT, seed=3)
    p = trace(g, 0.0, 120.0)[0]
    assert np.abs(np.diff(p)).max() <= ramp * g.peak_mw[0] * DT * (1 + 1e-9)
    assert p.max() - p.min() > 0.3 * g.peak_mw[0]  # still swings: 0.6 of peak takes 0.3 s


def test_independent_jobs_spread_at_site_level() -> None:
    units = [
        UnitWorkload(jobs=(TrainingJob(period_s=p, jitter_s=0.05, checkpoint_every_s=None, start_s=-60.0),))
        for p in (2.0, 2.9, 3.7, 5.3)
    ]
    g = GpuLoad(units, fine_dt_s=DT, seed=11)
    y = trace(g, 0.0, 600.0)
    site = y.sum(axis=0)
    unit_rel = y[0].std() / y[0].mean()
    site_rel = site.std() / site.mean()
    assert site_rel < 0.7 * unit_rel
    # the relative swing is the standard deviation over the mean: independent
    # square waves add in power, so 4 units give about half of one unit's


def mixed_units() -> list[UnitWorkload]:
    return [
        UnitWorkload(
            ramp_frac_per_s=3.0,
            jobs=(
                TrainingJob(racks=5, name="a", start_s=-30.0, checkpoint_every_s=20.0, checkpoint_s=5.0),
                InferenceService(racks=3),
            ),
        ),
        UnitWorkload(
            floor_frac=0.5,
            jobs=(TrainingJob(name="a", racks=6, start_s=-30.0, checkpoint_every_s=20.0, checkpoint_s=5.0),),
        ),
        UnitWorkload(psu_tau_s=0.0, jobs=(InferenceService(replicas=16),)),
        UnitWorkload(jobs=(TrainingJob(start_s=7.3, period_s=1.3),)),
    ]


def test_chunk_independence_exact() -> None:
    one = GpuLoad(mixed_units(), fine_dt_s=DT, seed=5, start_hour=14.0)
    many = GpuLoad(mixed_units(), fine_dt_s=DT, seed=5, start_hour=14.0)
    for g in (one, many):
        g.crash_job(0, 0, 23.45, restart_after_s=10.0)
        g.set_floor(3, 0.7, t_s=41.0)
    a = one.step(0.0, 60.0).fine_p_mw
    b = trace(many, 0.0, 60.0, 1.0)
    assert a.shape == b.shape == (4, 6000)
    assert np.array_equal(a, b)
    c = GpuLoad(mixed_units(), fine_dt_s=DT, seed=6, start_hour=14.0).step(0.0, 60.0).fine_p_mw
    assert not np.array_equal(a, c)  # the seed matters


def test_step_stats_consistent_with_fine_samples() -> None:
    g = GpuLoad(mixed_units(), fine_dt_s=DT, seed=5, start_hour=14.0)
    for i in range(5):
        s = g.step(2.0 * i, 2.0)
        y = s.fine_p_mw
        assert y.shape == (4, 200)
        np.testing.assert_allclose(s.mean_p_mw * s.dt_s, y.sum(axis=1) * DT, rtol=1e-12)
        np.testing.assert_array_equal(s.min_p_mw, y.min(axis=1))
        np.testing.assert_array_equal(s.max_p_mw, y.max(axis=1))
        assert s.min_p_mw.min() >= 0
        assert np.all(s.min_p_mw <= s.mean_p_mw) and np.all(s.mean_p_mw <= s.max_p_mw)
        site = y.sum(axis=0)
        assert s.site_min_p_mw == site.min() and s.site_max_p_mw == site.max()
        assert s.site_mean_p_mw == pytest.approx(s.mean_p_mw.sum(), rel=1e-12)


def test_steps_must_be_contiguous_and_aligned() -> None:
    g = GpuLoad(sync_units(1), fine_dt_s=DT)
    g.step(0.0, 1.0)
    with pytest.raises(ValueError):
        g.step(2.0, 1.0)
    with pytest.raises(ValueError):
        g.step(1.0, 0.005)
    with pytest.raises(ValueError):
        g.crash_job(0, 0, 0.5)  # in the past


def test_crash_drops_to_idle_within_a_second_and_restarts() -> None:
    u = sync_units(1)[0]
    g = GpuLoad([u], fine_dt_s=DT, seed=2)
    g.crash_job(0, "llm", 30.0, restart_after_s=120.0)
    p = trace(g, 0.0, 200.0)[0]
    t = np.arange(p.size) * DT
    idle = u.idle_frac * u.peak_mw
    assert p[(t >= 25) & (t < 30)].max() > 0.9 * u.peak_mw
    assert np.all(np.abs(p[(t >= 31.0) & (t < 150.0)] - idle) < 1e-3 * u.peak_mw)
    assert p[(t >= 30.0) & (t < 30.3)].min() < idle + 0.01 * u.peak_mw  # gone in a few PSU time constants
    assert p[(t >= 160) & (t < 200)].max() > 0.9 * u.peak_mw  # restarted


def test_checkpoint_holds_checkpoint_frac() -> None:
    job = TrainingJob(
        name="j", checkpoint_every_s=60.0, checkpoint_s=20.0, checkpoint_frac=0.3, warmup_s=5.0, start_s=0.0
    )
    u = UnitWorkload(jobs=(job,))
    g = GpuLoad([u], fine_dt_s=DT, seed=4)
    p = trace(g, 0.0, 100.0)[0]
    t = np.arange(p.size) * DT
    ck = (t >= 65.5) & (t < 84.9)  # checkpoint [65, 85)
    np.testing.assert_allclose(p[ck], 0.3 * u.peak_mw, atol=1e-6)
    before = (t >= 30) & (t < 64)
    assert p[before].max() > 0.99 * u.peak_mw and p[before].min() < 0.5 * u.peak_mw
    assert p[(t >= 86) & (t < 100)].max() > 0.99 * u.peak_mw
    assert p[t < 0.01][0] == pytest.approx(u.idle_frac * u.peak_mw)  # starts from idle


def test_start_job_ramps_to_full_load_within_seconds() -> None:
    job = TrainingJob(name="j", start_s=None, warmup_s=3.0, checkpoint_every_s=None)
    u = UnitWorkload(jobs=(job,))
    g = GpuLoad([u], fine_dt_s=DT, seed=4)
    g.start_job(None, "j", 10.0)
    p = trace(g, 0.0, 30.0)[0]
    t = np.arange(p.size) * DT
    np.testing.assert_allclose(p[t < 10], u.idle_frac * u.peak_mw)
    assert p[(t >= 13) & (t < 30)].max() > 0.99 * u.peak_mw


def test_inference_daily_curve() -> None:
    u = UnitWorkload(jobs=(InferenceService(replicas=16),))
    g = GpuLoad([u], fine_dt_s=0.1, seed=8, start_hour=0.0)
    hourly = np.array([g.step(3600.0 * h, 3600.0).mean_p_mw[0] for h in range(24)])
    night, day = hourly[[0, 1, 2, 3, 4]].mean(), hourly[[12, 13, 14, 15, 16]].mean()
    assert day > night + 0.2 * u.peak_mw
    assert hourly.max() <= u.peak_mw and hourly.min() >= u.idle_frac * u.peak_mw - 1e-9
    s = g.step(24 * 3600.0, 10.0)
    assert s.max_p_mw[0] > s.min_p_mw[0]  # prefill / decode / idle states show within a step


def test_rejects_too_many_racks() -> None:
    with pytest.raises(ValueError):
        GpuLoad([UnitWorkload(racks=4, jobs=(TrainingJob(racks=3), InferenceService(racks=2)))])


def test_compiled_training_path_is_bit_identical_to_the_array_path():
    # The compiled fast path (no start or stop inside a step) and the array path (used when an
    # event falls inside a step) must give the same samples, or a job event would move the
    # waveform. 10 min at 10 ms with jitter and checkpoints.
    j = TrainingJob(period_s=4.0, jitter_s=0.05, checkpoint_every_s=600.0, checkpoint_s=30.0)
    g = GpuLoad([UnitWorkload(jobs=(j,))], fine_dt_s=0.01, seed=3)
    t = np.arange(100_000, 160_000) * 0.01
    fast = g._training(j, g._keys[0][0], g._phase[0][0], t, 2.0)
    array = g._training(j, g._keys[0][0], g._phase[0][0], t, np.full(t.size, 2.0))
    assert np.array_equal(fast, array)
    assert np.any(fast == j.checkpoint_frac) and np.any(fast == j.high_frac) and np.any(fast == j.low_frac)
