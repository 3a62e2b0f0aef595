"""The InfluxDB sink when the server goes away (issue 14: "nothing lost, nothing slowed"), against a real
VictoriaMetrics on loopback that the tests stop and start again; and a run killed outright. Helpers:
tests/integration/influx_support.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.influx_support import (
    compare,
    expected,
    influx_flags,
    no_token_anywhere,
    start_twin,
    twin,
)
from tests.integration.vm_support import VM_BINARY, VictoriaMetrics

pytestmark = pytest.mark.skipif(
    not Path(VM_BINARY).exists() and not os.environ.get("CI"), reason="Debian's victoria-metrics is not installed"
)


def test_a_server_stopped_mid_run_loses_nothing(tmp_path: Path) -> None:
    """The server goes away for 12 s (longer than the client's own retries, adapters/io/influx/outlet.py RETRY)
    while a 2-hour run goes and comes back on the same port: the run neither stops nor fails, the points go to
    the spool and are sent when the server is back; in the end every point is there.
    VictoriaMetrics is stopped with SIGTERM: on SIGKILL it loses what it had acknowledged but not yet flushed
    to disk (up to a second), which no client can see or help."""
    with VictoriaMetrics(tmp_path / "vm") as vm:
        out = tmp_path / "run"
        p = start_twin(
            "run", "scenarios/pilot-1h.toml", "--duration-s", "7200", "--out", str(out), "--no-progress",
            *influx_flags(vm),
        )  # fmt: skip
        t0 = time.monotonic()
        while time.monotonic() - t0 < 120:  # the first points are in
            if vm.rows_inserted() > 2000:
                break
            assert p.poll() is None, p.communicate()
            time.sleep(0.1)
        assert vm.proc is not None
        vm.proc.terminate()
        vm.proc.wait(20)
        vm.proc = None
        t_down = time.monotonic()
        time.sleep(12.0)
        vm.start()
        down_for = time.monotonic() - t_down
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        summ = json.loads((out / "summary.json").read_text())
        s = summ["influx"]
        assert s["spooled"] > 0 and s["dropped"] == 0 and s["in_spool"] == 0, s
        assert s["written"] == s["points"], s
        kinds = [e["kind"] for e in summ["events"]]
        assert "influx_down" in kinds and "influx_up" in kinds, kinds
        compare(vm.export(), expected(out))
        assert down_for > 12.0
        no_token_anywhere(out, stdout, stderr)


def test_a_server_gone_to_the_end_leaves_a_spool_that_influx_flush_sends(tmp_path: Path) -> None:
    with VictoriaMetrics(tmp_path / "vm") as vm:
        out = tmp_path / "run"
        p = start_twin(
            "run", "scenarios/pilot-1h.toml", "--duration-s", "600", "--out", str(out), "--no-progress",
            "--influx-flush-timeout-s", "1", *influx_flags(vm),
        )  # fmt: skip
        t0 = time.monotonic()
        while not (out / "influx.json").exists():  # the server took the first point: take it away
            assert time.monotonic() - t0 < 120 and p.poll() is None
            time.sleep(0.02)
        vm.kill()
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        s = json.loads((out / "summary.json").read_text())["influx"]
        assert s["in_spool"] > 0 and s["dropped"] == 0 and s["written"] + s["in_spool"] == s["points"], s
        assert "influx.spool" in stderr and "twin influx-flush" in stderr
        assert list((out / "influx.spool").glob("seg-*.lp"))
        vm.start()
        r = twin("influx-flush", str(out))
        assert r.returncode == 0, r.stderr
        assert f"{s['in_spool']} points written" in r.stdout, r.stdout
        assert not (out / "influx.spool").exists()
        compare(vm.export(), expected(out))


def test_a_run_killed_outright_leaves_nothing_running_and_influx_flush_all_sends_its_parts(tmp_path: Path) -> None:
    """SIGKILL of the twin mid-run: the sink process sees its queue close, sends what reached it and ends (no
    orphan); the chunks the run wrote (timeseries.parts/) are sent whole by `twin influx-flush --all`."""
    with VictoriaMetrics(tmp_path / "vm") as vm:
        out = tmp_path / "run"
        p = start_twin(
            "run", "scenarios/pilot-1h.toml", "--duration-s", "7200", "--out", str(out), "--no-progress",
            *influx_flags(vm),
        )  # fmt: skip
        t0 = time.monotonic()
        while not list((out / "timeseries.parts").glob("part-*.parquet")):  # a first chunk (3,600 rows) is on disk
            assert time.monotonic() - t0 < 180 and p.poll() is None, p.communicate()
            time.sleep(0.1)
        children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        assert children, "the sink process should be running"
        p.kill()
        p.communicate()
        t0 = time.monotonic()
        while any(Path(f"/proc/{c}").exists() for c in children):
            assert time.monotonic() - t0 < 60, f"left running after the run was killed: {children}"
            time.sleep(0.2)
        assert vm.rows_inserted() > 0
        r = twin("influx-flush", str(out), "--all")
        assert r.returncode == 0, r.stderr
        compare(vm.export(), expected(out))
