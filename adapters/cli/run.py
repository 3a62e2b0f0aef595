"""``twin run SCENARIO [--out DIR]``: run a scenario and write its results folder."""

from __future__ import annotations

import argparse
from typing import Any

from adapters.cli.common import add_output_arguments, finish, out_dir, progress_wanted
from adapters.io.scenario_file import load_scenario

__all__ = ["add_parser", "cmd_run"]


def add_parser(sub: Any) -> None:
    r = sub.add_parser("run", help="run a scenario and write its results folder")
    r.add_argument("scenario")
    r.add_argument(
        "--solver", choices=["lightsim2grid", "pandapower"], help="power-flow solver (overrides models.grid.solver)"
    )
    add_output_arguments(
        r,
        "results folder (default: $TWIN_OUT/<scenario file stem> if TWIN_OUT is set, "
        "else results/<scenario file stem>)",
    )
    r.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from adapters.io.telemetry.load import load_recorded
    from adapters.world import run_scenario  # the heavy imports (mosaik, the models) once the input is good

    sc = load_scenario(args.scenario)
    rec = load_recorded(sc)  # the scenario's field data ([recorded] mapping), read and checked before the run
    out = out_dir(args)  # precedence: flag, then environment, then the default
    res = run_scenario(sc, out, scenario_name=sc.name, progress=progress_wanted(args), solver=args.solver, recorded=rec)
    s = res.summary
    e = s["energy_mwh"]
    print(
        f"{res.status}: {s['sim_time_s']:g} s simulated in {s['wall_time_s']:g} s "
        f"({s['realtime_factor']} x real time); PV {e['pv_delivered']:.2f} of {e['pv_available']:.2f} MWh "
        f"(curtailed {e['pv_curtailed']:.2f}), unserved {e['unserved']:.3f} MWh, "
        f"energy balance error {s['energy_balance_error_frac']:.2e}"
    )
    return finish(res)
