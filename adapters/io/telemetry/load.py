"""A mapping's telemetry to what a run needs: recorded inputs, start state, events, and comparison series.

:func:`load_telemetry` reads every source of a :class:`Mapping` (each file once),
checks every tag (:func:`adapters.io.telemetry.quality.check_tag`) and keeps the
findings; a finding of severity ``error`` (a unit that looks wrong, a tag with
no sample in the run's span) stops with :class:`twin.errors.TelemetryError`.
:func:`recorded_inputs` turns the input, initial and event tags into
:class:`twin.replay.inputs.RecordedInputs` and scenario events;
:func:`compare_frame` puts the compare tags on the twin's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from adapters.io.telemetry.mapping_file import EVENT, Mapping, ResolvedTag
from adapters.io.telemetry.quality import check_tag
from adapters.io.telemetry.readers import read_source
from adapters.io.telemetry.series import CleanSeries, Finding
from twin.config import Scenario
from twin.errors import TelemetryError
from twin.replay.inputs import RecordedInputs
from twin.replay.resample import gap_mask, resample_hold, resample_mean
from twin.replay.units import alternatives, canonical_unit
from twin.site import start_timestamp

__all__ = [
    "FieldEvent",
    "Telemetry",
    "FILL_WINDOW_MIN_S",
    "column_name",
    "compare_frame",
    "field_events",
    "filled",
    "Recorded",
    "load_recorded",
    "load_telemetry",
    "on_grid",
    "resample_mode",
    "recorded_inputs",
]

# samples this far before the start and after the end are read (the value held at the start comes from them);
# a state, an event or a start value also keeps its last sample from before that (logged on change)
MARGIN_S = 3600.0


@dataclass(frozen=True)
class FieldEvent:
    """An event fired by an event tag."""

    time_s: float
    tag: ResolvedTag
    which: str  # "rise" or "fall"
    event: dict[str, Any]  # the scenario event (with at_s)
    clear_s: float | None  # when the opposite transition of the same tag fires (the end of a fault window)
    at_start: bool  # fired at t = 0 for a state at the start that is not the tag's normal one

    @property
    def detail(self) -> str:
        """The event's keys and the tag that fired it: ``(block 3) [BESS03.52A]``."""
        args = ", ".join(f"{k} {v}" for k, v in self.event.items() if k not in ("kind", "at_s"))
        return f"{'(' + args + ') ' if args else ''}[{self.tag.cfg.tag}]"

    @property
    def text(self) -> str:
        return f"{self.event['kind']} {self.detail}"


@dataclass(frozen=True)
class Telemetry:
    mapping: Mapping
    start: pd.Timestamp  # the run's start (tz-aware)
    duration_s: float
    series: dict[int, CleanSeries]  # by the tag's position in the mapping
    findings: tuple[Finding, ...]

    def t_s(self, tag: ResolvedTag) -> np.ndarray:
        return (self.series[tag.i].time_ns - self.start.value) / 1e9

    def gaps_s(self, tag: ResolvedTag) -> list[tuple[float, float]]:
        s0 = self.start.value
        return [((a - s0) / 1e9, (b - s0) / 1e9) for a, b in self.series[tag.i].gaps_ns]

    def spacing_s(self, tag: ResolvedTag) -> float:
        t = self.t_s(tag)
        return float(np.median(np.diff(t))) if len(t) > 1 else 0.0


def load_telemetry(mapping: Mapping, sc: Scenario) -> Telemetry:
    """Read and check every tag of ``mapping`` for the run of ``sc``."""
    start = start_timestamp(sc)
    s0 = int(start.value)
    t0_ns = s0 - int(MARGIN_S * 1e9)
    t1_ns = s0 + int((sc.run.duration_s + MARGIN_S) * 1e9)
    base = mapping.path.parent
    findings: list[Finding] = []
    series: dict[int, CleanSeries] = {}
    by_source: dict[str, list[ResolvedTag]] = {}
    for t in mapping.tags:
        by_source.setdefault(t.source.file, []).append(t)
    qcfg = mapping.config.quality
    for tags in by_source.values():
        src = tags[0].source
        raw, f_src = read_source(src, base, src.timezone or mapping.timezone, [t.cfg.tag for t in tags])
        findings += f_src
        for t in tags:
            sig = t.signal
            lo = sig.bounds[0] if t.cfg.min is None else t.cfg.min
            hi = sig.bounds[1] if t.cfg.max is None else t.cfg.max
            clean, f_tag = check_tag(
                raw[t.cfg.tag],
                to_signal=t.factor,
                offset=t.offset,
                unit=canonical_unit(t.cfg.unit) or sig.unit,
                signal=sig.name,
                signal_unit=sig.unit,
                alternatives=alternatives(sig.unit) if t.cfg.role != "event" else {},
                bounds=(lo, hi),
                rating=sig.rating if t.cfg.role != "event" else None,
                is_state=sig.is_state,
                qcfg=qcfg,
                t0_ns=t0_ns,
                t1_ns=t1_ns,
                keep_state=sig.is_state or t.cfg.role in ("event", "initial") or t.cfg.initial,
            )
            findings += f_tag
            series[t.i] = clean
    errors = [f for f in findings if f.severity == "error"]
    for t in mapping.tags:
        c = series.get(t.i)
        if c is not None and len(c.time_ns) == 0:
            why = [
                f.message for f in findings if f.tag == t.cfg.tag and f.file == t.source.file and f.kind != "timezone"
            ]
            because = f": {'; '.join(why)}" if why else ""
            errors.append(
                Finding(t.source.file, t.cfg.tag, "empty", f"tag {t.cfg.tag!r} has no usable sample within an hour "
                        f"of the run ({start.isoformat()}, {sc.run.duration_s:g} s){because}", "cannot be used",
                        "error")
            )  # fmt: skip
    if errors:
        lines = [
            f"{f.file}{':' + str(f.row) if f.row is not None else ''}: {f.tag + ': ' if f.tag else ''}{f.message}"
            for f in errors
        ]
        sep = "\n  " if len(lines) > 1 else " "
        raise TelemetryError(f"{mapping.path}: the telemetry cannot be used:{sep}" + sep.join(lines))
    return Telemetry(mapping, start, sc.run.duration_s, series, tuple(findings))


# --------------------------------------------------------------------------- inputs
FILL_WINDOW_MIN_S = 60.0  # a gap in a power or weather input is filled with the mean of at least this long before it


def resample_mode(t: ResolvedTag) -> str:
    """The tag's ``resample`` (mean or hold), else its signal's: hold for states, mean for quantities."""
    return t.cfg.resample or t.signal.resample


def on_grid(tel: Telemetry, t: ResolvedTag, grid_t_s: np.ndarray, dt_s: float) -> np.ndarray:
    """An input on a step grid: the mean over each step of the held (and gap-filled) samples, or the value held
    at each step's start (``resample = "hold"``)."""
    ts, v = filled(tel, t)
    return resample_hold(ts, v, grid_t_s) if resample_mode(t) == "hold" else resample_mean(ts, v, grid_t_s, dt_s)


def filled(tel: Telemetry, t: ResolvedTag) -> tuple[np.ndarray, np.ndarray]:
    """An input's samples with each gap filled: a state holds its last value across the gap; a quantity
    (power, irradiance, temperature) takes, from one spacing after the last sample before the gap, the mean of the
    held signal over the window before the gap (as long as the gap, at least ``FILL_WINDOW_MIN_S``): holding
    one sample of an oscillating load or a passing cloud for the whole gap would bias the energy."""
    ts, v = tel.t_s(t), tel.series[t.i].value
    gaps = tel.gaps_s(t)
    if t.signal.is_state or not gaps:
        return ts, v
    dt = tel.spacing_s(t)
    add_t, add_v = [], []
    for a, b in gaps:
        w = max(b - a, FILL_WINDOW_MIN_S)
        add_t.append(a + dt)
        add_v.append(float(resample_mean(ts, v, np.array([a + dt - w]), w)[0]))
    t2 = np.concatenate([ts, add_t])
    order = np.argsort(t2, kind="stable")
    return t2[order], np.concatenate([v, add_v])[order]


def _say_input(tel: Telemetry, t: ResolvedTag, how: str) -> str:
    ts = tel.t_s(t)
    gaps = tel.gaps_s(t)
    s = (
        f"{t.signal.name} from {t.source.file} tag {t.cfg.tag!r} ({len(ts)} samples, median spacing "
        f"{tel.spacing_s(t):g} s): {how}"
    )
    if gaps:
        longest = max(b - a for a, b in gaps)
        if t.signal.is_state:
            s += f"; held across {len(gaps)} gap(s), the longest {longest:g} s"
        else:
            s += (
                f"; filled across {len(gaps)} gap(s), the longest {longest:g} s, with the mean of the window before "
                f"each (as long as the gap, at least {FILL_WINDOW_MIN_S:g} s) from one spacing after its last sample"
            )
    if len(ts) and ts[0] > 0:
        s += f"; before the first sample (+{ts[0]:g} s) its value holds"
    if len(ts) and ts[-1] < tel.duration_s:
        s += f"; after the last (+{ts[-1]:g} s) it holds to the end"
    return s


def recorded_inputs(tel: Telemetry, sc: Scenario) -> tuple[RecordedInputs, tuple[Any, ...], list[FieldEvent]]:
    """The run's recorded inputs and start state, the scenario events the event tags fire, and those events."""
    step = sc.run.step_s
    rows = np.arange(sc.n_steps + 1) * step  # the PV plant's grid
    site = sc.site
    said: list[str] = []
    kw: dict[str, Any] = {}
    inputs = tel.mapping.of_role("input")
    by = {k: [t for t in inputs if t.signal.target == k] for k in ("pv_poa", "pv_ghi", "pv_avail", "it")}

    def mean_on_rows(t: ResolvedTag) -> np.ndarray:
        return on_grid(tel, t, rows, step)

    def how(t: ResolvedTag, dt: float) -> str:
        if resample_mode(t) == "hold":
            return f'the value held at the start of each {dt:g} s step (resample = "hold")'
        return f"mean over each {dt:g} s step of the held samples"

    for key, target in (("pv_poa_w_m2", "pv_poa"), ("pv_avail_p_mw", "pv_avail")):
        ts = sorted(by[target], key=lambda t: -1 if t.signal.index is None else t.signal.index)
        if not ts:
            continue
        if ts[0].signal.index is None:
            v = mean_on_rows(ts[0])
            if target == "pv_avail":  # the plant's available power, shared equally among identical blocks
                v = np.repeat((v / site.pv.n_blocks)[:, None], site.pv.n_blocks, axis=1)
                said.append(
                    _say_input(tel, ts[0], how(ts[0], step) + f", shared equally by the {site.pv.n_blocks} blocks")
                )
            else:
                said.append(_say_input(tel, ts[0], how(ts[0], step) + ", the same on every block"))
            kw[key] = v
        else:
            kw[key] = np.stack([mean_on_rows(t) for t in ts], axis=1)
            said += [_say_input(tel, t, how(t, step)) for t in ts]
    if by["pv_ghi"]:
        t = by["pv_ghi"][0]
        kw["pv_ghi_w_m2"] = mean_on_rows(t)
        said.append(_say_input(tel, t, how(t, step) + "; turned into POA on the trackers with pvlib (Erbs)"))
    it = by["it"]
    if it:
        union = np.unique(np.concatenate([filled(tel, t)[0] for t in it]))
        fine = "held between samples at the data center's fine step (so each step's mean is the held signal's)"
        if it[0].signal.index is None:
            n = site.spark.n_units
            w = np.asarray(tel.mapping.config.it_share_weights or [site.spark.it_peak_mw] * n, dtype=float)
            w = w / w.sum()
            v = resample_hold(*filled(tel, it[0]), union)
            kw.update(it_units=tuple(range(n)), it_t_s=union, it_p_mw=w[:, None] * v[None, :])
            said.append(_say_input(tel, it[0], fine + f"; shared by the units in the shares {np.round(w, 4).tolist()}"))
        else:
            it = sorted(it, key=lambda t: t.signal.index or 0)
            units = tuple(int(t.signal.index or 0) for t in it)
            p = np.stack([resample_hold(*filled(tel, t), union) for t in it])
            kw.update(it_units=units, it_t_s=union, it_p_mw=p)
            said += [_say_input(tel, t, fine) for t in it]
    amb = {t.signal.target: t for t in inputs if t.signal.target in ("temp_amb", "rh")}
    if amb:
        period = sc.models.ambient.step_s
        grid = np.arange(int(np.ceil(sc.run.duration_s / period)) + 1) * period
        kw["ambient_t_s"] = grid
        for target, key in (("temp_amb", "ambient_temp_c"), ("rh", "ambient_rh_frac")):
            if target in amb:
                t = amb[target]
                kw[key] = on_grid(tel, t, grid, period)
                said.append(_say_input(tel, t, how(t, period) + " of the ambient model"))
    kw.update(_start_state(tel, said))
    evs = field_events(tel)
    scenario_events = tuple(EVENT.validate_python(e.event) for e in evs)
    for e in evs:
        said.append(
            f"event {e.text} at {e.time_s:g} s"
            + (" (the state at the start is not the tag's normal one)" if e.at_start else "")
        )
    return RecordedInputs(statements=tuple(said), **kw), scenario_events, evs


def _value_at_start(tel: Telemetry, t: ResolvedTag, said: list[str]) -> float:
    ts = tel.t_s(t)
    v = float(resample_hold(ts, tel.series[t.i].value, np.array([0.0]))[0])
    where = "the sample at or before the start" if ts[0] <= 0 else f"the first sample, +{ts[0]:g} s after the start"
    said.append(f"start state {t.signal.name} = {v:g} from {t.source.file} tag {t.cfg.tag!r} ({where})")
    return v


def _start_state(tel: Telemetry, said: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start_soc_block": {},
        "start_soc_pack": {},
        "start_temp_pack": {},
    }
    off: list[int] = []
    for t in tel.mapping.tags:
        sig = t.signal if t.cfg.role == "initial" else t.initial
        if sig is None:
            continue
        v = _value_at_start(tel, t, said)
        i = sig.index
        if sig.target == "soc_block":
            out["start_soc_block"][i] = v
        elif sig.target == "soc_pack":
            out["start_soc_pack"][i] = v
        elif sig.target == "temp_pack":
            out["start_temp_pack"][i] = v
        elif sig.target == "temp_all":
            out["start_temp_all_c"] = v
        elif sig.target == "service_pack" and v == 0 and i is not None:
            off.append(i)
    out["out_of_service_packs"] = tuple(off)
    return out


def field_events(tel: Telemetry) -> list[FieldEvent]:
    """The events the event tags fire within the run: on each change of state (``rise``/``fall``), and at
    t = 0 for a state at the start that is not the tag's ``normal``."""
    out: list[FieldEvent] = []
    for t in tel.mapping.of_role("event"):
        ts = tel.t_s(t)
        on = tel.series[t.i].value != 0
        state0 = bool(resample_hold(ts, on.astype(float), np.array([0.0]))[0])
        fired: list[tuple[float, str, bool]] = []
        if t.cfg.normal is not None and state0 != t.cfg.normal:
            fired.append((0.0, "rise" if state0 else "fall", True))
        change = np.flatnonzero(np.diff(on.astype(np.int8)) != 0) + 1
        for k in change:
            if 0 < ts[k] < tel.duration_s:
                fired.append((float(ts[k]), "rise" if on[k] else "fall", False))
        for j, (at, which, at_start) in enumerate(fired):
            if getattr(t.cfg, which) is None:
                continue
            # the fault window ends at the tag's next opposite change, whether or not that change fires an event
            nxt = [f for f in fired[j + 1 :] if f[1] != which]
            clear = nxt[0][0] if nxt else None
            out.append(FieldEvent(at, t, which, t.cfg.event_dict(which, at), clear, at_start))  # type: ignore[arg-type]
    return sorted(out, key=lambda e: e.time_s)


# --------------------------------------------------------------------------- comparison
def compare_frame(tel: Telemetry, time_s: np.ndarray, step_s: float) -> pd.DataFrame:
    """The compare tags on the twin's rows (``time_s``, each row the step ``[t, t + step_s)``): the mean (or
    held value, for states) of the field samples over the step; NaN where the record has a gap or no data."""
    cols: dict[str, np.ndarray] = {"time_s": np.asarray(time_s, dtype=float)}
    for t in tel.mapping.of_role("compare"):
        ts = tel.t_s(t)
        v = tel.series[t.i].value
        g = cols["time_s"]
        x = resample_hold(ts, v, g) if resample_mode(t) == "hold" else resample_mean(ts, v, g, step_s)
        if t.signal.is_state:  # a state holds until its next change (logged on change): only before the first
            x[g + step_s <= ts[0]] = np.nan
        else:
            hold = max(tel.spacing_s(t), step_s)
            x[gap_mask(ts, g, step_s, tel.gaps_s(t), hold)] = np.nan
        cols[column_name(tel.mapping, t)] = x
    return pd.DataFrame(cols)


def column_name(mapping: Mapping, t: ResolvedTag) -> str:
    """The field frame's column of a compare tag: its signal (``signal@tag`` when two tags share it)."""
    same = [u for u in mapping.of_role("compare") if u.signal.name == t.signal.name]
    return t.signal.name if len(same) <= 1 else f"{t.signal.name}@{t.cfg.tag}"


# --------------------------------------------------------------------------- a scenario's field data
@dataclass(frozen=True)
class Recorded:
    """A scenario's ``[recorded]`` field data, loaded: the scenario with the fired events added, the inputs
    for :func:`twin.site.build_site`, the telemetry (for scoring) and the events it fired."""

    scenario: Scenario
    inputs: RecordedInputs
    telemetry: Telemetry
    events: tuple[FieldEvent, ...]
    base: Scenario  # as given (its [recorded] mapping the one used): the results' scenario.toml, which runs again

    def summary(self) -> dict[str, Any]:
        """The results' account of the field data (``summary.json`` ``recorded``)."""
        return {
            "mapping": str(self.telemetry.mapping.path),
            "statements": list(self.inputs.statements),
            "findings": [f.as_dict() for f in self.telemetry.findings],
        }


def load_recorded(sc: Scenario, mapping: Mapping | None = None) -> Recorded | None:
    """The field data of a scenario with ``[recorded] mapping`` (or of ``mapping``), None without any."""
    from adapters.io.telemetry.mapping_file import load_mapping

    if mapping is None:
        if not sc.recorded.mapping:
            return None
        mapping = load_mapping(sc.recorded.mapping, sc.site)
    tel = load_telemetry(mapping, sc)
    inputs, events, fired = recorded_inputs(tel, sc)
    if sc.recorded.require_all_inputs:
        missing = [
            what
            for what, ok in (
                ("PV", any(x is not None for x in (inputs.pv_poa_w_m2, inputs.pv_ghi_w_m2, inputs.pv_avail_p_mw))),
                ("IT power", bool(inputs.it_units)),
                ("ambient", inputs.ambient_t_s is not None),
            )
            if not ok
        ]
        if missing:
            raise TelemetryError(
                f"{mapping.path}: [recorded] require_all_inputs is set but the mapping records no "
                f"{' and no '.join(missing)} input"
            )
    _check_pack_ids(mapping, sc)
    merged = tuple(sorted((*sc.events, *events), key=lambda e: e.at_s))
    base = sc.model_copy(update={"recorded": sc.recorded.model_copy(update={"mapping": str(mapping.path.resolve())})})
    return Recorded(sc.model_copy(update={"events": merged}), inputs, tel, tuple(fired), base)


def _check_pack_ids(mapping: Mapping, sc: Scenario) -> None:
    """Start-state tags of packs (``pack_<id>_*``) name packs of the fleet: its inventory's ids, else 0..n-1."""
    tags = [t for t in mapping.tags if (t.initial or t.signal).target in ("soc_pack", "temp_pack", "service_pack")]
    if not tags:
        return
    from adapters.io.scenario_file import load_inventory

    inv = load_inventory(sc)
    known = set(int(i) for i in inv.pack_id) if inv is not None else set(range(sc.models.fleet.n_packs))
    bad = [t for t in tags if (t.initial or t.signal).index not in known]
    if bad:
        lo, hi = min(known), max(known)
        raise TelemetryError(
            "\n".join(
                f"{mapping.path}: {t.label}: signal {t.signal.name!r}: pack {(t.initial or t.signal).index} is not "
                f"in the fleet (pack ids {lo}..{hi})"
                for t in bad
            )
        )
