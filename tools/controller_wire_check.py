"""The reference controller over the wire (lockstep) against the same controller in the process.

    python -m tools.controller_wire_check [SCENARIO] [--duration-s S] [--out DIR]

Runs SCENARIO (default scenarios/pilot-1h.toml) twice: once with the in-process reference controller, once
with `twin run --external pv,spark --lockstep` and `twin controller` (hil.plant.client) on 127.0.0.1, and
prints the largest difference of each compared series against its bound from the SunSpec scale factors
(:data:`BOUNDS`, derived in docs/controller-interface.md "Lockstep agreement"). Exit 1 when a bound is
broken. tests/integration/test_controller_link.py runs it on the whole pilot hour.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

__all__ = ["BOUNDS", "compare", "free_port", "run_pair"]

ROOT = Path(__file__).resolve().parents[1]
TWIN = [sys.executable, "-m", "adapters.cli"]

# Largest difference allowed per series, from the quantisation on the wire (docs/controller-interface.md):
# the controller's load estimate sums 28 power points at half an LSB of 100 W each (1.4 kW) and the charge
# limits 12 more (0.6 kW); each PV block's limit is then rounded to WMaxLimPct's 0.1 % of its 2 MW rating
# (1 kW). A PV block differs by at most 1 kW + its share of 2 kW, the site by 8 x 1 kW + 2 kW = 10 kW; the
# fleet balances the site, so its power differs by that plus the change of losses (< 1 %): 10.1 kW. SoC
# integrates the fleet's difference: 10.1 kW over 1 h on the fleet's ~60 MWh < 2e-4.
BOUNDS: dict[str, float] = {
    "pv_p_mw": 0.010,
    "pv_b00_p_mw": 0.0013,
    "bess_p_mw": 0.0101,
    "soc_frac": 2e-4,
    "it_p_mw": 1e-9,  # no shedding in the hour on either side: the same IT power
    "shed_p_mw": 1e-9,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compare(a: Path, b: Path, bounds: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Per series: the largest absolute difference between two results folders, its time and the bound."""
    bounds = bounds or BOUNDS
    cols = ["time_s", *bounds]
    ta = pq.read_table(a / "timeseries.parquet", columns=cols).to_pandas()
    tb = pq.read_table(b / "timeseries.parquet", columns=cols).to_pandas()
    if len(ta) != len(tb) or not np.array_equal(ta["time_s"].to_numpy(), tb["time_s"].to_numpy()):
        raise ValueError(f"{a} and {b} do not cover the same steps ({len(ta)} and {len(tb)} rows)")
    out: dict[str, dict[str, float]] = {}
    for c, bound in bounds.items():
        d = np.abs(ta[c].to_numpy() - tb[c].to_numpy())
        i = int(np.argmax(d))
        out[c] = {"max_abs": float(d[i]), "at_s": float(ta["time_s"].iloc[i]), "bound": bound}
    return out


def run_pair(scenario: Path, out: Path, duration_s: float | None = None) -> dict[str, Any]:
    """The in-process run and the wire run (lockstep) of ``scenario`` under ``out``; their figures."""
    from hil.plant.client import run_controller

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dur = ["--duration-s", str(duration_s)] if duration_s else []
    t0 = time.perf_counter()
    p = subprocess.run(
        [*TWIN, "run", str(scenario), "--out", str(out / "in_process"), "--no-progress", *dur],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1200,
    )
    wall_in = time.perf_counter() - t0
    if p.returncode:
        raise RuntimeError(f"in-process run failed: {p.stderr[-2000:]}")
    port = free_port()
    t0 = time.perf_counter()
    twin = subprocess.Popen(
        [
            *TWIN,
            "run",
            str(scenario),
            "--out",
            str(out / "wire"),
            "--no-progress",
            "--external",
            "pv,spark",
            "--lockstep",
            "--listen",
            f"127.0.0.1:{port}",
            *dur,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    stats: dict[str, Any] = {}

    def ctl() -> None:
        for _ in range(200):  # the server starts once the site is built
            try:
                stats["c"] = run_controller("127.0.0.1", port)
                return
            except Exception as exc:  # not listening yet
                stats["err"] = exc
                time.sleep(0.1)

    th = threading.Thread(target=ctl, daemon=True)
    th.start()
    so, se = twin.communicate(timeout=1800)
    th.join(timeout=10)
    wall_wire = time.perf_counter() - t0
    if twin.returncode:
        raise RuntimeError(f"wire run failed ({twin.returncode}): {se[-2000:]}")
    return {
        "diff": compare(out / "in_process", out / "wire"),
        "wall_in_process_s": wall_in,
        "wall_wire_s": wall_wire,
        "controller": stats.get("c"),
        "stdout": so,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "pilot-1h.toml"))
    ap.add_argument("--duration-s", type=float)
    ap.add_argument("--out", default="/tmp/controller_wire_check")
    a = ap.parse_args(argv)
    r = run_pair(Path(a.scenario), Path(a.out), a.duration_s)
    print(f"in process {r['wall_in_process_s']:.1f} s, over the wire (lockstep) {r['wall_wire_s']:.1f} s")
    print(r["stdout"].strip())
    bad = 0
    print(f"{'series':<14} {'max |diff|':>12} {'at s':>8} {'bound':>10}")
    for c, d in r["diff"].items():
        ok = d["max_abs"] <= d["bound"]
        bad += not ok
        print(f"{c:<14} {d['max_abs']:>12.3g} {d['at_s']:>8g} {d['bound']:>10.3g} {'' if ok else 'BROKEN'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
