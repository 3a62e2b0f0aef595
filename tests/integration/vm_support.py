"""A real VictoriaMetrics on a free loopback port for the telemetry tests (issue 14): Debian's `victoria-metrics`
accepts InfluxDB's v2 write API (`/api/v2/write`, line protocol) and is read back through its export API.

No InfluxDB 2 server installs here; VictoriaMetrics names a series ``<measurement>_<field>`` with the tags as
labels and keeps millisecond timestamps. `.ci/run` installs the package; the tests start and stop the server.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["VM_BINARY", "VictoriaMetrics", "free_port"]

VM_BINARY = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VictoriaMetrics:
    """``with VictoriaMetrics(tmp) as vm: vm.url ...``; :meth:`kill` and :meth:`start` again keep its data and port
    (a server that goes away mid-run and comes back)."""

    def __init__(self, data_dir: Path, port: int | None = None, auth: tuple[str, str] | None = None) -> None:
        """``auth``: the server asks for this user and password (HTTP basic auth), so a token is refused."""
        self.data_dir = Path(data_dir)
        self.auth = auth
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> Self:
        self.proc = subprocess.Popen(
            [
                VM_BINARY,
                f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",  # the scenarios' timestamps lie in 2025
                "-search.latencyOffset=0s",
                *([f"-httpAuth.username={self.auth[0]}", f"-httpAuth.password={self.auth[1]}"] if self.auth else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            try:
                if urllib.request.urlopen(self._req("/health"), timeout=1).read().strip() == b"OK":
                    return self
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"victoria-metrics did not come up on {self.url} within {timeout_s:g} s")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def _req(self, path: str) -> urllib.request.Request:
        req = urllib.request.Request(f"{self.url}{path}")
        if self.auth:
            import base64

            req.add_header("Authorization", "Basic " + base64.b64encode(":".join(self.auth).encode()).decode())
        return req

    def rows_inserted(self) -> int:
        """Samples the server has taken so far (its own counter)."""
        n = 0
        for line in urllib.request.urlopen(self._req("/metrics"), timeout=5).read().decode().splitlines():
            if line.startswith("vm_rows_inserted_total{"):
                n += int(float(line.rsplit(" ", 1)[1]))
        return n

    def __enter__(self) -> Self:
        return self if self.proc is not None else self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.kill()

    def export(
        self, match: str = '{__name__=~".+"}'
    ) -> dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]]:
        """Every series matching ``match`` (after a flush): (name, labels) -> {timestamp ms: value}."""
        urllib.request.urlopen(self._req("/internal/force_flush"), timeout=10).read()
        q = urllib.parse.urlencode({"match[]": match})
        out: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]] = {}
        for line in urllib.request.urlopen(self._req(f"/api/v1/export?{q}"), timeout=30).read().decode().splitlines():
            d: dict[str, Any] = json.loads(line)
            labels = tuple(sorted((k, v) for k, v in d["metric"].items() if k != "__name__"))
            series = out.setdefault((d["metric"]["__name__"], labels), {})
            series.update(zip(d["timestamps"], d["values"], strict=True))
        return out
