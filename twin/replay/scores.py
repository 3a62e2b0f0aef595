"""A field series scored against the twin's: errors with a time tolerance, figures, divergences, event windows.

Both series are on the twin's grid: rows ``t_s`` (seconds from the run's start, regular spacing ``step_s``),
``field`` (NaN where the field has no sample: a gap, not scored) and ``twin``.

**Error with a time tolerance.** A field value the twin reaches within ``time_tolerance_s`` is no error: the
error at row ``i`` is the signed distance of ``field[i]`` to the band ``[min(twin[i-k..i+k]),
max(twin[i-k..i+k])]`` with ``k = round(time_tolerance_s / step_s)`` (0 inside the band; the band is
clamped at the ends of the series). The sign is field minus twin: positive when the field is above the twin.
With ``k = 0`` the error is ``field - twin``. The error is never larger in magnitude than ``|field - twin|``
(the twin's own value is inside its band).

**Tolerance.** Row ``i`` is inside when ``|error[i]| <= tolerance + rel_tolerance_frac * |field[i]|``. A row is
scored when both the field and the twin are finite there.

**Figures** (:class:`Score`): rows scored, RMSE, bias (mean error), the largest ``|error|`` and its time, the
share of scored rows inside the tolerance. An empty selection gives ``n = 0`` and NaN figures (``None`` in
:meth:`Score.as_dict`). A signal passes when it has scored rows and its inside share is at least
``min_inside_frac``.

**Divergences** (:class:`Divergence`): a maximal run of scored rows outside the tolerance. A row lasts one
step, so a run from row ``a`` to row ``b`` spans ``[t[a], t[b] + step_s)``. A stretch of unscored rows (a
field gap) between two rows outside the tolerance joins them into one run only when the stretch is shorter
than the time tolerance (``m * step_s < time_tolerance_s`` for ``m`` unscored rows); otherwise, or when a
scored row inside the tolerance comes in between, the run ends. Runs shorter than ``min_divergence_s`` are
dropped. Peak and mean error are over the run's scored rows.

**Event windows** (:func:`event_windows`): IEC 61400-27-2 validates plant models separately in the
pre-fault, fault and post-fault windows of each event, because a model that is good in steady state can be
poor during the fault and the recovery, and one overall figure hides it. Each event gives ``pre = [t -
pre_s, t)``, ``fault = [t, clear_t_s)`` (or ``[t, t + fault_s)`` without a clearing event) and ``post =
[end of fault, end of fault + post_s)``, clipped to ``[0, t_end_s]``; windows of empty span are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from twin.config.recorded import ScoringConfig

__all__ = [
    "Divergence",
    "Score",
    "SignalScore",
    "Window",
    "band_error",
    "divergences",
    "event_windows",
    "jsonable",
    "score_rows",
    "score_signal",
]


def jsonable(x: Any) -> Any:
    """``x`` as plain JSON values: numpy scalars to Python, non-finite floats to ``None``, containers walked."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [jsonable(v) for v in x.tolist()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    return x


@dataclass(frozen=True)
class Score:
    """Figures of the scored rows of one selection (the whole run or a window)."""

    n: int  # rows scored
    rmse: float
    bias: float  # mean error (field - twin)
    max_abs_error: float
    max_error_s: float  # time of the largest |error|
    max_error: float  # the signed error at max_error_s
    inside_frac: float  # share of scored rows with |error| <= tolerance

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out


_EMPTY = Score(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class Divergence:
    """A run of rows outside the tolerance: ``[start_s, end_s)``."""

    start_s: float
    end_s: float
    duration_s: float
    peak_s: float  # time of the largest |error|
    peak_error: float  # signed
    mean_error: float

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out


@dataclass(frozen=True)
class Window:
    """A pre-fault, fault or post-fault window of one event: ``[start_s, end_s)``."""

    label: str  # "pre", "fault", "post"
    event: str
    start_s: float
    end_s: float

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out


@dataclass
class SignalScore:
    """One comparison signal scored: overall, per event window, and its divergences."""

    signal: str
    tag: str
    unit: str
    tolerance: float
    passed: bool
    overall: Score
    windows: list[tuple[Window, Score]] = field(default_factory=list)
    divergences: list[Divergence] = field(default_factory=list)
    rel_tolerance_frac: float = 0.0
    time_tolerance_s: float = 0.0
    min_inside_frac: float = 1.0

    @property
    def first_divergence(self) -> Divergence | None:
        return self.divergences[0] if self.divergences else None

    @property
    def worst(self) -> Divergence | None:
        """The divergence with the largest ``|peak_error|`` (the first of equals)."""
        if not self.divergences:
            return None
        return max(self.divergences, key=lambda d: abs(d.peak_error))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (NaN and infinities as ``None``)."""
        first, worst = self.first_divergence, self.worst
        out: dict[str, Any] = jsonable(
            {
                "signal": self.signal,
                "tag": self.tag,
                "unit": self.unit,
                "tolerance": self.tolerance,
                "rel_tolerance_frac": self.rel_tolerance_frac,
                "time_tolerance_s": self.time_tolerance_s,
                "min_inside_frac": self.min_inside_frac,
                "passed": self.passed,
                "overall": self.overall.as_dict(),
                "windows": [{**w.as_dict(), "score": s.as_dict()} for w, s in self.windows],
                "divergences": [d.as_dict() for d in self.divergences],
                "first_divergence": first.as_dict() if first is not None else None,
                "worst": worst.as_dict() if worst is not None else None,
            }
        )
        return out


def band_error(field: np.ndarray, twin: np.ndarray, k: int) -> np.ndarray:
    """Signed distance (field - twin) of each field value to the twin's band over rows ``i-k .. i+k``.

    0 inside the band; NaN where the field or the twin is not finite. Non-finite twin rows take no part in
    their neighbours' bands.
    """
    f = np.asarray(field, dtype=np.float64)
    w = np.asarray(twin, dtype=np.float64)
    if f.shape != w.shape or f.ndim != 1:
        raise ValueError(f"field and twin must be 1-D of one length; got {f.shape} and {w.shape}")
    if k < 0:
        raise ValueError(f"k must be >= 0; got {k}")
    ok = np.isfinite(w)
    if k == 0:
        lo = hi = w
    else:
        size = 2 * k + 1
        lo = minimum_filter1d(np.where(ok, w, np.inf), size, mode="nearest")
        hi = maximum_filter1d(np.where(ok, w, -np.inf), size, mode="nearest")
    with np.errstate(invalid="ignore"):
        err = np.where(f > hi, f - hi, np.where(f < lo, f - lo, 0.0))
    err[~(np.isfinite(f) & ok)] = np.nan
    return err


def score_rows(t_s: np.ndarray, err: np.ndarray, tol: np.ndarray, mask: np.ndarray) -> Score:
    """Figures of the rows in ``mask`` whose error is finite."""
    sel = np.asarray(mask, dtype=bool) & np.isfinite(err)
    n = int(sel.sum())
    if n == 0:
        return _EMPTY
    e = err[sel]
    i = int(np.argmax(np.abs(e)))
    return Score(
        n=n,
        rmse=float(np.sqrt(np.mean(e * e))),
        bias=float(np.mean(e)),
        max_abs_error=float(abs(e[i])),
        max_error_s=float(t_s[sel][i]),
        max_error=float(e[i]),
        inside_frac=float(np.mean(np.abs(e) <= tol[sel])),
    )


def divergences(
    t_s: np.ndarray,
    err: np.ndarray,
    tol: np.ndarray,
    *,
    step_s: float,
    time_tolerance_s: float,
    min_divergence_s: float,
) -> list[Divergence]:
    """The runs of rows outside the tolerance (module docstring), in time order."""
    scored = np.isfinite(err)
    with np.errstate(invalid="ignore"):
        outside = scored & (np.abs(err) > tol)
    idx = np.flatnonzero(outside)
    if idx.size == 0:
        return []
    n_scored_before = np.concatenate(([0], np.cumsum(scored)))  # scored rows in [0, j)
    gap_rows = np.diff(idx) - 1  # rows between two consecutive rows outside
    scored_between = n_scored_before[idx[1:]] - n_scored_before[idx[:-1] + 1]
    joined = (gap_rows == 0) | ((scored_between == 0) & (gap_rows * step_s < time_tolerance_s))
    breaks = np.flatnonzero(~joined)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [idx.size - 1]))
    out: list[Divergence] = []
    for a, b in zip(starts, ends):
        i0, i1 = int(idx[a]), int(idx[b])
        start_s, end_s = float(t_s[i0]), float(t_s[i1]) + step_s
        if end_s - start_s < min_divergence_s:
            continue
        rows = idx[a : b + 1]
        e = err[rows]
        j = int(np.argmax(np.abs(e)))
        out.append(
            Divergence(
                start_s=start_s,
                end_s=end_s,
                duration_s=end_s - start_s,
                peak_s=float(t_s[rows[j]]),
                peak_error=float(e[j]),
                mean_error=float(np.mean(e)),
            )
        )
    return out


def event_windows(
    events: Iterable[tuple[float, str, float | None]],
    *,
    pre_s: float,
    fault_s: float,
    post_s: float,
    t_end_s: float,
) -> list[Window]:
    """Pre-fault, fault and post-fault windows of each event ``(t_s, text, clear_t_s or None)``.

    ``pre = [t - pre_s, t)``, ``fault = [t, clear_t_s)`` or ``[t, t + fault_s)``, ``post = [end of fault,
    end of fault + post_s)``; clipped to ``[0, t_end_s]``, windows of empty span dropped. A clearing time
    before the event is refused (``ValueError``); a clearing time equal to it leaves no fault window.
    """
    out: list[Window] = []
    for t, text, clear in events:
        if clear is not None and clear < t:
            raise ValueError(f"event {text!r} at {t:g} s clears before it happens ({clear:g} s)")
        fault_end = clear if clear is not None else t + fault_s
        for label, a, b in (("pre", t - pre_s, t), ("fault", t, fault_end), ("post", fault_end, fault_end + post_s)):
            a, b = max(a, 0.0), min(b, t_end_s)
            if b > a:
                out.append(Window(label, text, float(a), float(b)))
    return out


def score_signal(
    signal: str,
    tag: str,
    unit: str,
    t_s: np.ndarray,
    field: np.ndarray,
    twin: np.ndarray,
    *,
    tolerance: float,
    cfg: ScoringConfig,
    step_s: float,
    windows: Sequence[Window] = (),
) -> SignalScore:
    """Score one comparison signal on the twin's grid (module docstring): overall, per window, divergences."""
    if step_s <= 0:
        raise ValueError(f"step_s must be > 0; got {step_s}")
    t = np.asarray(t_s, dtype=np.float64)
    f = np.asarray(field, dtype=np.float64)
    if t.shape != f.shape:
        raise ValueError(f"t_s and field must have one length; got {t.shape} and {f.shape}")
    k = round(cfg.time_tolerance_s / step_s)
    err = band_error(f, np.asarray(twin, dtype=np.float64), k)
    with np.errstate(invalid="ignore"):
        tol = tolerance + cfg.rel_tolerance_frac * np.abs(f)
    everything = np.ones(t.shape, dtype=bool)
    overall = score_rows(t, err, tol, everything)
    per_window = [(w, score_rows(t, err, tol, (t >= w.start_s) & (t < w.end_s))) for w in windows]
    divs = divergences(
        t,
        err,
        tol,
        step_s=step_s,
        time_tolerance_s=cfg.time_tolerance_s,
        min_divergence_s=cfg.min_divergence_s,
    )
    return SignalScore(
        signal=signal,
        tag=tag,
        unit=unit,
        tolerance=float(tolerance),
        passed=overall.n > 0 and overall.inside_frac >= cfg.min_inside_frac,
        overall=overall,
        windows=per_window,
        divergences=divs,
        rel_tolerance_frac=cfg.rel_tolerance_frac,
        time_tolerance_s=cfg.time_tolerance_s,
        min_inside_frac=cfg.min_inside_frac,
    )
