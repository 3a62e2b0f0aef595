"""Score a replay: the run's time series against the compare tags, per signal and per event window.

:func:`score_replay` reads the results folder of a run driven by recorded
field data, puts each compare tag on the twin's rows
(:func:`adapters.io.telemetry.load.compare_frame`), scores it
(:func:`twin.replay.scores.score_signal`: RMSE, bias, maximum error, the share
of time inside tolerance, divergences, pre-fault / fault / post-fault windows
around each recorded event) and explains each divergence over tolerance
(:func:`twin.replay.explain.divergence_context`). It returns the document of
``replay.json`` (schema: :mod:`adapters.io.replay_report`) and the two frames
the report plots.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.io.telemetry.load import Recorded, column_name, compare_frame
from twin.replay.explain import divergence_context
from twin.replay.scores import event_windows, score_signal

__all__ = ["MAX_CONTEXTS", "score_replay"]

MAX_CONTEXTS = 5  # divergences explained per signal (the worst ones)


def _read_timeseries(out_dir: Path) -> pd.DataFrame:
    f = out_dir / "timeseries.parquet"
    if f.is_file():
        return pd.read_parquet(f)
    parts = out_dir / "timeseries.parts"
    if parts.is_dir() and any(parts.glob("*.parquet")):
        return pd.read_parquet(parts)
    return pd.DataFrame({"time_s": np.zeros(0)})


def score_replay(
    rec: Recorded, out_dir: Path, summary: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """``(doc, field, twin)``: the replay's figures, the field values on the twin's rows, the twin's rows."""
    sc = rec.scenario
    tel = rec.telemetry
    m = tel.mapping
    cfg = m.config.scoring
    step = sc.run.step_s
    row_dt = sc.run.record_every_s or step  # a row is the mean over its electrical step, rows this far apart
    twin = _read_timeseries(out_dir)
    t_rows = twin["time_s"].to_numpy(dtype=float)
    field = compare_frame(tel, t_rows, step)
    twin_events = [{**e, "source": "twin"} for e in summary.get("events", []) if isinstance(e, dict)]
    f_events = [
        {"time_s": e.time_s, "kind": e.event["kind"], "detail": e.detail, "source": "field", "clear_s": e.clear_s}
        for e in rec.events
    ]
    all_events = sorted(f_events + twin_events, key=lambda e: float(e["time_s"]))
    end_s = float(summary.get("sim_time_s", sc.run.duration_s))
    windows = event_windows(
        [(e.time_s, e.text, e.clear_s) for e in rec.events if not e.at_start],
        pre_s=cfg.pre_s,
        fault_s=cfg.fault_s,
        post_s=cfg.post_s,
        t_end_s=end_s,
    )
    signals: list[dict[str, Any]] = []
    missing: list[str] = []
    for t in m.of_role("compare"):
        col = column_name(m, t)
        if t.signal.name not in twin.columns:
            missing.append(t.signal.name)
            continue
        tol = t.cfg.tolerance if t.cfg.tolerance is not None else cfg.default_tolerance
        assert tol is not None  # the mapping file's check
        s = score_signal(
            col,
            t.cfg.tag,
            t.signal.unit,
            t_rows,
            field[col].to_numpy(dtype=float),
            twin[t.signal.name].to_numpy(dtype=float),
            tolerance=tol,
            cfg=cfg,
            step_s=row_dt,  # the rows' spacing: the time tolerance in rows and a divergence's span
            windows=windows,
        )
        d = s.as_dict()
        d["source"] = t.source.file
        d["twin_signal"] = t.signal.name
        worst = sorted(s.divergences, key=lambda v: -abs(v.peak_error))[:MAX_CONTEXTS]
        d["context"] = [
            divergence_context(twin, all_events, v, context_s=cfg.context_s, signal=t.signal.name, unit=t.signal.unit)
            for v in sorted(worst, key=lambda v: v.start_s)
        ]
        signals.append(d)
    # what the loader and the models said they did with the data (summary.json recorded.statements)
    said = list((summary.get("recorded") or {}).get("statements") or rec.inputs.statements)
    passed = bool(signals) and all(d["passed"] for d in signals) and not missing and summary["status"] == "completed"
    doc: dict[str, Any] = {
        "title": m.config.name or sc.name,
        "scenario": sc.name,
        "mapping": str(m.path),
        "status": "passed" if passed else "failed",
        "run_status": summary.get("status"),
        "run_error": summary.get("error"),
        "start": rec.telemetry.start.isoformat(),
        "step_s": step,
        "duration_s": sc.run.duration_s,
        "scoring": cfg.model_dump(),
        "statements": said,
        "initial_state": [s for s in said if s.startswith(("start state", "fleet:"))],
        "findings": [f.as_dict() for f in tel.findings],
        "signals": signals,
        "missing_signals": missing,
        "events": [_jsonable(e) for e in all_events],
        "windows": [{"label": w.label, "event": w.event, "start_s": w.start_s, "end_s": w.end_s} for w in windows],
    }
    return doc, field, twin


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=str))
