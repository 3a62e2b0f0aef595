"""``twin controller --connect HOST:PORT``: the reference controller outside the process, on the wire.

It sees the plant only through the Modbus TCP / SunSpec contract (docs/controller-interface.md): it finds
the devices, reads the measurements of each step, runs the controller class (the scenario's, with its
``[controller.params]``, or the reference one) and writes its setpoints and ``CycDone``. Start it next to
`twin run SCENARIO --external pv,spark`; it stops when the twin's simulation control says FINISHED.
"""

from __future__ import annotations

import argparse
from typing import Any

from adapters.cli.common import EXIT_OK, parse_address
from twin.errors import InputError

__all__ = ["add_parser", "cmd_controller"]


def add_parser(sub: Any) -> None:
    c = sub.add_parser(
        "controller", help="run the reference controller (or the scenario's) against the plant's Modbus TCP devices"
    )
    c.add_argument("--connect", required=True, metavar="HOST:PORT", help="the plant's server (twin run --external)")
    c.add_argument("--scenario", help="take [controller] class and params from this scenario (default: the reference)")
    c.add_argument(
        "--revert-s", type=float, default=30.0, help="reversion time written with the setpoints (0: none; default 30)"
    )
    c.add_argument(
        "--poll-ms", type=float, help="how often simulation control is read (default 1 ms in lockstep, 5 in real time)"
    )
    c.add_argument("--max-steps", type=int, help="stop after this many steps")
    c.set_defaults(func=cmd_controller)


def cmd_controller(args: argparse.Namespace) -> int:
    from hil.plant.client import run_controller
    from twin.controller import load_controller_class

    host, port = parse_address(args.connect, "--connect")
    import math

    if not math.isfinite(args.revert_s) or not (args.revert_s == 0 or 1 <= args.revert_s <= 4e9):
        raise InputError(f"--revert-s: expected 0 (no reversion) or whole seconds >= 1, got {args.revert_s:g}")
    if args.poll_ms is not None and not (math.isfinite(args.poll_ms) and args.poll_ms > 0):
        raise InputError(f"--poll-ms: expected a positive number of milliseconds, got {args.poll_ms:g}")
    if args.max_steps is not None and args.max_steps < 1:
        raise InputError(f"--max-steps: expected at least 1, got {args.max_steps}")
    make = None
    if args.scenario:
        from adapters.io.scenario_file import load_scenario

        cc = load_scenario(args.scenario).controller
        cls = load_controller_class(cc.class_path)
        params = dict(cc.params)
        make = lambda info: cls(info, params)  # noqa: E731
    st = run_controller(
        host,
        port,
        make,
        rvrt_s=args.revert_s,
        poll_s=None if args.poll_ms is None else args.poll_ms / 1000.0,
        max_steps=args.max_steps,
    )
    from hil.pacing import ms_stats

    cyc = ms_stats(st.cycle_s)
    print(
        f"controller: {st.steps} step(s), {st.skipped} skipped, {st.requests} requests; cycle p50 {cyc['p50']:.2f} / "
        f"p99 {cyc['p99']:.2f} / max {cyc['max']:.2f} ms; {'the twin finished' if st.finished else 'stopped'}"
    )
    return EXIT_OK
