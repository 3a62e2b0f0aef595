"""The machine's unit for the twin's speed (issue 16): mosaik alone, with simulators that do nothing, on the
twin's six-simulator topology as it was on 2026-12-03 (adapters/world.py ``wire`` and ``simulator_periods`` of
the default scenario at that date), frozen here so that it stays the same unit when the twin's own topology
changes. The day's loop is quoted as a multiple of it, measured in the same ``make bench`` run, so the
machine's speed (which varies up to 3x between days) cancels out. Issue 16's target: at most 2.0.

Topology: Ambient and PV every 60 steps, DataCenter, Grid, Fleet and Controller every step (1 s); the direct
connections and the four time-shifted feedback paths below, with the attributes they carried then.
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["CONNECTIONS", "PERIODS", "SHIFTED", "noop_class", "yardstick_us_per_step"]

PERIODS: dict[str, int] = {"Ambient": 60, "PV": 60, "DataCenter": 1, "Grid": 1, "Fleet": 1, "Controller": 1}
CONNECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Ambient", "PV", ("temp_amb_c",)),
    ("Ambient", "DataCenter", ("temp_amb_c", "temp_wb_c")),
    ("PV", "Grid", ("pv_avail_p_mw",)),
    ("DataCenter", "Grid", ("dc_meas",)),
    ("Grid", "Fleet", ("bess_p_mw",)),
    ("Ambient", "Fleet", ("temp_amb_c",)),
    ("PV", "Fleet", ("ghi_w_m2",)),
    ("Grid", "Controller", ("grid_meas",)),
    ("Fleet", "Controller", ("fleet_meas",)),
)
SHIFTED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Fleet", "Grid", ("bess_charge_max_p_mw", "bess_discharge_max_p_mw")),
    ("Controller", "Grid", ("pv_p_limit_mw",)),
    ("Controller", "DataCenter", ("shed_tier", "it_p_cap_mw")),
    ("Controller", "Fleet", ("pack_weights",)),
)
_ATTRS = sorted({a for _, _, attrs in CONNECTIONS + SHIFTED for a in attrs})


def noop_class(attrs: list[str]) -> type:
    """A mosaik simulator of one entity that does nothing, every ``period`` steps, offering ``attrs`` as zeros."""
    import mosaik_api_v3

    meta = {
        "api_version": "3.0",
        "type": "time-based",
        "models": {"M": {"public": True, "params": [], "attrs": attrs}},
    }

    class Noop(mosaik_api_v3.Simulator):
        def __init__(self) -> None:
            super().__init__(meta)

        def init(self, sid, time_resolution=1.0, period=1, **kw):  # mosaik_api_v3's signatures
            self.period = period
            return self.meta

        def create(self, num, model, **kw):
            return [{"eid": "e", "type": "M"}]

        def step(self, t, inputs, max_advance):
            return t + self.period

        def get_data(self, outputs):
            return {e: {a: 0.0 for a in a_} for e, a_ in outputs.items()}

    return Noop


def yardstick_us_per_step(steps: int = 20_000) -> float:
    """Wall time per step of the frozen no-op topology, in microseconds (``steps`` steps of 1 s)."""
    import mosaik

    sys.modules[__name__].__dict__["_Noop"] = noop_class(_ATTRS)  # mosaik's python starter imports it by path
    cfg: dict[str, Any] = {n: {"python": f"{__name__}:_Noop"} for n in PERIODS}
    w = mosaik.World(cfg, time_resolution=1.0, skip_greetings=True, configure_logging=False)
    e = {n: w.start(n, period=p).M() for n, p in PERIODS.items()}
    for src, dst, attrs in CONNECTIONS:
        w.connect(e[src], e[dst], *attrs)
    for src, dst, attrs in SHIFTED:
        w.connect(e[src], e[dst], *attrs, time_shifted=True, initial_data={a: 0.0 for a in attrs})
    t0 = time.perf_counter()
    w.run(until=steps, print_progress=False)
    return 1e6 * (time.perf_counter() - t0) / steps
