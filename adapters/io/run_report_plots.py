"""The plots of ``report.html`` (:mod:`adapters.io.run_report`), each one figure as base64 PNG.

Every plot of time takes the run's rows through :class:`TimeAxis`: a run with more rows than
:data:`MAX_PLOT_POINTS` is drawn as bins of ``k`` consecutive rows, each bin drawn as one point at its first
row's time: the mean of its rows for powers, states and temperatures, the lowest value for lower bounds
(``v_min_pu``, the pack SoC minimum, ``hil_link_ok``) and the highest for upper bounds and peaks
(``v_max_pu``, loadings, ``pack_temp_max_c``, ``hil_*_ms``), so no extreme goes missing. All the plots
share one time scale and the same left and right margins, so their time axes line up down the page; the
legends sit in the right margin.

A plot function returns ``None`` when none of its columns is there (the page says what is missing).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from adapters.io.html_page import figure_png, new_figure

__all__ = [
    "MAX_EVENT_KINDS",
    "MAX_PLOT_POINTS",
    "SINKS",
    "SOURCES",
    "TimeAxis",
    "plot_block_soc",
    "plot_events",
    "plot_grid",
    "plot_hil",
    "plot_link",
    "plot_power",
    "plot_pue",
    "plot_soc",
    "plot_temperatures",
    "pue_window_s",
    "window_text",
]

MAX_PLOT_POINTS = 2_000  # points per line: a plot's axes are about 850 px wide, so more would not show
MAX_EVENT_KINDS = 30  # rows of the events timeline (the most frequent kinds; the page names the others)
WIDTH_IN, DPI = 13.0, 90  # 1170 px: drawn 1:1 in the page's 1200 px column
_LEFT, _RIGHT = 0.06, 0.81  # fractions of the width: the axes, then the legends and the event kinds
_TOP_IN, _BOTTOM_IN, _GAP_IN = 0.15, 0.5, 0.25

# (column, label, colour): stacked upwards (sources) and downwards (sinks) in this order
SOURCES = (("pv_p_mw", "PV delivered", "#f2b705"), ("bess_discharge_p_mw", "battery discharge", "#1f77b4"))
SINKS = (
    ("it_p_mw", "IT", "#7b3fa0"),
    ("cooling_p_mw", "cooling", "#17becf"),
    ("aux_p_mw", "auxiliaries", "#7f7f7f"),
    ("losses_p_mw", "network losses", "#d62728"),
    ("bess_charge_p_mw", "battery charge", "#8fbbe0"),
)
_UNSERVED = ("shed_p_mw", "ufls_p_mw")


class TimeAxis:
    """The run's rows on the plots' time scale: ``k`` rows per point, times in seconds (runs up to 5 min),
    minutes (up to 2 h) or hours."""

    def __init__(self, t_s: np.ndarray, t_end_s: float | None = None) -> None:
        self.n = len(t_s)
        self.k = max(1, math.ceil(self.n / MAX_PLOT_POINTS))
        end = float(np.nanmax(t_s)) if self.n else 0.0
        if t_end_s is not None and math.isfinite(t_end_s):
            end = max(end, float(t_end_s))
        self.t_end_s = end
        self.unit, self.scale = ("s", 1.0) if end <= 300.0 else ("min", 60.0) if end <= 7200.0 else ("h", 3600.0)
        self.x = t_s[:: self.k] / self.scale  # a bin's first row

    def to_x(self, t_s: Any) -> Any:
        return np.asarray(t_s, dtype=np.float64) / self.scale

    def agg(self, v: np.ndarray, how: str = "mean") -> np.ndarray:
        """``v`` (one value per row) as one value per point: ``mean``, ``min`` or ``max`` of each bin."""
        v = np.asarray(v, dtype=np.float64)
        if self.k == 1:
            return v
        pad = (-len(v)) % self.k
        m = np.concatenate([v, np.full(pad, np.nan)]).reshape(-1, self.k)
        with warnings.catch_warnings():  # a bin of NaN only (a gap) stays NaN, without a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            if how == "min":
                return np.nanmin(m, axis=1)
            return np.nanmax(m, axis=1) if how == "max" else np.nanmean(m, axis=1)

    def note(self) -> str:
        """What the decimation did, in words ('' when every row is drawn)."""
        if self.k == 1:
            return ""
        return (
            f"{self.n:,} rows drawn as {len(self.x):,} points of {self.k} rows each (the mean of the bin;"
            " its minimum or maximum for lower and upper bounds and peaks)"
        )


def _figure(n_axes: int, axis_h_in: float = 2.6) -> tuple[Any, list[Any]]:
    h = n_axes * axis_h_in + (n_axes - 1) * _GAP_IN + _TOP_IN + _BOTTOM_IN
    fig = new_figure(WIDTH_IN, h, layout=None)
    axes = fig.subplots(n_axes, 1, sharex=True, squeeze=False)[:, 0].tolist()
    fig.subplots_adjust(
        left=_LEFT, right=_RIGHT, top=1 - _TOP_IN / h, bottom=_BOTTOM_IN / h, hspace=_GAP_IN / axis_h_in
    )
    return fig, axes


def _dress(ax: Any, tax: TimeAxis, ylabel: str, last: bool = True) -> None:
    ax.set_xlim(0.0, max(tax.t_end_s / tax.scale, 1e-9))
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#b0b0b0", alpha=0.35, lw=0.6)
    if last:
        ax.set_xlabel(f"time since start [{tax.unit}]")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _png(fig: Any) -> str:
    return figure_png(fig, dpi=DPI)


def _has(ts: Mapping[str, np.ndarray], *cols: str) -> list[str]:
    return [c for c in cols if c in ts]


def _numbered(ts: Mapping[str, np.ndarray], pattern: str) -> list[tuple[int, str]]:
    """``(NN, column)`` for the columns matching ``pattern`` (one group: the number), in number order."""
    rx = re.compile(pattern)
    out = [(int(m.group(1)), c) for c in ts if (m := rx.fullmatch(c))]
    return sorted(out)


def plot_power(ts: Mapping[str, np.ndarray], tax: TimeAxis) -> str | None:
    """Sources stacked upwards, sinks downwards (MW); unserved load hatched below the sinks; PV available."""
    if not _has(ts, *(c for c, _, _ in SOURCES + SINKS)):
        return None
    fig, (ax,) = _figure(1, 3.6)
    zero = np.zeros(len(tax.x))
    for sign, layers in ((1.0, SOURCES), (-1.0, SINKS)):
        base = zero.copy()
        for col, label, colour in layers:
            if col not in ts:
                continue
            v = np.nan_to_num(np.clip(tax.agg(ts[col]), 0.0, None))
            ax.fill_between(tax.x, base, base + sign * v, color=colour, lw=0, label=label, step="post")
            base = base + sign * v
        if sign < 0:
            unserved = [np.nan_to_num(tax.agg(ts[c])) for c in _UNSERVED if c in ts]
            if unserved:
                u = np.clip(sum(unserved), 0.0, None)
                if np.any(u > 0):
                    ax.fill_between(
                        tax.x,
                        base,
                        base - u,
                        facecolor="white",
                        edgecolor="black",
                        hatch="////",
                        lw=0,
                        label="unserved (shed + UFLS)",
                        step="post",
                    )
    if "pv_avail_p_mw" in ts:
        ax.step(
            tax.x, tax.agg(ts["pv_avail_p_mw"]), where="post", color="#8a6d00", lw=0.8, ls="--", label="PV available"
        )
    ax.axhline(0.0, color="black", lw=0.6)
    _dress(ax, tax, "MW: sources (+), sinks (-)")
    return _png(fig)


def plot_soc(ts: Mapping[str, np.ndarray], tax: TimeAxis, packs: pd.DataFrame | None) -> str | None:
    """The fleet's SoC, the range over the packs in service, and the packs' 5-95 % band at each snapshot."""
    if not _has(ts, "soc_frac", "pack_soc_min_frac", "pack_soc_max_frac") and packs is None:
        return None
    fig, (ax,) = _figure(1, 3.0)
    if "pack_soc_min_frac" in ts and "pack_soc_max_frac" in ts:
        lo, hi = tax.agg(ts["pack_soc_min_frac"], "min"), tax.agg(ts["pack_soc_max_frac"], "max")
        ax.fill_between(tax.x, lo, hi, color="#2ca02c", alpha=0.2, lw=0, label="packs in service: min-max")
    if "soc_frac" in ts:
        ax.plot(tax.x, tax.agg(ts["soc_frac"]), color="black", lw=1.2, label="fleet (stored energy)")
    if packs is not None and len(packs):
        g = packs.groupby("time_s")["soc_frac"]
        q = g.quantile([0.05, 0.5, 0.95]).unstack()
        x = tax.to_x(q.index.to_numpy(dtype=np.float64))
        mid = q[0.5].to_numpy()
        err = np.vstack([mid - q[0.05].to_numpy(), q[0.95].to_numpy() - mid])
        ax.errorbar(
            x,
            mid,
            yerr=err,
            fmt="o",
            ms=3.5,
            color="#d95f02",
            ecolor="#d95f02",
            elinewidth=2.5,
            capsize=3,
            label="packs: median, 5-95 %\n(packs.parquet)",
        )
    _dress(ax, tax, "state of charge [-]")
    return _png(fig)


def plot_block_soc(ts: Mapping[str, np.ndarray], tax: TimeAxis) -> str | None:
    """Each battery block's SoC (``bess_bNN_soc_frac``); more than 16 blocks: their range and mean."""
    cols = _numbered(ts, r"bess_b(\d+)_soc_frac")
    if not cols:
        return None
    fig, (ax,) = _figure(1, 2.6)
    if len(cols) <= 16:
        cmap = _cmap(len(cols))
        for i, (nn, c) in enumerate(cols):
            ax.plot(tax.x, tax.agg(ts[c]), lw=0.9, color=cmap[i], label=f"block {nn:02d}")
    else:
        m = np.vstack([tax.agg(ts[c]) for _, c in cols])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi, mean = np.nanmin(m, axis=0), np.nanmax(m, axis=0), np.nanmean(m, axis=0)
        ax.fill_between(tax.x, lo, hi, color="#1f77b4", alpha=0.25, lw=0, label=f"{len(cols)} blocks: min-max")
        ax.plot(tax.x, mean, color="#1f77b4", lw=1.0, label="mean of the blocks")
    _dress(ax, tax, "block SoC [-]")
    leg = ax.get_legend()
    if leg is not None and len(cols) > 8:
        leg.remove()
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, ncol=2)
    return _png(fig)


def _cmap(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        cm = colormaps["tab10"]
        return [cm(i) for i in range(n)]
    cm = colormaps["tab20"]  # its strong colours first, then their light partners
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return [cm(order[i % 20]) for i in range(n)]


def plot_grid(ts: Mapping[str, np.ndarray], tax: TimeAxis, band: tuple[float, float]) -> str | None:
    """Bus voltage extremes with the band; line and transformer loading."""
    volts = _has(ts, "v_min_pu", "v_max_pu")
    loads = _has(ts, "line_loading_max_pct", "trafo_loading_max_pct")
    if not volts and not loads:
        return None
    fig, axes = _figure(int(bool(volts)) + int(bool(loads)), 2.4)
    i = 0
    if volts:
        ax = axes[i]
        i += 1
        if "v_max_pu" in ts:
            ax.plot(tax.x, tax.agg(ts["v_max_pu"], "max"), color="#d62728", lw=0.9, label="highest bus")
        if "v_min_pu" in ts:
            ax.plot(tax.x, tax.agg(ts["v_min_pu"], "min"), color="#1f77b4", lw=0.9, label="lowest bus")
        for j, b in enumerate(band):
            ax.axhline(b, color="black", lw=0.8, ls="--", label=f"band {band[0]:g}-{band[1]:g} pu" if j == 0 else None)
        _dress(ax, tax, "voltage [pu]", last=not loads)
    if loads:
        ax = axes[i]
        for c, label, colour in (
            ("line_loading_max_pct", "most loaded line", "#2ca02c"),
            ("trafo_loading_max_pct", "most loaded transformer", "#9467bd"),
        ):
            if c in ts:
                ax.plot(tax.x, tax.agg(ts[c], "max"), color=colour, lw=0.9, label=label)
        ax.axhline(100.0, color="black", lw=0.8, ls="--", label="100 %")
        _dress(ax, tax, "loading [%]")
    return _png(fig)


def plot_temperatures(ts: Mapping[str, np.ndarray], tax: TimeAxis) -> str | None:
    """GPU junction and coolant per Spark unit (their range beyond 8 units), ambient, hottest pack."""
    gpu = _numbered(ts, r"spark_u(\d+)_gpu_temp_c")
    cool = _numbered(ts, r"spark_u(\d+)_coolant_temp_c")
    site = _has(ts, "temp_amb_c", "pack_temp_max_c", "gpu_temp_max_c")
    if not gpu and not cool and not site:
        return None
    fig, (ax,) = _figure(1, 3.4)
    units = sorted({n for n, _ in gpu} | {n for n, _ in cool})
    colours = dict(zip(units, _cmap(len(units)), strict=True))
    for cols, kind, style in ((gpu, "GPU", "-"), (cool, "coolant", ":")):
        if not cols:
            continue
        if len(units) <= 8:
            for nn, c in cols:
                ax.plot(tax.x, tax.agg(ts[c]), color=colours[nn], lw=0.9, ls=style, label=f"unit {nn:02d} {kind}")
        else:
            m = np.vstack([tax.agg(ts[c]) for _, c in cols])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.fill_between(
                    tax.x,
                    np.nanmin(m, axis=0),
                    np.nanmax(m, axis=0),
                    alpha=0.3,
                    lw=0,
                    color="#d62728" if kind == "GPU" else "#17becf",
                    label=f"{kind}: {len(cols)} units",
                )
    for c, label, colour, how in (
        ("gpu_temp_max_c", "GPU hottest (in-step peak)", "#8c0000", "max"),
        ("pack_temp_max_c", "hottest pack", "#9a9b10", "max"),  # olive: no unit line has it (tab10 8)
        ("temp_amb_c", "ambient", "black", "mean"),
    ):
        if c in ts and not (c == "gpu_temp_max_c" and gpu):  # the per-unit lines say it already
            ax.plot(tax.x, tax.agg(ts[c], how), color=colour, lw=1.1, label=label)
    _dress(ax, tax, "temperature [degC]")
    if len(ax.get_legend_handles_labels()[0]) > 12:
        ax.get_legend().remove()
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, ncol=2)
    return _png(fig)


def pue_window_s(duration_s: float) -> float:
    """The PUE plot's window: the longest of 1 min, 5 min, 15 min, 1 h that gives at least 12 windows."""
    for w in (3600.0, 900.0, 300.0):
        if duration_s / w >= 12:
            return w
    return 60.0


def plot_pue(
    ts: Mapping[str, np.ndarray], tax: TimeAxis, window_s: float, pue: Any, pue_dc: Any
) -> tuple[str | None, int]:
    """PUE per window of ``window_s``: (IT + cooling + aux) / IT and (IT + cooling) / IT, each the ratio of the
    window's sums of the rows (energies when rows are evenly spaced), with the run's figures from
    summary.json. Returns the plot and the number of windows with IT power."""
    if len(_has(ts, "time_s", "it_p_mw", "cooling_p_mw")) < 3:  # all three are needed
        return None, 0
    t = ts["time_s"]
    it, cool = ts["it_p_mw"], ts["cooling_p_mw"]
    aux = ts.get("aux_p_mw", np.zeros_like(it))
    ok = np.isfinite(t) & np.isfinite(it) & np.isfinite(cool) & np.isfinite(aux)
    if not ok.any():
        return None, 0
    b = np.floor(t[ok] / window_s).astype(np.int64)
    n = int(b.max()) + 1
    s_it = np.bincount(b, it[ok], minlength=n)
    s_cool = np.bincount(b, cool[ok], minlength=n)
    s_aux = np.bincount(b, aux[ok], minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        site = np.where(s_it > 0, (s_it + s_cool + s_aux) / s_it, np.nan)
        dc = np.where(s_it > 0, (s_it + s_cool) / s_it, np.nan)
    x = tax.to_x(np.arange(n + 1) * window_s)
    fig, (ax,) = _figure(1, 2.4)
    ax.stairs(site, x, baseline=None, color="black", lw=1.2, label=f"site, per {window_text(window_s)}")
    ax.stairs(dc, x, baseline=None, color="#17becf", lw=1.0, label=f"data center, per {window_text(window_s)}")
    for v, label, colour in ((pue, "site, whole run", "black"), (pue_dc, "data center, whole run", "#17becf")):
        if isinstance(v, (int, float)) and math.isfinite(v):
            ax.axhline(v, color=colour, lw=0.8, ls="--", label=f"{label}: {v:.4g}")
    _dress(ax, tax, "PUE [-]")
    return _png(fig), int(np.count_nonzero(s_it > 0))


def window_text(w: float) -> str:
    return f"{w / 3600:g} h" if w >= 3600 else f"{w / 60:g} min"


def plot_hil(ts: Mapping[str, np.ndarray], tax: TimeAxis) -> str | None:
    """``twin hil``'s per-step columns: timing (ms), the link, the BMS's SoC estimate against the model's."""
    ms = _has(ts, "hil_lateness_ms", "hil_io_ms")
    link = _has(ts, "hil_link_ok")
    soc = _has(ts, "hil_soc_true_pct", "hil_soc_bms_pct")
    panels = [p for p in (ms, link, soc) if p]
    if not panels:
        return None
    fig, axes = _figure(len(panels), 2.0)
    for ax, cols in zip(axes, panels, strict=True):
        last = ax is axes[-1]
        if cols is ms:
            for c, label, colour in (
                ("hil_lateness_ms", "step lateness (max)", "#d62728"),
                ("hil_io_ms", "serial exchange (max)", "#1f77b4"),
            ):
                if c in ts:
                    ax.plot(tax.x, tax.agg(ts[c], "max"), color=colour, lw=0.9, label=label)
            _dress(ax, tax, "ms", last)
        elif cols is link:
            ax.fill_between(
                tax.x,
                0,
                tax.agg(ts["hil_link_ok"], "min"),
                step="post",
                color="#2ca02c",
                alpha=0.5,
                lw=0,
                label="every BMS answered (min)",
            )
            ax.set_ylim(-0.05, 1.15)
            _dress(ax, tax, "link ok", last)
        else:
            for c, label, colour in (
                ("hil_soc_true_pct", "model SoC", "black"),
                ("hil_soc_bms_pct", "BMS estimate", "#ff7f0e"),
            ):
                if c in ts:
                    ax.plot(tax.x, tax.agg(ts[c]), color=colour, lw=0.9, label=label)
            _dress(ax, tax, "first pack SoC [%]", last)
    return _png(fig)


def plot_link(ts: Mapping[str, np.ndarray], tax: TimeAxis, link_cols: Sequence[str]) -> str | None:
    """A run with the controller link: the PV limit it set against PV available and delivered, the IT shed,
    and any per-step link column (``link_cols``, e.g. ``ctrl_link_cycle_ms``)."""
    pv = _has(ts, "pv_avail_p_mw", "ctrl_pv_p_limit_mw", "pv_p_mw", "shed_p_mw")
    panels: list[Sequence[str]] = [p for p in (pv, list(link_cols)) if p]
    if not panels:
        return None
    fig, axes = _figure(len(panels), 2.4)
    for ax, cols in zip(axes, panels, strict=True):
        last = ax is axes[-1]
        if cols is pv:
            for c, label, colour, style in (
                ("pv_avail_p_mw", "PV available", "#8a6d00", "--"),
                ("ctrl_pv_p_limit_mw", "PV limit set", "black", "-"),
                ("pv_p_mw", "PV delivered", "#f2b705", "-"),
                ("shed_p_mw", "IT shed", "#7b3fa0", "-"),
            ):
                if c in ts:
                    v = tax.agg(np.where(np.isfinite(ts[c]), ts[c], np.nan))  # inf: no limit
                    ax.plot(tax.x, v, color=colour, ls=style, lw=0.9, label=label)
            _dress(ax, tax, "MW", last)
        else:
            for c in cols:
                ax.plot(tax.x, tax.agg(ts[c], "max"), lw=0.9, label=f"{c} (max)")
            _dress(ax, tax, "per step", last)
    return _png(fig)


def plot_events(events: Sequence[Mapping[str, Any]], tax: TimeAxis) -> tuple[str | None, list[str]]:
    """One row per event kind (the :data:`MAX_EVENT_KINDS` most frequent), a marker at each event's time.
    Returns the plot and the kinds left out."""
    times: dict[str, list[float]] = {}
    for e in events:
        t = e.get("time_s")
        if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t):
            times.setdefault(str(e.get("kind")), []).append(float(t))
    if not times:
        return None, []
    by_count = sorted(times, key=lambda k: (-len(times[k]), k))
    kinds = sorted(by_count[:MAX_EVENT_KINDS], key=lambda k: (min(times[k]), k))
    left_out = sorted(by_count[MAX_EVENT_KINDS:])
    fig, (ax,) = _figure(1, max(1.2, 0.3 * len(kinds)))
    colours = _cmap(len(kinds))
    markers = "o^sDv<>p"
    for i, k in enumerate(kinds):
        ax.plot(
            tax.to_x(times[k]),
            np.full(len(times[k]), i),
            ls="none",
            marker=markers[i % len(markers)],
            ms=5,
            color=colours[i],
            alpha=0.8,
            clip_on=False,  # an event at the start or the end shows whole
        )
    ax.set_yticks(range(len(kinds)), [f"{k} ({len(times[k])})" for k in kinds], fontsize=8)
    ax.yaxis.tick_right()
    ax.set_ylim(len(kinds) - 0.5, -0.5)  # the first kind on top
    _dress(ax, tax, "event kind")
    return _png(fig), left_out
