"""Microgrid controller interface and the reference controller.

The interface is deliberately small. A controller is a class::

    class MyController(twin.controller.Controller):
        def __init__(self, site: SiteInfo, params: dict): ...
        def step(self, m: Measurements) -> Setpoints: ...

named in a scenario as ``[controller] class = "package.module:MyController"``
with its own ``[controller.params]``. It is called every controller period
with the measurements of the step just solved and returns setpoints that
the plant applies from the next step on (a time-shifted connection: there is
no algebraic loop between controller and plant inside one step; see
``docs/architecture.md``).

Signs: battery power positive when charging; PV and loads positive as
produced / consumed.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from twin.errors import InputError
from twin.validation import did_you_mean

__all__ = [
    "Controller",
    "Measurements",
    "ReferenceController",
    "Setpoints",
    "SiteInfo",
    "load_controller_class",
    "unknown_params",
]


@dataclass(frozen=True)
class SiteInfo:
    """What a controller may know about the site when it is built."""

    n_bess_blocks: int
    n_pv_blocks: int
    n_spark_units: int
    n_packs: int
    bess_rating_mva: np.ndarray
    pv_p_ac_max_mw: np.ndarray
    it_peak_mw: np.ndarray
    n_shed_tiers: int
    step_s: float


@dataclass
class Measurements:
    """The plant over the electrical step that starts at ``t_s``: powers as
    solved for that step; fleet state and limits at its end (the limits hold
    for the next step)."""

    t_s: float
    dt_s: float
    soc_frac: float  # fleet energy-weighted
    e_stored_mwh: float
    bess_p_mw: np.ndarray  # per block, + charging
    bess_charge_max_p_mw: np.ndarray  # per block, limits for the next step
    bess_discharge_max_p_mw: np.ndarray
    pv_avail_p_mw: np.ndarray  # per block
    pv_p_mw: np.ndarray
    it_demand_p_mw: np.ndarray  # per unit
    it_p_mw: np.ndarray
    cooling_p_mw: np.ndarray  # per unit: pumps + fans + chiller
    aux_p_mw: float
    losses_p_mw: float
    pack_soc_frac: np.ndarray  # per pack
    pack_in_service: np.ndarray
    # in-step extremes of the IT load (the step mean hides the swing of training jobs):
    it_max_p_mw: np.ndarray | None = None  # per unit, maximum over the step
    it_site_max_p_mw: float | None = None  # of the site's summed fine trace


@dataclass
class Setpoints:
    """What the controller asks of the plant from the next step on."""

    pv_p_limit_mw: np.ndarray | None = None  # per PV block; None: no curtailment
    shed_tier: np.ndarray | None = None  # per Spark unit, 0 = none
    it_p_cap_mw: np.ndarray | None = None  # per Spark unit, cap on IT power; None / inf: none
    pack_weights: np.ndarray | None = None  # per pack split weights; None: fleet's reference split
    notes: dict[str, float] = field(default_factory=dict)  # recorded as ctrl_<name>


class Controller(ABC):
    """Base class of microgrid controllers (the reference one uses it too).

    A class that declares its parameters in ``DEFAULTS`` gets them merged
    under ``params``, and a parameter it does not declare is refused
    (:func:`unknown_params`, also used by the scenario file reader to name the
    line). Without ``DEFAULTS`` the parameters are passed through unchecked.
    """

    DEFAULTS: ClassVar[dict[str, Any] | None] = None

    def __init__(self, site: SiteInfo, params: Mapping[str, Any]):
        bad = unknown_params(type(self), params)
        if bad:
            raise InputError("\n".join(bad.values()))
        self.site = site
        self.params = {**(self.DEFAULTS or {}), **params}

    @abstractmethod
    def step(self, m: Measurements) -> Setpoints:
        """Return setpoints for the next step from the measurements of this one."""


def unknown_params(cls: type, params: Mapping[str, Any]) -> dict[str, str]:
    """The keys of ``params`` that ``cls`` does not declare in its ``DEFAULTS``, each with its message
    (``unknown key 'controller.params.x' for Cls; did you mean 'y'? Allowed keys here: ...``); none when
    the class declares no ``DEFAULTS``. The one check of controller parameters."""
    defaults = getattr(cls, "DEFAULTS", None)
    if not isinstance(defaults, dict):
        return {}
    allowed = ", ".join(sorted(defaults))
    return {
        k: f"unknown key 'controller.params.{k}' for {cls.__name__}{did_you_mean(k, defaults) or ';'} "
        f"Allowed keys here: {allowed}"
        for k in params
        if k not in defaults
    }


class ReferenceController(Controller):
    """Battery fleet balances the site; PV is curtailed as the fleet fills;
    load is shed in tiers as the fleet reaches its floor.

    Parameters (``[controller.params]``):

    ``soc_taper_frac`` (0.90)
        fleet SoC above which the charging power allowed tapers linearly ...
    ``soc_full_frac`` (0.95)
        ... to zero here: PV is limited to what loads, losses and the
        allowed charging can absorb.
    ``charge_margin_frac`` (0.05)
        headroom kept below the fleet's charge limit.
    ``shed_soc_frac`` ([0.15, 0.10, 0.07])
        fleet SoC below which shed tier 1, 2, 3 ... starts.
    ``restore_band_frac`` (0.05)
        a tier is released when SoC is this far above its threshold.
    ``min_dwell_s`` (60)
        minimum time between two tier changes.

    The pack split is left to the fleet's reference dispatch (in proportion
    to each pack's available energy and power, :meth:`twin.fleet.fleet.BatteryFleet.split_weights`).
    """

    DEFAULTS: ClassVar[dict[str, Any] | None] = {
        "soc_taper_frac": 0.90,
        "soc_full_frac": 0.95,
        "charge_margin_frac": 0.05,
        "shed_soc_frac": [0.15, 0.10, 0.07],
        "restore_band_frac": 0.05,
        "min_dwell_s": 60.0,
    }

    def __init__(self, site: SiteInfo, params: Mapping[str, Any]):
        super().__init__(site, params)
        p = self.params
        self.shed_soc = [float(x) for x in p["shed_soc_frac"]][: site.n_shed_tiers]
        if not p["soc_taper_frac"] < p["soc_full_frac"]:
            raise InputError(
                f"soc_taper_frac ({p['soc_taper_frac']}) must be below soc_full_frac ({p['soc_full_frac']})"
            )
        self.level = 0
        self._last_change_s = -np.inf
        self._tiers: np.ndarray | None = None

    def step(self, m: Measurements) -> Setpoints:
        p = self.params
        load = sum(m.it_demand_p_mw.tolist()) + sum(m.cooling_p_mw.tolist()) + m.aux_p_mw + m.losses_p_mw
        # --- curtailment: PV may cover load plus what the fleet may still take
        taper = min(max((p["soc_full_frac"] - m.soc_frac) / (p["soc_full_frac"] - p["soc_taper_frac"]), 0.0), 1.0)
        charge_ok = sum(m.bess_charge_max_p_mw.tolist()) * (1.0 - p["charge_margin_frac"]) * taper
        pv_limit_total = load + charge_ok
        avail = m.pv_avail_p_mw
        avail_total = sum(avail.tolist())
        if avail_total > pv_limit_total:
            pv_limit = avail * (max(pv_limit_total, 0.0) / avail_total)
        else:
            pv_limit = None
        # --- load shedding in tiers with hysteresis and dwell time
        if m.t_s - self._last_change_s >= p["min_dwell_s"]:
            # the fleet must also cover the in-step peak of the IT load, not only its mean
            swing = max(m.it_site_max_p_mw - sum(m.it_p_mw.tolist()), 0.0) if m.it_site_max_p_mw is not None else 0.0
            deficit = load + swing - avail_total > sum(m.bess_discharge_max_p_mw.tolist())
            if self.level < len(self.shed_soc) and (m.soc_frac < self.shed_soc[self.level] or deficit):
                self.level += 1
                self._last_change_s = m.t_s
            elif self.level > 0 and m.soc_frac > self.shed_soc[self.level - 1] + p["restore_band_frac"]:
                self.level -= 1
                self._last_change_s = m.t_s
        if self._tiers is None or self._tiers[0] != self.level:
            self._tiers = np.full(self.site.n_spark_units, self.level, dtype=np.int64)
        tiers = self._tiers
        return Setpoints(
            pv_p_limit_mw=pv_limit,
            shed_tier=tiers,
            notes={"shed_tier_idx": float(self.level), "charge_allowed_p_mw": charge_ok},
        )


def load_controller_class(path: str) -> type[Controller]:
    """Import ``package.module:Class`` and check it is a :class:`Controller`.

    Raises ModuleNotFoundError / ImportError (no such module or class, with a close match) or
    TypeError (not a Controller); the scenario file reader turns them into messages with the line.
    """
    mod_name, _, cls_name = path.partition(":")
    module = importlib.import_module(mod_name)
    try:
        cls = getattr(module, cls_name)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ImportError(f"module {mod_name!r} has no class {cls_name!r}{did_you_mean(cls_name, names)}") from None
    if not (isinstance(cls, type) and issubclass(cls, Controller)):
        raise TypeError(f"{path} is not a subclass of twin.controller.Controller")
    return cls
