"""The modular AI data center (Spark units): GPU power at a fine step and the liquid-cooling plants.

- :mod:`twin.datacenter.gpu_load`: workloads (training, inference, constant) synthesised at 10 ms;
- :mod:`twin.datacenter.cooling`: coolant, air and facility-water nodes, dry coolers, adiabatic assist,
  trim chiller, pumps and fans;
- :mod:`twin.datacenter.datacenter`: ``DataCenter``, one electrical step of every unit (caps, shed tiers,
  thermal protection, the step's mean, minimum and maximum).
"""

__all__ = ["cooling", "datacenter", "gpu_load"]
