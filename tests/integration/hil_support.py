"""Helpers of the HIL tests (test_hil_realtime.py, test_hil_lockstep.py): a bench, the runs, the checks.

The HIL tests run `twin hil` against `twin bms-emulator` over a pseudo-terminal pair.

Three processes, as on a bench: the twin (`twin hil`, the Modbus client), the
software BMS (`twin bms-emulator`, pymodbus's RTU server) and, in the test
process, the pseudo-terminal pair between them (hil.ptypair: two real tty
devices opened by path with pyserial; its bridge can break the wire or pull
the twin's side like a USB adapter).

With TWIN_HIL_PORT naming a real port (a USB RS-485 adapter wired to a BMS
that implements ../shared/design/BMS_HIL_PROTOCOL.md), the contract tests
(marked `contract`) run against that BMS instead of the emulator; the tests
that need the emulator's fault plan are skipped then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hil.ptypair import PtyPair

ROOT = Path(__file__).resolve().parents[2]
TWIN = [sys.executable, "-m", "adapters.cli"]
REAL_PORT = os.environ.get("TWIN_HIL_PORT", "")
EMU_ONLY = pytest.mark.skipif(bool(REAL_PORT), reason="needs the emulator's fault plan (TWIN_HIL_PORT is set)")
# columns that depend on the wall clock, not on the plant
WALL_COLUMNS = {"hil_lateness_ms", "hil_io_ms"}


def scenario(tmp: Path, events: str = "", duration_s: float = 60.0, step_s: float = 1.0) -> Path:
    """hil-one-pack.toml with extra events (the inventory path made absolute)."""
    text = (ROOT / "scenarios" / "hil-one-pack.toml").read_text()
    text = text.replace(
        '"data/pilot-inventory.csv"', json.dumps(str(ROOT / "scenarios" / "data" / "pilot-inventory.csv"))
    )
    text = text.replace("duration_s = 60", f"duration_s = {duration_s:g}").replace(
        "step_s = 1.0", f"step_s = {step_s:g}"
    )
    p = tmp / "hil.toml"
    p.write_text(text + "\n" + events)
    return p


class Bench:
    """A line with a BMS on it: the emulator behind a pty pair, or the real port of TWIN_HIL_PORT."""

    def __init__(self, tmp: Path, faults: tuple[str, ...] = (), extra: tuple[str, ...] = ()):
        self.tmp = tmp
        self.pair: PtyPair | None = None
        self.emu: subprocess.Popen | None = None
        self.faults, self.extra = faults, extra

    def __enter__(self) -> Bench:
        if REAL_PORT:
            self.port = REAL_PORT
            return self
        self.pair = PtyPair(link_a=str(self.tmp / "twin-side"), link_b=str(self.tmp / "bms-side"))
        self.pair.start()
        self.port = self.pair.a
        cmd = TWIN + ["bms-emulator", "--port", self.pair.b, "--quiet", *self.extra]
        for f in self.faults:
            cmd += ["--fault", f]
        self.emu_log = (self.tmp / "emulator.log").open("w")
        self.emu = subprocess.Popen(cmd, cwd=ROOT, stdout=self.emu_log, stderr=subprocess.STDOUT)
        time.sleep(1.5)  # the server opens its port
        assert self.emu.poll() is None, (self.tmp / "emulator.log").read_text()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.emu is not None:
            self.emu.terminate()
            try:
                self.emu.wait(10)
            except subprocess.TimeoutExpired:
                self.emu.kill()
            self.emu_log.close()
        if self.pair is not None:
            self.pair.close()


def twin_hil(
    scen: Path, out: Path, *args: str, port: str | None = None, timeout: float = 300, background: bool = False
) -> subprocess.CompletedProcess | subprocess.Popen:
    cmd = TWIN + ["hil", str(scen), "--out", str(out), "--no-progress", *args]
    if port is not None:
        cmd += ["--port", port]
    if background:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def load(out: Path) -> tuple[dict, dict[str, np.ndarray]]:
    s = json.loads((out / "summary.json").read_text())
    t = pq.read_table(out / "timeseries.parquet")
    return s, {c: t.column(c).to_numpy() for c in t.column_names}


def events(s: dict, kind: str) -> list[dict]:
    return [e for e in s["events"] if e["kind"] == kind]


def check_physics(s: dict, ts: dict[str, np.ndarray]) -> None:
    """What holds in every HIL run: the site's energy books close, no pack current above the BMS's
    limits, SoC bounds."""
    h = s["hil"]
    assert s["energy_balance_error_frac"] < 1e-6
    assert h["current_limit_violations"] == 0, h
    i = ts["hil_pack_i_a"]
    # the current of step k ran under the limits read at step k (recorded in the same row)
    lim_ch, lim_dis = ts["hil_i_charge_max_a"], ts["hil_i_discharge_max_a"]
    assert np.all(i[1:] <= lim_ch[:-1] + 1e-6) and np.all(-i[1:] <= lim_dis[:-1] + 1e-6)
    assert np.all((ts["hil_soc_true_pct"] >= 0) & (ts["hil_soc_true_pct"] <= 100))


def wait_for_step(out: Path, k: int, limit_s: float = 90.0) -> None:
    """Until the running twin's session file shows step ``k`` (start-up time varies with the machine's load)."""
    t0 = time.monotonic()
    p = out / "session.jsonl"
    while time.monotonic() - t0 < limit_s:
        if p.exists() and f'"k":{k},' in p.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"the twin did not reach step {k} within {limit_s:g} s")
