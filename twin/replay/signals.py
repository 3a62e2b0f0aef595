"""The twin signals a mapping file may name: their unit, bounds, scale, resampling and what they drive.

Three kinds of names:

* **inputs** drive a model instead of its own synthesis: ``pv_bNN_poa_w_m2`` / ``pv_poa_w_m2`` (plane-of-array
  irradiance per block / for the plant), ``ghi_w_m2`` (global horizontal, turned into POA with pvlib),
  ``pv_bNN_avail_p_mw`` / ``pv_avail_p_mw`` (available AC power per block / for the plant, shared equally),
  ``spark_uNN_it_p_mw`` / ``it_p_mw`` (IT power per Spark unit / for the site, shared by the mapping's
  ``it_share_weights``), ``temp_amb_c`` and ``rh_frac`` (ambient dry bulb and relative humidity);
* **initial state**: ``bess_bNN_soc_frac`` (every pack of block NN), ``pack_<id>_soc_frac``,
  ``pack_<id>_temp_c``, ``pack_temp_mean_c`` (every pack), ``pack_<id>_in_service`` (0 = out of service);
* **comparisons**: any column of the run's ``timeseries.parquet`` (``docs/results.md``); the unit follows
  from the name's ending (``_p_mw`` MW, ``_c`` degC, ``_frac`` fraction, ``_pu`` per unit ...), and a
  family with an index (``bess_b07_p_mw``) is checked against the site's counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from twin.config import AMBIENT_TEMP_RANGE_C, SiteConfig
from twin.replay.units import dimension_of
from twin.validation import did_you_mean

__all__ = ["INITIAL_SIGNALS", "INPUT_SIGNALS", "RH_MIN_FRAC", "Signal", "resolve_signal"]

Target = Literal[
    "pv_poa", "pv_ghi", "pv_avail", "it", "temp_amb", "rh", "soc_block", "soc_pack", "temp_pack", "temp_all",
    "service_pack", "compare",
]  # fmt: skip


@dataclass(frozen=True)
class Signal:
    name: str
    unit: str  # the signal's own unit (a base unit of twin.replay.units.DIMENSIONS)
    bounds: tuple[float, float]  # physically possible values, in ``unit``
    rating: float | None  # a typical full-scale magnitude (the 'unit looks wrong' check); None: not checked
    is_state: bool  # a state (held between samples) rather than a quantity (averaged over a step)
    target: Target  # what the signal drives (inputs and initial state) or "compare"
    index: int | None = None  # block, unit or pack id the signal belongs to; None: the site

    @property
    def resample(self) -> Literal["mean", "hold"]:
        return "hold" if self.is_state else "mean"

    @property
    def dimension(self) -> str:
        return dimension_of(self.unit)


# input and initial-state families: regex -> (target, unit)
INPUT_SIGNALS: dict[str, tuple[Target, str]] = {
    r"pv_b(\d+)_poa_w_m2": ("pv_poa", "W/m2"),
    r"pv_poa_w_m2": ("pv_poa", "W/m2"),
    r"ghi_w_m2": ("pv_ghi", "W/m2"),
    r"pv_b(\d+)_avail_p_mw": ("pv_avail", "MW"),
    r"pv_avail_p_mw": ("pv_avail", "MW"),
    r"spark_u(\d+)_it_p_mw": ("it", "MW"),
    r"it_p_mw": ("it", "MW"),
    r"temp_amb_c": ("temp_amb", "degC"),
    r"rh_frac": ("rh", "frac"),
}
INITIAL_SIGNALS: dict[str, tuple[Target, str]] = {
    r"bess_b(\d+)_soc_frac": ("soc_block", "frac"),
    r"pack_(\d+)_soc_frac": ("soc_pack", "frac"),
    r"pack_(\d+)_temp_c": ("temp_pack", "degC"),
    r"pack_temp_mean_c": ("temp_all", "degC"),
    r"pack_(\d+)_in_service": ("service_pack", "1"),
}
# comparison columns: unit by the name's ending, most specific first
_SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_mvar", "Mvar"),
    ("_mwh", "MWh"),
    ("_w_m2", "W/m2"),
    ("_mw", "MW"),
    ("_pu", "pu"),
    ("_pct", "%"),
    ("_frac", "frac"),
    ("_c", "degC"),
    ("_v", "V"),
    ("_idx", "1"),
    ("_in_service", "1"),
)
_INDEXED = (  # indexed column families: regex -> the site's count they index
    (r"bess_b(\d+)_", "bess"),
    (r"pv_b(\d+)_", "pv"),
    (r"spark_u(\d+)_", "spark"),
)
# Bounds of what a sensor can read, in the signal's unit (wider than the plant's ratings: a bound is a
# broken sensor or a wrong unit, not an unusual operating point).
_IRRADIANCE_BOUNDS = (-20.0, 1800.0)  # pyranometers read a few W/m2 below 0 at night; cloud enhancement ~1,600
_TEMP_BOUNDS = (-60.0, 200.0)  # equipment temperatures (coolant, packs, GPU junctions) with margin
_IRRADIANCE_RATING = 1000.0  # W/m2, standard test conditions
RH_MIN_FRAC = 0.001  # relative humidity bound: a recorded 0 is a broken sensor (no dew point exists at 0)


def _unit_of(name: str) -> str | None:
    if name.startswith("n_"):
        return "1"
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    return None


def _counts(site: SiteConfig) -> dict[str, int]:
    return {"bess": site.bess.n_blocks, "pv": site.pv.n_blocks, "spark": site.spark.n_units}


def _check_index(name: str, family: str, i: int, site: SiteConfig) -> None:
    n = _counts(site)[family]
    if not 0 <= i < n:
        what = {"bess": "battery blocks", "pv": "PV blocks", "spark": "Spark units"}[family]
        raise ValueError(f"signal {name!r}: index {i} is not one of the site's {n} {what} (0-{n - 1})")


def _scale(name: str, unit: str, site: SiteConfig) -> tuple[tuple[float, float], float | None]:
    """Bounds and rating of a signal from its family."""
    bess_blk = site.bess.block_inverter_mva
    pv_ac = site.pv.p_dc_mw / site.pv.dc_ac_ratio
    if unit in ("MW", "Mvar"):
        if re.match(r"bess_b\d+_", name):
            r = bess_blk
        elif name.startswith("bess_"):
            r = bess_blk * site.bess.n_blocks
        elif re.match(r"pv_b\d+_", name):
            r = pv_ac / site.pv.n_blocks
        elif name.startswith("pv_"):
            r = pv_ac
        elif re.match(r"spark_u\d+_", name):
            r = site.spark.it_peak_mw
        elif name.startswith(("it_", "shed_")):
            r = site.spark.it_peak_mw * site.spark.n_units
        else:
            r = max(pv_ac, bess_blk * site.bess.n_blocks)
        bidirectional = name.startswith("bess_") or unit == "Mvar"
        lo = -1.5 * r if bidirectional else -0.05 * r  # sources and loads read a little below 0 (offsets)
        return (lo, 1.5 * r), r
    if unit == "W/m2":
        return _IRRADIANCE_BOUNDS, _IRRADIANCE_RATING
    if unit == "degC":
        return (AMBIENT_TEMP_RANGE_C if name == "temp_amb_c" else _TEMP_BOUNDS), None
    if unit == "frac":
        return (0.0, 1.0), 1.0
    if unit == "pu":
        return (0.0, 2.0), 1.0
    if unit == "V":
        return (0.0, 5.0), None  # cell voltages
    if unit == "%":
        return (0.0, 1000.0), None  # loading
    if unit == "MWh":
        return (0.0, 1e4), None
    return (-1e9, 1e9), None  # counts and indices


def resolve_signal(name: str, site: SiteConfig, role: str) -> Signal:
    """The signal ``name`` for a tag of ``role`` (input, initial, compare, event) on ``site``; ValueError with
    what is allowed and a close match otherwise."""
    if role == "event":
        return Signal(name, "1", (-1e9, 1e9), None, True, "compare")
    table = INPUT_SIGNALS if role == "input" else INITIAL_SIGNALS if role == "initial" else None
    if table is not None:
        for pattern, (target, unit) in table.items():
            m = re.fullmatch(pattern, name)
            if m:
                idx = int(m.group(1)) if m.groups() else None
                fam = {"pv_poa": "pv", "pv_avail": "pv", "it": "spark", "soc_block": "bess"}.get(target)
                if idx is not None and fam is not None:
                    _check_index(name, fam, idx, site)
                bounds, rating = _scale(name, unit, site)
                if target == "rh":  # PsychroLib has no dew point at 0 % RH; the driest air on record is above 1 %
                    bounds = (RH_MIN_FRAC, 1.0)
                return Signal(name, unit, bounds, rating, unit == "1", target, idx)
        examples = [re.sub(r"\(\\d\+\)", "00", p) for p in table]
        raise ValueError(
            f"signal {name!r} cannot be an {role} signal; allowed: {', '.join(examples)}{did_you_mean(name, examples)}"
        )
    col_unit = _unit_of(name)
    if col_unit is None or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(
            f"signal {name!r} is not a column of the twin's time series (names end in their unit: _p_mw, _c, "
            "_frac, _pu, _w_m2, _mvar, _pct, _v, _idx; see docs/results.md)"
        )
    for pattern, family in _INDEXED:
        m = re.match(pattern, name)
        if m:
            _check_index(name, family, int(m.group(1)), site)
    bounds, rating = _scale(name, col_unit, site)
    is_state = col_unit == "1"
    return Signal(name, col_unit, bounds, rating, is_state, "compare")
