"""``report.html``: one self-contained page about a run, read from its results folder.

:func:`write_run_report` reads ``summary.json`` (required), ``timeseries.parquet`` (or, for a run that was
killed, its chunks in ``timeseries.parts/``), ``packs.parquet`` (or ``packs.parts/``) and ``scenario.toml``
(the start time and the voltage band), whichever are there, and writes the page: the header (scenario,
status, simulated and wall time, step), the summary's key figures with their units and keys, the stacked
power balance, the fleet's SoC with its spread over the packs, voltages and loading, temperatures and PUE,
the HIL and controller-link figures when the run had them, and the events (a timeline and a table). What
is missing (a file, a column, a section of the summary) is said where it would have been shown.

The page opens offline (:mod:`adapters.io.html_page`): inline CSS, plots as base64 PNG, nothing loaded from
outside. Each plot is one ``<img data-plot="NAME">`` (:data:`PLOTS`); the plots themselves are
:mod:`adapters.io.run_report_plots`. Reading a day at 1 s (86,400 rows) and drawing it takes a few seconds.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from adapters.io import run_report_plots as rp
from adapters.io.html_page import Clock, esc, num, page, table, write_atomic
from twin.errors import InputError

__all__ = ["MAX_EVENTS_PER_KIND", "PLOTS", "RunData", "read_run", "render_report", "write_run_report"]

# data-plot names, in page order: what a test looks for
PLOTS = ("power", "soc", "block_soc", "grid", "temperatures", "pue", "hil", "controller_link", "events")
MAX_EVENTS_PER_KIND = 20  # rows of the events table per kind (the page counts the rest)
DEFAULT_V_BAND = (0.95, 1.05)

_COLUMNS = (
    "time_s", "pv_p_mw", "pv_avail_p_mw", "bess_discharge_p_mw", "bess_charge_p_mw", "it_p_mw", "cooling_p_mw",
    "aux_p_mw", "losses_p_mw", "shed_p_mw", "ufls_p_mw", "soc_frac", "pack_soc_min_frac", "pack_soc_max_frac",
    "v_min_pu", "v_max_pu", "line_loading_max_pct", "trafo_loading_max_pct", "temp_amb_c", "pack_temp_max_c",
    "gpu_temp_max_c", "ctrl_pv_p_limit_mw",
)  # fmt: skip
_PATTERNS = re.compile(r"bess_b\d+_soc_frac|spark_u\d+_(gpu|coolant)_temp_c|hil_.+|ctrl_link_.+")
# the columns each section needs (a missing one is named under its plot)
_NEEDS = {
    "power": [c for c, _, _ in rp.SOURCES + rp.SINKS],
    "soc": ["soc_frac", "pack_soc_min_frac", "pack_soc_max_frac"],
    "grid": ["v_min_pu", "v_max_pu", "line_loading_max_pct", "trafo_loading_max_pct"],
    "temperatures": ["temp_amb_c", "pack_temp_max_c"],
    "pue": ["it_p_mw", "cooling_p_mw", "aux_p_mw"],
}


@dataclass
class RunData:
    """What the report reads from a results folder; ``notes`` says what was missing or stood in."""

    run_dir: Path
    summary: dict[str, Any]
    scenario: dict[str, Any] = field(default_factory=dict)
    ts: dict[str, np.ndarray] = field(default_factory=dict)
    ts_source: str = ""
    packs: pd.DataFrame | None = None
    packs_source: str = ""
    notes: list[str] = field(default_factory=list)


def _read_table(run_dir: Path, name: str, columns: Sequence[str] | None, pattern: re.Pattern[str] | None) -> Any:
    """``NAME.parquet``, else the chunks of ``NAME.parts/``: (table, source) or (None, why not)."""
    f, parts = run_dir / f"{name}.parquet", run_dir / f"{name}.parts"
    if f.is_file():
        src: Path = f
        label = f.name
    elif parts.is_dir() and any(parts.glob("part-*.parquet")):
        src = parts
        n = len(list(parts.glob("part-*.parquet")))
        label = f"{parts.name}/ ({n} chunk{'s' * (n != 1)}: the run did not finish joining them)"
    else:
        return None, f"{name}.parquet is not in the folder"
    try:
        names = pq.read_schema(src).names if src.is_file() else pq.ParquetDataset(src).schema.names
        cols = None
        if columns is not None:
            cols = [c for c in names if c in columns or (pattern is not None and pattern.fullmatch(c))]
        return pq.read_table(src, columns=cols), label
    except Exception as exc:  # a torn or foreign file: the page says so and goes on
        return None, f"{label} could not be read: {type(exc).__name__}: {exc}"


def read_run(run_dir: Path) -> RunData:
    """The folder's files (module docstring); :class:`~twin.errors.InputError` without a folder or summary."""
    run_dir = Path(run_dir)
    expected = "a results folder written by twin run, twin hil or twin replay (summary.json, timeseries.parquet)"
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such folder; expected {expected}")
    sp = run_dir / "summary.json"
    if not sp.is_file():
        raise InputError(f"{sp}: not found; expected {expected}")
    try:
        summary = json.loads(sp.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{sp}: not a summary written by twin ({exc})") from exc
    if not isinstance(summary, dict):
        raise InputError(f"{sp}: not a summary written by twin (a JSON object was expected)")
    d = RunData(run_dir, summary)
    sc = run_dir / "scenario.toml"
    try:
        d.scenario = tomllib.loads(sc.read_text(encoding="utf-8"))
    except FileNotFoundError:
        d.notes.append("scenario.toml is not in the folder: clock times and the voltage band are not known")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        d.notes.append(f"scenario.toml could not be read ({exc}): clock times and the voltage band are not known")
    t, why = _read_table(run_dir, "timeseries", _COLUMNS, _PATTERNS)
    if t is None:
        d.notes.append(f"{why}: no plots over time")
    else:
        d.ts_source = why
        d.ts = {c: t.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in t.column_names}
        if "time_s" in d.ts:
            order = np.argsort(d.ts["time_s"], kind="stable")  # chunks read as a folder may come in any order
            d.ts = {c: v[order] for c, v in d.ts.items()}
        else:
            d.notes.append(f"{why} has no time_s column: no plots over time")
            d.ts = {}
        if why != "timeseries.parquet":
            d.notes.append(f"time series read from {why}")
    p, why = _read_table(run_dir, "packs", ("time_s", "soc_frac"), None)
    if p is None:
        d.notes.append(f"{why}: no per-pack SoC band (models.fleet.record_packs_every_s = 0, or no snapshot yet)")
    elif not {"time_s", "soc_frac"} <= set(p.column_names):
        d.notes.append(f"{why} has no time_s or soc_frac column: no per-pack SoC band")
    else:
        d.packs, d.packs_source = p.to_pandas(), why
        if why != "packs.parquet":
            d.notes.append(f"pack snapshots read from {why}")
    return d


# -- figures of the summary ---------------------------------------------------------------------------------


def _get(s: Mapping[str, Any], path: str) -> Any:
    cur: Any = s
    for k in path.split("."):
        if not isinstance(cur, Mapping) or k not in cur:
            return None
        cur = cur[k]
    return cur


def _count(x: Any) -> Any:
    return len(x) if isinstance(x, list) else x


_E = "energy_mwh."
_CARDS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("Energy", tuple((lbl, _E + k, "MWh") for lbl, k in (
        ("PV available", "pv_available"), ("PV delivered", "pv_delivered"), ("PV curtailed", "pv_curtailed"),
        ("battery charge", "bess_charge"), ("battery discharge", "bess_discharge"), ("IT served", "it_load"),
        ("cooling", "cooling_load"), ("cooling: pumps", "cooling_pumps"), ("cooling: fans", "cooling_fans"),
        ("cooling: chillers", "cooling_chiller"), ("auxiliaries", "aux_load"), ("network losses", "losses"),
        ("unserved (shed + UFLS)", "unserved"), ("IT cut by GPU throttling", "it_thermal_cut"),
        ("PV cut by frequency-watt", "pv_fast_curtailed"), ("battery losses", "bess_losses"),
    ))),
    ("Balances", (
        ("energy balance error", "energy_balance_error_frac", "-"),
        ("largest power residual", "power_balance_max_abs_mw", "MW"),
        ("battery stored change", "bess_stored_change_mwh", "MWh"),
        ("battery books error", "bess_energy_balance_error_frac", "-"),
        ("battery dispatch gap", "bess_dispatch_gap_max_mw", "MW"),
    )),
    ("PUE and cooling", (
        ("PUE, site", "pue", "-"), ("PUE, data center", "pue_datacenter", "-"),
        ("cooling peak", "cooling_load.peak_mw", "MW"), ("cooling mean", "cooling_load.mean_mw", "MW"),
        ("cooling per IT", "cooling_load.per_it_frac", "-"),
        ("dry regime", "cooling_load.regime_unit_h.dry", "unit-h"),
        ("adiabatic regime", "cooling_load.regime_unit_h.adiabatic", "unit-h"),
        ("chiller regime", "cooling_load.regime_unit_h.chiller", "unit-h"),
        ("adiabatic water", "cooling_load.adiabatic_water_m3", "m3"),
    )),
    ("State of charge", tuple((lbl, "soc_frac." + k, "0..1") for lbl, k in (
        ("fleet at start", "start"), ("fleet at end", "end"), ("fleet lowest", "min"), ("fleet highest", "max"),
        ("lowest pack", "pack_min"), ("highest pack", "pack_max"),
    ))),
    ("Grid", (
        ("lowest bus voltage", "v_pu.min", "pu"), ("highest bus voltage", "v_pu.max", "pu"),
        ("steps out of the band", "v_out_of_band_steps", "steps"),
        ("highest loading", "loading_max_pct", "%"),
        ("battery headroom, lowest", "bess_headroom_min_mw", "MW"),
        ("steps without headroom", "bess_headroom_negative_steps", "steps"),
        ("largest in-step IT swing", "it_swing_max_mw", "MW"),
    )),
    ("Data center and site", (
        ("hottest GPU junction", "gpu_temp_c_max", "degC"),
        ("time throttled", "datacenter.throttle_unit_s", "unit-s"),
        ("unit shutdowns", "datacenter.n_shutdowns", "-"),
        ("hottest ambient", "temp_amb_max_c", "degC"),
    )),
    ("Fleet", (
        ("packs", "n_packs", "-"), ("capacity at start", "fleet_e_max_mwh", "MWh"),
        ("capacity at end", "fleet.capacity_mwh_end", "MWh"), ("capacity fade", "fleet.capacity_fade_frac", "-"),
        ("SoH at start, mean", "fleet.soh_frac_start.mean", "0..1"),
        ("SoH at end, mean", "fleet.soh_frac_end.mean", "0..1"),
        ("equivalent full cycles", "fleet.efc_fleet", "-"), ("throughput (DC)", "fleet.throughput_dc_mwh", "MWh"),
        ("hottest pack", "fleet.pack_temp_max_c", "degC"), ("packs flagged weak", "fleet.n_packs_flagged_weak", "-"),
        ("packs tripped by the operator", "fleet.packs_tripped_by_operator", "packs"),
        ("packs tripped by their BMS", "fleet.packs_tripped_by_bms", "packs"),
        ("packs in thermal runaway", "fleet.packs_thermal_runaway", "packs"),
    )),
)  # fmt: skip
_FUEL = re.compile(r"fuel|co2|genset|diesel|gas_|_gas|emission", re.IGNORECASE)
_UNIT_SUFFIX = (("_mwh", "MWh"), ("_kwh", "kWh"), ("_mw", "MW"), ("_kg", "kg"), ("_t", "t"), ("_l", "l"),
                ("_m3", "m3"), ("_frac", "-"))  # fmt: skip


def _flat(x: Any, path: str) -> Iterable[tuple[str, Any]]:
    if isinstance(x, Mapping):
        for k, v in x.items():
            yield from _flat(v, f"{path}.{k}" if path else str(k))
    else:
        yield path, x


def _unit_of(key: str) -> str:
    if key.startswith(_E):
        return "MWh"
    last = key.rsplit(".", 1)[-1]
    return next((u for suf, u in _UNIT_SUFFIX if last.endswith(suf)), "")


def _value(x: Any) -> str:
    """A summary value in a cell, escaped: numbers, texts, lists and small dicts."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)) or x is None:
        return esc(num(x))
    if isinstance(x, str):
        return esc(x)
    if isinstance(x, Mapping):
        if all(isinstance(v, (int, float, str, bool)) or v is None for v in x.values()):
            return ", ".join(f"{esc(k)} {_value(v)}" for k, v in x.items()) or "-"
        return esc(_short_json(x))
    if isinstance(x, list):
        if all(isinstance(v, (int, float, str)) for v in x):
            more = f" ... ({len(x)} in all)" if len(x) > 12 else ""
            return esc(", ".join(str(v) for v in x[:12]) + more) or "-"
        return esc(f"{len(x)}: " + _short_json(x))
    return esc(x)


def _short_json(x: Any, n: int = 300) -> str:
    s = json.dumps(x, default=str)
    return s if len(s) <= n else s[: n - 3] + "..."


def _cards(s: Mapping[str, Any]) -> str:
    out, absent = ['<div class="cards">'], 0
    extra_energy = [k for k in (s.get("energy_mwh") or {}) if not any(p == _E + k for c in _CARDS for _, p, _ in c[1])]
    for title, rows in _CARDS:
        items = list(rows)
        if title == "Energy":  # terms the summary has beyond these (a new source)
            items += [(k, _E + k, "MWh") for k in extra_energy if not k.startswith("bess_") and not _FUEL.search(k)]
        cells = []
        for label, path, unit in items:
            v = _count(_get(s, path))
            absent += v is None
            cells.append((esc(label), _value(v), esc(unit), f"<code>{esc(path)}</code>"))
        out.append(
            f"<div><h3>{esc(title)}</h3>" + table(["figure", "value", "unit", "key"], cells, num=(1,)) + "</div>"
        )
    fuel = [(k, v) for k, v in _flat(s, "") if _FUEL.search(k) and k != "events"]
    if fuel:
        cells = [(esc(k.rsplit(".", 1)[-1]), _value(v), esc(_unit_of(k)), f"<code>{esc(k)}</code>") for k, v in fuel]
        out.append("<div><h3>Fuel and CO2</h3>" + table(["figure", "value", "unit", "key"], cells, num=(1,)) + "</div>")
    out.append("</div>")
    if absent:
        out.append(
            f'<p class="muted">"-": {absent} figure(s) not in summary.json (or not finite), e.g. the fleet'
            " and data-center sections, written at the end of a run only.</p>"
        )
    return "".join(out)


# -- sections -----------------------------------------------------------------------------------------------


def _duration(t: Any) -> str:
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t):
        return "-"
    h, rem = divmod(float(t), 3600.0)
    m, sec = divmod(rem, 60.0)
    return f"{num(float(t), 8)} s ({int(h)} h {int(m):02d} min {sec:04.1f} s)"


_BADGE = {"completed": "pass", "failed": "fail"}


def _header(d: RunData, clock: Clock) -> str:
    s, sc = d.summary, d.scenario
    status = str(s.get("status") or "unknown")
    run: Mapping[str, Any] = sc["run"] if isinstance(sc.get("run"), Mapping) else {}
    tz = _get(sc, "site.timezone")
    end = clock.clock(s.get("sim_time_s"))
    meaning = {
        "completed": "the run reached its end",
        "interrupted": "stopped by Ctrl-C or SIGTERM; the results go up to the interruption",
        "failed": "a simulator raised an error; the results go up to the last completed step",
        "running": "the run has not finished: it is still going, or its process was killed",
    }.get(status, "")
    facts = [
        (
            "scenario",
            esc(s.get("scenario"))
            + (f" <span class='muted'>{esc(sc.get('description'))}</span>" if sc.get("description") else ""),
        ),
        ("status", f'<span class="{_BADGE.get(status, "held")}">{esc(status)}</span> {esc(meaning)}'),
        *([("error", f'<span class="error">{esc(s.get("error"))}</span>')] if s.get("error") else []),
        ("start", esc(run.get("start")) + (f" ({esc(tz)})" if tz else "")),
        ("simulated time", esc(_duration(s.get("sim_time_s"))) + (f" (to {esc(end)})" if end else "")),
        (
            "wall time",
            esc(f"{num(s.get('wall_time_s'))} s")
            + (f", {esc(num(s.get('realtime_factor')))} x real time" if s.get("realtime_factor") else ""),
        ),
        ("step", esc(f"{num(s.get('step_s'))} s; {num(s.get('n_steps'))} steps, {num(s.get('n_rows'))} rows")),
        ("solver, controller", esc(f"{s.get('solver') or '-'}, {s.get('controller') or '-'}")),
        ("results folder", f"<code>{esc(d.run_dir.resolve())}</code>"),
    ]
    return f"<h1>Run report: {esc(s.get('scenario') or d.run_dir.name)}</h1>" + table(["", ""], facts)


def _missing(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    return (
        '<div class="missing"><b>Missing or incomplete</b><ul>'
        + "".join(f"<li>{esc(n)}</li>" for n in notes)
        + ("</ul></div>")
    )


def _img(name: str, png: str, alt: str, caption: str, notes: Sequence[str] = ()) -> str:
    note = "".join(f" {esc(n)}." for n in notes if n)
    return (
        f'<img data-plot="{esc(name)}" alt="{esc(alt)}" src="data:image/png;base64,{png}">'
        f'<p class="muted">{esc(caption)}{note}</p>'
    )


def _not_drawn(what: str) -> str:
    return f'<p class="missing">Not drawn: {esc(what)}.</p>'


def _lacking(d: RunData, section: str) -> str:
    gone = [c for c in _NEEDS.get(section, []) if c not in d.ts]
    return f"columns not in the time series: {', '.join(gone)}" if gone and d.ts else ""


def _section(title: str, *parts: str) -> str:
    return f"<h2>{esc(title)}</h2>" + "".join(parts)


def _figures_table(x: Mapping[str, Any]) -> str:
    rows = [(f"<code>{esc(k)}</code>", _value(v)) for k, v in x.items()]
    return table(["key", "value"], rows)


def _events_table(events: Sequence[Mapping[str, Any]], clock: Clock) -> str:
    shown: dict[str, int] = {}
    rows: list[tuple[str, str, str]] = []
    total: dict[str, int] = {}
    for e in events:
        k = str(e.get("kind"))
        total[k] = total.get(k, 0) + 1
        if shown.get(k, 0) < MAX_EVENTS_PER_KIND:
            shown[k] = shown.get(k, 0) + 1
            det = e.get("detail")
            if isinstance(det, Mapping):  # powerflow_not_converged: the message, then the injections in short
                det = f"{det.get('message', '')} {_short_json({k2: v for k2, v in det.items() if k2 != 'message'})}"
            rows.append((clock(e.get("time_s")), esc(k), esc(det)))
    rest = {k: n - shown[k] for k, n in total.items() if n > shown[k]}
    more = (
        f'<p class="muted">Table: at most {MAX_EVENTS_PER_KIND} events per kind; not listed: '
        + esc(", ".join(f"{n} more {k}" for k, n in sorted(rest.items())))
        + " (all of them are in summary.json and on the timeline).</p>"
        if rest
        else ""
    )
    summary = f"{len(events)} events, {len(rows)} in the table"
    opened = " open" if len(rows) <= 60 else ""
    return (
        f"<details{opened}><summary>{esc(summary)}</summary>"
        + table(["time", "kind", "detail"], rows)
        + "</details>"
        + more
    )


def render_report(d: RunData) -> str:
    """The page (module docstring)."""
    s, ts = d.summary, d.ts
    clock = Clock(_get(d.scenario, "run.start"))
    band_cfg = _get(d.scenario, "models.grid.v_band_pu")
    band_ok = isinstance(band_cfg, list) and len(band_cfg) == 2 and all(isinstance(b, (int, float)) for b in band_cfg)
    band = (float(band_cfg[0]), float(band_cfg[1])) if band_ok else DEFAULT_V_BAND
    band_src = "models.grid.v_band_pu in scenario.toml" if band_ok else "the default 0.95-1.05 pu"
    t_end = s.get("sim_time_s") if isinstance(s.get("sim_time_s"), (int, float)) else None
    notes = list(d.notes)
    for key, what in (
        ("energy_mwh", "energies"),
        ("fleet", "the fleet at the end"),
        ("datacenter", "the data center's books"),
    ):
        if key not in s:
            notes.append(f"summary.json has no {key} ({what}; written at the end of a run only)")
    body = [_header(d, clock), _missing(notes), "<h2>Summary</h2>", _cards(s)]
    tax = rp.TimeAxis(ts["time_s"], t_end) if ts.get("time_s") is not None and len(ts["time_s"]) else None
    if tax is None:
        body.append(_not_drawn("no rows of the time series, so no plots over time (the events are below)"))
    else:
        body.append(
            f'<p class="muted">Plots over time from {esc(d.ts_source)}; '
            + esc(tax.note() or f"every one of its {tax.n:,} rows drawn")
            + ". The time axes line up down the page.</p>"
        )
        body += _time_sections(d, tax, band, band_src)
    body += _link_sections(d, tax)
    events = sorted(
        (e for e in s.get("events") or [] if isinstance(e, Mapping)),
        key=lambda e: float(e["time_s"]) if isinstance(e.get("time_s"), (int, float)) else math.inf,
    )
    ev = ["<h2>Events</h2>"]
    if not events:
        ev.append('<p class="muted">No events in summary.json.</p>')
    else:
        etax = tax or rp.TimeAxis(np.array([0.0]), max([t_end or 0.0] + [float(e.get("time_s") or 0) for e in events]))
        png, left_out = rp.plot_events(events, etax)
        if png:
            cap = "Each marker one event at its simulated time; a row per kind, its count in brackets"
            lo = [f"kinds not on the timeline: {', '.join(left_out)}"] if left_out else []
            ev.append(_img("events", png, "events timeline: one row per event kind", cap, lo))
        ev.append(_events_table(events, clock))
    body += ev
    return page(f"Run report: {s.get('scenario') or d.run_dir.name}", body)


def _plot(name: str, png: str | None, alt: str, caption: str, notes: Sequence[str], why_not: str) -> str:
    return _img(name, png, alt, caption, notes) if png else _not_drawn(why_not)


def _time_sections(d: RunData, tax: rp.TimeAxis, band: tuple[float, float], band_src: str) -> list[str]:
    s, ts = d.summary, d.ts
    power = _plot(
        "power",
        rp.plot_power(ts, tax),
        "stacked power balance: sources up, sinks down, MW",
        "Sources stacked upwards (PV delivered, battery discharge), sinks downwards (IT, cooling, auxiliaries,"
        " network losses, battery charge), MW; at every step they balance (summary: largest residual"
        f" {num(s.get('power_balance_max_abs_mw'))} MW). Unserved load (controller shed + under-frequency load"
        " shedding) hatched below the sinks; PV available dashed.",
        [_lacking(d, "power")],
        _lacking(d, "power") or "no power columns",
    )
    band_text = (
        f", and at each snapshot of {d.packs_source} the packs' median with the 5-95 % band"
        if d.packs is not None
        else "; no per-pack snapshots (packs.parquet), so no percentile band"
    )
    soc = _plot(
        "soc",
        rp.plot_soc(ts, tax, d.packs),
        "fleet state of charge and its spread over the packs",
        "Fleet SoC and the range from the lowest to the highest pack in service" + band_text + ". The fleet's"
        " SoC is its stored energy over its capacity, an energy fraction: it reads below the packs' SoC (charge"
        " fractions) because the cell voltage rises with SoC (every pack at 0.5 reads about 0.475)",
        [_lacking(d, "soc")],
        _lacking(d, "soc") or "no SoC columns",
    )
    blocks = _plot(
        "block_soc",
        rp.plot_block_soc(ts, tax),
        "state of charge of each battery block",
        "Each battery block's SoC (its packs weighted by capacity), bess_bNN_soc_frac",
        [],
        "no bess_bNN_soc_frac columns",
    )
    grid = _plot(
        "grid",
        rp.plot_grid(ts, tax, band),
        "bus voltage extremes and the most loaded line and transformer",
        f"Lowest and highest bus voltage over all buses (the lowest and highest of each point's rows), the band"
        f" {band[0]:g}-{band[1]:g} pu from {band_src} (steps outside it: {num(s.get('v_out_of_band_steps'))});"
        " the most loaded line and transformer, % of rating.",
        [_lacking(d, "grid")],
        _lacking(d, "grid") or "no voltage or loading columns",
    )
    temps = _plot(
        "temperatures",
        rp.plot_temperatures(ts, tax),
        "GPU, coolant, pack and ambient temperatures",
        "GPU junction (solid) and coolant (dotted) of each Spark unit at the step's mean power, the hottest pack,"
        " the ambient dry bulb, degC.",
        [_lacking(d, "temperatures")],
        "no temperature columns",
    )
    w = rp.pue_window_s(tax.t_end_s)
    png, n_win = rp.plot_pue(ts, tax, w, s.get("pue"), s.get("pue_datacenter"))
    pue = _plot(
        "pue",
        png,
        "PUE over the run",
        f"PUE per {rp.window_text(w)} window ({n_win} with IT load): site (IT + cooling + auxiliaries) / IT"
        " and data center (IT + cooling) / IT, each the ratio of the window's sums; dashed: the whole run"
        f" from summary.json (pue {num(s.get('pue'))}, pue_datacenter {num(s.get('pue_datacenter'))}).",
        [_lacking(d, "pue")],
        _lacking(d, "pue") or "no IT power",
    )
    return [
        _section("Power balance", power),
        _section("State of charge", soc, blocks),
        _section("Voltages and loading", grid),
        _section("Temperatures and PUE", temps, pue),
    ]


def _link_sections(d: RunData, tax: rp.TimeAxis | None) -> list[str]:
    s, ts = d.summary, d.ts
    out = []
    hil, link = s.get("hil"), s.get("controller_link")
    if isinstance(hil, Mapping):
        plot = _plot(
            "hil",
            rp.plot_hil(ts, tax) if tax is not None else None,
            "hardware in the loop: timing, link and SoC estimate",
            "Per step: lateness of the step's start and the serial exchange (ms, the most of each point's rows),"
            " whether every bound pack's BMS answered, the first pack's SoC: model and BMS estimate.",
            [],
            "no hil_* columns in the time series",
        )
        out.append(_section("Hardware in the loop (summary key hil)", _figures_table(hil), plot))
    if isinstance(link, Mapping):
        cols = sorted(c for c in ts if c.startswith("ctrl_link_"))
        per_step = (
            ""
            if cols
            else "the time series has no per-step link columns (ctrl_link_*): the link's timing is the table's"
        )
        plot = _plot(
            "controller_link",
            rp.plot_link(ts, tax, cols) if tax is not None else None,
            "the external controller's PV limit and IT shed",
            "What the external controller set over the wire: the site's PV limit against PV available and"
            " delivered, and the IT shed, MW.",
            [per_step],
            "no PV or shed columns in the time series",
        )
        out.append(_section("Controller link (summary key controller_link)", _figures_table(link), plot))
    influx = s.get("influx")
    if isinstance(influx, Mapping):  # the InfluxDB sink's counts (docs/telemetry.md); no plot
        out.append(_section("Telemetry to InfluxDB (summary key influx)", _figures_table(influx)))
    return out


def write_run_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write ``report.html`` (or ``out``) for the results folder ``run_dir``; return its path.
    :class:`~twin.errors.InputError` when the folder or its summary.json is missing."""
    d = read_run(Path(run_dir))
    target = Path(out) if out is not None else d.run_dir / "report.html"
    text = render_report(d)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text)
    except OSError as exc:
        raise InputError(f"cannot write the report to {target}: {exc.strerror or exc}") from exc
    return target
