"""``twin hil SCENARIO --port PORT``: run a scenario with packs handed to BMSs on a serial line.

Or ``--replay SESSION`` to answer from a recorded session. Input errors
(device file, session, port, ``--packs``) are found before the heavy imports.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from adapters.cli.common import add_output_arguments, finish, out_dir, progress_wanted
from adapters.cli.influx import add_influx_arguments, influx_options, report_influx
from adapters.io.scenario_file import load_scenario
from hil.line import add_line_arguments, line_flags
from twin.errors import DeviceFileError, InputError

__all__ = ["add_parser", "cmd_hil"]


def add_parser(sub: Any) -> None:
    h = sub.add_parser("hil", help="run a scenario with packs handed to BMSs on a serial line (hardware in the loop)")
    h.add_argument("scenario")
    src = h.add_mutually_exclusive_group()
    src.add_argument(
        "--port",
        help="serial port of the BMS line: a path (/dev/ttyUSB0) or a pyserial URL "
        "(spy:///dev/ttyUSB0?file=trace.txt for a hex trace)",
    )
    src.add_argument(
        "--replay",
        metavar="SESSION",
        help="answer from a recorded session file instead of a port (lockstep, deterministic)",
    )
    h.add_argument("--packs", help="pack ids bound to the line, comma-separated (default: [hil] packs of the scenario)")
    h.add_argument("--device", help="device file (TOML) of the BMS product: line, timing, sign, unit ids")
    h.add_argument("--lockstep", action="store_true", help="no wall clock: the simulation waits for every answer")
    h.add_argument("--step-s", type=float, help="electrical step (default: the scenario's run.step_s)")
    h.add_argument("--duration-s", type=float, help="simulated duration (default: the scenario's run.duration_s)")
    add_line_arguments(h, defaults=False)  # they override the device file's [line]
    h.add_argument("--timeout-s", type=float, help="one attempt's timeout (default 0.1 s)")
    h.add_argument("--retries", type=int, help="further attempts within a step (default 2)")
    h.add_argument("--max-overruns", type=int, help="stop the run when more steps than this began late")
    h.add_argument("--no-record", action="store_true", help="do not write session.jsonl")
    add_output_arguments(h, "results folder (as for twin run)")
    add_influx_arguments(h)
    h.set_defaults(func=cmd_hil)


def _pack_ids(text: str) -> list[int]:
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise InputError(f"--packs: expected pack ids separated by commas (e.g. 0,17), got {text!r}") from exc
    if not ids or len(set(ids)) != len(ids):
        raise InputError(f"--packs: expected distinct pack ids separated by commas, got {text!r}")
    return ids


def cmd_hil(args: argparse.Namespace) -> int:
    from adapters.io.scenario_file import check_hil_packs, load_inventory
    from hil.device import load_device
    from hil.session import Session

    sc = load_scenario(args.scenario)
    if sc.controller.external.owns:
        raise InputError(
            f"{args.scenario}: [controller.external] owns = {list(sc.controller.external.owns)}: an external "
            "controller runs with `twin run`, not with `twin hil` (two clocks would pace the run); remove it here"
        )
    hc = sc.hil
    dev_path = args.device or (str(Path(args.scenario).parent / hc.device) if hc.device else None)
    device = load_device(dev_path)
    line = device.line.model_copy(update=line_flags(args, error=DeviceFileError))
    timing = device.timing.model_copy(
        update={k: v for k, v in (("timeout_s", args.timeout_s), ("retries", args.retries)) if v is not None}
    )
    device = device.model_copy(update={"line": line, "timing": timing})
    session = None
    units: list[int] = []
    if args.replay:
        session = Session.read(args.replay)
        packs = [int(p["id"]) for p in session.header.get("packs", [])]
        units = [int(p["unit"]) for p in session.header.get("packs", [])]
        step = float(session.header.get("step_s", sc.run.step_s))
        if abs(step - sc.run.step_s) > 1e-12:
            print(f"twin: the session ran at {step:g} s steps: replaying at {step:g} s", file=sys.stderr)
            sc = sc.model_copy(update={"run": sc.run.model_copy(update={"step_s": step})})
    else:
        if not args.port:
            raise InputError("hil: name the BMS's serial port with --port (or replay a session with --replay)")
        packs = _pack_ids(args.packs) if args.packs else list(hc.packs)
    if not packs:
        raise InputError(
            f"{args.scenario}: no pack bound to the serial BMS: give --packs ID,... or "
            f"[hil] packs = [...] in the scenario"
        )
    if args.step_s is not None or args.duration_s is not None:
        upd = {k: v for k, v in (("step_s", args.step_s), ("duration_s", args.duration_s)) if v is not None}
        sc = sc.model_copy(update={"run": sc.run.model_copy(update=upd)})
    inv = load_inventory(sc)
    problems = check_hil_packs(sc, packs, inv)  # the one check of bound packs, as for [hil] packs
    if problems:
        source = f"session {args.replay}" if args.replay else ("--packs" if args.packs else "[hil] packs")
        raise InputError("\n".join(f"{args.scenario}: {source}: {m}" for m in problems))
    if args.port:
        _check_port(args.port)
    from adapters.io.telemetry.load import load_recorded
    from adapters.sims.hil import HilOptions  # the heavy imports (mosaik, the models) once the input is good
    from adapters.world import run_scenario

    rec = load_recorded(sc)  # field data ([recorded]): a recorded incident replayed with the BMS on the line

    opts = HilOptions(
        packs=packs,
        device=device,
        port=args.port or "",
        units=units,
        realtime=not (args.lockstep or session is not None or not hc.realtime),
        replay=Path(args.replay) if args.replay else None,
        record=not args.no_record,
        overrun_frac=hc.overrun_frac,
        max_overruns=args.max_overruns if args.max_overruns is not None else hc.max_overruns,
    )
    out = out_dir(args)
    influx = influx_options(args)
    res = run_scenario(
        sc, out, scenario_name=sc.name, progress=progress_wanted(args), hil=opts, recorded=rec, influx=influx
    )
    s = res.summary
    h = s.get("hil", {})
    late = h.get("lateness_ms")
    soc = h.get("soc_estimate_error_pct", {})
    print(
        f"{res.status}: {s['sim_time_s']:g} s simulated in {s['wall_time_s']:g} s, {h.get('mode')} on "
        f"{h.get('port')}; packs {packs}: {h.get('exchanges', 0)} exchanges, {h.get('retries', 0)} retries, "
        f"{h.get('timeouts', 0)} timeouts, {h.get('bad_frames', 0)} bad frames, "
        f"{h.get('link_lost_events', 0)} link losses; SoC estimate error mean abs "
        f"{soc.get('mean_abs')} % (max {soc.get('max_abs')}); {h.get('clamped_steps', 0)} clamped steps, "
        f"{h.get('current_limit_violations', 0)} current-limit violations"
    )
    if late:
        print(
            f"lateness: p50 {late['p50']:.2f} ms, p99 {late['p99']:.2f} ms, max {late['max']:.2f} ms, "
            f"{late['overruns']} overrun(s) (> {late['overrun_threshold_ms']:g} ms)"
        )
    if "replay_divergences" in h:
        print(
            f"replay: {h['replay_divergences']} divergence(s) from the session"
            + (f"; first: {h['replay_first_divergence']}" if h.get("replay_first_divergence") else "")
        )
    report_influx(s, res.out_dir)
    return finish(res)


def _check_port(port: str) -> None:
    """A port that cannot be opened at the start is bad input (mid-run it is a recorded line fault)."""
    import serial

    try:
        serial.serial_for_url(port, do_not_open=False, timeout=0).close()
    except (serial.SerialException, OSError, ValueError) as exc:
        errno = getattr(exc, "errno", None)
        why = os.strerror(errno) if isinstance(errno, int) and errno > 0 else str(exc)
        raise InputError(
            f"hil: cannot open the serial port {port!r}: {why}; check the path "
            f"(ls /dev/ttyUSB* /dev/serial/by-id/), permissions (the dialout group) and that no "
            f"other program holds it"
        ) from exc
