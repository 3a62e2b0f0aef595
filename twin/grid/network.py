"""Site builder: the pandapower model of the off-grid microgrid.

Topology (pilot defaults; every number comes from ``SiteConfig``)::

    13.8 kV main bus ──┬── feeder ─ BESS block 0 ─ block 1 ─ ... (daisy chain, cables)
                       ├── feeder ─ PV block 0 ─ ...
                       ├── feeder ─ Spark unit 0 ─ ...
                       └── aux transformer ─ 480 V aux bus (aux load)

    each block:  MV bus ─ 0.48/13.8 kV transformer ─ 480 V bus ─ element
      BESS block: grid-forming inverter (``gen``, voltage set point, shares the
                  slack by its rating: distributed slack, no infinite bus)
      PV block:   inverter (``sgen``, unity power factor)
      Spark unit: IT load and three cooling loads (pumps, fans, chiller): four ``load`` elements

Off-grid: there is no ``ext_grid``. The battery inverters carry the slack
together (pandapower ``distributed_slack`` with ``slack_weight`` = inverter
rating); the first in-service block is only the angle reference.

Signs here are pandapower's: ``gen``/``sgen`` p_mw > 0 is generation, ``load``
p_mw > 0 is consumption. Battery power in the rest of the twin is positive
when charging, i.e. ``-gen.p_mw``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandapower as pp

from twin.config import SiteConfig

__all__ = ["COOLING_KINDS", "SiteIndex", "build_network"]

COOLING_KINDS: tuple[str, ...] = ("pumps", "fans", "chiller")


@dataclass(frozen=True)
class SiteIndex:
    """Where each site element sits in the pandapower tables."""

    bess_gen: np.ndarray  # gen index per BESS block
    bess_lv_bus: np.ndarray
    bess_rating_mva: np.ndarray
    pv_sgen: np.ndarray  # sgen index per PV block
    pv_p_ac_max_mw: np.ndarray
    it_load: np.ndarray  # load index per Spark unit (IT)
    cooling_load: np.ndarray  # load index, shape (3, units): pumps, fans, chiller (COOLING_KINDS)
    aux_load: int
    it_q_per_p: float  # tan(phi) of the IT load
    cooling_q_per_p: np.ndarray  # shape (3, 1), per cooling kind
    aux_q_per_p: float
    main_bus: int

    @property
    def n_bess(self) -> int:
        return len(self.bess_gen)

    @property
    def n_pv(self) -> int:
        return len(self.pv_sgen)

    @property
    def n_spark(self) -> int:
        return len(self.it_load)


def _tan_phi(pf: float) -> float:
    return float(np.tan(np.arccos(pf)))


def build_network(site: SiteConfig) -> tuple[pp.pandapowerNet, SiteIndex]:
    """Build the pandapower net of ``site`` with zero injections."""
    net = pp.create_empty_network(name=site.name, f_hz=float(site.frequency_hz), sn_mva=1.0)
    mv, lv = site.mv_kv, site.lv_kv
    tr = site.transformer
    main = pp.create_bus(net, vn_kv=mv, name="mv_main")

    def cable(a: int, b: int, km: float, name: str) -> None:
        c = site.cable
        n = c.parallel  # parallel runs folded into one equivalent line (lightsim2grid takes parallel == 1 only)
        pp.create_line_from_parameters(
            net,
            a,
            b,
            length_km=km,
            r_ohm_per_km=c.r_ohm_per_km / n,
            x_ohm_per_km=c.x_ohm_per_km / n,
            c_nf_per_km=c.c_nf_per_km * n,
            max_i_ka=c.max_i_ka * n,
            name=name,
        )

    def block(kind: str, i: int, rating_mva: float, prev_mv: int | None, feeder_pos: int) -> tuple[int, int]:
        bmv = pp.create_bus(net, vn_kv=mv, name=f"{kind}{i:02d}_mv")
        blv = pp.create_bus(net, vn_kv=lv, name=f"{kind}{i:02d}_lv")
        if prev_mv is None:
            cable(main, bmv, site.feeder.home_run_km, f"{kind}{i:02d}_home_run")
        else:
            cable(prev_mv, bmv, site.feeder.spacing_km, f"{kind}{i:02d}_link")
        sn = rating_mva * tr.oversize_ratio
        pp.create_transformer_from_parameters(
            net,
            bmv,
            blv,
            sn_mva=sn,
            vn_hv_kv=mv,
            vn_lv_kv=lv,
            vk_percent=tr.vk_percent,
            vkr_percent=tr.vkr_percent,
            pfe_kw=0.0,
            i0_percent=0.0,
            shift_degree=0.0,
            name=f"{kind}{i:02d}_tx",
        )
        # No-load losses as a constant-impedance shunt at the HV terminal (the
        # magnetising branch of a pi equivalent) instead of inside pandapower's
        # T model: identical physics to first order, and the fast solver
        # (lightsim2grid) then solves exactly the same equations as runpp.
        p_fe_mw = tr.pfe_kw_per_mva * sn / 1000.0
        s_0_mva = tr.i0_percent / 100.0 * sn
        q_mag_mvar = float(np.sqrt(max(s_0_mva**2 - p_fe_mw**2, 0.0)))
        pp.create_shunt(net, bmv, q_mvar=q_mag_mvar, p_mw=p_fe_mw, vn_kv=mv, name=f"{kind}{i:02d}_tx_noload")
        return bmv, blv

    def feeders(kind: str, n: int, rating_mva: float) -> list[int]:
        lv_buses: list[int] = []
        prev: int | None = None
        for i in range(n):
            pos = i % site.feeder.blocks_per_feeder
            if pos == 0:
                prev = None
            bmv, blv = block(kind, i, rating_mva, prev, pos)
            prev = bmv
            lv_buses.append(blv)
        return lv_buses

    b = site.bess
    bess_lv = feeders("bess", b.n_blocks, b.block_inverter_mva)
    bess_gen = [
        pp.create_gen(
            net,
            bus,
            p_mw=0.0,
            vm_pu=b.vm_set_pu,
            sn_mva=b.block_inverter_mva,
            name=f"bess{i:02d}",
            slack=(i == 0),
            slack_weight=b.block_inverter_mva,
            max_q_mvar=b.block_inverter_mva,
            min_q_mvar=-b.block_inverter_mva,
        )
        for i, bus in enumerate(bess_lv)
    ]

    p_ac_block = site.pv.p_dc_mw / site.pv.dc_ac_ratio / site.pv.n_blocks
    pv_lv = feeders("pv", site.pv.n_blocks, p_ac_block)
    pv_sgen = [
        pp.create_sgen(net, bus, p_mw=0.0, q_mvar=0.0, sn_mva=p_ac_block, name=f"pv{i:02d}")
        for i, bus in enumerate(pv_lv)
    ]

    s = site.spark
    # the unit transformer: as given, else IT peak plus 30 % for cooling at the worse power factor
    unit_mva = (
        s.transformer_mva / tr.oversize_ratio
        if s.transformer_mva
        else s.it_peak_mw * 1.3 / min(s.it_pf, s.pump_pf, s.fan_pf, s.chiller_pf)
    )
    spark_lv = feeders("spark", s.n_units, unit_mva)
    it_load = [
        pp.create_load(net, bus, p_mw=0.0, q_mvar=0.0, name=f"spark{i:02d}_it") for i, bus in enumerate(spark_lv)
    ]
    # kind-major (every unit's pumps, then fans, then chiller): one contiguous run of load indices
    cool_load = [
        [pp.create_load(net, bus, p_mw=0.0, q_mvar=0.0, name=f"spark{i:02d}_{kind}") for i, bus in enumerate(spark_lv)]
        for kind in COOLING_KINDS
    ]

    aux_mv, aux_lv = block("aux", 0, max(site.aux.p_mw, 0.05) / site.aux.pf, None, 0)
    aux_load = pp.create_load(net, aux_lv, p_mw=0.0, q_mvar=0.0, name="aux")

    index = SiteIndex(
        bess_gen=np.asarray(bess_gen, dtype=np.int64),
        bess_lv_bus=np.asarray(bess_lv, dtype=np.int64),
        bess_rating_mva=np.full(b.n_blocks, b.block_inverter_mva),
        pv_sgen=np.asarray(pv_sgen, dtype=np.int64),
        pv_p_ac_max_mw=np.full(site.pv.n_blocks, p_ac_block),
        it_load=np.asarray(it_load, dtype=np.int64),
        cooling_load=np.asarray(cool_load, dtype=np.int64),
        aux_load=int(aux_load),
        it_q_per_p=_tan_phi(s.it_pf),
        cooling_q_per_p=np.array([[_tan_phi(s.pump_pf)], [_tan_phi(s.fan_pf)], [_tan_phi(s.chiller_pf)]]),
        aux_q_per_p=_tan_phi(site.aux.pf),
        main_bus=int(main),
    )
    return net, index
