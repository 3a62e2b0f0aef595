"""The telemetry test server itself (issue 14's groundwork): a real VictoriaMetrics started on a free loopback
port takes influxdb-client's batching v2 writes with the scenarios' 2025 timestamps and gives every point back
through its export API; a server that is gone is reported to the writer's error callback with the batch, the
data a spool keeps. Nothing mocked."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from influxdb_client import InfluxDBClient, Point, WriteOptions
from influxdb_client.client.write_api import SYNCHRONOUS

from tests.integration.vm_support import VM_BINARY, VictoriaMetrics

__all__: list[str] = []

# skipped on a machine without the package, never in CI (`.ci/run` installs it; there a missing server fails)
pytestmark = pytest.mark.skipif(
    not Path(VM_BINARY).exists() and not os.environ.get("CI"), reason="Debian's victoria-metrics is not installed"
)

T0_NS = int(datetime(2025, 7, 15, 19, 0, tzinfo=UTC).timestamp()) * 10**9  # 12:00 at Sparks (UTC-7)


def _points(n: int, run: str) -> list[Point]:
    return [
        Point("grid").tag("run", run).tag("site", "pilot").field("pv_p_mw", 10.0 + 0.001 * k).time(T0_NS + k * 10**9)
        for k in range(n)
    ]


def test_batched_v2_writes_come_back_whole(tmp_path: Path) -> None:
    ok: list[int] = []
    errors: list[Exception] = []
    with VictoriaMetrics(tmp_path / "vm") as vm, InfluxDBClient(url=vm.url, token="unused", org="twin") as c:
        assert c.ping()
        w = c.write_api(
            write_options=WriteOptions(batch_size=500, flush_interval=100),
            success_callback=lambda conf, data: ok.append(len(data)),
            error_callback=lambda conf, data, exc: errors.append(exc),
        )
        for p in _points(3600, "r1"):
            w.write(bucket="twin", record=p)
        w.close()
        got = vm.export('{__name__="grid_pv_p_mw"}')
    assert errors == [] and ok
    assert list(got) == [("grid_pv_p_mw", (("run", "r1"), ("site", "pilot")))]
    series = got[("grid_pv_p_mw", (("run", "r1"), ("site", "pilot")))]
    assert len(series) == 3600
    assert series[T0_NS // 10**6] == 10.0 and series[T0_NS // 10**6 + 3599_000] == pytest.approx(13.599)


def test_a_server_that_is_gone_hands_the_batch_to_the_error_callback(tmp_path: Path) -> None:
    failed: list[bytes] = []
    vm = VictoriaMetrics(tmp_path / "vm").start()
    vm.kill()
    with InfluxDBClient(url=vm.url, token="unused", org="twin", timeout=2000) as c:
        w = c.write_api(
            write_options=WriteOptions(batch_size=100, flush_interval=100, max_retries=0),
            error_callback=lambda conf, data, exc: failed.append(
                data if isinstance(data, bytes) else str(data).encode()
            ),
        )
        for p in _points(100, "down"):
            w.write(bucket="twin", record=p)
        w.close()
    lines = b"\n".join(failed).splitlines()
    assert len(lines) == 100 and lines[0].startswith(b"grid,run=down,site=pilot pv_p_mw=10")
    # the same lines, written once the server is back, all arrive
    with vm.start(), InfluxDBClient(url=vm.url, token="unused", org="twin") as c:
        c.write_api(write_options=SYNCHRONOUS).write(bucket="twin", record=b"\n".join(lines).decode())
        got = vm.export('{run="down"}')
    assert sum(len(s) for s in got.values()) == 100
