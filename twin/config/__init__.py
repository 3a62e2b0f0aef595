"""Typed scenario: the validated form of a scenario TOML file.

Every assumption about the site (``../shared/design/SITE.md``) is a field
here with its default; nothing site-specific is a constant in the models.
Each model takes its own table as is (``PVPlant(models.pv, site)``,
``Ambient(models.ambient, altitude_m=...)``, ``BatteryFleet(models.fleet, ...)``):
the fields and their ranges are declared once, here. Reading the file and
turning validation errors into messages for people is done by
:mod:`adapters.io.scenario_file`; this package declares the schema and the
checks across tables (:func:`cross_check`).

One module per topic: :mod:`~twin.config.base` (the strict base of every input
model), :mod:`~twin.config.site`, :mod:`~twin.config.generation` (PV),
:mod:`~twin.config.weather` (ambient), :mod:`~twin.config.fleet`,
:mod:`~twin.config.datacenter`, :mod:`~twin.config.grid`,
:mod:`~twin.config.events`, :mod:`~twin.config.scenario` (run, controller,
HIL, the whole scenario) and :mod:`~twin.config.checks` (checks across
tables). Every public name is importable from ``twin.config``.

Units are in the names (``p_mw``, ``temp_c``, ``t_s``); sign conventions are
in ``docs/nomenclature.md``.
"""

from __future__ import annotations

from twin.config.base import StrictModel
from twin.config.checks import Problem, check_hil_packs, cross_check, id_list
from twin.config.datacenter import (
    JOB_KINDS,
    ConstantJobConfig,
    CoolingConfig,
    DataCenterModelConfig,
    GpuConfig,
    InferenceJobConfig,
    JobConfig,
    TrainingJobConfig,
    UnitLoadConfig,
)
from twin.config.events import (
    EVENT_KINDS,
    Alarm,
    AmbientOverride,
    BmsReset,
    ChillerRestore,
    ChillerTrip,
    CoolingPumpRestore,
    CoolingPumpTrip,
    DryCoolerFanFail,
    DryCoolerFanRestore,
    Event,
    HilSetOp,
    JobCrash,
    JobStart,
    JobStop,
    PowerFloor,
    RestoreBessBlock,
    RestorePacks,
    RestorePvBlock,
    ThermalRunaway,
    TripBessBlock,
    TripPacks,
    TripPvBlock,
    WeakCell,
)
from twin.config.fleet import (
    CHEMISTRY_NAMES,
    AgeingConfig,
    BmsConfig,
    Chemistry,
    FleetModelConfig,
    FleetVehicleModel,
    ThermalConfig,
)
from twin.config.generation import CLOUD_MODES, SKY_MODELS, CloudMode, PVModelConfig, SkyModel
from twin.config.grid import GridModelConfig
from twin.config.recorded import (
    RESAMPLE_MODES,
    ROLES,
    SOURCE_FORMATS,
    CsvColumns,
    EventSpec,
    MappingConfig,
    QualityConfig,
    RecordedConfig,
    ScoringConfig,
    SourceConfig,
    TagConfig,
)
from twin.config.scenario import (
    EXTERNAL_GROUPS,
    ControllerConfig,
    ExternalControllerConfig,
    HilConfig,
    ModelsConfig,
    RunConfig,
    Scenario,
)
from twin.config.site import (
    AuxSiteConfig,
    BessSiteConfig,
    CableConfig,
    FeederConfig,
    PVSiteConfig,
    SiteConfig,
    SparkSiteConfig,
    TransformerConfig,
)
from twin.config.weather import AMBIENT_TEMP_RANGE_C, DEWPOINT_RANGE_C, AmbientModelConfig

__all__ = [
    "AMBIENT_TEMP_RANGE_C",
    "CHEMISTRY_NAMES",
    "CLOUD_MODES",
    "DEWPOINT_RANGE_C",
    "EVENT_KINDS",
    "JOB_KINDS",
    "SKY_MODELS",
    "RESAMPLE_MODES",
    "ROLES",
    "SOURCE_FORMATS",
    "Alarm",
    "CsvColumns",
    "EventSpec",
    "MappingConfig",
    "QualityConfig",
    "RecordedConfig",
    "ScoringConfig",
    "SourceConfig",
    "TagConfig",
    "AgeingConfig",
    "AmbientModelConfig",
    "AmbientOverride",
    "AuxSiteConfig",
    "BessSiteConfig",
    "BmsConfig",
    "BmsReset",
    "CableConfig",
    "Chemistry",
    "ChillerRestore",
    "ChillerTrip",
    "CloudMode",
    "ConstantJobConfig",
    "EXTERNAL_GROUPS",
    "ControllerConfig",
    "ExternalControllerConfig",
    "CoolingConfig",
    "CoolingPumpRestore",
    "CoolingPumpTrip",
    "DataCenterModelConfig",
    "DryCoolerFanFail",
    "DryCoolerFanRestore",
    "Event",
    "FeederConfig",
    "FleetModelConfig",
    "FleetVehicleModel",
    "GpuConfig",
    "GridModelConfig",
    "HilConfig",
    "HilSetOp",
    "InferenceJobConfig",
    "JobConfig",
    "JobCrash",
    "JobStart",
    "JobStop",
    "ModelsConfig",
    "PVModelConfig",
    "PVSiteConfig",
    "PowerFloor",
    "Problem",
    "RestoreBessBlock",
    "RestorePacks",
    "RestorePvBlock",
    "RunConfig",
    "Scenario",
    "SiteConfig",
    "SkyModel",
    "SparkSiteConfig",
    "StrictModel",
    "ThermalConfig",
    "ThermalRunaway",
    "TrainingJobConfig",
    "TransformerConfig",
    "TripBessBlock",
    "TripPacks",
    "TripPvBlock",
    "UnitLoadConfig",
    "WeakCell",
    "check_hil_packs",
    "cross_check",
    "id_list",
]
