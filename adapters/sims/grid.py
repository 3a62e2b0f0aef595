"""mosaik simulator of the electrical plant: the AC power flow every electrical step.

The PV inverters' active-power limit from the controller acts here, every
electrical step; the Spark units' loads arrive already capped (the data
center applies the shed tiers at its racks); then the power flow with the
grid-forming battery blocks and the fast local layer of :class:`twin.grid.grid.Grid`.

``bess_headroom_p_mw`` is the fleet's discharge limit less what it would
have to give at the in-step peak of the IT load (the step mean plus the
site's in-step swing above it): negative means the swing inside the step
goes past what the packs may give.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.sims.base import ModelSim, SimulationAborted
from twin.grid.powerflow import PowerFlowDiverged

__all__ = ["GridSim"]


class GridSim(ModelSim):
    MODEL = "Grid"
    # Each output on its own, and all of them as one ``grid_meas`` dict: the
    # controller takes the dict (one attribute per step is cheaper in mosaik
    # than eight), other simulators may connect to single attributes.
    MEAS = [
        "bess_p_mw",
        "pv_avail_p_mw",
        "pv_p_mw",
        "it_demand_p_mw",
        "it_p_mw",
        "it_max_p_mw",
        "it_site_max_p_mw",
        "cooling_p_mw",
        "aux_p_mw",
        "losses_p_mw",
    ]
    ATTRS = MEAS + ["grid_meas"]
    INPUTS = ["pv_avail_p_mw", "dc_meas", "pv_p_limit_mw", "bess_charge_max_p_mw", "bess_discharge_max_p_mw"]
    # Owned by the Fleet (battery blocks) and PV (PV blocks), which log them; the grid takes the block out
    # of (or back into) the net at the step of the event.
    EVENT_KINDS_FOLLOWED = frozenset({"trip_bess_block", "restore_bess_block", "trip_pv_block", "restore_pv_block"})

    def setup(self) -> None:
        self.events = self.event_queue()
        sc = self.site.scenario
        self.aux_p_mw = sc.site.aux.p_mw
        ix = self.site.index
        self.names_bess = [f"bess_b{i:02d}_p_mw" for i in range(ix.n_bess)]
        self.names_pv = [f"pv_b{i:02d}_p_mw" for i in range(ix.n_pv)]
        self.names_it = [f"spark_u{i:02d}_it_p_mw" for i in range(ix.n_spark)]
        # every bus voltage, named after the pandapower bus (mv_main, bess00_mv, bess00_lv, ...)
        self.names_v = [f"v_{name}_pu" for name in self.site.net.bus.name]
        self.n_solves = 0
        self._fw_active = False
        self._ufls_active = False

    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        grid = self.site.grid
        for ev in self.events.due(t_s):
            if "bess" in ev.kind:
                grid.set_bess_block(ev.block, ev.kind == "restore_bess_block")
            else:
                grid.set_pv_block(ev.block, ev.kind == "restore_pv_block")
        avail = inputs["pv_avail_p_mw"].at(t_s)
        inputs = {**inputs, **inputs["dc_meas"]}  # the data center's outputs, bundled
        pv_set = np.maximum(np.fmin(avail, inputs["pv_p_limit_mw"]), 0.0)  # inverter P limit
        demand = inputs["it_demand_p_mw"]
        it, cool = inputs["it_p_mw"], inputs["cooling_p_mw"]
        n_conv_before = grid.n_nonconverged
        try:
            r = grid.step(
                pv_p_mw=pv_set,
                it_p_mw=it,
                cooling_p_mw=cool,
                aux_p_mw=self.aux_p_mw,
                bess_charge_max_p_mw=inputs["bess_charge_max_p_mw"],
                bess_discharge_max_p_mw=inputs["bess_discharge_max_p_mw"],
            )
        except PowerFlowDiverged as exc:
            self.site.log(t_s, "powerflow_not_converged", {"message": str(exc), "injections": exc.injections})
            raise SimulationAborted(f"power flow did not converge at t = {t_s:g} s: {exc}") from exc
        if grid.n_nonconverged > n_conv_before:
            self.site.log(t_s, "powerflow_flat_start", "warm start failed; converged from a flat start")
        self.n_solves += r.n_solves
        fw = r.pv_fast_curtail_p_mw > 1e-6
        if fw and not self._fw_active:
            self.site.log(
                t_s, "pv_frequency_watt", f"fleet saturated on charge: PV cut by {r.pv_fast_curtail_p_mw:.3f} MW"
            )
        self._fw_active = fw
        uf = r.ufls_p_mw > 0
        if uf and not self._ufls_active:
            self.site.log(t_s, "ufls", f"fleet saturated on discharge: {r.ufls_p_mw:.3f} MW of load shed")
        self._ufls_active = uf
        bess = r.bess_p_mw
        b = bess.tolist()
        pv_l = r.pv_p_mw.tolist()
        it_l = r.it_p_mw.tolist()
        it_sum = sum(it_l)
        # the fleet at the in-step IT peak: the step mean plus the swing above it (units shed by UFLS stay off)
        served = sum(inputs["it_p_mw"].tolist())
        swing_up = max(inputs["it_site_max_p_mw"] - served, 0.0) * (it_sum / served if served > 0 else 0.0)
        dis_max = sum(
            d for d, on in zip(inputs["bess_discharge_max_p_mw"].tolist(), grid.bess_in_service.tolist()) if on
        )
        headroom = dis_max - (-sum(b) + swing_up)
        rec = {
            "pv_avail_p_mw": sum(avail.tolist()),
            "pv_setpoint_p_mw": sum(pv_set.tolist()),
            "pv_p_mw": sum(pv_l),
            "pv_fast_curtail_p_mw": r.pv_fast_curtail_p_mw,
            "it_p_mw": it_sum,
            "cooling_p_mw": float(r.cooling_p_mw.sum()),
            # the three cooling loads as served (after UFLS): pumps, fans, chiller
            "cooling_pumps_p_mw": float(r.cooling_p_mw[0].sum()),
            "cooling_fans_p_mw": float(r.cooling_p_mw[1].sum()),
            "cooling_chiller_p_mw": float(r.cooling_p_mw[2].sum()),
            "aux_p_mw": r.aux_p_mw,
            "ufls_p_mw": r.ufls_p_mw,
            "bess_headroom_p_mw": headroom,
            "bess_p_mw": sum(b),
            "bess_charge_p_mw": sum(x for x in b if x > 0),
            "bess_discharge_p_mw": -sum(x for x in b if x < 0),
            "bess_q_mvar": sum(r.bess_q_mvar.tolist()),
            "losses_p_mw": r.losses_p_mw,
            "v_min_pu": r.v_min_pu,
            "v_max_pu": r.v_max_pu,
            "line_loading_max_pct": r.line_loading_max_pct,
            "trafo_loading_max_pct": r.trafo_loading_max_pct,
        }
        rec.update(zip(self.names_bess, b))
        rec.update(zip(self.names_pv, pv_l))
        rec.update(zip(self.names_it, it_l))
        rec.update(zip(self.names_v, r.flow.vm_pu.tolist()))
        self.record = rec
        meas = {
            "bess_p_mw": bess,
            "pv_avail_p_mw": avail,
            "pv_p_mw": r.pv_p_mw,
            "it_demand_p_mw": demand,
            "it_p_mw": r.it_p_mw,
            "it_max_p_mw": np.minimum(inputs["it_max_p_mw"], np.where(r.it_p_mw > 0, np.inf, 0.0)),
            "it_site_max_p_mw": it_sum + swing_up,
            "cooling_p_mw": r.cooling_p_mw.sum(axis=0),  # per unit: pumps + fans + chiller
            "aux_p_mw": r.aux_p_mw,
            "losses_p_mw": r.losses_p_mw,
        }
        self.out = meas.copy()
        self.out["grid_meas"] = meas
