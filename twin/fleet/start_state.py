"""A recorded start state of the fleet's packs: the per-pack SoC and temperature a run starts from.

:meth:`twin.fleet.fleet.BatteryFleet.set_start_state` takes the record through
:func:`merge_start_state` (checks, NaN keeps the pack's value, SoC clipped to
each pack's window) and then redoes what the constructor derives from the
start state (``BatteryFleet._start_state``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["merge_start_state"]


def merge_start_state(
    soc_now: np.ndarray,
    temp_now: np.ndarray,
    soc_lo: np.ndarray,
    soc_hi: np.ndarray,
    soc_frac: np.ndarray | None,
    temp_c: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The packs' start SoC and temperature from the record and what was done, in plain English.

    ``soc_now``/``temp_now``: the packs' values now (kept where the record is NaN or None);
    ``soc_lo``/``soc_hi``: each pack's SoC window; ``soc_frac`` [0-1] and ``temp_c`` [degC]: the
    record, shape (n_packs,) each, or None. Raises ValueError on a wrong shape or an infinite value.
    """
    n = len(soc_now)
    soc, temp, out = soc_now.astype(float), temp_now.astype(float), []
    for name, x, cur in (("SoC", soc_frac, soc), ("temperature", temp_c, temp)):
        if x is None:
            continue
        a = np.asarray(x, dtype=float)
        if a.shape != (n,) or np.isinf(a).any():
            raise ValueError(
                f"start {name} has shape {a.shape}: allowed ({n},), one value per pack (NaN: keep), none infinite"
            )
        given = ~np.isnan(a)
        cur[given] = a[given]
        out.append(f"fleet: start {name} of {int(given.sum())} of {n} packs from the record (the others as they were)")
    if soc_frac is not None:
        n_clip = int(((soc < soc_lo) | (soc > soc_hi)).sum())
        soc = np.clip(soc, soc_lo, soc_hi)
        if n_clip:
            out.append(f"fleet: start SoC of {n_clip} packs clipped to their SoC window")
    return soc, temp, out
