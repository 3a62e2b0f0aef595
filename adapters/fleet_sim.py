"""mosaik simulator of the battery fleet (all packs in one entity, numpy arrays)."""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.base import EventQueue, ModelSim


class FleetSim(ModelSim):
    MODEL = "Fleet"
    MEAS = ["bess_charge_max_p_mw", "bess_discharge_max_p_mw", "soc_frac", "e_stored_mwh", "pack_soc_frac",
            "pack_in_service"]
    ATTRS = MEAS + ["fleet_meas"]  # fleet_meas: all of MEAS in one dict (see GridSim)
    INPUTS = ["bess_p_mw", "pack_weights"]

    def setup(self) -> None:
        self.events = EventQueue(
            self.site.scenario.events,
            {"trip_bess_block", "restore_bess_block", "trip_packs", "restore_packs"},
        )
        self._short = False
        self.apply_events(0.0)

    def apply_events(self, t_s: float) -> None:
        """Apply events due by ``t_s`` (the fleet applies the next step's events at the
        end of this one, so the limits it publishes already account for them)."""
        fleet, site = self.site.fleet, self.site
        for ev in self.events.due(t_s):
            if ev.kind in ("trip_bess_block", "restore_bess_block"):
                fleet.set_block(ev.block, ev.kind == "restore_bess_block")
                site.log(ev.at_s, ev.kind, f"battery block {ev.block}")
            else:
                fleet.set_packs(ev.packs, ev.kind == "restore_packs")
                why = f" ({ev.reason})" if getattr(ev, "reason", "") else ""
                site.log(ev.at_s, ev.kind, f"{len(ev.packs)} pack(s): {list(ev.packs)[:10]}{why}")

    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        fleet = self.site.fleet
        w = inputs.get("pack_weights")
        r = fleet.step(self.dt_s, inputs["bess_p_mw"], w if w is not None and len(w) else None)
        short = float(np.abs(r.shortfall_mw).sum())
        if short > 1e-6 and not self._short:  # log the onset; the amount is in the time series
            self.site.log(t_s, "fleet_shortfall", f"{short:.4f} MW asked of the packs could not be delivered")
        self._short = short > 1e-6
        self.apply_events(t_s + self.dt_s)
        ch, dis = fleet.limits(self.dt_s)
        tot = fleet.totals()
        rec = {k: v for k, v in tot.items()}
        rec["bess_conv_loss_p_mw"] = r.loss_p_mw
        rec["bess_shortfall_p_mw"] = short
        rec["bess_charge_max_p_mw"] = float(ch.sum())
        rec["bess_discharge_max_p_mw"] = float(dis.sum())
        meas = {
            "bess_charge_max_p_mw": ch,
            "bess_discharge_max_p_mw": dis,
            "soc_frac": tot["soc_frac"],
            "e_stored_mwh": tot["e_stored_mwh"],
            "pack_soc_frac": fleet.soc_frac,
            "pack_in_service": fleet.active,
        }
        self.out = meas.copy()
        self.out["fleet_meas"] = meas
        self.record = rec
