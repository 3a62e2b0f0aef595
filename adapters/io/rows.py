"""From simulator records to rows: the row sink and the accumulator of energies and extremes.

Each simulator hands its record to :class:`RowSink` after a step (outside
mosaik's data flow, docs/architecture.md "The row sink is outside mosaik").
The sink assembles one row per electrical step and hands each complete row,
in time order, to the :class:`Accumulator` (every step: energies, extremes,
balances for ``summary.json``) and to the :class:`adapters.io.results.ResultsWriter`
(every ``record_every`` steps: the time series).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from adapters.io.results import PackRecorder, ResultsWriter

__all__ = ["ENERGY_TERMS", "Accumulator", "RowSink"]

# Power columns integrated into summary.energy_mwh (key -> column).
ENERGY_TERMS: dict[str, tuple[str, ...]] = {
    "pv_available": ("pv_avail_p_mw",),
    "pv_delivered": ("pv_p_mw",),
    "bess_charge": ("bess_charge_p_mw",),
    "bess_discharge": ("bess_discharge_p_mw",),
    "it_load": ("it_p_mw",),
    "cooling_load": ("cooling_p_mw",),
    "aux_load": ("aux_p_mw",),
    "losses": ("losses_p_mw",),
    "unserved": ("shed_p_mw", "ufls_p_mw"),  # cut by the controller's shed tiers and by UFLS
    "it_thermal_cut": ("it_thermal_cut_p_mw",),  # IT cut by GPU throttling and shutdowns
    "cooling_pumps": ("cooling_pumps_p_mw",),
    "cooling_fans": ("cooling_fans_p_mw",),
    "cooling_chiller": ("cooling_chiller_p_mw",),
    "pv_fast_curtailed": ("pv_fast_curtail_p_mw",),
    "bess_losses": ("bess_loss_p_mw",),  # converter + cell + enclosure thermal management
    "bess_converter_losses": ("bess_converter_loss_p_mw",),
    "bess_cell_losses": ("bess_cell_loss_p_mw",),
    "bess_thermal_mgmt": ("bess_thermal_mgmt_p_mw",),
    "bess_param_change": ("bess_param_change_p_mw",),
    "bess_fleet_net_in": ("bess_fleet_p_mw",),  # what the packs took: grid-side power less any shortfall
    "bess_shortfall": ("bess_shortfall_p_mw",),
}


class Accumulator:
    """Integrates powers every electrical step (independent of the recording rate)."""

    def __init__(self, dt_s: float, v_band_pu: tuple[float, float] = (0.95, 1.05)) -> None:
        self.h = dt_s / 3600.0
        self.v_band = v_band_pu
        self.v_out_of_band_steps = 0
        self.e = {k: 0.0 for k in ENERGY_TERMS}
        self.ext = {
            "v_min_pu": math.inf,
            "v_max_pu": -math.inf,
            "loading_max_pct": 0.0,
            "soc_min": math.inf,
            "soc_max": -math.inf,
            "pack_soc_min": math.inf,
            "pack_soc_max": -math.inf,
            "temp_amb_max_c": -math.inf,
            "bal_max_abs_mw": 0.0,
            "dispatch_gap_max_mw": 0.0,
            "cooling_max_mw": 0.0,
            "it_swing_max_mw": 0.0,
            "headroom_min_mw": math.inf,
        }
        self.headroom_negative_steps = 0
        self.soc_end = math.nan
        self.e_end_mwh = math.nan
        self.steps = 0
        self.t_end_s = 0.0
        self._terms = tuple(ENERGY_TERMS.items())

    def add(self, t_s: float, dt_s: float, row: dict[str, float]) -> None:
        h = self.h
        e = self.e
        for k, cols in self._terms:
            for c in cols:
                v = row.get(c)
                if v is not None:
                    e[k] += v * h
        x = self.ext
        vmin, vmax = row["v_min_pu"], row["v_max_pu"]
        if vmin < x["v_min_pu"]:
            x["v_min_pu"] = vmin
        if vmax > x["v_max_pu"]:
            x["v_max_pu"] = vmax
        if vmin < self.v_band[0] or vmax > self.v_band[1]:
            self.v_out_of_band_steps += 1
        v = max(row["line_loading_max_pct"], row["trafo_loading_max_pct"])
        if v > x["loading_max_pct"]:
            x["loading_max_pct"] = v
        soc = row["soc_frac"]
        if soc < x["soc_min"]:
            x["soc_min"] = soc
        if soc > x["soc_max"]:
            x["soc_max"] = soc
        if row["pack_soc_min_frac"] < x["pack_soc_min"]:
            x["pack_soc_min"] = row["pack_soc_min_frac"]
        if row["pack_soc_max_frac"] > x["pack_soc_max"]:
            x["pack_soc_max"] = row["pack_soc_max_frac"]
        v = row.get("temp_amb_c", -math.inf)
        if v > x["temp_amb_max_c"]:
            x["temp_amb_max_c"] = v
        bal = (
            row["pv_p_mw"]
            + row["bess_discharge_p_mw"]
            - row["bess_charge_p_mw"]
            - row["it_p_mw"]
            - row["cooling_p_mw"]
            - row["aux_p_mw"]
            - row["losses_p_mw"]
        )
        if abs(bal) > x["bal_max_abs_mw"]:
            x["bal_max_abs_mw"] = abs(bal)
        v = row["cooling_p_mw"]
        if v > x["cooling_max_mw"]:
            x["cooling_max_mw"] = v
        v = row.get("it_site_max_p_mw", 0.0) - row.get("it_site_min_p_mw", 0.0)
        if v > x["it_swing_max_mw"]:
            x["it_swing_max_mw"] = v
        v = row.get("bess_headroom_p_mw", math.inf)
        if v < x["headroom_min_mw"]:
            x["headroom_min_mw"] = v
        if v < 0.0:
            self.headroom_negative_steps += 1
        v = abs(row.get("bess_dispatch_gap_p_mw", 0.0))
        if v > x["dispatch_gap_max_mw"]:
            x["dispatch_gap_max_mw"] = v
        self.soc_end = soc
        self.e_end_mwh = row["e_stored_mwh"]
        self.steps += 1
        self.t_end_s = t_s + dt_s


class RowSink:
    """Assembles one row per electrical step from every simulator's record.

    Simulators step at different rates and mosaik may let one run a step
    ahead of another, so values arrive out of order: each ``put`` covers the
    ``n_sub`` electrical steps of the source's period (a scalar is held over
    them, an array gives one value each). A row is complete when every
    registered source has covered its step; complete rows go, in time order,
    to the accumulator (every step) and to the writer (every
    ``record_every`` steps).
    """

    def __init__(
        self,
        writer: ResultsWriter,
        acc: Accumulator,
        dt_s: float,
        n_steps: int,
        record_every: int,
        progress: Any = None,
    ) -> None:
        self.writer, self.acc, self.dt_s, self.n_steps = writer, acc, dt_s, n_steps
        self.every = record_every
        self.covered: dict[str, int] = {}
        self.pending: dict[int, dict[str, float]] = {}
        self.next = 0
        self.progress = progress
        self._since_progress = 0
        self.wall_s = 0.0  # time spent here, for the benchmark split
        # per-pack snapshots: the writer's recorder (None when the run records none); the fleet simulator adds them
        self.packs: PackRecorder | None = writer.packs

    def register(self, source: str) -> None:
        self.covered[source] = 0

    def put(self, source: str, step: int, record: dict[str, Any], n_sub: int = 1) -> None:
        pending, dt = self.pending, self.dt_s
        if n_sub == 1:
            row = pending.get(step)
            if row is None:
                row = pending[step] = {"time_s": step * dt}
            row.update(record)
        else:
            for j in range(n_sub):
                i = step + j
                row = pending.get(i)
                if row is None:
                    row = pending[i] = {"time_s": i * dt}
                for k, v in record.items():
                    row[k] = v if np.ndim(v) == 0 else float(v[j])
        self.covered[source] = step + n_sub
        upto = min(min(self.covered.values()), self.n_steps)
        while self.next < upto:
            i = self.next
            row = pending.pop(i)
            self.acc.add(row["time_s"], dt, row)
            if i % self.every == 0:
                self.writer.add_row(row)
            self.next = i + 1
            if self.progress is not None:
                self._since_progress += 1
                if self._since_progress >= 500:
                    self.progress.update(self._since_progress)
                    self._since_progress = 0
