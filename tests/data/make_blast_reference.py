"""Reference capacity/resistance trajectories from the original BLAST-Lite 1.1.1, for tests/unit/twin/test_ageing.py.

BLAST-Lite pins numpy < 2, so it runs in a throw-away venv, not the project's:

    $(pyenv prefix 3.12)/bin/python3 -m venv /tmp/blastvenv
    /tmp/blastvenv/bin/pip install "blast-lite==1.1.1" "numpy<2" "setuptools<70"
    /tmp/blastvenv/bin/python tests/data/make_blast_reference.py   # from the repository root

(setuptools only supplies ``distutils``, which BLAST-Lite's dependency h5pyd
still imports on Python 3.12.) Writes ``tests/data/blast_reference.json``:
for every profile in ``PROFILES`` and every model in ``MODELS``, BLAST-Lite's
own update windows (first and last sample index; the same for every
model), the time counted after each (``t_days``; BLAST-Lite drops the one
sample interval between consecutive windows) and each model's capacity
``q`` (and resistance ``r`` where modelled) after each window. Run with
``is_conserve_energy_throughput=False`` so BLAST-Lite uses the SoC series
as given (SoC relative to the present capacity, throughput shrinking with
it), which is what the twin's fleet feeds :mod:`twin.fleet.ageing`.

The profile generator :func:`profile` uses numpy only; the test imports it
from this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

MODELS = {
    "NMC": "Nmc111_Gr_Kokam75Ah_Battery",
    "LFP": "Lfp_Gr_SonyMurata3Ah_Battery",
    "LMO": "Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery",
}

# kind "store": constant SoC; kind "cycle": rest_h at hi, linear down to lo, rest_h at lo, linear up; period_h
# per full cycle (the rests keep BLAST-Lite's windows, which start one sample after a turning point, at the
# full depth).
# Temperature temp_c + temp_amp_c * sin(2 pi t / 1 day).
PROFILES = {
    "store_soc60_25c": {"kind": "store", "soc": 0.6, "temp_c": 25.0, "temp_amp_c": 0.0, "days": 365, "dt_s": 3600},
    "store_soc60_45c": {"kind": "store", "soc": 0.6, "temp_c": 45.0, "temp_amp_c": 0.0, "days": 365, "dt_s": 3600},
    "cycle_full_daily_25c": {
        "kind": "cycle",
        "lo": 0.0,
        "hi": 1.0,
        "period_h": 24.0,
        "rest_h": 1.0,
        "temp_c": 25.0,
        "temp_amp_c": 0.0,
        "days": 365,
        "dt_s": 600,
    },
    "cycle_dod50_25c": {
        "kind": "cycle",
        "lo": 0.25,
        "hi": 0.75,
        "period_h": 12.0,
        "rest_h": 0.5,
        "temp_c": 25.0,
        "temp_amp_c": 0.0,
        "days": 365,
        "dt_s": 600,
    },
    "cycle_dod50_30c_swing8c": {
        "kind": "cycle",
        "lo": 0.25,
        "hi": 0.75,
        "period_h": 12.0,
        "rest_h": 0.5,
        "temp_c": 30.0,
        "temp_amp_c": 8.0,
        "days": 365,
        "dt_s": 600,
    },
    "cycle_full_4perday_25c": {
        "kind": "cycle",
        "lo": 0.0,
        "hi": 1.0,
        "period_h": 6.0,
        "rest_h": 0.5,
        "temp_c": 25.0,
        "temp_amp_c": 0.0,
        "days": 180,
        "dt_s": 600,
    },
}


def profile(spec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time (s), SoC (0..1) and temperature (degC) samples of a profile spec."""
    dt = float(spec["dt_s"])
    n = round(spec["days"] * 86400 / dt) + 1
    t = np.arange(n) * dt
    if spec["kind"] == "store":
        soc = np.full(n, float(spec["soc"]))
    else:  # rest at hi, ramp down, rest at lo, ramp up; one full cycle per period
        per, rest = float(spec["period_h"]), float(spec["rest_h"])
        h = (t / 3600.0) % per
        soc = np.interp(
            h, [0.0, rest, per / 2, per / 2 + rest, per], [spec["hi"], spec["hi"], spec["lo"], spec["lo"], spec["hi"]]
        )
        soc = np.round(soc, 12)
    temp = spec["temp_c"] + spec["temp_amp_c"] * np.sin(2.0 * np.pi * t / 86400.0)
    return t, soc, temp


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import blast
    import blast.models as bm

    out: dict = {
        "blast_lite_version": "1.1.1",
        "numpy_version": np.__version__,
        "command": "/tmp/blastvenv/bin/python tests/data/make_blast_reference.py",
        "profiles": {},
    }
    for name, spec in PROFILES.items():
        t, soc, temp = profile(spec)
        entry: dict = {"spec": spec, "models": {}}
        for chem, cls in MODELS.items():
            cell = getattr(bm, cls)()
            windows: list[tuple[int, int]] = []
            orig = cell.update_battery_state

            def rec(t_secs, soc_, temp_, _orig=orig, _w=windows, _t=t):
                i0 = int(np.searchsorted(_t, t_secs[0]))
                _w.append((i0, i0 + len(t_secs) - 1))
                return _orig(t_secs, soc_, temp_)

            cell.update_battery_state = rec
            cell.simulate_battery_life(
                {"Time_s": t, "SOC": soc, "Temperature_C": temp}, is_conserve_energy_throughput=False
            )
            if "windows" in entry:  # BLAST-Lite's windows depend on the profile only
                assert entry["windows"] == windows, (name, chem)
            entry["windows"] = windows
            entry["t_days"] = [round(float(x), 9) for x in cell.stressors["t_days"][1:]]
            m = {"q": [round(float(x), 9) for x in cell.outputs["q"][1:]]}
            if "r" in cell.outputs:
                m["r"] = [round(float(x), 9) for x in cell.outputs["r"][1:]]
            entry["models"][chem] = m
            r_end = f" r_end {m['r'][-1]:.4f}" if "r" in m else ""
            print(f"{name} {chem} windows {len(windows)} q_end {m['q'][-1]:.5f}{r_end}", file=sys.stderr)
        out["profiles"][name] = entry
    del blast
    path = Path(__file__).with_name("blast_reference.json")
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)", file=sys.stderr)


if __name__ == "__main__":
    main()
