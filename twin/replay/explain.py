"""What happened around a divergence: the events, the twin's states, and a plain-English reading.

A divergence between the field and the twin is either a model error (the twin's physics or settings are off)
or a plant event the twin does not know of (or the reverse: a protection the twin applied and the plant did
not). :func:`divergence_context` gathers what an engineer needs to tell them apart, over the window
``[start_s - context_s, end_s + context_s]`` around the divergence:

- ``events``: the field's and the twin's events in the window, each with its offset from the divergence start;
- ``states``: the twin's state columns present in the time series (:data:`STATE_COLUMNS`, :data:`STATE_PATTERNS`):
  value at the window's start, at the divergence start and at the window's end, min, max, whether it changed;
- ``reading``: short sentences, most relevant first, each quoting its figures.

The reading's heuristics (kept simple on purpose):

1. **Events**, grouped by source and kind (the event nearest the divergence start stands for its group):
   "the field recorded 'trip_bess_block battery block 3' 0.0 s before the divergence starts". A twin event
   whose kind the field did not record in the window says so.
2. **Discrete states** (pack counts, shed tier, cooling regimes, throttled units) that changed in the window:
   "in the twin, n_packs_fault rose from 0 to 12 at 1,412 s (8 s after the divergence starts)". A protection
   (packs faulted or alarmed, packs out of service) with no field event in the window adds "a twin-side
   protection acted that the field did not record".
3. **Limits**: a battery block's charge or discharge limit that fell to 0; the site limits when they moved by
   more than 5 % (time: the largest one-row step).
4. **Cuts** normally zero (shed, under-frequency shedding, fast PV curtailment, battery shortfall, thermal IT
   cut) that are above 1 kW in the window: when they start, or that they were on throughout.
5. **PV curtailment by the controller**: ``ctrl_pv_p_limit_mw`` finite (a limit) and delivered PV more than
   1 kW below available.
6. No event and no change (at most a cut or curtailment on throughout): first "no event and no change of
   state within 60 s: a steady model error (bias +0.12 MW over the divergence, peak ...)".

Relevance: a weight per kind (field event 3, twin protection or discrete state 2.5, twin event, limit, cut
and curtailment 2) less the distance to the divergence start as a share of ``context_s`` (a time after the
start counts 1.5 times: what comes after is less likely the cause), capped at 1; a cut or curtailment on
throughout the window ranks last. SoC and the PV powers are in the states table only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from twin.replay.scores import Divergence, jsonable

__all__ = [
    "CEILING_MARGIN",
    "CEILING_SHARE",
    "DISCRETE_PATTERNS",
    "STATE_COLUMNS",
    "STATE_PATTERNS",
    "divergence_context",
    "state_columns",
]

# site columns, in the order of the states table
STATE_COLUMNS: tuple[str, ...] = (
    "soc_frac",
    "bess_charge_max_p_mw",
    "bess_discharge_max_p_mw",
    "n_packs_in_service",
    "n_packs_fault",
    "n_packs_alarm",
    "ctrl_shed_tier_idx",
    "shed_p_mw",
    "ctrl_pv_p_limit_mw",
    "pv_fast_curtail_p_mw",
    "pv_avail_p_mw",
    "pv_p_mw",
    "ufls_p_mw",
    "bess_shortfall_p_mw",
    "n_units_throttled",
    "it_thermal_cut_p_mw",
)
# per-block and per-unit columns (present when the run records them)
STATE_PATTERNS: tuple[str, ...] = (
    r"bess_b\d+_soc_frac",
    r"bess_b\d+_charge_max_p_mw",
    r"bess_b\d+_discharge_max_p_mw",
    r"spark_u\d+_regime_idx",
)
DISCRETE_PATTERNS: tuple[str, ...] = (
    r"n_packs_in_service",
    r"n_packs_fault",
    r"n_packs_alarm",
    r"ctrl_shed_tier_idx",
    r"n_units_throttled",
    r"spark_u\d+_regime_idx",
)
_PROTECTION = {"n_packs_fault": "rose", "n_packs_alarm": "rose", "n_packs_in_service": "fell"}
_CUTS = ("shed_p_mw", "ufls_p_mw", "pv_fast_curtail_p_mw", "bess_shortfall_p_mw", "it_thermal_cut_p_mw")
_CUT_MW = 1e-3  # a cut or a curtailment counts above 1 kW
_LIMIT_MOVE_FRAC = 0.05  # the site limits: a move of more than 5 % of their largest value
_W_FIELD, _W_STATE, _W_TWIN = 3.0, 2.5, 2.0
CEILING_SHARE = 0.8  # a twin value at its maximum this share of a divergence is read as a ceiling
CEILING_MARGIN = 0.01  # a field peak this far above the twin's highest value in the run is above its ceiling
_STEADY = 0.0  # the relevance of a state on throughout the window (every change or event ranks above: >= 1)
_MAX_READING = 10


def state_columns(columns: Sequence[str]) -> list[str]:
    """The state columns among ``columns``: the site's in :data:`STATE_COLUMNS` order, then per block / unit."""
    present = set(columns)
    out = [c for c in STATE_COLUMNS if c in present]
    for pattern in STATE_PATTERNS:
        rx = re.compile(pattern)
        out += sorted(c for c in columns if rx.fullmatch(c))
    return out


def _num(x: float) -> str:
    """A figure for a sentence: thousands separated, at most four significant digits below 1,000."""
    if not math.isfinite(x):
        return "no limit" if x > 0 else str(x)
    if abs(x) >= 1000 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _sec(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _when(t: float, start_s: float) -> str:
    dt = t - start_s
    if abs(dt) < 1e-9:
        return "at the divergence start"
    return f"{_sec(abs(dt))} s {'before' if dt < 0 else 'after'} the divergence starts"


def _relevance(weight: float, t: float, start_s: float, context_s: float) -> float:
    dt = t - start_s
    d = abs(dt) * (1.5 if dt > 0 else 1.0)
    return weight - min(d / context_s, 1.0)


def _start_report(e: dict[str, Any]) -> bool:
    """The twin logs every unit's cooling regime at the first step: a report of the start, not a change."""
    return e.get("source") == "twin" and e.get("kind") == "cooling_regime" and float(e["time_s"]) == 0.0


def _event_text(e: dict[str, Any]) -> str:
    detail = str(e.get("detail") or "").strip()
    return f"{e.get('kind', '')} {detail}".strip()


def _event_readings(events: list[dict[str, Any]], start_s: float, context_s: float) -> list[tuple[float, str]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in events:
        groups.setdefault((str(e.get("source", "")), str(e.get("kind", ""))), []).append(e)
    field_kinds = {k for (src, k) in groups if src == "field"}
    out: list[tuple[float, str]] = []
    for (src, kind), group in groups.items():
        e = min(group, key=lambda x: abs(float(x["time_s"]) - start_s))
        t = float(e["time_s"])
        more = f" ({len(group)} '{kind}' events in the window)" if len(group) > 1 else ""
        if src == "field":
            text = f"the field recorded '{_event_text(e)}' {_when(t, start_s)}{more}"
            out.append((_relevance(_W_FIELD, t, start_s, context_s), text))
        else:
            text = f"the twin logged '{_event_text(e)}' at {_sec(t)} s ({_when(t, start_s)}){more}"
            if kind not in field_kinds:
                text += f"; the field recorded no '{kind}' in the window"
            out.append((_relevance(_W_TWIN, t, start_s, context_s), text))
    return out


def _discrete_reading(
    col: str, t: np.ndarray, v: np.ndarray, start_s: float, context_s: float, field_events: list[dict[str, Any]]
) -> tuple[float, str] | None:
    ok = np.isfinite(v)
    t, v = t[ok], v[ok]
    if v.size < 2:
        return None
    steps = np.flatnonzero(np.diff(v) != 0) + 1
    if steps.size == 0:
        return None
    # the change nearest the divergence start stands for the column
    j = int(steps[np.argmin(np.abs(t[steps] - start_s))])
    before, after, tc = float(v[j - 1]), float(v[j]), float(t[j])
    verb = "rose" if after > before else "fell"
    when = f"at {_sec(tc)} s ({_when(tc, start_s)})"
    if col == "ctrl_shed_tier_idx":
        text = f"in the twin, the shed tier went {_num(before)} -> {_num(after)} {when}"
    else:
        text = f"in the twin, {col} {verb} from {_num(before)} to {_num(after)} {when}"
    if steps.size > 1:
        v0, v1 = _num(float(v[0])), _num(float(v[-1]))
        text += f"; {steps.size} changes in the window, {v0} at its start and {v1} at its end"
    if _PROTECTION.get(col) == verb:
        if field_events:
            first = min(field_events, key=lambda e: abs(float(e["time_s"]) - tc))
            text += (
                f"; the field recorded '{_event_text(first)}' at {_sec(float(first['time_s']))} s"
                f" ({_sec(abs(float(first['time_s']) - tc))} s from this change)"
            )
        else:
            text += ": a twin-side protection acted that the field did not record"
    return _relevance(_W_STATE, tc, start_s, context_s), text


def _largest_step(t: np.ndarray, v: np.ndarray) -> float:
    d = np.abs(np.diff(np.where(np.isfinite(v), v, 0.0)))
    return float(t[int(np.argmax(d)) + 1]) if d.size else float(t[0])


def _limit_reading(
    col: str, t: np.ndarray, v: np.ndarray, start_s: float, context_s: float
) -> tuple[float, str] | None:
    ok = np.isfinite(v)
    if ok.sum() < 2:
        return None
    t, v = t[ok], v[ok]
    v0, vmin = float(v[0]), float(v.min())
    if re.fullmatch(r"bess_b\d+_(dis)?charge_max_p_mw", col):
        if vmin <= 1e-9 < v0:
            tc = float(t[int(np.argmax(v <= 1e-9))])
            which = "discharge" if "_discharge_" in col else "charge"
            text = f"a block's {which} limit fell to 0: {col} from {_num(v0)} MW to 0"
            text += f" at {_sec(tc)} s ({_when(tc, start_s)})"
            return _relevance(_W_STATE, tc, start_s, context_s), text
        return None
    span = float(v.max()) - vmin
    if span <= _LIMIT_MOVE_FRAC * max(float(np.abs(v).max()), 1e-12):
        return None
    tc = _largest_step(t, v)
    i = int(np.searchsorted(t, tc))
    a, b = float(v[i - 1]), float(v[i])
    verb = "fell" if b < a else "rose"
    text = (
        f"in the twin, {col} {verb} from {_num(a)} to {_num(b)} MW at {_sec(tc)} s ({_when(tc, start_s)});"
        f" {_num(vmin)} to {_num(float(v.max()))} MW over the window"
    )
    return _relevance(_W_TWIN, tc, start_s, context_s), text


def _cut_reading(col: str, t: np.ndarray, v: np.ndarray, start_s: float, context_s: float) -> tuple[float, str] | None:
    on = np.isfinite(v) & (v > _CUT_MW)
    if not on.any():
        return None
    peak = float(np.nanmax(v))
    if on[0]:
        text = f"in the twin, {col} was above 0 throughout from the window's start (up to {_num(peak)} MW)"
        return _STEADY, text
    tc = float(t[int(np.argmax(on))])
    text = f"in the twin, {col} rose from 0 at {_sec(tc)} s ({_when(tc, start_s)}), up to {_num(peak)} MW"
    return _relevance(_W_TWIN, tc, start_s, context_s), text


def _curtail_reading(df: pd.DataFrame, start_s: float, context_s: float) -> tuple[float, str] | None:
    if not {"ctrl_pv_p_limit_mw", "pv_avail_p_mw", "pv_p_mw"} <= set(df.columns):
        return None
    t = df["time_s"].to_numpy(dtype=np.float64)
    lim = df["ctrl_pv_p_limit_mw"].to_numpy(dtype=np.float64)
    cut = df["pv_avail_p_mw"].to_numpy(dtype=np.float64) - df["pv_p_mw"].to_numpy(dtype=np.float64)
    limited = np.isfinite(lim)
    on = limited & np.isfinite(cut) & (cut > _CUT_MW)
    if not on.any():
        return None
    lim_min = float(np.min(lim[limited]))
    cut_max = float(np.nanmax(cut))
    if on[0]:
        text = (
            f"the twin curtailed PV from the window's start (ctrl_pv_p_limit_mw down to {_num(lim_min)} MW;"
            f" PV delivered up to {_num(cut_max)} MW below available)"
        )
        return _STEADY, text
    i = int(np.argmax(on))
    tc = float(t[i])
    text = (
        f"the twin curtailed PV (ctrl_pv_p_limit_mw fell from {_num(float(lim[0]))} to {_num(lim_min)} MW,"
        f" first at {_sec(tc)} s, {_when(tc, start_s)}; PV delivered up to {_num(cut_max)} MW below available)"
    )
    return _relevance(_W_TWIN, tc, start_s, context_s), text


def _value_at(t: np.ndarray, v: np.ndarray, at_s: float) -> float:
    """The value of the last row at or before ``at_s`` (the first row when none is)."""
    i = max(int(np.searchsorted(t, at_s, side="right")) - 1, 0)
    return float(v[i])


def _changed(v: np.ndarray) -> bool:
    """Whether any value differs from the first (beyond round-off; NaN equals NaN, inf equals inf)."""
    v0 = float(v[0])
    same = (v == v0) | (np.isnan(v) & math.isnan(v0))
    if math.isfinite(v0):
        with np.errstate(invalid="ignore"):
            same |= np.abs(v - v0) <= 1e-9 * max(1.0, abs(v0))
    return not bool(np.all(same))


def _states(df: pd.DataFrame, cols: list[str], start_s: float) -> list[dict[str, Any]]:
    t = df["time_s"].to_numpy(dtype=np.float64)
    out: list[dict[str, Any]] = []
    for c in cols:
        v = df[c].to_numpy(dtype=np.float64)
        fin = v[np.isfinite(v)]
        lo = float(fin.min()) if fin.size else math.nan
        hi = float(fin.max()) if fin.size else math.nan
        changed = _changed(v)
        out.append(
            {
                "column": c,
                "at_window_start": float(v[0]),
                "at_divergence_start": _value_at(t, v, start_s),
                "at_window_end": float(v[-1]),
                "min": lo,
                "max": hi,
                "changed": changed,
            }
        )
    return out


def _ceiling_reading(
    df: pd.DataFrame, col: str, d: Divergence, context_s: float, unit: str, signal: str
) -> tuple[float, str] | None:
    """The field above a twin value that sits, through the divergence, at the highest value it takes in the
    whole run while it varies elsewhere: a rating or limit of the model below the plant's (the PV inverters'
    AC rating, a block's limit). ``df`` is the whole time series."""
    if col not in df.columns or d.mean_error <= 0 or not col.endswith("_p_mw"):  # ratings and limits are powers
        return None
    t = df["time_s"].to_numpy(dtype=np.float64)
    v = df[col].to_numpy(dtype=np.float64)[(t >= d.start_s) & (t < d.end_s)]
    v = v[np.isfinite(v)]
    if len(v) < 3:
        return None
    top = float(v.max())
    tol = max(1e-6, 1e-3 * abs(top))
    at_top = float(np.mean(v >= top - tol))
    whole = df[col].to_numpy(dtype=np.float64)
    whole = whole[np.isfinite(whole)]
    u = f" {unit}" if unit else ""
    varies = whole.min() <= top - 0.01 * top  # a constant says nothing about a ceiling
    if top > 0 and varies and at_top >= CEILING_SHARE and whole.max() <= top + tol:
        text = (
            f"the twin's {col} sits at {_num(top)}{u} for {at_top:.0%} of the divergence while the field is "
            f"{d.mean_error:+.4g}{u} above the twin on average: a rating or limit in the model (an inverter's AC "
            "rating, a block's limit) below the plant's"
        )
        return _relevance(_W_STATE, d.start_s, d.start_s, context_s), text
    # the field's peak above anything the twin reaches in the whole run: the same cause, seen at the peak
    tv = df[col].to_numpy(dtype=np.float64)
    at_peak = tv[np.argmin(np.abs(t - d.peak_s))]
    field_peak = float(at_peak) + d.peak_error if col == signal else math.nan
    if varies and math.isfinite(field_peak) and field_peak > whole.max() * (1 + CEILING_MARGIN) and whole.max() > 0:
        text = (
            f"the field reaches {_num(field_peak)}{u} at {_sec(d.peak_s)} s, above anything the twin's {col} reaches "
            f"in the whole run ({_num(float(whole.max()))}{u}): a rating or limit in the model below the plant's"
        )
        return _relevance(_W_STATE, d.start_s, d.start_s, context_s), text
    return None


def divergence_context(
    twin: pd.DataFrame,
    events: list[dict[str, Any]],
    divergence: Divergence,
    *,
    context_s: float,
    signal: str,
    unit: str = "",
) -> dict[str, Any]:
    """The events, the twin's states and a plain-English reading around one divergence (module docstring).

    ``twin`` is the run's time series (``time_s`` then the signals); ``events`` are dicts with ``time_s``,
    ``kind``, ``detail`` and ``source`` (``"field"`` or ``"twin"``). Returns plain JSON values: ``signal``,
    ``unit``, ``divergence``, ``window`` (``start_s``, ``end_s``), ``events`` (each with ``offset_s`` from the
    divergence start), ``states`` (one dict per state column: ``column``, ``at_window_start``,
    ``at_divergence_start``, ``at_window_end``, ``min``, ``max``, ``changed``; a value that is not finite,
    such as the PV limit when there is none, is ``None``) and ``reading`` (sentences, most relevant first).
    """
    if context_s <= 0:
        raise ValueError(f"context_s must be > 0; got {context_s}")
    start_s = divergence.start_s
    w0, w1 = start_s - context_s, divergence.end_s + context_s
    near = sorted(
        (
            {**e, "offset_s": float(e["time_s"]) - start_s}
            for e in events
            if w0 <= float(e["time_s"]) <= w1 and not _start_report(e)
        ),
        key=lambda e: (float(e["time_s"]), str(e.get("source", ""))),
    )
    time = twin["time_s"].to_numpy(dtype=np.float64)
    rows = twin.loc[(time >= w0) & (time <= w1)].sort_values("time_s")
    cols = state_columns([str(c) for c in twin.columns])
    states = _states(rows, cols, start_s) if len(rows) else []

    scored: list[tuple[float, str]] = _event_readings(near, start_s, context_s)
    if len(rows) >= 2:
        t = rows["time_s"].to_numpy(dtype=np.float64)
        field_events = [e for e in near if e.get("source") == "field"]
        discrete = [re.compile(p) for p in DISCRETE_PATTERNS]
        for c in cols:
            v = rows[c].to_numpy(dtype=np.float64)
            r: tuple[float, str] | None = None
            if any(rx.fullmatch(c) for rx in discrete):
                r = _discrete_reading(c, t, v, start_s, context_s, field_events)
            elif c.endswith(("_charge_max_p_mw", "_discharge_max_p_mw")):
                r = _limit_reading(c, t, v, start_s, context_s)
            elif c in _CUTS:
                r = _cut_reading(c, t, v, start_s, context_s)
            if r is not None:
                scored.append(r)
        curtail = _curtail_reading(rows, start_s, context_s)
        if curtail is not None:
            scored.append(curtail)
        for col in (signal, "pv_avail_p_mw") if signal.startswith("pv_") else (signal,):
            r = _ceiling_reading(twin, col, divergence, context_s, unit, signal)
            if r is not None:
                scored.append(r)
                break
    scored.sort(key=lambda x: -x[0])  # stable: equal relevance keeps the order found
    reading = [text for _, text in scored[:_MAX_READING]]
    if all(rel <= _STEADY for rel, _ in scored):  # no event and no change: only states on throughout, or nothing
        u = f" {unit}" if unit else ""
        steady = (
            f"no event and no change of state within {_sec(context_s)} s: a steady model error"
            f" (bias {divergence.mean_error:+.4g}{u} over the divergence, peak {divergence.peak_error:+.4g}{u}"
            f" at {_sec(divergence.peak_s)} s)"
        )
        reading = [steady, *reading]
    out: dict[str, Any] = jsonable(
        {
            "signal": signal,
            "unit": unit,
            "divergence": divergence.as_dict(),
            "window": {"start_s": w0, "end_s": w1},
            "events": near,
            "states": states,
            "reading": reading,
        }
    )
    return out
