"""The ``twin`` command line: thin on purpose (parse, validate, build, run, report).

    twin validate SCENARIO          check a scenario file; exit 2 on problems
    twin run SCENARIO [--out DIR]   run it and write the results folder
    twin hil SCENARIO --port PORT   run it with packs handed to BMSs on a serial line (or --replay SESSION)
    twin bms-emulator --port PORT   a software BMS serving the HIL contract on a serial port

Exit status: 0 done, 1 the run failed (the reason is in summary.json and on
stderr), 2 bad input (scenario file, arguments), 130 interrupted (Ctrl-C;
results up to the interruption are written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from adapters.io.scenario_file import ScenarioError, load_scenario

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
    print(
        f"{args.scenario}: ok: site '{s.name}', {sc.models.fleet.n_packs} packs in {s.bess.n_blocks} blocks, "
        f"{s.pv.p_dc_mw:g} MWdc PV in {s.pv.n_blocks} blocks, {s.spark.n_units} Spark units; "
        f"{sc.run.duration_s:g} s at {sc.run.step_s:g} s steps ({sc.n_steps} steps), {len(sc.events)} events; "
        f"controller {sc.controller.class_path}"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from adapters.world import run_scenario

    sc = load_scenario(args.scenario)
    out = _out_dir(args)  # precedence: flag, then environment, then the default
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    res = run_scenario(sc, out, scenario_name=sc.name, progress=progress, solver=args.solver)
    s = res.summary
    e = s["energy_mwh"]
    print(
        f"{res.status}: {s['sim_time_s']:g} s simulated in {s['wall_time_s']:g} s "
        f"({s['realtime_factor']} x real time); PV {e['pv_delivered']:.2f} of {e['pv_available']:.2f} MWh "
        f"(curtailed {e['pv_curtailed']:.2f}), unserved {e['unserved']:.3f} MWh, "
        f"energy balance error {s['energy_balance_error_frac']:.2e}"
    )
    return _finish(res)


def _finish(res: Any) -> int:
    """Where the results are, and the exit status of a run (`twin run` and `twin hil`)."""
    print(f"results: {res.out_dir.resolve()}")
    if res.status == "failed":
        print(f"twin: run failed: {res.summary['error']}", file=sys.stderr)
        return EXIT_FAILED
    if res.status == "interrupted":
        print("twin: interrupted; results up to the interruption are written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _out_dir(args: argparse.Namespace) -> Path:
    """The results folder: flag, then $TWIN_OUT, then results/<stem>; refused early if not writable."""
    if args.out:
        out = Path(args.out)
    elif os.environ.get("TWIN_OUT"):
        out = Path(os.environ["TWIN_OUT"]) / Path(args.scenario).stem
    else:
        out = _default_out(Path(args.scenario))
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".twin-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ScenarioError(f"cannot write results to {out}: {exc.strerror or exc}; choose another --out") from None
    return out


def _pack_ids(text: str) -> list[int]:
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ScenarioError(f"--packs: expected pack ids separated by commas (e.g. 0,17), got {text!r}") from None
    if not ids or len(set(ids)) != len(ids):
        raise ScenarioError(f"--packs: expected distinct pack ids separated by commas, got {text!r}")
    return ids


def cmd_hil(args: argparse.Namespace) -> int:
    from adapters.io.scenario_file import load_inventory
    from hil.device import DeviceFileError, load_device
    from hil.session import Session, SessionError

    sc = load_scenario(args.scenario)
    hc = sc.hil
    try:
        dev_path = args.device or (str(Path(args.scenario).parent / hc.device) if hc.device else None)
        device = load_device(dev_path)
    except DeviceFileError as exc:
        raise ScenarioError(str(exc)) from None
    line = device.line.model_copy(
        update={
            k: v
            for k, v in (("baudrate", args.baudrate), ("parity", args.parity), ("stopbits", args.stopbits))
            if v is not None
        }
    )
    timing = device.timing.model_copy(
        update={k: v for k, v in (("timeout_s", args.timeout_s), ("retries", args.retries)) if v is not None}
    )
    device = device.model_copy(update={"line": line, "timing": timing})
    session = None
    units: list[int] = []
    if args.replay:
        try:
            session = Session.read(args.replay)
        except SessionError as exc:
            raise ScenarioError(str(exc)) from None
        packs = [int(p["id"]) for p in session.header.get("packs", [])]
        units = [int(p["unit"]) for p in session.header.get("packs", [])]
        step = float(session.header.get("step_s", sc.run.step_s))
        if abs(step - sc.run.step_s) > 1e-12:
            print(f"twin: the session ran at {step:g} s steps: replaying at {step:g} s", file=sys.stderr)
            sc = sc.model_copy(update={"run": sc.run.model_copy(update={"step_s": step})})
    else:
        if not args.port:
            raise ScenarioError("hil: name the BMS's serial port with --port (or replay a session with --replay)")
        packs = _pack_ids(args.packs) if args.packs else list(hc.packs)
    if not packs:
        raise ScenarioError(
            f"{args.scenario}: no pack bound to the serial BMS: give --packs ID,... or "
            f"[hil] packs = [...] in the scenario"
        )
    if args.step_s is not None or args.duration_s is not None:
        upd = {k: v for k, v in (("step_s", args.step_s), ("duration_s", args.duration_s)) if v is not None}
        sc = sc.model_copy(update={"run": sc.run.model_copy(update=upd)})
    inv = load_inventory(sc)
    known = set(int(x) for x in inv.pack_id) if inv is not None else set(range(sc.models.fleet.n_packs))
    missing = [p for p in packs if p not in known]
    if missing:
        raise ScenarioError(f"{args.scenario}: pack(s) {missing} are not in the fleet (ids {min(known)}..{max(known)})")
    if args.port:
        _check_port(args.port)
    from adapters.sims.hil import HilOptions  # the heavy imports (mosaik, the models) once the input is good
    from adapters.world import run_scenario

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
    out = _out_dir(args)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    res = run_scenario(sc, out, scenario_name=sc.name, progress=progress, hil=opts)
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
    return _finish(res)


def _check_port(port: str) -> None:
    """A port that cannot be opened at the start is bad input (mid-run it is a recorded line fault)."""
    import serial

    try:
        serial.serial_for_url(port, do_not_open=False, timeout=0).close()
    except (serial.SerialException, OSError, ValueError) as exc:
        errno = getattr(exc, "errno", None)
        why = os.strerror(errno) if isinstance(errno, int) and errno > 0 else str(exc)
        raise ScenarioError(
            f"hil: cannot open the serial port {port!r}: {why}; check the path "
            f"(ls /dev/ttyUSB* /dev/serial/by-id/), permissions (the dialout group) and that no "
            f"other program holds it"
        ) from None


def cmd_bms_emulator(args: argparse.Namespace) -> int:
    from hil import emulator

    return emulator.main(args)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="twin", description="Digital twin of an off-grid AI-data-center microgrid (mosaik + pandapower).")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    v = sub.add_parser("validate", help="check a scenario file")
    v.add_argument("scenario")
    v.set_defaults(func=cmd_validate)
    r = sub.add_parser("run", help="run a scenario and write its results folder")
    r.add_argument("scenario")
    r.add_argument(
        "--out",
        help="results folder (default: $TWIN_OUT/<scenario file stem> if TWIN_OUT is set, "
        "else results/<scenario file stem>)",
    )
    r.add_argument(
        "--solver", choices=["lightsim2grid", "pandapower"], help="power-flow solver (overrides models.grid.solver)"
    )
    g = r.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None, help="progress bar on stderr")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    r.set_defaults(func=cmd_run)
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
    h.add_argument("--out", help="results folder (as for twin run)")
    h.add_argument("--device", help="device file (TOML) of the BMS product: line, timing, sign, unit ids")
    h.add_argument("--lockstep", action="store_true", help="no wall clock: the simulation waits for every answer")
    h.add_argument("--step-s", type=float, help="electrical step (default: the scenario's run.step_s)")
    h.add_argument("--duration-s", type=float, help="simulated duration (default: the scenario's run.duration_s)")
    h.add_argument("--baudrate", type=int)
    h.add_argument("--parity", choices=["N", "E", "O"])
    h.add_argument("--stopbits", type=int, choices=[1, 2])
    h.add_argument("--timeout-s", type=float, help="one attempt's timeout (default 0.1 s)")
    h.add_argument("--retries", type=int, help="further attempts within a step (default 2)")
    h.add_argument("--max-overruns", type=int, help="stop the run when more steps than this began late")
    h.add_argument("--no-record", action="store_true", help="do not write session.jsonl")
    g = h.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None, help="progress bar on stderr")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    h.set_defaults(func=cmd_hil)
    e = sub.add_parser("bms-emulator", help="a software BMS serving the HIL contract on a serial port")
    try:
        from hil import emulator

        emulator.add_arguments(e)
    except ImportError:  # pragma: no cover - the emulator module is part of the package
        pass
    e.set_defaults(func=cmd_bms_emulator)
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
