"""The electrical plant: the site net, its solver and the fast local layer.

What an islanded grid-forming microgrid does within a second, without the
supervisory controller, is modelled here:

* the grid-forming battery blocks share the imbalance (distributed slack by
  inverter rating);
* a block that reaches its power limit (from the fleet: energy and current
  limits of its packs) saturates and holds that limit while the other blocks
  pick up the rest (droop with current limiting);
* when every block is saturated on the charging side, frequency rises and
  the PV inverters curtail (IEEE 1547 frequency-watt), and on the
  discharging side frequency falls and under-frequency load shedding drops
  load. Both are reported as ``pv_fast_curtail_p_mw`` and ``ufls_p_mw`` so
  energy balance always closes and the supervisory controller's job (keep the
  fleet away from these limits) can be scored.

Battery power here follows the twin's convention: positive when charging.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandapower as pp

from twin.config import GridModelConfig
from twin.powerflow import SOLVERS, FlowResult, Injections, PowerFlowDiverged
from twin.site import SiteIndex

_P_TOL_MW = 1e-7  # a block counts as past its limit beyond this


@dataclass
class GridStep:
    """Result of one electrical step."""

    bess_p_mw: np.ndarray  # per block, + charging, at the inverter terminal
    bess_q_mvar: np.ndarray
    pv_p_mw: np.ndarray  # per block, after fast curtailment
    pv_fast_curtail_p_mw: float
    it_p_mw: np.ndarray  # per unit, after under-frequency load shedding
    cooling_p_mw: np.ndarray
    aux_p_mw: float
    ufls_p_mw: float
    losses_p_mw: float
    v_min_pu: float
    v_max_pu: float
    line_loading_max_pct: float
    trafo_loading_max_pct: float
    n_solves: int
    flow: FlowResult
    injections: Injections


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A contiguous index run as a slice (cheaper than fancy indexing every step)."""
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


class Grid:
    """The electrical plant of the site around one power-flow solver."""

    def __init__(self, net: pp.pandapowerNet, index: SiteIndex, cfg: GridModelConfig, solver: str | None = None):
        self.net = net
        self.ix = index
        self.cfg = cfg
        self.solver = SOLVERS[solver or cfg.solver](net, cfg.tolerance_pu, cfg.max_iteration)
        n_gen, n_sgen, n_load = len(net.gen), len(net.sgen), len(net.load)
        self._inj = Injections(
            sgen_p_mw=np.zeros(n_sgen), sgen_in_service=np.ones(n_sgen, dtype=bool),
            load_p_mw=np.zeros(n_load), load_q_mvar=np.zeros(n_load),
            gen_p_mw=np.zeros(n_gen), gen_in_service=np.ones(n_gen, dtype=bool),
            gen_slack_weight=index.bess_rating_mva.astype(float).copy(),
        )
        self.bess_in_service = np.ones(index.n_bess, dtype=bool)
        self.pv_in_service = np.ones(index.n_pv, dtype=bool)
        self.n_nonconverged = 0
        self.n_solves = 0
        self._zeros_bess = np.zeros(index.n_bess)
        self._sl = {"gen": _as_slice(index.bess_gen), "sgen": _as_slice(index.pv_sgen),
                    "it": _as_slice(index.it_load), "cool": _as_slice(index.cooling_load)}

    # -- events ------------------------------------------------------------------------
    def set_bess_block(self, block: int, in_service: bool) -> None:
        self.bess_in_service[block] = in_service

    def set_pv_block(self, block: int, in_service: bool) -> None:
        self.pv_in_service[block] = in_service

    # -- one step ----------------------------------------------------------------------
    def _solve(self, inj: Injections) -> FlowResult:
        try:
            return self.solver.solve(inj)
        except PowerFlowDiverged:
            self.n_nonconverged += 1
            if self.cfg.on_nonconvergence == "flat_start_then_stop":
                return self.solver.solve(inj, flat_start=True)
            raise

    def step(
        self,
        pv_p_mw: np.ndarray,
        it_p_mw: np.ndarray,
        cooling_p_mw: np.ndarray,
        aux_p_mw: float,
        bess_charge_max_p_mw: np.ndarray,
        bess_discharge_max_p_mw: np.ndarray,
    ) -> GridStep:
        """Solve the site for one step.

        ``bess_*_max_mw`` are the fleet's per-block limits for this step (>= 0).
        Raises :class:`PowerFlowDiverged` if no operating point is found.
        """
        ix, inj = self.ix, self._inj
        sl = self._sl
        pv = np.where(self.pv_in_service, np.maximum(pv_p_mw, 0.0), 0.0)
        it = np.maximum(it_p_mw, 0.0)
        cool = np.maximum(cooling_p_mw, 0.0)
        aux = max(float(aux_p_mw), 0.0)
        on = self.bess_in_service & ((bess_charge_max_p_mw > _P_TOL_MW) | (bess_discharge_max_p_mw > _P_TOL_MW))
        if not on.any():
            raise PowerFlowDiverged(
                "no grid-forming battery block is available: the island has no voltage source",
                {"bess_in_service": self.bess_in_service.tolist()},
            )
        ch = np.where(on, bess_charge_max_p_mw, 0.0)
        dis = np.where(on, bess_discharge_max_p_mw, 0.0)
        ch_tol = ch + _P_TOL_MW
        dis_tol = dis + _P_TOL_MW

        inj.gen_in_service[sl["gen"]] = on
        inj.sgen_in_service[sl["sgen"]] = self.pv_in_service
        weight = np.where(on, ix.bess_rating_mva, 0.0)
        target = self._zeros_bess  # gen p, pandapower sign (+ discharging); replaced, never written in place
        pv_cut = 0.0
        shed = 0.0
        n = 0
        for _ in range(2 * ix.n_bess + 4):
            inj.sgen_p_mw[sl["sgen"]] = pv
            inj.load_p_mw[sl["it"]] = it
            inj.load_q_mvar[sl["it"]] = it * ix.it_q_per_p
            inj.load_p_mw[sl["cool"]] = cool
            inj.load_q_mvar[sl["cool"]] = cool * ix.cooling_q_per_p
            inj.load_p_mw[ix.aux_load] = aux
            inj.load_q_mvar[ix.aux_load] = aux * ix.aux_q_per_p
            inj.gen_slack_weight[sl["gen"]] = weight
            inj.gen_p_mw[sl["gen"]] = target
            flow = self._solve(inj)
            n += 1
            self.n_solves += 1
            charge = -flow.gen_p_mw[sl["gen"]]  # + charging (off blocks read 0)
            free = weight > 0
            over_ch = free & (charge > ch_tol)
            over_dis = free & (-charge > dis_tol)
            over = over_ch | over_dis
            if not over.any():
                break
            # Saturate the blocks past their limit; the others pick up the rest.
            target = np.where(over_ch, -ch, np.where(over_dis, dis, target))
            weight = np.where(over, 0.0, weight)
            if weight.sum() > 0:
                continue
            # Every block saturated: the local fast layer acts, then one block
            # (the one with most headroom) takes the residual slack again.
            if over_ch.any():
                excess = float(np.sum(charge[over_ch] - ch[over_ch]))
                total_pv = pv.sum()
                cut = min(excess, total_pv)
                if total_pv > 0:
                    pv = pv * (1.0 - cut / total_pv)
                pv_cut += cut
            else:
                deficit = float(np.sum(-charge[over_dis] - dis[over_dis]))
                shed += self._shed(deficit, it, cool)
                if shed <= 0 and deficit > _P_TOL_MW:
                    break
            k = int(np.argmax(np.where(on, ch + dis, -1.0)))
            weight = np.zeros(ix.n_bess)
            weight[k] = ix.bess_rating_mva[k]
            target = target.copy()
            target[k] = 0.0
        bess = np.where(on, -flow.gen_p_mw[sl["gen"]], 0.0)
        return GridStep(
            bess_p_mw=bess,
            bess_q_mvar=np.where(on, -flow.gen_q_mvar[sl["gen"]], 0.0),
            pv_p_mw=pv,
            pv_fast_curtail_p_mw=pv_cut,
            it_p_mw=it,
            cooling_p_mw=cool,
            aux_p_mw=aux,
            ufls_p_mw=shed,
            losses_p_mw=flow.losses_p_mw,
            v_min_pu=float(flow.vm_pu.min()),
            v_max_pu=float(flow.vm_pu.max()),
            line_loading_max_pct=float(flow.line_loading_pct.max()),
            trafo_loading_max_pct=float(flow.trafo_loading_pct.max()),
            n_solves=n,
            flow=flow,
            injections=inj,
        )

    @staticmethod
    def _shed(deficit_mw: float, it: np.ndarray, cool: np.ndarray) -> float:
        """Under-frequency load shedding: drop IT load (and its cooling) unit by unit
        from the last unit, in place; return the power shed."""
        shed = 0.0
        for u in range(len(it) - 1, -1, -1):
            if shed >= deficit_mw:
                break
            if it[u] + cool[u] <= 0:
                continue
            shed += it[u] + cool[u]
            it[u] = 0.0
            cool[u] = 0.0
        return shed
