"""The ``twin`` command line: thin on purpose (parse, validate, build, run, report).

    twin validate SCENARIO          check a scenario file; exit 2 on problems
    twin run SCENARIO [--out DIR]   run it and write the results folder

Exit status: 0 done, 1 the run failed (the reason is in summary.json and on
stderr), 2 bad input (scenario file, arguments), 130 interrupted (Ctrl-C;
results up to the interruption are written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from adapters.scenario import ScenarioError, load_scenario

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep its message short
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _default_out(scenario: Path) -> Path:
    return Path("results") / scenario.stem


def cmd_validate(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    s = sc.site
    print(f"{args.scenario}: ok: site '{s.name}', {sc.models.fleet.n_packs} packs in {s.bess.n_blocks} blocks, "
          f"{s.pv.p_dc_mw:g} MWdc PV in {s.pv.n_blocks} blocks, {s.spark.n_units} Spark units; "
          f"{sc.run.duration_s:g} s at {sc.run.step_s:g} s steps ({sc.n_steps} steps), {len(sc.events)} events; "
          f"controller {sc.controller.class_path}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from adapters.world import run_scenario

    sc = load_scenario(args.scenario)
    # precedence: flag, then environment, then the default
    if args.out:
        out = Path(args.out)
    elif os.environ.get("TWIN_OUT"):
        out = Path(os.environ["TWIN_OUT"]) / Path(args.scenario).stem
    else:
        out = _default_out(Path(args.scenario))
    try:  # an output folder we cannot write is bad input, found before the run starts
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".twin-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ScenarioError(f"cannot write results to {out}: {exc.strerror or exc}; choose another --out") from None
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    res = run_scenario(sc, out, scenario_name=sc.name, progress=progress, solver=args.solver)
    s = res.summary
    e = s["energy_mwh"]
    print(f"{res.status}: {s['sim_time_s']:g} s simulated in {s['wall_time_s']:g} s "
          f"({s['realtime_factor']} x real time); PV {e['pv_delivered']:.2f} of {e['pv_available']:.2f} MWh "
          f"(curtailed {e['pv_curtailed']:.2f}), unserved {e['unserved']:.3f} MWh, "
          f"energy balance error {s['energy_balance_error_frac']:.2e}")
    print(f"results: {res.out_dir.resolve()}")
    if res.status == "failed":
        print(f"twin: run failed: {s['error']}", file=sys.stderr)
        return EXIT_FAILED
    if res.status == "interrupted":
        print("twin: interrupted; results up to the interruption are written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="twin", description="Digital twin of an off-grid AI-data-center microgrid (mosaik + pandapower).")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    v = sub.add_parser("validate", help="check a scenario file")
    v.add_argument("scenario")
    v.set_defaults(func=cmd_validate)
    r = sub.add_parser("run", help="run a scenario and write its results folder")
    r.add_argument("scenario")
    r.add_argument("--out", help="results folder (default: $TWIN_OUT/<scenario file stem> if TWIN_OUT is set, "
                                 "else results/<scenario file stem>)")
    r.add_argument("--solver", choices=["lightsim2grid", "pandapower"],
                   help="power-flow solver (overrides models.grid.solver)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None, help="progress bar on stderr")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    r.set_defaults(func=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"twin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("twin: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
