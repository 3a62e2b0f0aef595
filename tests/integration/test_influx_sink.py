"""The InfluxDB sink against a real server (issue 14): Debian's VictoriaMetrics on a free loopback port takes
InfluxDB's v2 write API (`tests/integration/vm_support.py`); every point the twin wrote is read back through
its export API and compared with the results folder, value by value (tests/integration/influx_support.py).
The server going away: tests/integration/test_influx_outage.py. `.ci/run` installs the package; outside CI a
machine without it skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from adapters.io.influx.schema import place
from tests.integration.influx_support import (
    ROOT,
    TOKEN,
    compare,
    event_counts,
    expected,
    influx_flags,
    no_token_anywhere,
    twin,
)
from tests.integration.vm_support import VM_BINARY, VictoriaMetrics

pytestmark = pytest.mark.skipif(
    not Path(VM_BINARY).exists() and not os.environ.get("CI"), reason="Debian's victoria-metrics is not installed"
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 20-minute run (1,200 steps, a pack snapshot at 900 s) streamed to a server that stays up."""
    tmp = tmp_path_factory.mktemp("influx-live")
    with VictoriaMetrics(tmp / "vm") as vm:
        out = tmp / "run"
        r = twin(
            "run",
            "scenarios/pilot-1h.toml",
            "--duration-s",
            "1200",
            "--out",
            str(out),
            "--no-progress",
            *influx_flags(vm),
        )
        got = vm.export()
    return {"r": r, "out": out, "got": got}


def test_every_point_arrives_with_its_value(live: dict[str, Any]) -> None:
    r, out = live["r"], live["out"]
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())["influx"]
    assert s["dropped"] == 0 and s["in_spool"] == 0 and s["spooled"] == 0, s
    assert s["written"] == s["points"] > 30_000, s
    want = expected(out)
    assert any(k[0].startswith("pack_") for k in want), "the run should hold a pack snapshot"
    compare(live["got"], want)
    # every column went to a named measurement (a new column must get its rule in adapters/io/influx/schema.py)
    cols = pq.read_schema(out / "timeseries.parquet").names
    assert [c for c in cols if c != "time_s" and place(c)[0] == "site"] == []
    # events: every event of the run is a point (plus the sink's first point, run_started)
    want_ev, have_ev = event_counts(out, live["got"])
    assert have_ev.pop("run_started") == 1
    assert have_ev == want_ev
    # the points of the run and their sum: rows x lines + packs + events
    n_pts = sum(len(v) for k, v in want.items() if not k[0].startswith("pack_"))
    assert s["points"] >= len(pq.read_table(out / "timeseries.parquet")) and n_pts > 0
    no_token_anywhere(out, r.stdout, r.stderr)


def test_timestamps_are_the_scenario_start_plus_simulated_time(live: dict[str, Any]) -> None:
    """pilot-1h starts 2025-07-15 12:00 in America/Los_Angeles (PDT, UTC-7): 19:00 UTC."""
    out = live["out"]
    key = next(k for k in live["got"] if k[0] == "bess_soc_frac")
    ts = sorted(live["got"][key])
    assert ts[0] == 1752606000000  # 2025-07-15T19:00:00Z
    assert np.all(np.diff(ts) == 1000) and len(ts) == 1200
    assert json.loads((out / "influx.json").read_text())["start_ms"] == 1752606000000


def test_influx_flush_all_sends_a_run_made_without_the_sink(live: dict[str, Any], tmp_path: Path) -> None:
    """The same points from the results folder, to a fresh server: identical series."""
    out = live["out"]
    with VictoriaMetrics(tmp_path / "vm") as vm:
        r = twin("influx-flush", str(out), "--all", *influx_flags(vm))
        assert r.returncode == 0, r.stderr
        got = vm.export()
    compare(got, expected(out))
    want_ev, have_ev = event_counts(out, got)
    assert have_ev == want_ev  # no run_started: that point is the live sink's


def test_a_server_that_cannot_be_reached_or_refuses_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    from tests.integration.vm_support import free_port

    out = tmp_path / "run"
    base = ["run", "scenarios/pilot-1h.toml", "--duration-s", "60", "--out", str(out), "--no-progress"]
    flags = ["--influx-org", "site", "--influx-bucket", "twin"]
    r = twin(*base, "--influx-url", f"http://127.0.0.1:{free_port()}", *flags)
    assert r.returncode == 2 and "cannot be reached" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (out / "timeseries.parquet").exists()
    r = twin(*base, "--influx-url", "http://127.0.0.1:1", *flags, token=None)
    assert r.returncode == 2 and "INFLUX_TOKEN" in r.stderr, r.stderr
    r = twin(*base, "--influx-bucket", "twin")
    assert r.returncode == 2 and "no --influx-url" in r.stderr, r.stderr
    r = twin(*base, "--influx-url", "ftp://x", *flags)
    assert r.returncode == 2 and "not an http(s) URL" in r.stderr, r.stderr
    with VictoriaMetrics(tmp_path / "vm", auth=("twin", "other-password")) as vm:
        r = twin(*base, "--influx-url", vm.url, *flags)
    assert r.returncode == 2 and "refuses the token" in r.stderr and "HTTP 401" in r.stderr, r.stderr
    no_token_anywhere(tmp_path, r.stdout, r.stderr)


def test_a_realtime_hil_run_is_seen_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`twin hil` at wall-clock pace (1 s steps, pack 0 on the emulated BMS): the points are on the server while
    the run goes, at most a few seconds behind it (the results writer taps every 1 s of wall time, the
    client flushes every 1 s), and the hil measurement the dashboard's link-health panels read is there."""
    from tests.integration.hil_support import Bench, scenario, twin_hil

    monkeypatch.setenv("INFLUX_TOKEN", TOKEN)
    scen = scenario(tmp_path, duration_s=20.0)
    out = tmp_path / "out"
    seen: list[tuple[float, int]] = []
    with Bench(tmp_path) as bench, VictoriaMetrics(tmp_path / "vm") as vm:
        p = twin_hil(scen, out, "--timeout-s", "0.5", *influx_flags(vm), port=bench.port, background=True)
        assert isinstance(p, subprocess.Popen)
        while p.poll() is None:
            got = vm.export('{__name__="hil_hil_link_ok"}')
            seen.append((time.monotonic(), sum(len(v) for v in got.values())))
            time.sleep(0.5)
        stdout, stderr = p.communicate()
        assert p.returncode == 0, stderr[-3000:]
        final = vm.export()
    live = [(w, n) for w, n in seen if n > 0]
    assert len({n for _, n in live}) >= 8, seen  # the count grew while the run went
    t_first = live[0][0]
    lag = max((w - t_first) - n for w, n in live)  # seconds of run not yet on the server, at worst
    assert lag <= 4.0, seen
    s = json.loads((out / "summary.json").read_text())
    assert s["influx"]["written"] == s["influx"]["points"] and s["hil"]["mode"] == "realtime"
    compare(final, expected(out), at_least=4000)
    assert {k[0] for k in final} >= {"hil_hil_link_ok", "hil_hil_lateness_ms", "hil_hil_io_ms", "hil_hil_attempts"}


def test_the_dashboard_queries_only_series_the_sink_wrote(live: dict[str, Any]) -> None:
    """Every (measurement, field) of docs/grafana/twin-dashboard.json is a series on the server after a real run
    (VictoriaMetrics names it measurement_field), but for the hil ones (a `twin hil` run, checked above)."""
    from tests.integration.grafana_support import dashboard_fields

    names = {k[0] for k in live["got"]}
    wanted = dashboard_fields(ROOT / "docs" / "grafana" / "twin-dashboard.json")
    missing = sorted(f"{m}.{f}" for m, f in wanted if m != "hil" and f"{m}_{f}" not in names)
    assert not missing, missing
    assert {m for m, _ in wanted} >= {"pv", "bess", "bess_block", "grid", "spark", "datacenter", "cooling", "events"}
