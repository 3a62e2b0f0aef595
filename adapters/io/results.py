"""Results folder: chunked Parquet time series, summary.json, network, scenario, plot.

Layout of ``--out DIR`` (see README "Results"):

``timeseries.parquet``  one row per recorded step: ``time_s`` then signals
                        with units in their names (docs/results.md)
``summary.json``        run figures (keys and units in docs/results.md)
``network.json``        the pandapower net (pandapower.from_json reads it),
                        with the injections of the last solved step
``scenario.toml``       the scenario as resolved (defaults filled in)
``overview.png``        power, state of charge, voltages, ambient

While the run goes, rows are written in chunks to
``timeseries.parts/part-NNNNN.parquet`` (each a complete Parquet file) and
``summary.json`` is rewritten with ``"status": "running"`` after every
chunk. At the end, on Ctrl-C and on a failure, the parts are joined into
``timeseries.parquet`` and the summary says how the run ended. If the
process is killed outright, the parts and the last summary stay readable.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# Power columns integrated into summary.energy_mwh (key -> column).
ENERGY_TERMS: dict[str, tuple[str, ...]] = {
    "pv_available": ("pv_avail_p_mw",),
    "pv_delivered": ("pv_p_mw",),
    "bess_charge": ("bess_charge_p_mw",),
    "bess_discharge": ("bess_discharge_p_mw",),
    "it_load": ("it_p_mw",),
    "cooling_load": ("cooling_p_mw",),
    "aux_load": ("aux_p_mw",),
    "losses": ("losses_p_mw",),
    "unserved": ("shed_p_mw", "ufls_p_mw"),  # cut by the controller's shed tiers and by UFLS
    "it_thermal_cut": ("it_thermal_cut_p_mw",),  # IT cut by GPU throttling and shutdowns
    "cooling_pumps": ("cooling_pumps_p_mw",),
    "cooling_fans": ("cooling_fans_p_mw",),
    "cooling_chiller": ("cooling_chiller_p_mw",),
    "pv_fast_curtailed": ("pv_fast_curtail_p_mw",),
    "bess_losses": ("bess_loss_p_mw",),  # converter + cell + enclosure thermal management
    "bess_converter_losses": ("bess_converter_loss_p_mw",),
    "bess_cell_losses": ("bess_cell_loss_p_mw",),
    "bess_thermal_mgmt": ("bess_thermal_mgmt_p_mw",),
    "bess_param_change": ("bess_param_change_p_mw",),
    "bess_fleet_net_in": ("bess_fleet_p_mw",),  # what the packs took: grid-side power less any shortfall
    "bess_shortfall": ("bess_shortfall_p_mw",),
}


class Accumulator:
    """Integrates powers every electrical step (independent of the recording rate)."""

    def __init__(self, dt_s: float, v_band_pu: tuple[float, float] = (0.95, 1.05)):
        self.h = dt_s / 3600.0
        self.v_band = v_band_pu
        self.v_out_of_band_steps = 0
        self.e = {k: 0.0 for k in ENERGY_TERMS}
        self.ext = {
            "v_min_pu": math.inf,
            "v_max_pu": -math.inf,
            "loading_max_pct": 0.0,
            "soc_min": math.inf,
            "soc_max": -math.inf,
            "pack_soc_min": math.inf,
            "pack_soc_max": -math.inf,
            "temp_amb_max_c": -math.inf,
            "bal_max_abs_mw": 0.0,
            "dispatch_gap_max_mw": 0.0,
            "cooling_max_mw": 0.0,
            "it_swing_max_mw": 0.0,
            "headroom_min_mw": math.inf,
        }
        self.headroom_negative_steps = 0
        self.soc_end = math.nan
        self.e_end_mwh = math.nan
        self.steps = 0
        self.t_end_s = 0.0
        self._terms = tuple(ENERGY_TERMS.items())

    def add(self, t_s: float, dt_s: float, row: dict[str, float]) -> None:
        h = self.h
        e = self.e
        for k, cols in self._terms:
            for c in cols:
                v = row.get(c)
                if v is not None:
                    e[k] += v * h
        x = self.ext
        vmin, vmax = row["v_min_pu"], row["v_max_pu"]
        if vmin < x["v_min_pu"]:
            x["v_min_pu"] = vmin
        if vmax > x["v_max_pu"]:
            x["v_max_pu"] = vmax
        if vmin < self.v_band[0] or vmax > self.v_band[1]:
            self.v_out_of_band_steps += 1
        v = max(row["line_loading_max_pct"], row["trafo_loading_max_pct"])
        if v > x["loading_max_pct"]:
            x["loading_max_pct"] = v
        soc = row["soc_frac"]
        if soc < x["soc_min"]:
            x["soc_min"] = soc
        if soc > x["soc_max"]:
            x["soc_max"] = soc
        if row["pack_soc_min_frac"] < x["pack_soc_min"]:
            x["pack_soc_min"] = row["pack_soc_min_frac"]
        if row["pack_soc_max_frac"] > x["pack_soc_max"]:
            x["pack_soc_max"] = row["pack_soc_max_frac"]
        v = row.get("temp_amb_c", -math.inf)
        if v > x["temp_amb_max_c"]:
            x["temp_amb_max_c"] = v
        bal = (
            row["pv_p_mw"]
            + row["bess_discharge_p_mw"]
            - row["bess_charge_p_mw"]
            - row["it_p_mw"]
            - row["cooling_p_mw"]
            - row["aux_p_mw"]
            - row["losses_p_mw"]
        )
        if abs(bal) > x["bal_max_abs_mw"]:
            x["bal_max_abs_mw"] = abs(bal)
        v = row["cooling_p_mw"]
        if v > x["cooling_max_mw"]:
            x["cooling_max_mw"] = v
        v = row.get("it_site_max_p_mw", 0.0) - row.get("it_site_min_p_mw", 0.0)
        if v > x["it_swing_max_mw"]:
            x["it_swing_max_mw"] = v
        v = row.get("bess_headroom_p_mw", math.inf)
        if v < x["headroom_min_mw"]:
            x["headroom_min_mw"] = v
        if v < 0.0:
            self.headroom_negative_steps += 1
        v = abs(row.get("bess_dispatch_gap_p_mw", 0.0))
        if v > x["dispatch_gap_max_mw"]:
            x["dispatch_gap_max_mw"] = v
        self.soc_end = soc
        self.e_end_mwh = row["e_stored_mwh"]
        self.steps += 1
        self.t_end_s = t_s + dt_s


class RowSink:
    """Assembles one row per electrical step from every simulator's record.

    Simulators step at different rates and mosaik may let one run a step
    ahead of another, so values arrive out of order: each ``put`` covers the
    ``n_sub`` electrical steps of the source's period (a scalar is held over
    them, an array gives one value each). A row is complete when every
    registered source has covered its step; complete rows go, in time order,
    to the accumulator (every step) and to the writer (every
    ``record_every`` steps).
    """

    def __init__(
        self,
        writer: ResultsWriter,
        acc: Accumulator,
        dt_s: float,
        n_steps: int,
        record_every: int,
        progress: Any = None,
    ):
        self.writer, self.acc, self.dt_s, self.n_steps = writer, acc, dt_s, n_steps
        self.every = record_every
        self.covered: dict[str, int] = {}
        self.pending: dict[int, dict[str, float]] = {}
        self.next = 0
        self.progress = progress
        self._since_progress = 0
        self.wall_s = 0.0  # time spent here, for the benchmark split
        self.packs: PackRecorder | None = None  # per-pack snapshots (the fleet simulator adds them)

    def register(self, source: str) -> None:
        self.covered[source] = 0

    def put(self, source: str, step: int, record: dict[str, Any], n_sub: int = 1) -> None:
        pending, dt = self.pending, self.dt_s
        if n_sub == 1:
            row = pending.get(step)
            if row is None:
                row = pending[step] = {"time_s": step * dt}
            row.update(record)
        else:
            for j in range(n_sub):
                i = step + j
                row = pending.get(i)
                if row is None:
                    row = pending[i] = {"time_s": i * dt}
                for k, v in record.items():
                    row[k] = v if np.ndim(v) == 0 else float(v[j])
        self.covered[source] = step + n_sub
        upto = min(min(self.covered.values()), self.n_steps)
        while self.next < upto:
            i = self.next
            row = pending.pop(i)
            self.acc.add(row["time_s"], dt, row)
            if i % self.every == 0:
                self.writer.add_row(row)
            self.next = i + 1
            if self.progress is not None:
                self._since_progress += 1
                if self._since_progress >= 500:
                    self.progress.update(self._since_progress)
                    self._since_progress = 0


class PackRecorder:
    """Per-pack state at a fixed interval, written in chunks (``packs.parts/``) and joined into
    ``packs.parquet`` (long format: one row per pack and snapshot) at the end of the run."""

    def __init__(self, out_dir: Path, pack_id: np.ndarray, block: np.ndarray, chunk_rows: int = 500_000):
        self.out = Path(out_dir)
        self.parts = self.out / "packs.parts"
        if self.parts.exists():
            shutil.rmtree(self.parts)
        (self.out / "packs.parquet").unlink(missing_ok=True)
        self.parts.mkdir(parents=True)
        self.pack_id = pack_id.astype(np.int64)
        self.block = block.astype(np.int64)
        self.chunk_rows = chunk_rows
        self.buf: list[dict[str, np.ndarray]] = []
        self.n_buf = 0
        self.n_parts = 0
        self.n_snapshots = 0

    def add(self, t_s: float, fleet: Any) -> None:
        snap = fleet.snapshot()
        n = len(self.pack_id)
        row = {"time_s": np.full(n, float(t_s)), "pack_id": self.pack_id, "block": self.block}
        row.update(snap)
        self.buf.append(row)
        self.n_buf += n
        self.n_snapshots += 1
        if self.n_buf >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        cols = {k: np.concatenate([b[k] for b in self.buf]) for k in self.buf[0]}
        write_part(self.parts, self.n_parts, pa.table(cols))
        self.n_parts += 1
        self.buf, self.n_buf = [], 0

    def join(self) -> Path:
        self.flush()
        return join_parts(self.parts, self.out / "packs.parquet")


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else x


class ResultsWriter:
    """Owns the results folder of one run."""

    def __init__(self, out_dir: Path, *, scenario_name: str, meta: dict[str, Any], chunk_rows: int):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.parts = self.out / "timeseries.parts"
        if self.parts.exists():
            shutil.rmtree(self.parts)
        for stale in ("timeseries.parquet", "summary.json", "overview.png", "packs.parquet", "it_fine.parquet"):
            (self.out / stale).unlink(missing_ok=True)
        self.parts.mkdir()
        self.scenario_name = scenario_name
        self.meta = meta
        self.chunk_rows = chunk_rows
        self.columns: list[str] | None = None
        self.buf: np.ndarray | None = None
        self.n_buf = 0
        self.n_parts = 0
        self.n_rows = 0
        self.t0 = time.perf_counter()
        self.acc: Accumulator | None = None
        self.events: list[dict[str, Any]] = []
        self.e_start_mwh = math.nan
        self.soc_start = math.nan

    # -- rows ------------------------------------------------------------------------
    def add_row(self, row: dict[str, float]) -> None:
        if self.columns is None:
            self.columns = list(row)
            self.buf = np.full((self.chunk_rows, len(self.columns)), np.nan)
        assert self.buf is not None
        get = row.get
        self.buf[self.n_buf] = [get(c, math.nan) for c in self.columns]
        self.n_buf += 1
        self.n_rows += 1
        if self.n_buf == self.chunk_rows:
            self.flush()
            self.write_summary(status="running")

    def flush(self) -> None:
        if not self.n_buf or self.columns is None or self.buf is None:
            return
        data = self.buf[: self.n_buf]
        write_part(self.parts, self.n_parts, pa.table({c: data[:, j] for j, c in enumerate(self.columns)}))
        self.n_parts += 1
        self.n_buf = 0

    # -- summary ---------------------------------------------------------------------
    def summary(self, status: str, error: str | None = None) -> dict[str, Any]:
        acc = self.acc
        wall = time.perf_counter() - self.t0
        sim = acc.t_end_s if acc else 0.0
        e = {k: round(v, 6) for k, v in (acc.e if acc else {k: 0.0 for k in ENERGY_TERMS}).items()}
        if acc:
            e["pv_curtailed"] = round(acc.e["pv_available"] - acc.e["pv_delivered"], 6)
            src = acc.e["pv_delivered"] + acc.e["bess_discharge"]
            sink = acc.e["it_load"] + acc.e["cooling_load"] + acc.e["aux_load"] + acc.e["losses"] + acc.e["bess_charge"]
            bal_err = abs(src - sink) / src if src > 0 else 0.0
            # The fleet's own books: stored-energy change vs. AC energy in minus conversion losses.
            d_stored = acc.e_end_mwh - self.e_start_mwh
            net_in = acc.e["bess_fleet_net_in"] - acc.e["bess_losses"] + acc.e["bess_param_change"]
            thru = acc.e["bess_charge"] + acc.e["bess_discharge"]
            bess_err = abs(d_stored - net_in) / thru if thru > 0 else 0.0
            it_cool = acc.e["it_load"] + acc.e["cooling_load"]
            pue = (it_cool + acc.e["aux_load"]) / acc.e["it_load"] if acc.e["it_load"] > 0 else None
            pue_dc = it_cool / acc.e["it_load"] if acc.e["it_load"] > 0 else None
            x = acc.ext
            cooling = {
                "energy_mwh": e["cooling_load"],
                "pumps_mwh": e["cooling_pumps"],
                "fans_mwh": e["cooling_fans"],
                "chiller_mwh": e["cooling_chiller"],
                "peak_mw": _finite(round(x["cooling_max_mw"], 6)),
                "mean_mw": round(e["cooling_load"] / (sim / 3600.0), 6) if sim > 0 else None,
                "per_it_frac": round(acc.e["cooling_load"] / acc.e["it_load"], 6) if acc.e["it_load"] > 0 else None,
            }
            dcx = self.meta.get("extra", {}).get("datacenter")
            if dcx:
                cooling.update({k: dcx[k] for k in ("regime_unit_h", "adiabatic_water_m3", "heat_balance_error")})
        else:
            bal_err, bess_err, pue, pue_dc, d_stored, x, cooling = 0.0, 0.0, None, None, 0.0, {}, {}
        out: dict[str, Any] = {
            "scenario": self.scenario_name,
            "status": status,
            "interrupted": status != "completed",
            "error": error,
            "sim_time_s": round(sim, 6),
            "step_s": self.meta["step_s"],
            "wall_time_s": round(wall, 3),
            "realtime_factor": round(sim / wall, 1) if wall > 0 else None,
            "n_steps": acc.steps if acc else 0,
            "n_rows": self.n_rows,
            "n_packs": self.meta["n_packs"],
            "n_buses": self.meta["n_buses"],
            "fleet_e_max_mwh": self.meta.get("fleet_e_max_mwh"),
            "energy_mwh": e,
            "energy_balance_error_frac": bal_err,
            "power_balance_max_abs_mw": _finite(x.get("bal_max_abs_mw", math.nan)),
            "bess_stored_change_mwh": _finite(round(d_stored, 6)) if acc else 0.0,
            "bess_energy_balance_error_frac": bess_err,
            # grid's battery power vs what the packs took plus the reported shortfall, largest step
            "bess_dispatch_gap_max_mw": _finite(x.get("dispatch_gap_max_mw", math.nan)),
            "soc_frac": {
                "min": _finite(x.get("soc_min", math.nan)),
                "max": _finite(x.get("soc_max", math.nan)),
                "start": _finite(self.soc_start),
                "end": _finite(acc.soc_end) if acc else None,
                "pack_min": _finite(x.get("pack_soc_min", math.nan)),
                "pack_max": _finite(x.get("pack_soc_max", math.nan)),
            },
            "pue": round(pue, 5) if pue else None,  # site: (IT + cooling + aux) / IT, energies
            "pue_datacenter": round(pue_dc, 5) if pue_dc else None,  # (IT + cooling) / IT
            "cooling_load": cooling,  # the data center's part is merged in from the model's books
            "it_swing_max_mw": _finite(x.get("it_swing_max_mw", math.nan)),  # site in-step max - min, largest step
            "bess_headroom_min_mw": _finite(x.get("headroom_min_mw", math.nan)),
            "bess_headroom_negative_steps": acc.headroom_negative_steps if acc else 0,
            "v_pu": {"min": _finite(x.get("v_min_pu", math.nan)), "max": _finite(x.get("v_max_pu", math.nan))},
            "v_out_of_band_steps": acc.v_out_of_band_steps if acc else 0,
            "loading_max_pct": _finite(x.get("loading_max_pct", math.nan)),
            "temp_amb_max_c": _finite(x.get("temp_amb_max_c", math.nan)),
            "events": sorted(self.events, key=lambda ev: ev["time_s"]),
        }
        out.update(self.meta.get("extra", {}))
        return out

    def write_summary(self, status: str, error: str | None = None) -> dict[str, Any]:
        s = self.summary(status, error)
        tmp = self.out / ".summary.json.tmp"
        tmp.write_text(json.dumps(s, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, self.out / "summary.json")
        return s

    # -- end of run ------------------------------------------------------------------
    def join_parts(self) -> Path:
        """Join the chunk files into timeseries.parquet (written atomically)."""
        return join_parts(self.parts, self.out / "timeseries.parquet")


def write_part(parts: Path, n: int, table: pa.Table) -> None:
    """Chunk ``n`` of a results file, written atomically (a crash never leaves a half part)."""
    tmp = parts / f".part-{n:05d}.tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, parts / f"part-{n:05d}.parquet")


def join_parts(parts: Path, target: Path) -> Path:
    """Join the chunk files of ``parts`` into ``target`` (written atomically), then remove the chunks."""
    files = sorted(parts.glob("part-*.parquet"))
    if files:
        tmp = target.with_name(f".{target.name}.tmp")
        with pq.ParquetWriter(tmp, pq.read_schema(files[0]), compression="zstd") as w:
            for f in files:
                w.write_table(pq.read_table(f))
        os.replace(tmp, target)
    shutil.rmtree(parts, ignore_errors=True)
    return target


def plot_overview(ts_path: Path, png_path: Path, title: str) -> None:
    """Four stacked panels over the run (decimated to at most ~4000 points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [
        "time_s",
        "pv_avail_p_mw",
        "pv_p_mw",
        "it_p_mw",
        "cooling_p_mw",
        "bess_p_mw",
        "soc_frac",
        "pack_soc_min_frac",
        "pack_soc_max_frac",
        "v_min_pu",
        "v_max_pu",
        "temp_amb_c",
        "losses_p_mw",
    ]
    t = pq.read_table(ts_path, columns=[c for c in cols if c in pq.read_schema(ts_path).names])
    d = {c: t.column(c).to_numpy() for c in t.column_names}
    n = len(d["time_s"])
    if n == 0:
        return
    stride = max(1, n // 4000)
    d = {k: v[::stride] for k, v in d.items()}
    hours = d["time_s"] / 3600.0
    fig, ax = plt.subplots(4, 1, figsize=(11, 10), sharex=True, constrained_layout=True)
    ax[0].plot(hours, d["pv_avail_p_mw"], lw=0.8, color="gold", label="PV available")
    ax[0].plot(hours, d["pv_p_mw"], lw=0.8, color="darkorange", label="PV delivered")
    ax[0].plot(hours, d["it_p_mw"] + d["cooling_p_mw"], lw=0.8, color="k", label="IT + cooling")
    ax[0].plot(hours, d["bess_p_mw"], lw=0.8, color="tab:blue", label="battery (+ charging)")
    ax[0].axhline(0, color="grey", lw=0.5)
    ax[0].set_ylabel("power [MW]")
    ax[0].legend(loc="upper left", fontsize=8, ncol=4)
    ax[1].plot(hours, d["soc_frac"], color="tab:green", label="fleet")
    ax[1].fill_between(
        hours, d["pack_soc_min_frac"], d["pack_soc_max_frac"], color="tab:green", alpha=0.2, label="pack range"
    )
    ax[1].set_ylim(0, 1)
    ax[1].set_ylabel("state of charge [-]")
    ax[1].legend(loc="upper left", fontsize=8)
    ax[2].plot(hours, d["v_min_pu"], lw=0.8, label="min")
    ax[2].plot(hours, d["v_max_pu"], lw=0.8, label="max")
    ax[2].set_ylabel("bus voltage [pu]")
    ax[2].legend(loc="upper left", fontsize=8)
    if "temp_amb_c" in d:
        ax[3].plot(hours, d["temp_amb_c"], color="tab:red")
    ax[3].set_ylabel("ambient [degC]")
    ax[3].set_xlabel("time since start [h]")
    fig.suptitle(title)
    fig.savefig(png_path, dpi=90)
    plt.close(fig)
