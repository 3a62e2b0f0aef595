"""Assemble one mosaik world from a scenario and run it: build, run, finish.

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
    Controller ══shed tiers, IT caps══► DataCenter              (time-shifted)
    Controller ══pack weights══► Fleet                          (time-shifted)
    Fleet ══block power limits══► Grid                          (time-shifted)
    HIL ──hil_ok──► Fleet, Fleet ══fleet_meas══► HIL            (``twin hil`` only)
    every simulator ──record──► RowSink (a data sink outside the data flow)

The two feedback paths (controller -> plant, fleet limits -> grid) are
time-shifted connections with explicit initial data, so there is no
algebraic loop inside a step and the step order is fixed by the graph.

:func:`run_scenario` is the public entry (``twin run``, ``twin hil``, the
benchmark) and does three things in turn:

* :func:`build`: the site's models, the results writer (which owns every file
  of the results folder) and the row sink, and an empty mosaik world;
* :func:`run`: the simulators started and wired (:func:`start_simulators`,
  :func:`wire`), then the loop, with the progress bar and the SIGINT/SIGTERM
  handler; any exception, from a simulator's ``init`` as from a step, ends
  the run as ``failed`` (docs/architecture.md "Any other error");
* :func:`finish`: the fleet's pending ageing and the models' books handed to
  the writer, which joins and writes the results folder, however the run ended.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mosaik
import numpy as np
from mosaik.async_scenario import SimConfig

from adapters.io.results import ResultsWriter
from adapters.io.rows import Accumulator, RowSink
from adapters.sims.base import SimulationAborted
from twin.config import Scenario
from twin.errors import TelemetryError
from twin.grid.powerflow import apply_injections
from twin.site import Site, build_site, start_timestamp

__all__ = [
    "SIM_CONFIG",
    "Outcome",
    "RunResult",
    "Twin",
    "build",
    "finish",
    "initial_data",
    "run",
    "run_scenario",
    "simulator_periods",
    "start_simulators",
    "wire",
]

SIM_CONFIG: SimConfig = {
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


@dataclass
class Twin:
    """What :func:`build` assembled: the models, the results side and the (not yet started) world."""

    sc: Scenario
    site: Site
    writer: ResultsWriter
    sink: RowSink
    world: mosaik.World
    hil: Any = None  # adapters.sims.hil.HilOptions: the HIL simulator is started too
    plant: Any = None  # hil.plant.link.ControllerLink: an external controller on the plant's Modbus devices
    registry: dict[str, Any] = field(default_factory=dict)  # simulator objects by model name
    t_build_s: float = 0.0
    influx: Any = None  # adapters.io.influx.sink.InfluxSink: the run's telemetry to InfluxDB

    @property
    def acc(self) -> Accumulator:
        return self.sink.acc


@dataclass
class Outcome:
    """How :func:`run` ended."""

    status: str  # completed | interrupted | failed
    error: BaseException | None = None
    loop_s: float = 0.0  # wall time of the loop (0 when it never started)


# --------------------------------------------------------------------------- wiring
def simulator_periods(sc: Scenario) -> dict[str, float]:
    """Each simulator's period in seconds, in the order they are started (HIL aside)."""
    m, step = sc.models, sc.run.step_s
    return {
        "Ambient": m.ambient.step_s,
        "PV": m.pv.step_s,
        "DataCenter": step,
        "Grid": step,
        "Fleet": step,
        "Controller": sc.controller.step_s or step,
    }


def initial_data(site: Site, step_s: float) -> dict[str, Any]:
    """What the time-shifted connections deliver at the first step."""
    ch0, dis0 = site.fleet.limits(step_s)
    return {
        "bess_charge_max_p_mw": ch0,
        "bess_discharge_max_p_mw": dis0,
        "pv_p_limit_mw": np.full(site.info.n_pv_blocks, np.inf),  # no limit
        "shed_tier": np.zeros(site.info.n_spark_units, dtype=np.int64),
        "it_p_cap_mw": np.empty(0),  # no cap
        "pack_weights": np.empty(0),  # the fleet's reference split
    }


def wire(world: mosaik.World, e: dict[str, Any], initial: dict[str, Any]) -> None:
    """The connections of the twin's world (the graph in this module's docstring).

    ``e`` maps simulator names to their entity (with ``"HIL"`` when the HIL
    simulator runs); ``initial`` holds the data the time-shifted connections
    deliver at the first step. The benchmark wires its no-op simulators with
    this same function.
    """
    if "HIL" in e:
        world.connect(e["HIL"], e["Fleet"], "hil_ok")  # HIL at t before the fleet at t
        # ... and after the fleet at t-1 (no measurement before the first step)
        world.connect(e["Fleet"], e["HIL"], "fleet_meas", time_shifted=True, initial_data={"fleet_meas": {}})
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
        ("Controller", "DataCenter", ("shed_tier", "it_p_cap_mw")),
        ("Controller", "Fleet", ("pack_weights",)),
    ]
    for src, dst, attrs in shifted:
        world.connect(e[src], e[dst], *attrs, time_shifted=True, initial_data={a: initial[a] for a in attrs})


def start_simulators(tw: Twin) -> dict[str, Any]:
    """Start every simulator of the world (HIL last, when asked for) and wire them; their entities by name."""
    world, site, step = tw.world, tw.site, tw.sc.run.step_s
    common: dict[str, Any] = {"site": site, "registry": tw.registry, "sink": tw.sink}
    e = {}
    for name, period in simulator_periods(tw.sc).items():
        extra = {"plant": tw.plant} if name == "Controller" and tw.plant is not None else {}
        f = world.start(name, period_s=period, **common, **extra)
        e[name] = getattr(f, name)()
    if tw.hil is not None:
        e["HIL"] = world.start("HIL", period_s=step, hil=tw.hil, **common).HIL()
    wire(world, e, initial_data(site, step))
    return e


# --------------------------------------------------------------------------- build, run, finish
def _resolved_toml(sc: Scenario) -> str:
    import tomli_w

    data = sc.model_dump(mode="json", by_alias=True, exclude_none=True)
    return tomli_w.dumps(data)


def build(
    sc: Scenario,
    out_dir: Path | str,
    *,
    scenario_name: str = "",
    solver: str | None = None,
    hil: Any = None,
    recorded: Any = None,
    controller_replay: Path | None = None,
    controller_port: int | None = None,
    influx: Any = None,
) -> Twin:
    """The site's models, the results writer (``scenario.toml`` and a first ``summary.json`` written),
    the row sink and an empty world. ``recorded``: the scenario's field data
    (:class:`adapters.io.telemetry.load.Recorded`; its scenario, with the events it fires, is the one run).
    ``[controller.external] owns`` (or ``controller_replay``, a recorded controller session): the plant's
    devices on a Modbus TCP server for a controller outside the process (``controller_port`` overrides the
    scenario's port). ``influx`` (:class:`adapters.io.influx.sink.InfluxOptions`): the run streams to InfluxDB;
    the server is checked first, before anything is built (a refusal is an :class:`InputError`)."""
    t0 = time.perf_counter()
    if recorded is not None:
        sc = recorded.scenario
    tel = _open_influx(influx, sc, out_dir, scenario_name) if influx is not None else None
    if tel is None:  # an earlier run's influx.json would name the wrong run for `twin influx-flush --all`
        (Path(out_dir) / "influx.json").unlink(missing_ok=True)
    try:
        tw = _build(sc, out_dir, t0, scenario_name, solver, hil, recorded, controller_replay, controller_port)
    except BaseException:
        if tel is not None:
            tel.abort()
        raise
    if tel is not None:
        tw.influx = tel
        tw.writer.attach_telemetry(tel)
    return tw


def _open_influx(opts: Any, sc: Scenario, out_dir: Path | str, scenario_name: str) -> Any:
    from adapters.io.influx.sink import InfluxSink, run_id, start_ms_of

    name = scenario_name or sc.name
    tags = {"site": sc.site.name, "scenario": name, "run": opts.run_id or run_id(name)}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return InfluxSink(opts, Path(out_dir), tags, start_ms_of(start_timestamp(sc)))


def _build(
    sc: Scenario,
    out_dir: Path | str,
    t0: float,
    scenario_name: str,
    solver: str | None,
    hil: Any,
    recorded: Any,
    controller_replay: Path | None,
    controller_port: int | None,
) -> Twin:
    from adapters.io.scenario_file import load_inventory

    try:
        site = build_site(
            sc, solver=solver, inventory=load_inventory(sc), recorded=recorded.inputs if recorded else None
        )
    except ValueError as exc:
        if recorded is None:
            raise
        raise TelemetryError(
            f"building the site with the field data of {recorded.telemetry.mapping.path}: {exc}"
        ) from exc
    t_build = time.perf_counter() - t0
    run_cfg = sc.run
    meta: dict[str, Any] = {
        "step_s": run_cfg.step_s,
        "n_packs": site.fleet.inv.n_packs,
        "n_buses": len(site.net.bus),
        "fleet_e_max_mwh": round(float(site.fleet.e_max_mwh.sum()), 3),
        "extra": {"solver": site.grid.solver.name, "controller": sc.controller.class_path},
    }
    if recorded is not None:
        meta["extra"]["recorded"] = {**recorded.summary(), "statements": site.recorded}
    tot0 = site.fleet.totals()
    acc = Accumulator(run_cfg.step_s, sc.models.grid.v_band_pu)
    writer = ResultsWriter(
        out_dir,
        scenario_name=scenario_name or sc.name,
        meta=meta,
        chunk_rows=run_cfg.chunk_rows,
        acc=acc,
        events=site.events,
        e_start_mwh=tot0["e_stored_mwh"],
        soc_start=tot0["soc_frac"],
    )
    # with field data: the scenario as given, not with the events its tags fired (they fire again on a re-run)
    writer.write_scenario(_resolved_toml(recorded.base if recorded is not None else sc))
    writer.write_summary(status="running")
    if sc.models.fleet.record_packs_every_s:
        writer.record_packs(site.fleet.inv.pack_id, site.fleet.inv.block)
    every = run_cfg.record_every_s or run_cfg.step_s  # a whole multiple of step_s (twin.config.cross_check)
    sink = RowSink(writer, acc, run_cfg.step_s, sc.n_steps, int(round(every / run_cfg.step_s)))
    world = mosaik.World(SIM_CONFIG, time_resolution=run_cfg.step_s, skip_greetings=True, configure_logging=False)
    from adapters.sims.controller import open_controller_link

    plant = open_controller_link(sc, site, writer.out, replay=controller_replay, port=controller_port)
    return Twin(sc=sc, site=site, writer=writer, sink=sink, world=world, hil=hil, plant=plant, t_build_s=t_build)


def run(tw: Twin, *, progress: bool = True) -> Outcome:
    """Start the simulators and run the loop to the scenario's end, or until a signal or an error.

    Ctrl-C and SIGTERM end the run as ``interrupted`` (mosaik swallows
    ``KeyboardInterrupt``, hence the handler and the check that every step was
    done); any other exception as ``failed`` with that exception, logged as an
    ``error`` event (a :class:`SimulationAborted` was logged by its simulator).
    The world is shut down and the HIL port closed whatever happened.
    """
    sc, site, sink = tw.sc, tw.site, tw.sink
    bar = None
    if progress:
        from tqdm import tqdm

        desc = tw.writer.scenario_name or "twin"
        bar = tqdm(total=sc.n_steps, unit="step", desc=desc, mininterval=0.5, dynamic_ncols=True, leave=True)
    sink.progress = bar
    status: str = "completed"
    error: BaseException | None = None
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
        if tw.plant is not None:
            from adapters.sims.controller import start_state

            where = tw.plant.open(start_state(site, sc.run.step_s))
            if sc.controller.external.port == 0 and where:
                print(f"twin: the plant's Modbus TCP server listens on {where}")
        start_simulators(tw)
        t_loop = time.perf_counter()
        tw.world.run(until=sc.n_steps, print_progress=False)
        if interrupted["flag"] or tw.acc.steps < sc.n_steps:
            status = "interrupted"
            site.log(tw.acc.t_end_s, "interrupted", "run stopped by a signal (Ctrl-C)")
    except KeyboardInterrupt:
        status = "interrupted"
        site.log(tw.acc.t_end_s, "interrupted", "run stopped by a signal (Ctrl-C)")
    except SimulationAborted as exc:
        status, error = "failed", exc
    except Exception as exc:  # any simulator's error fails the run with that error
        status, error = "failed", exc
        site.log(tw.acc.t_end_s, "error", f"{type(exc).__name__}: {exc}")
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        if bar is not None:
            bar.update(sink.next - bar.n)  # the rows since the last update
            bar.close()
        try:
            tw.world.shutdown()
        except Exception:  # the loop may already be closed after an error
            pass
        if "HIL" in tw.registry:
            tw.registry["HIL"].close()  # the port and the session file, whatever happened
        if tw.plant is not None:
            tw.plant.close()  # St FINISHED, the session file, the server
    loop_s = time.perf_counter() - t_loop if t_loop is not None else 0.0
    return Outcome(status=status, error=error, loop_s=loop_s)


def finish(tw: Twin, outcome: Outcome) -> RunResult:
    """The models' books after the run (the fleet's pending ageing applied first) handed to the writer,
    which writes the results folder; the result of the run."""
    t_fin = time.perf_counter()
    site, writer, registry = tw.site, tw.writer, tw.registry
    writer.close_series()
    site.fleet.apply_ageing(force=True)  # the stress since the last daily update
    dcs = site.datacenter.summary()
    extra: dict[str, Any] = {"fleet": site.fleet.summary(), "datacenter": dcs, "gpu_temp_c_max": dcs["gpu_temp_c_max"]}
    if "HIL" in registry:
        extra["hil"] = registry["HIL"].summary()
    if tw.plant is not None:
        extra["controller_link"] = tw.plant.summary()
    if tw.influx is not None:
        writer.tap()  # the events logged since the last rows
        extra["influx"] = close_influx(tw.influx, site)
    dc_sim = registry.get("DataCenter")
    last = site.grid.last_injections
    if last.gen_in_service.any():  # the net with the injections of the last solved step
        apply_injections(site.net, last)
    error = outcome.error
    summary = writer.finish(
        outcome.status,
        None if error is None else f"{type(error).__name__}: {error}",
        extra=extra,
        net=site.net,
        fine_it=dc_sim.fine_rows if dc_sim is not None else (),
        fine_step_s=site.datacenter.fine_step_s,
        timing_s={"build": round(tw.t_build_s, 3), "loop": round(outcome.loop_s, 3)},
        finalize_t0=t_fin,
    )
    walls = {name: sim.wall_s for name, sim in registry.items()}
    walls["RowSink"] = tw.sink.wall_s
    return RunResult(
        status=outcome.status, summary=summary, out_dir=writer.out, site=site, error=error, sim_wall_s=walls
    )


def close_influx(sink: Any, site: Site) -> dict[str, Any]:
    """The sink's counts for the summary; what happened to it (server down and back, drops) into the event log."""
    try:
        stats = sink.close()
    except KeyboardInterrupt:  # a second Ctrl-C while the spool is sent: leave it for `twin influx-flush`
        sink.abort()
        from adapters.io.influx.sink import SPOOL_DIR, spool_lines

        stats = {
            "error": "interrupted while the sink sent its last points; they wait in the spool",
            "in_spool": spool_lines(sink.run_dir / SPOOL_DIR),
        }
    for inc in stats.pop("incidents", []):
        site.log(inc["time_s"], inc["kind"], f"{inc['detail']} (wall {inc['wall_s']:g} s into the run)")
    if "error" in stats:
        site.log(site.events[-1]["time_s"] if site.events else 0.0, "influx_error", stats["error"])
    return stats


def run_scenario(
    sc: Scenario,
    out_dir: Path | str,
    *,
    scenario_name: str = "",
    progress: bool = True,
    solver: str | None = None,
    hil: Any = None,
    recorded: Any = None,
    controller_replay: Path | None = None,
    controller_port: int | None = None,
    influx: Any = None,
) -> RunResult:
    """Build the site, run the co-simulation and write the results folder. With ``hil``
    (:class:`adapters.sims.hil.HilOptions`) packs of the fleet are handed to BMSs on a serial line and the
    run is paced by the wall clock unless the options say lockstep."""
    tw = build(
        sc,
        out_dir,
        scenario_name=scenario_name,
        solver=solver,
        hil=hil,
        recorded=recorded,
        controller_replay=controller_replay,
        controller_port=controller_port,
        influx=influx,
    )
    return finish(tw, run(tw, progress=progress))
