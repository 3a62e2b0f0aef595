"""A relay's COMTRADE record (IEEE C37.111) of a battery-block trip drives the trip into the twin at its recorded time.

The record is written here as the standard's plain-text form (a 1999 ``.cfg``
and an ASCII ``.dat``; the ``comtrade`` package only reads): 1 s at 1 kHz
from 12:19:59.500 local time, block 3's breaker (status channel ``CB3 52A``,
1 = closed) opens at sample 751, 12:20:00.250. The scenario starts at
12:15:00, so the trip belongs at 300.25 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import SCENARIOS, run_cli

RATE_HZ = 1000
N = 1000
TRIP_SAMPLE = 751  # 1-based: the first sample with the breaker open


def _write_record(d: Path) -> None:
    cfg = (
        "SPARKS-13.8,BESS03-REL,1999\n"
        "3,2A,1D\n"
        "1,BESS03 P,,BESS03,MW,0.001,0,0,-32767,32767,1,1,P\n"
        "2,BESS03 V,,BESS03,kV,0.001,0,0,-32767,32767,13.8,0.12,P\n"
        "1,CB3 52A,,CB3,1\n"
        "60\n"
        "1\n"
        f"{RATE_HZ},{N}\n"
        "15/07/2025,12:19:59.500000\n"
        "15/07/2025,12:20:00.250000\n"
        "ASCII\n"
        "1\n"
    )
    (d / "bess03_trip.cfg").write_text(cfg)
    rows = []
    for n in range(1, N + 1):
        closed = n < TRIP_SAMPLE
        p = 950 if closed else 0  # kW-scaled counts: 0.95 MW before, 0 after
        rows.append(f"{n},{(n - 1) * 1000},{p},{13800 if closed else 13820},{int(closed)}")
    (d / "bess03_trip.dat").write_text("\n".join(rows) + "\n")
    (d / "mapping.toml").write_text(
        'name = "relay record of the block 3 trip"\n'
        "[[sources]]\n"
        'name = "relay"\n'
        'file = "bess03_trip.cfg"\n'
        'format = "comtrade"\n'
        "[[tags]]\n"
        'tag = "CB3 52A"\n'
        'signal = "bess_b03_breaker"\n'
        'role = "event"\n'
        'fall = { kind = "trip_bess_block", block = 3 }\n'
        'rise = { kind = "restore_bess_block", block = 3 }\n'
    )
    (d / "scenario.toml").write_text(
        'name = "comtrade-trip"\n'
        "[run]\n"
        "start = 2025-07-15T12:15:00\n"
        "duration_s = 600\n"
        "step_s = 1.0\n"
        "seed = 11\n"
        "[models.fleet]\n"
        f'inventory_csv = "{SCENARIOS / "data" / "pilot-inventory.csv"}"\n'
        "soc_start_frac = 0.6\n"
        "[recorded]\n"
        'mapping = "mapping.toml"\n'
    )


def test_a_comtrade_trip_record_trips_the_block_at_its_time(tmp_path: Path) -> None:
    _write_record(tmp_path)
    out = tmp_path / "out"
    p = run_cli(["run", str(tmp_path / "scenario.toml"), "--out", str(out), "--no-progress"])
    assert p.returncode == 0, p.stdout + p.stderr
    s = json.loads((out / "summary.json").read_text())
    trips = [e for e in s["events"] if e["kind"] == "trip_bess_block"]
    assert [e["time_s"] for e in trips] == [300.25], trips  # 12:20:00.250 - 12:15:00
    assert not [e for e in s["events"] if e["kind"] == "restore_bess_block"]  # the breaker stays open
    ts = pd.read_parquet(out / "timeseries.parquet", columns=["time_s", "bess_b03_p_mw", "bess_p_mw"])
    p3 = ts.set_index("time_s")["bess_b03_p_mw"]
    assert np.abs(p3.loc[:299]).min() > 0.01  # the block works before the trip
    assert np.abs(p3.loc[301:]).max() < 1e-9  # and carries nothing from the step after it
    said = " ".join(s["recorded"]["statements"])
    assert "trip_bess_block (block 3) [CB3 52A] at 300.25 s" in said
    kinds = {f["kind"] for f in s["recorded"]["findings"]}
    assert "timezone" in kinds  # a 1999 record has no zone: read in the site's, and said
