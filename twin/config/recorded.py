"""Field data: the scenario's ``[recorded]`` table and the schema of a telemetry mapping file.

A *mapping file* (TOML, ``docs/replay.md``) names the telemetry files a site
recorded (``[[sources]]``) and says, for each field tag (``[[tags]]``), which
twin signal it is, in which unit, and what the twin does with it (its
``role``): drive the twin (``input``), set the site's state at the start
(``initial``), be compared with the twin (``compare``) or fire scenario
events (``event``). ``[quality]`` sets the data-quality checks and
``[scoring]`` the comparison (tolerances, time tolerance, event windows).

A scenario names a mapping file in ``[recorded] mapping``: ``twin run`` then
takes its inputs, initial state and events; ``twin replay`` also scores the
comparison tags. Signal names, their units and bounds are in
:mod:`twin.replay.signals`.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field, model_validator

from twin.config.base import StrictModel

__all__ = [
    "RESAMPLE_MODES",
    "ROLES",
    "SOURCE_FORMATS",
    "CsvColumns",
    "EventSpec",
    "MappingConfig",
    "QualityConfig",
    "RecordedConfig",
    "ScoringConfig",
    "SourceConfig",
    "TagConfig",
]

SourceFormat = Literal["csv_long", "csv_wide", "parquet", "comtrade", "influx_csv"]
SOURCE_FORMATS: tuple[str, ...] = get_args(SourceFormat)
Role = Literal["input", "initial", "compare", "event"]
ROLES: tuple[str, ...] = get_args(Role)
ResampleMode = Literal["mean", "hold"]
RESAMPLE_MODES: tuple[str, ...] = get_args(ResampleMode)


class CsvColumns(StrictModel):
    """Column names of a historian export. Long files use ``tag``, ``time``, ``value`` and ``quality``
    (``quality`` may be absent from the file); wide files use ``time`` (every other column is a tag)."""

    tag: str = "tag"
    time: str = "timestamp"
    value: str = "value"
    quality: str = "quality"


class SourceConfig(StrictModel):
    """One telemetry file."""

    name: str = Field("", pattern=r"^[A-Za-z0-9_.-]*$")  # how tags refer to it; default: the file's stem
    file: str = Field(min_length=1)  # relative to the mapping file; COMTRADE: the .cfg (the .dat beside it)
    format: SourceFormat
    columns: CsvColumns = CsvColumns()  # csv_long, csv_wide, parquet
    # Time stamps without a UTC offset are read in this IANA zone (None: the mapping's ``timezone``).
    # A stamp with an offset ("2025-07-15T12:00:00-07:00", "Z") is taken as written.
    timezone: str | None = None
    time_format: str | None = None  # strptime format of the time column; None: ISO 8601 (pandas)
    # historian quality codes taken as good (compared as text); a sample with another code is dropped
    # and reported. OPC DA's 192 is "good" (its 0 is "bad": OPC UA's 0 is good, add it for such exports);
    # PI and Ignition export words.
    good_quality: tuple[str, ...] = ("good", "Good", "GOOD", "192")
    delimiter: str = Field(",", min_length=1, max_length=1)  # csv_long, csv_wide


class EventSpec(StrictModel):
    """A scenario event (``[[events]]`` keys without ``at_s``) fired by an event tag; validated as an event."""

    model_config = ConfigDict(extra="allow")  # merged with StrictModel's; the keys are checked as an event
    kind: str


class TagConfig(StrictModel):
    """One field tag and what the twin makes of it."""

    tag: str = Field(min_length=1)  # long CSV: the tag column's value; wide CSV / Parquet: the column;
    # COMTRADE: the channel's name (ch_id); InfluxDB CSV: "measurement.field" (or "field" when unique)
    source: str = ""  # the source's name; may be omitted when the mapping has one source
    signal: str = Field(min_length=1)  # twin signal (twin.replay.signals), e.g. "pv_b03_poa_w_m2"
    unit: str = ""  # the file's unit ("kW", "%", "degF" ...); "" = the signal's own unit
    scale: float = 1.0  # raw counts to the file's unit first: value * scale + offset
    offset: float = 0.0
    role: Role = "compare"
    initial: bool = False  # also sets the twin's state at the start (state signals only)
    resample: ResampleMode | None = None  # None: the signal's default (power and temperatures: mean; states: hold)
    tolerance: float | None = Field(None, gt=0)  # compare: absolute, in the signal's unit (None: [scoring] default)
    min: float | None = None  # physical bounds in the signal's unit (None: the signal's own)
    max: float | None = None
    # event tags: the value is read as true when nonzero. ``rise`` fires when it turns true, ``fall``
    # when it turns false (a breaker's 52a contact: fall = trip, rise = restore)
    rise: EventSpec | None = None
    fall: EventSpec | None = None
    # the tag's normal state (true/false); a state at the run's start that is not normal fires its event at
    # t = 0 (a breaker already open). None: whatever the record holds at the start is normal.
    normal: bool | None = None

    @model_validator(mode="after")
    def _role_keys(self) -> TagConfig:
        if self.role == "event":
            if self.rise is None and self.fall is None:
                raise ValueError("an event tag needs 'rise' or 'fall' (the event to fire)")
        elif self.rise is not None or self.fall is not None or self.normal is not None:
            raise ValueError(f"'rise', 'fall' and 'normal' belong to event tags; this tag's role is {self.role!r}")
        if self.tolerance is not None and self.role != "compare":
            raise ValueError(f"'tolerance' belongs to compare tags; this tag's role is {self.role!r}")
        if self.initial and self.role not in ("compare", "initial"):
            raise ValueError(f"'initial' belongs to compare tags; this tag's role is {self.role!r}")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        return self

    def event_dict(self, which: Literal["rise", "fall"], at_s: float) -> dict[str, Any]:
        spec = self.rise if which == "rise" else self.fall
        assert spec is not None
        return {**spec.model_dump(), "at_s": at_s}


class QualityConfig(StrictModel):
    """Data-quality checks (``[quality]``); every finding is listed with its file and row."""

    # a gap: two samples further apart than this (None: 5 x the tag's median spacing)
    max_gap_s: float | None = Field(None, gt=0)
    # a stuck value: unchanged for at least this long in a signal that varies elsewhere in the file
    stuck_s: float = Field(600.0, gt=0)
    # a clock step: the time goes back by at least this (a clock reset, a naive DST fall-back)
    clock_step_s: float = Field(60.0, gt=0)


class ScoringConfig(StrictModel):
    """How the comparison tags are scored (``[scoring]``)."""

    time_tolerance_s: float = Field(1.0, ge=0)  # a field value matching the twin within this lag is no error
    min_inside_frac: float = Field(0.99, gt=0, le=1)  # a signal passes with this share of time inside tolerance
    rel_tolerance_frac: float = Field(0.0, ge=0, le=1)  # added to a tag's tolerance: this share of |field value|
    default_tolerance: float | None = Field(None, gt=0)  # a compare tag without 'tolerance' (None: required)
    # event windows (IEC 61400-27-2's pre-fault / fault / post-fault): before the event, the event until its
    # clearing event (or fault_s without one), and after it
    pre_s: float = Field(60.0, gt=0)
    fault_s: float = Field(10.0, gt=0)
    post_s: float = Field(120.0, gt=0)
    min_divergence_s: float = Field(0.0, ge=0)  # a divergence: outside tolerance at least this long
    context_s: float = Field(60.0, gt=0)  # the report's states and events around a divergence: this either side


class MappingConfig(StrictModel):
    """A mapping file: the telemetry set and what each tag means."""

    name: str = ""
    description: str = ""
    timezone: str | None = None  # stamps without an offset, unless a source says otherwise (None: the site's)
    sources: tuple[SourceConfig, ...] = Field(min_length=1)
    tags: tuple[TagConfig, ...] = Field(min_length=1)
    # site IT power (signal "it_p_mw" as an input) is shared among the Spark units by these weights
    # (None: by their IT peak, i.e. equally on the pilot site)
    it_share_weights: tuple[float, ...] | None = None
    quality: QualityConfig = QualityConfig()
    scoring: ScoringConfig = ScoringConfig()

    @model_validator(mode="after")
    def _names(self) -> MappingConfig:
        w = self.it_share_weights
        if w is not None and (min(w) < 0 or sum(w) <= 0):
            raise ValueError(f"it_share_weights must be >= 0 with a positive sum, got {list(w)}")
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if n and names.count(n) > 1})
        if dup:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dup)}")
        return self


class RecordedConfig(StrictModel):
    """``[recorded]``: a scenario driven by field data."""

    mapping: str = ""  # mapping file, relative to the scenario file ("" = none)
    # what the inputs leave to the models: False keeps a model's own synthesis for signals the mapping
    # does not record (the usual case); True refuses a run that lacks any of PV, IT and ambient inputs
    require_all_inputs: bool = False
