"""``twin validate SCENARIO``: check a scenario file; exit 2 on problems."""

from __future__ import annotations

import argparse
from typing import Any

from adapters.cli.common import EXIT_OK
from adapters.io.scenario_file import load_scenario

__all__ = ["add_parser", "cmd_validate"]


def add_parser(sub: Any) -> None:
    v = sub.add_parser("validate", help="check a scenario file")
    v.add_argument("scenario")
    v.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    s = sc.site
    print(
        f"{args.scenario}: ok: site '{s.name}', {sc.models.fleet.n_packs} packs in {s.bess.n_blocks} blocks, "
        f"{s.pv.p_dc_mw:g} MWdc PV in {s.pv.n_blocks} blocks, {s.spark.n_units} Spark units; "
        f"{sc.run.duration_s:g} s at {sc.run.step_s:g} s steps ({sc.n_steps} steps), {len(sc.events)} events; "
        f"controller {sc.controller.class_path}"
    )
    if sc.recorded.mapping:  # the mapping was checked by load_scenario; its files are read by run and replay
        from adapters.io.telemetry.mapping_file import load_mapping

        m = load_mapping(sc.recorded.mapping, s)
        roles = ", ".join(f"{len(m.of_role(r))} {r}" for r in ("input", "initial", "compare", "event"))
        print(f"recorded: {m.path}: {len(m.config.sources)} source(s), {len(m.tags)} tags ({roles})")
    return EXIT_OK
