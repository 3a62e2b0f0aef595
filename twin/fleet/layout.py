"""Layout of the fleet's arrays: one named column index per quantity (as pandapower's ``idx_bus``).

Every per-pack array of :class:`twin.fleet.fleet.BatteryFleet` has the
shape ``(n_packs, N_x)``: **one row per pack, one column per quantity**,
in C order, so one pack's values sit next to each other in memory, which
is what the compiled kernels read (they loop over packs and touch a few
dozen quantities of each). A column is ``X[:, X_NAME]``, one pack's value
``X[i, X_NAME]``.

* ``P`` (float64, ``(n_packs, N_P)``): parameters; they change only with
  ageing, a fault injection or an external BMS's limits.
* ``S`` (float64, ``(n_packs, N_S)``): state, the step's outputs, the
  limits for the next step and the energy books.
* ``D`` (float64, ``(n_packs, N_D)``): constants of the step length,
  recomputed when it changes.
* ``F`` (int64, ``(n_packs, N_F)``): flags and codes.

Fleet-wide vectors (one dimension):

* ``stats`` (float64, ``(N_ST,)``): fleet statistics written by every pass;
* ``out`` (float64, ``(N_OUT,)``): sums of one step (losses, counts);
* ``th`` (float64, ``(N_TH,)``): BMS and enclosure thresholds from the
  scenario (constant over a run).

Units: SI as named (W, J, A, V, ohm, s, degC, K); ``*_frac`` is 0..1.
Sign: power and current > 0 charge the pack.
"""

from __future__ import annotations

# -- P: per-pack parameters, float64, shape (n_packs, N_P) ------------------------------------------------------
P_QAS = 0  # capacity of the lumped cell [A s] (Ah x 3600; moves with ageing)
P_NS = 1  # cells in series [-]
P_R0 = 2  # ohmic resistance of the pack at 25 degC, SoC 0.5, present ageing [ohm]
P_R1 = 3  # fast RC branch resistance, same reference [ohm]
P_R2 = 4  # slow RC branch resistance, same reference [ohm]
P_TAU1 = 5  # fast RC branch time constant [s]
P_TAU2 = 6  # slow RC branch time constant [s]
P_EA = 7  # Arrhenius activation energy of the resistances [J/mol] (0: no temperature dependence)
P_VMAX = 8  # cell upper cut-off voltage [V]
P_VMIN = 9  # cell lower cut-off voltage [V]
P_ICH = 10  # BMS continuous charge current limit at 25 degC [A] (>= 0)
P_IDIS = 11  # BMS continuous discharge current limit at 25 degC [A] (>= 0)
P_TCH_MIN = 12  # lowest temperature for charging [degC]
P_TCH_MAX = 13  # highest temperature for charging [degC]
P_TDIS_MIN = 14  # lowest temperature for discharging [degC]
P_TDIS_MAX = 15  # highest temperature for discharging [degC]
P_WQ = 16  # capacity of the weakest cell relative to the mean cell [-] (<= 1)
P_WR = 17  # resistance of the weakest cell relative to the mean cell [-] (>= 1)
P_PCONV = 18  # rating of the pack's DC/DC converter [W]
P_C0 = 19  # converter no-load loss, share of the rating [-]
P_C1 = 20  # converter loss linear in |p| [-]
P_C2 = 21  # converter loss quadratic in p, as c2 p^2 / rating [-]
P_CTH = 22  # thermal mass of the pack [J/K]
P_UA = 23  # conductance of the enclosure to ambient [W/K]
P_SOLAR = 24  # absorptance x sunlit enclosure area [m2] (W of heat per W/m2 of GHI)
P_SOC_LO = 25  # bottom of the pack's SoC window [-]
P_SOC_HI = 26  # top of the pack's SoC window [-] (lower for packs flagged weak)
P_RW_ONSET = 27  # thermal-runaway onset temperature [degC]
P_ERW = 28  # heat a runaway releases [J]
P_CHEM = 29  # chemistry index into CHEMISTRY_NAMES, as a float [-] (the kernels use the int64 ``chem`` array)
P_WEIGHT = 30  # dispatch weight factor [-] (1; (soh / soh_max)^k / r_factor with dispatch = "soh_aware")
P_GNB = 31  # sum of the conductances to the neighbours in the yard [W/K]
P_HEAT = 32  # enclosure heater's full electric power [W]
P_G1 = 33  # 1 / P_R1 [S]
P_G2 = 34  # 1 / P_R2 [S]
P_INV_NS = 35  # 1 / P_NS [-]
P_INV_QAS = 36  # 1 / P_QAS [1/(A s)]
P_INV_WQ = 37  # 1 / P_WQ [-]
P_COOL = 38  # enclosure cooler's full heat removal [W] (electric power: this / COP)
P_XICH = 39  # charge current limit set by an external (hardware) BMS [A] (inf: none)
P_XIDIS = 40  # discharge current limit set by an external (hardware) BMS [A] (inf: none)
N_P = 41

# -- S: per-pack state and outputs, float64, shape (n_packs, N_S) -----------------------------------------------
S_SOC = 0  # state of charge of the mean cell [-]
S_SOCW = 1  # state of charge of the weakest cell [-]
S_V1 = 2  # voltage over the fast RC branch [V] (pack)
S_V2 = 3  # voltage over the slow RC branch [V] (pack)
S_TEMP = 4  # pack temperature [degC]
S_RW_LEFT = 5  # runaway heat still to release [J]
S_R0 = 6  # ohmic resistance at the present SoC and temperature [ohm]
S_R1 = 7  # fast RC branch resistance at the present SoC and temperature [ohm]
S_R2 = 8  # slow RC branch resistance at the present SoC and temperature [ohm]
S_I = 9  # current of the last step [A] (+ charging)
S_VT = 10  # terminal voltage at the end of the last step [V]
S_VCMAX = 11  # highest cell voltage [V]
S_VCMIN = 12  # lowest cell voltage [V]
S_PAC = 13  # AC power of the last step at the converter [W] (+ charging)
S_PDC = 14  # DC power of the last step at the pack terminals, thermal management included [W]
S_ICH = 15  # BMS charge current limit for the next step [A] (>= 0)
S_IDIS = 16  # BMS discharge current limit for the next step [A] (>= 0)
S_PCH = 17  # AC charge power limit for the next step [W] (>= 0)
S_PDIS = 18  # AC discharge power limit for the next step [W] (>= 0)
S_WC = 19  # split weight when charging [J] (energy room to the window's top x P_WEIGHT)
S_WD = 20  # split weight when discharging [J] (energy above the window's bottom x P_WEIGHT)
S_W_AC = 21  # books: AC energy in since the books started [J]
S_W_DC = 22  # books: DC energy into the cells since the books started [J]
S_L_CELL = 23  # books: ohmic and polarisation losses [J]
S_L_CONV = 24  # books: converter losses [J]
S_E_PARAM = 25  # books: stored energy changed by parameter changes [J]
S_HEAT = 26  # unused (always 0)
S_EMAX = 27  # chemical energy between SoC 0 and 1 at the present capacity [J]
S_THRU = 28  # DC throughput, sum of |energy| per step [J]
S_TMAX = 29  # highest pack temperature so far [degC]
S_L_HEAT = 30  # books: energy drawn by the enclosure's thermal management [J]
S_PHEAT = 31  # electric power of the enclosure's thermal management in the last step [W]
S_G1 = 32  # 1 / S_R1 [S]
S_G2 = 33  # 1 / S_R2 [S]
S_FA = 34  # Arrhenius factor of the resistances [-]
S_TFA = 35  # temperature S_FA was evaluated at [degC] (inf: not yet)
N_S = 36

# -- D: per-pack constants of the step length dt, float64, shape (n_packs, N_D) ---------------------------------
D_A1 = 0  # exp(-dt / tau1) [-]
D_A2 = 1  # exp(-dt / tau2) [-]
D_B1 = 2  # tau1 (1 - exp(-dt / tau1)) [s]
D_B2 = 3  # tau2 (1 - exp(-dt / tau2)) [s]
D_ATH = 4  # exp(-dt (UA + sum of neighbour conductances) / C_th) [-]
N_D = 5

# -- F: per-pack flags and codes, int64, shape (n_packs, N_F) ---------------------------------------------------
F_SERVICE = 0  # 1: in service (operator), 0: tripped by the operator
F_STATE = 1  # BMS state, SunSpec 802 State code (twin.fleet.bms.STATE_*)
F_EVT = 2  # BMS event word, SunSpec 802 Evt1 bits (twin.fleet.bms)
F_TRIP = 3  # why the contactor opened (twin.fleet.bms.TRIP_*; TRIP_NONE while closed)
F_RUNAWAY = 4  # thermal runaway: 0 none, 1 releasing its heat, 2 burnt out
F_NEW_ALARM = 5  # 1: came into alarm in the last step
F_EXT = 6  # 1: an external (hardware-in-the-loop) BMS sets state, event word and current limits
N_F = 7

# -- stats: fleet statistics, float64, shape (N_ST,) ------------------------------------------------------------
ST_E = 0  # stored energy, chemical + polarisation [J]
ST_EMAX = 1  # sum of S_EMAX [J]
ST_SOC_MIN = 2  # lowest SoC of the active packs [-] (NaN: none active)
ST_SOC_MAX = 3  # highest SoC of the active packs [-] (NaN: none active)
ST_N_ACT = 4  # packs active (in service, contactor closed, block in service) [-]
ST_T_MIN = 5  # lowest pack temperature [degC]
ST_T_MAX = 6  # highest pack temperature [degC]
ST_T_MEAN = 7  # mean pack temperature [degC]
ST_VC_MAX = 8  # highest cell voltage of the active packs [V] (NaN: none active)
ST_VC_MIN = 9  # lowest cell voltage of the active packs [V] (NaN: none active)
ST_N_ALARM = 10  # packs with an alarm bit set [-]
ST_N_FAULT = 11  # packs in BMS state FAULT [-]
ST_N_RUNAWAY = 12  # packs in or after thermal runaway [-]
ST_N_WARN = 13  # packs with a warning bit set [-]
N_ST = 14

# -- out: sums of one step, float64, shape (N_OUT,) -------------------------------------------------------------
OUT_LOSS_CONV_W = 0  # converter losses, mean over the step [W]
OUT_LOSS_CELL_W = 1  # cell losses (ohmic and polarisation), mean over the step [W]
OUT_N_TRIPS = 2  # packs whose contactor opened in the step [-]
OUT_N_RUNAWAY = 3  # packs past their runaway onset in the step [-]
OUT_THERMAL_MGMT_W = 4  # electric power of the enclosures' thermal management [W]
OUT_N_NEW_ALARM = 5  # packs newly in alarm [-]
N_OUT = 6

# -- th: BMS and enclosure thresholds, float64, shape (N_TH,) ---------------------------------------------------
TH_V_WARN_MARGIN_V = 0  # warning this far inside a cell cut-off [V]
TH_V_TRIP_MARGIN_V = 1  # contactor opens this far past a cell cut-off [V]
TH_TEMP_WARN_MARGIN_C = 2  # warning this far inside a temperature limit [K]
TH_TEMP_TRIP_C = 3  # contactor opens at this pack temperature [degC]
TH_SOC_TAPER_FRAC = 4  # current limits taper over this last part of the SoC window [-]
TH_CURRENT_ALARM_MARGIN_FRAC = 5  # over-current alarm above limit x (1 + this) [-]
TH_IMBALANCE_WARN_V = 6  # warning when highest - lowest cell voltage exceeds this [V]
TH_V_ALARM_TOL_V = 7  # alarm when a cell passes its cut-off by more than this [V]
TH_TEMP_DERATE_BAND_C = 8  # current limits fall to 0 over this band at the temperature limits [K]
TH_RUNAWAY_DURATION_S = 9  # a runaway releases its heat over this time [s]
TH_HEATER_SET_C = 10  # heater off above this temperature [degC]
TH_HEATER_BAND_C = 11  # heater at full power this far below its set point [K]
TH_HEATER_SOC_MIN_FRAC = 12  # heater and cooler off at or below this SoC [-]
TH_INV_SOC_TAPER = 13  # 1 / TH_SOC_TAPER_FRAC [-]
TH_INV_TEMP_DERATE_BAND = 14  # 1 / TH_TEMP_DERATE_BAND_C [1/K]
TH_INV_HEATER_BAND = 15  # 1 / TH_HEATER_BAND_C [1/K]
TH_COOLER_SET_C = 16  # cooler removes no heat below this temperature [degC]
TH_INV_COOLER_BAND = 17  # 1 / the cooler's band to full heat removal [1/K]
TH_INV_COOLER_COP = 18  # 1 / the cooler's coefficient of performance [-]
N_TH = 19

_PREFIXES = ("P_", "S_", "D_", "F_", "ST_", "OUT_", "TH_", "N_")
__all__ = [name for name in dir() if name.startswith(_PREFIXES)]
