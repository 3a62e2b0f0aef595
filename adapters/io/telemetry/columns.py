"""The columns of a run's ``timeseries.parquet`` for a site, so a mapping's compare signal is checked before a run.

The simulators write the columns (``adapters/sims/*``); this is their list for
a given site, kept equal to what a run writes by
``tests/integration/test_replay.py::test_the_column_catalogue_is_what_a_run_writes`` (two site sizes).
Controller notes (``ctrl_*``: any name a controller's ``Setpoints.notes``
gives) and the HIL columns of ``twin hil`` (``hil_*``) are not listed: a name
with those prefixes is accepted as is.
"""

from __future__ import annotations

from twin.config import SiteConfig
from twin.grid.network import build_network

__all__ = ["OPEN_PREFIXES", "timeseries_columns"]

OPEN_PREFIXES = ("ctrl_", "hil_")  # columns a controller or twin hil adds: not known in advance

_SITE = (
    "time_s", "temp_amb_c", "temp_wb_c", "rh_frac", "pv_poa_w_m2", "pv_temp_cell_c", "it_demand_p_mw",
    "it_site_min_p_mw", "it_site_max_p_mw", "shed_p_mw", "it_thermal_cut_p_mw", "heat_rejected_mw", "gpu_temp_max_c",
    "n_units_throttled", "n_units_shutdown", "pv_avail_p_mw", "pv_setpoint_p_mw", "pv_p_mw", "pv_fast_curtail_p_mw",
    "it_p_mw", "cooling_p_mw", "cooling_pumps_p_mw", "cooling_fans_p_mw", "cooling_chiller_p_mw", "aux_p_mw",
    "ufls_p_mw", "bess_headroom_p_mw", "bess_p_mw", "bess_charge_p_mw", "bess_discharge_p_mw", "bess_q_mvar",
    "losses_p_mw", "v_min_pu", "v_max_pu", "line_loading_max_pct", "trafo_loading_max_pct", "e_stored_mwh",
    "soc_frac", "pack_soc_min_frac", "pack_soc_max_frac", "n_packs_in_service", "pack_temp_min_c", "pack_temp_max_c",
    "pack_temp_mean_c", "cell_v_max_v", "cell_v_min_v", "n_packs_alarm", "n_packs_warning", "n_packs_fault",
    "n_packs_runaway", "bess_loss_p_mw", "bess_thermal_mgmt_p_mw", "bess_converter_loss_p_mw", "bess_cell_loss_p_mw",
    "bess_param_change_p_mw", "bess_shortfall_p_mw", "bess_fleet_p_mw", "bess_dispatch_gap_p_mw",
    "bess_charge_max_p_mw", "bess_discharge_max_p_mw",
)  # fmt: skip
_PER = {
    "bess": (
        "bess_b{:02d}_p_mw", "bess_b{:02d}_soc_frac", "bess_b{:02d}_charge_max_p_mw",
        "bess_b{:02d}_discharge_max_p_mw",
    ),
    "pv": ("pv_b{:02d}_poa_w_m2", "pv_b{:02d}_p_mw"),
    "spark": (
        "spark_u{:02d}_gpu_temp_c", "spark_u{:02d}_coolant_temp_c", "spark_u{:02d}_facility_temp_c",
        "spark_u{:02d}_regime_idx", "spark_u{:02d}_cooling_p_mw", "spark_u{:02d}_it_p_mw",
    ),
}  # fmt: skip


def timeseries_columns(site: SiteConfig) -> list[str]:
    """Every column a run of ``site`` writes, controller notes and HIL columns aside (sorted)."""
    n = {"bess": site.bess.n_blocks, "pv": site.pv.n_blocks, "spark": site.spark.n_units}
    out = list(_SITE)
    for kind, names in _PER.items():
        out += [name.format(i) for name in names for i in range(n[kind])]
    net, _ = build_network(site)
    out += [f"v_{b}_pu" for b in net.bus.name]
    return sorted(out)
