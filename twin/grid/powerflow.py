"""AC power flow of the site net: a fast path and the pandapower reference.

pandapower is the model of record: the net is built once by
:func:`twin.grid.network.build_network` and never rebuilt. Every step only the
injections change, so the fast path hands the same net once to
lightsim2grid's C++ grid model (``init_from_pandapower``), keeps its
admittance matrix and symbolic factorisation, and warm-starts each Newton
solve from the previous step's voltages. :class:`PandapowerSolver` runs plain
``pandapower.runpp`` with the same inputs; ``tests/reference/test_powerflow.py`` proves
both agree to 1e-6 pu on sampled steps of a real run, and ``make bench``
prints what each costs.

Distributed slack: the grid-forming battery inverters (``gen``) share the
active-power imbalance in proportion to their ``slack_weight``; a generator
whose weight is 0 holds its target ``p_mw``. Signs are pandapower's here
(generation positive).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandapower as pp

from twin.errors import PowerFlowDiverged  # raised here; importable from this module as before

__all__ = [
    "FlowResult",
    "Injections",
    "LightSimFlow",
    "LightSimSolver",
    "PandapowerSolver",
    "PowerFlowDiverged",
    "SOLVERS",
    "apply_injections",
]


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

    @property
    def losses_p_mw(self) -> float:
        return self.line_losses_mw + self.trafo_losses_mw + self.shunt_losses_mw


def apply_injections(net: pp.pandapowerNet, inj: Injections) -> None:
    """Write the injections of one solve into the pandapower tables."""
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
        apply_injections(net, inj)
        try:
            # lightsim2grid=False: pandapower's own Newton-Raphson, independent of the fast path.
            pp.runpp(
                net,
                distributed_slack=True,
                tolerance_mva=self.tolerance_mva,
                lightsim2grid=False,
                max_iteration=self.max_iteration,
                init="flat" if flat_start else "auto",
                trafo_loading="current",
                numba=True,
            )
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
        self._tr_k = np.sqrt(3.0) * 100.0 / self._tr_sn
        self._line_k = 100.0 / self._line_max_ka
        g = self.grid
        n_gen = len(net.gen)
        nan = float("nan")
        # what the C++ model holds now (python lists: cheap to compare)
        self._last: dict[str, list] = {
            "sgen_p": [nan] * len(net.sgen),
            "sgen_on": [True] * len(net.sgen),
            "load_p": [nan] * len(net.load),
            "load_q": [nan] * len(net.load),
            "gen_p": [nan] * n_gen,
            "gen_on": [True] * n_gen,
            "gen_w": net.gen.slack_weight.astype(float).tolist(),
        }
        self._g = g

    def _push(self, inj: Injections) -> None:
        """Send the injections that changed since the last solve (double precision)."""
        g, last = self._g, self._last
        sgen_on = inj.sgen_in_service.tolist()
        if sgen_on != last["sgen_on"]:
            for i, (a, b) in enumerate(zip(sgen_on, last["sgen_on"])):
                if a != b:
                    (g.reactivate_sgen if a else g.deactivate_sgen)(i)
            last["sgen_on"] = sgen_on
        for key, setter, new in (
            ("sgen_p", g.change_p_sgen, inj.sgen_p_mw),
            ("load_p", g.change_p_load, inj.load_p_mw),
            ("load_q", g.change_q_load, inj.load_q_mvar),
            ("gen_p", g.change_p_gen, inj.gen_p_mw),
        ):
            vals = new.tolist()
            old = last[key]
            if vals != old:
                for i, (a, b) in enumerate(zip(vals, old)):
                    if a != b:
                        setter(i, a)
                last[key] = vals
        gen_on = inj.gen_in_service.tolist()
        w = [x if on else 0.0 for x, on in zip(inj.gen_slack_weight.tolist(), gen_on)]
        if gen_on != last["gen_on"] or w != last["gen_w"]:
            for i, (a, b) in enumerate(zip(gen_on, last["gen_on"])):
                if a != b:
                    (g.reactivate_gen if a else g.deactivate_gen)(i)
            for i, (a, b) in enumerate(zip(w, last["gen_w"])):
                if a != b and b > 0:
                    g.remove_gen_slackbus(i)
            for i, (a, b) in enumerate(zip(w, last["gen_w"])):
                if a != b and a > 0:
                    g.add_gen_slackbus(i, a)
            last["gen_on"], last["gen_w"] = gen_on, w

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
        gp, gq, _ = self._g.get_gen_res()
        return LightSimFlow(self, V, gp, gq)


class LightSimFlow(FlowResult):
    """A :class:`FlowResult` whose branch results are read only when asked for
    (the grid's saturation loop needs only generator powers)."""

    def __init__(self, solver: LightSimSolver, V: np.ndarray, gp: np.ndarray, gq: np.ndarray):
        self._s = solver
        self.V = V
        self.gen_p_mw = gp
        self.gen_q_mvar = gq
        self.iterations = -1
        self._branch: tuple[np.ndarray, np.ndarray, float, float, float] | None = None

    @property
    def vm_pu(self) -> np.ndarray:  # type: ignore[override]
        return np.abs(self.V)

    @property
    def va_deg(self) -> np.ndarray:  # type: ignore[override]
        return np.degrees(np.angle(self.V))

    def _branches(self) -> tuple[np.ndarray, np.ndarray, float, float, float]:
        if self._branch is None:
            s, g = self._s, self._s._g
            lp1, _, _, la1 = g.get_line_res1()
            lp2, _, _, la2 = g.get_line_res2()
            tp1, _, _, ta1 = g.get_trafo_res1()
            tp2, _, _, ta2 = g.get_trafo_res2()
            sp, _, _ = g.get_shunts_res()
            # pandapower's definitions: line loading = max end current / (max_i_ka * parallel);
            # trafo loading (trafo_loading="current") = max(I_hv * Vn_hv, I_lv * Vn_lv) * sqrt(3) / sn_mva
            tr = np.maximum(ta1 * s._tr_vn[0], ta2 * s._tr_vn[1]) * s._tr_k
            ln = np.maximum(la1, la2) * s._line_k
            self._branch = (
                ln,
                tr,
                sum(lp1.tolist()) + sum(lp2.tolist()),
                sum(tp1.tolist()) + sum(tp2.tolist()),
                sum(sp.tolist()),
            )
        return self._branch

    @property
    def line_loading_pct(self) -> np.ndarray:  # type: ignore[override]
        return self._branches()[0]

    @property
    def trafo_loading_pct(self) -> np.ndarray:  # type: ignore[override]
        return self._branches()[1]

    @property
    def line_losses_mw(self) -> float:  # type: ignore[override]
        return self._branches()[2]

    @property
    def trafo_losses_mw(self) -> float:  # type: ignore[override]
        return self._branches()[3]

    @property
    def shunt_losses_mw(self) -> float:  # type: ignore[override]
        return self._branches()[4]


SOLVERS: dict[str, type[LightSimSolver] | type[PandapowerSolver]] = {
    "lightsim2grid": LightSimSolver,
    "pandapower": PandapowerSolver,
}
