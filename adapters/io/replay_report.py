"""The replay's report: ``replay.json`` (the figures) and ``replay.html`` (one self-contained page).

:func:`write_replay` writes both into the results folder. ``replay.json`` is ``doc`` as given
(``json.dumps(doc, indent=2)``, written to a ``.tmp`` file and renamed, so a reader never sees half of
it). ``replay.html`` opens offline: inline CSS, the plots as base64 PNG (matplotlib, Agg), no script, font
or link to anything outside the file. Every text is escaped (the page's parts: :mod:`adapters.io.html_page`).

The document (``doc``), filled by the caller:

=================  ====================================================================================
key                value
=================  ====================================================================================
``title``          the report's title
``scenario``       the scenario's name (or file)
``mapping``        the mapping file
``status``         ``"passed"`` (every signal passed) or ``"failed"``
``start``          the run's start, ISO 8601 (clock times in the page are ``start`` + ``t_s``)
``step_s``         the twin's step, s
``duration_s``     the replay's length, s
``statements``     list of str: how each input was resampled and what filled its gaps
``findings``       list of :meth:`adapters.io.telemetry.series.Finding.as_dict` (``file``, ``tag``,
                   ``kind``, ``severity``, ``row``, ``rows``, ``n_rows``, ``message``, ``action``)
``signals``        list of :meth:`twin.replay.scores.SignalScore.as_dict`, each with an optional
                   ``context``: a list of :func:`twin.replay.explain.divergence_context` dicts, one per
                   divergence explained (at most the worst 5), ``twin_signal`` (the twin's column when
                   ``signal`` is a field column ``signal@tag``) and ``source`` (the file)
``events``         list of ``{"time_s", "kind", "detail", "source"}``; ``source`` is ``"field"`` or ``"twin"``
``initial_state``  list of str: what set the twin's state at the start
=================  ====================================================================================

Missing keys are shown as empty. ``field`` (``time_s`` and one column per compared signal: the field's
values on the twin's rows, NaN in gaps) and ``twin`` (the run's time series, ``time_s`` then the signals)
give the plots; a signal's twin column is its ``signal`` name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from adapters.io.html_page import Clock, esc, figure_png, new_figure, num, page, table, write_atomic
from twin.replay.scores import jsonable

__all__ = [
    "BAND_ALPHA",
    "MAX_EVENT_LINES_PER_KIND",
    "MAX_PLOT_POINTS",
    "TWIN_COLOUR",
    "render_html",
    "write_replay",
]

MAX_PLOT_POINTS = 20_000  # rows drawn per plot; longer series are drawn every n-th row (the page says so)
TWIN_COLOUR = "#1f77b4"  # matplotlib's tab:blue: the twin's line and its tolerance band
BAND_ALPHA = 0.18  # the band's opacity (tests/integration/test_replay.py finds the band by its colour on white)
MAX_EVENT_LINES_PER_KIND = 10  # twin event kinds drawn as lines on the plots (more: the events table only)


def _verdict(passed: bool) -> str:
    return '<span class="pass">pass</span>' if passed else '<span class="fail">fail</span>'


def _div_text(d: dict[str, Any] | None, unit: str, clock: Clock) -> str:
    if not d:
        return "-"
    return (
        f"{clock(d.get('start_s'))}, {esc(num(d.get('duration_s')))} s,"
        f" peak {esc(num(d.get('peak_error')))} {esc(unit)} at {clock(d.get('peak_s'))}"
    )


# -- plots ---------------------------------------------------------------------------------------------------


def _column(df: pd.DataFrame, name: str, n: int) -> np.ndarray:
    if name in df.columns:
        return df[name].to_numpy(dtype=np.float64)
    return np.full(n, np.nan)


def _field_on(twin_t: np.ndarray, field: pd.DataFrame, name: str) -> np.ndarray:
    """The field's column on the twin's rows (taken as is when the rows match, else joined on ``time_s``)."""
    if name not in field.columns:
        return np.full(twin_t.shape, np.nan)
    ft = field["time_s"].to_numpy(dtype=np.float64)
    fv = field[name].to_numpy(dtype=np.float64)
    if ft.shape == twin_t.shape and np.array_equal(ft, twin_t):
        return fv
    s = pd.Series(fv, index=ft)
    s = s[~s.index.duplicated()]
    return s.reindex(twin_t).to_numpy(dtype=np.float64)


def _plot_png(
    sig: dict[str, Any], t_s: np.ndarray, fv: np.ndarray, tv: np.ndarray, events: list[dict[str, Any]]
) -> tuple[str, int]:
    """The overlay plot as base64 PNG text, and the stride of the rows drawn."""
    tol = float(sig.get("tolerance") or 0.0)
    rel = float(sig.get("rel_tolerance_frac") or 0.0)
    with np.errstate(invalid="ignore"):
        band = tol + rel * np.abs(np.where(np.isfinite(fv), fv, tv))
    diverging = np.zeros(t_s.shape, dtype=bool)
    for d in sig.get("divergences") or []:
        a, b = np.searchsorted(t_s, [d["start_s"], d["end_s"]], side="left")
        diverging[a:b] = True
    stride = max(1, math.ceil(len(t_s) / MAX_PLOT_POINTS))
    x = t_s[::stride] / 60.0
    fig = new_figure(11, 4.0)
    ax = fig.add_subplot()
    unit = str(sig.get("unit") or "")
    tv_s, band_s = tv[::stride], band[::stride]
    ax.fill_between(
        x, tv_s - band_s, tv_s + band_s, color=TWIN_COLOUR, alpha=BAND_ALPHA, lw=0, label="twin ± tolerance"
    )
    ax.plot(x, fv[::stride], color="black", lw=0.9, label="field")
    ax.plot(x, tv_s, color=TWIN_COLOUR, lw=0.9, alpha=0.85, label="twin")
    if diverging.any():
        ax.fill_between(
            x, 0, 1, where=diverging[::stride], transform=ax.get_xaxis_transform(), color="tab:red", alpha=0.15,
            lw=0, label="divergence",
        )  # fmt: skip
    styles: tuple[tuple[str, str, Literal["--", ":"]], ...] = (("field", "tab:red", "--"), ("twin", "grey", ":"))
    # a twin event kind that comes and goes all the time (PV frequency-watt cuts) would hide the plot: such
    # kinds are in the events table only
    n_kind: dict[str, int] = {}
    for e in events:
        n_kind[str(e.get("kind"))] = n_kind.get(str(e.get("kind")), 0) + 1
    for source, color, style in styles:
        te = [
            float(e["time_s"]) / 60.0
            for e in events
            if e.get("source") == source
            and e.get("time_s") is not None
            and (source == "field" or n_kind[str(e.get("kind"))] <= MAX_EVENT_LINES_PER_KIND)
        ]
        if te:
            ax.vlines(te, 0, 1, transform=ax.get_xaxis_transform(), colors=color, linestyles=style, lw=0.7,
                      label=f"{source} events")  # fmt: skip
    ax.set_xlabel("time since start [min]")
    ax.set_ylabel(f"{sig.get('signal', '')} [{unit}]" if unit else str(sig.get("signal", "")))
    ax.set_title(f"{sig.get('signal', '')} ({sig.get('tag', '')})", fontsize=10)
    fig.legend(loc="outside lower center", fontsize=8, ncol=6)
    return figure_png(fig), stride


# -- sections ------------------------------------------------------------------------------------------------


def _header(doc: dict[str, Any], clock: Clock) -> str:
    signals = doc.get("signals") or []
    findings = doc.get("findings") or []
    n_pass = sum(1 for s in signals if s.get("passed"))
    n_div = sum(len(s.get("divergences") or []) for s in signals)
    sev = {k: sum(1 for f in findings if f.get("severity") == k) for k in ("error", "warning", "info")}
    events = doc.get("events") or []
    n_field = sum(1 for e in events if e.get("source") == "field")
    passed = doc.get("status") == "passed"
    end = clock.clock(doc.get("duration_s"))
    facts = [
        ("scenario", esc(doc.get("scenario"))),
        ("mapping", esc(doc.get("mapping"))),
        ("start", esc(doc.get("start"))),
        ("step", esc(f"{num(doc.get('step_s'))} s")),
        ("duration", esc(f"{num(doc.get('duration_s'))} s") + (f" (to {esc(end)})" if end else "")),
    ]
    return (
        f"<h1>{esc(doc.get('title') or 'Replay')}</h1>"
        f'<p class="badge">{_verdict(passed)} {esc(doc.get("status"))}: {n_pass} of {len(signals)} signals passed,'
        f" {n_div} divergences; {sev['error']} errors, {sev['warning']} warnings and {sev['info']} notes in the"
        f" data; {n_field} field events, {len(events) - n_field} twin events</p>"
        + table(["", ""], [(esc(k), v) for k, v in facts])
    )


def _scores_table(signals: list[dict[str, Any]], clock: Clock) -> str:
    rows = []
    for s in signals:
        o = s.get("overall") or {}
        unit = str(s.get("unit") or "")
        first = s.get("first_divergence")
        rows.append(
            (
                f'<a href="#sig-{esc(s.get("signal"))}">{esc(s.get("signal"))}</a>',
                esc(s.get("tag")),
                esc(unit),
                esc(num(s.get("tolerance")))
                + (
                    f" + {esc(num(100 * s['rel_tolerance_frac']))} %" if s.get("rel_tolerance_frac") else ""
                ),  # fmt: skip
                esc(num(o.get("rmse"))),
                esc(num(o.get("bias"))),
                f"{esc(num(o.get('max_error', o.get('max_abs_error'))))} at {clock(o.get('max_error_s'))}",
                esc(num(None if o.get("inside_frac") is None else 100 * o["inside_frac"])) + " %",
                clock(first.get("start_s")) if first else "-",
                _div_text(s.get("worst"), unit, clock),
                _verdict(bool(s.get("passed"))),
            )
        )
    head = ["signal", "tag", "unit", "tolerance", "RMSE", "bias", "max error", "inside", "first divergence",
            "worst divergence", "result"]  # fmt: skip
    return table(head, rows, num=(4, 5, 7))


def _windows_table(sig: dict[str, Any], clock: Clock) -> str:
    windows = sig.get("windows") or []
    if not windows:
        return '<p class="muted">No event windows.</p>'
    rows = []
    for w in windows:
        sc = w.get("score") or {}
        rows.append(
            (
                esc(w.get("event")),
                esc(w.get("label")),
                clock(w.get("start_s")),
                clock(w.get("end_s")),
                esc(num(sc.get("n"))),
                esc(num(sc.get("rmse"))),
                esc(num(sc.get("bias"))),
                esc(num(sc.get("max_abs_error"))),
                esc(num(None if sc.get("inside_frac") is None else 100 * sc["inside_frac"])) + " %",
            )
        )
    head = ["event", "window", "from", "to", "rows", "RMSE", "bias", "max |error|", "inside"]
    return table(head, rows, num=(4, 5, 6, 7, 8))


def _context(ctx: dict[str, Any], unit: str, clock: Clock) -> str:
    d = ctx.get("divergence") or {}
    out = [f"<h4>Divergence from {clock(d.get('start_s'))} to {clock(d.get('end_s'))}</h4>"]
    out.append(
        f"<p>{esc(num(d.get('duration_s')))} s; peak {esc(num(d.get('peak_error')))} {esc(unit)}"
        f" at {clock(d.get('peak_s'))};"
        f" mean {esc(num(d.get('mean_error')))} {esc(unit)} (field - twin)</p>"
    )
    out.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in ctx.get("reading") or []) + "</ul>")
    w = ctx.get("window") or {}
    events = ctx.get("events") or []
    out.append(f"<p class='muted'>Around it: {clock(w.get('start_s'))} to {clock(w.get('end_s'))}.</p>")
    if events:
        rows = [
            (
                clock(e.get("time_s")),
                esc(num(e.get("offset_s"))),
                *(esc(e.get(k)) for k in ("source", "kind", "detail")),
            )
            for e in events
        ]
        out.append(table(["time", "offset [s]", "source", "kind", "detail"], rows, num=(1,)))
    else:
        out.append('<p class="muted">No events in the window.</p>')
    states = ctx.get("states") or []
    if states:
        rows = [
            (
                esc(s.get("column")),
                esc(num(s.get("at_window_start"))),
                esc(num(s.get("at_divergence_start"))),
                esc(num(s.get("at_window_end"))),
                esc(num(s.get("min"))),
                esc(num(s.get("max"))),
                "yes" if s.get("changed") else "",
            )
            for s in states
        ]
        head = ["twin state", "window start", "divergence start", "window end", "min", "max", "changed"]
        out.append(table(head, rows, num=(1, 2, 3, 4, 5)))
    return '<div class="ctx">' + "".join(out) + "</div>"


def _signal_section(
    sig: dict[str, Any], twin_t: np.ndarray, field: pd.DataFrame, twin: pd.DataFrame, events: list[dict[str, Any]],
    clock: Clock,
) -> str:  # fmt: skip
    name = str(sig.get("signal", ""))  # the field frame's column (``signal@tag`` when two tags share a signal)
    twin_name = str(sig.get("twin_signal") or name)  # the twin's column
    unit = str(sig.get("unit") or "")
    fv = _field_on(twin_t, field, name)
    tv = _column(twin, twin_name, len(twin_t))
    png, stride = _plot_png(sig, twin_t, fv, tv, events)
    out = [f'<h2 id="sig-{esc(name)}">{esc(name)} <span class="muted">({esc(sig.get("tag"))})</span> '
           f"{_verdict(bool(sig.get('passed')))}</h2>"]  # fmt: skip
    notes = [] if twin_name in twin.columns else [f"the twin has no column {twin_name!r}"]
    if stride > 1:
        notes.append(f"every {stride}th row drawn")
    note = f" ({'; '.join(notes)})" if notes else ""
    time_tol = num(sig.get("time_tolerance_s"))
    out.append(
        f'<img alt="{esc(name)}: field and twin" src="data:image/png;base64,{png}">'
        f"<p class='muted'>Field (black) and twin (blue) with the tolerance band; divergences shaded red; field"
        f" events dashed red, twin events dotted grey (kinds with more than {MAX_EVENT_LINES_PER_KIND} events in the"
        f" run only in the events table). A field value the twin reaches within {esc(time_tol)} s is"
        f" no error.{esc(note)}</p>"
    )
    out.append("<h3>Event windows</h3>" + _windows_table(sig, clock))
    divs = sig.get("divergences") or []
    contexts = sig.get("context") or []
    out.append(f"<h3>Divergences ({len(divs)})</h3>")
    if not divs:
        out.append('<p class="muted">None: every scored row within tolerance.</p>')
    elif not contexts:
        out.append(f"<p>first: {_div_text(divs[0], unit, clock)}</p>")
    else:
        if len(divs) > len(contexts):
            out.append(f"<p class='muted'>The {len(contexts)} largest of {len(divs)} are explained below.</p>")
        out += [_context(c, unit, clock) for c in contexts]
    return "".join(out)


def _findings_section(doc: dict[str, Any]) -> str:
    findings = doc.get("findings") or []
    out = ["<h2>Data quality</h2>"]
    if findings:
        rows = [
            (
                esc(f.get("file")),
                esc(f.get("row") if f.get("row") is not None else "")
                + (f" <span class='muted'>({esc(f.get('n_rows'))} rows)</span>" if (f.get("n_rows") or 0) > 1 else ""),
                esc(f.get("tag")),
                esc(f.get("kind")),
                f'<span class="{esc(f.get("severity"))}">{esc(f.get("severity"))}</span>',
                esc(f.get("message")),
                esc(f.get("action")),
            )
            for f in findings
        ]
        out.append(table(["file", "row", "tag", "kind", "severity", "message", "action"], rows))
    else:
        out.append('<p class="muted">No findings.</p>')
    statements = doc.get("statements") or []
    out.append("<h3>Inputs: resampling and gaps</h3>")
    out.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in statements) + "</ul>" if statements else "<p>-</p>")
    return "".join(out)


def _events_section(events: list[dict[str, Any]], clock: Clock) -> str:
    if not events:
        return ""
    rows = [(clock(e.get("time_s")), esc(e.get("source")), esc(e.get("kind")), esc(e.get("detail"))) for e in events]
    return (
        f"<h2>Events</h2><details><summary>{len(events)} events</summary>"
        + table(["time", "source", "kind", "detail"], rows)
        + "</details>"
    )


def render_html(doc: dict[str, Any], field: pd.DataFrame, twin: pd.DataFrame) -> str:
    """The page (module docstring)."""
    clock = Clock(doc.get("start"))
    signals = doc.get("signals") or []
    events = sorted(doc.get("events") or [], key=lambda e: float(e.get("time_s") or 0.0))
    twin_t = twin["time_s"].to_numpy(dtype=np.float64) if "time_s" in twin.columns else np.zeros(0)
    body = [
        _header(doc, clock),
        "<h2>Scores</h2>",
        _scores_table(signals, clock) if signals else '<p class="muted">No comparison signals.</p>',
        *(_signal_section(s, twin_t, field, twin, events, clock) for s in signals),
        _findings_section(doc),
        "<h2>Initial state</h2>",
        "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in doc.get("initial_state") or []) + "</ul>",
        _events_section(events, clock),
    ]
    return page(str(doc.get("title") or "Replay"), body)


def write_replay(out_dir: Path, doc: dict[str, Any], field: pd.DataFrame, twin: pd.DataFrame) -> tuple[Path, Path]:
    """Write ``replay.json`` and ``replay.html`` into ``out_dir`` (created if needed); return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "replay.json", out_dir / "replay.html"
    write_atomic(json_path, json.dumps(jsonable(doc), indent=2))  # NaN left by a caller: null, not NaN
    write_atomic(html_path, render_html(doc, field, twin))
    return json_path, html_path
