"""Units of field data: the one table of the units a mapping file may name, and conversions.

A unit belongs to a dimension; a value in a unit becomes the signal's unit by
``value * factor + offset`` (only temperatures have an offset). Aliases
(``"°C"``, ``"W/m^2"``, ``"kVAr"``) map to one spelling.
"""

from __future__ import annotations

from twin.validation import did_you_mean

__all__ = ["DIMENSIONS", "UNIT_ALIASES", "alternatives", "canonical_unit", "conversion", "dimension_of"]

# dimension -> unit -> (factor, offset) to the dimension's base unit (the first)
DIMENSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "power": {"MW": (1.0, 0.0), "W": (1e-6, 0.0), "kW": (1e-3, 0.0), "GW": (1e3, 0.0)},
    "reactive_power": {"Mvar": (1.0, 0.0), "var": (1e-6, 0.0), "kvar": (1e-3, 0.0)},
    "energy": {"MWh": (1.0, 0.0), "Wh": (1e-6, 0.0), "kWh": (1e-3, 0.0), "GWh": (1e3, 0.0)},
    "irradiance": {"W/m2": (1.0, 0.0), "kW/m2": (1e3, 0.0)},
    "temperature": {"degC": (1.0, 0.0), "K": (1.0, -273.15), "degF": (5.0 / 9.0, -32.0 * 5.0 / 9.0)},
    "fraction": {"frac": (1.0, 0.0), "%": (0.01, 0.0)},
    "per_unit": {"pu": (1.0, 0.0), "%": (0.01, 0.0)},
    "voltage": {"V": (1.0, 0.0), "mV": (1e-3, 0.0), "kV": (1e3, 0.0)},
    "percent": {"%": (1.0, 0.0), "frac": (100.0, 0.0)},
    "count": {"1": (1.0, 0.0)},
}

UNIT_ALIASES: dict[str, str] = {
    "°C": "degC",
    "C": "degC",
    "deg C": "degC",
    "celsius": "degC",
    "°F": "degF",
    "F": "degF",
    "deg F": "degF",
    "kelvin": "K",
    "W/m^2": "W/m2",
    "W/m²": "W/m2",
    "W m-2": "W/m2",
    "kW/m^2": "kW/m2",
    "kW/m²": "kW/m2",
    "MVAr": "Mvar",
    "MVAR": "Mvar",
    "kVAr": "kvar",
    "kVAR": "kvar",
    "VAr": "var",
    "VAR": "var",
    "p.u.": "pu",
    "percent": "%",
    "fraction": "frac",
    "": "",
}


def canonical_unit(unit: str) -> str:
    u = unit.strip()
    return UNIT_ALIASES.get(u, u)


def dimension_of(signal_unit: str) -> str:
    """The dimension of a signal's own unit (``"MW"`` -> power)."""
    for dim, units in DIMENSIONS.items():
        if next(iter(units)) == signal_unit:
            return dim
    raise KeyError(f"no dimension has the base unit {signal_unit!r}")


def conversion(unit: str, signal_unit: str) -> tuple[float, float]:
    """``(factor, offset)`` taking a value in ``unit`` to ``signal_unit`` (the signal's own, a base unit).
    ``unit`` "" means the signal's own. Raises ValueError naming the allowed units and a close match."""
    dim = dimension_of(signal_unit)
    units = DIMENSIONS[dim]
    u = canonical_unit(unit) or signal_unit
    if u not in units:
        allowed = list(units) + [a for a, c in UNIT_ALIASES.items() if c in units]
        raise ValueError(
            f"unit {unit!r} is not one of the {dim.replace('_', ' ')} units {', '.join(units)}"
            f"{did_you_mean(unit, allowed, fold_case=True)}"
        )
    return units[u]


def alternatives(signal_unit: str) -> dict[str, float]:
    """The units of the signal's dimension and their factor to it (for the 'unit looks wrong' check)."""
    return {u: f for u, (f, off) in DIMENSIONS[dimension_of(signal_unit)].items() if off == 0.0}
