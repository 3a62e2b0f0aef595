"""Cell parameter sets of the two-RC equivalent-circuit pack model, per chemistry.

Each pack is ``n_series`` cells of capacity ``q_ah`` (parallel strings
lumped). With ``I > 0`` charging (see docs/nomenclature.md)::

    V    = n_series * OCV(soc) + v1 + v2 + I * R0
    dv_k/dt = -v_k / tau_k + I / C_k,        R_k = tau_k / C_k   (k = 1, 2)
    R    = n_series * r_ohm_ah / q_ah * r_soc_mult(soc) * arrhenius(temp) * r_factor(ageing)

for R0, R1 and R2 alike; ``tau_k`` does not depend on SoC, temperature or
ageing (``C_k = tau_k / R_k``). Resistances are stored as ``ohm * Ah`` (cell
resistance times cell capacity), so one set serves any cell size.

Sources
-------
Every number carries its source in a comment; ``ASSUMPTION`` marks the ones
that are engineering judgement rather than a published value. The OCV tables,
the 2-RC fits, ``r_soc_mult``, the activation energies and the NMC heat
capacity are produced by ``tools/derive_chemistry.py`` (run by hand, needs
PyBaMM), whose docstring describes the method:

* NMC: PyBaMM parameter set ``Ecker2015`` (Kokam SLPB 75106100 NMC/graphite
  pouch; Ecker et al., J. Electrochem. Soc. 162 (2015) A1836): OCV from its
  electrode OCPs, 2-RC fitted to its DFN pulse response.
* LFP: PyBaMM parameter set ``Prada2013`` (A123 ANR26650M1 2.3 Ah
  LFP/graphite; Prada et al., J. Electrochem. Soc. 160 (2013) A616): same.
* LMO: measured data of a 2013 Nissan Leaf cell (AESC, LiMn2O4-LiNiO2 /
  graphite, 33.1 Ah), ORNL HPPC tests at 25 and 10 degC (Wiggins, Allu, Wang,
  "Battery cell data from a 2013 Nissan Leaf", Oak Ridge National
  Laboratory; repositories batterysim/nissan-leaf-data and
  batterysim/equiv-circ-model): OCV from the 1 h rest voltages, 2-RC fitted to
  the measured pulse and relaxation.

Conventions of the tables: SoC 0 and 1 are the cell's lower and upper
cut-off voltages at rest (``OCV(0) >= v_min_cell_v``, ``OCV(1) <=
v_max_cell_v``); ``v_nom_cell_v`` is the mean OCV over SoC, so that
``q_ah = e_nom_wh / (n_series * v_nom_cell_v)`` makes the OCV-integrated
energy from SoC 0 to 1 equal the nameplate energy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.config import CHEMISTRY_NAMES

__all__ = [
    "CHEMISTRIES",
    "LFP",
    "LMO",
    "NMC",
    "R_GAS_J_MOL_K",
    "SOC_GRID",
    "T_REF_C",
    "ChemistryParams",
    "arrhenius_factor",
    "ocv_cell_v",
    "r_soc_mult_at",
]

SOC_GRID: np.ndarray = np.linspace(0.0, 1.0, 21)
SOC_GRID.setflags(write=False)

T_REF_C = 25.0  # reference temperature of every resistance [degC]
R_GAS_J_MOL_K = 8.314462618
_KELVIN = 273.15


@dataclass(frozen=True, eq=False)  # eq=False: numpy fields make field-wise == ambiguous
class ChemistryParams:
    name: str  # "NMC" | "LFP" | "LMO"
    ocv_v: np.ndarray  # cell open-circuit voltage on SOC_GRID, strictly increasing [V]
    v_nom_cell_v: float  # nominal cell voltage (Ah from nameplate kWh)
    v_max_cell_v: float  # upper cut-off (BMS over-voltage level)
    v_min_cell_v: float  # lower cut-off (BMS under-voltage level)
    r0_ohm_ah: float  # ohmic resistance x cell capacity [ohm*Ah] at 25 degC, soc 0.5, new cell
    r1_ohm_ah: float  # fast RC branch
    tau1_s: float  # its time constant
    r2_ohm_ah: float  # slow RC branch (diffusion)
    tau2_s: float  # its time constant
    r_soc_mult: np.ndarray  # multiplier on R0, R1, R2 on SOC_GRID (1.0 at 0.5; rises at the ends)
    ea_r_j_mol: float  # Arrhenius activation energy of the resistances, reference 25 degC
    i_charge_max_c: float  # continuous charge current limit (C-rate) a pack BMS allows at 25 degC
    i_discharge_max_c: float  # continuous discharge current limit (C-rate) at 25 degC
    temp_charge_min_c: float  # charging allowed range
    temp_charge_max_c: float
    temp_discharge_min_c: float  # discharging allowed range
    temp_discharge_max_c: float
    pack_wh_per_kg: float  # pack-level specific energy (thermal mass from nameplate kWh)
    cp_j_per_kg_k: float  # pack specific heat
    runaway_onset_c: float  # self-heating / thermal-runaway onset temperature
    runaway_heat_j_per_wh: float  # heat released by a pack in runaway per Wh of nameplate energy
    sources: str  # one line per value group: where it came from

    def __post_init__(self) -> None:
        ocv = np.array(self.ocv_v, dtype=float)
        mult = np.array(self.r_soc_mult, dtype=float)
        n = len(SOC_GRID)
        where = f"chemistry {self.name!r}"
        if ocv.shape != (n,) or mult.shape != (n,):
            raise ValueError(
                f"{where}: ocv_v and r_soc_mult need {n} values on SOC_GRID, got {ocv.shape} and {mult.shape}"
            )
        if not np.all(np.isfinite(ocv)) or not np.all(np.isfinite(mult)):
            raise ValueError(f"{where}: ocv_v and r_soc_mult must be finite")
        steps = np.diff(ocv)
        if np.any(steps <= 0.0):
            k = int(np.argmin(steps))
            raise ValueError(
                f"{where}: ocv_v must be strictly increasing in SoC; it does not rise between "
                f"SoC {SOC_GRID[k]:.2f} ({ocv[k]:.4f} V) and {SOC_GRID[k + 1]:.2f} ({ocv[k + 1]:.4f} V)"
            )
        if not self.v_min_cell_v < self.v_nom_cell_v < self.v_max_cell_v:
            raise ValueError(
                f"{where}: need v_min_cell_v < v_nom_cell_v < v_max_cell_v, got "
                f"{self.v_min_cell_v} / {self.v_nom_cell_v} / {self.v_max_cell_v} V"
            )
        if ocv[0] < self.v_min_cell_v or ocv[-1] > self.v_max_cell_v:
            raise ValueError(
                f"{where}: ocv_v must lie within [v_min_cell_v, v_max_cell_v] = "
                f"[{self.v_min_cell_v}, {self.v_max_cell_v}] V, spans [{ocv[0]:.4f}, {ocv[-1]:.4f}] V"
            )
        for field in ("r0_ohm_ah", "r1_ohm_ah", "r2_ohm_ah", "tau1_s", "tau2_s"):
            value = getattr(self, field)
            if not (np.isfinite(value) and value > 0.0):
                raise ValueError(f"{where}: {field} must be positive and finite, got {value}")
        if not self.tau1_s < self.tau2_s:
            raise ValueError(f"{where}: tau1_s ({self.tau1_s}) must be the fast branch, below tau2_s ({self.tau2_s})")
        if np.any(mult <= 0.0):
            raise ValueError(f"{where}: r_soc_mult must be positive")
        if abs(np.interp(0.5, SOC_GRID, mult) - 1.0) > 1e-9:
            raise ValueError(f"{where}: r_soc_mult must be 1.0 at SoC 0.5 (the reference of r*_ohm_ah)")
        positive = (
            "ea_r_j_mol",
            "i_charge_max_c",
            "i_discharge_max_c",
            "pack_wh_per_kg",
            "cp_j_per_kg_k",
            "runaway_heat_j_per_wh",
        )
        for field in positive:
            value = getattr(self, field)
            if not (np.isfinite(value) and value > 0.0):
                raise ValueError(f"{where}: {field} must be positive and finite, got {value}")
        if not self.temp_charge_min_c < self.temp_charge_max_c:
            raise ValueError(f"{where}: empty charging temperature range")
        if not self.temp_discharge_min_c < self.temp_discharge_max_c:
            raise ValueError(f"{where}: empty discharging temperature range")
        if not self.runaway_onset_c > max(self.temp_charge_max_c, self.temp_discharge_max_c):
            raise ValueError(f"{where}: runaway_onset_c must lie above the operating temperature ranges")
        if not self.sources.strip():
            raise ValueError(f"{where}: sources must name where the values came from")
        ocv.setflags(write=False)
        mult.setflags(write=False)
        object.__setattr__(self, "ocv_v", ocv)
        object.__setattr__(self, "r_soc_mult", mult)


# ---------------------------------------------------------------------------------------------
NMC = ChemistryParams(
    name="NMC",
    # PyBaMM Ecker2015 (Kokam SLPB 75106100): positive OCP nco_ocp_Ecker2015 minus negative OCP
    # graphite_ocp_Ecker2015 over the stoichiometry window of the 2.5-4.2 V cut-offs
    # (pybamm.lithium_ion.get_min_max_stoichiometries: x 0.0036..0.8484, y 0.9291..0.2353).
    ocv_v=np.array(
        [
            2.5000,
            3.2938,
            3.4586,
            3.5277,
            3.5870,
            3.6565,
            3.7094,
            3.7430,
            3.7700,
            3.7805,
            3.7873,
            3.7979,
            3.8155,
            3.8417,
            3.8823,
            3.9400,
            3.9868,
            4.0304,
            4.0789,
            4.1353,
            4.2000,
        ]
    ),
    v_nom_cell_v=3.759,  # mean of ocv_v over SoC (Kokam datasheet nominal 3.7 V)
    v_max_cell_v=4.2,  # Ecker2015 upper cut-off (Kokam charge voltage)
    v_min_cell_v=2.5,  # Ecker2015 lower cut-off
    # 2-RC least-squares fit to the Ecker2015 DFN: 1C, 120 s discharge and charge pulses + 1800 s
    # rest at SoC 0.5, 25 degC (fit RMS 1.4 mV). R0 is the DFN's instantaneous step (ohmic +
    # charge transfer, the DFN has no double layer); RC1/RC2 are electrolyte/solid diffusion.
    r0_ohm_ah=0.03632,
    r1_ohm_ah=0.00325,
    tau1_s=4.04,
    r2_ohm_ah=0.00931,
    tau2_s=37.4,
    # resistance 0.5 s into 1C DFN pulses at SoC 0.05..0.95 relative to SoC 0.5; SoC 0 and 1
    # linearly extrapolated
    r_soc_mult=np.array(
        [
            2.151,
            1.807,
            1.463,
            1.305,
            1.221,
            1.161,
            1.103,
            1.068,
            1.035,
            1.010,
            1.000,
            0.995,
            0.996,
            1.002,
            1.019,
            1.031,
            1.039,
            1.063,
            1.098,
            1.146,
            1.194,
        ]
    ),
    ea_r_j_mol=36_000.0,  # DFN pulse resistance at 10/25/40 degC (Ecker2015 Arrhenius laws): 35.98 kJ/mol
    # ASSUMPTION: continuous pack limits below the vehicles' DC fast-charge peaks (Chevrolet Bolt
    # 55 kW / 66 kWh = 0.8C, Ford Mach-E ER 150 kW / 99 kWh = 1.5C) and motor peaks (~2C)
    i_charge_max_c=1.0,
    i_discharge_max_c=2.0,
    # ASSUMPTION: typical NMC cell datasheet windows (charge 0..45 degC, discharge -20..55 degC)
    temp_charge_min_c=0.0,
    temp_charge_max_c=45.0,
    temp_discharge_min_c=-20.0,
    temp_discharge_max_c=55.0,
    pack_wh_per_kg=140.0,  # Chevrolet Bolt EV pack, GM 2016: 60 kWh, 435 kg -> 138 Wh/kg
    cp_j_per_kg_k=1069.0,  # Ecker2015 component heat capacities, mass-weighted; housing ASSUMPTION: same
    # ASSUMPTION: ARC self-heating onset of NMC/graphite cells ~90-110 degC (e.g. Feng et al.,
    # Energy Storage Materials 10 (2018) 246, review)
    runaway_onset_c=100.0,
    # ASSUMPTION: cell-internal heat of NMC runaway ~4-8x the electrical energy (ARC heat balance
    # m*cp*dT of large NMC cells); vented-gas combustion (~10 kJ/Wh in fire calorimetry) excluded
    runaway_heat_j_per_wh=6_000.0,
    sources=(
        "ocv_v, v_max/v_min: PyBaMM Ecker2015 (Kokam SLPB 75106100 NMC), electrode OCPs over the cut-off window\n"
        "r0/r1/tau1/r2/tau2, r_soc_mult, ea: 2-RC fit to the PyBaMM Ecker2015 DFN pulse response (_derive_chemistry)\n"
        "v_nom: mean of ocv_v; cp: Ecker2015 component heat capacities\n"
        "pack_wh_per_kg: Chevrolet Bolt EV pack 60 kWh / 435 kg (GM 2016)\n"
        "ASSUMPTION: C-rate limits, temperature windows, runaway onset and heat (typical datasheets / ARC literature)"
    ),
)

LFP = ChemistryParams(
    name="LFP",
    # PyBaMM Prada2013 (A123 ANR26650M1): LFP_ocp_Afshar2017 minus graphite_LGM50_ocp_Chen2020 over
    # the 2.0-3.6 V cut-off window (x 0.0176..0.8100, y 0.7035..0.0038)
    ocv_v=np.array(
        [
            2.0000,
            2.7853,
            2.9781,
            3.1080,
            3.1685,
            3.1857,
            3.2058,
            3.2324,
            3.2525,
            3.2621,
            3.2660,
            3.2678,
            3.2688,
            3.2700,
            3.2740,
            3.2926,
            3.3097,
            3.3132,
            3.3142,
            3.3164,
            3.6000,
        ]
    ),
    v_nom_cell_v=3.194,  # mean of ocv_v over SoC (A123 datasheet nominal 3.3 V)
    v_max_cell_v=3.6,  # Prada2013 upper cut-off = A123 charge voltage
    v_min_cell_v=2.0,  # Prada2013 lower cut-off = A123 discharge cut-off
    # 2-RC fit to the Prada2013 DFN, same protocol as NMC (fit RMS 2.4 mV). The A123 datasheet's
    # 1 kHz impedance (~6 mOhm x 2.5 Ah = 0.015 ohm*Ah) is lower: this R0 includes charge transfer.
    r0_ohm_ah=0.06790,
    r1_ohm_ah=0.00151,
    tau1_s=2.46,
    r2_ohm_ah=0.01072,
    tau2_s=67.3,
    r_soc_mult=np.array(
        [
            1.876,
            1.632,
            1.389,
            1.278,
            1.176,
            1.122,
            1.087,
            1.058,
            1.032,
            1.013,
            1.000,
            0.993,
            0.991,
            0.993,
            1.001,
            1.018,
            1.028,
            1.047,
            1.077,
            1.122,
            1.168,
        ]
    ),
    ea_r_j_mol=17_400.0,  # DFN pulse resistance at 10/25/40 degC (Prada2013 temperature laws): 17.44 kJ/mol
    # ASSUMPTION: continuous limits below the Tesla Model 3 RWD LFP DC fast-charge peak (170 kW / 60 kWh)
    i_charge_max_c=1.0,
    i_discharge_max_c=2.0,
    # ASSUMPTION: typical LFP datasheet windows (A123 ANR26650M1B operating -30..55 degC)
    temp_charge_min_c=0.0,
    temp_charge_max_c=45.0,
    temp_discharge_min_c=-20.0,
    temp_discharge_max_c=55.0,
    pack_wh_per_kg=125.0,  # ASSUMPTION: Tesla does not publish the LFP pack mass; cell-to-pack LFP ~120-130
    cp_j_per_kg_k=1100.0,  # ASSUMPTION: Prada2013 has no thermal data; Li-ion cells 1.0-1.2 kJ/(kg K)
    runaway_onset_c=130.0,  # ASSUMPTION: LFP self-heating starts later than NMC (Feng et al. 2018 review)
    runaway_heat_j_per_wh=2_500.0,  # ASSUMPTION: LFP runaway releases roughly 2-3x less heat than NMC
    sources=(
        "ocv_v, v_max/v_min: PyBaMM Prada2013 (A123 ANR26650M1 LFP), electrode OCPs over the cut-off window\n"
        "r0/r1/tau1/r2/tau2, r_soc_mult, ea: 2-RC fit to the PyBaMM Prada2013 DFN pulse response (_derive_chemistry)\n"
        "v_nom: mean of ocv_v\n"
        "ASSUMPTION: C-rate limits, temperature windows, pack Wh/kg, cp, runaway onset and heat"
    ),
)

LMO = ChemistryParams(
    name="LMO",
    # ORNL 2013 Nissan Leaf cell, HPPC at 25 degC: rest voltage after 1 h at SoC 1.0, 0.896, ...,
    # 0.061 (Ah counted from the 4.2 V CC-CV full charge to the 3.0 V cut-off at 10 A, 30.55 Ah);
    # SoC 0 = 3.05 V (the 3.000 V loaded cut-off plus the 0.05 V rest recovery seen one step
    # earlier, ASSUMPTION); PCHIP onto SOC_GRID
    ocv_v=np.array(
        [
            3.0500,
            3.4830,
            3.6300,
            3.7059,
            3.7546,
            3.7889,
            3.8233,
            3.8561,
            3.8804,
            3.8987,
            3.9174,
            3.9369,
            3.9549,
            3.9703,
            3.9904,
            4.0232,
            4.0517,
            4.0681,
            4.0884,
            4.1273,
            4.1820,
        ]
    ),
    v_nom_cell_v=3.878,  # mean of ocv_v over SoC (ORNL cell spec: average voltage 3.8 V)
    v_max_cell_v=4.2,  # ORNL test charge voltage (Leaf AESC cell)
    v_min_cell_v=3.0,  # ORNL test discharge cut-off
    # 2-RC least-squares fit to the measured 30 A / 30 s pulse + 40 s rest at SoC 0.48 and the 1 h
    # relaxation after the preceding 10 A / 1080 s discharge (fit RMS 0.66 mV; 0.5 s sampling, so
    # R0 holds everything faster than 0.5 s)
    r0_ohm_ah=0.05027,
    r1_ohm_ah=0.03566,
    tau1_s=33.7,
    r2_ohm_ah=0.04480,
    tau2_s=583.5,
    # measured 0.5 s resistance of the 30 A pulses at the ten SoC steps relative to SoC 0.5 (flat
    # to the 1 mV resolution between 0.2 and 0.85, floored at 1.0); SoC 0 extrapolated
    r_soc_mult=np.array(
        [
            1.101,
            1.071,
            1.040,
            1.009,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.000,
            1.005,
            1.066,
            1.128,
        ]
    ),
    ea_r_j_mol=21_500.0,  # 0.5 s pulse resistance at SoC 1.0, 10 vs 25 degC (ORNL): 2.80 vs 1.77 mOhm
    # ASSUMPTION: below the Leaf's DC fast-charge (50 kW on 24 kWh, ~2C peak) and motor peaks
    i_charge_max_c=1.0,
    i_discharge_max_c=2.0,
    # ASSUMPTION: typical manganese-spinel datasheet windows
    temp_charge_min_c=0.0,
    temp_charge_max_c=45.0,
    temp_discharge_min_c=-20.0,
    temp_discharge_max_c=55.0,
    pack_wh_per_kg=82.0,  # Nissan Leaf 2011-2015 pack: 24 kWh, 294 kg (the widely quoted Nissan figure)
    cp_j_per_kg_k=1100.0,  # ASSUMPTION: Li-ion cells 1.0-1.2 kJ/(kg K) (ORNL's thermal model of this cell uses 1600)
    runaway_onset_c=110.0,  # ASSUMPTION: between NMC and LFP (Feng et al. 2018 review)
    runaway_heat_j_per_wh=4_000.0,  # ASSUMPTION: between NMC and LFP
    sources=(
        "ocv_v, v_max/v_min: ORNL 2013 Nissan Leaf cell HPPC 25 degC, 1 h rest voltages (batterysim/equiv-circ-model)\n"
        "r0/r1/tau1/r2/tau2, r_soc_mult, ea: fits to the same ORNL data at 25 and 10 degC (_derive_chemistry)\n"
        "v_nom: mean of ocv_v; pack_wh_per_kg: Nissan Leaf 24 kWh pack, 294 kg\n"
        "ASSUMPTION: OCV at SoC 0, C-rate limits, temperature windows, cp, runaway onset and heat"
    ),
)

CHEMISTRIES: dict[str, ChemistryParams] = {"NMC": NMC, "LFP": LFP, "LMO": LMO}
assert tuple(CHEMISTRIES) == CHEMISTRY_NAMES, "one parameter set per name of twin.config.CHEMISTRY_NAMES, in its order"
assert all(p.name == name for name, p in CHEMISTRIES.items())


def _params(chem: str | ChemistryParams) -> ChemistryParams:
    if isinstance(chem, ChemistryParams):
        return chem
    try:
        return CHEMISTRIES[chem]
    except KeyError:
        raise KeyError(f"unknown chemistry {chem!r}; known: {sorted(CHEMISTRIES)}") from None


def ocv_cell_v(chem: str | ChemistryParams, soc_frac: np.ndarray) -> np.ndarray:
    """Cell open-circuit voltage [V], piecewise-linear on SOC_GRID (held flat outside [0, 1])."""
    p = _params(chem)
    return np.interp(soc_frac, SOC_GRID, p.ocv_v)


def r_soc_mult_at(chem: str | ChemistryParams, soc_frac: np.ndarray) -> np.ndarray:
    """Resistance multiplier at ``soc_frac``, piecewise-linear on SOC_GRID (held flat outside [0, 1])."""
    p = _params(chem)
    return np.interp(soc_frac, SOC_GRID, p.r_soc_mult)


def arrhenius_factor(chem: str | ChemistryParams, temp_c: np.ndarray | float) -> np.ndarray:
    """Resistance multiplier exp(Ea / R * (1/T - 1/T_ref)), 1.0 at T_REF_C (25 degC)."""
    p = _params(chem)
    temp_k = np.asarray(temp_c, dtype=float) + _KELVIN
    return np.exp(p.ea_r_j_mol / R_GAS_J_MOL_K * (1.0 / temp_k - 1.0 / (T_REF_C + _KELVIN)))
