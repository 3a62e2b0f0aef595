"""AC power flow of the site net: a fast path and the pandapower reference.

pandapower is the model of record: the net is built once by
:func:`twin.site.build_network` and never rebuilt. Every step only the
injections change, so the fast path hands the same net once to
lightsim2grid's C++ grid model (``init_from_pandapower``), keeps its
admittance matrix and symbolic factorisation, and warm-starts each Newton
solve from the previous step's voltages. :class:`PandapowerSolver` runs plain
``pandapower.runpp`` with the same inputs; ``tests/test_powerflow.py`` proves
both agree to 1e-6 pu on sampled steps of a real run, and ``make bench``
prints what each costs.

Distributed slack: the grid-forming battery inverters (``gen``) share the
active-power imbalance in proportion to their ``slack_weight``; a generator
whose weight is 0 holds its target ``p_mw``. Signs are pandapower's here
(generation positive).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandapower as pp


class PowerFlowDiverged(RuntimeError):
    """The Newton solve did not converge; carries the injections that caused it."""

    def __init__(self, message: str, injections: dict[str, list[float]]):
        super().__init__(message)
        self.injections = injections


@dataclass
class Injections:
    """Inputs of one solve, one entry per row of the pandapower tables."""

    sgen_p_mw: np.ndarray
    sgen_in_service: np.ndarray
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    gen_p_mw: np.ndarray  # target p of each gen (held if its slack weight is 0)
    gen_in_service: np.ndarray
    gen_slack_weight: np.ndarray

    def as_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(v, dtype=float).round(9).tolist() for k, v in self.__dict__.items()}


@dataclass
class FlowResult:
    """What one solve returns (pandapower signs; losses positive)."""

    vm_pu: np.ndarray
    va_deg: np.ndarray
    gen_p_mw: np.ndarray
    gen_q_mvar: np.ndarray
    line_loading_pct: np.ndarray
    trafo_loading_pct: np.ndarray
    line_losses_mw: float
    trafo_losses_mw: float
    shunt_losses_mw: float
    iterations: int = -1
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def losses_mw(self) -> float:
        return self.line_losses_mw + self.trafo_losses_mw + self.shunt_losses_mw


def _apply_injections(net: pp.pandapowerNet, inj: Injections) -> None:
    net.sgen["p_mw"] = inj.sgen_p_mw
    net.sgen["in_service"] = inj.sgen_in_service.astype(bool)
    net.load["p_mw"] = inj.load_p_mw
    net.load["q_mvar"] = inj.load_q_mvar
    net.gen["p_mw"] = inj.gen_p_mw
    net.gen["in_service"] = inj.gen_in_service.astype(bool)
    net.gen["slack_weight"] = inj.gen_slack_weight
    # The angle reference must be an in-service generator.
    ref = int(np.flatnonzero(inj.gen_in_service)[0])
    net.gen["slack"] = False
    net.gen.loc[net.gen.index[ref], "slack"] = True


class PandapowerSolver:
    """Plain ``pandapower.runpp`` with distributed slack: the reference."""

    name = "pandapower"

    def __init__(self, net: pp.pandapowerNet, tolerance_pu: float = 1e-9, max_iteration: int = 30):
        self.net = net
        self.tolerance_mva = tolerance_pu * net.sn_mva
        self.max_iteration = max_iteration

    def solve(self, inj: Injections, flat_start: bool = False) -> FlowResult:
        net = self.net
        _apply_injections(net, inj)
        try:
            # lightsim2grid=False: pandapower's own Newton-Raphson, independent of the fast path.
            pp.runpp(net, distributed_slack=True, tolerance_mva=self.tolerance_mva, lightsim2grid=False,
                     max_iteration=self.max_iteration, init="flat" if flat_start else "auto",
                     trafo_loading="current", numba=True)
        except pp.LoadflowNotConverged as exc:
            raise PowerFlowDiverged(f"pandapower.runpp did not converge: {exc}", inj.as_dict()) from exc
        return FlowResult(
            vm_pu=net.res_bus.vm_pu.to_numpy(),
            va_deg=net.res_bus.va_degree.to_numpy(),
            gen_p_mw=net.res_gen.p_mw.to_numpy(),
            gen_q_mvar=net.res_gen.q_mvar.to_numpy(),
            line_loading_pct=net.res_line.loading_percent.to_numpy(),
            trafo_loading_pct=net.res_trafo.loading_percent.to_numpy(),
            line_losses_mw=float(net.res_line.pl_mw.sum()),
            trafo_losses_mw=float(net.res_trafo.pl_mw.sum()),
            shunt_losses_mw=float(net.res_shunt.p_mw.sum()),
            iterations=int(net._ppc["iterations"]) if "iterations" in net._ppc else -1,
        )


class LightSimSolver:
    """The same net in lightsim2grid's grid model, warm-started every step.

    Only changed injections are pushed into the C++ model (in double
    precision, element by element: its vector setters take float32). The
    admittance matrix and the factorisation pattern are reused between steps.
    """

    name = "lightsim2grid"

    def __init__(self, net: pp.pandapowerNet, tolerance_pu: float = 1e-9, max_iteration: int = 30):
        from lightsim2grid.network import init_from_pandapower

        with warnings.catch_warnings():
            # The converter warns about NaN tap data it replaces by 0: our
            # transformers have no tap changers, so 0 is the right value.
            warnings.simplefilter("ignore")
            self.grid = init_from_pandapower(net, pp_orig_file="pandapower_v3")
        self.tol = tolerance_pu
        self.max_iteration = max_iteration
        self.n_bus = len(net.bus)
        self._flat = np.ones(self.n_bus, dtype=complex)
        self._V = self._flat.copy()
        self._line_max_ka = (net.line.max_i_ka * net.line.parallel).to_numpy()
        self._tr_sn = net.trafo.sn_mva.to_numpy()
        hv = net.bus.vn_kv.loc[net.trafo.hv_bus].to_numpy()
        lv = net.bus.vn_kv.loc[net.trafo.lv_bus].to_numpy()
        self._tr_vn = (hv, lv)
        g = self.grid
        n_gen = len(net.gen)
        self._last = {
            "sgen_p": np.full(len(net.sgen), np.nan),
            "sgen_on": np.ones(len(net.sgen), dtype=bool),
            "load_p": np.full(len(net.load), np.nan),
            "load_q": np.full(len(net.load), np.nan),
            "gen_p": np.full(n_gen, np.nan),
            "gen_on": np.ones(n_gen, dtype=bool),
            "gen_w": net.gen.slack_weight.to_numpy().astype(float).copy(),
        }
        self._ref = int(np.flatnonzero(net.gen.slack.to_numpy())[0])
        self._g = g

    def _push(self, inj: Injections) -> None:
        g, last = self._g, self._last
        for i in np.flatnonzero(inj.sgen_in_service.astype(bool) != last["sgen_on"]):
            (g.reactivate_sgen if inj.sgen_in_service[i] else g.deactivate_sgen)(int(i))
            last["sgen_on"][i] = bool(inj.sgen_in_service[i])
        for i in np.flatnonzero(inj.sgen_p_mw != last["sgen_p"]):
            g.change_p_sgen(int(i), float(inj.sgen_p_mw[i]))
        last["sgen_p"][:] = inj.sgen_p_mw
        for i in np.flatnonzero(inj.load_p_mw != last["load_p"]):
            g.change_p_load(int(i), float(inj.load_p_mw[i]))
        last["load_p"][:] = inj.load_p_mw
        for i in np.flatnonzero(inj.load_q_mvar != last["load_q"]):
            g.change_q_load(int(i), float(inj.load_q_mvar[i]))
        last["load_q"][:] = inj.load_q_mvar
        gen_on = inj.gen_in_service.astype(bool)
        topo_changed = False
        for i in np.flatnonzero(gen_on != last["gen_on"]):
            (g.reactivate_gen if gen_on[i] else g.deactivate_gen)(int(i))
            last["gen_on"][i] = gen_on[i]
            topo_changed = True
        w = np.where(gen_on, inj.gen_slack_weight, 0.0)
        changed_w = np.flatnonzero(w != last["gen_w"])
        if len(changed_w) or topo_changed:
            ref = int(np.flatnonzero(gen_on)[0])
            for i in changed_w:
                if last["gen_w"][i] > 0:
                    g.remove_gen_slackbus(int(i))
            for i in changed_w:
                if w[i] > 0:
                    g.add_gen_slackbus(int(i), float(w[i]))
            if ref != self._ref:
                g.set_reference_slack_bus(int(ref)) if hasattr(g, "set_reference_slack_bus") else None
                self._ref = ref
            last["gen_w"][:] = w
        for i in np.flatnonzero(inj.gen_p_mw != last["gen_p"]):
            g.change_p_gen(int(i), float(inj.gen_p_mw[i]))
        last["gen_p"][:] = inj.gen_p_mw

    def solve(self, inj: Injections, flat_start: bool = False) -> FlowResult:
        self._push(inj)
        V0 = self._flat if flat_start else self._V
        V = self._g.ac_pf(V0, self.max_iteration, self.tol)
        if V.shape[0] == 0:
            self._V = self._flat.copy()
            raise PowerFlowDiverged(
                f"lightsim2grid Newton-Raphson did not converge in {self.max_iteration} iterations",
                inj.as_dict(),
            )
        self._V = V
        g = self._g
        gp, gq, _ = g.get_gen_res()
        lp1, _, _, la1 = g.get_line_res1()
        lp2, _, _, la2 = g.get_line_res2()
        tp1, _, _, ta1 = g.get_trafo_res1()
        tp2, _, _, ta2 = g.get_trafo_res2()
        sp, _, _ = g.get_shunts_res()
        sq3 = np.sqrt(3.0)
        tr_load = np.maximum(ta1 * self._tr_vn[0], ta2 * self._tr_vn[1]) * sq3 / self._tr_sn * 100.0
        line_load = np.maximum(la1, la2) / self._line_max_ka * 100.0
        return FlowResult(
            vm_pu=np.abs(V),
            va_deg=np.degrees(np.angle(V)),
            gen_p_mw=np.asarray(gp),
            gen_q_mvar=np.asarray(gq),
            line_loading_pct=line_load,
            trafo_loading_pct=tr_load,
            line_losses_mw=float(np.sum(lp1) + np.sum(lp2)),
            trafo_losses_mw=float(np.sum(tp1) + np.sum(tp2)),
            shunt_losses_mw=float(np.sum(sp)),
        )


SOLVERS = {"lightsim2grid": LightSimSolver, "pandapower": PandapowerSolver}
