"""``[models.grid]``: the AC power flow of the site net."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from twin.config.base import StrictModel

__all__ = ["GridModelConfig"]


class GridModelConfig(StrictModel):
    solver: Literal["lightsim2grid", "pandapower"] = "lightsim2grid"
    tolerance_pu: float = Field(1e-9, gt=0, le=1e-3)
    max_iteration: int = Field(30, ge=3, le=200)
    on_nonconvergence: Literal["stop", "flat_start_then_stop"] = "flat_start_then_stop"
    v_band_pu: tuple[float, float] = (0.95, 1.05)  # steps outside are counted in the summary (ANSI C84.1 range A)
