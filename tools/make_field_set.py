"""Make a field telemetry set from a twin run: the shipped example of ``twin replay`` (and its tests' data).

    python -m tools.make_field_set [OUT_DIR] [--field-scenario FILE] [--seed N]

Runs the *field-truth* scenario (default
``scenarios/data/incident-block3/field-truth.toml``: the pilot site, 1 h from
12:00 on 15 July, battery block 3's breaker opens at 12:20 and closes at
12:30) and writes what a site would have recorded of it, with the defects of
real exports (each listed in ``defects.json`` with its file and line):

* ``scada_1s.csv``: a wide 1 s SCADA export, stamps in local time with the
  UTC offset (``2025-07-15T12:00:00.000-07:00``): each PV block's POA
  irradiance, each Spark unit's IT power (unit 2 in kW, the others in MW),
  site battery and PV power, block 3's power, the main bus voltage and unit
  0's coolant temperature, with Gaussian measurement noise, a 30 s gap, a
  duplicated stamp and two rows out of order;
* ``historian.csv``: a long historian export (tag, timestamp, value, quality)
  of the slow tags every 60 s (ambient dry bulb, relative humidity in %, each
  block's SoC in %), block 3's breaker (52a contact) on change, one sample of
  bad quality;
* ``mapping.toml``: what each tag is (``docs/replay.md``).

The seed of the noise is ``--seed``; the field-truth scenario has its own seed
(23), different from the replay scenario's (11), so the replay's own
synthesis (clouds, GPU jobs, the packs drawn) cannot match by chance.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_OUT", "FIELD_TRUTH", "MAPPING_TOML", "main", "make_field_set", "run_field_truth"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "scenarios" / "data" / "incident-block3"
FIELD_TRUTH = DEFAULT_OUT / "field-truth.toml"
GAP_S = (1500, 1530)  # rows deleted from the 1 s export: a 30 s gap
DUPLICATE_S = 600  # this row appears twice
SWAP_S = 900  # this row and the next change places
BAD_QUALITY_S = 1320  # one historian sample (block 5's SoC) flagged bad
KW_UNIT = 2  # this Spark unit's IT power is exported in kW
# Measurement noise (1 sigma), typical of revenue-grade meters and class-A pyranometers at 1 s
NOISE = {"p_mw": 0.002, "poa": 2.0, "v_pu": 0.0003, "temp_c": 0.05, "soc_pct": 0.05, "tamb_c": 0.1, "rh_pct": 0.3}

MAPPING_TOML = """\
# What the site recorded and what each tag is for the twin (docs/replay.md). Made by tools/make_field_set.py.
name = "Block 3 breaker opens at 12:20, closes at 12:30 (pilot site, 15 July)"
timezone = "America/Los_Angeles"

[[sources]]
name = "scada"
file = "scada_1s.csv"
format = "csv_wide"
columns = {{ time = "timestamp" }}

[[sources]]
name = "historian"
file = "historian.csv"
format = "csv_long"
columns = {{ tag = "tag", time = "timestamp", value = "value", quality = "quality" }}

[scoring]
time_tolerance_s = 2.0
min_inside_frac = 0.99
pre_s = 60.0
fault_s = 10.0
post_s = 120.0

# ---- inputs: what drives the twin
{poa_tags}
{it_tags}
[[tags]]
tag = "WX.TAMB"
source = "historian"
signal = "temp_amb_c"
unit = "degC"
role = "input"

[[tags]]
tag = "WX.RH"
source = "historian"
signal = "rh_frac"
unit = "%"
role = "input"

# ---- events: block 3's breaker (52a: 1 = closed)
[[tags]]
tag = "BESS03.52A"
source = "historian"
signal = "bess_b03_breaker"
role = "event"
fall = {{ kind = "trip_bess_block", block = 3 }}
rise = {{ kind = "restore_bess_block", block = 3 }}

# ---- comparisons (the block SoCs also set the start state)
{soc_tags}
[[tags]]
tag = "SITE.BESS_P"
source = "scada"
signal = "bess_p_mw"
unit = "MW"
tolerance = 0.1

[[tags]]
tag = "SITE.PV_P"
source = "scada"
signal = "pv_p_mw"
unit = "MW"
tolerance = 0.1

[[tags]]
tag = "BESS03.P"
source = "scada"
signal = "bess_b03_p_mw"
unit = "MW"
tolerance = 0.03

[[tags]]
tag = "MV.MAIN.V"
source = "scada"
signal = "v_mv_main_pu"
unit = "pu"
tolerance = 0.002

[[tags]]
tag = "SPK00.COOLANT_T"
source = "scada"
signal = "spark_u00_coolant_temp_c"
unit = "degC"
tolerance = 0.3
"""


SOC_EXTRA = "tolerance = 0.01\ninitial = true"


def _tag(tag: str, source: str, signal: str, unit: str, role: str, extra: str = "") -> str:
    return (
        f'[[tags]]\ntag = "{tag}"\nsource = "{source}"\nsignal = "{signal}"\nunit = "{unit}"\nrole = "{role}"\n'
        f"{extra}\n"
    )


def run_field_truth(scenario: Path, work: Path) -> pd.DataFrame:
    """Run the field-truth scenario; its time series."""
    from adapters.io.scenario_file import load_scenario
    from adapters.world import run_scenario

    sc = load_scenario(scenario)
    res = run_scenario(sc, work, scenario_name=sc.name, progress=False)
    if res.status != "completed":
        raise SystemExit(f"the field-truth run {res.status}: {res.summary.get('error')}")
    return pd.read_parquet(work / "timeseries.parquet")


def _stamps(start: pd.Timestamp, t_s: np.ndarray) -> list[str]:
    ts = start + pd.to_timedelta(np.round(t_s * 1000).astype(np.int64), unit="ms")
    return [x.isoformat(timespec="milliseconds") for x in ts]


def make_field_set(ts: pd.DataFrame, out: Path, *, start: pd.Timestamp, n_pv: int, n_bess: int, n_units: int,
                   seed: int = 5) -> dict[str, Any]:  # fmt: skip
    """Write the telemetry set made from the field-truth time series ``ts`` into ``out``; returns the defects
    with their files and lines (also written to ``defects.json``)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    t = ts["time_s"].to_numpy(dtype=float)
    n = len(t)

    def noisy(col: str, sigma: float, scale: float = 1.0) -> np.ndarray:
        return ts[col].to_numpy(dtype=float) * scale + rng.normal(0.0, sigma, n)

    wide: dict[str, Any] = {"timestamp": _stamps(start, t)}
    for b in range(n_pv):
        wide[f"PV{b:02d}.POA"] = np.maximum(noisy(f"pv_b{b:02d}_poa_w_m2", NOISE["poa"]), 0.0)
    for u in range(n_units):
        k = 1000.0 if u == KW_UNIT else 1.0
        wide[f"SPK{u:02d}.IT_P"] = noisy(f"spark_u{u:02d}_it_p_mw", NOISE["p_mw"] * k, k)
    wide["SITE.BESS_P"] = noisy("bess_p_mw", NOISE["p_mw"])
    wide["SITE.PV_P"] = noisy("pv_p_mw", NOISE["p_mw"])
    wide["BESS03.P"] = noisy("bess_b03_p_mw", NOISE["p_mw"])
    wide["MV.MAIN.V"] = noisy("v_mv_main_pu", NOISE["v_pu"])
    wide["SPK00.COOLANT_T"] = noisy("spark_u00_coolant_temp_c", NOISE["temp_c"])
    df = pd.DataFrame(wide)
    for c in df.columns[1:]:
        df[c] = df[c].round(6)
    order = list(range(n))
    order = [i for i in order if not GAP_S[0] <= t[i] < GAP_S[1]]
    gap_before = int(np.flatnonzero(t == GAP_S[0] - 1)[0])
    dup = int(np.flatnonzero(t == DUPLICATE_S)[0])
    order.insert(order.index(dup) + 1, dup)
    sw = order.index(int(np.flatnonzero(t == SWAP_S)[0]))
    order[sw], order[sw + 1] = order[sw + 1], order[sw]
    df = df.iloc[order]
    df.to_csv(out / "scada_1s.csv", index=False)
    defects: dict[str, Any] = {
        "scada_1s.csv": {
            "gap": {"from_s": GAP_S[0], "to_s": GAP_S[1], "line_before": order.index(gap_before) + 2},
            "duplicate": {"time_s": DUPLICATE_S, "lines": [order.index(dup) + 2, order.index(dup) + 3]},
            "out_of_order": {"time_s": [SWAP_S, SWAP_S + 1], "lines": [sw + 2, sw + 3]},
            "kw_column": f"SPK{KW_UNIT:02d}.IT_P",
            "timestamps": "local time with the UTC offset (-07:00)",
            "noise_1sigma": NOISE,
        }
    }  # fmt: skip
    # historian: slow tags every 60 s, the breaker on change
    rows: list[tuple[str, float, float, str]] = []
    slow = t[(t % 60) == 0]
    idx = np.searchsorted(t, slow)
    tamb = ts["temp_amb_c"].to_numpy()[idx] + rng.normal(0, NOISE["tamb_c"], len(idx))
    rh = ts["rh_frac"].to_numpy()[idx] * 100 + rng.normal(0, NOISE["rh_pct"], len(idx))
    for k, tt in enumerate(slow):
        rows.append(("WX.TAMB", tt, round(float(tamb[k]), 3), "good"))
        rows.append(("WX.RH", tt, round(float(rh[k]), 2), "good"))
        for b in range(n_bess):
            soc = ts[f"bess_b{b:02d}_soc_frac"].to_numpy()[idx[k]] * 100 + rng.normal(0, NOISE["soc_pct"])
            q = "bad" if (b == 5 and tt == BAD_QUALITY_S) else "good"
            rows.append((f"BESS{b:02d}.SOC", tt, round(float(soc), 3), q))
    in_service = ts["bess_b03_p_mw"].abs().to_numpy() > 1e-9
    changes = [0.0, 1200.0, 1800.0]  # the field-truth scenario's breaker operations
    for tt in changes:
        rows.append(("BESS03.52A", tt, 0.0 if 1200.0 <= tt < 1800.0 else 1.0, "good"))
    hist = pd.DataFrame(rows, columns=["tag", "t", "value", "quality"]).sort_values(["t", "tag"], kind="stable")
    hist.insert(1, "timestamp", _stamps(start, hist["t"].to_numpy()))
    hist = hist.drop(columns="t")
    hist.to_csv(out / "historian.csv", index=False)
    bad_line = int(np.flatnonzero((hist["quality"] == "bad").to_numpy())[0]) + 2
    defects["historian.csv"] = {"bad_quality": {"tag": "BESS05.SOC", "time_s": BAD_QUALITY_S, "line": bad_line}}
    defects["field_truth"] = {"block3_out_of_service_s": [1200, 1800], "rows_block3_idle": int((~in_service).sum())}
    poa = "".join(_tag(f"PV{b:02d}.POA", "scada", f"pv_b{b:02d}_poa_w_m2", "W/m2", "input") for b in range(n_pv))
    it = "".join(
        _tag(f"SPK{u:02d}.IT_P", "scada", f"spark_u{u:02d}_it_p_mw", "kW" if u == KW_UNIT else "MW", "input")
        for u in range(n_units)
    )
    soc = "".join(
        _tag(f"BESS{b:02d}.SOC", "historian", f"bess_b{b:02d}_soc_frac", "%", "compare", SOC_EXTRA)
        for b in range(n_bess)
    )
    (out / "mapping.toml").write_text(MAPPING_TOML.format(poa_tags=poa, it_tags=it, soc_tags=soc))
    (out / "defects.json").write_text(json.dumps(defects, indent=2) + "\n")
    return defects


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--field-scenario", default=str(FIELD_TRUTH))
    ap.add_argument("--seed", type=int, default=5, help="seed of the measurement noise")
    a = ap.parse_args(argv)
    from adapters.io.scenario_file import load_scenario
    from twin.site import start_timestamp

    sc = load_scenario(a.field_scenario)
    work = Path(tempfile.mkdtemp(prefix="field-truth-"))
    ts = run_field_truth(Path(a.field_scenario), work)
    d = make_field_set(
        ts,
        Path(a.out),
        start=start_timestamp(sc),
        n_pv=sc.site.pv.n_blocks,
        n_bess=sc.site.bess.n_blocks,
        n_units=sc.site.spark.n_units,
        seed=a.seed,
    )
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(d, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
