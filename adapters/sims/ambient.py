"""mosaik simulator of the site's ambient temperature (a slow model: 60 s by default)."""

from __future__ import annotations

from typing import Any

from adapters.sims.base import ModelSim

__all__ = ["AmbientSim"]


class AmbientSim(ModelSim):
    MODEL = "Ambient"
    ATTRS = ["temp_amb_c", "temp_wb_c", "rh_frac"]
    EVENT_KINDS = frozenset({"ambient"})

    def setup(self) -> None:
        self.events = self.event_queue()

    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        amb = self.site.ambient
        for ev in self.events.due(t_s):
            amb.set_override(ev.temp_c)
            self.site.log(
                t_s, "ambient", "override cleared" if ev.temp_c is None else f"ambient forced to {ev.temp_c:g} degC"
            )
        temp = float(amb.temp_c(t_s))
        temp_wb = float(amb.wetbulb_c(t_s))
        rh = float(amb.rh_frac(t_s))
        self.out = {"temp_amb_c": temp, "temp_wb_c": temp_wb, "rh_frac": rh}
        self.record = {"temp_amb_c": temp, "temp_wb_c": temp_wb, "rh_frac": rh}
