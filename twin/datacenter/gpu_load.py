"""GPU power synthesis: seeded IT power of AI workloads per Spark unit.

Each Spark unit has ``racks`` racks of ``rack_peak_kw`` and runs a mix of
workloads (:class:`UnitWorkload`): training jobs and inference services, each
on a number of the unit's racks; the racks no workload holds sit at
``idle_frac`` of their peak.

Training (:class:`TrainingJob`) is bulk-synchronous: each iteration computes
near peak (``high_frac``) for ``duty_frac`` of the period, then communicates
near ``low_frac``. Iteration ``n`` of a job starts at
``t_start + warmup_s + phase_s + n * period_s + e_n`` with ``e_n`` a seeded,
independent per-iteration timing jitter (uniform, standard deviation
``jitter_s``, clipped to 0.4 period). Jobs with the same non-empty ``name`` on
several units are one job in lockstep (same phase, same jitter draws); jobs
without a name are independent (own random phase and jitter). Checkpoints
every ``checkpoint_every_s`` (counted from the end of the warm-up) hold the
job at ``checkpoint_frac`` for ``checkpoint_s``. A start ramps the job's racks
linearly from idle to the training pattern over ``warmup_s``; an end or a
crash drops them to idle at once (the power-supply filter makes that tens of
ms); a crash restarts the job after ``restart_s``.

Inference (:class:`InferenceService`): ``replicas`` independent serving
replicas share the service's racks. Time is cut per replica into slots of
``prefill_s + decode_s`` (with a random offset per replica); a slot is busy
with the probability given by a daily request curve (``busy_min_frac`` at
night, ``busy_max_frac`` at ``peak_hour``); a busy slot is ``prefill_s`` at
``prefill_frac`` (compute bound) then ``decode_s`` at ``decode_frac`` (memory
bound); an idle slot is at the unit's ``idle_frac``.

Per unit, in this order: the racks' power, the power floor (``floor_frac``:
racks running a workload draw at least that fraction of their peak, the
GPUs' power-smoothing floor), the ramp-rate limit on the unit's power
(``ramp_frac_per_s`` of the unit peak per second) and the power supplies'
first-order filter (``psu_tau_s``).

:class:`GpuLoad` generates all units at a fine internal step (10 ms by
default) and hands out per electrical step the mean, minimum and maximum
(:class:`StepStats`): no silent aliasing. Random draws are counter-based
(a hash of seed, job and iteration or slot index), so the samples do not
depend on how time is cut into steps: one call over [0, 120 s) or 120 calls of
1 s give bit-identical samples. Steps must be contiguous (the filter and ramp
states are carried over).

Units: powers in MW (inputs per rack in kW), times in seconds since
``run.start``; ``start_hour`` is the local clock hour at ``t = 0``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["ConstantLoad", "GpuLoad", "InferenceService", "StepStats", "TrainingJob", "UnitWorkload", "Workload"]

_M64 = (1 << 64) - 1
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_INV53 = 1.0 / float(1 << 53)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic, arrays only)."""
    x = (x ^ (x >> _S30)) * _C1
    x = (x ^ (x >> _S27)) * _C2
    return x ^ (x >> _S31)


def _uniform(key: int, counter: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) draws, a pure function of (key, counter)."""
    c = np.asarray(counter, dtype=np.int64).astype(np.uint64)
    h = _mix(c * _GOLD + np.full(c.shape, key & _M64, dtype=np.uint64))
    return (h >> _S11).astype(np.float64) * _INV53


def _key(*parts: int | str) -> int:
    """A 64-bit key from ints and strings (Python ints, no numpy overflow)."""
    k = 0x12345678
    for p in parts:
        v = zlib.crc32(p.encode()) if isinstance(p, str) else int(p) & _M64
        k = ((k ^ v) * 0x100000001B3 + 0x9E3779B97F4A7C15) & _M64
        k ^= k >> 29
    return k


@dataclass(frozen=True)
class TrainingJob:
    """A bulk-synchronous training job on ``racks`` racks of a unit (``None``: the racks no other workload holds)."""

    racks: int | None = None
    period_s: float = 4.0  # iteration period, 1-10 s
    duty_frac: float = 0.7  # compute share of an iteration, 0.6-0.8
    high_frac: float = 1.0  # compute phase, of rack peak
    low_frac: float = 0.45  # communication phase, of rack peak, 0.3-0.6
    phase_s: float | None = None  # None: seeded uniform in [0, period)
    jitter_s: float = 0.02  # per-iteration timing jitter (standard deviation)
    checkpoint_every_s: float | None = 1800.0  # 15-60 min; None: no checkpoints
    checkpoint_s: float = 60.0  # 10-120 s
    checkpoint_frac: float = 0.3  # of rack peak, 0.2-0.4
    warmup_s: float = 5.0  # idle -> full pattern after a start
    restart_s: float = 300.0  # crash -> restart
    start_s: float | None = 0.0  # first start; None: waits for start_job
    name: str = ""  # same non-empty name on several units: one job in lockstep

    def __post_init__(self) -> None:
        if self.period_s <= 0 or not 0 < self.duty_frac < 1:
            raise ValueError("period_s must be > 0 and duty_frac in (0, 1)")
        if self.checkpoint_every_s is not None and not 0 < self.checkpoint_s < self.checkpoint_every_s:
            raise ValueError("need 0 < checkpoint_s < checkpoint_every_s")
        if self.warmup_s < 0 or self.restart_s < 0 or self.jitter_s < 0:
            raise ValueError("warmup_s, restart_s and jitter_s must be >= 0")


@dataclass(frozen=True)
class InferenceService:
    """Inference on ``racks`` racks (``None``: the racks no other workload holds), ``replicas`` serving replicas."""

    racks: int | None = None
    replicas: int | None = None  # None: one per rack
    prefill_s: float = 0.4
    decode_s: float = 4.0
    prefill_frac: float = 0.95  # of rack peak
    decode_frac: float = 0.6
    busy_min_frac: float = 0.15  # busy share of slots at the nightly minimum
    busy_max_frac: float = 0.9  # ... at peak_hour
    peak_hour: float = 15.0  # local hour of the most requests
    restart_s: float = 60.0
    start_s: float | None = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.prefill_s < 0 or self.decode_s < 0 or self.prefill_s + self.decode_s <= 0:
            raise ValueError("prefill_s, decode_s must be >= 0 with a positive sum")
        if not 0 <= self.busy_min_frac <= self.busy_max_frac <= 1:
            raise ValueError("need 0 <= busy_min_frac <= busy_max_frac <= 1")


@dataclass(frozen=True)
class ConstantLoad:
    """Racks held at a constant fraction of their peak while running (a test load, or a flat batch job)."""

    racks: int | None = None
    frac: float = 0.85
    restart_s: float = 60.0  # crash -> restart
    start_s: float | None = 0.0
    name: str = ""


Workload = TrainingJob | InferenceService | ConstantLoad


@dataclass(frozen=True)
class UnitWorkload:
    """One Spark unit: its racks and its mix of workloads."""

    racks: int = 8
    rack_peak_kw: float = 125.0  # 8 x 125 kW = 1 MW IT peak
    idle_frac: float = 0.2
    psu_tau_s: float = 0.03  # first-order filter of the power supplies; 0: none
    ramp_frac_per_s: float | None = None  # of unit peak per s; None: no limit
    floor_frac: float | None = None  # min power of busy racks, of rack peak; None: no floor
    jobs: tuple[Workload, ...] = ()

    @property
    def peak_mw(self) -> float:
        return self.racks * self.rack_peak_kw / 1000.0


@dataclass
class StepStats:
    """IT power over the step [t0, t0 + dt): per unit and for the site, MW."""

    t0_s: float
    dt_s: float
    mean_p_mw: np.ndarray  # per unit; mean * dt = integral of the fine samples
    min_p_mw: np.ndarray
    max_p_mw: np.ndarray
    site_mean_p_mw: float
    site_min_p_mw: float  # of the summed fine samples (not the sum of unit minima)
    site_max_p_mw: float
    fine_p_mw: np.ndarray  # (units, samples) at the fine step; sample k is the mean over [t0 + k fine_dt, ...)


class _Lifecycle:
    """Start / stop times of one workload on one unit; ``running`` and ``last start`` per sample."""

    def __init__(self, start_s: float | None) -> None:
        self.t = np.array([-np.inf] + ([start_s] if start_s is not None else []), dtype=float)
        self.on = np.array([False] + ([True] if start_s is not None else []), dtype=bool)

    def add(self, t_s: float, on: bool) -> None:
        i = int(np.searchsorted(self.t, t_s, side="right"))
        self.t = np.insert(self.t, i, t_s)
        self.on = np.insert(self.on, i, on)

    def state(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray] | tuple[bool, float]:
        """(running, last start time), scalars when no event falls inside ``t``."""
        i0 = int(np.searchsorted(self.t, t[0], side="right")) - 1
        i1 = int(np.searchsorted(self.t, t[-1], side="right")) - 1
        if i0 == i1:
            on = bool(self.on[i0])
            return on, float(self.t[i0])
        idx = np.searchsorted(self.t, t, side="right") - 1
        # last start: the time of the latest "on" event at or before each event
        last_on = np.where(self.on, self.t, -np.inf)
        last_on = np.maximum.accumulate(last_on)
        on_t = self.on[idx]
        return on_t, np.where(on_t, last_on[idx], t)  # off samples: any finite value


@numba.njit(cache=True)
def _uniform_one(key: np.uint64, n: np.int64) -> float:
    """:func:`_uniform` for one counter, bit for bit (wrapping uint64 arithmetic)."""
    x = np.uint64(n) * _GOLD + key
    x = (x ^ (x >> _S30)) * _C1
    x = (x ^ (x >> _S27)) * _C2
    x = x ^ (x >> _S31)
    return float(x >> _S11) * _INV53


@numba.njit(cache=True, error_model="numpy")
def _training_fast(
    t: np.ndarray,
    t_start: float,
    warmup_s: float,
    phase_s: float,
    per: float,
    amp: float,
    duty: float,
    high: float,
    low: float,
    key: np.uint64,
    n0: int,
    n1: int,
    ck_every: float,
    ck_s: float,
    ck_frac: float,
    out: np.ndarray,
) -> None:
    """The training square wave over ``t`` (no start or stop inside): iteration ``n`` starts at
    ``n per + amp (2 u_n - 1)`` (``u_n`` the job's counter-based draw), the compute phase lasts
    ``duty per``; checkpoints every ``ck_every`` (NaN: none) hold ``ck_frac`` for ``ck_s``. The
    same arithmetic as the array path of :meth:`GpuLoad._training` (bit-identical samples)."""
    m = n1 - n0
    s_n = np.empty(m)
    for i in range(m):
        s_n[i] = float(n0 + i) * per + amp * (2.0 * _uniform_one(key, np.int64(n0 + i)) - 1.0)
    i = 0
    for k in range(t.size):
        since = t[k] - t_start
        tau = since - warmup_s - phase_s
        while i + 1 < m and s_n[i + 1] <= tau:
            i += 1
        f = high if tau - s_n[i] < duty * per else low
        if ck_every == ck_every:  # not NaN
            tc = since - warmup_s
            c = np.floor(tc / ck_every)
            if c >= 1 and tc - c * ck_every < ck_s:
                f = ck_frac
        out[k] = f


@numba.njit(cache=True, error_model="numpy")
def _ramp_filter(x: np.ndarray, z: np.ndarray, y: np.ndarray, r: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    """Per unit: ramp-rate limiter (step at most ``r`` per sample) then the PSU's first-order
    filter (gain ``c`` per sample); ``z`` and ``y`` carry the two states between calls."""
    for u in range(x.shape[0]):
        zu, yu, ru, cu = z[u], y[u], r[u], c[u]
        for k in range(x.shape[1]):
            d = x[u, k] - zu
            if -ru <= d <= ru:
                zu = x[u, k]
            elif d > 0:
                zu = zu + ru
            else:
                zu = zu - ru
            yu = zu if cu == 1.0 else yu + cu * (zu - yu)
            out[u, k] = yu
        z[u], y[u] = zu, yu


class GpuLoad:
    """All units' IT power, generated in chunks at a fine internal step, seeded,
    reproducible and chunk-independent (generating [0, 120 s) in one call or in
    120 calls of 1 s gives the same samples)."""

    def __init__(
        self, units: Sequence[UnitWorkload], fine_dt_s: float = 0.01, seed: int = 0, start_hour: float = 0.0
    ) -> None:
        if fine_dt_s <= 0:
            raise ValueError("fine_dt_s must be > 0")
        self.units = tuple(units)
        self.n = len(self.units)
        self.fine_dt_s = float(fine_dt_s)
        self.seed = int(seed)
        self.start_hour = float(start_hour)
        self.peak_mw = np.array([u.peak_mw for u in self.units])
        self._racks: list[list[int]] = []
        self._keys: list[list[int]] = []
        self._phase: list[list[float]] = []
        self._life: list[list[_Lifecycle]] = []
        self._floor: list[tuple[list[float], list[float]]] = []
        for ui, u in enumerate(self.units):
            free = u.racks - sum(j.racks for j in u.jobs if j.racks is not None)
            n_none = sum(j.racks is None for j in u.jobs)
            if free < 0 or (n_none and free // n_none < 1):
                raise ValueError(f"unit {ui}: workloads need more racks than the unit's {u.racks}")
            racks = [j.racks if j.racks is not None else free // n_none for j in u.jobs]
            self._racks.append(racks)
            keys = [
                _key(self.seed, j.name) if j.name else _key(self.seed, ui, ji, "anon") for ji, j in enumerate(u.jobs)
            ]
            self._keys.append(keys)
            self._phase.append(
                [
                    (j.phase_s if j.phase_s is not None else float(_uniform(k ^ 0x5EED, np.zeros(1))[0]) * j.period_s)
                    if isinstance(j, TrainingJob)
                    else 0.0
                    for j, k in zip(u.jobs, keys, strict=True)
                ]
            )
            self._life.append([_Lifecycle(j.start_s) for j in u.jobs])
            self._floor.append(([-math.inf], [math.nan if u.floor_frac is None else u.floor_frac]))
        self._k_next: int | None = None  # next fine sample index to generate
        self._z = np.zeros(self.n)  # ramp-limiter output, MW
        self._y = np.zeros(self.n)  # PSU filter output, MW
        self._c = np.array(
            [1.0 - math.exp(-self.fine_dt_s / u.psu_tau_s) if u.psu_tau_s > 0 else 1.0 for u in self.units]
        )
        self._r = np.array(
            [
                u.ramp_frac_per_s * u.peak_mw * self.fine_dt_s if u.ramp_frac_per_s is not None else math.inf
                for u in self.units
            ]
        )

    # ---- events -------------------------------------------------------------

    def _targets(self, unit: int | None, job: int | str) -> list[tuple[int, int]]:
        out = []
        for ui in range(self.n) if unit is None else [unit]:
            for ji, j in enumerate(self.units[ui].jobs):
                if (isinstance(job, str) and j.name == job) or ji == job:
                    out.append((ui, ji))
        if not out:
            raise KeyError(f"no workload {job!r} on unit {unit}")
        return out

    def _check_time(self, t_s: float) -> None:
        if self._k_next is not None and t_s < self._k_next * self.fine_dt_s - 1e-9:
            raise ValueError(f"event at {t_s} s is before the generated time {self._k_next * self.fine_dt_s} s")

    def start_job(self, unit: int | None, job: int | str, t_s: float) -> None:
        """Start (or restart) a workload at ``t_s``; ``unit=None`` with a name: on every unit that has it."""
        self._check_time(t_s)
        for ui, ji in self._targets(unit, job):
            self._life[ui][ji].add(t_s, True)

    def end_job(self, unit: int | None, job: int | str, t_s: float) -> None:
        """End a workload at ``t_s``: its racks drop to idle."""
        self._check_time(t_s)
        for ui, ji in self._targets(unit, job):
            self._life[ui][ji].add(t_s, False)

    def crash_job(self, unit: int | None, job: int | str, t_s: float, restart_after_s: float | None = None) -> None:
        """Crash at ``t_s`` (racks to idle at once), restart after ``restart_after_s``.

        ``restart_after_s`` defaults to the job's ``restart_s``."""
        self._check_time(t_s)
        for ui, ji in self._targets(unit, job):
            j = self.units[ui].jobs[ji]
            life = self._life[ui][ji]
            life.add(t_s, False)
            life.add(t_s + (j.restart_s if restart_after_s is None else restart_after_s), True)

    def set_floor(self, unit: int, frac: float | None, t_s: float | None = None) -> None:
        """Power floor of the unit's busy racks (fraction of rack peak, None: off) from ``t_s``.

        ``t_s`` defaults to the next sample."""
        if t_s is None:
            t_s = (self._k_next or 0) * self.fine_dt_s
        self._check_time(t_s)
        ts, fs = self._floor[unit]
        i = int(np.searchsorted(ts, t_s, side="right"))
        ts.insert(i, t_s)
        fs.insert(i, math.nan if frac is None else float(frac))

    # ---- synthesis ------------------------------------------------------------

    def _training(
        self, j: TrainingJob, key: int, phase_s: float, t: np.ndarray, t_start: np.ndarray | float
    ) -> np.ndarray:
        """Fraction of rack peak of a running training job at times ``t``."""
        since = t - t_start
        tau = since - j.warmup_s - phase_s
        per = j.period_s
        amp = min(math.sqrt(3.0) * j.jitter_s, 0.4 * per)
        if amp > 0 and np.ndim(t_start) == 0:
            # no event in the step: only the few iterations that overlap it, in one compiled pass
            n0 = math.floor((tau[0] - amp) / per) - 1
            n1 = math.floor((tau[-1] + amp) / per) + 2
            f = np.empty(t.size)
            ck = j.checkpoint_every_s if j.checkpoint_every_s is not None else math.nan
            _training_fast(
                t,
                float(t_start),
                j.warmup_s,
                phase_s,
                per,
                amp,
                j.duty_frac,
                j.high_frac,
                j.low_frac,
                np.uint64(key & _M64),
                n0,
                n1,
                ck,
                j.checkpoint_s,
                j.checkpoint_frac,
                f,
            )
            return f
        n0 = np.floor(tau / per).astype(np.int64)
        if amp > 0:

            def s(n: np.ndarray) -> np.ndarray:
                return n * per + amp * (2.0 * _uniform(key, n) - 1.0)

            n = n0 - (tau < s(n0)) + (tau >= s(n0 + 1))
            within = tau - s(n)
        else:
            within = tau - n0 * per
        f = np.where(within < j.duty_frac * per, j.high_frac, j.low_frac)
        return self._checkpoints(j, since, f)

    @staticmethod
    def _checkpoints(j: TrainingJob, since: np.ndarray, f: np.ndarray) -> np.ndarray:
        if j.checkpoint_every_s is not None:
            tc = since - j.warmup_s
            m = np.floor(tc / j.checkpoint_every_s)
            f = np.where((m >= 1) & (tc - m * j.checkpoint_every_s < j.checkpoint_s), j.checkpoint_frac, f)
        return f

    def _inference(self, j: InferenceService, racks: int, key: int, idle: float, t: np.ndarray) -> np.ndarray:
        """Mean fraction of rack peak over the service's replicas at times ``t``."""
        reps = j.replicas if j.replicas is not None else racks
        slot = j.prefill_s + j.decode_s
        r = np.arange(reps)
        off = _uniform(key ^ 0x0FF5E7, r)[:, None] * slot
        m = np.floor((t[None, :] - off) / slot).astype(np.int64)
        ts = m * slot + off
        hour = self.start_hour + ts / 3600.0
        daily = 0.5 * (1.0 + np.cos(2.0 * np.pi * (hour - j.peak_hour) / 24.0))
        p_busy = j.busy_min_frac + (j.busy_max_frac - j.busy_min_frac) * daily
        busy = _uniform(key, m * 65536 + r[:, None]) < p_busy
        f = np.where(busy, np.where(t[None, :] - ts < j.prefill_s, j.prefill_frac, j.decode_frac), idle)
        return f.mean(axis=0)

    def _raw(self, t: np.ndarray) -> np.ndarray:
        """Units' power before ramp limit and filter, MW, shape (units, samples)."""
        out = np.empty((self.n, t.size))
        cache: dict[tuple[int, TrainingJob, float], np.ndarray] = {}
        for ui, u in enumerate(self.units):
            rack_mw = u.rack_peak_kw / 1000.0
            ts, fs = self._floor[ui]
            fl = np.asarray(fs)[np.searchsorted(ts, t, side="right") - 1] if len(ts) > 1 else fs[0]
            p = np.full(t.size, (u.racks - sum(self._racks[ui])) * u.idle_frac * rack_mw)
            for ji, j in enumerate(u.jobs):
                on, t_start = self._life[ui][ji].state(t)
                nr = self._racks[ui][ji]
                if on is False:
                    p += nr * u.idle_frac * rack_mw
                    continue
                if isinstance(j, TrainingJob):
                    ck = (self._keys[ui][ji], j, float(t_start)) if np.ndim(t_start) == 0 else None
                    f = cache.get(ck) if ck is not None else None
                    if f is None:
                        f = self._training(j, self._keys[ui][ji], self._phase[ui][ji], t, t_start)
                        if ck is not None:
                            cache[ck] = f  # a job in lockstep on several units: computed once
                    if j.warmup_s > 0 and float(np.min(t - t_start)) < j.warmup_s:
                        w = np.clip((t - t_start) / j.warmup_s, 0.0, 1.0)
                        f = np.where(w < 1.0, u.idle_frac + w * (f - u.idle_frac), f)
                elif isinstance(j, ConstantLoad):
                    f = np.full(t.size, j.frac)
                else:
                    f = self._inference(j, nr, self._keys[ui][ji], u.idle_frac, t)
                f = np.fmax(f, fl)  # NaN floor: none
                if on is not True:
                    f = np.where(on, f, u.idle_frac)
                p += nr * rack_mw * f
            out[ui] = p
        return out

    def samples(self, t0_s: float, dt_s: float) -> np.ndarray:
        """The fine samples of [t0, t0 + dt), MW, shape (units, samples); advances the state."""
        h = self.fine_dt_s
        k0 = round(t0_s / h)
        ns = round(dt_s / h)
        if abs(k0 * h - t0_s) > 1e-6 * h or abs(ns * h - dt_s) > 1e-6 * h or ns < 1:
            raise ValueError(f"t0_s={t0_s} and dt_s={dt_s} must be whole multiples of fine_dt_s={h}")
        if self._k_next is not None and k0 != self._k_next:
            raise ValueError(f"steps must be contiguous: expected t0_s={self._k_next * h}, got {t0_s}")
        t = np.arange(k0, k0 + ns) * h
        x = self._raw(t)
        if self._k_next is None:
            self._z = x[:, 0].copy()
            self._y = x[:, 0].copy()
        self._k_next = k0 + ns
        y = np.empty_like(x)
        _ramp_filter(x, self._z, self._y, self._r, self._c, y)
        return y

    def step(self, t0_s: float, dt_s: float) -> StepStats:
        """Per unit and site: mean, min and max IT power (MW) over [t0, t0 + dt)."""
        y = self.samples(t0_s, dt_s)
        site = y.sum(axis=0)
        return StepStats(
            t0_s=t0_s,
            dt_s=dt_s,
            mean_p_mw=y.mean(axis=1),
            min_p_mw=y.min(axis=1),
            max_p_mw=y.max(axis=1),
            site_mean_p_mw=float(site.mean()),
            site_min_p_mw=float(site.min()),
            site_max_p_mw=float(site.max()),
            fine_p_mw=y,
        )
