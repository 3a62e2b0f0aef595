"""``twin run SCENARIO [--out DIR]``: run a scenario and write its results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adapters.cli.common import add_output_arguments, finish, out_dir, parse_address, progress_wanted
from adapters.cli.influx import add_influx_arguments, influx_options, report_influx
from adapters.io.scenario_file import load_scenario
from hil.plant.coupling import GROUPS
from twin.config import Scenario
from twin.validation import did_you_mean

__all__ = ["add_parser", "cmd_run"]


def add_parser(sub: Any) -> None:
    r = sub.add_parser("run", help="run a scenario and write its results folder")
    r.add_argument("scenario")
    r.add_argument(
        "--solver", choices=["lightsim2grid", "pandapower"], help="power-flow solver (overrides models.grid.solver)"
    )
    r.add_argument("--duration-s", type=float, help="simulated duration (default: the scenario's run.duration_s)")
    r.add_argument("--step-s", type=float, help="electrical step (default: the scenario's run.step_s)")
    x = r.add_argument_group(
        "controller on the wire",
        "the plant's devices as SunSpec Modbus TCP servers for a controller outside the process "
        "(docs/controller-interface.md; overrides [controller.external])",
    )
    x.add_argument(
        "--external",
        metavar="GROUPS",
        help="device groups the external controller owns, comma-separated: pv, spark, breakers, or all",
    )
    x.add_argument("--listen", metavar="[HOST:]PORT", help="address of the plant's server (default 127.0.0.1:5020)")
    x.add_argument("--allow", metavar="ADDR,...", help="client addresses allowed to connect")
    mode = x.add_mutually_exclusive_group()
    mode.add_argument("--lockstep", action="store_true", help="the twin waits for the controller's CycDone each step")
    mode.add_argument("--realtime", action="store_true", help="wall-clock pacing; the controller runs on its own")
    x.add_argument(
        "--replay-controller",
        metavar="SESSION",
        help="run a recorded controller session (controller_session.jsonl.gz) again, without the controller",
    )
    add_output_arguments(
        r,
        "results folder (default: $TWIN_OUT/<scenario file stem> if TWIN_OUT is set, "
        "else results/<scenario file stem>)",
    )
    add_influx_arguments(r)
    r.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from adapters.io.telemetry.load import load_recorded
    from adapters.world import run_scenario  # the heavy imports (mosaik, the models) once the input is good

    sc = external_overrides(load_scenario(args.scenario), args)
    influx = influx_options(args)  # flags and token checked here; the server is checked before the site is built
    rec = load_recorded(sc)  # the scenario's field data ([recorded] mapping), read and checked before the run
    out = out_dir(args)  # precedence: flag, then environment, then the default
    replay = Path(args.replay_controller) if args.replay_controller else None
    if replay is not None:
        from hil.plant.session import ControllerSession

        ControllerSession.read(replay)  # a bad file is bad input, found before the run
    res = run_scenario(
        sc,
        out,
        scenario_name=sc.name,
        progress=progress_wanted(args),
        solver=args.solver,
        recorded=rec,
        controller_replay=replay,
        influx=influx,
    )
    s = res.summary
    e = s["energy_mwh"]
    print(
        f"{res.status}: {s['sim_time_s']:g} s simulated in {s['wall_time_s']:g} s "
        f"({s['realtime_factor']} x real time); PV {e['pv_delivered']:.2f} of {e['pv_available']:.2f} MWh "
        f"(curtailed {e['pv_curtailed']:.2f}), unserved {e['unserved']:.3f} MWh, "
        f"energy balance error {s['energy_balance_error_frac']:.2e}"
    )
    link = s.get("controller_link")
    if link:
        cyc = link["cycle_ms"]
        print(
            f"controller link ({link['mode']}, {link['address']}, owns {', '.join(link['owns'])}): "
            f"{link['transactions']} transactions, {link['writes_accepted']} writes, exceptions {link['exceptions']}, "
            f"{link['reverted_setpoints']} reverted; cycle p50 {cyc['p50']:.2f} / p99 {cyc['p99']:.2f} / "
            f"max {cyc['max']:.2f} ms"
        )
        late = link.get("lateness_ms")
        if late:
            print(
                f"lateness: p50 {late['p50']:.2f} ms, p99 {late['p99']:.2f} ms, max {late['max']:.2f} ms, "
                f"{late['overruns']} overrun(s)"
            )
        if "replay_divergences" in link:
            print(f"replay: {link['replay_divergences']} divergence(s) from the session")
    report_influx(s, res.out_dir)
    return finish(res)


def external_overrides(sc: Scenario, args: argparse.Namespace) -> Scenario:
    """The scenario with the command line's controller-link flags, ``--duration-s`` and ``--step-s`` applied."""
    from twin.errors import InputError

    ext = sc.controller.external
    upd: dict[str, Any] = {}
    if args.external is not None:
        names = [g.strip() for g in args.external.split(",") if g.strip()]
        groups = list(GROUPS) if names == ["all"] else names
        bad = [g for g in groups if g not in GROUPS]
        if bad or not groups:
            what = bad[0] if bad else args.external
            hint = did_you_mean(bad[0], GROUPS) if bad else ""
            raise InputError(f"--external: {what!r} is not a device group{hint}; allowed: {', '.join(GROUPS)}, or all")
        upd["owns"] = tuple(groups)
    if args.listen:
        # an address other than loopback: PlantServer.start warns ("reachable from other machines")
        upd["host"], upd["port"] = parse_address(args.listen, "--listen", default_host=ext.host)
    if args.allow:
        import ipaddress

        upd["allow"] = tuple(a.strip() for a in args.allow.split(",") if a.strip())
        for a in upd["allow"]:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise InputError(
                    f"--allow: {a!r} is not an IP address (e.g. 127.0.0.1; names are not resolved)"
                ) from None
    if args.lockstep or args.realtime:
        upd["mode"] = "lockstep" if args.lockstep else "realtime"
    link_flags = [
        f
        for f, v in (
            ("--listen", args.listen),
            ("--allow", args.allow),
            ("--lockstep", args.lockstep),
            ("--realtime", args.realtime),
        )
        if v
    ]
    if link_flags and args.replay_controller:
        raise InputError(f"{', '.join(link_flags)}: not with --replay-controller (a replay has no server and no clock)")
    if link_flags and not upd.get("owns", ext.owns):
        raise InputError(
            f"{', '.join(link_flags)}: no external controller in this run; add --external GROUPS "
            f"({', '.join(GROUPS)} or all) or [controller.external] owns"
        )
    if upd:
        ext = ext.model_copy(update=upd)
        sc = sc.model_copy(update={"controller": sc.controller.model_copy(update={"external": ext})})
    run: dict[str, float] = {}
    for flag, key in (("--duration-s", "duration_s"), ("--step-s", "step_s")):
        v = getattr(args, key)
        if v is not None:
            if v <= 0:
                raise InputError(f"{flag}: expected a positive number of seconds, got {v:g}")
            run[key] = v
    if run:  # validated again with every check of the scenario file
        from pydantic import ValidationError

        from twin.config import cross_check

        data = sc.model_dump(by_alias=True, exclude_none=True)
        data["run"].update(run)
        try:
            sc = Scenario.model_validate(data)
        except ValidationError as exc:
            msgs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise InputError(f"--step-s/--duration-s: {msgs}") from exc
        # a shortened run simply does not reach the later events (as with `twin hil --duration-s`)
        late = [m for _, m in cross_check(sc) if "after the end of the run" in m]
        if late:
            print(
                f"twin: {len(late)} scenario event(s) after the end of the shortened run are not reached",
                file=sys.stderr,
            )
        probs = [(k, m) for k, m in cross_check(sc) if "after the end of the run" not in m]
        if probs:
            raise InputError("\n".join(f"with --step-s/--duration-s: {'.'.join(map(str, k))}: {m}" for k, m in probs))
    return sc
