"""The scenario as a whole: ``[run]``, ``[models.*]``, ``[controller]``, ``[hil]`` and the top level.

Checks across tables (:func:`twin.config.checks.cross_check`) run after a
:class:`Scenario` is valid on its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from twin.config.base import StrictModel
from twin.config.datacenter import DataCenterModelConfig
from twin.config.events import Event
from twin.config.fleet import FleetModelConfig
from twin.config.generation import PVModelConfig
from twin.config.grid import GridModelConfig
from twin.config.recorded import RecordedConfig
from twin.config.site import SiteConfig
from twin.config.weather import AmbientModelConfig

__all__ = ["ControllerConfig", "HilConfig", "ModelsConfig", "RunConfig", "Scenario"]


# ---------------------------------------------------------------------------- run
class RunConfig(StrictModel):
    start: datetime = datetime.fromisoformat("2025-07-15T00:00:00")  # local time of the site
    duration_s: float = Field(86400.0, gt=0, le=400 * 86400)
    step_s: float = Field(1.0, ge=0.1, le=3600)
    seed: int = Field(7, ge=0)
    record_every_s: float | None = Field(None, gt=0)  # None: every electrical step
    chunk_rows: int = Field(3600, ge=10)  # rows per results chunk written to disk

    @model_validator(mode="after")
    def _whole_steps(self) -> RunConfig:
        n = self.duration_s / self.step_s
        if abs(n - round(n)) > 1e-9 * max(1.0, n):
            raise ValueError(
                f"duration_s ({self.duration_s:g}) must be a whole number of steps of step_s ({self.step_s:g})"
            )
        if self.step_s * 10 != round(self.step_s * 10):
            raise ValueError(f"step_s must be a multiple of 0.1 s, got {self.step_s!r}")
        return self


# ------------------------------------------------------------------------- models
class ModelsConfig(StrictModel):
    pv: PVModelConfig = PVModelConfig()
    fleet: FleetModelConfig = FleetModelConfig()
    datacenter: DataCenterModelConfig = DataCenterModelConfig()
    ambient: AmbientModelConfig = AmbientModelConfig()
    grid: GridModelConfig = GridModelConfig()


# --------------------------------------------------------------------- controller
# the device groups an external controller may own (hil/plant/coupling.py says what each holds)
ExternalGroup = Literal["pv", "spark", "breakers"]
EXTERNAL_GROUPS: tuple[str, ...] = get_args(ExternalGroup)


class ExternalControllerConfig(StrictModel):
    """A controller outside the process on the plant's SunSpec Modbus TCP devices (docs/controller-interface.md).
    ``owns`` empty: none (the default); `twin run --external` overrides."""

    owns: tuple[ExternalGroup, ...] = ()  # device groups it commands; the rest stays in-process
    mode: Literal["lockstep", "realtime"] = "lockstep"
    host: str = "127.0.0.1"  # the address the plant's server binds to (another: reachable from other machines)
    port: int = Field(5020, ge=0, le=65535)  # 502 needs root; 0: a free port (printed)
    allow: tuple[str, ...] = ()  # client addresses allowed (empty: any that reaches the address)
    max_connections: int = Field(8, ge=1, le=64)
    # a client sending more requests than this in a second is dropped; a lockstep controller reads ~40 registers
    # blocks per step at hundreds of steps a second (measured: docs/performance.md)
    max_requests_per_s: float = Field(20000.0, gt=0)
    connect_timeout_s: float = Field(30.0, gt=0)  # wait this long for the controller before the clock runs
    cycle_timeout_s: float = Field(10.0, gt=0)  # lockstep: a controller silent this long is run without
    overrun_frac: float = Field(0.1, gt=0, le=10)  # real time: a step published later than this share overran
    max_overruns: int | None = Field(None, ge=0)  # stop the run past this many overruns (None: never)
    record: bool = True  # controller_session.jsonl.gz in the results folder

    @field_validator("allow")
    @classmethod
    def _ip_addresses(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for a in v:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise ValueError(f"{a!r} is not an IP address (e.g. '127.0.0.1'; names are not resolved)") from None
        return v


class ControllerConfig(StrictModel):
    # ``class`` is a Python keyword; the TOML key is ``class``.
    class_path: str = Field("twin.controller:ReferenceController", alias="class")
    step_s: float | None = Field(None, gt=0)  # None: electrical step
    params: dict[str, float | int | bool | str | list[float]] = Field(default_factory=dict)
    external: ExternalControllerConfig = ExternalControllerConfig()

    model_config = ConfigDict(populate_by_name=True)  # merged with StrictModel's

    @field_validator("class_path")
    @classmethod
    def _path_form(cls, v: str) -> str:
        mod, sep, name = v.partition(":")
        if not sep or not mod or not name or not all(p.isidentifier() for p in mod.split(".") + [name]):
            raise ValueError(f"expected 'package.module:ClassName', got {v!r}")
        return v


# ----------------------------------------------------------------------- hardware in the loop
class HilConfig(StrictModel):
    """Packs handed to BMSs on a serial line by ``twin hil`` (command-line options override)."""

    packs: tuple[int, ...] = ()  # pack ids; `twin hil --packs` overrides
    device: str = ""  # device file (TOML) of the BMS product, relative to the scenario file
    realtime: bool = True  # False: lockstep
    overrun_frac: float = Field(0.1, gt=0, le=10)  # a step starting later than this share of a step overran
    max_overruns: int | None = Field(None, ge=0)  # stop the run past this many overruns (None: never)


# ----------------------------------------------------------------------- scenario
class Scenario(StrictModel):
    name: str = ""
    description: str = ""
    site: SiteConfig = SiteConfig()
    run: RunConfig = RunConfig()
    models: ModelsConfig = ModelsConfig()
    controller: ControllerConfig = ControllerConfig()
    hil: HilConfig = HilConfig()
    recorded: RecordedConfig = RecordedConfig()
    events: tuple[Event, ...] = ()

    @property
    def n_steps(self) -> int:
        return int(round(self.run.duration_s / self.run.step_s))
