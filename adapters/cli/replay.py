"""``twin replay SCENARIO [--mapping FILE] [--out DIR]``: replay a field incident and score the twin against it.

Runs the scenario driven by the mapping's recorded inputs, start state and
events (as ``twin run`` does with ``[recorded]``), then compares every
compare tag with the twin and writes ``replay.json`` and ``replay.html`` into
the results folder. Exit 0 when every signal is inside its tolerance, 1 when
one is not (or the run failed), 2 for input that cannot be used.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from adapters.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_output_arguments,
    out_dir,
    progress_wanted,
    write_report,
)
from adapters.cli.influx import add_influx_arguments, influx_options, report_influx
from adapters.io.scenario_file import load_scenario
from twin.errors import InputError

__all__ = ["add_parser", "cmd_replay"]


def add_parser(sub: Any) -> None:
    r = sub.add_parser(
        "replay",
        help="drive the twin with a field incident's recorded inputs and score it against the telemetry",
    )
    r.add_argument("scenario", help="scenario file (its [recorded] mapping names the telemetry)")
    r.add_argument("--mapping", help="mapping file (TOML) of the telemetry (overrides the scenario's [recorded])")
    r.add_argument(
        "--solver", choices=["lightsim2grid", "pandapower"], help="power-flow solver (overrides models.grid.solver)"
    )
    add_output_arguments(
        r, "results folder (default: $TWIN_OUT/<scenario file stem> if TWIN_OUT is set, else results/<stem>)"
    )
    add_influx_arguments(r)
    r.set_defaults(func=cmd_replay)


def _fmt(v: Any, nd: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{nd}g}" if isinstance(v, float) else str(v)


def cmd_replay(args: argparse.Namespace) -> int:
    from adapters.io.replay_report import write_replay
    from adapters.io.telemetry.load import load_recorded
    from adapters.io.telemetry.mapping_file import load_mapping
    from adapters.io.telemetry.score import score_replay
    from adapters.world import run_scenario

    sc = load_scenario(args.scenario)
    path = args.mapping or sc.recorded.mapping
    if not path:
        raise InputError(f"{args.scenario}: no telemetry to replay: give --mapping FILE or set [recorded] mapping")
    mapping = load_mapping(path, sc.site)
    if not mapping.of_role("compare"):
        raise InputError(f'{mapping.path}: no tag has role = "compare": there is nothing to score the twin against')
    rec = load_recorded(sc, mapping)
    assert rec is not None
    out = out_dir(args)
    influx = influx_options(args)
    res = run_scenario(
        rec.scenario,
        out,
        scenario_name=sc.name,
        progress=progress_wanted(args),
        solver=args.solver,
        recorded=rec,
        influx=influx,
    )
    doc, field, twin = score_replay(rec, out, res.summary)
    j, h = write_replay(out, doc, field, twin)
    print(f"run {res.status}: {res.summary['sim_time_s']:g} s simulated in {res.summary['wall_time_s']:g} s")
    report_influx(res.summary, out)
    print(f"{'signal':32} {'unit':6} {'tol':>8} {'rmse':>9} {'bias':>9} {'max':>9} {'inside':>7}  first divergence")
    for d in doc["signals"]:
        first = d.get("first_divergence")
        fd = f"{first['start_s']:g} s" if first else "-"
        print(
            f"{d['signal'][:32]:32} {d['unit']:6} {_fmt(d['tolerance']):>8} {_fmt(d['overall']['rmse']):>9} "
            f"{_fmt(d['overall']['bias']):>9} {_fmt(d['overall']['max_abs_error']):>9} "
            f"{d['overall']['inside_frac'] * 100 if d['overall']['inside_frac'] is not None else math.nan:6.1f}%  "
            f"{fd}{'' if d['passed'] else '  FAIL'}"
        )
    for name in doc["missing_signals"]:
        print(f"{name}: not a column of the twin's time series (docs/results.md)")
    n_find = len(doc["findings"])
    print(f"data quality: {n_find} finding(s); report: {h.resolve()}  figures: {j.resolve()}")
    print(f"replay {doc['status']}")
    write_report(out)
    if res.status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if doc["status"] == "passed" else EXIT_FAILED
