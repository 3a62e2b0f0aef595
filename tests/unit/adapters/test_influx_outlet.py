"""The outlet's bookkeeping against a scripted HTTP server on loopback (a real server, told how to answer:
refuse as bad data, answer slowly, or take everything), for the answers VictoriaMetrics cannot be made to give.
Every line is accounted for: points = written + dropped + in_spool."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.io.influx.lineproto import LineFormatter
from adapters.io.influx.outlet import Outlet
from adapters.io.influx.target import InfluxTarget


class Scripted:
    def __init__(self) -> None:
        self.status = 204
        self.delay_s = 0.0
        self.lines: list[bytes] = []
        self.auth: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.auth.append(self.headers.get("Authorization", ""))
                time.sleep(outer.delay_s)
                if outer.status == 204:
                    outer.lines.extend(x for x in body.split(b"\n") if x)
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def block(n: int, t0: float = 0.0) -> Any:
    f = LineFormatter({"site": "s", "scenario": "c", "run": "r"}, 0, ["time_s", "soc_frac"])
    return f.rows(np.column_stack([t0 + np.arange(n, dtype=float), np.linspace(0, 1, n)]))


def test_everything_written_with_the_token_in_the_header(server: Scripted, tmp_path: Path) -> None:
    o = Outlet(InfluxTarget(server.url, "o", "b", "tok-x"), tmp_path / "spool")
    o.send(block(2500))
    res = o.close(10)
    assert res["written"] == 2500 == len(set(server.lines)) and res["dropped"] == res["in_spool"] == 0
    assert set(server.auth) == {"Token tok-x"}


def test_bad_data_is_dropped_and_said_not_spooled(server: Scripted, tmp_path: Path) -> None:
    server.status = 400
    o = Outlet(InfluxTarget(server.url, "o", "b", "t"), tmp_path / "spool")
    o.send(block(1500))
    res = o.close(5)
    assert res["dropped"] == 1500 and res["written"] == 0 and res["in_spool"] == 0 and res["spooled"] == 0
    assert res["incidents"] and {i["kind"] for i in res["incidents"]} == {"influx_refused"}
    assert "HTTP 400" in res["incidents"][0]["detail"]


def test_a_slow_server_sends_the_rest_to_the_spool_and_gets_it_later(server: Scripted, tmp_path: Path) -> None:
    """More than max_in_flight lines waiting in the client: new blocks go to the spool (the client's buffer
    stays bounded), and the spool is sent once the client's queue has room."""
    server.delay_s = 0.3
    o = Outlet(InfluxTarget(server.url, "o", "b", "t"), tmp_path / "spool", max_in_flight=3000)
    for k in range(10):
        o.send(block(1000, t0=1000.0 * k))
    assert o.in_flight <= 3000
    server.delay_s = 0.0
    res = o.close(30)
    assert res["spooled"] >= 5000 and res["written"] == 10_000 and res["in_spool"] == 0, res
    assert len(set(server.lines)) == 10_000
    assert "influx_slow" in [i["kind"] for i in res["incidents"]]


def test_a_full_spool_drops_and_says_so(tmp_path: Path) -> None:
    from tests.integration.vm_support import free_port

    o = Outlet(
        InfluxTarget(f"http://127.0.0.1:{free_port()}", "o", "b", "t"), tmp_path / "spool", spool_max_bytes=120_000
    )
    o.live = False  # the server is known to be gone: straight to the spool
    o.send(block(3000))
    res = o.close(0.5)
    assert res["dropped"] > 0 and res["in_spool"] > 0 and res["dropped"] + res["in_spool"] == 3000, res
    assert any(i["kind"] == "influx_dropped" and "spool is full" in i["detail"] for i in res["incidents"])
    assert sum(p.stat().st_size for p in (tmp_path / "spool").glob("seg-*.lp")) <= 120_000


def test_a_server_that_hangs_cannot_hold_the_end_of_the_run(server: Scripted, tmp_path: Path) -> None:
    """A server that takes the request and never answers (a network partition): the client would hold every
    batch for its timeout on each attempt; close() gives it the flush timeout, then spools what it holds."""
    server.delay_s = 60.0
    o = Outlet(InfluxTarget(server.url, "o", "b", "t", timeout_s=2.0), tmp_path / "spool")
    o.send(block(3000))
    t0 = time.monotonic()
    res = o.close(3.0)
    took = time.monotonic() - t0
    assert took < 10.0, took
    assert res["in_spool"] == 3000 and res["written"] == 0 and res["dropped"] == 0, res
    assert any("still held 3000 lines" in i["detail"] for i in res["incidents"])
    assert sum(p.read_bytes().count(b"\n") for p in (tmp_path / "spool").glob("seg-*.lp")) == 3000
