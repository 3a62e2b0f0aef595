"""A fleet of one pack, built from an inventory row, for model-level tests (unit and reference)."""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.config import FleetModelConfig
from twin.fleet.fleet import BatteryFleet
from twin.fleet.inventory import FleetInventory

__all__ = ["one_pack"]


def one_pack(
    chem: str = "NMC",
    soc: float = 0.5,
    e_kwh: float = 66.0,
    n_series: int = 96,
    soh: float = 0.8,
    r_factor: float = 1.5,
    temp_c: float = 25.0,
    **cfg_kw: Any,
) -> BatteryFleet:
    """One pack of the given make and state on block 0 behind a 15 kW converter (``cfg_kw``: FleetModelConfig)."""
    cfg = FleetModelConfig(n_packs=1, soc_start_frac=soc, **cfg_kw)
    inv = FleetInventory(
        pack_id=np.array([0]),
        vehicle=np.array(["test"]),
        chemistry=np.array([chem]),
        n_series=np.array([n_series]),
        e_nom_mwh=np.array([e_kwh / 1000]),
        soh_frac=np.array([soh]),
        r_factor=np.array([r_factor]),
        block=np.array([0]),
        yard_x_m=np.array([0.0]),
        yard_y_m=np.array([0.0]),
        yard_row=np.array([0]),
    )
    return BatteryFleet(cfg, inv, 1, 15.0, temp_start_c=temp_c)
