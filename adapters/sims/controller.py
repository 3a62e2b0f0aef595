"""mosaik simulator around the microgrid controller (reference or user-supplied)."""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.sims.base import ModelSim
from twin.controller import Measurements, Setpoints

__all__ = ["ControllerSim"]


class ControllerSim(ModelSim):
    MODEL = "Controller"
    ATTRS = ["pv_p_limit_mw", "shed_tier", "pack_weights"]
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

    def setup(self) -> None:
        info = self.site.info
        self._no_limit = np.full(info.n_pv_blocks, np.inf)
        self._no_shed = np.zeros(info.n_spark_units, dtype=np.int64)
        self._no_weights = np.empty(0)
        self._tier = 0
        self.events = self.event_queue()

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
        # "reference split" as an empty weight array.
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
        w = self._no_weights if sp.pack_weights is None else np.asarray(sp.pack_weights, float)
        if sp.pack_weights is not None and w.shape != (info.n_packs,):
            raise ValueError(f"pack_weights must have one entry per pack ({info.n_packs}), got shape {w.shape}")
        self._log_tier_change(t_s, tiers)
        rec = {"ctrl_pv_p_limit_mw": float(lim.sum())}
        rec.update({f"ctrl_{k}": float(v) for k, v in sp.notes.items()})
        self.out = {"pv_p_limit_mw": lim, "shed_tier": tiers, "pack_weights": w}
        self.record = rec
