"""``make bench``: speed of the twin, with ratios and a per-component split.

Prints, for the default scenario (or ``--scenario``), simulated seconds per
wall second and the wall time per electrical step split by simulator, with
mosaik's own share as the rest; one battery-fleet step for 805 and 20,000
packs with its parts; then one power-flow solve of the site net by
each method (plain ``pandapower.runpp``, ``runpp`` with its recycle options,
the warm-started lightsim2grid model) and their ratios.

    python -m benchmarks.bench [--scenario FILE] [--hours H] [--solves N]
                               [--only fleet|datacenter|hil|controller|run|floor|solvers|influx]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "bench_controller",
    "bench_datacenter",
    "bench_fleet",
    "bench_hil",
    "bench_influx",
    "bench_mosaik_floor",
    "bench_run",
    "bench_solvers",
    "main",
]


def bench_run(path: str, hours: float | None, yardstick_steps: int = 20_000) -> float:
    """The scenario's run, split by simulator, then the machine's unit (benchmarks/yardstick.py: mosaik with no-op
    simulators on the frozen topology of 2026-12-03) and the loop as a multiple of it; returns that ratio."""
    from adapters.io.scenario_file import load_scenario
    from adapters.world import run_scenario

    sc = load_scenario(path)
    if hours is not None:
        sc = sc.model_copy(update={"run": sc.run.model_copy(update={"duration_s": hours * 3600.0})})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_scenario(sc, tmp, scenario_name=sc.name, progress=False)
        total = time.perf_counter() - t0
    s = res.summary
    n = s["n_steps"]
    sim_s = s["sim_time_s"]
    tm = s["timing_s"]
    loop = tm["loop"]
    print(f"scenario {sc.name}: {sim_s:g} s simulated at {sc.run.step_s:g} s steps ({n} steps), status {res.status}")
    print(
        f"  wall {total:.2f} s in all -> {sim_s / total:,.0f} x real time; "
        f"simulation loop {loop:.2f} s -> {sim_s / loop:,.0f} x real time"
    )
    print(
        f"  set-up {tm['build']:.2f} s (site, net, solver, PV clear sky), finalize {tm['finalize']:.2f} s "
        f"(join Parquet, plot, network.json)"
    )
    print(f"  per electrical step: {1e6 * loop / n:8.1f} us")
    parts = dict(sorted(res.sim_wall_s.items(), key=lambda kv: -kv[1]))
    inside = 0.0
    for name, w in parts.items():
        inside += w
        print(f"    {name:<12} {1e6 * w / n:8.1f} us/step  {100 * w / loop:5.1f} %")
    rest = loop - inside
    print(
        f"    {'mosaik':<12} {1e6 * rest / n:8.1f} us/step  {100 * rest / loop:5.1f} %  "
        f"(scheduler and data passing: the rest of the loop)"
    )
    grid = res.site.grid
    print(f"  power-flow solves per step: {grid.n_solves / max(n, 1):.3f}")
    from benchmarks.yardstick import yardstick_us_per_step

    unit = yardstick_us_per_step(yardstick_steps)
    ratio = (1e6 * loop / n) / unit
    print(
        f"  yardstick (mosaik, no-op simulators, the six-simulator topology of 2026-12-03, {yardstick_steps} steps): "
        f"{unit:.1f} us/step -> {86400 * unit / 1e6:.1f} s for a day"
    )
    print(f"  the loop is {ratio:.2f} x the yardstick (issue 16's target: at most 2.0)")
    return ratio


def bench_mosaik_floor(scenario: str, steps: int) -> float:
    """mosaik's own cost per step for the twin's topology: the same simulators,
    rates and connections as adapters/world.py, with simulators that do nothing."""
    from collections import defaultdict

    import mosaik
    from mosaik.async_scenario import SimConfig

    from adapters.io.scenario_file import load_scenario
    from adapters.world import SIM_CONFIG, simulator_periods, wire
    from benchmarks.yardstick import noop_class

    # the attributes the current wiring connects, read from it: a no-op simulator offers each as 0.0
    class _Recorder:
        def __init__(self) -> None:
            self.attrs: set[str] = set()
            self.shifted: set[str] = set()

        def connect(self, src: Any, dst: Any, *attrs: str, time_shifted: bool = False, **kw: Any) -> None:
            (self.shifted if time_shifted else self.attrs).update(attrs)

    rec = _Recorder()
    wire(rec, {n: n for n in SIM_CONFIG}, initial=defaultdict(float))  # type: ignore[arg-type]
    shifted = sorted(rec.shifted)
    Noop = noop_class(sorted(rec.attrs | rec.shifted))

    import sys

    mod = sys.modules[__name__]
    mod.__dict__["_Noop"] = Noop  # the python starter imports the class by module path
    sc = load_scenario(scenario)
    cfg: SimConfig = {n: {"python": f"{__name__}:_Noop"} for n in SIM_CONFIG}
    w = mosaik.World(cfg, time_resolution=sc.run.step_s, skip_greetings=True, configure_logging=False)
    periods = simulator_periods(sc)
    e = {n: w.start(n, period=int(round(periods[n] / sc.run.step_s))).M() for n in periods}
    wire(w, e, initial={a: 0.0 for a in shifted})
    t0 = time.perf_counter()
    w.run(until=steps, print_progress=False)
    per = (time.perf_counter() - t0) / steps
    print(
        f"mosaik alone on this topology (no-op simulators, {steps} steps): {1e6 * per:.1f} us/step "
        f"-> {86400 * per:.0f} s for a day at 1 s"
    )
    return per


def bench_solvers(n: int) -> None:
    import pandapower as pp

    from twin.config import Scenario
    from twin.grid.network import build_network
    from twin.grid.powerflow import Injections, LightSimSolver, PandapowerSolver

    net, ix = build_network(Scenario().site)
    rng = np.random.default_rng(0)

    def inj(k: int) -> Injections:
        sg = np.zeros(len(net.sgen))
        sg[ix.pv_sgen] = 1.2 + 0.3 * rng.random(ix.n_pv)
        lp = np.zeros(len(net.load))
        lp[ix.it_load] = 0.8 + 0.1 * rng.random(ix.n_spark)
        lp[ix.cooling_load] = 0.08 / 3  # pumps, fans, chiller
        lp[ix.aux_load] = 0.15
        return Injections(
            sgen_p_mw=sg,
            sgen_in_service=np.ones(len(net.sgen), bool),
            load_p_mw=lp,
            load_q_mvar=lp * 0.2,
            gen_p_mw=np.zeros(len(net.gen)),
            gen_in_service=np.ones(len(net.gen), bool),
            gen_slack_weight=net.gen.slack_weight.to_numpy().copy(),
        )

    cases = [inj(k) for k in range(n)]
    out = {}
    ref = PandapowerSolver(net)
    ref.solve(cases[0])  # numba compilation outside the timing
    t = time.perf_counter()
    for c in cases[: max(3, n // 20)]:
        ref.solve(c)
    out["pandapower.runpp"] = (time.perf_counter() - t) / max(3, n // 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, distributed_slack=True, lightsim2grid=False, recycle={"trafo": True, "bus_pq": True, "gen": True})
        t = time.perf_counter()
        m = max(3, n // 5)
        for c in cases[:m]:
            net.sgen["p_mw"] = c.sgen_p_mw
            net.load["p_mw"] = c.load_p_mw
            net.load["q_mvar"] = c.load_q_mvar
            pp.runpp(
                net,
                distributed_slack=True,
                lightsim2grid=False,
                init="results",
                recycle={"trafo": True, "bus_pq": True, "gen": True},
            )
        out["runpp recycle"] = (time.perf_counter() - t) / m
    fast = LightSimSolver(build_network(Scenario().site)[0])
    fast.solve(cases[0])
    t = time.perf_counter()
    for c in cases:
        fast.solve(c)
    out["lightsim2grid warm"] = (time.perf_counter() - t) / n
    base = out["pandapower.runpp"]
    print(f"one AC power flow of the site net ({len(net.bus)} buses, distributed slack over {len(net.gen)} blocks):")
    for k, v in out.items():
        print(f"    {k:<22} {1e6 * v:10.1f} us   {base / v:8.1f} x faster than plain runpp")


def _best_per_call_s(fn: Callable[[int], object], m: int, reps: int) -> float:
    """Best over ``reps`` batches of the mean time of one of ``m`` calls ``fn(k)``, k = 0 .. m - 1 (s)."""
    out = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        for k in range(m):
            fn(k)
        out = min(out, (time.perf_counter() - t) / m)
    return out


def bench_fleet(sizes: tuple[int, ...] = (805, 20000), reps: int = 5) -> None:
    """One fleet step (split, converter, circuit, thermal, BMS, limits for the next step, ageing
    stress) for fleets of several sizes, best of ``reps`` timed batches, with its parts."""
    from twin.config import FleetModelConfig
    from twin.fleet import BatteryFleet, draw_inventory

    print("one battery-fleet step (1 s), best of", reps, "batches:")
    for n in sizes:
        nb = max(12, n // 67)
        cfg = FleetModelConfig(n_packs=n, soc_start_frac=0.5)
        f = BatteryFleet(cfg, draw_inventory(cfg, nb, 7), nb, 15.0)
        p = np.full(nb, 0.8 * n / 805 * 12 / nb)
        for _ in range(20):  # compile and warm up
            f.step(1.0, p)
        m = max(20, 400_000 // n)

        def step(k: int, f: BatteryFleet = f, p: np.ndarray = p) -> None:
            f.step(1.0, p if (k // 50) % 2 else -p)  # 50 s charging, 50 s discharging

        def refresh(k: int, f: BatteryFleet = f) -> None:  # limits, weights and stats of the state (one pass)
            f._stale = True
            f._refresh(1.0)

        whole = _best_per_call_s(step, m, reps)
        ref = _best_per_call_s(refresh, m, reps)
        soc, temp, act = (np.ascontiguousarray(x) for x in (f.soc_frac, f.temp_c, f.active))

        def stress_add(k: int, f: BatteryFleet = f, x: tuple = (soc, temp, act)) -> None:  # ageing stress of a step
            if f.stress is not None:
                f.stress.add(1.0, *x)

        stress = _best_per_call_s(stress_add, m, reps) if f.stress is not None else 0.0
        print(
            f"    {n:6d} packs: {1e6 * whole:8.1f} us per step ({1e9 * whole / n:5.0f} ns per pack); "
            f"limits/stats refresh {1e6 * ref:7.1f} us, ageing stress {1e6 * stress:6.1f} us, "
            f"step kernel + Python {1e6 * (whole - ref - stress):7.1f} us"
        )


def bench_datacenter(reps: int = 5, m: int = 400) -> None:
    """One data-center step (1 s) of the pilot's 4 units, best of ``reps`` batches: GPU power
    synthesis at the fine step, caps, cooling plants; with the split of the parts."""
    from twin.config import DataCenterModelConfig, InferenceJobConfig, TrainingJobConfig
    from twin.datacenter.datacenter import DataCenter

    mixes = {
        "4 independent training jobs": DataCenterModelConfig(),
        "1 job in lockstep on 4 units": DataCenterModelConfig(jobs=(TrainingJobConfig(kind="training", name="big"),)),
        "training + inference on each unit": DataCenterModelConfig(
            jobs=(TrainingJobConfig(kind="training", racks=4), InferenceJobConfig(kind="inference", racks=4))
        ),
    }
    print(f"one data-center step (4 Spark units, 1 s at a 10 ms fine step), best of {reps} batches of {m}:")
    for label, cfg in mixes.items():
        dc = DataCenter(cfg, n_units=4, it_peak_mw=1.0, start_hour=12.0, seed=7, step_s=1.0)
        k = 0
        for _ in range(20):  # compile and warm up
            dc.step(float(k), 1.0, None, 30.0, 17.0)
            k += 1
        best = {"step": np.inf, "gpu": np.inf, "cooling": np.inf}
        for _ in range(reps):
            t = time.perf_counter()
            for _ in range(m):
                dc.step(float(k), 1.0, None, 30.0, 17.0)
                k += 1
            best["step"] = min(best["step"], (time.perf_counter() - t) / m)
            t = time.perf_counter()
            for _ in range(m):
                dc.gpu.samples(float(k), 1.0)
                k += 1
            best["gpu"] = min(best["gpu"], (time.perf_counter() - t) / m)
            it = np.full(4, 0.8)
            t = time.perf_counter()
            for _ in range(m):
                dc.cooling.step(1.0, it, 30.0, 17.0)
            best["cooling"] = min(best["cooling"], (time.perf_counter() - t) / m)
        rest = best["step"] - best["gpu"] - best["cooling"]
        print(
            f"    {label:<34} {1e6 * best['step']:7.1f} us per step: GPU synthesis {1e6 * best['gpu']:6.1f}, "
            f"cooling {1e6 * best['cooling']:5.1f}, caps and books {1e6 * rest:6.1f}"
        )


def bench_hil(steps: int = 120) -> None:
    """One bound pack in lockstep against `twin bms-emulator` (its own process) over a pseudo-terminal pair:
    wall per step split into the serial exchange and the rest of the twin, the bytes a pack-step puts on the
    wire and what they would take at 115200 baud 8E1 (a pseudo-terminal has no baud rate)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from adapters.io.scenario_file import load_scenario
    from adapters.sims.hil import HilOptions
    from adapters.world import run_scenario
    from hil.ptypair import PtyPair

    sc = load_scenario("scenarios/hil-one-pack.toml")
    sc = sc.model_copy(update={"run": sc.run.model_copy(update={"duration_s": float(steps)})})
    with tempfile.TemporaryDirectory() as tmp, PtyPair(link_a=f"{tmp}/a", link_b=f"{tmp}/b") as pair:
        emu = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "bms-emulator", "--port", pair.b, "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(2.0)
            opts = HilOptions(packs=list(sc.hil.packs), port=pair.a, realtime=False)
            t0 = time.perf_counter()
            res = run_scenario(sc, tmp, scenario_name=sc.name, progress=False, hil=opts)
            total = time.perf_counter() - t0
            lines = [json.loads(x) for x in Path(tmp, "session.jsonl").read_text().splitlines()[1:]]
        finally:
            emu.terminate()
            emu.wait(10)
    h = res.summary["hil"]
    walls = res.sim_wall_s
    n = h["steps"]
    per_step = lambda x: x / n * 1e3  # noqa: E731 - ms per step
    hil_ms = per_step(walls.get("HIL", 0.0))
    rest_ms = per_step(sum(v for k, v in walls.items() if k != "HIL"))
    stepped = [r for r in lines if r.get("k", -1) >= 1 and "out" in r]
    n_bytes = sum(len(r["tx"]) + len(r["rx"]) for r in stepped) // 2 / max(1, n - 1)
    wire_ms = n_bytes * 11 / 115200 * 1e3
    print(
        f"HIL, one pack in lockstep against the emulator over a pty pair: {n} steps in {total:.2f} s "
        f"({res.summary['timing_s']['loop'] / n * 1e3:.1f} ms per step in the loop)"
    )
    print(
        f"  HIL simulator {hil_ms:.2f} ms per step (serial exchange p50 {h['io_ms']['p50']:.2f} ms, "
        f"p99 {h['io_ms']['p99']:.2f} ms; {h['exchanges'] / n:.1f} transactions), the other simulators "
        f"and the sink {rest_ms:.2f} ms"
    )
    print(
        f"  on the wire: {n_bytes:.0f} bytes per pack-step -> {wire_ms:.1f} ms at 115200 baud 8E1; "
        f"the exchange here is {h['io_ms']['p50'] / 1e3 * 100:.1f} % of a 1 s step and "
        f"{h['io_ms']['p50'] / 1e2 * 100:.1f} % of a 0.1 s step"
    )


def bench_controller(steps: int = 300) -> None:
    """The reference controller over the wire in lockstep (`twin controller` in its own process) on the pilot
    site: wall per step split into the twin's simulators, the wait for the controller's cycle, the requests
    per step; against the same steps with the controller in the process."""
    import os
    import socket
    import subprocess
    import sys

    from adapters.io.scenario_file import load_scenario
    from adapters.world import run_scenario

    sc = load_scenario("scenarios/pilot-1h.toml")
    sc = sc.model_copy(update={"run": sc.run.model_copy(update={"duration_s": float(steps)})})
    with tempfile.TemporaryDirectory() as tmp:
        res0 = run_scenario(sc, f"{tmp}/in", scenario_name=sc.name, progress=False)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        ext = sc.controller.external.model_copy(update={"owns": ("pv", "spark"), "mode": "lockstep", "port": port})
        sc1 = sc.model_copy(update={"controller": sc.controller.model_copy(update={"external": ext})})
        ctl = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import time; time.sleep(1.5); from hil.plant.client import run_controller; "
                f"run_controller('127.0.0.1', {port})",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ},
        )
        try:
            res = run_scenario(sc1, f"{tmp}/wire", scenario_name=sc.name, progress=False)
        finally:
            ctl.wait(30)
    n = res.summary["n_steps"]
    link = res.summary["controller_link"]
    loop0, loop1 = res0.summary["timing_s"]["loop"], res.summary["timing_s"]["loop"]
    wait_ms = link["wait_ms"]
    twin_ms = sum(v for k, v in res.sim_wall_s.items() if k != "Controller") / n * 1e3
    print(
        f"controller over the wire, lockstep, pilot site: {n} steps in {loop1:.2f} s "
        f"({loop1 / n * 1e3:.1f} ms per step; in process {loop0 / n * 1e3:.2f} ms, {loop1 / loop0:.1f} x)"
    )
    print(
        f"  waiting for the controller's cycle p50 {wait_ms['p50']:.2f} / p99 {wait_ms['p99']:.2f} ms; the twin's "
        f"simulators {twin_ms:.2f} ms per step; {link['transactions'] / n:.1f} requests per step "
        f"({link['writes_accepted'] / n:.1f} points written)"
    )


def bench_influx(path: str, hours: float | None, pairs: int = 3) -> None:
    """The day without the InfluxDB sink and with it, alternating (the machine's drift cancels), against a real
    VictoriaMetrics on loopback (Debian's victoria-metrics; skipped without it), then once with the server gone
    after the first point (everything spooled). The sink's cost per step is the difference of the loops; the
    sink process's and the server's CPU are reported apart (on a 2-core machine they share the other core)."""
    import shutil
    import threading
    from pathlib import Path

    from adapters.io.influx.sink import InfluxOptions
    from adapters.io.influx.target import InfluxTarget
    from adapters.io.scenario_file import load_scenario
    from adapters.world import run_scenario
    from tests.integration.vm_support import VM_BINARY, VictoriaMetrics

    if not Path(VM_BINARY).exists():
        print("influx: victoria-metrics is not installed (apt-get install victoria-metrics); skipped")
        return
    sc = load_scenario(path)
    if hours is not None:
        sc = sc.model_copy(update={"run": sc.run.model_copy(update={"duration_s": hours * 3600.0})})

    import os

    def cpu_s(pid: int) -> float:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    loops: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp, VictoriaMetrics(Path(tmp) / "vm") as vm:
        target = InfluxTarget(url=vm.url, org="bench", bucket="twin", token="bench")
        stats: dict[str, Any] = {}
        vm_cpu: list[float] = []
        for k in range(pairs):
            for mode in ("without", "with"):
                opts = InfluxOptions(target=target) if mode == "with" else None
                assert vm.proc is not None
                c0 = cpu_s(vm.proc.pid)
                res = run_scenario(sc, f"{tmp}/{mode}{k}", scenario_name=sc.name, progress=False, influx=opts)
                loops[mode].append(res.summary["timing_s"]["loop"])
                if mode == "with":
                    stats = res.summary["influx"]
                    vm_cpu.append(cpu_s(vm.proc.pid) - c0)
                shutil.rmtree(f"{tmp}/{mode}{k}", ignore_errors=True)
        n = res.summary["n_steps"]
        a, b = min(loops["without"]), min(loops["with"])
        print(f"influx sink, {sc.name}: {n} steps, best of {pairs} alternating runs each")
        print(
            f"  loop without the sink {a:.2f} s, with it {b:.2f} s: ratio {b / a:.3f}; "
            f"the sink's cost {1e6 * (b - a) / n:+.1f} us per step ({100 * (b - a) / a:+.1f} % of the day)"
        )
        runs = {m: ", ".join(f"{x:.2f}" for x in v) for m, v in loops.items()}
        print(f"  all runs: without {runs['without']} s; with {runs['with']} s")
        print(
            f"  {stats['points']:,} points ({stats['points'] / n:.1f} per step), "
            f"{stats['bytes_written'] / 1e6:.0f} MB, "
            f"{stats['requests']} requests; the run's thread in the sink's calls {stats['run_thread_s']} s; "
            f"sink process formatting {stats['format_cpu_s']} s CPU; "
            f"VictoriaMetrics {vm_cpu[-1]:.1f} s CPU"
        )

        # the server gone after the first point: the run spools everything and does not wait
        def stop_after_first(out: Path) -> None:
            while not (out / "influx.json").exists():
                time.sleep(0.01)
            vm.kill()

        out = Path(tmp) / "down"
        threading.Thread(target=stop_after_first, args=(out,), daemon=True).start()
        opts = InfluxOptions(target=target, flush_timeout_s=0.0)
        res = run_scenario(sc, out, scenario_name=sc.name, progress=False, influx=opts)
        s = res.summary["influx"]
        c = res.summary["timing_s"]["loop"]
        print(
            f"  server gone after the first point: loop {c:.2f} s (ratio {c / a:.3f} to without); "
            f"{s['spooled']:,} points spooled, {s['in_spool']:,} left for twin influx-flush, {s['dropped']} dropped"
        )


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench")
    ap.add_argument("--scenario", default="scenarios/pilot-summer-day.toml")
    ap.add_argument("--hours", type=float, default=None, help="simulate only this many hours")
    ap.add_argument("--solves", type=int, default=2000)
    ap.add_argument("--floor-steps", type=int, default=20000)
    ap.add_argument(
        "--only",
        choices=["run", "floor", "solvers", "fleet", "datacenter", "hil", "controller", "influx"],
        default=None,
    )
    a = ap.parse_args()
    parts: dict[str, Callable[[], object]] = {
        "fleet": bench_fleet,
        "datacenter": bench_datacenter,
        "hil": bench_hil,
        "controller": bench_controller,
        "run": lambda: bench_run(a.scenario, a.hours, a.floor_steps),
        "floor": lambda: bench_mosaik_floor(a.scenario, a.floor_steps),
        "solvers": lambda: bench_solvers(a.solves),
        "influx": lambda: bench_influx(a.scenario, a.hours),
    }
    for name, part in parts.items():  # all of them in this order, or the one asked for
        if a.only in (None, name):
            part()


if __name__ == "__main__":
    main()
