"""The results folder of one run: every file in it is written here.

Layout of ``--out DIR`` (docs/results.md):

``timeseries.parquet``  one row per recorded step: ``time_s`` then signals
                        with units in their names
``summary.json``        run figures (keys and units in docs/results.md)
``network.json``        the pandapower net (pandapower.from_json reads it),
                        with the injections of the last solved step
``scenario.toml``       the scenario as resolved (defaults filled in)
``overview.png``        power, state of charge, voltages, ambient
``packs.parquet``       per-pack snapshots (``models.fleet.record_packs_every_s``)
``it_fine.parquet``     the site's IT power at the fine step (``models.datacenter.record_fine_it``)

While the run goes, rows are written in chunks to
``timeseries.parts/part-NNNNN.parquet`` (each a complete Parquet file) and
``summary.json`` is rewritten with ``"status": "running"`` after every
chunk. At the end, on Ctrl-C and on a failure, :meth:`ResultsWriter.finish`
joins the parts into ``timeseries.parquet`` and writes the other files and
the summary that says how the run ended. If the process is killed outright,
the parts and the last summary stay readable.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from adapters.io.plots import plot_overview
from adapters.io.rows import ENERGY_TERMS, Accumulator

__all__ = ["PackRecorder", "ResultsWriter", "join_parts", "write_fine_it", "write_part"]


class PackRecorder:
    """Per-pack state at a fixed interval, written in chunks (``packs.parts/``) and joined into
    ``packs.parquet`` (long format: one row per pack and snapshot) at the end of the run."""

    def __init__(self, out_dir: Path, pack_id: np.ndarray, block: np.ndarray, chunk_rows: int = 500_000) -> None:
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
        self.telemetry: Any = None  # an InfluxSink (adapters/io/influx/sink.py) that gets every snapshot

    def add(self, t_s: float, fleet: Any) -> None:
        snap = fleet.snapshot()
        if self.telemetry is not None:
            self.telemetry.packs(t_s, snap, self.block, self.pack_id)
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
    """Owns the results folder of one run: the time series, the pack snapshots, the summary, the
    network, the fine IT trace and the plot are written here and nowhere else."""

    def __init__(
        self,
        out_dir: Path | str,
        *,
        scenario_name: str,
        meta: dict[str, Any],
        chunk_rows: int,
        acc: Accumulator | None = None,
        events: list[dict[str, Any]] | None = None,
        e_start_mwh: float = math.nan,
        soc_start: float = math.nan,
    ) -> None:
        """``meta``: ``step_s``, ``n_packs``, ``n_buses``, ``fleet_e_max_mwh`` and ``extra`` (merged into the
        summary, in its order); ``acc`` integrates every step (None: the summary has no figures);
        ``events``: the run's event log, read at every summary; the fleet's stored energy and state of
        charge at the start."""
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.parts = self.out / "timeseries.parts"
        if self.parts.exists():
            shutil.rmtree(self.parts)
        for stale in (
            "timeseries.parquet",
            "summary.json",
            "overview.png",
            "packs.parquet",
            "it_fine.parquet",
            "report.html",
        ):
            (self.out / stale).unlink(missing_ok=True)
        self.parts.mkdir()
        self.scenario_name = scenario_name
        self.meta = meta
        self.meta.setdefault("extra", {})
        self.chunk_rows = chunk_rows
        self.columns: list[str] | None = None
        self.buf: np.ndarray | None = None
        self.n_buf = 0
        self.n_parts = 0
        self.n_rows = 0
        self.t0 = time.perf_counter()
        self.acc = acc
        self.events: list[dict[str, Any]] = events if events is not None else []
        self.e_start_mwh = e_start_mwh
        self.soc_start = soc_start
        self.packs: PackRecorder | None = None
        self._series_closed = False
        # chunks are written by one background thread (pyarrow releases the GIL while it compresses and
        # writes), so a real-time step does not wait for the disk: at 0.1 s steps the first chunk of a
        # `twin hil` run made its step begin 56 ms late. Two buffers: rows fill one while the other is written.
        self._io: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._spare: np.ndarray | None = None
        # a telemetry sink (adapters/io/influx/sink.py: rows, packs, events) gets the buffered rows every
        # `tap_rows` rows or `tap_wall_s` of wall time, and the new events with them
        self.telemetry: Any = None
        self._tapped = 0
        self._tap_t = 0.0

    def attach_telemetry(self, sink: Any) -> None:
        """Hand rows, pack snapshots and events to ``sink`` while the run goes."""
        self.telemetry = sink
        self._tap_t = time.monotonic()
        if self.packs is not None:
            self.packs.telemetry = sink

    def tap(self) -> None:
        """The rows not yet handed to the telemetry sink, and the events logged since."""
        tel = self.telemetry
        if tel is None:
            return
        if self.n_buf > self._tapped and self.buf is not None and self.columns is not None:
            tel.rows(self.columns, self.buf[self._tapped : self.n_buf])
        self._tapped = self.n_buf
        tel.events(self.events)
        self._tap_t = time.monotonic()

    # -- files at the start ----------------------------------------------------------
    def write_scenario(self, toml_text: str) -> None:
        """``scenario.toml``: the scenario as resolved."""
        (self.out / "scenario.toml").write_text(toml_text)

    def record_packs(self, pack_id: np.ndarray, block: np.ndarray) -> PackRecorder:
        """Start ``packs.parquet``: the recorder the fleet simulator hands its snapshots to."""
        self.packs = PackRecorder(self.out, pack_id, block)
        return self.packs

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
        tel = self.telemetry
        if tel is not None and (
            self.n_buf - self._tapped >= tel.tap_rows or time.monotonic() - self._tap_t >= tel.tap_wall_s
        ):
            self.tap()
        if self.n_buf == self.chunk_rows:
            # the part, then the running summary that counts it, both written by the writer thread in that order
            self.flush(then=self.summary(status="running"))

    def flush(self, then: dict[str, Any] | None = None) -> None:
        """Hand the buffered rows to the writer thread as the next part (after the part before it is on disk);
        ``then``: a summary to write once the part is written."""
        if not self.n_buf or self.columns is None or self.buf is None:
            return
        self.tap()  # the telemetry sink gets these rows before the buffer is handed over
        self._tapped = 0
        self.wait_written()
        data = self.buf[: self.n_buf]
        table = pa.table({c: data[:, j] for j, c in enumerate(self.columns)})
        if self._io is None:
            self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="results-writer")
        self._pending = self._io.submit(self._write_part_then, self.n_parts, table, then)
        # the next rows go to the other buffer; this one is free again once its part is written
        self.buf, self._spare = (self._spare if self._spare is not None else np.empty_like(self.buf)), self.buf
        self.n_parts += 1
        self.n_buf = 0

    def wait_written(self) -> None:
        """Block until the part being written is on disk (re-raising the writer's error, if any)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

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
        self.wait_written()  # a running summary still queued must not land after this one
        self._write_summary_file(s)
        return s

    def _write_summary_file(self, s: dict[str, Any]) -> None:
        tmp = self.out / ".summary.json.tmp"
        tmp.write_text(json.dumps(s, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, self.out / "summary.json")

    def _write_part_then(self, n: int, table: pa.Table, then: dict[str, Any] | None) -> None:
        write_part(self.parts, n, table)
        if then is not None:
            self._write_summary_file(then)

    # -- end of run ------------------------------------------------------------------
    def join_parts(self) -> Path:
        """Join the chunk files into timeseries.parquet (written atomically)."""
        return join_parts(self.parts, self.out / "timeseries.parquet")

    def close_series(self) -> Path:
        """Flush the rows left and join ``timeseries.parquet`` and ``packs.parquet`` (once; later calls
        only return the path)."""
        ts = self.out / "timeseries.parquet"
        if not self._series_closed:
            self.flush()
            self.wait_written()
            if self._io is not None:
                self._io.shutdown(wait=True)
                self._io = None
            self.join_parts()
            if self.packs is not None:
                self.packs.join()
            self._series_closed = True
        return ts

    def finish(
        self,
        status: str,
        error: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        net: Any = None,
        fine_it: Sequence[np.ndarray] = (),
        fine_step_s: float = 0.0,
        timing_s: Mapping[str, float] | None = None,
        finalize_t0: float | None = None,
    ) -> dict[str, Any]:
        """The end of the run, however it ended: the time series and pack snapshots joined,
        ``it_fine.parquet`` (the fine IT trace, when given), ``network.json`` (``net`` as solved last),
        ``overview.png`` (when a row was recorded) and the final ``summary.json``, returned.

        ``extra`` is merged into the summary; ``timing_s`` gets ``finalize``, the seconds since
        ``finalize_t0`` (``time.perf_counter``; default: this call), and goes into the summary last."""
        t0 = time.perf_counter() if finalize_t0 is None else finalize_t0
        self.close_series()
        ts = self.out / "timeseries.parquet"
        self.meta["extra"].update(extra or {})
        if len(fine_it):
            write_fine_it(self.out / "it_fine.parquet", fine_it, fine_step_s)
        if net is not None:
            import pandapower as pp

            pp.to_json(net, str(self.out / "network.json"))
        if ts.exists():
            plot_overview(ts, self.out / "overview.png", f"{self.scenario_name} ({status})")
        if timing_s is not None:
            self.meta["extra"]["timing_s"] = {**timing_s, "finalize": round(time.perf_counter() - t0, 3)}
        return self.write_summary(status=status, error=error)


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


def write_fine_it(path: Path, rows: Sequence[np.ndarray], fine_step_s: float) -> None:
    """The site's served IT power at the fine step (``models.datacenter.record_fine_it``)."""
    p = np.concatenate(rows)
    pq.write_table(pa.table({"time_s": np.arange(p.size) * fine_step_s, "it_p_mw": p}), path)
