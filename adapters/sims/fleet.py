"""mosaik simulator of the battery fleet (all packs in one entity, numpy arrays)."""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.sims.base import ModelSim
from twin.fleet import bms

__all__ = ["FleetSim"]


def _ids(ids: np.ndarray, limit: int = 20) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


class FleetSim(ModelSim):
    MODEL = "Fleet"
    MEAS = [
        "bess_charge_max_p_mw",
        "bess_discharge_max_p_mw",
        "soc_frac",
        "e_stored_mwh",
        "pack_soc_frac",
        "pack_in_service",
    ]
    ATTRS = MEAS + ["fleet_meas"]  # fleet_meas: all of MEAS in one dict (see GridSim)
    INPUTS = ["bess_p_mw", "pack_weights", "temp_amb_c", "ghi_w_m2", "hil_ok"]  # hil_ok: orders HIL before Fleet
    # owned (applied and logged); the grid follows the battery-block trips, HIL the alarm reset
    EVENT_KINDS = frozenset(
        {
            "trip_bess_block",
            "restore_bess_block",
            "trip_packs",
            "restore_packs",
            "weak_cell",
            "thermal_runaway",
            "bms_reset",
        }
    )

    def setup(self) -> None:
        self.events = self.event_queue()
        fleet = self.site.fleet
        self._short = False
        self._fault = fleet.packs.bms_state == bms.STATE_FAULT
        self._runaway = fleet.packs.runaway
        self._param_j = 0.0
        cfg = self.site.scenario.models.fleet
        every = cfg.record_packs_every_s
        self.pack_every = self.ticks(every) if every else 0  # in electrical steps
        nb = fleet.n_blocks
        self._block_names = {
            k: [f"bess_b{b:02d}_{k}" for b in range(nb)] for k in ("soc_frac", "charge_max_p_mw", "discharge_max_p_mw")
        }
        self.apply_events(0.0)

    # -- events -----------------------------------------------------------------------
    def inject(self, ev: Any) -> None:
        """An event for the next step, raised after this simulator's step (by the controller link): applied now,
        as the fleet applies the next step's events at the end of its step."""
        super().inject(ev)
        self.apply_events(ev.at_s)

    def apply_events(self, t_s: float) -> None:
        """Apply events due by ``t_s`` (the fleet applies the next step's events at the end of this
        one, so the limits it publishes already account for them)."""
        fleet, site = self.site.fleet, self.site
        inv = fleet.inv
        for ev in self.events.due(t_s):
            k = ev.kind
            if k in ("trip_bess_block", "restore_bess_block"):
                fleet.set_block(ev.block, k == "restore_bess_block")
                site.log(ev.at_s, k, f"battery block {ev.block}")
                continue
            if k == "thermal_runaway":
                i = int(inv.index_of([ev.pack])[0])
                fleet.trigger_runaway(i)
                self._fault[i] = self._runaway[i] = True
                site.log(
                    ev.at_s,
                    k,
                    f"pack {ev.pack} ({inv.vehicle[i]}, block {inv.block[i]}, "
                    f"yard row {inv.yard_row[i]}) forced into thermal runaway",
                )
                continue
            idx = inv.select(ev.packs, ev.vehicle, ev.yard_row, ev.block)
            ids = inv.pack_id[idx]
            what = ", ".join(
                f"{n} {v}"
                for n, v in (("vehicle", ev.vehicle), ("yard row", ev.yard_row), ("block", ev.block))
                if v is not None
            )
            sel = f"{len(idx)} pack(s){' (' + what + ')' if what else ''}: {_ids(ids)}"
            if k in ("trip_packs", "restore_packs"):
                fleet.set_packs(idx, k == "restore_packs")
                why = f" ({ev.reason})" if getattr(ev, "reason", "") else ""
                site.log(ev.at_s, k, sel + why)
            elif k == "weak_cell":
                fleet.set_weak_cell(idx, ev.capacity_frac, ev.resistance_factor)
                site.log(
                    ev.at_s,
                    k,
                    f"{sel}: one cell at {ev.capacity_frac:g} x capacity, {ev.resistance_factor:g} x resistance",
                )
            elif k == "bms_reset":
                back = fleet.bms_reset(idx)
                self._fault[back] = False
                again = f": {_ids(inv.pack_id[back])}" if len(back) else ""
                site.log(ev.at_s, k, f"{sel}; contactor closed again on {len(back)}{again}")

    def _log_bms(self, t_s: float, r: Any) -> None:
        """Log contactor trips, runaways and packs newly in alarm (the kernel counts them; the arrays
        are only searched in the steps where something happened)."""
        fleet, site, inv = self.site.fleet, self.site, self.site.fleet.inv
        packs = fleet.packs
        if r.n_new_runaway:
            now = packs.runaway
            new = np.flatnonzero(now & ~self._runaway)
            self._runaway = now
            for i in new[:50]:
                site.log(
                    t_s,
                    "pack_thermal_runaway",
                    f"pack {inv.pack_id[i]} (yard row {inv.yard_row[i]}) at {fleet.packs.temp_c[i]:.0f} degC: "
                    "runaway onset",
                )
        if r.n_new_trips:
            now = packs.bms_state == bms.STATE_FAULT
            new = np.flatnonzero(now & ~self._fault)
            self._fault = now
            causes: dict[int, list[int]] = {}
            for i in new:
                causes.setdefault(int(packs.trip_cause[i]), []).append(int(inv.pack_id[i]))
            for cause, ids in causes.items():
                site.log(
                    t_s,
                    "bms_trip",
                    f"contactor opened on {len(ids)} pack(s) by {bms.TRIP_NAMES[cause]}: {_ids(np.array(ids))}",
                )
        if r.n_new_alarm:
            evt = packs.bms_evt1
            by_kind: dict[str, list[int]] = {}
            for i in np.flatnonzero(packs.new_alarm):
                by_kind.setdefault(", ".join(bms.evt1_names(int(evt[i]) & bms.ALARM_MASK)), []).append(
                    int(inv.pack_id[i])
                )
            for kind, ids in by_kind.items():  # one entry per kind of alarm and step
                site.log(t_s, "bms_alarm", f"{len(ids)} pack(s) newly in alarm ({kind}): {_ids(np.array(ids))}")

    # -- step -------------------------------------------------------------------------
    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        fleet = self.site.fleet
        fleet.set_ambient(inputs["temp_amb_c"], inputs["ghi_w_m2"])
        w = inputs.get("pack_weights")
        r = fleet.step(self.dt_s, inputs["bess_p_mw"], w if w is not None and len(w) else None)
        short = float(np.abs(r.shortfall_mw).sum())
        if short > 1e-6 and not self._short:  # log the onset; the amount is in the time series
            self.site.log(t_s, "fleet_shortfall", f"{short:.4f} MW asked of the packs could not be delivered")
        self._short = short > 1e-6
        self.apply_events(t_s + self.dt_s)
        ch, dis = fleet.limits(self.dt_s)
        tot = fleet.totals()
        if r.n_new_trips or r.n_new_runaway or r.n_new_alarm:
            self._log_bms(t_s + self.dt_s, r)
        param_j = fleet.param_change_j()
        rec = dict(tot)
        rec["bess_loss_p_mw"] = r.loss_p_mw  # converter + cell losses + enclosure thermal management
        rec["bess_thermal_mgmt_p_mw"] = r.thermal_mgmt_p_mw
        rec["bess_converter_loss_p_mw"] = r.loss_conv_p_mw
        rec["bess_cell_loss_p_mw"] = r.loss_cell_p_mw
        # stored energy changed without a flow (capacity fade, resistances moving with T and SoC)
        rec["bess_param_change_p_mw"] = (param_j - self._param_j) / self.dt_s * 1e-6
        self._param_j = param_j
        rec["bess_shortfall_p_mw"] = short
        rec["bess_fleet_p_mw"] = float(r.block_p_mw.sum())  # what the packs took (+ charging)
        # the grid's block powers = what the packs took + the shortfall (a check: ~0)
        rec["bess_dispatch_gap_p_mw"] = float(np.sum(inputs["bess_p_mw"]) - r.block_p_mw.sum() - r.shortfall_mw.sum())
        rec["bess_charge_max_p_mw"] = float(ch.sum())
        rec["bess_discharge_max_p_mw"] = float(dis.sum())
        # per block: SoC (packs weighted by their usable energy, as the block's EMS reports it) and limits
        soc_b = fleet.block_soc_frac()
        names = self._block_names
        rec.update(zip(names["soc_frac"], soc_b.tolist()))
        rec.update(zip(names["charge_max_p_mw"], ch.tolist()))
        rec.update(zip(names["discharge_max_p_mw"], dis.tolist()))
        meas = {
            "bess_charge_max_p_mw": ch,
            "bess_discharge_max_p_mw": dis,
            "soc_frac": tot["soc_frac"],
            "e_stored_mwh": tot["e_stored_mwh"],
            "pack_soc_frac": fleet.packs.soc_frac,  # read-only: a controller cannot write the plant
            "pack_in_service": fleet.active,
        }
        self.out = meas.copy()
        self.out["fleet_meas"] = meas
        self.record = rec
        if self.pack_every and self.sink is not None and getattr(self.sink, "packs", None) is not None:
            step = int(round((t_s + self.dt_s) / self.time_resolution))
            if step % self.pack_every == 0:
                self.sink.packs.add(t_s + self.dt_s, fleet)
