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
from twin.replay.inputs import RecordedInputs
from twin.weather.ambient import Ambient

__all__ = ["Site", "apply_recorded", "build_site", "start_timestamp"]


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
    recorded: list[str] = field(default_factory=list)  # what recorded field data replaced (statements)

    def log(self, t_s: float, kind: str, detail: str | dict[str, Any]) -> None:
        """Record something that happened, with its simulated time."""
        self.events.append({"time_s": round(float(t_s), 6), "kind": kind, "detail": detail})


def start_timestamp(sc: Scenario) -> pd.Timestamp:
    ts = pd.Timestamp(sc.run.start)
    return ts.tz_localize(sc.site.timezone) if ts.tzinfo is None else ts.tz_convert(sc.site.timezone)


def build_site(
    sc: Scenario,
    solver: str | None = None,
    inventory: FleetInventory | None = None,
    recorded: RecordedInputs | None = None,
) -> Site:
    """``inventory``: the fleet's packs (from an inventory CSV); None draws them from the scenario's mix.
    ``recorded``: field data that replaces models' own inputs and sets the start state (:func:`apply_recorded`)."""
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
    out = Site(
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
    if recorded is not None:
        out.recorded = apply_recorded(out, recorded)
    return out


def apply_recorded(site: Site, rec: RecordedInputs) -> list[str]:
    """Hand each model its recorded inputs and the fleet its start state; returns what was done, in words.
    Raises ValueError for a pack id the fleet does not have."""
    said = list(rec.statements)
    if rec.pv_poa_w_m2 is not None or rec.pv_ghi_w_m2 is not None or rec.pv_avail_p_mw is not None:
        said += site.pv.use_recorded(poa_w_m2=rec.pv_poa_w_m2, ghi_w_m2=rec.pv_ghi_w_m2, p_avail_mw=rec.pv_avail_p_mw)
    if rec.it_units and rec.it_t_s is not None and rec.it_p_mw is not None:
        said += site.datacenter.use_recorded_it(rec.it_t_s, rec.it_p_mw, np.asarray(rec.it_units, dtype=np.int64))
    if rec.ambient_t_s is not None:
        said += site.ambient.use_recorded(rec.ambient_t_s, rec.ambient_temp_c, rec.ambient_rh_frac)
    # packs that start at the ambient (no [models.fleet.thermal] temp_start_c) start at the recorded one
    amb_start = (
        float(site.ambient.temp_c(0.0))
        if rec.ambient_temp_c is not None
        and site.scenario.models.fleet.thermal.temp_start_c is None
        and rec.start_temp_all_c is None
        else None
    )
    if amb_start is not None:
        said.append(f"fleet: the packs start at the recorded ambient, {amb_start:.2f} degC")
    if not rec.has_start_state and amb_start is None:
        return said
    fleet = site.fleet
    inv = fleet.inv
    n = inv.n_packs

    def positions(ids: Any, what: str) -> np.ndarray:
        ids = np.asarray(sorted(ids), dtype=np.int64)
        missing = np.setdiff1d(ids, inv.pack_id)
        if len(missing):
            raise ValueError(
                f"{what}: pack id(s) {', '.join(str(i) for i in missing[:10])} are not in the fleet "
                f"(pack ids {int(inv.pack_id.min())}-{int(inv.pack_id.max())})"
            )
        return np.asarray(inv.index_of(ids), dtype=np.int64)

    soc = np.full(n, np.nan)
    for b, v in rec.start_soc_block.items():
        soc[inv.block == b] = v
    if rec.start_soc_pack:
        soc[positions(rec.start_soc_pack, "start SoC")] = list(dict(sorted(rec.start_soc_pack.items())).values())
    t_all = rec.start_temp_all_c if rec.start_temp_all_c is not None else amb_start
    temp = np.full(n, np.nan if t_all is None else t_all)
    if rec.start_temp_pack:
        idx = positions(rec.start_temp_pack, "start temperature")
        temp[idx] = list(dict(sorted(rec.start_temp_pack.items())).values())
    if not np.isnan(soc).all() or not np.isnan(temp).all():
        said += fleet.set_start_state(
            soc_frac=None if np.isnan(soc).all() else soc, temp_c=None if np.isnan(temp).all() else temp
        )
    if rec.out_of_service_packs:
        idx = positions(rec.out_of_service_packs, "packs out of service")
        fleet.set_packs(idx, False)
        said.append(f"{len(idx)} pack(s) out of service at the start, as recorded")
    return said
