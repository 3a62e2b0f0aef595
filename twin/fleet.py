"""Second-life battery fleet: every pack as a slot in a few numpy arrays.

First version (energy-reservoir model): each pack has a usable energy
(nominal energy x state of health), a state of charge, an SoC window, a power
limit (its DC/DC converter rating and a C-rate derating) and one-way
efficiencies. The battery issue replaces the reservoir by an equivalent
circuit per pack without changing this interface:

* ``limits(dt_s)`` -> per-block charge / discharge power the packs can take
  during the next step (what the grid-forming inverters may be asked);
* ``step(dt_s, block_p_mw, weights)`` -> splits each block's AC power over
  its packs, integrates energy, reports losses and any shortfall.

Sign: ``p > 0`` charges the pack (energy into the battery).
Energy balance per pack, per step (checked by :func:`energy_balance_error_mwh`)::

    e_end - e_start = (eta_c * p_ch - p_dis / eta_d) * dt
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from twin.config import FleetModelConfig

_EPS = 1e-12


@dataclass(frozen=True)
class FleetInventory:
    """Static description of each pack (drawn once from the fleet mix)."""

    pack_id: np.ndarray  # int
    vehicle: np.ndarray  # str, vehicle model name from the mix
    chemistry: np.ndarray  # str
    block: np.ndarray  # int, battery block (inverter) the pack feeds
    e_nom_mwh: np.ndarray  # nameplate energy when new
    soh_frac: np.ndarray  # state of health (usable / nominal)

    @property
    def n_packs(self) -> int:
        return len(self.pack_id)


def draw_inventory(cfg: FleetModelConfig, n_blocks: int, seed: int) -> FleetInventory:
    """Draw a seeded fleet from the scenario's mix; packs are spread over blocks
    in contiguous groups (``np.array_split``), as they are cabled in the yard."""
    rng = np.random.default_rng([seed, 0xF1EE7])
    shares = np.array([m.share for m in cfg.mix], dtype=float)
    kind = rng.choice(len(cfg.mix), size=cfg.n_packs, p=shares / shares.sum())
    soh = rng.uniform(cfg.soh_min_frac, cfg.soh_max_frac, size=cfg.n_packs)
    soh = np.where(rng.random(cfg.n_packs) < cfg.new_pack_frac, 1.0, soh)
    block = np.concatenate([np.full(len(a), b) for b, a in enumerate(np.array_split(np.arange(cfg.n_packs), n_blocks))])
    return FleetInventory(
        pack_id=np.arange(cfg.n_packs),
        vehicle=np.array([cfg.mix[k].name for k in kind]),
        chemistry=np.array([cfg.mix[k].chemistry for k in kind]),
        block=block.astype(np.int64),
        e_nom_mwh=np.array([cfg.mix[k].e_nom_kwh for k in kind]) / 1000.0,
        soh_frac=soh,
    )


@dataclass
class FleetStep:
    p_pack_mw: np.ndarray  # per pack, delivered, + charging
    block_p_mw: np.ndarray  # per block, delivered
    shortfall_mw: np.ndarray  # per block: asked but not deliverable
    loss_p_mw: float  # conversion losses of the step (mean power)


class BatteryFleet:
    """All packs of the site, vectorised.

    Per-pack limits and split weights depend only on the state, so they are
    computed once after each change of state (:meth:`_refresh`) and reused
    by the grid's limits, the split and the controller's measurements.
    """

    def __init__(self, cfg: FleetModelConfig, inventory: FleetInventory, n_blocks: int, pack_converter_kw: float):
        self.cfg = cfg
        self.inv = inventory
        self.n_blocks = n_blocks
        n = inventory.n_packs
        self.e_max_mwh = inventory.e_nom_mwh * inventory.soh_frac  # usable capacity now
        self.e_mwh = self.e_max_mwh * cfg.soc_start_frac
        self.soc_lo = np.full(n, cfg.soc_min_frac)
        self.soc_hi = np.full(n, cfg.soc_max_frac)
        self.p_max_mw = np.minimum(pack_converter_kw / 1000.0, cfg.c_rate_max * self.e_max_mwh)
        self.eta_c = np.full(n, cfg.eta_charge)
        self.eta_d = np.full(n, cfg.eta_discharge)
        self.in_service = np.ones(n, dtype=bool)
        self.block_in_service = np.ones(n_blocks, dtype=bool)
        self.block = inventory.block
        # Packs are cabled to blocks in contiguous runs: block sums by reduceat.
        if np.any(np.diff(self.block) < 0) or len(np.unique(self.block)) != n_blocks:
            raise ValueError("packs must be grouped by block in contiguous runs, every block with at least one pack")
        self._starts = np.flatnonzero(np.r_[True, np.diff(self.block) > 0])
        self._ends = np.r_[self._starts[1:], n]
        self._no_weights = np.empty(0)
        self._e_lo = self.soc_lo * self.e_max_mwh
        self._e_hi = self.soc_hi * self.e_max_mwh
        self._ch, self._dis, self._wc, self._wd = (np.zeros(n) for _ in range(4))
        self._block_ch, self._block_dis = np.zeros(n_blocks), np.zeros(n_blocks)
        self._stats = np.zeros(4)
        self._e_max_total = float(self.e_max_mwh.sum())
        self._act = self.in_service & self.block_in_service[self.block]
        self._dt_s = -1.0
        self._stale = True

    # -- state ------------------------------------------------------------------------
    @property
    def soc_frac(self) -> np.ndarray:
        return self.e_mwh / self.e_max_mwh

    @property
    def active(self) -> np.ndarray:
        """Per pack: in service and on a block in service (kept up to date by the events)."""
        return self._act

    def _update_active(self) -> None:
        self._act = self.in_service & self.block_in_service[self.block]
        self._stale = True

    def _refresh(self, dt_s: float) -> None:
        """Limits over the next ``dt_s``, split weights and stats for the current state."""
        if not self._stale and dt_s == self._dt_s:
            return
        _limits(self.e_mwh, self.e_max_mwh, self._e_lo, self._e_hi, self.p_max_mw, self.eta_c, self.eta_d,
                self._act, dt_s / 3600.0, self._starts, self._ends,
                self._ch, self._dis, self._wc, self._wd, self._block_ch, self._block_dis, self._stats)
        self._dt_s = dt_s
        self._stale = False

    def pack_limits_mw(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Per pack AC-side charge and discharge power (>= 0) deliverable over the
        next ``dt_s`` without leaving the SoC window."""
        self._refresh(dt_s)
        return self._ch, self._dis

    def split_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference split of a block's power over its packs (what Redwood's
        Pack Manager does), for charging and for discharging: in proportion to
        each pack's energy room / available energy in its SoC window, capped
        at each pack's power limit (the excess goes to the others: water
        filling in :meth:`step`). Every pack then reaches the top or the
        bottom of its window at the same time, so the SoCs stay together and
        no pack is asked past its rating."""
        self._refresh(self._dt_s if self._dt_s > 0 else 1.0)
        return self._wc, self._wd

    def block_sum(self, x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x, self._starts)

    def limits(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Per block charge / discharge power (>= 0) the packs can take over the next ``dt_s``."""
        self._refresh(dt_s)
        return self._block_ch.copy(), self._block_dis.copy()

    # -- one step ---------------------------------------------------------------------
    def step(self, dt_s: float, block_p_mw: np.ndarray, weights: np.ndarray | None = None) -> FleetStep:
        """Split each block's power over its packs and integrate energy.

        ``weights`` (per pack, >= 0) sets the split; the default is
        :meth:`split_weights` (available energy and power). A pack never gets
        more than its limit: the split is capped and the remainder spread
        over the packs of the block with headroom (water filling); what no
        pack can take is the block's shortfall. One compiled kernel
        (:func:`_split_and_integrate`) does the whole step.
        """
        self._refresh(dt_s)
        p_block = np.ascontiguousarray(block_p_mw, dtype=np.float64)
        w = self._no_weights if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        p_pack = np.empty_like(self.e_mwh)
        remaining = np.empty(self.n_blocks)
        loss = _split_and_integrate(
            p_block, w, self._ch, self._dis, self._wc, self._wd, self._starts, self._ends,
            self.eta_c, self.eta_d, self.e_max_mwh, self.e_mwh, dt_s / 3600.0, p_pack, remaining,
        )
        self._stale = True
        self._refresh(dt_s)
        return FleetStep(p_pack_mw=p_pack, block_p_mw=self.block_sum(p_pack),
                         shortfall_mw=remaining * np.sign(p_block), loss_p_mw=loss)

    # -- events -----------------------------------------------------------------------
    def set_packs(self, packs: np.ndarray | list[int], in_service: bool) -> None:
        self.in_service[np.asarray(packs, dtype=np.int64)] = in_service
        self._update_active()

    def set_block(self, block: int, in_service: bool) -> None:
        self.block_in_service[block] = in_service
        self._update_active()

    # -- aggregates -------------------------------------------------------------------
    def totals(self) -> dict[str, float]:
        self._refresh(self._dt_s if self._dt_s > 0 else 1.0)
        st = self._stats
        return {
            "e_stored_mwh": float(st[0]),
            "soc_frac": float(st[0] / self._e_max_total),
            "pack_soc_min_frac": float(st[1]),
            "pack_soc_max_frac": float(st[2]),
            "n_packs_in_service": float(st[3]),
        }


def energy_balance_error_mwh(e_start_mwh: np.ndarray, e_end_mwh: np.ndarray, p_pack_mw_steps: np.ndarray,
                             eta_c: np.ndarray, eta_d: np.ndarray, dt_s: float) -> np.ndarray:
    """Per pack: stored-energy change minus what the power sequence put in.

    ``p_pack_mw_steps`` is (n_steps, n_packs), + charging. The result is zero
    for a fleet that conserves energy (tests call this after runs).
    """
    h = dt_s / 3600.0
    e_in = np.where(p_pack_mw_steps > 0, p_pack_mw_steps * eta_c, p_pack_mw_steps / eta_d).sum(axis=0) * h
    return (e_end_mwh - e_start_mwh) - e_in


@numba.njit(cache=True)
def _split_and_integrate(p_block, weights, ch, dis, wc, wd, starts, ends, eta_c, eta_d, e_max, e, h,
                         p_pack, remaining):  # pragma: no cover - compiled; tested through BatteryFleet.step
    """Per block: capped proportional split of |p_block| over its packs (water
    filling), then the energy update ``e += (eta_c p_ch - p_dis / eta_d) h``.
    Writes ``p_pack`` (+ charging) and ``remaining`` (per block, >= 0); returns
    the conversion losses (MW, mean over the step)."""
    loss = 0.0
    use_w = weights.shape[0] > 0
    wbuf = np.empty(e.shape[0])
    for b in range(starts.shape[0]):
        s0, s1 = starts[b], ends[b]
        pb = p_block[b]
        charging = pb >= 0.0
        mag = abs(pb)
        for i in range(s0, s1):
            p_pack[i] = 0.0
        for i in range(s0, s1):  # effective weight of each pack in the direction of flow
            lim = ch[i] if charging else dis[i]
            if use_w:
                w = weights[i] if weights[i] > 0.0 else 0.0
            else:
                w = wc[i] if charging else wd[i]
            wbuf[i] = w if w > 0.0 else lim  # headroom but no weight: a share as a last resort
        rem = mag
        for _ in range(64):
            if rem <= 1e-12:
                break
            wsum = 0.0
            for i in range(s0, s1):
                if p_pack[i] < (ch[i] if charging else dis[i]) - 1e-15:
                    wsum += wbuf[i]
            if wsum <= 0.0:
                break
            f = rem / wsum
            for i in range(s0, s1):
                lim = ch[i] if charging else dis[i]
                if p_pack[i] < lim - 1e-15:
                    x = p_pack[i] + wbuf[i] * f
                    p_pack[i] = x if x < lim else lim
            tot = 0.0
            for i in range(s0, s1):
                tot += p_pack[i]
            rem = mag - tot
        remaining[b] = rem if rem > 1e-9 else 0.0
        for i in range(s0, s1):
            p = p_pack[i]
            if charging:
                de = p * eta_c[i] * h
                loss += p * (1.0 - eta_c[i])
            else:
                p = -p
                p_pack[i] = p
                de = p / eta_d[i] * h
                loss += -p * (1.0 / eta_d[i] - 1.0)
            x = e[i] + de
            e[i] = 0.0 if x < 0.0 else (e_max[i] if x > e_max[i] else x)
    return loss


@numba.njit(cache=True)
def _limits(e, e_max, e_lo, e_hi, p_max, eta_c, eta_d, act, h, starts, ends, ch, dis, wc, wd,
            block_ch, block_dis, stats):  # pragma: no cover - compiled; tested through BatteryFleet
    """Per pack: charge / discharge limits over the next step (``h`` hours)
    without leaving the SoC window, and split weights (energy room and
    available energy); the limits' block sums; fleet stats
    ``[e_sum, soc_min over active, soc_max over active, n_active]``."""
    e_sum = 0.0
    smin = np.inf
    smax = -np.inf
    n_act = 0
    for b in range(starts.shape[0]):
        bc = 0.0
        bd = 0.0
        for i in range(starts[b], ends[b]):
            e_sum += e[i]
            if act[i]:
                room = e_hi[i] - e[i]
                room = room if room > 0.0 else 0.0
                av = e[i] - e_lo[i]
                av = av if av > 0.0 else 0.0
                x = room / (eta_c[i] * h)
                ch[i] = x if x < p_max[i] else p_max[i]
                x = av * eta_d[i] / h
                dis[i] = x if x < p_max[i] else p_max[i]
                wc[i] = room  # split weights: energy room / available energy (MWh)
                wd[i] = av
                bc += ch[i]
                bd += dis[i]
                soc = e[i] / e_max[i]
                smin = soc if soc < smin else smin
                smax = soc if soc > smax else smax
                n_act += 1
            else:
                ch[i] = 0.0
                dis[i] = 0.0
                wc[i] = 0.0
                wd[i] = 0.0
        block_ch[b] = bc
        block_dis[b] = bd
    stats[0] = e_sum
    stats[1] = smin if n_act else np.nan
    stats[2] = smax if n_act else np.nan
    stats[3] = n_act
