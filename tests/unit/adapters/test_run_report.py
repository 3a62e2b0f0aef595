"""report.html from a results folder made by hand: one offline page, a plot per section, the summary's figures,
the events; a folder with files or columns missing still gives a page that says what is missing; bad input
to `twin report` exits 2 with a message naming the path.

No run: timeseries.parquet, packs.parquet, summary.json and scenario.toml are written here with pyarrow.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.cli import main
from adapters.io import run_report_plots
from adapters.io.run_report import MAX_EVENTS_PER_KIND, PLOTS, write_run_report
from tests.unit.adapters.html_support import PNG_SIGNATURE, Page

N = 600  # rows at 1 s
N_BLOCKS, N_UNITS = 3, 2


def _parse(path: Path) -> tuple[str, Page]:
    text = path.read_text(encoding="utf-8")
    p = Page()
    p.feed(text)
    return text, p


def _timeseries(n: int = N, drop: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    t = np.arange(float(n))
    pv = 8.0 + 2.0 * np.sin(t / 90.0)
    it = 5.0 + 0.5 * np.sin(t / 7.0)
    cool, aux, losses = 0.2 + 0.01 * it, np.full(n, 0.1), 0.02 * pv
    net = pv - it - cool - aux - losses  # > 0: charging
    cols: dict[str, np.ndarray] = {
        "time_s": t,
        "temp_amb_c": 28.0 + t / n,
        "pv_avail_p_mw": pv + 0.3,
        "pv_p_mw": pv,
        "it_p_mw": it,
        "cooling_p_mw": cool,
        "aux_p_mw": aux,
        "ufls_p_mw": np.zeros(n),
        "shed_p_mw": np.where((t > 300) & (t < 340), 0.4, 0.0),
        "bess_charge_p_mw": np.clip(net, 0, None),
        "bess_discharge_p_mw": np.clip(-net, 0, None),
        "losses_p_mw": losses,
        "v_min_pu": 0.97 - 0.01 * np.sin(t / 50.0),
        "v_max_pu": 1.02 + 0.01 * np.sin(t / 50.0),
        "line_loading_max_pct": 60.0 + 10 * np.sin(t / 30.0),
        "trafo_loading_max_pct": np.full(n, 82.0),
        "soc_frac": 0.55 + t * 1e-5,
        "pack_soc_min_frac": 0.50 + t * 1e-5,
        "pack_soc_max_frac": 0.66 + t * 1e-5,
        "pack_temp_max_c": 30.0 + t / n,
        "ctrl_pv_p_limit_mw": np.where(t % 2 == 0, pv + 0.1, np.inf),
        "hil_link_ok": np.where((t > 200) & (t < 210), 0.0, 1.0),
        "hil_lateness_ms": 1.0 + (t % 13) / 10,
        "hil_io_ms": 12.0 + (t % 7),
        "hil_soc_true_pct": 60 + t / 100,
        "hil_soc_bms_pct": 60.5 + t / 100,
    }
    for b in range(N_BLOCKS):
        cols[f"bess_b{b:02d}_soc_frac"] = 0.6 + b * 0.01 + t * 1e-5
    for u in range(N_UNITS):
        cols[f"spark_u{u:02d}_gpu_temp_c"] = 70.0 + u + 5 * np.sin(t / 4.0)
        cols[f"spark_u{u:02d}_coolant_temp_c"] = 40.0 + u + 0.001 * t
    return {k: v for k, v in cols.items() if k not in drop}


def _summary(status: str = "completed") -> dict[str, Any]:
    events = [{"time_s": 0.0, "kind": "cooling_regime", "detail": f"unit {u}: adiabatic"} for u in range(N_UNITS)]
    events += [{"time_s": 120.0, "kind": "trip_bess_block", "detail": "battery block <3> & more"}]
    events += [{"time_s": 200.0 + i, "kind": "pv_frequency_watt", "detail": f"cut {i}"} for i in range(30)]
    events += [
        {"time_s": 590.0, "kind": "powerflow_not_converged", "detail": {"message": "diverged", "injections": {}}}
    ]
    return {
        "scenario": "hand <made>",
        "status": status,
        "interrupted": status != "completed",
        "error": "PowerFlowDiverged: no operating point" if status == "failed" else None,
        "sim_time_s": float(N),
        "step_s": 1.0,
        "wall_time_s": 2.5,
        "realtime_factor": 240.0,
        "n_steps": N,
        "n_rows": N,
        "n_packs": 40,
        "n_buses": 11,
        "fleet_e_max_mwh": 3.21,
        "energy_mwh": {
            "pv_available": 1.37,
            "pv_delivered": 1.32,
            "bess_charge": 0.35,
            "bess_discharge": 0.0,
            "it_load": 0.8345,
            "cooling_load": 0.045,
            "aux_load": 0.0167,
            "losses": 0.026,
            "unserved": 0.0044,
            "pv_curtailed": 0.05,
            "genset": 0.25,
        },  # fmt: skip
        "energy_balance_error_frac": 7.7e-14,
        "power_balance_max_abs_mw": 2.2e-11,
        "soc_frac": {"min": 0.55, "max": 0.556, "start": 0.5501, "end": 0.556, "pack_min": 0.5, "pack_max": 0.666},
        "pue": 1.07391,
        "pue_datacenter": 1.05392,
        "cooling_load": {"peak_mw": 0.255, "mean_mw": 0.27, "regime_unit_h": {"dry": 0.1, "adiabatic": 0.23}},
        "v_pu": {"min": 0.96, "max": 1.03},
        "v_out_of_band_steps": 0,
        "loading_max_pct": 82.0,
        "fuel_l": 123.5,
        "co2_kg": 321.0,
        "events": events,
        "solver": "lightsim2grid",
        "controller": "twin.controller:ReferenceController",
        "datacenter": {"throttle_unit_s": 12.0, "n_shutdowns": 0},
        "fleet": {"capacity_mwh_end": 3.2, "packs_tripped_by_bms": [4, 7], "soh_frac_start": {"mean": 0.71}},
        "hil": {
            "mode": "realtime",
            "port": "/dev/ttyUSB0",
            "io_ms": {"p50": 12.0, "p99": 18.0, "max": 19.0},
            "timeouts": 3,
            "packs": [{"id": 0, "unit_id": 1}],
        },  # fmt: skip
        "controller_link": {
            "mode": "lockstep",
            "transactions": 188531,
            "cycle_ms": {"p50": 19.4, "p99": 34.4, "max": 56.2, "n": 3600},
            "exceptions": {"read_only": 0, "out_of_range": 2},
        },  # fmt: skip
    }


def _folder(
    tmp: Path, *, packs: bool = True, status: str = "completed", drop: tuple[str, ...] = (), n: int = N
) -> Path:
    out = tmp / "run"
    out.mkdir()
    pq.write_table(pa.table(_timeseries(n, drop)), out / "timeseries.parquet")
    (out / "summary.json").write_text(json.dumps(_summary(status), indent=2))
    (out / "scenario.toml").write_text(
        'name = "hand"\n[site]\ntimezone = "America/Los_Angeles"\n[run]\nstart = "2025-07-15T12:00:00"\n'
        "[models.grid]\nv_band_pu = [0.9, 1.1]\n"
    )
    if packs:
        rng = np.random.default_rng(1)
        snaps = [300.0, 600.0]
        pq.write_table(
            pa.table(
                {
                    "time_s": np.repeat(snaps, 40),
                    "pack_id": np.tile(np.arange(40), 2),
                    "soc_frac": rng.uniform(0.5, 0.66, 80),
                }
            ),
            out / "packs.parquet",
        )
    return out


def _png(src: str | None) -> np.ndarray:
    assert src and src.startswith("data:image/png;base64,")
    raw = base64.b64decode(src.split(",", 1)[1], validate=True)
    assert raw.startswith(PNG_SIGNATURE)
    return matplotlib.image.imread(io.BytesIO(raw), format="png")


def _assert_offline(text: str, page: Page) -> None:
    low = text.lower()
    assert "http://" not in low and "https://" not in low
    assert "<script" not in low and "<link" not in low and "@import" not in low and "url(" not in low
    assert all(r.startswith(("data:image/png;base64,", "#")) for r in page.refs), page.refs


def test_the_page_is_offline_with_a_plot_per_section(tmp_path: Path) -> None:
    out = _folder(tmp_path)
    path = write_run_report(out)
    assert path == out / "report.html" and not list(out.glob(".*.tmp"))
    text, page = _parse(path)
    _assert_offline(text, page)
    names = [i.get("data-plot") for i in page.imgs]
    assert names == list(PLOTS)  # every section's plot, once, in page order
    for img in page.imgs:
        assert img.get("alt")
        pixels = _png(img.get("src"))[..., :3]
        assert pixels.shape[1] == round(run_report_plots.WIDTH_IN * run_report_plots.DPI)
        rgb = (pixels * 255).round().astype(np.int64)
        colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
        assert len(colours) > 20, img.get("data-plot")  # drawn, not blank
    words = " ".join(" ".join(page.text).split())
    # the header and the summary's figures, with units and keys
    assert "Run report: hand <made>" in words and "completed" in words
    assert "600 s (0 h 10 min 00.0 s) (to 12:10:00)" in words
    for figure in ("1.32 MWh energy_mwh.pv_delivered", "1.074 - pue", "7.7e-14 - energy_balance_error_frac",
                   "0.5501 0..1 soc_frac.start", "0.96 pu v_pu.min", "82 % loading_max_pct",
                   "0.0044 MWh energy_mwh.unserved", "0.05 MWh energy_mwh.pv_curtailed",
                   "2 packs fleet.packs_tripped_by_bms", "genset 0.25 MWh energy_mwh.genset",
                   "123.5 l fuel_l", "321 kg co2_kg"):  # fmt: skip
        assert figure in words, figure
    assert "band 0.9-1.1 pu from models.grid.v_band_pu in scenario.toml" in words
    assert "packs' median with the 5-95 % band" in words
    # HIL and controller-link figures
    assert "io_ms p50 12, p99 18, max 19" in words and "transactions 188,531" in words
    assert "cycle_ms p50 19.4, p99 34.4, max 56.2, n 3,600" in words
    # the events table: kinds capped, the rest counted, text escaped
    assert "<table><thead><tr><th>time</th><th>kind</th><th>detail</th>" in text
    assert "battery block &lt;3&gt; &amp; more" in text and "<3>" not in text
    assert f"{30 - MAX_EVENTS_PER_KIND} more pv_frequency_watt" in words
    assert "120 s (12:02:00) trip_bess_block" in words
    assert "diverged" in words
    assert "Missing or incomplete" not in words


def test_long_runs_are_drawn_as_bins_and_the_page_says_so(tmp_path: Path) -> None:
    n = 3 * run_report_plots.MAX_PLOT_POINTS + 5
    out = _folder(tmp_path, n=n, packs=False)
    _, page = _parse(write_run_report(out))
    words = " ".join(" ".join(page.text).split())
    assert f"{n:,} rows drawn as {-(-n // 4):,} points of 4 rows each (the mean of the bin;" in words
    tax = run_report_plots.TimeAxis(np.arange(10.0))
    assert tax.k == 1 and tax.agg(np.arange(10.0)).tolist() == list(range(10))
    big = run_report_plots.TimeAxis(np.arange(float(2 * run_report_plots.MAX_PLOT_POINTS + 1)))
    v = np.arange(float(2 * run_report_plots.MAX_PLOT_POINTS + 1))
    assert big.k == 3 and big.agg(v, "max")[0] == 2 and big.agg(v, "min")[-1] == v[-2] and len(big.x) == len(big.agg(v))


def test_missing_files_and_columns_still_give_a_page_that_says_so(tmp_path: Path) -> None:
    drop = ("pack_soc_min_frac", "pack_soc_max_frac", "aux_p_mw", "line_loading_max_pct", "trafo_loading_max_pct",
            *(c for c in _timeseries() if c.startswith(("hil_", "bess_b"))))  # fmt: skip
    out = _folder(tmp_path, packs=False, drop=drop)
    (out / "scenario.toml").unlink()
    s = _summary()
    del s["fleet"], s["datacenter"], s["controller_link"]
    (out / "summary.json").write_text(json.dumps(s))
    text, page = _parse(write_run_report(out))
    _assert_offline(text, page)
    names = [i.get("data-plot") for i in page.imgs]
    assert names == ["power", "soc", "grid", "temperatures", "pue", "events"]  # hil: a section, no columns to draw
    words = " ".join(" ".join(page.text).split())
    assert "Missing or incomplete" in words
    assert "packs.parquet is not in the folder" in words
    assert "scenario.toml is not in the folder" in words
    assert "summary.json has no fleet" in words
    assert "columns not in the time series: aux_p_mw" in words
    assert "Not drawn: no bess_bNN_soc_frac columns" in words
    assert "Not drawn: no hil_* columns in the time series" in words
    assert "the default 0.95-1.05 pu" in words
    assert "Controller link" not in words


def test_an_interrupted_run_without_a_joined_time_series(tmp_path: Path) -> None:
    """A killed run: summary "running", the time series only as chunks in timeseries.parts/; an interrupted
    one: its status and meaning in the header."""
    out = _folder(tmp_path, packs=False)
    parts = out / "timeseries.parts"
    parts.mkdir()
    table = pq.read_table(out / "timeseries.parquet")
    pq.write_table(table.slice(300), parts / "part-00001.parquet")
    pq.write_table(table.slice(0, 300), parts / "part-00000.parquet")
    (parts / ".part-00002.tmp").write_bytes(b"half a file")
    (out / "timeseries.parquet").unlink()
    s = _summary("running")
    for k in ("fleet", "hil", "controller_link"):
        del s[k]
    (out / "summary.json").write_text(json.dumps(s))
    text, page = _parse(write_run_report(out))
    words = " ".join(" ".join(page.text).split())
    assert "running the run has not finished" in words
    assert "time series read from timeseries.parts/ (2 chunks" in words
    assert [i.get("data-plot") for i in page.imgs] == [p for p in PLOTS if p not in ("hil", "controller_link")]

    s["status"], s["interrupted"] = "interrupted", True
    (out / "summary.json").write_text(json.dumps(s))
    shutil.rmtree(parts)
    _, page = _parse(write_run_report(out))
    words = " ".join(" ".join(page.text).split())
    assert "interrupted stopped by Ctrl-C or SIGTERM" in words
    assert "timeseries.parquet is not in the folder: no plots over time" in words
    assert "Not drawn: no rows of the time series" in words
    assert [i.get("data-plot") for i in page.imgs] == ["events"]  # the events come from the summary


def test_a_failed_run_shows_its_error(tmp_path: Path) -> None:
    out = _folder(tmp_path, status="failed")
    text, page = _parse(write_run_report(out, tmp_path / "elsewhere" / "r.html"))
    assert (tmp_path / "elsewhere" / "r.html").is_file() and not (out / "report.html").exists()
    words = " ".join(" ".join(page.text).split())
    assert "failed a simulator raised an error" in words
    assert "PowerFlowDiverged: no operating point" in words
    assert re.search(r'<span class="fail">failed</span>', text)


def test_twin_report_on_bad_input_exits_2_naming_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gone = tmp_path / "no-such-run"
    assert main(["report", str(gone)]) == 2
    err = capsys.readouterr().err
    assert f"twin: {gone}: no such folder; expected a results folder" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"{empty / 'summary.json'}: not found; expected a results folder" in err
    (empty / "summary.json").write_text("{not json")
    assert main(["report", str(empty)]) == 2
    assert "not a summary written by twin" in capsys.readouterr().err


def test_twin_report_writes_the_page_and_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _folder(tmp_path)
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {(out / 'report.html').resolve()}"
    target = tmp_path / "x" / "page.html"
    assert main(["report", str(out), "--out", str(target)]) == 0
    assert target.is_file() and f"report: {target.resolve()}" in capsys.readouterr().out


def test_finish_warns_and_keeps_the_exit_status_when_the_report_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from adapters.cli.common import EXIT_FAILED, EXIT_OK, finish

    (tmp_path / "report.html").write_text("an earlier run's page")  # no summary.json: the report fails
    res = SimpleNamespace(out_dir=tmp_path, status="completed", summary={})
    assert finish(res) == EXIT_OK
    err = capsys.readouterr().err
    assert "twin: report.html not written: InputError:" in err and "summary.json" in err
    assert not (tmp_path / "report.html").exists()  # not left describing another run
    out = _folder(tmp_path)
    res = SimpleNamespace(out_dir=out, status="failed", summary={"error": "RuntimeError: boom"})
    assert finish(res) == EXIT_FAILED
    cap = capsys.readouterr()
    assert f"report: {(out / 'report.html').resolve()}" in cap.out and "boom" in cap.err
