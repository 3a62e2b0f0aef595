"""Scripts run by hand, not installed: :mod:`tools.derive_chemistry` (PyBaMM fits of the chemistry tables) and
:mod:`tools.compare_summary` (a run's summary against a stored copy)."""

__all__ = ["compare_summary", "derive_chemistry"]
