"""mosaik simulator of the PV resource (all inverter blocks in one entity).

Steps at ``models.pv.step_s`` (60 s by default) and publishes the available
AC power of every block for each electrical step of that period
(:class:`Trajectory`); the inverters' active-power limit from the controller
is applied by the grid simulator every electrical step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.sims.base import ModelSim
from adapters.sims.trajectory import Trajectory

__all__ = ["PVSim"]


class PVSim(ModelSim):
    MODEL = "PV"
    ATTRS = ["pv_avail_p_mw", "ghi_w_m2"]
    INPUTS = ["temp_amb_c"]
    PER_STEP_RECORD = True
    # owned: the block's output is zero from the electrical step of the event on (the grid follows:
    # it takes the block's inverter out of the net)
    EVENT_KINDS = frozenset({"trip_pv_block", "restore_pv_block"})

    def setup(self) -> None:
        self.events = self.event_queue()
        self.on = np.ones(self.site.pv.n_blocks, dtype=bool)
        self._raw = np.zeros((0, self.site.pv.n_blocks))
        self.dt_elec = self.time_resolution
        self._poa_names = [f"pv_b{b:02d}_poa_w_m2" for b in range(self.site.pv.n_blocks)]

    def inject(self, ev: Any) -> None:
        """A PV breaker a controller operated, at ``ev.at_s`` inside the period already handed out: the block's
        rows of the trajectory from then on are masked (or unmasked) in place, and the event logged at its time."""
        on = self.on.copy()
        on[ev.block] = ev.kind == "restore_pv_block"
        self.on = on
        self.site.log(ev.at_s, ev.kind, f"PV block {ev.block}")
        tr = self.out.get("pv_avail_p_mw")
        if isinstance(tr, Trajectory):
            j0 = max(int(round((ev.at_s - tr.t0_s) / tr.dt_s)), 0)
            tr.values[j0:, ev.block] = self._raw[j0:, ev.block] if on[ev.block] else 0.0

    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        pv = self.site.pv
        temp = float(inputs["temp_amb_c"])
        n = self.n_sub
        k0 = int(round(t_s / self.dt_elec))
        avail = np.zeros((n, pv.n_blocks))
        raw = np.zeros((n, pv.n_blocks))  # before the blocks' on/off mask (a breaker closed mid-period)
        poa_b = np.zeros((n, pv.n_blocks))
        tcell = np.zeros(n)
        ghi = 0.0
        on = self.on
        for j in range(n):
            t = t_s + j * self.dt_elec
            for ev in self.events.due(t):
                on = on.copy()
                on[ev.block] = ev.kind == "restore_pv_block"
                self.site.log(t, ev.kind, f"PV block {ev.block}")
            k = min(k0 + j, pv.n_steps - 1)
            r = pv.step(k, temp, None)
            raw[j] = r.p_avail_mw
            avail[j] = np.where(on, r.p_avail_mw, 0.0)
            poa_b[j] = r.poa_w_m2
            tcell[j] = r.temp_cell_c.max()
            ghi += pv.ghi_w_m2(k)
        self.on = on
        self._raw = raw
        # GHI for the battery enclosures' solar gain: the period's mean (a slow input)
        self.out = {"pv_avail_p_mw": Trajectory(t0_s=t_s, dt_s=self.dt_elec, values=avail), "ghi_w_m2": ghi / n}
        self.record = {"pv_poa_w_m2": poa_b.mean(axis=1), "pv_temp_cell_c": tcell}
        self.record.update(zip(self._poa_names, poa_b.T))  # per block: each inverter block's pyranometer
