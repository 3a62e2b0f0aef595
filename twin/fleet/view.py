"""A read-only view of the packs' state for adapters and tests: named per-pack arrays, no raw indices.

``fleet.packs.soc_frac[i]`` instead of ``fleet.S[i, S_SOC]``: the layout of
the fleet's arrays (:mod:`twin.fleet.layout`) stays the fleet's own. Every
property is a numpy array, one entry per pack in the fleet's order
(``fleet.inv``): a read-only view of the live state (it follows the fleet
step by step; copy it to keep a value) or, for the yes/no flags
(``runaway``, ``new_alarm``, ``in_service``, ``external``), a fresh bool array.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twin.fleet.layout import (
    F_EVT,
    F_EXT,
    F_NEW_ALARM,
    F_RUNAWAY,
    F_SERVICE,
    F_STATE,
    F_TRIP,
    S_I,
    S_ICH,
    S_IDIS,
    S_PAC,
    S_PCH,
    S_PDC,
    S_PDIS,
    S_PHEAT,
    S_R0,
    S_R1,
    S_R2,
    S_SOC,
    S_SOCW,
    S_TEMP,
    S_THRU,
    S_TMAX,
    S_V1,
    S_V2,
    S_VCMAX,
    S_VCMIN,
    S_VT,
)

if TYPE_CHECKING:
    from twin.fleet.fleet import BatteryFleet

__all__ = ["PackView"]


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class PackView:
    """Per-pack state of a :class:`~twin.fleet.fleet.BatteryFleet`, read-only (``fleet.packs``)."""

    __slots__ = ("_fleet",)

    def __init__(self, fleet: BatteryFleet) -> None:
        self._fleet = fleet

    def __len__(self) -> int:
        return int(self._fleet.inv.n_packs)

    # -- electrical ------------------------------------------------------------------------------------------------
    @property
    def soc_frac(self) -> np.ndarray:
        """State of charge of the mean cell (0..1)."""
        return _ro(self._fleet.S[:, S_SOC])

    @property
    def soc_weak_cell_frac(self) -> np.ndarray:
        """State of charge of the weakest cell (0..1)."""
        return _ro(self._fleet.S[:, S_SOCW])

    @property
    def i_a(self) -> np.ndarray:
        """Current of the last step (A, + charging)."""
        return _ro(self._fleet.S[:, S_I])

    @property
    def v_terminal_v(self) -> np.ndarray:
        """Terminal voltage at the end of the last step (V)."""
        return _ro(self._fleet.S[:, S_VT])

    @property
    def v_cell_max_v(self) -> np.ndarray:
        """Highest cell voltage (V): the mean cell's or the weakest cell's."""
        return _ro(self._fleet.S[:, S_VCMAX])

    @property
    def v_cell_min_v(self) -> np.ndarray:
        """Lowest cell voltage (V)."""
        return _ro(self._fleet.S[:, S_VCMIN])

    @property
    def v_rc1_v(self) -> np.ndarray:
        """Voltage over the fast RC branch (V, pack)."""
        return _ro(self._fleet.S[:, S_V1])

    @property
    def v_rc2_v(self) -> np.ndarray:
        """Voltage over the slow RC branch (V, pack)."""
        return _ro(self._fleet.S[:, S_V2])

    @property
    def r0_ohm(self) -> np.ndarray:
        """Ohmic resistance at the present SoC and temperature (ohm, pack)."""
        return _ro(self._fleet.S[:, S_R0])

    @property
    def r1_ohm(self) -> np.ndarray:
        """Fast RC branch resistance at the present SoC and temperature (ohm, pack)."""
        return _ro(self._fleet.S[:, S_R1])

    @property
    def r2_ohm(self) -> np.ndarray:
        """Slow RC branch resistance at the present SoC and temperature (ohm, pack)."""
        return _ro(self._fleet.S[:, S_R2])

    @property
    def n_series(self) -> np.ndarray:
        """Cells in series (int)."""
        return _ro(self._fleet.inv.n_series)

    # -- power -----------------------------------------------------------------------------------------------------
    @property
    def p_ac_w(self) -> np.ndarray:
        """AC power of the last step at the converter (W, + charging)."""
        return _ro(self._fleet.S[:, S_PAC])

    @property
    def p_dc_w(self) -> np.ndarray:
        """DC power of the last step at the converter's DC side, thermal management included (W)."""
        return _ro(self._fleet.S[:, S_PDC])

    @property
    def thermal_mgmt_w(self) -> np.ndarray:
        """Electric power of the enclosure's heater and cooler in the last step (W)."""
        return _ro(self._fleet.S[:, S_PHEAT])

    @property
    def throughput_dc_j(self) -> np.ndarray:
        """DC energy moved in or out since the books started (J)."""
        return _ro(self._fleet.S[:, S_THRU])

    # -- limits for the next step ----------------------------------------------------------------------------------
    @property
    def i_charge_max_a(self) -> np.ndarray:
        """BMS charge current limit for the next step (A, >= 0)."""
        return _ro(self._fleet.S[:, S_ICH])

    @property
    def i_discharge_max_a(self) -> np.ndarray:
        """BMS discharge current limit for the next step (A, >= 0)."""
        return _ro(self._fleet.S[:, S_IDIS])

    @property
    def p_charge_max_w(self) -> np.ndarray:
        """AC charge power limit for the next step (W, >= 0)."""
        return _ro(self._fleet.S[:, S_PCH])

    @property
    def p_discharge_max_w(self) -> np.ndarray:
        """AC discharge power limit for the next step (W, >= 0)."""
        return _ro(self._fleet.S[:, S_PDIS])

    # -- thermal ---------------------------------------------------------------------------------------------------
    @property
    def temp_c(self) -> np.ndarray:
        """Pack temperature (degC)."""
        return _ro(self._fleet.S[:, S_TEMP])

    @property
    def temp_max_c(self) -> np.ndarray:
        """Highest pack temperature so far (degC)."""
        return _ro(self._fleet.S[:, S_TMAX])

    # -- BMS and service -------------------------------------------------------------------------------------------
    @property
    def bms_state(self) -> np.ndarray:
        """BMS state, SunSpec 802 State (``twin.fleet.bms.STATE_*``)."""
        return _ro(self._fleet.F[:, F_STATE])

    @property
    def bms_evt1(self) -> np.ndarray:
        """BMS event word, SunSpec 802 Evt1 bits."""
        return _ro(self._fleet.F[:, F_EVT])

    @property
    def trip_cause(self) -> np.ndarray:
        """Why the contactor opened (``twin.fleet.bms.TRIP_*``; ``TRIP_NONE`` while it is closed)."""
        return _ro(self._fleet.F[:, F_TRIP])

    @property
    def runaway(self) -> np.ndarray:
        """Past thermal-runaway onset (bool)."""
        return self._fleet.F[:, F_RUNAWAY] > 0

    @property
    def new_alarm(self) -> np.ndarray:
        """Came into alarm in the last step (bool)."""
        return self._fleet.F[:, F_NEW_ALARM] > 0

    @property
    def in_service(self) -> np.ndarray:
        """In service for the operator (bool; a BMS trip does not change it)."""
        return self._fleet.F[:, F_SERVICE] > 0

    @property
    def external(self) -> np.ndarray:
        """Protected by an external (hardware-in-the-loop) BMS (bool)."""
        return self._fleet.F[:, F_EXT] > 0

    @property
    def active(self) -> np.ndarray:
        """In service, contactor closed and on a block in service (bool): the packs the next step dispatches."""
        return _ro(self._fleet.active)
