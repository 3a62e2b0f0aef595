"""Build every model of a site from a validated scenario (no mosaik here).

:func:`build_site` returns a :class:`Site`: the pandapower net and its
solver, the fleet, PV plant, ambient, data center and controller, plus the
event log that every simulator appends to. The mosaik adapters wrap these
objects; tests can drive them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd

from twin.config import Scenario
from twin.controller import Controller, SiteInfo, load_controller_class
from twin.datacenter.datacenter import DataCenter
from twin.fleet.fleet import BatteryFleet
from twin.fleet.inventory import FleetInventory, draw_inventory
from twin.generation.pv import PVPlant
from twin.grid.grid import Grid
from twin.grid.network import SiteIndex, build_network
from twin.weather.ambient import Ambient

__all__ = ["Site", "build_site", "start_timestamp"]


@dataclass
class Site:
    scenario: Scenario
    net: pp.pandapowerNet
    index: SiteIndex
    grid: Grid
    fleet: BatteryFleet
    pv: PVPlant
    ambient: Ambient
    datacenter: DataCenter
    controller: Controller
    info: SiteInfo
    start: pd.Timestamp
    events: list[dict[str, Any]] = field(default_factory=list)

    def log(self, t_s: float, kind: str, detail: str | dict[str, Any]) -> None:
        """Record something that happened, with its simulated time."""
        self.events.append({"time_s": round(float(t_s), 6), "kind": kind, "detail": detail})


def start_timestamp(sc: Scenario) -> pd.Timestamp:
    ts = pd.Timestamp(sc.run.start)
    return ts.tz_localize(sc.site.timezone) if ts.tzinfo is None else ts.tz_convert(sc.site.timezone)


def build_site(sc: Scenario, solver: str | None = None, inventory: FleetInventory | None = None) -> Site:
    """``inventory``: the fleet's packs (from an inventory CSV); None draws them from the scenario's mix."""
    site, run, models = sc.site, sc.run, sc.models
    net, index = build_network(site)
    grid = Grid(net, index, models.grid, solver=solver)
    inv = inventory if inventory is not None else draw_inventory(models.fleet, site.bess.n_blocks, run.seed)
    start = start_timestamp(sc)
    pv = PVPlant(models.pv, site, start=start, n_steps=sc.n_steps + 1, step_s=run.step_s, seed=run.seed)
    ambient = Ambient(models.ambient, altitude_m=site.altitude_m, start=start, seed=run.seed)
    t0 = models.fleet.thermal.temp_start_c
    fleet = BatteryFleet(
        models.fleet,
        inv,
        site.bess.n_blocks,
        site.bess.pack_converter_kw,
        temp_start_c=float(ambient.temp_c(0.0)) if t0 is None else t0,
    )
    dc = DataCenter(
        models.datacenter,
        n_units=site.spark.n_units,
        it_peak_mw=site.spark.it_peak_mw,
        start_hour=start.hour + start.minute / 60.0 + start.second / 3600.0,
        seed=run.seed,
        step_s=run.step_s,
    )
    info = SiteInfo(
        n_bess_blocks=index.n_bess,
        n_pv_blocks=index.n_pv,
        n_spark_units=index.n_spark,
        n_packs=inv.n_packs,
        bess_rating_mva=index.bess_rating_mva.copy(),
        pv_p_ac_max_mw=index.pv_p_ac_max_mw.copy(),
        it_peak_mw=np.full(index.n_spark, site.spark.it_peak_mw),
        n_shed_tiers=len(models.datacenter.shed_tiers_frac),
        step_s=run.step_s,
    )
    ctrl_cls = load_controller_class(sc.controller.class_path)
    controller = ctrl_cls(info, sc.controller.params)
    return Site(
        scenario=sc,
        net=net,
        index=index,
        grid=grid,
        fleet=fleet,
        pv=pv,
        ambient=ambient,
        datacenter=dc,
        controller=controller,
        info=info,
        start=start,
    )
