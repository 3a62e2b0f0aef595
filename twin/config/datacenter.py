"""``[models.datacenter]``: the Spark units' workloads, power features, liquid cooling and GPU limits."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, model_validator

from twin.config.base import StrictModel

__all__ = [
    "JOB_KINDS",
    "ConstantJobConfig",
    "CoolingConfig",
    "DataCenterModelConfig",
    "GpuConfig",
    "InferenceJobConfig",
    "JobConfig",
    "TrainingJobConfig",
    "UnitLoadConfig",
]


class CoolingConfig(StrictModel):
    """Liquid cooling of one Spark unit (every unit has the same plant); see twin/datacenter/cooling.py.

    Given for a 1 MW unit: heat capacities, flows, conductances and the fan, pump
    and chiller ratings scale with site.spark.it_peak_mw (Cooling.SCALED). Values are ASSUMPTIONS of a typical
    direct-to-chip plant unless a source is named; docs/datacenter.md explains
    each choice and the thresholds they imply.
    """

    liquid_frac: float = Field(0.85, ge=0.5, le=1.0)  # IT heat to the cold plates (SITE.md: 80-90 %)
    # thermal masses: a tripped secondary pump at 1 MW warms the coolant ~10 K per minute (0.85 MW / 5 MJ/K)
    coolant_c_j_per_k: float = Field(5.0e6, gt=0)
    air_c_j_per_k: float = Field(1.5e6, gt=0)  # air and rack metal
    facility_c_j_per_k: float = Field(8.0e6, gt=0)  # facility water loop and dry-cooler coils
    coolant_flow_kg_s: float = Field(24.0, gt=0)  # about 11 K rise at 1 MW
    coolant_cp_j_per_kg_k: float = Field(3800.0, gt=0)  # propylene glycol 25 %
    coolant_rho_kg_m3: float = Field(1030.0, gt=0)
    coolant_dp_kpa: float = Field(250.0, gt=0)  # cold plates, manifolds, CDU
    facility_flow_kg_s: float = Field(30.0, gt=0)
    facility_cp_j_per_kg_k: float = Field(4180.0, gt=0)
    facility_rho_kg_m3: float = Field(1000.0, gt=0)
    facility_dp_kpa: float = Field(200.0, gt=0)
    pump_eff: float = Field(0.6, gt=0, le=1)  # wire to water
    cdu_effectiveness: float = Field(0.75, gt=0, le=1)
    air_coil_ua_w_per_k: float = Field(20e3, gt=0)  # in-row coils on facility water
    air_fan_kw: float = Field(8.0, ge=0)  # in-row fans, constant speed
    facility_supply_c: float = Field(30.0, ge=5, le=50)  # set point (ASHRAE W32 class)
    dc_ua_w_per_k: float = Field(125e3, gt=0)  # dry coolers at full fan speed: 1 MW at 8 K approach
    dc_ua_exponent: float = Field(0.8, gt=0, le=1.5)  # UA ~ airflow ** n
    dc_fan_kw: float = Field(30.0, ge=0)  # at full speed (cube law below)
    dc_air_flow_kg_s: float = Field(100.0, gt=0)  # at full speed
    adiabatic_eff: float = Field(0.7, ge=0, le=1)  # pad saturation effectiveness
    adiabatic_pump_kw: float = Field(1.5, ge=0)
    # trim chiller cooling capacity: holds 30 degC water at full IT load (1.028 MW of heat) on the
    # 42 degC record day (wet bulb 19.8, dry-cooler inlet 26.5 degC): 1.028 - 3.5 K x 125 kW/K = 0.59 MW
    chiller_kw: float = Field(600.0, ge=0)
    chiller_carnot_frac: float = Field(0.45, gt=0, le=1)
    chiller_evap_approach_k: float = Field(5.0, ge=0)
    chiller_cond_approach_k: float = Field(10.0, ge=0)
    chiller_cop_max: float = Field(12.0, gt=0)
    # Regime thresholds on the ambient dry bulb. Defaults: the dry coolers alone hold 30 degC
    # water at design heat up to 30 - 1 MW / 125 kW/K = 22 degC; with adiabatic assist (wet bulb
    # 18 degC, effectiveness 0.7) up to about 31 degC; above, the chiller trims.
    adiabatic_on_c: float = 22.0
    chiller_on_c: float = 31.0
    regime_hysteresis_k: float = Field(1.0, ge=0, le=10)

    @model_validator(mode="after")
    def _order(self) -> CoolingConfig:
        if self.chiller_on_c < self.adiabatic_on_c:
            raise ValueError(
                f"chiller_on_c ({self.chiller_on_c:g}) must not be below adiabatic_on_c ({self.adiabatic_on_c:g})"
            )
        return self


class GpuConfig(StrictModel):
    """GPU thermal limits and leakage (per unit, lumped)."""

    max_operating_c: float = 87.0  # NVIDIA Hopper SXM (SITE.md)
    slowdown_c: float = 89.0
    shutdown_c: float = 92.0
    tj_rise_full_k: float = Field(35.0, gt=0)  # junction above coolant at full power (cold-plate resistance)
    throttle_min_frac: float = Field(0.3, ge=0, le=1)  # lowest power cap the GPUs can take, of peak
    leakage_per_k: float = Field(0.002, ge=0, le=0.05)  # IT power per K of coolant above leakage_ref_c
    leakage_ref_c: float = 40.0
    restart_coolant_c: float = 45.0  # a shut-down unit restarts once its coolant is below this ...
    restart_after_s: float = Field(600.0, ge=0)  # ... with the pump running, for this long

    @model_validator(mode="after")
    def _order(self) -> GpuConfig:
        if not self.max_operating_c < self.slowdown_c < self.shutdown_c:
            raise ValueError("need max_operating_c < slowdown_c < shutdown_c")
        return self


class UnitLoadConfig(StrictModel):
    """What every Spark unit's racks do when no workload holds them, and their power features."""

    racks: int = Field(8, ge=1, le=1000)  # the unit's IT peak (site.spark.it_peak_mw) is split evenly
    idle_frac: float = Field(0.2, ge=0, le=1)
    psu_tau_s: float = Field(0.03, ge=0, le=10)  # power-supply filter
    ramp_frac_per_s: float | None = Field(None, gt=0)  # of unit peak per second; None: no limit
    floor_frac: float | None = Field(None, ge=0, le=1)  # power floor of busy racks; None: off


class _JobConfig(StrictModel):
    units: tuple[int, ...] | Literal["all"] = "all"  # the units that run it
    racks: int | None = Field(None, ge=1)  # on each unit; omitted: the racks no other workload holds
    name: str = ""  # training: the same name on several units is one job in lockstep
    start_s: float = Field(0.0, ge=0)  # first start (from idle, with the warm-up)
    autostart: bool = True  # false: the job waits for a job_start event (start_s is ignored)

    def workload_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the matching twin.datacenter.gpu_load workload."""
        d = self.model_dump(exclude={"kind", "units", "autostart"})
        d["start_s"] = self.start_s if self.autostart else None
        return d


class TrainingJobConfig(_JobConfig):
    kind: Literal["training"]
    period_s: float = Field(4.0, ge=0.2, le=60)
    duty_frac: float = Field(0.7, gt=0, lt=1)
    high_frac: float = Field(1.0, ge=0, le=1.2)
    low_frac: float = Field(0.45, ge=0, le=1.2)
    phase_s: float | None = Field(None, ge=0)
    jitter_s: float = Field(0.02, ge=0)
    checkpoint_every_s: float = Field(1800.0, ge=0)  # 0: no checkpoints
    checkpoint_s: float = Field(60.0, gt=0)
    checkpoint_frac: float = Field(0.3, ge=0, le=1)
    warmup_s: float = Field(5.0, ge=0)
    restart_s: float = Field(300.0, ge=0)

    @model_validator(mode="after")
    def _checkpoint(self) -> TrainingJobConfig:
        if self.checkpoint_every_s and self.checkpoint_s >= self.checkpoint_every_s:
            raise ValueError(
                f"checkpoint_s ({self.checkpoint_s:g}) must be shorter than checkpoint_every_s "
                f"({self.checkpoint_every_s:g}); checkpoint_every_s = 0 turns checkpoints off"
            )
        return self

    def workload_kwargs(self) -> dict[str, Any]:
        d = super().workload_kwargs()
        d["checkpoint_every_s"] = self.checkpoint_every_s or None
        return d


class InferenceJobConfig(_JobConfig):
    kind: Literal["inference"]
    replicas: int | None = Field(None, ge=1)
    prefill_s: float = Field(0.4, ge=0)
    decode_s: float = Field(4.0, ge=0)
    prefill_frac: float = Field(0.95, ge=0, le=1.2)
    decode_frac: float = Field(0.6, ge=0, le=1.2)
    busy_min_frac: float = Field(0.15, ge=0, le=1)
    busy_max_frac: float = Field(0.9, ge=0, le=1)
    peak_hour: float = Field(15.0, ge=0, lt=24)
    restart_s: float = Field(60.0, ge=0)

    @model_validator(mode="after")
    def _ranges(self) -> InferenceJobConfig:
        if self.busy_min_frac > self.busy_max_frac:
            raise ValueError(
                f"busy_min_frac ({self.busy_min_frac:g}) must not exceed busy_max_frac ({self.busy_max_frac:g})"
            )
        if self.prefill_s + self.decode_s <= 0:
            raise ValueError("prefill_s + decode_s must be > 0")
        return self


class ConstantJobConfig(_JobConfig):
    kind: Literal["constant"]
    frac: float = Field(0.85, ge=0, le=1.2)  # of rack peak
    restart_s: float = Field(60.0, ge=0)


JobConfig = Annotated[TrainingJobConfig | InferenceJobConfig | ConstantJobConfig, Field(discriminator="kind")]
# the workload kinds, from the union above (one definition)
JOB_KINDS: tuple[str, ...] = tuple(
    get_args(m.model_fields["kind"].annotation)[0] for m in get_args(get_args(JobConfig)[0])
)


class DataCenterModelConfig(StrictModel):
    # None: one independent training job per unit (no name: not in lockstep)
    jobs: tuple[JobConfig, ...] | None = None
    unit: UnitLoadConfig = UnitLoadConfig()
    # GPU power is synthesised at this step and handed out per electrical step as mean, min and
    # max. None: 0.01 s for electrical steps up to 1 s, else 1/100 of the step.
    fine_step_s: float | None = Field(None, gt=0, le=60)
    record_fine_it: bool = False  # write the site IT power at the fine step to it_fine.parquet
    # longer electrical steps are cut into thermal sub-steps of about this (whole fine steps): caps,
    # GPU protection and plants follow the coolant within the step
    thermal_step_s: float = Field(10.0, gt=0, le=3600)
    shed_tiers_frac: tuple[float, ...] = (0.7, 0.4, 0.0)  # IT cap per tier (tier 1..n), of unit peak
    cooling: CoolingConfig = CoolingConfig()
    gpu: GpuConfig = GpuConfig()
