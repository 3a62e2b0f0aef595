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
from twin.errors import PowerFlowDiverged
from twin.grid.network import SiteIndex
from twin.grid.powerflow import SOLVERS, FlowResult, Injections, LightSimSolver, PandapowerSolver

__all__ = ["Grid", "GridStep"]

_P_TOL_MW = 1e-7  # a block counts as past its limit beyond this


@dataclass
class GridStep:
    """Result of one electrical step."""

    bess_p_mw: np.ndarray  # per block, + charging, at the inverter terminal
    bess_q_mvar: np.ndarray
    pv_p_mw: np.ndarray  # per block, after fast curtailment
    pv_fast_curtail_p_mw: float
    it_p_mw: np.ndarray  # per unit, after under-frequency load shedding
    cooling_p_mw: np.ndarray  # (3, units): pumps, fans, chiller, after under-frequency load shedding
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


def _water_fill(
    total_mw: float, on: list[bool], rating: list[float], ch: list[float], dis: list[float], tol: float
) -> list[int]:
    """Which blocks hold a limit when ``total_mw`` (+ charging) is shared in proportion to rating:
    +1 at the charge limit, -1 at the discharge limit, 0 free."""
    sat = [0] * len(on)
    for _ in range(len(on) + 1):
        held = sum(ch[i] if sat[i] > 0 else -dis[i] for i in range(len(on)) if sat[i])
        r_free = sum(r for r, o, d in zip(rating, on, sat) if o and not d)
        if r_free <= 0:
            break
        mu = (total_mw - held) / r_free
        changed = False
        for i in range(len(on)):
            if on[i] and not sat[i]:
                if mu * rating[i] > ch[i] + tol:
                    sat[i], changed = 1, True
                elif -mu * rating[i] > dis[i] + tol:
                    sat[i], changed = -1, True
        if not changed:
            break
    return sat


def _release(mask: list[bool], sat: list[int], weight: list[float], target: list[float], rating: list[float]) -> None:
    """Put the blocks in ``mask`` back on the shared slack (in place)."""
    for i, m in enumerate(mask):
        if m:
            sat[i] = 0
            weight[i] = rating[i]
            target[i] = 0.0


def _next_cut(hist: list[tuple[float, float]], cut_mw: float, excess_mw: float, total_pv_mw: float) -> float:
    """The next PV cut of frequency-watt: a secant step on the slack block's excess over its
    charge limit. Cutting PV by dc lowers the excess by eff dc, eff = 1 less the marginal losses
    of the PV power; eff is measured from the last two cuts (0.97 before there are two)."""
    hist.append((cut_mw, excess_mw))
    eff = 0.97
    if len(hist) >= 2 and hist[-1][0] != hist[-2][0]:
        eff = min(max((hist[-2][1] - hist[-1][1]) / (hist[-1][0] - hist[-2][0]), 0.5), 1.0)
    return min(max(cut_mw + excess_mw / eff, 0.0), total_pv_mw)


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
        self.solver: PandapowerSolver | LightSimSolver = SOLVERS[solver or cfg.solver](
            net, cfg.tolerance_pu, cfg.max_iteration
        )
        n_gen, n_sgen, n_load = len(net.gen), len(net.sgen), len(net.load)
        self._inj = Injections(
            sgen_p_mw=np.zeros(n_sgen),
            sgen_in_service=np.ones(n_sgen, dtype=bool),
            load_p_mw=np.zeros(n_load),
            load_q_mvar=np.zeros(n_load),
            gen_p_mw=np.zeros(n_gen),
            gen_in_service=np.ones(n_gen, dtype=bool),
            gen_slack_weight=index.bess_rating_mva.astype(float).copy(),
        )
        self.bess_in_service = np.ones(index.n_bess, dtype=bool)
        self.pv_in_service = np.ones(index.n_pv, dtype=bool)
        self.n_nonconverged = 0
        self.n_solves = 0
        self._rating = index.bess_rating_mva.astype(float).tolist()
        self._losses_mw = 0.0  # last step's, for the guess of the saturated blocks
        self._sl = {
            "gen": _as_slice(index.bess_gen),
            "sgen": _as_slice(index.pv_sgen),
            "it": _as_slice(index.it_load),
            "cool": _as_slice(index.cooling_load.ravel()),
        }

    @property
    def last_injections(self) -> Injections:
        """The injections of the last solve (what ``network.json`` is written with)."""
        return self._inj

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

        ``cooling_p_mw`` has shape (3, units): pumps, fans, chiller (:data:`twin.grid.network.COOLING_KINDS`).
        ``bess_*_max_p_mw`` are the fleet's per-block limits for this step (>= 0).
        Raises :class:`PowerFlowDiverged` if no operating point is found.
        """
        # The 8-12-element block logic runs on Python lists: for arrays this
        # small, numpy's per-call cost is most of the time of a step.
        ix, inj, sl = self.ix, self._inj, self._sl
        nb, tol = ix.n_bess, _P_TOL_MW
        pv = np.maximum(pv_p_mw, 0.0)
        if not self.pv_in_service.all():
            pv = np.where(self.pv_in_service, pv, 0.0)
        it = np.maximum(it_p_mw, 0.0)
        cool = np.maximum(np.reshape(cooling_p_mw, (3, ix.n_spark)), 0.0)
        aux = max(float(aux_p_mw), 0.0)
        svc = self.bess_in_service.tolist()
        chl, disl = bess_charge_max_p_mw.tolist(), bess_discharge_max_p_mw.tolist()
        on = [s_ and (c > tol or d > tol) for s_, c, d in zip(svc, chl, disl)]
        if not any(on):
            # Every block in service is at both limits (empty and unable to charge, e.g. too cold):
            # the inverters still form the island's voltage at zero power; the load is shed below
            # and what cannot be shed shows as the fleet's shortfall.
            on = list(svc)
        if not any(on):
            raise PowerFlowDiverged(
                "no grid-forming battery block is available: the island has no voltage source",
                {"bess_in_service": svc},
            )
        ch = [c if o else 0.0 for c, o in zip(chl, on)]
        dis = [d if o else 0.0 for d, o in zip(disl, on)]
        rating = self._rating
        weight = [r if o else 0.0 for r, o in zip(rating, on)]
        target = [0.0] * nb  # gen p, pandapower sign (+ discharging)
        # sat: +1 held at its charge limit, -1 at its discharge limit, 0 on the slack.
        # Guess which blocks saturate before solving: share this step's imbalance (with last
        # step's losses) by rating and hold the blocks past a limit (water-filling). Usually
        # right, which saves solves when the load swings (training jobs); checked against the
        # equilibrium below.
        total = float(pv.sum()) - float(it.sum()) - float(cool.sum()) - aux - self._losses_mw  # + charging
        sat = _water_fill(total, on, rating, ch, dis, tol)
        all_saturated = False
        pv_cut = 0.0
        on_idx = [i for i in range(nb) if on[i]]
        pv0, total_pv0 = pv, float(pv.sum())
        fw: list[tuple[float, float]] = []  # frequency-watt: (PV cut, slack block's charge - its limit)
        if on_idx and total_pv0 > 0 and all(sat[i] > 0 for i in on_idx):
            # every block full: frequency-watt curtails PV by the predicted excess and the block
            # with most headroom takes the slack (corrected below if the guess was off)
            pv_cut = min(max(total - sum(ch[i] for i in on_idx), 0.0), total_pv0)
            pv = pv0 * (1.0 - pv_cut / total_pv0)
            sat[max(on_idx, key=lambda i: ch[i] + dis[i])] = 0
            all_saturated = True
        if any(sat) and any(w > 0 and d == 0 for w, d in zip(weight, sat)):  # one block stays on the slack
            target = [-cm if d > 0 else (dm if d < 0 else 0.0) for d, cm, dm in zip(sat, ch, dis)]
            weight = [0.0 if d else w for w, d in zip(weight, sat)]
        else:
            sat = [0] * nb

        inj.gen_in_service[sl["gen"]] = on
        inj.sgen_in_service[sl["sgen"]] = self.pv_in_service
        shed = 0.0
        n = 0
        loads_changed = True
        for _ in range(4 * nb + 8):
            inj.sgen_p_mw[sl["sgen"]] = pv
            if loads_changed:
                inj.load_p_mw[sl["it"]] = it
                inj.load_q_mvar[sl["it"]] = it * ix.it_q_per_p
                inj.load_p_mw[sl["cool"]] = cool.ravel()
                inj.load_q_mvar[sl["cool"]] = (cool * ix.cooling_q_per_p).ravel()
                inj.load_p_mw[ix.aux_load] = aux
                inj.load_q_mvar[ix.aux_load] = aux * ix.aux_q_per_p
                loads_changed = False
            inj.gen_slack_weight[sl["gen"]] = weight
            inj.gen_p_mw[sl["gen"]] = target
            flow = self._solve(inj)
            n += 1
            self.n_solves += 1
            charge = (-flow.gen_p_mw[sl["gen"]]).tolist()  # + charging
            over_ch = [w > 0 and c > cm + tol for w, c, cm in zip(weight, charge, ch)]
            over_dis = [w > 0 and -c > dm + tol for w, c, dm in zip(weight, charge, dis)]
            any_ch, any_dis = any(over_ch), any(over_dis)
            if not (any_ch or any_dis):
                # Every held block must be one that, free, would take at least its
                # limit (free blocks share per rating: charge / rating is equal);
                # a wrong guess from the last step, or a block pushed to a limit
                # only because of one, goes back on the slack.
                j = next((i for i in range(nb) if weight[i] > 0), -1)
                if all_saturated and pv_cut > 0 and j >= 0 and charge[j] < ch[j] - tol:
                    # PV cut too deep (the guess, or the cut also removed losses): give some back
                    pv_cut = _next_cut(fw, pv_cut, charge[j] - ch[j], total_pv0)
                    pv = pv0 * (1.0 - pv_cut / total_pv0)
                    if pv_cut <= 0.0:  # no cut needed after all: not every block is full, back to sharing
                        all_saturated = False
                    continue
                if j < 0 or all_saturated or not any(sat):
                    break
                mu = charge[j] / rating[j]
                wrong = [
                    d != 0 and (mu * r < cm - tol if d > 0 else -mu * r < dm - tol)
                    for d, r, cm, dm in zip(sat, rating, ch, dis)
                ]
                if not any(wrong):
                    break
                _release(wrong, sat, weight, target, rating)
                continue
            # A block pushed past its discharge limit while others are held at their charge limit
            # (or the reverse) contradicts droop sharing: the held ones came from last step's guess
            # and the load moved (a training job's swing, a checkpoint ending). Release them first.
            stale = [d > 0 for d in sat] if any_dis else [d < 0 for d in sat]
            if any(stale):
                _release(stale, sat, weight, target, rating)
                continue
            # Saturate the blocks past their limit; the others pick up the rest.
            target = [-cm if oc else (dm if od else t) for t, cm, dm, oc, od in zip(target, ch, dis, over_ch, over_dis)]
            sat = [1 if oc else (-1 if od else d) for d, oc, od in zip(sat, over_ch, over_dis)]
            weight = [0.0 if (oc or od) else w for w, oc, od in zip(weight, over_ch, over_dis)]
            if any(w > 0 for w in weight):
                continue
            # Every block saturated: the local fast layer acts, then one block
            # (the one with most headroom) takes the residual slack again.
            all_saturated = True
            if any_ch:
                excess = sum(c - cm for c, cm, oc in zip(charge, ch, over_ch) if oc)
                if total_pv0 > 0:
                    pv_cut = _next_cut(fw, pv_cut, excess, total_pv0)
                    pv = pv0 * (1.0 - pv_cut / total_pv0)
            else:
                deficit = sum(-c - dm for c, dm, od in zip(charge, dis, over_dis) if od)
                dropped = self._shed(deficit, it, cool)
                shed += dropped
                loads_changed = True
                if dropped <= 0 and deficit > tol:
                    break
            k = max(range(nb), key=lambda i: ch[i] + dis[i] if on[i] else -1.0)
            weight = [0.0] * nb
            weight[k] = rating[k]
            target[k] = 0.0
            sat[k] = 0
        self._losses_mw = flow.losses_p_mw
        on_mask = inj.gen_in_service[sl["gen"]]
        bess = np.where(on_mask, -flow.gen_p_mw[sl["gen"]], 0.0)
        vm = flow.vm_pu
        return GridStep(
            bess_p_mw=bess,
            bess_q_mvar=np.where(on_mask, -flow.gen_q_mvar[sl["gen"]], 0.0),
            pv_p_mw=pv,
            pv_fast_curtail_p_mw=pv_cut,
            it_p_mw=it,
            cooling_p_mw=cool,
            aux_p_mw=aux,
            ufls_p_mw=shed,
            losses_p_mw=flow.losses_p_mw,
            v_min_pu=float(vm.min()),
            v_max_pu=float(vm.max()),
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
            p_u = it[u] + float(cool[:, u].sum())
            if p_u <= 0:
                continue
            shed += p_u
            it[u] = 0.0
            cool[:, u] = 0.0
        return shed
