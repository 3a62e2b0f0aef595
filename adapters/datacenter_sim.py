"""mosaik simulator of the data center (all Spark units in one entity).

Steps at ``models.datacenter.step_s`` (60 s by default) and publishes each
unit's IT demand for every electrical step of that period and the cooling
power per IT power; the controller's shed tiers are applied by the grid
simulator every electrical step (:func:`twin.datacenter.apply_caps`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.base import EventQueue, ModelSim
from adapters.trajectory import Trajectory


class DataCenterSim(ModelSim):
    MODEL = "DataCenter"
    ATTRS = ["it_demand_p_mw", "cooling_frac"]
    INPUTS = ["temp_amb_c"]
    PER_STEP_RECORD = True

    def setup(self) -> None:
        self.events = EventQueue(self.site.scenario.events, {"spark_load"})
        self.dt_elec = self.time_resolution

    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        dc = self.site.datacenter
        temp = float(inputs["temp_amb_c"])
        demand = np.zeros((self.n_sub, dc.n))
        for j in range(self.n_sub):
            t = t_s + j * self.dt_elec
            for ev in self.events.due(t):
                dc.set_util(ev.unit, ev.util_frac)
                self.site.log(t, "spark_load", f"unit {ev.unit} utilisation -> {ev.util_frac:g}")
            demand[j] = dc.step(t, self.dt_elec, temp, None).it_demand_p_mw
        self.out = {
            "it_demand_p_mw": Trajectory(t0_s=t_s, dt_s=self.dt_elec, values=demand),
            "cooling_frac": dc.cooling_frac(temp),
        }
