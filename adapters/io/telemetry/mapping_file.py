"""Read a telemetry mapping file (TOML) into a validated :class:`twin.config.MappingConfig`, every tag resolved.

Every problem is reported at once with the file, the line, the key, what was
received, what is allowed and a close match (as for scenario files); the
error is a :class:`twin.errors.TelemetryError` (exit 2). Checked here: the
schema, each tag's source, signal (for its role, against the site), unit
and event specs, tolerances of compare tags, inputs given twice, and the
files the sources name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from adapters.io.scenario_file import read_toml
from adapters.io.telemetry.columns import OPEN_PREFIXES, timeseries_columns
from adapters.io.telemetry.series import source_name
from twin.config import Event, MappingConfig, Scenario, SiteConfig, SourceConfig, TagConfig, cross_check
from twin.errors import TelemetryError
from twin.replay.signals import Signal, resolve_signal
from twin.replay.units import conversion
from twin.validation import close_match, did_you_mean, find_line, format_problems, format_validation_error, key_path

__all__ = ["EVENT", "Mapping", "ResolvedTag", "load_mapping"]

EVENT: TypeAdapter[Any] = TypeAdapter(Event)  # a scenario event from a dict (the mapping's rise/fall tables)


@dataclass(frozen=True)
class ResolvedTag:
    """One ``[[tags]]`` entry with its source, signal and conversion to the signal's unit."""

    i: int  # position in the file's [[tags]]
    cfg: TagConfig
    source: SourceConfig
    signal: Signal
    initial: Signal | None  # the start-state signal a compare tag with ``initial = true`` also sets
    factor: float  # value_in_file * factor + offset = value in the signal's unit
    offset: float

    @property
    def label(self) -> str:
        return f"tags[{self.i}] ({self.cfg.tag})"


@dataclass(frozen=True)
class Mapping:
    path: Path
    config: MappingConfig
    tags: tuple[ResolvedTag, ...]
    timezone: str  # stamps without an offset: the mapping's zone, else the site's

    def of_role(self, role: str) -> list[ResolvedTag]:
        return [t for t in self.tags if t.cfg.role == role]


def load_mapping(path: str | Path, site: SiteConfig) -> Mapping:
    """Parse, validate and resolve a mapping file for ``site``; :class:`TelemetryError` with every problem."""
    p = Path(path)
    text, data = read_toml(p, "mapping", TelemetryError)
    try:
        cfg = MappingConfig.model_validate(data)
    except ValidationError as exc:
        problems = format_validation_error(exc, model=MappingConfig, source=str(p), text=text, data=data)
        raise TelemetryError(format_problems(str(p), problems, "the mapping file")) from exc
    msgs: list[str] = []

    def at(loc: tuple[str | int, ...], msg: str) -> None:
        line = find_line(text, loc)
        msgs.append(f"{p}:{line}: {key_path(loc)}: {msg}" if line else f"{p}: {key_path(loc)}: {msg}")

    sources = {source_name(s): s for s in cfg.sources}
    for i, s in enumerate(cfg.sources):
        f = p.parent / s.file
        if not f.is_file():
            near = close_match(f.name, [q.name for q in f.parent.iterdir()]) if f.parent.is_dir() else None
            at(
                ("sources", i, "file"),
                f"{s.file!r}: no such file next to the mapping{did_you_mean(f.name, [near or ''])}",
            )
    timezone = cfg.timezone or site.timezone
    resolved: list[ResolvedTag] = []
    inputs_seen: dict[str, int] = {}
    columns: list[str] | None = None  # the site's time-series columns, built once when a compare tag needs them
    for i, t in enumerate(cfg.tags):
        loc: tuple[str | int, ...] = ("tags", i)
        if t.source:
            src = sources.get(t.source)
            if src is None:
                at((*loc, "source"), f"{t.source!r} is not a source of this file ({', '.join(sources)})"
                   f"{did_you_mean(t.source, sources)}")  # fmt: skip
                continue
        elif len(sources) == 1:
            src = next(iter(sources.values()))
        else:
            at(loc, f"tag {t.tag!r}: name its source (the file has {len(sources)}: {', '.join(sources)})")
            continue
        try:
            sig = resolve_signal(t.signal, site, "initial" if t.role == "initial" else t.role)
        except ValueError as exc:
            at((*loc, "signal"), str(exc))
            continue
        if t.role == "compare" and not sig.name.startswith(OPEN_PREFIXES):
            if columns is None:
                columns = timeseries_columns(site)
            if sig.name not in columns:
                at((*loc, "signal"), f"{sig.name!r} is not a column of this site's time series "
                   f"(docs/results.md){did_you_mean(sig.name, columns)}")  # fmt: skip
                continue
        init = None
        if t.initial:
            try:
                init = resolve_signal(t.signal, site, "initial")
            except ValueError as exc:
                at((*loc, "initial"), f"{t.signal!r} sets no start state: {exc}")
                continue
        if t.role == "event":
            factor, offset = t.scale, t.offset
        else:
            try:
                f_u, off_u = conversion(t.unit, sig.unit)
            except ValueError as exc:
                at((*loc, "unit"), str(exc))
                continue
            factor, offset = t.scale * f_u, t.offset * f_u + off_u
        if t.role == "compare" and t.tolerance is None and cfg.scoring.default_tolerance is None:
            at((*loc, "tolerance"), f"compare tag {t.tag!r} needs a tolerance (in {sig.unit}), or set "
               "[scoring] default_tolerance")  # fmt: skip
        for which in ("rise", "fall"):
            spec = getattr(t, which)
            if spec is None:
                continue
            try:
                ev = EVENT.validate_python(t.event_dict(which, 0.0))
            except ValidationError as exc:
                for e in exc.errors():
                    key = ".".join(str(x) for x in e["loc"][1:]) or "kind"
                    at((*loc, which), f"{key}: {e['msg']} (got {e.get('input')!r})")
                continue
            # the checks a scenario's own events get (a block or unit the site has), on the site alone
            for ploc, msg in cross_check(Scenario(site=site, events=(ev,))):
                if ploc[:1] == ("events",):
                    at((*loc, which), msg)
        if t.role == "input" or init is not None or t.role == "initial":
            key = ("input " if t.role == "input" else "start ") + sig.name
            if key in inputs_seen:
                what = "driven" if t.role == "input" else "set at the start"
                at((*loc, "signal"), f"{sig.name!r} is already {what} by tags[{inputs_seen[key]}]")
            inputs_seen[key] = i
        resolved.append(ResolvedTag(i, t, src, sig, init, factor, offset))
    _check_inputs(cfg, site, resolved, at)
    if msgs:
        raise TelemetryError(format_problems(str(p), msgs, "the mapping file"))
    return Mapping(path=p, config=cfg, tags=tuple(resolved), timezone=timezone)


def _check_inputs(cfg: MappingConfig, site: SiteConfig, tags: list[ResolvedTag], at: Any) -> None:
    """Inputs that make a whole: a per-block PV input for every block (or the plant's), one PV path,
    IT shares for every unit."""
    by_target: dict[str, list[ResolvedTag]] = {}
    for t in tags:
        if t.cfg.role == "input":
            by_target.setdefault(t.signal.target, []).append(t)
    nb = site.pv.n_blocks
    for target in ("pv_poa", "pv_avail"):
        ts = by_target.get(target, [])
        per_block = sorted(t.signal.index for t in ts if t.signal.index is not None)
        plant = [t for t in ts if t.signal.index is None]
        if per_block and plant:
            at(
                ("tags", plant[0].i, "signal"),
                f"{plant[0].signal.name!r}: give the plant's value or every block's, not both",
            )
        elif per_block and per_block != list(range(nb)):
            missing = sorted(set(range(nb)) - set(per_block))
            at(("tags", ts[0].i, "signal"), f"{target.replace('pv_', 'PV ')} is recorded for blocks "
               f"{', '.join(map(str, per_block))} but not {', '.join(map(str, missing))}: give every block "
               "(or the plant's value)")  # fmt: skip
    paths = [k for k in ("pv_poa", "pv_ghi", "pv_avail") if k in by_target]
    if len(paths) > 1:
        t = by_target[paths[-1]][0]
        at(("tags", t.i, "signal"), f"PV is driven by {' and by '.join(paths)}: choose one")
    it = by_target.get("it", [])
    if any(t.signal.index is None for t in it) and any(t.signal.index is not None for t in it):
        at(("tags", it[0].i, "signal"), "IT power is given for the site and per unit: choose one")
    w = cfg.it_share_weights
    if w is not None and len(w) != site.spark.n_units:
        at(("it_share_weights",), f"{len(w)} weights for {site.spark.n_units} Spark units")
