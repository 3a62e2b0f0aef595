"""The site's AC plant: the pandapower network, its fast power flow and the grid's fast local layer.

- :mod:`twin.grid.network`: ``build_network``, the 13.8 kV collector net with its transformers, buses and
  elements, and ``SiteIndex`` (which element is which block, unit or feeder);
- :mod:`twin.grid.powerflow`: the solvers (warm-started lightsim2grid, plain ``pandapower.runpp``) with one
  interface;
- :mod:`twin.grid.grid`: ``Grid``, one electrical step: injections, distributed slack over the battery
  blocks, saturation, frequency-watt PV curtailment, under-frequency load shedding.

Imports pandapower and lightsim2grid; no mosaik, no files.
"""

__all__ = ["grid", "network", "powerflow"]
