"""Recorded boundary inputs and start state of a run, as arrays on the twin's time base (no files here).

:class:`RecordedInputs` is what the telemetry loader (``adapters/io/telemetry/load.py``) hands to
:func:`twin.site.build_site`, which gives each model its part through the model's own hook
(``PVPlant.use_recorded``, ``DataCenter.use_recorded_it``, ``Ambient.use_recorded``,
``BatteryFleet.set_start_state``). Times are seconds from the run's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RecordedInputs"]


@dataclass(frozen=True)
class RecordedInputs:
    """Everything optional: a model without a recorded input keeps its own synthesis."""

    # PV, on the electrical step grid (n_steps + 1 rows, the PV plant's grid), mean over each step
    pv_poa_w_m2: np.ndarray | None = None  # (rows,) plant or (rows, n_blocks)
    pv_ghi_w_m2: np.ndarray | None = None  # (rows,)
    pv_avail_p_mw: np.ndarray | None = None  # (rows, n_blocks)
    # IT power of some Spark units, as sampled (held between samples by the data center at its fine step)
    it_units: tuple[int, ...] = ()
    it_t_s: np.ndarray | None = None  # (m,)
    it_p_mw: np.ndarray | None = None  # (len(it_units), m)
    # ambient, on the ambient model's step grid (mean over each of its steps), held by the model
    ambient_t_s: np.ndarray | None = None
    ambient_temp_c: np.ndarray | None = None
    ambient_rh_frac: np.ndarray | None = None
    # start state: by block index and by pack id (NaN-free); packs out of service at the start (ids)
    start_soc_block: dict[int, float] = field(default_factory=dict)
    start_soc_pack: dict[int, float] = field(default_factory=dict)
    start_temp_all_c: float | None = None
    start_temp_pack: dict[int, float] = field(default_factory=dict)
    out_of_service_packs: tuple[int, ...] = ()
    # how each input was resampled and filled (said in the results, never silent)
    statements: tuple[str, ...] = ()

    @property
    def has_start_state(self) -> bool:
        return bool(
            self.start_soc_block
            or self.start_soc_pack
            or self.start_temp_all_c is not None
            or self.start_temp_pack
            or self.out_of_service_packs
        )
