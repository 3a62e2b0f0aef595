"""Split of each block's AC power over its packs (the fleet's dispatch), compiled and inlined into the pass.

The weights (by default each pack's energy room, or available energy, in its
SoC window; see :class:`twin.fleet.fleet.BatteryFleet.split_weights`) and the
per-pack AC power limits come from the previous pass (:mod:`twin.fleet.limits`).
"""

from __future__ import annotations

import numba
import numpy as np

from twin.fleet.circuit import FASTMATH
from twin.fleet.layout import S_PCH, S_PDIS, S_WC, S_WD

__all__ = ["split_blocks"]


@numba.njit(cache=True, inline="always", fastmath=FASTMATH, error_model="numpy")
def split_blocks(p_block, weights, use_w, starts, ends, S, p_pack, short, wbuf):  # pragma: no cover - compiled
    """Each block's AC power over its packs: p_i = min(lim_i, w_i f) with f such that the packs sum to
    the block's power (capped proportional split, "water filling"), found exactly by sorting the packs
    by the f at which each one caps (lim_i / w_i). Writes ``p_pack`` (+ charging) and ``short``
    (per block, what no pack can take, >= 0)."""
    for b in range(starts.shape[0]):
        s0, s1 = starts[b], ends[b]
        pb = p_block[b]
        charging = pb >= 0.0
        mag = abs(pb)
        cap = 0.0
        wsum = 0.0
        for i in range(s0, s1):
            lim = S[i, S_PCH] if charging else S[i, S_PDIS]
            if use_w:
                w = weights[i] if weights[i] > 0.0 else 0.0
            else:
                w = S[i, S_WC] if charging else S[i, S_WD]
            if lim <= 0.0:
                w = 0.0
            elif w <= 0.0:
                w = lim * 1e-9  # headroom but no weight: a share as a last resort
            wbuf[i] = w
            cap += lim
            wsum += w
        if mag >= cap:  # every pack at its limit
            for i in range(s0, s1):
                p_pack[i] = S[i, S_PCH] if charging else S[i, S_PDIS]
            rem = mag - cap
        else:
            for i in range(s0, s1):  # f at which each pack caps
                lim = S[i, S_PCH] if charging else S[i, S_PDIS]
                p_pack[i] = lim / wbuf[i] if wbuf[i] > 0.0 else np.inf
            order = np.argsort(p_pack[s0:s1])
            nb_ = order.shape[0]
            # weights of the packs from k on, summed from the end (a running difference would lose
            # the small weights to rounding)
            wsuf = np.empty(nb_ + 1)
            wsuf[nb_] = 0.0
            for k in range(nb_ - 1, -1, -1):
                wsuf[k] = wsuf[k + 1] + wbuf[s0 + order[k]]
            l_capped = 0.0
            kfree = nb_  # first pack (in sorted order) below its cap; nb_: none
            for k in range(nb_):
                i = s0 + order[k]
                if wbuf[i] <= 0.0:
                    break
                f = (mag - l_capped) / wsuf[k]
                if p_pack[i] > f:
                    kfree = k
                    break
                l_capped += S[i, S_PCH] if charging else S[i, S_PDIS]
            if kfree == nb_:  # every pack capped (the request equals the block's limit up to rounding)
                scale = mag / cap if cap > mag else 1.0  # never more than asked
                for i in range(s0, s1):
                    p_pack[i] = (S[i, S_PCH] if charging else S[i, S_PDIS]) * scale
                rem = mag - cap if mag > cap else 0.0
            else:
                x = mag - l_capped
                f = (x if x > 0.0 else 0.0) / wsuf[kfree]
                tot = 0.0
                for i in range(s0, s1):
                    lim = S[i, S_PCH] if charging else S[i, S_PDIS]
                    x = wbuf[i] * f
                    p_pack[i] = x if x < lim else lim
                    tot += p_pack[i]
                rem = mag - tot if mag > tot else 0.0
        short[b] = rem if rem > 1e-6 + 1e-12 * mag else 0.0
        if not charging:
            for i in range(s0, s1):
                p_pack[i] = -p_pack[i]
