"""mosaik simulator around the microgrid controller (reference or user-supplied), and the controller link.

With a controller link (``[controller.external]``, `twin run --external`), the step's measurements also go
to the plant's SunSpec Modbus TCP devices (:mod:`hil.plant`) and the groups of devices the external
controller owns take their setpoints from there (PV limits, shed tiers and IT caps, breaker operations);
the in-process controller keeps the rest. Setpoints act from the next electrical step either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mosaik_api_v3.types import Meta

from adapters.sims.base import ModelSim
from twin.config import Scenario
from twin.config.events import RestoreBessBlock, RestorePvBlock, TripBessBlock, TripPvBlock
from twin.controller import Measurements, Setpoints
from twin.site import Site

if TYPE_CHECKING:
    from hil.plant.coupling import PlantState

__all__ = ["ControllerSim", "open_controller_link", "start_state"]

SESSION_FILE = "controller_session.jsonl.gz"


def open_controller_link(
    sc: Scenario, site: Site, out_dir: Path, *, replay: Path | None = None, port: int | None = None
) -> Any:
    """The controller link of a run with ``[controller.external] owns`` (None without): the plant's devices on
    a server (not started yet: :meth:`hil.plant.link.ControllerLink.start`), their coupling and the clock,
    recording to the results folder; or, with ``replay``, a recorded session in the controller's place."""
    from hil.plant.coupling import PlantCoupling
    from hil.plant.devices import plant_devices
    from hil.plant.link import ControllerLink, ReplayControllerLink, session_header
    from hil.plant.server import PlantServer
    from hil.plant.session import ControllerSession

    ext = sc.controller.external
    session = ControllerSession.read(replay) if replay is not None else None
    owns = list(session.header.get("owns", [])) if session is not None else list(ext.owns)
    if not owns:
        return None
    if sc.controller.step_s is not None and abs(sc.controller.step_s - sc.run.step_s) > 1e-9:
        from twin.errors import InputError

        raise InputError(
            f"[controller] step_s = {sc.controller.step_s:g} with an external controller: the controller link "
            f"exchanges every electrical step (run.step_s = {sc.run.step_s:g}); remove [controller] step_s"
        )
    realtime = ext.mode == "realtime" and session is None
    shown_realtime = session.header.get("mode") == "realtime" if session is not None else realtime
    server = PlantServer(
        plant_devices(sc.site, n_shed_tiers=site.info.n_shed_tiers),
        host=ext.host,
        port=ext.port if port is None else port,
        allow=ext.allow or None,
        max_connections=ext.max_connections,
        max_requests_per_s=ext.max_requests_per_s,
    )
    coupling = PlantCoupling(server, owns, step_s=sc.run.step_s, realtime=shown_realtime, log=site.log)
    kw: dict[str, Any] = {
        "step_s": sc.run.step_s,
        "log": site.log,
        "connect_timeout_s": ext.connect_timeout_s,
        "cycle_timeout_s": ext.cycle_timeout_s,
        "overrun_frac": ext.overrun_frac,
        "max_overruns": ext.max_overruns,
    }
    if session is not None:
        return ReplayControllerLink(server, coupling, session, **kw)
    path = out_dir / SESSION_FILE if ext.record else None
    header = session_header(ext.mode, kw["step_s"], owns, server, sc.name)
    return ControllerLink(server, coupling, realtime=realtime, session_path=path, header=header, **kw)


def start_state(site: Site, dt_s: float) -> PlantState:
    """What the devices show before the first step: the fleet at rest with its limits, nothing flowing."""
    from hil.plant.coupling import PlantState

    info = site.info
    ch, dis = site.fleet.limits(dt_s)
    soc, (e, e_max) = site.fleet.block_soc_frac(), site.fleet.block_energy_mwh()
    z_pv, z_it = np.zeros(info.n_pv_blocks), np.zeros(info.n_spark_units)
    return PlantState(
        0,
        0.0,
        np.zeros(info.n_bess_blocks),
        ch,
        dis,
        soc,
        e,
        e_max,
        site.grid.bess_in_service.copy(),
        z_pv,
        z_pv,
        site.grid.pv_in_service.copy(),
        z_it,
        z_it,
        z_it,
        z_it,
        z_it,
        0.0,
        0.0,
        float(site.scenario.site.aux.p_mw),
        frequency_hz=float(site.scenario.site.frequency_hz),
    )


class ControllerSim(ModelSim):
    MODEL = "Controller"
    ATTRS = ["pv_p_limit_mw", "shed_tier", "it_p_cap_mw", "pack_weights"]
    INPUTS = ["grid_meas", "fleet_meas"]
    # recorded alarms (field data) reach the controller's side of the site: logged at their own time
    EVENT_KINDS = frozenset({"alarm"})
    FIELDS = [
        "soc_frac",
        "e_stored_mwh",
        "bess_p_mw",
        "bess_charge_max_p_mw",
        "bess_discharge_max_p_mw",
        "pv_avail_p_mw",
        "pv_p_mw",
        "it_demand_p_mw",
        "it_p_mw",
        "cooling_p_mw",
        "aux_p_mw",
        "losses_p_mw",
        "pack_soc_frac",
        "pack_in_service",
        "it_max_p_mw",
        "it_site_max_p_mw",
    ]

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Meta:
        """``plant``: the run's controller link (:func:`open_controller_link`), if any; the rest is
        :meth:`ModelSim.init`'s."""
        self.link = sim_params.pop("plant", None)
        return super().init(sid, time_resolution, **sim_params)

    def setup(self) -> None:
        info = self.site.info
        self._no_limit = np.full(info.n_pv_blocks, np.inf)
        self._no_shed = np.zeros(info.n_spark_units, dtype=np.int64)
        self._no_cap = np.empty(0)  # "no cap" travels as an empty array: the data center skips the cap
        self._no_weights = np.empty(0)
        self._tier = 0
        self.events = self.event_queue()
        if self.link is not None:  # before the clock runs: the controller discovers the plant and says it is ready
            self.link.connect()  # the start state was published before the server listened (world.run)

    # -- the controller link -------------------------------------------------------------------------
    def _plant_state(self, t_s: float, m: Measurements) -> PlantState:
        from hil.plant.coupling import PlantState

        site = self.site
        dc = self.registry["DataCenter"].out if "DataCenter" in self.registry else {}
        soc, (e, e_max) = self.site.fleet.block_soc_frac(), self.site.fleet.block_energy_mwh()
        it_min = dc.get("it_min_p_mw", m.it_p_mw)
        return PlantState(
            steps_done=int(round((t_s + self.dt_s) / self.dt_s)),  # exchanges done (StepCnt)
            t_end_s=t_s + self.dt_s,
            bess_p_mw=m.bess_p_mw,
            bess_charge_max_p_mw=m.bess_charge_max_p_mw,
            bess_discharge_max_p_mw=m.bess_discharge_max_p_mw,
            bess_soc_frac=soc,
            bess_e_stored_mwh=e,
            bess_e_max_mwh=e_max,
            bess_in_service=site.grid.bess_in_service,
            pv_p_mw=m.pv_p_mw,
            pv_avail_p_mw=m.pv_avail_p_mw,
            pv_in_service=site.grid.pv_in_service,
            it_p_mw=m.it_p_mw,
            it_demand_p_mw=m.it_demand_p_mw,
            it_min_p_mw=it_min,
            it_max_p_mw=m.it_max_p_mw if m.it_max_p_mw is not None else m.it_p_mw,
            cooling_p_mw=m.cooling_p_mw,
            it_site_min_p_mw=float(dc.get("it_site_min_p_mw", float(np.sum(m.it_p_mw)))),
            it_site_max_p_mw=float(m.it_site_max_p_mw if m.it_site_max_p_mw is not None else np.sum(m.it_p_mw)),
            aux_p_mw=m.aux_p_mw,
            frequency_hz=float(site.scenario.site.frequency_hz),
            gpu_temp_c=dc.get("gpu_temp_c"),
            gpu_temp_max_c=dc.get("gpu_temp_max_c"),
            coolant_temp_c=dc.get("coolant_temp_c"),
            regime_idx=dc.get("regime_idx"),
        )

    def _switch(self, t_next_s: float, sw: Any) -> None:
        """A breaker the external controller operated: the block's trip or restore event at the next step."""
        kind = f"{'restore' if sw.close else 'trip'}_{sw.elem}_block"
        events: dict[str, Any] = {
            "trip_bess_block": TripBessBlock,
            "restore_bess_block": RestoreBessBlock,
            "trip_pv_block": TripPvBlock,
            "restore_pv_block": RestorePvBlock,
        }
        ev = events[kind](kind=kind, at_s=t_next_s, block=sw.block)
        self.site.log(
            t_next_s, "controller_switching", f"{sw.elem}_b{sw.block:02d} {'CLOSE' if sw.close else 'OPEN'} by {sw.how}"
        )
        for sim in self.registry.values():
            if ev.kind in sim.EVENT_KINDS or ev.kind in sim.EVENT_KINDS_FOLLOWED:
                sim.inject(ev)

    def _log_tier_change(self, t_s: float, tiers: np.ndarray) -> None:
        """Record changes of the shed tier (curtailment comes and goes with every
        cloud: it is in the time series, ``ctrl_pv_p_limit_mw``, not in the events)."""
        top = int(tiers.max()) if len(tiers) else 0
        if top != self._tier:
            self.site.log(t_s, "controller_shed_tier", f"shed tier {self._tier} -> {top}")
            self._tier = top

    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        try:
            g, f = inputs["grid_meas"], inputs["fleet_meas"]
        except KeyError:
            missing = [k for k in self.INPUTS if k not in inputs]
            raise RuntimeError(f"controller inputs not connected: {missing}") from None
        for ev in self.events.due(t_s):
            self.site.log(ev.at_s, "alarm", ev.text or "recorded alarm")
        m = Measurements(t_s, self.dt_s, *[g[k] if k in g else f[k] for k in self.FIELDS])
        sp = self.site.controller.step(m)
        if not isinstance(sp, Setpoints):
            raise TypeError(
                f"{type(self.site.controller).__name__}.step() returned {type(sp).__name__}, expected Setpoints"
            )
        info = self.site.info
        # mosaik reads None as "no output", so "no limit" travels as +inf and
        # "reference split" and "no IT cap" as empty arrays.
        lim = (
            self._no_limit
            if sp.pv_p_limit_mw is None
            else np.broadcast_to(np.asarray(sp.pv_p_limit_mw, float), (info.n_pv_blocks,))
        )
        tiers = (
            self._no_shed
            if sp.shed_tier is None
            else np.broadcast_to(np.asarray(sp.shed_tier, np.int64), (info.n_spark_units,))
        )
        cap = (
            self._no_cap
            if sp.it_p_cap_mw is None
            else np.broadcast_to(np.asarray(sp.it_p_cap_mw, float), (info.n_spark_units,))
        )
        if self.link is not None:  # the external controller's groups from the wire
            cmds = self.link.exchange(self._plant_state(t_s, m))
            if cmds.pv_p_limit_mw is not None:
                lim = cmds.pv_p_limit_mw
            if cmds.shed_tier is not None:
                tiers = cmds.shed_tier
            if cmds.it_p_cap_mw is not None:
                cap = cmds.it_p_cap_mw
            for sw in cmds.switching:
                self._switch(t_s + self.dt_s, sw)
        w = self._no_weights if sp.pack_weights is None else np.asarray(sp.pack_weights, float)
        if sp.pack_weights is not None and w.shape != (info.n_packs,):
            raise ValueError(f"pack_weights must have one entry per pack ({info.n_packs}), got shape {w.shape}")
        self._log_tier_change(t_s, tiers)
        rec = {"ctrl_pv_p_limit_mw": float(lim.sum())}
        rec.update({f"ctrl_{k}": float(v) for k, v in sp.notes.items()})
        self.out = {"pv_p_limit_mw": lim, "shed_tier": tiers, "it_p_cap_mw": cap, "pack_weights": w}
        self.record = rec
