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
    loss_mw: float  # conversion losses of the step (mean power)


class BatteryFleet:
    """All packs of the site, vectorised."""

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
        # sparse-free block sums: np.bincount with this many bins
        self._nb = n_blocks

    # -- state ------------------------------------------------------------------------
    @property
    def soc_frac(self) -> np.ndarray:
        return self.e_mwh / self.e_max_mwh

    @property
    def active(self) -> np.ndarray:
        return self.in_service & self.block_in_service[self.block]

    def pack_limits_mw(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Per pack AC-side charge and discharge power (>= 0) deliverable over the
        next ``dt_s`` without leaving the SoC window."""
        h = dt_s / 3600.0
        act = self.active
        room = np.maximum(self.soc_hi * self.e_max_mwh - self.e_mwh, 0.0)
        avail = np.maximum(self.e_mwh - self.soc_lo * self.e_max_mwh, 0.0)
        ch = np.where(act, np.minimum(self.p_max_mw, room / (self.eta_c * h)), 0.0)
        dis = np.where(act, np.minimum(self.p_max_mw, avail * self.eta_d / h), 0.0)
        return ch, dis

    def split_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference split of a block's power over its packs, for charging and
        for discharging: in proportion to the power each pack could sustain
        for ``split_horizon_s`` (its power limit, or its energy room /
        available energy over the horizon, whichever is smaller). Packs with
        more energy discharge harder and fuller packs charge less, so the
        SoCs converge while no pack is asked past its rating."""
        h = self.cfg.split_horizon_s / 3600.0
        act = self.active
        room = np.maximum(self.soc_hi * self.e_max_mwh - self.e_mwh, 0.0)
        avail = np.maximum(self.e_mwh - self.soc_lo * self.e_max_mwh, 0.0)
        wc = np.where(act, np.minimum(self.p_max_mw, room / h), 0.0)
        wd = np.where(act, np.minimum(self.p_max_mw, avail / h), 0.0)
        return wc, wd

    def block_sum(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.block, weights=x, minlength=self._nb)

    def limits(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        ch, dis = self.pack_limits_mw(dt_s)
        return self.block_sum(ch), self.block_sum(dis)

    # -- one step ---------------------------------------------------------------------
    def step(self, dt_s: float, block_p_mw: np.ndarray, weights: np.ndarray | None = None) -> FleetStep:
        """Split each block's power over its packs and integrate energy.

        ``weights`` (per pack, >= 0) sets the split; the default is
        :meth:`split_weights` (available energy and power). A pack never gets more than its limit: the split is capped and
        the remainder is spread over the packs of the block with headroom
        (water filling), and what no pack can take is the block's shortfall.
        """
        ch, dis = self.pack_limits_mw(dt_s)
        p_block = np.asarray(block_p_mw, dtype=float)
        charging = p_block[self.block] >= 0.0
        lim = np.where(charging, ch, dis)
        if weights is None:
            wc, wd = self.split_weights()
            weights = np.where(charging, wc, wd)
        w = np.where(lim > 0, np.maximum(weights, 0.0), 0.0)
        mag = np.abs(p_block)
        p = np.zeros_like(lim)
        remaining = mag.copy()
        free = lim > 0
        for _ in range(8):  # water filling; converges in one or two passes in practice
            wsum = self.block_sum(np.where(free, w, 0.0))
            share = np.where(free, w / np.maximum(wsum[self.block], _EPS), 0.0)
            add = share * remaining[self.block]
            p_new = np.minimum(p + add, lim)
            remaining = remaining - self.block_sum(p_new - p)
            p = p_new
            free = p < lim - _EPS
            if np.all(remaining <= 1e-9) or not free.any():
                break
            w = np.where(free, np.where(w > 0, w, lim), 0.0)
        remaining = np.maximum(remaining, 0.0)
        sign = np.where(charging, 1.0, -1.0)
        p_pack = p * sign
        h = dt_s / 3600.0
        e_in = np.where(p_pack > 0, p_pack * self.eta_c, p_pack / self.eta_d) * h
        self.e_mwh = np.clip(self.e_mwh + e_in, 0.0, self.e_max_mwh)
        loss = float(np.sum(p_pack * h - e_in)) / h
        delivered = self.block_sum(p_pack)
        return FleetStep(p_pack_mw=p_pack, block_p_mw=delivered, shortfall_mw=remaining * np.sign(p_block), loss_mw=loss)

    # -- events -----------------------------------------------------------------------
    def set_packs(self, packs: np.ndarray | list[int], in_service: bool) -> None:
        self.in_service[np.asarray(packs, dtype=np.int64)] = in_service

    def set_block(self, block: int, in_service: bool) -> None:
        self.block_in_service[block] = in_service

    # -- aggregates -------------------------------------------------------------------
    def totals(self) -> dict[str, float]:
        e, emax = self.e_mwh, self.e_max_mwh
        soc = e / emax
        act = self.active
        return {
            "e_stored_mwh": float(e.sum()),
            "soc_frac": float(e.sum() / emax.sum()),
            "soc_min_frac": float(soc[act].min()) if act.any() else float("nan"),
            "soc_max_frac": float(soc[act].max()) if act.any() else float("nan"),
            "packs_in_service": float(act.sum()),
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
