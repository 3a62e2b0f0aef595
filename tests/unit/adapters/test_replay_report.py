"""The replay report: replay.json equals the document, replay.html is one offline page with a plot per signal.

A small synthetic document, field and twin (two signals, one failing with a divergence and its context);
no run and no telemetry files.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from adapters.io.replay_report import write_replay
from tests.unit.adapters.html_support import PNG_SIGNATURE, Page
from twin.config.recorded import ScoringConfig
from twin.replay.explain import divergence_context
from twin.replay.scores import event_windows, score_signal


def _inputs() -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    n = 600
    t = np.arange(float(n))
    twin = pd.DataFrame(
        {
            "time_s": t,
            "bess_p_mw": 2.0 + np.sin(t / 60.0),
            "pv_p_mw": np.full(n, 8.0),
            "n_packs_fault": np.where(t >= 305, 12.0, 0.0),
            "soc_frac": 0.6 - t * 1e-5,
        }
    )
    bess = twin["bess_p_mw"].to_numpy() + np.where((t >= 300) & (t < 340), 1.5, 0.0)
    bess[100:110] = np.nan  # a gap
    pv = twin["pv_p_mw"].to_numpy() + 0.01
    field = pd.DataFrame({"time_s": t, "bess_p_mw": bess, "pv_p_mw": pv})
    cfg = ScoringConfig(time_tolerance_s=1.0, min_divergence_s=2.0)
    events = [
        {"time_s": 298.0, "kind": "trip_bess_block", "detail": "block 3 <52a>", "source": "field"},
        {"time_s": 305.0, "kind": "pack_fault", "detail": "12 packs", "source": "twin"},
    ]
    windows = event_windows(
        [(298.0, "trip_bess_block block 3", None)], pre_s=cfg.pre_s, fault_s=cfg.fault_s, post_s=cfg.post_s, t_end_s=n
    )
    signals = []
    for name, tag, tol in (("bess_p_mw", "BESS1.P", 0.2), ("pv_p_mw", "PV.P", 0.1)):
        s = score_signal(
            name, tag, "MW", t, field[name].to_numpy(), twin[name].to_numpy(), tolerance=tol, cfg=cfg, step_s=1.0,
            windows=windows,
        )  # fmt: skip
        d = s.as_dict()
        d["context"] = [
            divergence_context(twin, events, x, context_s=cfg.context_s, signal=name, unit="MW")
            for x in sorted(s.divergences, key=lambda x: -abs(x.peak_error))[:5]
        ]
        signals.append(d)
    doc = {
        "title": "Replay of pilot <July 15>",
        "scenario": "pilot-1h",
        "mapping": "pilot-mapping.toml",
        "status": "failed",
        "start": "2025-07-15T12:00:00-07:00",
        "step_s": 1.0,
        "duration_s": float(n),
        "statements": ["BESS1.P: mean over each 1 s step; 10 s gap left unscored"],
        "findings": [
            {
                "file": "scada.csv",
                "tag": "BESS1.P",
                "kind": "gap",
                "severity": "warning",
                "row": 1234,
                "rows": [1234],
                "n_rows": 1,
                "message": "no sample for 10 s & more",
                "action": "left as a gap",
            },
            {
                "file": "scada.csv",
                "tag": "PV.P",
                "kind": "bad_quality",
                "severity": "error",
                "row": 77,
                "rows": [77, 78],
                "n_rows": 2,
                "message": "quality code 'BAD' on 2 samples",
                "action": "dropped 2",
            },
        ],  # fmt: skip
        "signals": signals,
        "events": events,
        "initial_state": ["bess_b03_soc_frac = 0.61 from BESS3.SOC at 12:00:00"],
    }
    return doc, field, twin


def test_both_files_are_written_and_the_json_is_the_document(tmp_path: Path) -> None:
    doc, field, twin = _inputs()
    json_path, html_path = write_replay(tmp_path / "out", doc, field, twin)
    assert json_path == tmp_path / "out" / "replay.json" and html_path == tmp_path / "out" / "replay.html"
    assert json_path.is_file() and html_path.is_file()
    assert json.loads(json_path.read_text()) == doc
    assert not list((tmp_path / "out").glob("*.tmp")) and not list((tmp_path / "out").glob(".*.tmp"))


def test_the_page_is_offline_with_one_png_per_signal_and_every_finding(tmp_path: Path) -> None:
    doc, field, twin = _inputs()
    n_figs = len(plt.get_fignums())
    _, html_path = write_replay(tmp_path, doc, field, twin)
    assert len(plt.get_fignums()) == n_figs  # no figure left open
    page_text = html_path.read_text()
    page = Page()
    page.feed(page_text)
    page.close()
    assert len(page.imgs) == len(doc["signals"]) == 2
    for img in page.imgs:
        src = str(img["src"])
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :], validate=True).startswith(PNG_SIGNATURE)
    text = " ".join(page.text)
    for f in doc["findings"]:
        assert f["message"] in text
        assert str(f["row"]) in text
    assert "http://" not in page_text and "https://" not in page_text
    assert all(r.startswith(("data:", "#")) for r in page.refs)
    assert "script" not in page.tags and "link" not in page.tags
    # escaped, not markup: the title and the event detail with angle brackets come back as text
    assert "Replay of pilot <July 15>" in text and "block 3 <52a>" in text


def test_the_page_shows_the_failing_signal_and_its_first_divergence(tmp_path: Path) -> None:
    doc, field, twin = _inputs()
    bess, pv = doc["signals"]
    assert not bess["passed"] and pv["passed"]
    first = bess["first_divergence"]
    assert first["start_s"] == 300.0  # the field steps up at 300 s; the twin's band does not reach it
    _, html_path = write_replay(tmp_path, doc, field, twin)
    page = Page()
    page.feed(html_path.read_text())
    text = " ".join(page.text)
    assert "300 s (12:05:00)" in text  # seconds and clock time from the start
    assert re.search(r"\bfail\b", text) and re.search(r"\bpass\b", text)  # both verdicts, outside the CSS
    # the context of the divergence: the field event first in its reading, the twin's pack faults named
    reading = bess["context"][0]["reading"]
    assert reading[0].startswith("the field recorded 'trip_bess_block block 3 <52a>' 2 s before")
    for sentence in reading:
        assert sentence in text
    assert "n_packs_fault" in text and re.search(r"\bpre\b", text) and re.search(r"\bpost\b", text)
