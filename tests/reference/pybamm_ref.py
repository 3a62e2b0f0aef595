"""Reference cell voltages from PyBaMM's Thevenin equivalent-circuit model (test-only).

PyBaMM is in the project's test extra (``pip install -e '.[test]'``, what
``make test`` installs), so the tests that use this module run everywhere the
suite runs: ``from tests.reference.pybamm_ref import thevenin_cell_voltage``.

How the twin's cell model maps onto ``pybamm.equivalent_circuit.Thevenin``
(options ``{"number of rc elements": 2}``):

* PyBaMM's current is **positive on discharge**; the twin's ``i_a`` is
  positive on charge, so PyBaMM gets ``-i_a``. PyBaMM's element equations are
  ``V = OCV(SoC) - I R0 + v1 + v2``, ``dv_k/dt = -v_k/tau_k - I R_k/tau_k``
  with ``tau_k = R_k C_k`` and ``dSoC/dt = -I / (3600 Q)``: with ``I = -i_a``
  these are the twin's equations term by term, and PyBaMM's ``v_k`` equals
  the twin's ``v_k``.
* "Open-circuit voltage [V]" is a linear ``pybamm.Interpolant`` of the
  chemistry's ``ocv_v`` on ``SOC_GRID`` (the twin's piecewise-linear table).
* PyBaMM parameterises each element by functions of (cell temperature [degC],
  current [A], SoC): "R0 [Ohm]", "R1 [Ohm]", "C1 [F]", "R2 [Ohm]", "C2 [F]"
  (RCElement takes ``tau = R * C``). Here
  ``R_k = r_k_ohm_ah / q_ah * r_soc_mult(SoC) * arrhenius(temp_c) * r_factor``
  with ``r_soc_mult`` a linear Interpolant on SOC_GRID, and
  ``C_k = tau_k / R_k(SoC)``, so ``tau_k`` stays constant while R_k follows
  SoC, as in the twin.
* Isothermal: the resistances ignore PyBaMM's cell temperature state and use
  ``temp_c`` (ambient = initial temperature = ``temp_c``); "Entropic change
  [V/K]" is 0. PyBaMM's lumped cell/jig thermal states are still integrated
  but nothing depends on them.
* Voltage cut-offs are set out of reach (the reference must not stop); the
  profile must keep SoC inside [0, 1], where the linear interpolants agree
  with the twin's tables (checked).

Piecewise-constant current, exactly:

* ``method="casadi"`` (default): PyBaMM builds, parameterises and discretises
  the model with the current as an input parameter and converts its RHS and
  "Voltage [V]" to CasADi; SUNDIALS CVODES (through CasADi, as PyBaMM's
  CasadiSolver does) integrates each step ``[t_k, t_k+1)`` from the previous
  state with the step's current held constant. CasADi's ``mapaccum`` runs the
  step loop in C++, so 36 000 steps take seconds.
* ``method="idaklu"``: one ``pybamm.IDAKLUSolver`` solve. The current is a
  left-continuous staircase ``I(t) = i_a[k]`` on ``(t_k, t_k+1]`` (index
  ``ceil(idx(t) - 1e-6) - 1`` into a linear Interpolant on integer knots) and
  every step edge is a ``t_eval`` stop, so the implicit solver never steps
  across a jump and evaluates the end of each step with that step's current.
  Exact too, but CasADi copies the interpolant tables on every RHS call, so
  the cost grows with the square of the number of steps (3000 steps ~3 s,
  36 000 steps ~11 min, against ~7 s for "casadi"; the two agree to 3e-10 V
  on a 1 h, 0.1 s square-wave profile): use it for short profiles and
  cross-checks.

Warnings: PyBaMM 26.10 emits none for this use (checked under ``-W error``).
PyBaMM 25.10 passes lists of spmatrix to ``scipy.sparse.block_diag`` while
discretising, and SciPy 1.18 answers with a ``DeprecationWarning``
("`block_diag` is switching to the sparse array interface"): that one
message, and only that category, is ignored inside the calls below
(:func:`_known_pybamm_warnings`). Telemetry is disabled through
``PYBAMM_DISABLE_TELEMETRY`` before the first import.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from twin.fleet.chemistry import SOC_GRID, ChemistryParams, arrhenius_factor

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

# imported after the telemetry switch on purpose (casadi is a PyBaMM dependency)
import casadi
import pybamm

_CURRENT_INPUT = "Twin current, PyBaMM sign [A]"
_OUT_OF_REACH_V = 1.0e3


def _parameter_values(
    chem: ChemistryParams, q_ah: float, soc0_frac: float, temp_c: float, r_factor: float, current: Any
) -> pybamm.ParameterValues:
    temp_k = temp_c + 273.15
    scale = float(arrhenius_factor(chem, temp_c)) * r_factor / q_ah

    def ocv(soc: pybamm.Symbol) -> pybamm.Symbol:
        return pybamm.Interpolant(SOC_GRID, np.asarray(chem.ocv_v), soc, name="twin_ocv", interpolator="linear")

    def mult(soc: pybamm.Symbol) -> pybamm.Symbol:
        return pybamm.Interpolant(
            SOC_GRID, np.asarray(chem.r_soc_mult), soc, name="twin_r_soc_mult", interpolator="linear"
        )

    def resistance(r_ohm_ah: float):
        def r(temp_cell_c: pybamm.Symbol, current_a: pybamm.Symbol, soc: pybamm.Symbol) -> pybamm.Symbol:
            return r_ohm_ah * scale * mult(soc)  # isothermal: PyBaMM's cell temperature is not used

        return r

    def capacitance(r_ohm_ah: float, tau_s: float):
        def c(temp_cell_c: pybamm.Symbol, current_a: pybamm.Symbol, soc: pybamm.Symbol) -> pybamm.Symbol:
            return tau_s / (r_ohm_ah * scale * mult(soc))

        return c

    return pybamm.ParameterValues(
        {
            "chemistry": "ecm",
            "Initial SoC": soc0_frac,
            "Initial temperature [K]": temp_k,
            "Ambient temperature [K]": temp_k,
            "Cell capacity [A.h]": q_ah,
            "Nominal cell capacity [A.h]": q_ah,
            "Current function [A]": current,
            "Upper voltage cut-off [V]": _OUT_OF_REACH_V,
            "Lower voltage cut-off [V]": -_OUT_OF_REACH_V,
            # thermal states are integrated but feed nothing back (isothermal reference)
            "Cell thermal mass [J/K]": 1.0e3,
            "Cell-jig heat transfer coefficient [W/K]": 10.0,
            "Jig thermal mass [J/K]": 1.0e3,
            "Jig-air heat transfer coefficient [W/K]": 10.0,
            "Entropic change [V/K]": 0.0,
            "Open-circuit voltage [V]": ocv,
            "R0 [Ohm]": resistance(chem.r0_ohm_ah),
            "R1 [Ohm]": resistance(chem.r1_ohm_ah),
            "C1 [F]": capacitance(chem.r1_ohm_ah, chem.tau1_s),
            "R2 [Ohm]": resistance(chem.r2_ohm_ah),
            "C2 [F]": capacitance(chem.r2_ohm_ah, chem.tau2_s),
            "Element-1 initial overpotential [V]": 0.0,
            "Element-2 initial overpotential [V]": 0.0,
        }
    )


@contextlib.contextmanager
def _known_pybamm_warnings() -> Iterator[None]:
    """Ignore the one known, harmless warning of older PyBaMM releases (module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`block_diag` is switching to the sparse array interface", category=DeprecationWarning
        )
        yield


def _thevenin() -> pybamm.BaseModel:
    return pybamm.equivalent_circuit.Thevenin(options={"number of rc elements": 2})


def _check_inputs(q_ah: float, soc0_frac: float, t_s: np.ndarray, i_a: np.ndarray) -> None:
    if q_ah <= 0:
        raise ValueError(f"q_ah must be positive, got {q_ah}")
    if not 0.0 <= soc0_frac <= 1.0:
        raise ValueError(f"soc0_frac must lie in [0, 1], got {soc0_frac}")
    if t_s.ndim != 1 or i_a.ndim != 1 or len(t_s) != len(i_a) + 1:
        raise ValueError(f"need len(t_s) == len(i_a) + 1 (step edges), got {t_s.shape} and {i_a.shape}")
    if np.any(np.diff(t_s) <= 0):
        raise ValueError("t_s must be strictly increasing")


def _check_soc(soc_end: np.ndarray) -> None:
    if np.any(soc_end < -1e-9) or np.any(soc_end > 1 + 1e-9):
        raise ValueError(
            f"the profile drives SoC to [{soc_end.min():.4f}, {soc_end.max():.4f}], outside [0, 1] where "
            "PyBaMM's linear interpolants extrapolate and the twin's tables hold flat"
        )


def _processed(model: pybamm.BaseModel, name: str) -> pybamm.Symbol:
    """A discretised model variable (PyBaMM >= 26 processes variables lazily; 25.x eagerly)."""
    if hasattr(model, "get_processed_variable"):
        return model.get_processed_variable(name)
    return model.variables[name]


def _solve_casadi(pv: pybamm.ParameterValues, t_s: np.ndarray, i_a: np.ndarray) -> np.ndarray:
    sim = pybamm.Simulation(_thevenin(), parameter_values=pv)
    sim.build()
    model = sim.built_model
    if model.algebraic:
        raise RuntimeError("the Thevenin model in current mode was expected to be a pure ODE")
    n_y = model.concatenated_rhs.size
    t = casadi.MX.sym("t")
    y = casadi.MX.sym("y", n_y)
    cur = casadi.MX.sym("i_pybamm")
    inputs = {_CURRENT_INPUT: cur}
    rhs = model.concatenated_rhs.to_casadi(t, y, inputs=inputs)
    voltage = _processed(model, "Voltage [V]").to_casadi(t, y, inputs=inputs)
    soc = _processed(model, "SoC").to_casadi(t, y, inputs=inputs)
    y0 = np.asarray(model.concatenated_initial_conditions.evaluate(inputs={_CURRENT_INPUT: 0.0})).ravel()

    # one step [t0, t0 + h] on normalised time tau in [0, 1], current held constant
    tau, t0, h = casadi.MX.sym("tau"), casadi.MX.sym("t0"), casadi.MX.sym("h")
    p = casadi.vertcat(cur, t0, h)
    ode = casadi.substitute(rhs, t, t0 + tau * h) * h
    integrator = casadi.integrator(
        "thevenin_step",
        "cvodes",
        {"x": y, "p": p, "t": tau, "ode": ode},
        0.0,
        1.0,
        {"abstol": 1e-12, "reltol": 1e-10, "max_num_steps": 100_000},
    )
    step = casadi.Function("step", [y, p], [integrator(x0=y, p=p)["xf"]])
    n = len(i_a)
    i_pybamm = -np.asarray(i_a, dtype=float)
    params = np.vstack([i_pybamm, t_s[:-1], np.diff(t_s)])
    states = np.asarray(step.mapaccum("steps", n)(y0, params))
    outputs = casadi.Function("outputs", [t, y, cur], [voltage, soc]).map(n)
    v_out, soc_out = outputs(t_s[1:], states, i_pybamm)
    _check_soc(np.asarray(soc_out).ravel())
    return np.asarray(v_out).ravel()


def _solve_idaklu(
    chem: ChemistryParams,
    q_ah: float,
    soc0_frac: float,
    temp_c: float,
    r_factor: float,
    t_s: np.ndarray,
    i_a: np.ndarray,
) -> np.ndarray:
    n = len(i_a)
    knots = np.arange(n + 1, dtype=float)
    steps = np.arange(n, dtype=float)
    i_pybamm = -np.asarray(i_a, dtype=float)

    def current(time_s: pybamm.Symbol) -> pybamm.Symbol:
        position = pybamm.Interpolant(t_s, knots, time_s, name="step_position", interpolator="linear")
        k = pybamm.maximum(pybamm.Ceiling(position - 1e-6) - 1, 0)  # i_a[k] on (t_k, t_k+1]
        if n == 1:
            return pybamm.Scalar(float(i_pybamm[0])) + 0 * k
        return pybamm.Interpolant(steps, i_pybamm, k, name="step_current", interpolator="linear")

    pv = _parameter_values(chem, q_ah, soc0_frac, temp_c, r_factor, current)
    solver = pybamm.IDAKLUSolver(rtol=1e-10, atol=1e-12, output_variables=["Voltage [V]", "SoC"])
    sim = pybamm.Simulation(_thevenin(), parameter_values=pv, solver=solver)
    sol = sim.solve(t_eval=t_s, t_interp=t_s)
    _check_soc(np.asarray(sol["SoC"](t_s[1:])))
    return np.asarray(sol["Voltage [V]"](t_s[1:])).ravel()


def thevenin_cell_voltage(
    chem: ChemistryParams,
    q_ah: float,
    soc0_frac: float,
    t_s: np.ndarray,
    i_a: np.ndarray,
    temp_c: float = 25.0,
    r_factor: float = 1.0,
    method: Literal["casadi", "idaklu"] = "casadi",
) -> np.ndarray:
    """Cell terminal voltage from PyBaMM's Thevenin ECM (pybamm.equivalent_circuit.Thevenin, 2 RC elements)
    driven by a piecewise-constant current i_a[k] on [t_s[k], t_s[k+1]) (I > 0 CHARGING — note PyBaMM's sign is
    the opposite),
    with the same OCV table, R0/R1/R2 (SoC-dependent through r_soc_mult), C_k = tau_k / R_k, isothermal at temp_c.
    Returns the voltage at t_s[1:] (ends of the steps).

    The RC branches start relaxed (v1 = v2 = 0). ``method`` picks the time integration (module
    docstring): "casadi" (CVODES per step, fast) or "idaklu" (one IDAKLU solve, slow for long runs).
    """
    t_s = np.asarray(t_s, dtype=float)
    i_a = np.asarray(i_a, dtype=float)
    _check_inputs(q_ah, soc0_frac, t_s, i_a)
    if method not in ("casadi", "idaklu"):
        raise ValueError(f"method must be 'casadi' or 'idaklu', got {method!r}")
    with _known_pybamm_warnings():
        if method == "casadi":
            pv = _parameter_values(chem, q_ah, soc0_frac, temp_c, r_factor, pybamm.InputParameter(_CURRENT_INPUT))
            return _solve_casadi(pv, t_s, i_a)
        return _solve_idaklu(chem, q_ah, soc0_frac, temp_c, r_factor, t_s, i_a)
