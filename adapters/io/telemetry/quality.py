"""Data-quality checks of one tag: from a :class:`TagSeries` as read to a :class:`CleanSeries` the twin can use.

:func:`check_tag` converts the values to the signal's unit and checks, in this
order, each check a :class:`Finding` with the file, the tag, the rows and what
was done (nothing is dropped silently):

========================  ==============================================================  =====================
kind                      what                                                            action
========================  ==============================================================  =====================
``outside_run``           samples before / after the run's span (info)                    ignored
``bad_quality``           the historian's quality is not good                             dropped
``nan``                   empty, non-numeric or infinite values                           dropped
``clock_step``            the time goes back by at least ``clock_step_s`` (a clock        sorted; overlapping
                          reset, a naive DST fall-back); the overlap listed               stamps: last kept
``out_of_order``          a sample earlier than the one before it by less than that       sorted
``duplicate``             one stamp several times (whether the values agree is said)      the last kept
``unit``                  the 99th percentile of |value| is far off the signal's rating   error (exit 2)
                          (> 50 x, or < 1/200 x when not mostly zero): the unit that
                          fits is suggested
``out_of_bounds``         values outside the signal's physical bounds                     dropped
``stuck``                 one value unchanged for ``stuck_s`` in a signal that varies     kept (listed)
                          (not for states, not at exactly 0)
``gap``                   spacing above ``max_gap_s`` (None: 5 x the median spacing);     inputs filled (load.py),
                          never below 2 x the median spacing                              not scored
========================  ==============================================================  =====================

Rows are the reader's rows (a CSV's line numbers, a Parquet record number, a
COMTRADE sample number); a finding lists at most the first :data:`MAX_ROWS`.
Everything is vectorised numpy: a tag of a million samples checks in well
under a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from adapters.io.telemetry.series import CleanSeries, Finding, Severity, TagSeries, finding, rows_text
from twin.config.recorded import QualityConfig

__all__ = [
    "GAP_FLOOR_MEDIANS",
    "GAP_MEDIANS",
    "UNIT_FIT",
    "UNIT_HIGH",
    "UNIT_LOW",
    "check_tag",
]

GAP_MEDIANS = 5.0  # default gap: 5 x the median spacing (a missed sample or two is no gap; a stopped logger is)
GAP_FLOOR_MEDIANS = 2.0  # a gap threshold below 2 x the median spacing would call every other sample a gap
# the unit check: a 99th percentile of |value| above 50 x the rating is beyond any overload (a unit 1000 x off,
# kW read as MW, lands far above); below 1/200 of it the unit is likely 1000 x off the other way (a signal that
# is mostly exactly zero, an idle unit or a night, is not judged). A unit "fits" when it brings the percentile
# within [0.02, 2] x the rating (a 100 x window: one unit step of 1000 cannot fit twice).
UNIT_HIGH = 50.0
UNIT_LOW = 1.0 / 200.0
UNIT_FIT = (0.02, 2.0)
_NS = 1_000_000_000


def _stamp(t_ns: int) -> str:
    t = np.datetime64(int(t_ns), "ns")
    return str(t.astype("M8[s]" if t_ns % _NS == 0 else "M8[ms]")) + "Z"


def _dur(s: float) -> str:
    if s < 120:  # seconds read best up to two minutes, minutes up to two hours
        return f"{s:g} s"
    return f"{s / 60:.4g} min" if s < 7200 else f"{s / 3600:.4g} h"


def _num(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 1000 else f"{x:.4g}"


def _rows(rows: np.ndarray) -> str:
    return rows_text(rows)


class _Report:
    def __init__(self, series: TagSeries) -> None:
        self.file, self.tag = series.file, series.tag
        self.findings: list[Finding] = []

    def add(self, kind: str, message: str, action: str, severity: Severity, rows: np.ndarray) -> None:
        self.findings.append(finding(self.file, self.tag, kind, message, action, severity, rows))


def _keep(keep: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return arrays if keep.all() else tuple(a[keep] for a in arrays)


def check_tag(
    series: TagSeries,
    *,
    to_signal: float,
    offset: float = 0.0,
    unit: str,
    signal: str,
    signal_unit: str,
    alternatives: Mapping[str, float],
    bounds: tuple[float, float],
    rating: float | None,
    is_state: bool,
    qcfg: QualityConfig,
    t0_ns: int,
    t1_ns: int,
    keep_state: bool = False,
) -> tuple[CleanSeries, list[Finding]]:
    """Check one tag and convert it to the signal's unit (``value * to_signal + offset``).

    ``unit`` is the file's unit as the mapping names it, ``alternatives`` the units of the signal's
    dimension with their factor to ``signal_unit``, ``rating`` a typical full-scale magnitude of the
    signal (None: no unit check), ``[t0_ns, t1_ns]`` the run's span with the caller's margin.
    ``keep_state``: keep the last sample before the span and the first after it (a state or a start value
    logged on change: the value in force may have been logged long before).
    Returns the clean series (strictly increasing times, finite values) and the findings.
    """
    rep = _Report(series)
    row = np.asarray(series.row, np.int64)
    t = np.asarray(series.time_ns, np.int64)
    good = np.asarray(series.good, bool)
    v = np.asarray(series.value, np.float64) * to_signal + offset

    inside = (t >= t0_ns) & (t <= t1_ns)
    if not inside.all():
        # the last usable sample before the span and the first after it are kept: a historian that logs on
        # change holds a breaker's or a SoC's state from long before (the value in force at the start)
        usable = good & np.isfinite(v)
        before = np.flatnonzero(usable & (t < t0_ns)) if keep_state else np.zeros(0, np.int64)
        after = np.flatnonzero(usable & (t > t1_ns)) if keep_state else np.zeros(0, np.int64)
        kept = len(before) + len(after) > 0
        if len(before):
            inside[before[np.argmax(t[before])]] = True
        if len(after):
            inside[after[np.argmin(t[after])]] = True
        drop = ~inside
        n_before, n_after = int(np.count_nonzero(drop & (t < t0_ns))), int(np.count_nonzero(drop & (t > t1_ns)))
        if drop.any():
            held = "; kept the last before it and the first after it (the state in force)" if kept else ""
            rep.add(
                "outside_run",
                f"{n_before} samples before and {n_after} after the run's span ({_stamp(t0_ns)} to "
                f"{_stamp(t1_ns)}) ignored{held}",
                f"ignored {n_before + n_after} samples",
                "info",
                row[drop],
            )
        row, t, good, v = _keep(inside, row, t, good, v)

    if not good.all():
        bad = row[~good]
        rep.add(
            "bad_quality",
            f"{len(bad)} samples with a quality code other than good ({_rows(bad)})",
            f"dropped {len(bad)} samples",
            "warning",
            bad,
        )
        row, t, v = _keep(good, row, t, v)

    finite = np.isfinite(v)
    if not finite.all():
        bad = row[~finite]
        rep.add(
            "nan",
            f"{len(bad)} empty or non-numeric values ({_rows(bad)})",
            f"dropped {len(bad)} samples",
            "warning",
            bad,
        )
        row, t, v = _keep(finite, row, t, v)

    row, t, v = _order(rep, row, t, v, qcfg.clock_step_s)
    row, t, v = _duplicates(rep, row, t, v, signal_unit)
    row, t, v = _unit_and_bounds(rep, row, t, v, unit, signal, signal_unit, alternatives, bounds, rating)
    if not is_state:
        _stuck(rep, row, t, v, qcfg.stuck_s, signal_unit)
    # states (breakers, counts) are commonly logged on change: a long spacing is no gap, the value holds
    gaps = () if is_state else _gaps(rep, row, t, qcfg.max_gap_s)
    return CleanSeries(series.tag, t, v, gaps), rep.findings


def _order(rep: _Report, row: np.ndarray, t: np.ndarray, v: np.ndarray, step_s: float) -> tuple[np.ndarray, ...]:
    """Samples behind the latest stamp so far: out of order, or (at least ``step_s`` back) a clock step."""
    if len(t) < 2 or bool(np.all(t[1:] >= t[:-1])):
        return row, t, v
    prev = np.maximum.accumulate(t)[:-1]
    behind = np.r_[False, t[1:] < prev]
    lag = np.r_[0, prev - t[1:]]
    start = behind & ~np.r_[False, behind[:-1]]  # first sample of each run behind the latest stamp
    episode = np.cumsum(start) - 1
    starts = np.flatnonzero(start)
    is_clock_ep = lag[starts] >= step_s * _NS
    clock = behind & is_clock_ep[np.maximum(episode, 0)]
    if clock.any():
        steps = starts[is_clock_ep]
        said = "; ".join(
            f"at row {int(row[i])} back by {_dur(lag[i] / _NS)} ({_stamp(int(prev[i - 1]))} to {_stamp(int(t[i]))})"
            for i in steps[:3]  # three steps in words, the rows say the rest
        )
        over = row[clock]
        rep.add(
            "clock_step",
            f"{len(steps)} clock step{'s' if len(steps) > 1 else ''} back: {said}; {len(over)} "
            f"samples overlap earlier ones ({_rows(over)})",
            "sorted into time order; of stamps that coincide, the last sample kept",
            "warning",
            over,
        )
    ooo = behind & ~clock
    if ooo.any():
        bad = row[ooo]
        rep.add(
            "out_of_order",
            f"{len(bad)} samples earlier than the one before them, by up to "
            f"{_dur(float(lag[ooo].max()) / _NS)} ({_rows(bad)})",
            "sorted into time order",
            "warning",
            bad,
        )
    order = np.argsort(t, kind="stable")  # stable: samples of one stamp stay in file order (the last wins)
    return row[order], t[order], v[order]


def _duplicates(rep: _Report, row: np.ndarray, t: np.ndarray, v: np.ndarray, unit: str) -> tuple[np.ndarray, ...]:
    same = t[1:] == t[:-1]
    if not same.any():
        return row, t, v
    drop = np.r_[same, False]  # a sample whose successor has its stamp: only the last of each stamp stays
    di = np.flatnonzero(drop)
    last = np.searchsorted(t, t[di], side="right") - 1
    differ = v[di] != v[last]
    n_stamps = len(np.unique(t[di]))
    g0 = np.searchsorted(t, t[di[0]])
    k = int(last[0] - g0 + 1)
    msg = (
        f"{n_stamps} stamps appear more than once ({len(di)} extra samples): kept the last of {k} samples at "
        f"{_stamp(int(t[di[0]]))} (rows {', '.join(str(int(r)) for r in row[g0 : last[0] + 1])})"
    )
    if differ.any():
        j = int(np.argmax(differ))
        msg += (
            f"; the values differ at {int(np.count_nonzero(differ))} of them (row {int(row[di[j]])}: "
            f"{_num(v[di[j]])} {unit}, kept row {int(row[last[j]])}: {_num(v[last[j]])} {unit})"
        )
    else:
        msg += "; the values agree"
    rep.add(
        "duplicate",
        msg,
        f"kept the last sample of each stamp, dropped {len(di)}",
        "warning" if differ.any() else "info",
        row[di],
    )
    keep = ~drop
    return row[keep], t[keep], v[keep]


def _factor(alternatives: Mapping[str, float], unit: str) -> tuple[str, float] | None:
    if unit in alternatives:
        return unit, alternatives[unit]
    folded = [u for u in alternatives if u.lower() == unit.strip().lower()]
    return (folded[0], alternatives[folded[0]]) if len(folded) == 1 else None


def _unit_and_bounds(
    rep: _Report,
    row: np.ndarray,
    t: np.ndarray,
    v: np.ndarray,
    unit: str,
    signal: str,
    signal_unit: str,
    alternatives: Mapping[str, float],
    bounds: tuple[float, float],
    rating: float | None,
) -> tuple[np.ndarray, ...]:
    lo, hi = bounds
    out = (v < lo) | (v > hi)
    n_out = int(np.count_nonzero(out))
    unit_msg = ""
    if rating is not None and rating > 0 and len(v):
        p99 = float(np.percentile(np.abs(v), 99))
        mostly_zero = np.count_nonzero(v) * 2 < len(v)
        high, low = p99 > UNIT_HIGH * rating, (not mostly_zero) and p99 < UNIT_LOW * rating
        if high or low:
            unit_msg = (
                f"values up to {_num(p99)} {signal_unit} (99th percentile of |value|) for {signal} rated "
                f"{_num(rating)} {signal_unit}"
            )
            fits = []
            base = _factor(alternatives, unit)
            if base is not None:
                for u, f in alternatives.items():
                    x = p99 * f / base[1]
                    if u != base[0] and UNIT_FIT[0] * rating <= x <= UNIT_FIT[1] * rating:
                        fits.append((abs(math.log(x / rating)), u))
            if fits:
                u = min(fits)[1]
                unit_msg += f': the column looks like {u}, the mapping says {unit} (set unit = "{u}")'
                # too large stops the run (a kW column read as MW is 1000 x the plant); too small may be a quiet
                # signal (an idle block, reactive power near 0), so it is listed, not fatal
                sev: Severity = "error" if high else "warning"
            else:
                unit_msg += f": {'far above' if high else 'far below'} it; check the tag's unit ({unit}) and scale"
                sev = "warning"
            dropped = f"; {n_out} samples outside [{_num(lo)}, {_num(hi)}] {signal_unit} dropped" if n_out else ""
            rep.add("unit", unit_msg, f"cannot be trusted: fix the mapping{dropped}", sev, row[out])
    if n_out and not unit_msg:
        bad = row[out]
        vo = v[out]
        rep.add(
            "out_of_bounds",
            f"{n_out} samples outside the bounds [{_num(lo)}, {_num(hi)}] {signal_unit} of "
            f"{signal}: from {_num(float(vo.min()))} to {_num(float(vo.max()))} ({_rows(bad)})",
            f"dropped {n_out} samples",
            "warning",
            bad,
        )
    if n_out:
        keep = ~out
        return row[keep], t[keep], v[keep]
    return row, t, v


def _stuck(rep: _Report, row: np.ndarray, t: np.ndarray, v: np.ndarray, stuck_s: float, unit: str) -> None:
    if len(v) < 2 or v.min() == v.max():  # a constant tag (a setpoint, a spare) does not vary anywhere
        return
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    ends = np.r_[starts[1:], len(v)] - 1
    dur_ns = t[ends] - t[starts]
    stuck = (dur_ns >= stuck_s * _NS) & (v[starts] != 0.0)  # exactly 0: a night or an idle unit
    if not stuck.any():
        return
    mask = np.repeat(stuck, ends - starts + 1)
    runs = np.flatnonzero(stuck)
    said = "; ".join(
        f"{_num(v[starts[i]])} {unit} for {_dur(dur_ns[i] / _NS)} from {_stamp(int(t[starts[i]]))} (rows "
        f"{int(row[starts[i]])}-{int(row[ends[i]])})"
        for i in runs[:3]  # three runs in words, the rows say the rest
    )
    rep.add(
        "stuck",
        f"{len(runs)} run{'s' if len(runs) > 1 else ''} of one unchanged value for {_dur(stuck_s)} or more: {said}",
        "kept (listed only)",
        "warning",
        row[mask],
    )


def _gaps(rep: _Report, row: np.ndarray, t: np.ndarray, max_gap_s: float | None) -> tuple[tuple[int, int], ...]:
    if len(t) < 3:  # no spacing to judge
        return ()
    dt = np.diff(t)
    med = float(np.median(dt))
    limit = GAP_MEDIANS * med if max_gap_s is None else max(max_gap_s * _NS, GAP_FLOOR_MEDIANS * med)
    at = np.flatnonzero(dt > limit)
    if not len(at):
        return ()
    said = "; ".join(
        f"{_dur(dt[i] / _NS)} from {_stamp(int(t[i]))} (rows {int(row[i])} to {int(row[i + 1])})" for i in at[:3]
    )  # three gaps in words, the rows say the rest
    rep.add(
        "gap",
        f"{len(at)} gap{'s' if len(at) > 1 else ''} longer than {_dur(limit / _NS)} (median spacing "
        f"{_dur(med / _NS)}): {said}",
        "inputs: states held across the gap, quantities filled with the mean of the window before it; "
        "comparisons: not scored",
        "warning",
        np.sort(np.concatenate([row[at], row[at + 1]])),  # the rows either side of each gap
    )
    return tuple((int(t[i]), int(t[i + 1])) for i in at)
