"""Generation on site: :mod:`twin.generation.pv` (the PV plant: clear sky, clouds, PVWatts, inverter blocks).

Gas engines and turbines (the expansion variant) belong here too.
"""

__all__ = ["pv"]
