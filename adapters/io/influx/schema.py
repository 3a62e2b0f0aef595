"""The InfluxDB schema of a run: which measurement, tags and field each result column becomes (the one definition;
docs/telemetry.md prints it and the Grafana dashboard's test reads it).

Every point carries the tags ``site``, ``scenario`` and ``run`` (the run id). A column of the time series goes to
the first rule of :data:`RULES` whose pattern matches it:

- a column about one element, ``bess_b03_soc_frac``, ``pv_b07_p_mw``, ``spark_u02_gpu_temp_c``, becomes the field
  after the element (``soc_frac``) of the element's measurement, with the element's number as a tag
  (``block=3``, ``unit=2``);
- any other column keeps its name as the field (``pv_p_mw`` in ``pv``, ``soc_frac`` in ``bess``), so a field
  name is a column name of ``timeseries.parquet`` (docs/results.md) with its unit in it;
- a column no rule names goes to ``site`` (a new column is never lost; a test keeps the list complete).

Pack snapshots (``packs.parquet``) become ``pack`` points tagged ``block`` and ``pack``; events become
``events`` points tagged ``kind`` with the fields ``time_s`` (simulated time, s) and ``detail`` (text).
Timestamps: the scenario's ``run.start`` in the site's time zone plus the simulated time, in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BASE_TAGS",
    "EVENT_FIELDS",
    "MEASUREMENTS",
    "PACK_FIELDS",
    "RULES",
    "Group",
    "Rule",
    "layout",
    "place",
]

BASE_TAGS = ("site", "scenario", "run")

# measurement -> what it holds (docs/telemetry.md)
MEASUREMENTS: dict[str, str] = {
    "grid": "the AC network: losses, bus voltages (v_<bus>_<mv|lv>_pu), extremes, loading, UFLS, reactive power",
    "bess": "the battery fleet: power (+ charging), stored energy, SoC and its spread, limits, losses, pack counts",
    "bess_block": "one battery block (tag block): power, SoC, charge and discharge limits",
    "pack": "one pack's snapshot (tags block, pack): SoC, temperatures, voltage, current, limits, BMS state",
    "pv": "the PV plant: available, set-point, delivered and fast-curtailed power, irradiance, cell temperature",
    "pv_block": "one PV block (tag block): power, plane-of-array irradiance",
    "datacenter": "the Spark units together: IT demand and served power, shedding, thermal cuts, aux, GPU extremes",
    "spark": "one Spark unit (tag unit): IT power, GPU, coolant and facility temperatures, cooling power, regime",
    "cooling": "the site's cooling: power by part (pumps, fans, chiller) and heat rejected",
    "weather": "ambient dry- and wet-bulb temperature, relative humidity",
    "controller": "the site controller's set-points and notes (ctrl_*)",
    "hil": "the HIL link to the BMS (hil_*): link state, lateness, I/O time, limits, SoC true vs BMS",
    "events": "what happened (tag kind): time_s, detail",
    "site": "any column no other rule names",
}


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    measurement: str
    tag: str | None = None  # the element's tag: group 1 is its number, group 2 the field

    def match(self, column: str) -> tuple[str, tuple[tuple[str, str], ...], str] | None:
        m = self.pattern.fullmatch(column)
        if m is None:
            return None
        if self.tag is None:
            return self.measurement, (), column
        return self.measurement, ((self.tag, str(int(m.group(1)))),), m.group(2)


def _r(pattern: str, measurement: str, tag: str | None = None) -> Rule:
    return Rule(re.compile(pattern), measurement, tag)


RULES: tuple[Rule, ...] = (
    _r(r"bess_b(\d+)_(.+)", "bess_block", "block"),
    _r(r"pv_b(\d+)_(.+)", "pv_block", "block"),
    _r(r"spark_u(\d+)_(.+)", "spark", "unit"),
    _r(r"v_.+_pu|losses_p_mw|line_loading_max_pct|trafo_loading_max_pct|ufls_p_mw|bess_q_mvar", "grid"),
    _r(r"bess_.+|e_stored_mwh|soc_frac|pack_.+|n_packs_.+|cell_v_m(?:in|ax)_v", "bess"),
    _r(r"pv_.+", "pv"),
    _r(r"cooling_.+|heat_rejected_mw", "cooling"),
    _r(r"it_.+|shed_p_mw|aux_p_mw|gpu_temp_max_c|n_units_.+", "datacenter"),
    _r(r"temp_amb_c|temp_wb_c|rh_frac", "weather"),
    _r(r"ctrl_.+", "controller"),
    _r(r"hil_.+", "hil"),
)

# the fields of a pack point: the columns of packs.parquet (adapters/io/results.py PackRecorder) less the tags
PACK_TAG_COLUMNS = ("block", "pack_id")
EVENT_FIELDS = ("time_s", "detail")
PACK_FIELDS = (
    "soc_frac",
    "soc_weak_cell_frac",
    "temp_c",
    "temp_max_c",
    "thermal_mgmt_kw",
    "v_v",
    "i_a",
    "p_ac_kw",
    "cell_v_max_v",
    "cell_v_min_v",
    "i_charge_max_a",
    "i_discharge_max_a",
    "soh_frac",
    "r_factor",
    "bms_state",
    "bms_evt1",
    "in_service",
)


def place(column: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """``column`` -> (measurement, element tags, field)."""
    for rule in RULES:
        hit = rule.match(column)
        if hit is not None:
            return hit
    return "site", (), column


@dataclass(frozen=True)
class Group:
    """The fields of one line: a measurement with its element tags, and (column index, field) pairs."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[int, str], ...]


def layout(columns: Sequence[str]) -> list[Group]:
    """The lines one row of ``columns`` becomes (``time_s`` is the timestamp, not a field), in column order."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, str]]] = {}
    for j, c in enumerate(columns):
        if c == "time_s":
            continue
        meas, tags, fld = place(c)
        groups.setdefault((meas, tags), []).append((j, fld))
    return [Group(m, t, tuple(f)) for (m, t), f in groups.items()]
