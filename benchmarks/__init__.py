"""``make bench``: speed of the twin (:mod:`benchmarks.bench`); not part of the installed package."""

__all__ = ["bench"]
