"""Self-checks of the PyBaMM Thevenin reference driver (tests/reference/pybamm_ref.py).

Skipped when PyBaMM (test-only extra) is not installed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.reference.pybamm_ref import thevenin_cell_voltage
from twin.fleet.chemistry import CHEMISTRIES, SOC_GRID, ChemistryParams, arrhenius_factor

Q_AH = 50.0
METHODS = ("casadi", "idaklu")


def _linear_chem(**changes: object) -> ChemistryParams:
    """NMC values with a straight OCV line (3.0 + 1.0 * soc) and flat r_soc_mult."""
    base: dict[str, object] = {
        "ocv_v": 3.0 + 1.0 * SOC_GRID,
        "v_min_cell_v": 2.5,
        "v_max_cell_v": 4.5,
        "v_nom_cell_v": 3.5,
        "r_soc_mult": np.ones_like(SOC_GRID),
    }
    base.update(changes)
    return dataclasses.replace(CHEMISTRIES["NMC"], **base)


def _closed_form(chem: ChemistryParams, soc0: float, t_end_s: np.ndarray, i_a: float, scale: float) -> np.ndarray:
    """Constant current from rest: V = OCV(soc(t)) + I R0 + sum_k R_k I (1 - exp(-t / tau_k))."""
    soc = soc0 + i_a * t_end_s / (3600.0 * Q_AH)
    ocv = 3.0 + 1.0 * soc
    r = np.array([chem.r0_ohm_ah, chem.r1_ohm_ah, chem.r2_ohm_ah]) * scale / Q_AH
    return (
        ocv
        + i_a * r[0]
        + r[1] * i_a * (1 - np.exp(-t_end_s / chem.tau1_s))
        + r[2] * i_a * (1 - np.exp(-t_end_s / chem.tau2_s))
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("i_a", "temp_c", "r_factor"), [(25.0, 25.0, 1.0), (-40.0, 5.0, 1.6)])
def test_constant_current_step_matches_closed_form(method: str, i_a: float, temp_c: float, r_factor: float) -> None:
    chem = _linear_chem()
    t_s = np.r_[0.0, np.geomspace(0.01, 900.0, 60)]  # uneven steps, all with the same current
    v = thevenin_cell_voltage(
        chem, Q_AH, 0.4, t_s, np.full(len(t_s) - 1, i_a), temp_c=temp_c, r_factor=r_factor, method=method
    )
    scale = float(arrhenius_factor(chem, temp_c)) * r_factor
    expected = _closed_form(chem, 0.4, t_s[1:], i_a, scale)
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-7)
    # sign: charging lifts the terminal voltage above the OCV, discharging pulls it below
    soc_end = 0.4 + i_a * t_s[1:] / (3600.0 * Q_AH)
    assert np.all(np.sign(v - (3.0 + soc_end)) == np.sign(i_a))


def _twin_equations_reference(chem: ChemistryParams, soc0: float, t_s: np.ndarray, i_a: np.ndarray) -> np.ndarray:
    """The twin's equations integrated by SciPy step by step (tight tolerances)."""
    from scipy.integrate import solve_ivp

    def rhs(_t: float, y: np.ndarray, current: float) -> list[float]:
        m = np.interp(y[0], SOC_GRID, chem.r_soc_mult)
        return [
            current / (3600.0 * Q_AH),
            -y[1] / chem.tau1_s + current * chem.r1_ohm_ah * m / Q_AH / chem.tau1_s,
            -y[2] / chem.tau2_s + current * chem.r2_ohm_ah * m / Q_AH / chem.tau2_s,
        ]

    y = np.array([soc0, 0.0, 0.0])
    out = np.empty(len(i_a))
    for k, current in enumerate(i_a):
        y = solve_ivp(rhs, (t_s[k], t_s[k + 1]), y, args=(current,), method="DOP853", rtol=1e-11, atol=1e-13).y[:, -1]
        m = np.interp(y[0], SOC_GRID, chem.r_soc_mult)
        out[k] = np.interp(y[0], SOC_GRID, chem.ocv_v) + y[1] + y[2] + current * chem.r0_ohm_ah * m / Q_AH
    return out


def test_soc_dependent_resistance_and_jumps_are_exact() -> None:
    """Real LMO tables (R rising towards SoC 0.95 and 0), a square wave with a 2 s oscillation,
    0.1 s steps: both integration paths agree with the twin's equations (constant tau)."""
    chem = CHEMISTRIES["LMO"]
    dt = 0.1
    k = np.arange(1200)
    i_a = np.where(k * dt % 60 < 30, 60.0, -60.0) + 20.0 * np.where(k * dt % 2 < 1, 1.0, -1.0)  # ~1.6C peaks
    t_s = np.arange(len(k) + 1) * dt
    soc0 = 0.93  # crosses SOC_GRID knots where r_soc_mult bends (0.9, 0.95)
    expected = _twin_equations_reference(chem, soc0, t_s, i_a)
    for method in METHODS:
        v = thevenin_cell_voltage(chem, Q_AH, soc0, t_s, i_a, method=method)
        np.testing.assert_allclose(v, expected, rtol=0, atol=2e-7, err_msg=method)


def test_rejects_bad_inputs() -> None:
    chem = CHEMISTRIES["NMC"]
    t_s = np.array([0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="len"):
        thevenin_cell_voltage(chem, Q_AH, 0.5, t_s, np.zeros(3))
    with pytest.raises(ValueError, match="increasing"):
        thevenin_cell_voltage(chem, Q_AH, 0.5, np.array([0.0, 2.0, 1.0]), np.zeros(2))
    with pytest.raises(ValueError, match="method"):
        thevenin_cell_voltage(chem, Q_AH, 0.5, t_s, np.zeros(2), method="euler")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):  # 2C for 1 h from SoC 0.5 overcharges
        thevenin_cell_voltage(chem, Q_AH, 0.5, np.array([0.0, 3600.0]), np.array([100.0]))
