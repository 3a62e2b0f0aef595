"""Sanity checks of the chemistry tables (twin/fleet/chemistry.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tools import derive_chemistry as derive
from twin.fleet.chemistry import (
    CHEMISTRIES,
    SOC_GRID,
    T_REF_C,
    ChemistryParams,
    arrhenius_factor,
    ocv_cell_v,
    r_soc_mult_at,
)

NAMES = ("NMC", "LFP", "LMO")


def test_the_three_chemistries_of_the_fleet() -> None:
    assert set(CHEMISTRIES) == set(NAMES)
    for name, p in CHEMISTRIES.items():
        assert p.name == name
    np.testing.assert_array_equal(SOC_GRID, np.linspace(0.0, 1.0, 21))


@pytest.mark.parametrize("name", NAMES)
def test_ocv_table(name: str) -> None:
    p = CHEMISTRIES[name]
    assert p.ocv_v.shape == SOC_GRID.shape
    assert np.all(np.diff(p.ocv_v) > 0)
    assert p.v_min_cell_v <= p.ocv_v[0] and p.ocv_v[-1] <= p.v_max_cell_v
    # nominal voltage = mean OCV over SoC (nameplate Ah from kWh), to the 1 mV the table is rounded to
    assert p.v_nom_cell_v == pytest.approx(np.trapezoid(p.ocv_v, SOC_GRID), abs=1e-3)
    # plausible chemistry plateaus at mid SoC
    mid = {"NMC": (3.6, 3.9), "LFP": (3.2, 3.35), "LMO": (3.8, 4.0)}[name]
    assert mid[0] < ocv_cell_v(name, 0.5) < mid[1]


@pytest.mark.parametrize("name", NAMES)
def test_resistances_and_time_constants(name: str) -> None:
    p = CHEMISTRIES[name]
    for r in (p.r0_ohm_ah, p.r1_ohm_ah, p.r2_ohm_ah):
        assert 1e-4 < r < 0.2  # ohm*Ah: 1 mOhm on a 50 Ah cell is 0.05
    assert 0.5 < p.tau1_s < p.tau2_s < 3600.0
    assert p.r_soc_mult[10] == 1.0  # SoC 0.5
    assert p.r_soc_mult[0] > 1.05 and p.r_soc_mult[-1] > 1.05  # rises at both ends
    assert np.all(p.r_soc_mult > 0.9)
    assert 10_000 < p.ea_r_j_mol < 60_000


@pytest.mark.parametrize("name", NAMES)
def test_limits_and_thermal_values(name: str) -> None:
    p = CHEMISTRIES[name]
    assert 0 < p.i_charge_max_c <= p.i_discharge_max_c <= 5
    assert p.temp_charge_min_c >= p.temp_discharge_min_c
    assert p.temp_charge_max_c <= p.temp_discharge_max_c < p.runaway_onset_c
    assert 50 < p.pack_wh_per_kg < 250
    assert 700 < p.cp_j_per_kg_k < 1800
    assert 500 < p.runaway_heat_j_per_wh < 20_000
    assert len(p.sources.strip().splitlines()) >= 3


def test_interpolation_helpers() -> None:
    p = CHEMISTRIES["NMC"]
    np.testing.assert_allclose(ocv_cell_v("NMC", SOC_GRID), p.ocv_v)
    np.testing.assert_allclose(ocv_cell_v(p, np.array([0.025])), 0.5 * (p.ocv_v[0] + p.ocv_v[1]))
    np.testing.assert_allclose(ocv_cell_v("NMC", np.array([-0.1, 1.1])), [p.ocv_v[0], p.ocv_v[-1]])  # held flat
    np.testing.assert_allclose(r_soc_mult_at("LFP", SOC_GRID), CHEMISTRIES["LFP"].r_soc_mult)
    assert arrhenius_factor("NMC", T_REF_C) == pytest.approx(1.0)
    assert arrhenius_factor("NMC", 0.0) > arrhenius_factor("LFP", 0.0) > 1.0 > arrhenius_factor("LMO", 45.0)
    with pytest.raises(KeyError, match="unknown chemistry"):
        ocv_cell_v("NCA", 0.5)


def test_tables_are_frozen() -> None:
    p = CHEMISTRIES["LMO"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.r0_ohm_ah = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        p.ocv_v[3] = 0.0
    with pytest.raises(ValueError):
        SOC_GRID[0] = 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ocv_v": np.r_[CHEMISTRIES["NMC"].ocv_v[:5], CHEMISTRIES["NMC"].ocv_v[4:-1]]}, "strictly increasing"),
        ({"ocv_v": CHEMISTRIES["NMC"].ocv_v[:-1]}, "21 values"),
        ({"v_max_cell_v": 4.1}, r"within \[v_min_cell_v, v_max_cell_v\]"),
        ({"r1_ohm_ah": 0.0}, "r1_ohm_ah must be positive"),
        ({"tau2_s": -5.0}, "tau2_s must be positive"),
        ({"tau1_s": 100.0}, "fast branch"),
        ({"r_soc_mult": np.full(21, 2.0)}, "1.0 at SoC 0.5"),
        ({"temp_charge_max_c": -30.0}, "charging temperature range"),
        ({"sources": " "}, "sources"),
    ],
)
def test_validation_messages(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(CHEMISTRIES["NMC"], **changes)


def test_lmo_tables_reproduce_from_the_ornl_data() -> None:
    """The LMO derivation needs only numpy/scipy: rerun it and compare with the pasted tables."""
    r = derive.derive_lmo()
    p = CHEMISTRIES["LMO"]
    np.testing.assert_allclose(r["ocv_v"], p.ocv_v, atol=6e-5)
    np.testing.assert_allclose(r["r_soc_mult"], p.r_soc_mult, atol=6e-4)
    r0, r1, tau1, r2, tau2 = r["params"]
    assert (r0, r1, r2) == pytest.approx((p.r0_ohm_ah, p.r1_ohm_ah, p.r2_ohm_ah), abs=1e-5)
    assert (tau1, tau2) == pytest.approx((p.tau1_s, p.tau2_s), rel=2e-3)
    assert r["ea_r_j_mol"] == pytest.approx(p.ea_r_j_mol, rel=5e-3)
    assert r["fit_rms_v"] < 1e-3


@pytest.mark.parametrize("name", ["NMC", "LFP"])
def test_pybamm_ocv_tables_reproduce(name: str) -> None:
    """The NMC and LFP OCV tables are PyBaMM electrode OCPs (test-only extra)."""
    import pybamm  # the test extra

    pv = pybamm.ParameterValues(derive.pybamm_sets()[name])
    p = CHEMISTRIES[name]
    np.testing.assert_allclose(derive.electrode_ocv(pv, SOC_GRID), p.ocv_v, atol=6e-5)
    assert (pv["Lower voltage cut-off [V]"], pv["Upper voltage cut-off [V]"]) == (p.v_min_cell_v, p.v_max_cell_v)


def test_chemistry_params_type() -> None:
    assert all(isinstance(p, ChemistryParams) for p in CHEMISTRIES.values())
