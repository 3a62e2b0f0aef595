"""The second-life battery fleet: every pack an equivalent circuit, all packs in a few numpy arrays.

Modules (docs/fleet.md walks through one step):

* :mod:`~twin.fleet.fleet`: :class:`BatteryFleet`, the packs of the site (limits, step, events, figures);
* :mod:`~twin.fleet.view`: :class:`PackView`, the packs' state by name, read-only (``fleet.packs``);
* :mod:`~twin.fleet.inventory`: what each pack is and where it stands (drawn or from an inventory CSV);
* :mod:`~twin.fleet.chemistry`: the parameter sets per chemistry, each value with its source;
* :mod:`~twin.fleet.layout`: the columns of the fleet's arrays, one named index each, with units;
* :mod:`~twin.fleet.params`: each pack's parameters from the scenario and the inventory;
* the compiled pass: :mod:`~twin.fleet.kernel` (the loop over packs, converter, circuit, BMS) with
  :mod:`~twin.fleet.split` (block power over packs), :mod:`~twin.fleet.circuit` (equivalent circuit and
  converter in closed form), :mod:`~twin.fleet.thermal` (lumped node, heater and cooler, runaway heat),
  :mod:`~twin.fleet.bms` (warning, limit, latched trip) and :mod:`~twin.fleet.limits` (limits for the
  next step); :mod:`~twin.fleet.jitcache` keys its numba cache on all of them;
* ageing: :mod:`~twin.fleet.ageing` (:class:`~twin.fleet.ageing.FleetAgeing`, the model's description)
  with :mod:`~twin.fleet.stress` (stress aggregates between updates) and :mod:`~twin.fleet.blast` (NREL
  BLAST-Lite's models);
* :mod:`~twin.fleet.report`: the fleet's figures for the results.

Sign: pack power and current are positive when charging.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.fleet.fleet import BatteryFleet, FleetStep
    from twin.fleet.inventory import FleetInventory, draw_inventory
    from twin.fleet.view import PackView

# The package's names come from their modules on first use: reading an inventory (``twin validate``) must
# not compile or load the numba pass.
_LAZY = {
    "BatteryFleet": "twin.fleet.fleet",
    "FleetStep": "twin.fleet.fleet",
    "FleetInventory": "twin.fleet.inventory",
    "draw_inventory": "twin.fleet.inventory",
    "PackView": "twin.fleet.view",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'twin.fleet' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


__all__ = [
    "BatteryFleet",
    "FleetInventory",
    "FleetStep",
    "PackView",
    "ageing",
    "blast",
    "bms",
    "chemistry",
    "circuit",
    "draw_inventory",
    "fleet",
    "inventory",
    "jitcache",
    "kernel",
    "layout",
    "limits",
    "params",
    "report",
    "split",
    "stress",
    "thermal",
    "view",
]
