"""``[[events]]``: scheduled events (trips and restores, pack faults, cooling faults, workload events).

One class per ``kind``; :data:`Event` is their discriminated union and
:data:`EVENT_KINDS` the tags, taken from it.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from twin.config.base import StrictModel
from twin.config.weather import AMBIENT_TEMP_RANGE_C

__all__ = [
    "EVENT_KINDS",
    "Event",
    "Alarm",
    "AmbientOverride",
    "BmsReset",
    "ChillerRestore",
    "ChillerTrip",
    "CoolingPumpRestore",
    "CoolingPumpTrip",
    "DryCoolerFanFail",
    "DryCoolerFanRestore",
    "HilSetOp",
    "JobCrash",
    "JobStart",
    "JobStop",
    "PowerFloor",
    "RestoreBessBlock",
    "RestorePacks",
    "RestorePvBlock",
    "ThermalRunaway",
    "TripBessBlock",
    "TripPacks",
    "TripPvBlock",
    "WeakCell",
]


# ------------------------------------------------------------------------- events
class _Event(StrictModel):
    at_s: float = Field(ge=0)


class _BlockEvent(_Event):
    block: int = Field(ge=0)


class _PacksEvent(_Event):
    """Selects packs by id, by vehicle model (a firmware fault), by yard row (a hot row) or by
    block (a cable segment); selectors given together must all match."""

    packs: tuple[int, ...] = ()
    vehicle: str | None = None
    yard_row: int | None = Field(None, ge=0)
    block: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _some_selector(self) -> _PacksEvent:
        if not self.packs and self.vehicle is None and self.yard_row is None and self.block is None:
            raise ValueError("name the packs: give 'packs', 'vehicle', 'yard_row' or 'block'")
        return self


class TripBessBlock(_BlockEvent):
    kind: Literal["trip_bess_block"]


class RestoreBessBlock(_BlockEvent):
    kind: Literal["restore_bess_block"]


class TripPacks(_PacksEvent):
    kind: Literal["trip_packs"]
    reason: str = ""


class RestorePacks(_PacksEvent):
    kind: Literal["restore_packs"]


class WeakCell(_PacksEvent):
    """One cell of each selected pack loses capacity and gains resistance (imbalance alarms)."""

    kind: Literal["weak_cell"]
    capacity_frac: float = Field(0.7, gt=0, le=1)  # the weak cell's capacity relative to the pack's
    resistance_factor: float = Field(3.0, ge=1, le=50)  # its resistance relative to the pack's cells


class ThermalRunaway(_Event):
    """One pack goes into thermal runaway; its heat may propagate to neighbours in the yard."""

    kind: Literal["thermal_runaway"]
    pack: int = Field(ge=0)


class BmsReset(_PacksEvent):
    """Alarm reset: latched BMS faults clear and contactors close again where the cause has gone."""

    kind: Literal["bms_reset"]


class HilSetOp(_PacksEvent):
    """What the twin asks of the hardware BMS of bound packs (``twin hil``): SetOp CONNECT or DISCONNECT,
    written every step from ``at_s`` on (a level, as the contract has it)."""

    kind: Literal["hil_setop"]
    op: Literal["connect", "disconnect"]


class TripPvBlock(_BlockEvent):
    kind: Literal["trip_pv_block"]


class RestorePvBlock(_BlockEvent):
    kind: Literal["restore_pv_block"]


class _UnitEvent(_Event):
    unit: int = Field(ge=0)


class CoolingPumpTrip(_UnitEvent):
    """A cooling pump of a unit stops: ``coolant`` (the CDU's secondary pump) or ``facility`` (primary)."""

    kind: Literal["cooling_pump_trip"]
    loop: Literal["coolant", "facility"] = "coolant"


class CoolingPumpRestore(_UnitEvent):
    kind: Literal["cooling_pump_restore"]
    loop: Literal["coolant", "facility"] = "coolant"


class DryCoolerFanFail(_UnitEvent):
    """Part of a unit's dry-cooler fans fail (their share of airflow and heat-transfer area goes)."""

    kind: Literal["dry_cooler_fan_fail"]
    lost_frac: float = Field(0.5, gt=0, le=1)


class DryCoolerFanRestore(_UnitEvent):
    kind: Literal["dry_cooler_fan_restore"]


class ChillerTrip(_UnitEvent):
    kind: Literal["chiller_trip"]


class ChillerRestore(_UnitEvent):
    kind: Literal["chiller_restore"]


class _JobEvent(_Event):
    unit: int | None = Field(None, ge=0)  # None: every unit that runs the job
    job: str | int = 0  # the workload's name, or its index in the unit's list of workloads


class JobStart(_JobEvent):
    kind: Literal["job_start"]


class JobStop(_JobEvent):
    kind: Literal["job_stop"]


class JobCrash(_JobEvent):
    kind: Literal["job_crash"]
    restart_after_s: float | None = Field(None, ge=0)  # None: the job's restart_s


class PowerFloor(_Event):
    """Switch the GPUs' power floor (power smoothing) on (``floor_frac``) or off (omitted)."""

    kind: Literal["power_floor"]
    unit: int | None = Field(None, ge=0)  # None: every unit
    floor_frac: float | None = Field(None, ge=0, le=1)


class AmbientOverride(_Event):
    kind: Literal["ambient"]
    temp_c: float | None = Field(
        None, ge=AMBIENT_TEMP_RANGE_C[0], le=AMBIENT_TEMP_RANGE_C[1]
    )  # omitted: the override ends


class Alarm(_Event):
    """An alarm or operation recorded on site that the twin has no model for: logged with its text (a replay's
    event windows and its report use it)."""

    kind: Literal["alarm"]
    text: str = ""


Event = Annotated[
    TripBessBlock
    | RestoreBessBlock
    | TripPacks
    | RestorePacks
    | WeakCell
    | ThermalRunaway
    | BmsReset
    | HilSetOp
    | TripPvBlock
    | RestorePvBlock
    | CoolingPumpTrip
    | CoolingPumpRestore
    | DryCoolerFanFail
    | DryCoolerFanRestore
    | ChillerTrip
    | ChillerRestore
    | JobStart
    | JobStop
    | JobCrash
    | PowerFloor
    | AmbientOverride
    | Alarm,
    Field(discriminator="kind"),
]

# the event kinds, from the union above (one definition)
EVENT_KINDS: tuple[str, ...] = tuple(
    get_args(m.model_fields["kind"].annotation)[0] for m in get_args(get_args(Event)[0])
)
