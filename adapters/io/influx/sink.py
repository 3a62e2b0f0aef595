"""The run's InfluxDB sink: the simulation hands over blocks of rows, pack snapshots and events; a process of
its own formats them (:mod:`adapters.io.influx.lineproto`) and sends them (:mod:`adapters.io.influx.outlet`).

Formatting a row of 200 numbers costs 40-130 us of Python and pyarrow, 4-10 % of a 1 s step of the default
day, so it is done in a separate process: the simulation's cost is a copy of the block and a pickle on
``multiprocessing``'s feeder thread (``python -m benchmarks.bench --only influx`` measures it). The results
writer taps its rows every ``tap_rows`` rows or ``tap_wall_s`` seconds of wall time, whichever comes first
(the live view of a real-time run lags about a second).

``influx.json`` in the results folder names the server, org, bucket, run id, tags and start (no token), so
``twin influx-flush RUN_DIR`` can send the spool (or the whole run) later. If the run's process dies, the
sink process sees it gone (within a second), sends what reached it and ends.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import secrets
import signal
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from adapters.io.influx.lineproto import LineFormatter
from adapters.io.influx.target import InfluxTarget, preflight

__all__ = [
    "INFLUX_JSON",
    "SPOOL_DIR",
    "InfluxOptions",
    "InfluxSink",
    "run_id",
    "spool_lines",
    "start_ms_of",
    "write_influx_json",
]

INFLUX_JSON = "influx.json"
SPOOL_DIR = "influx.spool"


@dataclass(frozen=True)
class InfluxOptions:
    target: InfluxTarget
    run_id: str | None = None  # None: <scenario>-<UTC wall time>-<4 hex>
    pack_every_s: float | None = None  # pack points at most this often (None: every pack snapshot)
    spool_mb: float = 2048.0  # the on-disk spool's bound
    flush_timeout_s: float = 60.0  # at the end: how long the spool may take to send before it is left for later
    tap_rows: int = 1000
    tap_wall_s: float = 1.0


def write_influx_json(run_dir: Path, target: InfluxTarget, tags: Mapping[str, str], start_ms: int) -> None:
    """``RUN_DIR/influx.json``: where the run's points went and how they are stamped (never the token), read by
    ``twin influx-flush``."""
    doc = {**target.public(), "precision": "ms", "tags": dict(tags), "start_ms": int(start_ms), "spool": SPOOL_DIR}
    (Path(run_dir) / INFLUX_JSON).write_text(json.dumps(doc, indent=2) + "\n")


def run_id(scenario: str) -> str:
    return f"{scenario}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def start_ms_of(start: Any) -> int:
    """Milliseconds since the epoch of a zone-aware start (``twin.site.start_timestamp``)."""
    return int(round(start.timestamp() * 1000.0))


class InfluxSink:
    """The simulation's side; :meth:`close` returns the counts for ``summary.json["influx"]``."""

    def __init__(self, opts: InfluxOptions, run_dir: Path, tags: Mapping[str, str], start_ms: int) -> None:
        self.opts = opts
        self.tags = dict(tags)
        self.start_ms = int(start_ms)
        self.run_dir = Path(run_dir)
        self.tap_rows = opts.tap_rows
        self.tap_wall_s = opts.tap_wall_s
        first = LineFormatter(self.tags, self.start_ms).events(
            [{"time_s": 0.0, "kind": "run_started", "detail": f"run {self.tags['run']} of {self.tags['scenario']}"}]
        )
        preflight(opts.target, first.data)  # a server that cannot be reached or refuses: stops here (exit 2)
        write_influx_json(self.run_dir, opts.target, self.tags, self.start_ms)
        ctx = mp.get_context("spawn")  # the run's process has threads (mosaik, servers): no fork
        self._q: Any = ctx.Queue()
        self._result: Any = ctx.Queue()
        self._proc = ctx.Process(
            target=_worker,
            args=(
                opts.target,
                self.tags,
                self.start_ms,
                self.run_dir / SPOOL_DIR,
                int(opts.spool_mb * (1 << 20)),
                self._q,
                self._result,
            ),
            name="twin-influx",
            daemon=True,
        )
        self._proc.start()
        self._columns: list[str] | None = None
        self._n_events = 0
        self._last_pack_t = -np.inf
        self._dead: str | None = None
        self.n_points_first = first.n_lines
        self.wall_s = 0.0  # the simulation's own time in the sink's calls (copies, queue puts)

    # -- from the results writer -----------------------------------------------------------------
    def _put(self, msg: tuple[Any, ...]) -> None:
        t0 = time.perf_counter()
        if self._dead is None and not self._proc.is_alive():
            self._dead = self._why_dead("during the run")
        if self._dead is None:
            self._q.put(msg)
        self.wall_s += time.perf_counter() - t0

    def rows(self, columns: Sequence[str], block: np.ndarray) -> None:
        if self._columns is None or list(columns) != self._columns:
            self._columns = list(columns)
            self._put(("columns", self._columns))
        t0 = time.perf_counter()
        copy = np.array(block, dtype=np.float64, copy=True)
        self.wall_s += time.perf_counter() - t0
        self._put(("rows", copy))

    def packs(self, t_s: float, snapshot: Mapping[str, np.ndarray], block: np.ndarray, pack_id: np.ndarray) -> None:
        every = self.opts.pack_every_s
        if every is not None and t_s - self._last_pack_t < every - 1e-9:
            return
        self._last_pack_t = t_s
        self._put(("packs", float(t_s), {k: np.asarray(v) for k, v in snapshot.items()}, block, pack_id))

    def events(self, events: Sequence[Mapping[str, Any]]) -> None:
        if len(events) > self._n_events:
            self._put(("events", [dict(e) for e in events[self._n_events :]]))
            self._n_events = len(events)

    def _why_dead(self, when: str) -> str:
        """The sink process has ended: its own report of why, if it left one. The queue's feeder thread must not
        wait at exit for a reader that is gone (the run's process would never end)."""
        self._q.cancel_join_thread()
        try:
            res = self._result.get(timeout=1.0)
        except Exception:
            res = None
        if isinstance(res, dict) and "error" in res:
            return f"the sink process failed {when}: {res['error']}"
        return f"the sink process ended (exit {self._proc.exitcode}) {when}"

    # -- the end ---------------------------------------------------------------------------------
    def abort(self) -> None:
        """The run never started, or its end was interrupted: stop the sink process (what reached it is sent
        within a few seconds; the rest stays in its spool)."""
        self._q.cancel_join_thread()
        if self._proc.is_alive():
            self._q.put(("close", 5.0))
            self._proc.join(timeout=30)
        if self._proc.is_alive():
            self._proc.kill()

    def close(self) -> dict[str, Any]:
        """Send what is left, wait for the sink process (the spool gets ``flush_timeout_s``), and the counts."""
        # the sink bounds its own end: the client's batches and the spool within flush_timeout_s each, a request
        # in progress within the target's timeout
        wait_s = 2.0 * self.opts.flush_timeout_s + 3.0 * self.opts.target.timeout_s + 30.0
        res: dict[str, Any] | None = None
        if self._dead is None:
            self._q.put(("close", self.opts.flush_timeout_s))
            t_end = time.monotonic() + wait_s
            while res is None and time.monotonic() < t_end:
                try:
                    res = self._result.get(timeout=0.5)
                except queue.Empty:
                    if not self._proc.is_alive() and self._result.empty():
                        self._dead = self._why_dead("without a report")
                        break
            if res is None and self._dead is None:
                self._dead = f"the sink process gave no report within {wait_s:g} s"
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
            self._q.cancel_join_thread()
        self._q.close()
        out: dict[str, Any] = {**self.opts.target.public(), "run": self.tags["run"]}
        if res is None or "error" in res:
            why = self._dead or (res or {}).get("error", "no report")
            out.update({"error": why, "in_spool": spool_lines(self.run_dir / SPOOL_DIR)})
            return out
        res["points"] += self.n_points_first
        res["written"] += self.n_points_first
        out.update(res)
        out["run_thread_s"] = round(self.wall_s, 3)
        return out


def spool_lines(folder: Path) -> int:
    from adapters.io.influx.spool import Spool

    return Spool(folder, 1 << 62).lines


def _worker(
    target: InfluxTarget,
    tags: dict[str, str],
    start_ms: int,
    spool_dir: Path,
    spool_max_bytes: int,
    q: Any,
    result: Any,
) -> None:
    """The sink process: format what arrives, hand it to the outlet, report the counts at the end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the run closes us
    try:
        from adapters.io.influx.outlet import Outlet

        fmt = LineFormatter(tags, start_ms)
        t_sim = [0.0]
        outlet = Outlet(target, spool_dir, spool_max_bytes=spool_max_bytes, sim_time=lambda: t_sim[0])
        points = 0
        timeout_s = 60.0
        t_busy = 0.0
        parent = mp.parent_process()
        while True:
            try:
                msg = q.get(timeout=1.0)
            except queue.Empty:
                # this process holds the queue's writing end too, so a dead run never closes it: watch the run
                if parent is not None and not parent.is_alive():
                    break  # the run's process is gone: send what arrived, then end
                msg = None
            except (EOFError, OSError):
                break
            if msg is None:
                continue
            t0 = time.process_time()
            kind = msg[0]
            if kind == "close":
                timeout_s = float(msg[1])
                break
            if kind == "columns":
                fmt.set_columns(msg[1])
                continue
            if kind == "rows":
                blk = msg[1]
                t_sim[0] = float(blk[-1, fmt.t_col]) if len(blk) else t_sim[0]
                lines = fmt.rows(blk)
            elif kind == "packs":
                lines = fmt.packs(*msg[1:])
            else:
                lines = fmt.events(msg[1])
            points += lines.n_lines
            outlet.send(lines)
            new = outlet.take_new_incidents()
            if new:  # the sink's own incidents (server down, back, drops) as events, for the dashboard
                inc = fmt.events(new)
                points += inc.n_lines
                outlet.send(inc)
            t_busy += time.process_time() - t0
        out = outlet.close(timeout_s)
        out["points"] = points
        out["format_cpu_s"] = round(t_busy, 3)
        out["pid"] = os.getpid()
        result.put(out)
    except BaseException as exc:  # the run must learn why, whatever it was
        result.put({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=5)})
