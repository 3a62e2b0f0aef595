"""Line protocol out to the server, with nothing lost: influxdb-client's batching write API while the server
takes it, the on-disk spool while it does not, and the spool sent again when it is back.

State: *live* (blocks go to the batching write API) or *down* (blocks go to the spool). A batch that still
fails after the client's own retries (``RETRY``: back-off 1, 2 s) is spooled and the outlet goes down; so does
every block while more than ``max_in_flight`` lines wait in the client (a slow server), so the client's
buffer stays bounded. A background thread probes a down server with back-off (``PROBE_BACKOFF_S``), then
sends the spool, oldest segment first, one synchronous request each, and goes live once the spool is empty.
New blocks keep going to the spool while it drains, so nothing overtakes it.

A batch the server rejects as bad data (HTTP 400, 413, 422) would be rejected again: its lines are counted as
dropped and said loudly, not spooled. Counts are in lines (points): ``written`` (accepted by the server),
``retried`` (lines in requests the client repeated), ``spooled`` (lines that went to the spool), ``dropped``
(never sent: refused as bad, or the spool full), ``in_spool`` (left in the spool at the end).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.io.influx.lineproto import Block
from adapters.io.influx.spool import Spool
from adapters.io.influx.target import InfluxTarget, describe_failure, http_status

__all__ = ["ITEM_LINES", "Outlet", "RETRY"]

ITEM_LINES = 1000  # lines per item handed to the batching write API
BATCH_ITEMS = 5  # items per request (at most 5,000 lines: InfluxDB's recommended batch size)
FLUSH_INTERVAL_MS = 1000  # a partly filled batch goes out after this long (the live view lags at most ~1 s)
# the client's own retries of one batch (influxdb-client 1.50's WritesRetry: waits drawn from 1-2 s, then 2-4 s;
# no new attempt after 8 s), then the batch is spooled: a longer retry would hold the client's queue behind it,
# and the spool and the probe take over
RETRY: dict[str, Any] = {
    "retry_interval": 1000,
    "max_retries": 2,
    "exponential_base": 2,
    "max_retry_delay": 4000,
    "max_retry_time": 8000,
}
PROBE_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # a down server is asked again after these waits
BAD_DATA = (400, 413, 422)  # refused as bad data: sending it again does not help


class Outlet:
    """The sink process's side of the wire. ``sim_time``: the simulated time of the newest block (for the
    incidents' times); ``spool_dir`` is created when first needed."""

    def __init__(
        self,
        target: InfluxTarget,
        spool_dir: Path,
        *,
        spool_max_bytes: int = 2 << 30,
        max_in_flight: int = 200_000,
        sim_time: Callable[[], float] = lambda: 0.0,
    ) -> None:
        import logging

        from influxdb_client import WriteOptions
        from influxdb_client.client.write_api import SYNCHRONOUS
        from reactivex.scheduler import ThreadPoolScheduler

        self.target = target
        self.sim_time = sim_time
        self.max_in_flight = max_in_flight
        self.spool = Spool(spool_dir, spool_max_bytes)
        self.counts = {"written": 0, "retried": 0, "spooled": 0, "dropped": 0, "requests": 0, "bytes_written": 0}
        self.incidents: list[dict[str, Any]] = []
        self.in_flight = 0
        # items handed to the client and not yet reported back, in order (the client writes them in order, one
        # request at a time): what close() spools if the client still holds them when its time is up
        self._pending: deque[tuple[bytes, int]] = deque()
        self._abandoned = False
        self._n_told = 0  # incidents handed out by take_new_incidents
        self.last_error: str | None = None  # the latest failed request, in words
        self.refused: str | None = None  # the server refused the token, org or bucket: waiting will not help
        self.live = not self.spool  # a spool left from before goes first
        self._lock = threading.Lock()
        self._draining = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._scheduler = ThreadPoolScheduler(max_workers=1)
        self._client = target.client(retries=False)
        self._sync_client = target.client(retries=False)
        self._sync = self._sync_client.write_api(write_options=SYNCHRONOUS)
        self._batch = self._client.write_api(
            write_options=WriteOptions(
                batch_size=BATCH_ITEMS,
                flush_interval=FLUSH_INTERVAL_MS,
                max_close_wait=3_600_000,  # close() waits for every batch (each ends within RETRY's bound)
                write_scheduler=self._scheduler,
                **RETRY,
            ),
            success_callback=self._ok,
            error_callback=self._failed,
            retry_callback=self._retry,
        )
        # the client logs every retry and failed batch on stderr (its configuration sets its loggers' levels when
        # a client is made); the outlet tells them once, as incidents
        for name in list(logging.root.manager.loggerDict):
            if name.startswith("influxdb_client"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        self._drainer = threading.Thread(target=self._drain_loop, name="influx-drain", daemon=True)
        self._drainer.start()

    # -- in --------------------------------------------------------------------------------------
    def send(self, block: Block) -> None:
        from influxdb_client import WritePrecision

        for data, n in block.pieces(ITEM_LINES):
            with self._lock:
                go = self.live and self.in_flight + n <= self.max_in_flight
                if go:
                    self.in_flight += n
                    self._pending.append((data, n))
                elif self.live:
                    self._incident("influx_slow", f"{self.in_flight} lines wait in the client; spooling")
                    self.live = False
            if go:
                # items are joined with a newline by the client: each goes without its last one
                self._batch.write(
                    self.target.bucket, self.target.org, record=data[:-1], write_precision=WritePrecision.MS
                )
            else:
                self._to_spool(data, n)
        if not self.live:
            self._wake.set()

    def _to_spool(self, data: bytes, n: int) -> None:
        if self.spool.append(data, n):
            with self._lock:
                self.counts["spooled"] += n
        else:
            with self._lock:
                self.counts["dropped"] += n
                self._incident("influx_dropped", f"{n} lines dropped: the spool is full ({self.spool.max_bytes} bytes)")

    # -- the client's callbacks (its writer thread) ----------------------------------------------
    def _settle(self, n: int) -> None:
        """Under the lock: the client reported ``n`` lines back: the oldest pending items that hold them."""
        self.in_flight -= n
        while n > 0 and self._pending:
            n -= self._pending.popleft()[1]
        if n:
            self._incident("influx_error", f"bookkeeping: {n} lines reported back that were not pending")

    def _ok(self, conf: Any, data: bytes) -> None:
        n = data.count(b"\n") + 1
        with self._lock:
            if self._abandoned:  # close() spooled what the client held; this batch arrived meanwhile
                return
            self._settle(n)
            self.counts["written"] += n
            self.counts["requests"] += 1
            self.counts["bytes_written"] += len(data)

    def _retry(self, conf: Any, data: bytes, exc: BaseException) -> None:
        with self._lock:
            if not self._abandoned:
                self.counts["retried"] += data.count(b"\n") + 1

    def _failed(self, conf: Any, data: bytes, exc: BaseException) -> None:
        n = data.count(b"\n") + 1
        status = http_status(exc)
        with self._lock:
            if self._abandoned:
                return
            self._settle(n)
            if status in BAD_DATA:
                self.counts["dropped"] += n
                self._incident(
                    "influx_refused", f"{n} lines refused as bad data, not sent again: {describe_failure(exc)}"
                )
                return
            if self.live:
                self._incident(
                    "influx_down", f"a batch failed after the client's retries: {describe_failure(exc)}; spooling"
                )
            self.live = False
        try:
            self._to_spool(data + b"\n", n)
        except Exception as exc:  # the client swallows a callback's error: count the lines and say why
            with self._lock:
                self.counts["dropped"] += n
                self._incident("influx_dropped", f"{n} lines dropped: the spool failed: {type(exc).__name__}: {exc}")
        self._wake.set()

    def _incident(self, kind: str, detail: str) -> None:
        """Under the lock: something the summary and the event log should tell (and the server, as an event)."""
        self.incidents.append(
            {
                "time_s": round(self.sim_time(), 3),
                "wall_s": round(time.monotonic() - self._t0, 3),
                "kind": kind,
                "detail": detail,
            }
        )

    def take_new_incidents(self) -> list[dict[str, Any]]:
        """The incidents since the last call (the sink sends them as ``events`` points)."""
        with self._lock:
            new = self.incidents[self._n_told :]
            self._n_told = len(self.incidents)
        return new

    # -- the spool back to the server ------------------------------------------------------------
    def _drain_loop(self) -> None:
        k = 0
        while not self._stop.is_set():
            if self.live and not self.spool:
                self._wake.wait(0.5)
                self._wake.clear()
                k = 0
                continue
            try:
                if self.drain():
                    k = 0
                    continue
            except Exception as exc:  # the disk, say: told once, and the loop goes on
                with self._lock:
                    self._incident("influx_error", f"sending the spool: {type(exc).__name__}: {exc}")
            self._stop.wait(PROBE_BACKOFF_S[min(k, len(PROBE_BACKOFF_S) - 1)])
            k += 1

    def drain(self, deadline: float | None = None) -> bool:
        """Send the spool, oldest segment first; True when it is empty (and the outlet live again). One caller
        at a time (the drain thread, or close() once the thread has stopped)."""
        with self._draining:
            return self._drain(deadline)

    def _drain(self, deadline: float | None) -> bool:
        from influxdb_client import WritePrecision

        while (deadline is None and not self._stop.is_set()) or (deadline is not None and time.monotonic() < deadline):
            seg = self.spool.oldest()
            if seg is None:
                with self._lock:
                    if self.spool.oldest() is None:  # nothing appended meanwhile
                        if not self.live:
                            self._incident("influx_up", "the server takes points again; the spool is sent")
                        self.live = True
                        return True
                continue
            path, data, n, torn = seg
            try:
                if data:
                    self._sync.write(
                        self.target.bucket, self.target.org, record=data, write_precision=WritePrecision.MS
                    )
            except Exception as exc:
                status = http_status(exc)
                if status in BAD_DATA:
                    with self._lock:
                        self.counts["dropped"] += n
                        self._incident(
                            "influx_refused", f"{n} spooled lines refused as bad data: {describe_failure(exc)}"
                        )
                    self.spool.remove(path, n)
                    continue
                with self._lock:
                    self.last_error = describe_failure(exc)
                    if status in (401, 403, 404):
                        self.refused = self.last_error
                return False
            with self._lock:
                self.refused = None  # the server takes points (again)
                self.counts["written"] += n
                self.counts["requests"] += 1
                self.counts["bytes_written"] += len(data)
                if torn:
                    self.counts["dropped"] += 1
                    self._incident("influx_dropped", f"{path.name}: a line cut short by a crash ({torn} bytes) dropped")
            self.spool.remove(path, n)
        return False

    # -- the end ---------------------------------------------------------------------------------
    def close(self, timeout_s: float) -> dict[str, Any]:
        """Every batch finished (written or spooled), then the spool sent until ``timeout_s`` has passed; the
        counts. What the server did not take stays in the spool for ``twin influx-flush``."""
        deadline = time.monotonic() + timeout_s
        # the client's batches, each written or spooled by its callbacks; a server that hangs rather than refuses
        # holds each for its timeout on every attempt, so the wait is bounded and what is left goes to the spool
        closer = threading.Thread(target=self._batch.close, name="influx-close", daemon=True)
        closer.start()
        closer.join(timeout=max(timeout_s, 1.0))
        if closer.is_alive():
            with self._lock:
                held = list(self._pending)
                self._pending.clear()
                self._abandoned = True
                self.in_flight = 0
                self.live = False
                n_held = sum(k for _, k in held)
                self._incident("influx_down", f"the client still held {n_held} lines after {timeout_s:g} s: spooled")
            for item, k in held:
                self._to_spool(item, k)  # a piece ends with its newline
            # the batches still queued in the client would each wait for the hanging server: not run at all
            self._scheduler.executor.shutdown(wait=False, cancel_futures=True)
        self._stop.set()
        self._drainer.join(timeout=60)
        while self.spool and time.monotonic() < deadline and self.refused is None:
            if self.drain(deadline):
                break
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        self.spool.tidy()
        self._client.close()
        self._sync_client.close()
        with self._lock:
            out: dict[str, Any] = dict(self.counts)
            out["in_spool"] = self.spool.lines
            out["in_flight_lost"] = self.in_flight  # lines the client never reported back (0 unless it broke)
            out["incidents"] = list(self.incidents)
            if self.spool.lines and self.last_error:
                out["last_error"] = self.last_error
        return out
