"""Assemble one mosaik world from a scenario and run it.

Data flow inside one electrical step ``t`` (see docs/architecture.md)::

    Ambient ──temp_c──► PV                                      (slow: 60 s)
    Ambient ──temp_c, wet bulb──► DataCenter                    (held between its steps)
    PV ──pv_avail (trajectory)──► Grid                          (slow: 60 s)
    DataCenter ──IT served (mean, in-step min/max), IT demand,
                 pumps/fans/chiller power──► Grid               (every step)
    Grid ──bess_p_mw──► Fleet
    Ambient ──temp_amb_c──► Fleet, PV ──ghi_w_m2──► Fleet      (slow: held between steps)
    Grid, Fleet ──measurements──► Controller
    Controller ══PV limits══► Grid                              (time-shifted: used at t+1)
    Controller ══shed tiers══► DataCenter                       (time-shifted)
    Controller ══pack weights══► Fleet                          (time-shifted)
    Fleet ══block power limits══► Grid                          (time-shifted)
    every simulator ──record──► RowSink (a data sink outside the data flow)

The two feedback paths (controller -> plant, fleet limits -> grid) are
time-shifted connections with explicit initial data, so there is no
algebraic loop inside a step and the step order is fixed by the graph.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mosaik
import numpy as np
import pandapower as pp

from adapters.io.results import Accumulator, PackRecorder, ResultsWriter, RowSink, plot_overview
from adapters.sims.base import SimulationAborted
from twin.config import Scenario
from twin.grid.powerflow import apply_injections
from twin.site import Site, build_site

SIM_CONFIG = {
    "Ambient": {"python": "adapters.sims.ambient:AmbientSim"},
    "PV": {"python": "adapters.sims.pv:PVSim"},
    "DataCenter": {"python": "adapters.sims.datacenter:DataCenterSim"},
    "Grid": {"python": "adapters.sims.grid:GridSim"},
    "Fleet": {"python": "adapters.sims.fleet:FleetSim"},
    "Controller": {"python": "adapters.sims.controller:ControllerSim"},
    "HIL": {"python": "adapters.sims.hil:HilSim"},  # started by `twin hil` only
}


@dataclass
class RunResult:
    status: str  # completed | interrupted | failed
    summary: dict[str, Any]
    out_dir: Path
    site: Site
    sim_wall_s: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = None


def _resolved_toml(sc: Scenario) -> str:
    import tomli_w

    data = sc.model_dump(mode="json", by_alias=True, exclude_none=True)
    return tomli_w.dumps(data)


def simulator_periods(sc: Scenario) -> dict[str, float]:
    """Each simulator's period in seconds, in the order they are started."""
    m, step = sc.models, sc.run.step_s
    return {
        "Ambient": m.ambient.step_s,
        "PV": m.pv.step_s,
        "DataCenter": step,
        "Grid": step,
        "Fleet": step,
        "Controller": sc.controller.step_s or step,
    }


def wire(world: mosaik.World, e: dict[str, Any], initial: dict[str, Any]) -> None:
    """The connections of the twin's world (the graph in this module's docstring).

    ``e`` maps simulator names to their entity; ``initial`` holds the data the
    time-shifted connections deliver at the first step. The benchmark wires
    its no-op simulators with this same function.
    """
    world.connect(e["Ambient"], e["PV"], "temp_amb_c")
    world.connect(e["Ambient"], e["DataCenter"], "temp_amb_c", "temp_wb_c")
    world.connect(e["PV"], e["Grid"], "pv_avail_p_mw")
    world.connect(e["DataCenter"], e["Grid"], "dc_meas")  # one dict: IT mean/min/max, demand, cooling loads
    world.connect(e["Grid"], e["Fleet"], "bess_p_mw")
    world.connect(e["Ambient"], e["Fleet"], "temp_amb_c")  # the packs stand outdoors
    world.connect(e["PV"], e["Fleet"], "ghi_w_m2")  # sun on the enclosures
    world.connect(e["Grid"], e["Controller"], "grid_meas")  # bundles of measurements: one attribute each
    world.connect(e["Fleet"], e["Controller"], "fleet_meas")
    # Feedback paths, time-shifted: used one electrical step later, with explicit initial data.
    shifted = [
        ("Fleet", "Grid", ("bess_charge_max_p_mw", "bess_discharge_max_p_mw")),
        ("Controller", "Grid", ("pv_p_limit_mw",)),
        ("Controller", "DataCenter", ("shed_tier",)),
        ("Controller", "Fleet", ("pack_weights",)),
    ]
    for src, dst, attrs in shifted:
        world.connect(e[src], e[dst], *attrs, time_shifted=True, initial_data={a: initial[a] for a in attrs})


def run_scenario(
    sc: Scenario,
    out_dir: Path | str,
    *,
    scenario_name: str = "",
    progress: bool = True,
    solver: str | None = None,
    hil: Any = None,
) -> RunResult:
    """Build the site, run the co-simulation and write the results folder. With ``hil``
    (:class:`adapters.hil_sim.HilOptions`) packs of the fleet are handed to BMSs on a serial line and the
    run is paced by the wall clock unless the options say lockstep."""
    from adapters.io.scenario_file import load_inventory

    out = Path(out_dir)
    t_build = time.perf_counter()
    site = build_site(sc, solver=solver, inventory=load_inventory(sc))
    t_build = time.perf_counter() - t_build
    run = sc.run
    meta = {
        "step_s": run.step_s,
        "n_packs": site.fleet.inv.n_packs,
        "n_buses": len(site.net.bus),
        "fleet_e_max_mwh": round(float(site.fleet.e_max_mwh.sum()), 3),
        "extra": {"solver": site.grid.solver.name, "controller": sc.controller.class_path},
    }
    writer = ResultsWriter(out, scenario_name=scenario_name or sc.name, meta=meta, chunk_rows=run.chunk_rows)
    writer.events = site.events
    tot0 = site.fleet.totals()
    writer.e_start_mwh, writer.soc_start = tot0["e_stored_mwh"], tot0["soc_frac"]
    (out / "scenario.toml").write_text(_resolved_toml(sc))
    writer.write_summary(status="running")

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=sc.n_steps, unit="step", desc=scenario_name or "twin", mininterval=0.5, dynamic_ncols=True, leave=True
        )
    acc = Accumulator(run.step_s, sc.models.grid.v_band_pu)
    writer.acc = acc
    every = run.record_every_s or run.step_s  # a whole multiple of step_s (twin.config.cross_check)
    sink = RowSink(writer, acc, run.step_s, sc.n_steps, int(round(every / run.step_s)), progress=bar)
    if sc.models.fleet.record_packs_every_s:
        sink.packs = PackRecorder(out, site.fleet.inv.pack_id, site.fleet.inv.block)

    world = mosaik.World(SIM_CONFIG, time_resolution=run.step_s, skip_greetings=True, configure_logging=False)
    registry: dict[str, Any] = {}  # simulator objects by model name, for the timing split
    status, error = "completed", None
    interrupted = {"flag": False}
    old_int = signal.getsignal(signal.SIGINT)
    old_term = signal.getsignal(signal.SIGTERM)

    def _on_signal(signum: int, frame: Any) -> None:
        interrupted["flag"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    t_loop: float | None = None
    try:
        e = {}
        for name, period in simulator_periods(sc).items():
            f = world.start(name, site=site, period_s=period, registry=registry, sink=sink)
            e[name] = getattr(f, name)()
        if hil is not None:
            f = world.start("HIL", site=site, period_s=run.step_s, registry=registry, sink=sink, hil=hil)
            e["HIL"] = f.HIL()
            world.connect(e["HIL"], e["Fleet"], "hil_ok")  # HIL at t before the fleet at t
            world.connect(
                e["Fleet"],
                e["HIL"],
                "fleet_meas",
                time_shifted=True,  # ... and after the fleet at t-1
                initial_data={"fleet_meas": {}},
            )
        ch0, dis0 = site.fleet.limits(run.step_s)
        wire(
            world,
            e,
            initial={
                "bess_charge_max_p_mw": ch0,
                "bess_discharge_max_p_mw": dis0,
                "pv_p_limit_mw": np.full(site.info.n_pv_blocks, np.inf),  # no limit
                "shed_tier": np.zeros(site.info.n_spark_units, dtype=np.int64),
                "pack_weights": np.empty(0),  # the fleet's reference split
            },
        )
        t_loop = time.perf_counter()
        world.run(until=sc.n_steps, print_progress=False)
        if interrupted["flag"] or acc.steps < sc.n_steps:
            status = "interrupted"
            site.log(acc.t_end_s, "interrupted", "run stopped by a signal (Ctrl-C)")
    except KeyboardInterrupt:
        status = "interrupted"
        site.log(acc.t_end_s, "interrupted", "run stopped by a signal (Ctrl-C)")
    except SimulationAborted as exc:
        status, error = "failed", exc
    except Exception as exc:  # any simulator's error fails the run with that error
        status, error = "failed", exc
        site.log(acc.t_end_s, "error", f"{type(exc).__name__}: {exc}")
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        if bar is not None:
            bar.update(sink.next - bar.n)  # the rows since the last update
            bar.close()
        try:
            world.shutdown()
        except Exception:  # the loop may already be closed after an error
            pass
        if "HIL" in registry:
            registry["HIL"].close()  # the port and the session file, whatever happened
    t_fin = time.perf_counter()
    loop_s = t_fin - t_loop if t_loop is not None else 0.0
    writer.flush()
    ts = writer.join_parts()
    if sink.packs is not None:
        sink.packs.join()
    site.fleet.apply_ageing(force=True)  # the stress since the last daily update
    meta["extra"]["fleet"] = site.fleet.summary()
    dcs = site.datacenter.summary()
    meta["extra"]["datacenter"] = dcs
    meta["extra"]["gpu_temp_c_max"] = dcs["gpu_temp_c_max"]
    if "HIL" in registry:
        meta["extra"]["hil"] = registry["HIL"].summary()
    dc_sim = registry.get("DataCenter")
    if dc_sim is not None and dc_sim.fine_rows:
        _write_fine_it(out / "it_fine.parquet", dc_sim.fine_rows, site.datacenter.fine_step_s)
    _write_network(site, out / "network.json")
    if ts.exists():
        plot_overview(ts, out / "overview.png", f"{scenario_name or sc.name} ({status})")
    msg = None if error is None else f"{type(error).__name__}: {error}"
    meta["extra"]["timing_s"] = {
        "build": round(t_build, 3),
        "loop": round(loop_s, 3),
        "finalize": round(time.perf_counter() - t_fin, 3),
    }
    summary = writer.write_summary(status=status, error=msg)
    walls = {name: sim.wall_s for name, sim in registry.items()}
    walls["RowSink"] = sink.wall_s
    return RunResult(status=status, summary=summary, out_dir=out, site=site, error=error, sim_wall_s=walls)


def _write_fine_it(path: Path, rows: list[np.ndarray], fine_step_s: float) -> None:
    """The site's served IT power at the fine step (``models.datacenter.record_fine_it``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = np.concatenate(rows)
    pq.write_table(pa.table({"time_s": np.arange(p.size) * fine_step_s, "it_p_mw": p}), path)


def _write_network(site: Site, path: Path) -> None:
    """The pandapower net with the injections of the last solved step."""
    net = site.net
    last = site.grid.last_injections
    if last.gen_in_service.any():
        apply_injections(net, last)
    pp.to_json(net, str(path))
