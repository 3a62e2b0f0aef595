"""A slow simulator's output for every electrical step of its period."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Trajectory"]


@dataclass(frozen=True)
class Trajectory:
    t0_s: float  # time of the first row
    dt_s: float  # electrical step
    values: np.ndarray  # (n_steps_in_period, ...) one row per electrical step

    def at(self, t_s: float) -> np.ndarray:
        j = int(round((t_s - self.t0_s) / self.dt_s))
        if not 0 <= j < len(self.values):
            raise IndexError(f"trajectory from t = {self.t0_s:g} s has no value for t = {t_s:g} s")
        return self.values[j]
