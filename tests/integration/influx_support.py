"""What the InfluxDB sink's tests share (tests/integration/test_influx_*.py): the twin as a subprocess with the
token in its environment, the points a results folder should have put on the server (from the schema), and
the comparison with what VictoriaMetrics's export API gives back.

VictoriaMetrics names a series ``<measurement>_<field>`` with the tags as labels and stores a float with
about 12 significant digits, hence the relative tolerance of 2e-12 (the sink writes the shortest text that
reads back as the same double).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from adapters.io.influx.schema import PACK_FIELDS, place
from tests.integration.vm_support import VictoriaMetrics

__all__ = [
    "ROOT",
    "TOKEN",
    "Series",
    "compare",
    "event_counts",
    "expected",
    "influx_flags",
    "no_token_anywhere",
    "start_twin",
    "twin",
]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-3f9a-never-in-a-file"  # must appear in no file of the results folder and in no output
REL_TOL = 2e-12  # VictoriaMetrics keeps about 12 significant digits (seen: 1.00005e-12 relative)
ABS_TOL = 1e-15  # and rounds numbers near 1e-19 (round-off residues of 0 MW) to 8 digits

Series = dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]]


def twin(*args: str, token: str | None = TOKEN, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INFLUX_TOKEN", None)
    if token is not None:
        env["INFLUX_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_twin(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INFLUX_TOKEN": TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def influx_flags(vm: VictoriaMetrics) -> list[str]:
    return ["--influx-url", vm.url, "--influx-org", "site", "--influx-bucket", "twin"]


def expected(run_dir: Path) -> Series:
    """What the sink should have written, from the results folder and the schema (docs/telemetry.md)."""
    meta = json.loads((run_dir / "influx.json").read_text())
    base = tuple(sorted(meta["tags"].items()))
    start = int(meta["start_ms"])
    out: Series = {}
    ts_file = run_dir / "timeseries.parquet"
    t = pq.read_table(ts_file if ts_file.exists() else run_dir / "timeseries.parts")  # a killed run: its parts
    ts = start + np.rint(t.column("time_s").to_numpy() * 1000).astype(np.int64)
    for c in t.column_names:
        if c == "time_s":
            continue
        meas, tags, fld = place(c)
        key = (f"{meas}_{fld}", tuple(sorted(base + tags)))
        v = t.column(c).to_numpy().astype(float)
        ok = np.isfinite(v)
        if ok.any():  # a column with no value at all writes no series
            out[key] = dict(zip(ts[ok].tolist(), v[ok].tolist(), strict=True))
    packs = run_dir / "packs.parquet"
    if packs.exists():
        p = pq.read_table(packs)
        pts = start + np.rint(p.column("time_s").to_numpy() * 1000).astype(np.int64)
        blk, pid = p.column("block").to_numpy(), p.column("pack_id").to_numpy()
        for f in PACK_FIELDS:
            v = p.column(f).to_numpy().astype(float)
            for i in np.flatnonzero(np.isfinite(v)):
                key = (f"pack_{f}", tuple(sorted(base + (("block", str(blk[i])), ("pack", str(pid[i]))))))
                out.setdefault(key, {})[int(pts[i])] = float(v[i])
    return out


def compare(got: Series, want: Series, at_least: int = 10_000) -> None:
    missing = [k for k in want if k not in got]
    assert not missing, f"{len(missing)} series never arrived, e.g. {missing[:3]}"
    n = 0
    for key, pts in want.items():
        g = got[key]
        lost = sorted(set(pts) - set(g))
        assert not lost, f"{key[0]}: {len(lost)} of {len(pts)} points lost, first at {lost[0]} ms"
        a = np.array([pts[k] for k in pts])
        b = np.array([g[k] for k in pts])
        bad = ~np.isclose(b, a, rtol=REL_TOL, atol=ABS_TOL)
        rel = np.abs(b[bad] - a[bad]) / np.maximum(np.abs(a[bad]), 1e-300)
        assert not bad.any(), f"{key[0]}: {int(bad.sum())} differ: {a[bad][:3]!r} vs {b[bad][:3]!r} (rel {rel[:3]})"
        n += len(pts)
    assert n > at_least


def event_counts(run_dir: Path, got: Series) -> tuple[dict[str, int], dict[str, int]]:
    want: dict[str, int] = {}
    for ev in json.loads((run_dir / "summary.json").read_text())["events"]:
        if not ev["kind"].startswith("influx_"):  # the sink's own incidents are logged after it closed
            want[ev["kind"]] = want.get(ev["kind"], 0) + 1
    have: dict[str, int] = {}
    for (name, labels), pts in got.items():
        if name == "events_time_s" and not dict(labels)["kind"].startswith("influx_"):  # incidents: sent live
            kind = dict(labels)["kind"]
            have[kind] = have.get(kind, 0) + len(pts)
    return want, have


def no_token_anywhere(run_dir: Path, *outputs: str) -> None:
    for out in outputs:
        assert TOKEN not in out
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f"the token is in {f}"
