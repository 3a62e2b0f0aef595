"""The fleet's inventory: what each pack is and where it stands.

A fleet comes either from a seeded draw over the scenario's vehicle mix
(:func:`draw_inventory`) or from a pack list (an inventory CSV, read by
:mod:`adapters.io.inventory_csv`, which builds the same :class:`FleetInventory`).
Packs are ordered by battery block (the inverter they feed), so each block's
packs are one contiguous run of the arrays; ``pack_id`` is the name events
and results use, the array position is internal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.config import CHEMISTRY_NAMES, FleetModelConfig, ThermalConfig

# CHEMISTRY_NAMES is twin.config's (defined once there), also importable from here
__all__ = ["CHEMISTRY_NAMES", "FleetInventory", "blocks_in_order", "draw_inventory", "yard_layout"]


@dataclass(frozen=True)
class FleetInventory:
    """Static description of each pack, one array entry per pack, ordered by block."""

    pack_id: np.ndarray  # int64, unique
    vehicle: np.ndarray  # str, vehicle model (make/model)
    chemistry: np.ndarray  # str, one of CHEMISTRY_NAMES
    n_series: np.ndarray  # int64, cells in series
    e_nom_mwh: np.ndarray  # nameplate energy when new
    soh_frac: np.ndarray  # capacity relative to nameplate at the start of second life
    r_factor: np.ndarray  # resistance relative to a new pack at the start (>= 1)
    block: np.ndarray  # int64, battery block (inverter) the pack feeds, non-decreasing
    yard_x_m: np.ndarray  # position in the yard
    yard_y_m: np.ndarray
    yard_row: np.ndarray  # int64, row in the yard (a "hot row" event selects by it)

    @property
    def n_packs(self) -> int:
        return len(self.pack_id)

    def __post_init__(self) -> None:
        n = len(self.pack_id)
        for name in (
            "vehicle",
            "chemistry",
            "n_series",
            "e_nom_mwh",
            "soh_frac",
            "r_factor",
            "block",
            "yard_x_m",
            "yard_y_m",
            "yard_row",
        ):
            if len(getattr(self, name)) != n:
                raise ValueError(f"inventory: {name} has {len(getattr(self, name))} entries, pack_id has {n}")
        if len(np.unique(self.pack_id)) != n:
            raise ValueError("inventory: pack ids must be unique")
        if n and np.any(np.diff(self.block) < 0):
            raise ValueError("inventory: packs must be ordered by block")
        bad = sorted(set(self.chemistry.tolist()) - set(CHEMISTRY_NAMES))
        if bad:
            raise ValueError(f"inventory: unknown chemistry {bad}; allowed: {', '.join(CHEMISTRY_NAMES)}")

    def index_of(self, pack_ids: np.ndarray | list[int] | tuple[int, ...]) -> np.ndarray:
        """Array positions of the given pack ids (KeyError naming the first unknown id)."""
        ids = np.asarray(pack_ids, dtype=np.int64)
        order = np.argsort(self.pack_id)
        pos = np.searchsorted(self.pack_id, ids, sorter=order)
        pos = np.minimum(pos, len(order) - 1)
        idx = order[pos]
        miss = self.pack_id[idx] != ids
        if np.any(miss):
            raise KeyError(f"no pack with id {int(ids[miss][0])}")
        return idx

    def select(
        self,
        packs: tuple[int, ...] = (),
        vehicle: str | None = None,
        yard_row: int | None = None,
        block: int | None = None,
    ) -> np.ndarray:
        """Array positions of the packs matching every given selector (an event's selection)."""
        mask = np.ones(self.n_packs, dtype=bool)
        if packs:
            m = np.zeros(self.n_packs, dtype=bool)
            m[self.index_of(packs)] = True
            mask &= m
        if vehicle is not None:
            mask &= self.vehicle == vehicle
        if yard_row is not None:
            mask &= self.yard_row == yard_row
        if block is not None:
            mask &= self.block == block
        return np.flatnonzero(mask)


def yard_layout(n_packs: int, th: ThermalConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of packs placed in order along rows of ``yard_row_packs`` (x along a row, y across rows)."""
    i = np.arange(n_packs)
    row = i // th.yard_row_packs
    x = (i % th.yard_row_packs) * th.yard_pitch_m
    y = row * th.yard_row_spacing_m
    return x.astype(float), y.astype(float), row.astype(np.int64)


def blocks_in_order(n_packs: int, n_blocks: int) -> np.ndarray:
    """Packs spread over blocks in contiguous groups (``np.array_split``), as they are cabled in the yard."""
    return np.concatenate(
        [np.full(len(a), b) for b, a in enumerate(np.array_split(np.arange(n_packs), n_blocks))]
    ).astype(np.int64)


def draw_inventory(cfg: FleetModelConfig, n_blocks: int, seed: int) -> FleetInventory:
    """Draw a seeded fleet from the scenario's mix.

    SoH is uniform in the vehicle's range (else the fleet's); resistance
    growth is drawn in the vehicle's range, correlated with the SoH draw
    (the most faded packs sit at the high end, with a jitter of 20 % of the
    range), as fade and resistance growth go together in ageing studies.
    A share ``new_pack_frac`` of packs is new (SoH 1, resistance factor 1).
    """
    rng = np.random.default_rng([seed, 0xF1EE7])
    n = cfg.n_packs
    shares = np.array([m.share for m in cfg.mix], dtype=float)
    kind = rng.choice(len(cfg.mix), size=n, p=shares / shares.sum())
    u = rng.random(n)
    jitter = rng.uniform(-0.2, 0.2, size=n)
    new = rng.random(n) < cfg.new_pack_frac

    def per_kind(attr: str, default: float) -> np.ndarray:
        return np.array([getattr(m, attr) if getattr(m, attr) is not None else default for m in cfg.mix])[kind]

    soh_lo, soh_hi = per_kind("soh_min_frac", cfg.soh_min_frac), per_kind("soh_max_frac", cfg.soh_max_frac)
    r_lo, r_hi = per_kind("r_growth_min", cfg.r_growth_min), per_kind("r_growth_max", cfg.r_growth_max)
    soh = soh_lo + (soh_hi - soh_lo) * u
    r = r_lo + (r_hi - r_lo) * np.clip(1.0 - u + jitter, 0.0, 1.0)
    soh = np.where(new, 1.0, soh)
    r = np.where(new, 1.0, r)
    x, y, row = yard_layout(n, cfg.thermal)
    return FleetInventory(
        pack_id=np.arange(n, dtype=np.int64),
        vehicle=np.array([cfg.mix[k].name for k in kind]),
        chemistry=np.array([cfg.mix[k].chemistry for k in kind]),
        n_series=np.array([cfg.mix[k].n_series for k in kind], dtype=np.int64),
        e_nom_mwh=np.array([cfg.mix[k].e_nom_kwh for k in kind]) / 1000.0,
        soh_frac=soh,
        r_factor=r,
        block=blocks_in_order(n, n_blocks),
        yard_x_m=x,
        yard_y_m=y,
        yard_row=row,
    )
