"""``twin replay`` end to end on the shipped example incident (scenarios/data/incident-block3/).

The telemetry set was made by ``tools/make_field_set.py`` from a twin run of
``field-truth.toml`` (seed 23; the replay scenario's seed is 11), with noise, a
30 s gap, a duplicated and an out-of-order stamp, one IT column in kW, local
stamps with a UTC offset and a historian sample of bad quality
(``defects.json`` says where). Driven by the recorded inputs the twin must
land inside the mapping's tolerances; with a wrong PV DC/AC ratio it must
fail, naming the signal and the time it first parts ways.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, SCENARIOS, run_cli

DATA = SCENARIOS / "data" / "incident-block3"
REPLAY = SCENARIOS / "pilot-incident-replay.toml"


def _replay(scenario: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    p = run_cli(["replay", str(scenario), "--out", str(out), "--no-progress", *extra])
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("replay-good")
    rc, so, se = _replay(REPLAY, out)
    return {"rc": rc, "stdout": so, "stderr": se, "out": out, "doc": json.loads((out / "replay.json").read_text())}


def test_the_example_replays_inside_tolerance(good: dict[str, Any]) -> None:
    doc = good["doc"]
    assert good["rc"] == 0, good["stdout"] + good["stderr"]
    assert doc["status"] == "passed"
    names = {d["signal"] for d in doc["signals"]}
    assert {"bess_p_mw", "pv_p_mw", "bess_b03_p_mw", "v_mv_main_pu", "spark_u00_coolant_temp_c"} <= names
    assert len(names) == 5 + 12  # and each block's SoC
    for d in doc["signals"]:
        assert d["passed"] and d["overall"]["inside_frac"] >= 0.99, d["signal"]
        assert d["overall"]["n"] > 3000  # the 30 s gap and its neighbours are the only rows not scored
    p = next(d for d in doc["signals"] if d["signal"] == "bess_p_mw")
    assert p["overall"]["rmse"] < 0.05  # MW: noise 2 kW, the fleets of different seeds, cooling at 1 s


def test_every_data_problem_is_listed_with_its_row(good: dict[str, Any]) -> None:
    defects = json.loads((DATA / "defects.json").read_text())
    f = good["doc"]["findings"]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for x in f:
        by_kind.setdefault(x["kind"], []).append(x)
    scada = defects["scada_1s.csv"]
    gaps = [x for x in by_kind["gap"] if x["file"] == "scada_1s.csv"]
    assert gaps and all(scada["gap"]["line_before"] in x["rows"] for x in gaps)
    assert any(set(scada["duplicate"]["lines"]) & set(x["rows"]) for x in by_kind["duplicate"])
    assert any(set(scada["out_of_order"]["lines"]) & set(x["rows"]) for x in by_kind["out_of_order"])
    bad = defects["historian.csv"]["bad_quality"]
    assert any(x["tag"] == bad["tag"] and bad["line"] in x["rows"] for x in by_kind["bad_quality"])
    tz = " ".join(x["message"] for x in by_kind["timezone"])
    assert "-07:00" in tz
    assert "unit" not in by_kind  # the kW column is mapped as kW
    st = " ".join(good["doc"]["statements"])
    assert "mean over each 1 s step" in st and "filled across 1 gap(s), the longest 31 s" in st
    assert "SPK02.IT_P" in st  # the kW column drove unit 2
    html = (good["out"] / "replay.html").read_text()
    for x in f:
        assert (
            x["message"][:40]
            .replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;")
            .replace("'", "&#x27;")
            in html
        )


def test_the_breaker_operations_drive_the_twin(good: dict[str, Any]) -> None:
    s = json.loads((good["out"] / "summary.json").read_text())
    trips = [e for e in s["events"] if e["kind"] == "trip_bess_block"]
    back = [e for e in s["events"] if e["kind"] == "restore_bess_block"]
    assert [e["time_s"] for e in trips] == [1200.0] and [e["time_s"] for e in back] == [1800.0]
    ts = pd.read_parquet(good["out"] / "timeseries.parquet", columns=["time_s", "bess_b03_p_mw"])
    out = ts[(ts.time_s >= 1201) & (ts.time_s < 1800)]
    assert np.abs(out.bess_b03_p_mw).max() < 1e-9
    assert s["recorded"]["statements"] and s["recorded"]["findings"]
    windows = {(w["label"], round(w["start_s"])) for w in good["doc"]["windows"]}
    assert {("pre", 1140), ("fault", 1200), ("post", 1800)} <= windows  # the fault window ends at the restore


def test_a_wrong_dc_ac_ratio_fails_and_names_the_signal_and_time(tmp_path: Path) -> None:
    sc = tmp_path / "wrong.toml"
    text = REPLAY.read_text().replace('= "data/', f'= "{DATA.parent}/')  # the mapping and the inventory
    sc.write_text(text + "\n[site.pv]\ndc_ac_ratio = 1.6\n")
    out = tmp_path / "out"
    rc, so, se = _replay(sc, out)
    assert rc == 1, so + se
    doc = json.loads((out / "replay.json").read_text())
    assert doc["status"] == "failed"
    pv = next(d for d in doc["signals"] if d["signal"] == "pv_p_mw")
    assert not pv["passed"]
    # the plant clips at 20 MW / 1.6 = 12.5 MW AC: the first divergence is where the field's PV first
    # exceeds that by more than the tolerance (0.15 MW)
    field = pd.read_csv(DATA / "scada_1s.csv")
    t = (pd.to_datetime(field["timestamp"]) - pd.Timestamp("2025-07-15T12:00:00-07:00")).dt.total_seconds()
    over = t[field["SITE.PV_P"] > 12.5 + 0.15 + 0.01].min()
    first = pv["first_divergence"]["start_s"]
    assert abs(first - over) <= 3.0, (first, over)
    assert "pv_p_mw" in so and "FAIL" in so
    # the report explains it: the field goes above anything the twin's PV reaches (its 12.5 MW AC rating)
    reading = pv["context"][0]["reading"][0]
    assert "above anything the twin's pv_p_mw reaches in the whole run (12.5 MW)" in reading and "rating" in reading
    html = (out / "replay.html").read_text()
    assert "pv_p_mw" in html and f"{first:g}" in html


def test_a_power_column_in_kw_mapped_as_mw_exits_2(tmp_path: Path) -> None:
    d = tmp_path / "set"
    shutil.copytree(DATA, d)
    m = d / "mapping.toml"
    m.write_text(
        m.read_text().replace('signal = "spark_u02_it_p_mw"\nunit = "kW"', 'signal = "spark_u02_it_p_mw"\nunit = "MW"')
    )
    rc, so, se = _replay(REPLAY, tmp_path / "out", "--mapping", str(m))
    assert rc == 2, so + se
    assert "SPK02.IT_P" in se and "kW" in se and "Traceback" not in se


def test_the_tool_writes_the_defects_where_it_says(tmp_path: Path) -> None:
    """tools/make_field_set.py on a short synthetic time series: the lines it reports hold the defects."""
    from tools.make_field_set import make_field_set

    n = 2000
    t = np.arange(n, dtype=float)
    cols: dict[str, Any] = {"time_s": t}
    for b in range(8):
        cols[f"pv_b{b:02d}_poa_w_m2"] = np.full(n, 900.0)
    for u in range(4):
        cols[f"spark_u{u:02d}_it_p_mw"] = np.full(n, 0.8)
    for b in range(12):
        cols[f"bess_b{b:02d}_soc_frac"] = np.full(n, 0.6)
        cols[f"bess_b{b:02d}_p_mw"] = np.full(n, 0.5)
    for c in ("bess_p_mw", "pv_p_mw", "v_mv_main_pu", "spark_u00_coolant_temp_c", "temp_amb_c", "rh_frac"):
        cols[c] = np.full(n, 1.0)
    start = pd.Timestamp("2025-07-15T12:00:00", tz="America/Los_Angeles")
    d = make_field_set(pd.DataFrame(cols), tmp_path, start=start, n_pv=8, n_bess=12, n_units=4)
    lines = (tmp_path / "scada_1s.csv").read_text().splitlines()
    dup = d["scada_1s.csv"]["duplicate"]["lines"]
    assert lines[dup[0] - 1].split(",")[0] == lines[dup[1] - 1].split(",")[0] == "2025-07-15T12:10:00.000-07:00"
    ooo = d["scada_1s.csv"]["out_of_order"]["lines"]
    assert lines[ooo[0] - 1].startswith("2025-07-15T12:15:01") and lines[ooo[1] - 1].startswith("2025-07-15T12:15:00")
    g = d["scada_1s.csv"]["gap"]["line_before"]
    assert lines[g - 1].startswith("2025-07-15T12:24:59") and lines[g].startswith("2025-07-15T12:25:30")
    assert float(lines[1].split(",")[11]) == pytest.approx(800.0, abs=10.0)  # SPK02 in kW (noise 2 kW)
    hist = (tmp_path / "historian.csv").read_text().splitlines()
    bad = d["historian.csv"]["bad_quality"]["line"]
    assert hist[bad - 1].startswith("BESS05.SOC,2025-07-15T12:22:00") and hist[bad - 1].endswith(",bad")
    assert str(ROOT) not in (tmp_path / "mapping.toml").read_text()


def test_the_report_renders_in_headless_chromium(good: dict[str, Any], tmp_path: Path) -> None:
    """Open replay.html in Debian's chromium (headless, offline: the page must need no network), take a
    screenshot and check that the plots were drawn: the twin's tolerance band (its colour at its opacity on
    white) covers a good part of the first screen, and the page is not blank. ``.ci/run`` installs chromium."""
    import os
    import subprocess

    import matplotlib.colors
    import matplotlib.image

    from adapters.io.replay_report import BAND_ALPHA, TWIN_COLOUR

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed here (.ci/run installs it)")
    shot = tmp_path / "replay.png"
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,3000",
           f"--screenshot={shot}", "--virtual-time-budget=5000", (good["out"] / "replay.html").as_uri()]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert shot.is_file(), p.stderr[-2000:]
    img = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int)
    assert img.shape[:2] == (3000, 1400) and img.std() > 20  # not a blank page
    band = 255 * (1 - BAND_ALPHA) + BAND_ALPHA * 255 * np.array(matplotlib.colors.to_rgb(TWIN_COLOUR))
    n_band = int((np.abs(img - band).sum(axis=2) <= 6).sum())
    assert n_band > 10_000, n_band  # about 37,000 px of band on the first screen (two plots) at 1400 x 3000


def test_the_column_catalogue_is_what_a_run_writes(good: dict[str, Any], tmp_path: Path) -> None:
    """adapters/io/telemetry/columns.py lists the columns a mapping may compare: equal to what runs write, on the
    pilot site and on a small one (3 battery blocks, 2 PV blocks, 1 Spark unit)."""
    from adapters.io.scenario_file import load_scenario
    from adapters.io.telemetry.columns import OPEN_PREFIXES, timeseries_columns

    def written(out: Path) -> set[str]:
        cols = pd.read_parquet(out / "timeseries.parquet").columns
        return {str(c) for c in cols if not str(c).startswith(OPEN_PREFIXES)}

    assert written(good["out"]) == set(timeseries_columns(load_scenario(REPLAY).site))
    small = tmp_path / "small.toml"
    small.write_text(
        "[run]\nduration_s = 3\n[site.bess]\nn_blocks = 3\n[site.pv]\nn_blocks = 2\n[site.spark]\nn_units = 1\n"
        "[models.fleet]\nn_packs = 60\n"
    )
    p = run_cli(["run", str(small), "--out", str(tmp_path / "o"), "--no-progress"])
    assert p.returncode == 0, p.stderr
    assert written(tmp_path / "o") == set(timeseries_columns(load_scenario(small).site))


def test_the_results_scenario_runs_again_without_firing_the_events_twice(good: dict[str, Any]) -> None:
    """The results' scenario.toml is the scenario as given (with its mapping): loading it again fires the
    breaker's two events once each, not four times."""
    from adapters.io.scenario_file import load_scenario
    from adapters.io.telemetry.load import load_recorded

    sc = load_scenario(good["out"] / "scenario.toml")
    assert not sc.events and sc.recorded.mapping == str((DATA / "mapping.toml").resolve())
    rec = load_recorded(sc)
    assert rec is not None
    assert [(e.kind, e.at_s) for e in rec.scenario.events] == [
        ("trip_bess_block", 1200.0),
        ("restore_bess_block", 1800.0),
    ]
