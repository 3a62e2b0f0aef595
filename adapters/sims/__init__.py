"""The twin's mosaik simulators: one module per model of the site, each an in-process simulator with one entity.

- :mod:`adapters.sims.base`: ``ModelSim`` (the common base: time in ticks, records to the row sink,
  the event kinds each simulator owns or follows), ``EventQueue``, ``event_owners``;
- :mod:`adapters.sims.ambient`: ``AmbientSim`` (dry and wet bulb, humidity; a slow simulator);
- :mod:`adapters.sims.pv`: ``PVSim`` (available PV power per block for every electrical step of its period);
- :mod:`adapters.sims.trajectory`: ``Trajectory``, a slow simulator's output for each electrical step;
- :mod:`adapters.sims.datacenter`: ``DataCenterSim`` (GPU power at the fine step, shed tiers, cooling);
- :mod:`adapters.sims.grid`: ``GridSim`` (the AC power flow every electrical step);
- :mod:`adapters.sims.fleet`: ``FleetSim`` (every pack of the battery fleet);
- :mod:`adapters.sims.controller`: ``ControllerSim`` (the scenario's controller);
- :mod:`adapters.sims.hil`: ``HilSim`` and ``HilOptions`` (packs handed to BMSs on a serial line, ``twin hil``).

mosaik starts them from :data:`adapters.world.SIM_CONFIG`; nothing is imported here, so a module is
loaded only when its simulator is started.
"""

__all__ = ["ambient", "base", "controller", "datacenter", "fleet", "grid", "hil", "pv", "trajectory"]
