"""What the HTML reports share (``replay.html``, ``report.html``): one self-contained page.

A page opens offline: the CSS is inline, the plots are base64 PNG drawn by matplotlib (Agg, no pyplot, so
no figure is kept anywhere), and nothing is loaded from outside the file (no script, font or link). Every
text goes through :func:`esc`. Files are written to a ``.tmp`` file and renamed, so a reader never sees half
of one.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

__all__ = ["CSS", "Clock", "esc", "figure_png", "new_figure", "num", "page", "table", "write_atomic"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#fff;background:#2e7d32;padding:.1em .5em;border-radius:3px}
.fail{color:#fff;background:#c62828;padding:.1em .5em;border-radius:3px}
.held{color:#fff;background:#a15c00;padding:.1em .5em;border-radius:3px}
.badge{font-size:1.2em}.muted{color:#666}.error{color:#c62828}.warning{color:#a15c00}
img{max-width:100%;height:auto;border:1px solid #ddd}
.ctx{margin-left:1em;border-left:3px solid #ddd;padding-left:1em}
.cards{display:flex;flex-wrap:wrap;gap:0 1.5em;align-items:flex-start}.cards h3{margin:.8em 0 0}
.missing{border-left:4px solid #a15c00;background:#fff8ec;padding:.3em 1em;margin:.8em 0}
"""


def write_atomic(path: Path, text: str) -> None:
    """``text`` into ``path`` through ``.<name>.tmp`` and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def esc(x: Any) -> str:
    """Any value as escaped text (``None``: empty)."""
    return html.escape("" if x is None else str(x))


def num(x: Any, digits: int = 4) -> str:
    """A number for a table cell (``-`` when missing or not finite)."""
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "-"
    if isinstance(x, int) or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


class Clock:
    """Times as seconds and as clock time from the run's start."""

    def __init__(self, start: str | None) -> None:
        self.t0: datetime | None = None
        if start:
            try:
                self.t0 = datetime.fromisoformat(str(start))
            except ValueError:
                self.t0 = None

    def clock(self, t_s: Any) -> str:
        if self.t0 is None or not isinstance(t_s, (int, float)) or not math.isfinite(t_s):
            return ""
        t = self.t0 + timedelta(seconds=float(t_s))
        return t.strftime("%H:%M:%S") if t.date() == self.t0.date() else t.strftime("%Y-%m-%d %H:%M:%S")

    def __call__(self, t_s: Any) -> str:
        """``1,200 s (12:20:00)``, escaped."""
        if not isinstance(t_s, (int, float)) or isinstance(t_s, bool) or not math.isfinite(t_s):
            return "-"
        c = self.clock(t_s)
        return esc(f"{num(float(t_s), 6)} s" + (f" ({c})" if c else ""))


def table(head: Sequence[str], rows: Iterable[Sequence[str]], num: Sequence[int] = ()) -> str:
    """A table; cells are HTML already (escape before), columns in ``num`` right-aligned; no header row when
    every entry of ``head`` is empty."""
    out = ["<table>"]
    if any(head):
        out += ["<thead><tr>", *(f"<th>{esc(h)}</th>" for h in head), "</tr></thead>"]
    out.append("<tbody>")
    for r in rows:
        cells = (f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>" for i, c in enumerate(r))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def new_figure(width_in: float, height_in: float, layout: Literal["constrained"] | None = "constrained") -> Any:
    """A matplotlib ``Figure`` on an Agg canvas (not pyplot: nothing keeps it); ``layout``: its layout engine
    (``None``: margins set by the caller)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Any, dpi: int = 90) -> str:
    """The figure as base64 PNG text (no timestamp or software tag: the same figure gives the same text);
    the figure is cleared."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    fig.clear()
    return base64.b64encode(buf.getvalue()).decode("ascii")


def page(title: str, body: Iterable[str]) -> str:
    """The whole document: ``title`` (escaped here) and the body's parts (HTML already)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
