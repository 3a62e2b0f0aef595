"""The run's overview plot (``overview.png`` in the results folder), drawn from ``timeseries.parquet``."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

__all__ = ["plot_overview"]


def plot_overview(ts_path: Path, png_path: Path, title: str) -> None:
    """Four stacked panels over the run (decimated to at most ~4000 points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [
        "time_s",
        "pv_avail_p_mw",
        "pv_p_mw",
        "it_p_mw",
        "cooling_p_mw",
        "bess_p_mw",
        "soc_frac",
        "pack_soc_min_frac",
        "pack_soc_max_frac",
        "v_min_pu",
        "v_max_pu",
        "temp_amb_c",
        "losses_p_mw",
    ]
    t = pq.read_table(ts_path, columns=[c for c in cols if c in pq.read_schema(ts_path).names])
    d = {c: t.column(c).to_numpy() for c in t.column_names}
    n = len(d["time_s"])
    if n == 0:
        return
    stride = max(1, n // 4000)
    d = {k: v[::stride] for k, v in d.items()}
    hours = d["time_s"] / 3600.0
    fig, ax = plt.subplots(4, 1, figsize=(11, 10), sharex=True, constrained_layout=True)
    ax[0].plot(hours, d["pv_avail_p_mw"], lw=0.8, color="gold", label="PV available")
    ax[0].plot(hours, d["pv_p_mw"], lw=0.8, color="darkorange", label="PV delivered")
    ax[0].plot(hours, d["it_p_mw"] + d["cooling_p_mw"], lw=0.8, color="k", label="IT + cooling")
    ax[0].plot(hours, d["bess_p_mw"], lw=0.8, color="tab:blue", label="battery (+ charging)")
    ax[0].axhline(0, color="grey", lw=0.5)
    ax[0].set_ylabel("power [MW]")
    ax[0].legend(loc="upper left", fontsize=8, ncol=4)
    ax[1].plot(hours, d["soc_frac"], color="tab:green", label="fleet")
    ax[1].fill_between(
        hours, d["pack_soc_min_frac"], d["pack_soc_max_frac"], color="tab:green", alpha=0.2, label="pack range"
    )
    ax[1].set_ylim(0, 1)
    ax[1].set_ylabel("state of charge [-]")
    ax[1].legend(loc="upper left", fontsize=8)
    ax[2].plot(hours, d["v_min_pu"], lw=0.8, label="min")
    ax[2].plot(hours, d["v_max_pu"], lw=0.8, label="max")
    ax[2].set_ylabel("bus voltage [pu]")
    ax[2].legend(loc="upper left", fontsize=8)
    if "temp_amb_c" in d:
        ax[3].plot(hours, d["temp_amb_c"], color="tab:red")
    ax[3].set_ylabel("ambient [degC]")
    ax[3].set_xlabel("time since start [h]")
    fig.suptitle(title)
    fig.savefig(png_path, dpi=90)
    plt.close(fig)
