"""``twin influx-flush RUN_DIR``: a run's spool sent to the server after the run; with ``whole``, the run sent
again from its results folder (``timeseries.parquet``, ``packs.parquet``, ``summary.json``'s events) with the
same measurements, tags and timestamps as the live sink, so the server keeps one of each point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from adapters.io.influx.lineproto import LineFormatter
from adapters.io.influx.outlet import Outlet
from adapters.io.influx.sink import INFLUX_JSON, SPOOL_DIR, run_id, start_ms_of, write_influx_json
from adapters.io.influx.target import InfluxTarget
from twin.errors import InputError

__all__ = ["flush_run", "send_results"]

ROWS_PER_BLOCK = 2000


def flush_run(
    run_dir: Path,
    target: InfluxTarget,
    saved: dict[str, Any],
    *,
    whole: bool = False,
    run_id: str | None = None,
    timeout_s: float = 600.0,
    spool_max_bytes: int = 1 << 40,  # --all sends a whole run, through the spool while the server lags: unbounded
) -> dict[str, Any]:
    """Send the spool (and with ``whole`` the results) within ``timeout_s``; the outlet's counts. A server that
    cannot be reached or refuses the token, org or bucket stops it first (:class:`InputError`, exit 2): the
    check is one real write, an ``influx_flush`` event point of the run."""
    from adapters.io.influx.target import preflight

    tags, start_ms = _identity(run_dir, saved, run_id) if whole else (saved["tags"], int(saved["start_ms"]))
    fmt = LineFormatter(tags, start_ms)
    first = fmt.events([{"time_s": 0.0, "kind": "influx_flush", "detail": f"twin influx-flush of {run_dir}"}])
    preflight(target, first.data)
    outlet = Outlet(target, run_dir / SPOOL_DIR, spool_max_bytes=spool_max_bytes)
    sent = 0
    if whole:
        sent = send_results(run_dir, fmt, outlet)
        if not (run_dir / INFLUX_JSON).exists() or run_id:
            write_influx_json(run_dir, target, tags, start_ms)
    res = outlet.close(timeout_s)
    res["points"] = sent
    if res["dropped"]:
        res["why"] = "; ".join(
            i["detail"] for i in res["incidents"] if i["kind"] in ("influx_refused", "influx_dropped")
        )
    return res


def _identity(run_dir: Path, saved: dict[str, Any], rid: str | None) -> tuple[dict[str, str], int]:
    if saved.get("tags") and saved.get("start_ms") is not None:
        tags = dict(saved["tags"])
        if rid:
            tags["run"] = rid
        return tags, int(saved["start_ms"])
    from adapters.io.scenario_file import load_scenario
    from twin.site import start_timestamp

    toml = run_dir / "scenario.toml"
    if not toml.exists():
        raise InputError(f"{toml}: missing; the run's start and site come from it")
    sc = load_scenario(toml)
    name = sc.name
    summ = run_dir / "summary.json"
    if summ.exists():
        name = json.loads(summ.read_text()).get("scenario") or name
    return {"site": sc.site.name, "scenario": name, "run": rid or run_id(name)}, start_ms_of(start_timestamp(sc))


def send_results(run_dir: Path, fmt: LineFormatter, outlet: Outlet) -> int:
    """The results folder as line protocol through ``outlet``; the number of points."""
    import pyarrow.parquet as pq

    n = 0
    ts = run_dir / "timeseries.parquet"
    # a killed run never joined its chunks: its parts are read in order (docs/results.md)
    files = [ts] if ts.exists() else sorted((run_dir / "timeseries.parts").glob("part-*.parquet"))
    if not files:
        raise InputError(f"{ts}: missing (and no timeseries.parts/); a run's time series is sent from it")
    for f in files:
        pf = pq.ParquetFile(f)
        fmt.set_columns(pf.schema_arrow.names)
        for batch in pf.iter_batches(batch_size=ROWS_PER_BLOCK):
            block = np.column_stack([c.to_numpy(zero_copy_only=False).astype(np.float64) for c in batch.columns])
            lines = fmt.rows(block)
            n += lines.n_lines
            outlet.send(lines)
    packs = run_dir / "packs.parquet"
    pack_files = [packs] if packs.exists() else sorted((run_dir / "packs.parts").glob("part-*.parquet"))
    for pfile in pack_files:
        t = pq.read_table(pfile)
        cols = {c: t.column(c).to_numpy() for c in t.column_names}
        times = cols["time_s"]
        for t_s in np.unique(times):
            sel = times == t_s
            lines = fmt.packs(
                float(t_s), {k: v[sel] for k, v in cols.items()}, cols["block"][sel], cols["pack_id"][sel]
            )
            n += lines.n_lines
            outlet.send(lines)
    summ = run_dir / "summary.json"
    if summ.exists():
        lines = fmt.events(json.loads(summ.read_text()).get("events", []))
        n += lines.n_lines
        outlet.send(lines)
    return n
