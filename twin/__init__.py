"""Physics of the microgrid digital twin and the site it models (no mosaik, no file or port I/O).

- :mod:`twin.config`: the scenario's settings as pydantic models (one definition of every key and range);
- :mod:`twin.site`: ``build_site``, a scenario turned into every model of the site (``Site``);
- :mod:`twin.grid`: the AC plant: the pandapower net, the fast power flow, the grid's local layer;
- :mod:`twin.fleet`: the second-life battery fleet (equivalent circuits, BMS, ageing, inventory);
- :mod:`twin.datacenter`: the Spark units' GPU power and liquid cooling;
- :mod:`twin.generation`: generation on site (PV today);
- :mod:`twin.weather`: ambient temperature and humidity;
- :mod:`twin.controller`: the controller interface and the reference controller;
- :mod:`twin.errors`: the one error tree; :mod:`twin.validation`: suggestions and validation messages;
- :mod:`twin.sunspec802`: the SunSpec 802 battery code table shared by the fleet's BMS and ``hil/``.
"""

__all__ = [
    "config",
    "controller",
    "datacenter",
    "errors",
    "fleet",
    "generation",
    "grid",
    "site",
    "sunspec802",
    "validation",
    "weather",
]
