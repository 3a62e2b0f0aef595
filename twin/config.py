"""Typed scenario: the validated form of a scenario TOML file.

Every assumption about the site (``../shared/design/SITE.md``) is a field
here with its default; nothing site-specific is a constant in the models.
Reading the file and turning validation errors into messages for people is
done by :mod:`adapters.io.scenario_file`; this module declares the schema and the
checks across tables (:func:`cross_check`).

Units are in the names (``p_mw``, ``temp_c``, ``t_s``); sign conventions are
in ``docs/nomenclature.md``.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    """Base: unknown keys are errors (a misspelled key must never be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- site
class CableConfig(_Strict):
    """MV collector cable (per phase, per km).

    Defaults: a 240 mm2 aluminium XLPE MV cable, pandapower standard type
    ``NA2XS2Y 1x240 RM/25 12/20 kV`` (r 0.122 ohm/km, x 0.112 ohm/km,
    c 304 nF/km, 421 A).
    """

    r_ohm_per_km: float = Field(0.122, gt=0)
    x_ohm_per_km: float = Field(0.112, gt=0)
    c_nf_per_km: float = Field(304.0, ge=0)
    max_i_ka: float = Field(0.421, gt=0)
    parallel: int = Field(1, ge=1, le=4)


class TransformerConfig(_Strict):
    """Pad-mount 0.48/13.8 kV transformer; per-unit data on its own rating.

    Defaults are typical of liquid-filled pad-mounts of 1-3 MVA
    (IEEE C57.12.34 impedance 5.75 %; no-load and load losses from DOE 2016
    efficiency levels, about 99.3 % at half load).
    """

    vk_percent: float = Field(5.75, gt=0, le=20)
    vkr_percent: float = Field(0.9, gt=0, le=5)
    pfe_kw_per_mva: float = Field(1.1, ge=0)
    i0_percent: float = Field(0.2, ge=0, le=5)
    oversize_ratio: float = Field(1.25, ge=1.0, le=3.0)  # trafo MVA / inverter or load MVA


class FeederConfig(_Strict):
    """How blocks hang off the main 13.8 kV bus: daisy-chained on feeders."""

    blocks_per_feeder: int = Field(4, ge=1)
    home_run_km: float = Field(0.3, gt=0)  # main bus to the first block of a feeder
    spacing_km: float = Field(0.12, gt=0)  # between consecutive blocks on a feeder


class BessSiteConfig(_Strict):
    n_blocks: int = Field(12, ge=1, le=200)
    block_inverter_mva: float = Field(1.0, gt=0)
    pack_converter_kw: float = Field(15.0, gt=0)  # Redwood DC/DC box per pack
    vm_set_pu: float = Field(1.0, gt=0.9, lt=1.1)  # grid-forming voltage setpoint at the LV bus


class PVSiteConfig(_Strict):
    p_dc_mw: float = Field(20.0, gt=0)
    dc_ac_ratio: float = Field(1.25, ge=0.8, le=2.0)
    n_blocks: int = Field(8, ge=1, le=200)


class SparkSiteConfig(_Strict):
    n_units: int = Field(4, ge=1, le=200)
    it_peak_mw: float = Field(1.0, gt=0)
    it_pf: float = Field(0.98, gt=0, le=1)
    # cooling loads on each unit's 480 V bus: pumps and fans on VFDs / EC motors, the chiller's compressor
    pump_pf: float = Field(0.95, gt=0, le=1)
    fan_pf: float = Field(0.95, gt=0, le=1)
    chiller_pf: float = Field(0.85, gt=0, le=1)
    # Unit transformer rating; None: IT peak plus 30 % for cooling at the worse power factor.
    transformer_mva: float | None = Field(None, gt=0)


class AuxSiteConfig(_Strict):
    p_mw: float = Field(0.15, ge=0)  # offices, lighting, controls, security, yard HVAC
    pf: float = Field(0.95, gt=0, le=1)


class SiteConfig(_Strict):
    name: str = "pilot"
    latitude_deg: float = Field(39.55, ge=-90, le=90)
    longitude_deg: float = Field(-119.45, ge=-180, le=180)
    altitude_m: float = Field(1350.0, ge=-500, le=6000)
    timezone: str = "America/Los_Angeles"
    frequency_hz: Literal[50, 60] = 60
    mv_kv: float = Field(13.8, gt=1, le=69)
    lv_kv: float = Field(0.48, gt=0.1, le=1.0)
    bess: BessSiteConfig = BessSiteConfig()
    pv: PVSiteConfig = PVSiteConfig()
    spark: SparkSiteConfig = SparkSiteConfig()
    aux: AuxSiteConfig = AuxSiteConfig()
    cable: CableConfig = CableConfig()
    transformer: TransformerConfig = TransformerConfig()
    feeder: FeederConfig = FeederConfig()

    @field_validator("timezone")
    @classmethod
    def _known_tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r} (for example 'America/Los_Angeles')") from None
        return v


# ---------------------------------------------------------------------------- run
class RunConfig(_Strict):
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
class PVModelConfig(_Strict):
    axis_tilt_deg: float = Field(0.0, ge=0, le=45)
    axis_azimuth_deg: float = Field(180.0, ge=0, lt=360)
    max_angle_deg: float = Field(60.0, gt=0, le=90)
    gcr: float = Field(0.35, gt=0, lt=1)
    backtrack: bool = True
    albedo: float = Field(0.25, ge=0, le=1)
    gamma_pdc_per_c: float = Field(-0.0035, ge=-0.01, le=0)
    inverter_eff_nom: float = Field(0.985, gt=0.8, le=1)
    dc_loss_frac: float = Field(0.10, ge=0, lt=0.5)
    cloud_mode: Literal["clear", "partly_cloudy", "overcast"] = "partly_cloudy"
    cloud_cover_frac: float = Field(0.25, ge=0, le=1)
    cloud_transmission_frac: float = Field(0.3, ge=0, le=1)
    cloud_mean_duration_s: float = Field(120.0, gt=0)
    cloud_ramp_s: float = Field(20.0, gt=0)
    cloud_speed_block_lag_s: float = Field(15.0, ge=0)
    sky_model: Literal["isotropic", "haydavies"] = "haydavies"
    wind_speed_m_s: float = Field(1.0, ge=0, le=40)
    faiman_u0_w_m2k: float = Field(25.0, gt=0)  # pvlib.temperature.faiman defaults
    faiman_u1_w_s_m3k: float = Field(6.84, ge=0)
    overcast_variation_frac: float = Field(0.05, ge=0, le=1)
    irradiance_grid_s: float = Field(60.0, gt=0)  # pvlib evaluated on this grid, interpolated to steps
    sun_grid_s: float = Field(600.0, gt=0)  # solar position grid
    # The PV simulator steps at this period and hands the grid the per-step
    # trajectory of available power over it (no averaging: one value per
    # electrical step). Curtailment is applied by the inverters in the grid
    # model every electrical step, so a long period costs no fidelity.
    step_s: float = Field(60.0, gt=0)


# The cell chemistries the fleet models: the one definition (twin.fleet.chemistry holds a parameter set for each).
Chemistry = Literal["NMC", "LFP", "LMO"]
CHEMISTRY_NAMES: tuple[str, ...] = get_args(Chemistry)


class FleetVehicleModel(_Strict):
    """One kind of retired EV pack in the fleet mix."""

    name: str
    chemistry: Chemistry
    e_nom_kwh: float = Field(gt=0, le=500)
    n_series: int = Field(96, ge=4, le=400)  # cells in series (pack voltage = n_series x cell voltage)
    share: float = Field(gt=0)  # relative share of packs (normalised over the mix)
    # State of health and resistance growth at the start of second life; None: the fleet's range.
    soh_min_frac: float | None = Field(None, gt=0, le=1)
    soh_max_frac: float | None = Field(None, gt=0, le=1)
    r_growth_min: float | None = Field(None, ge=1, le=5)
    r_growth_max: float | None = Field(None, ge=1, le=5)

    @model_validator(mode="after")
    def _ranges(self) -> FleetVehicleModel:
        for lo, hi in (("soh_min_frac", "soh_max_frac"), ("r_growth_min", "r_growth_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{self.name}: {lo} ({a}) must not exceed {hi} ({b})")
        return self


def _default_mix() -> tuple[FleetVehicleModel, ...]:
    # Nominal energies from manufacturers' published gross capacities and
    # series counts of the packs (cells in series, from teardowns and spec
    # sheets): GM Ultium (Hummer EV / Silverado EV) 200 kWh, 2 x 96s switched
    # to 192s at 800 V; Chevrolet Bolt 66 kWh, 96s; Ford Mustang Mach-E
    # extended range 99 kWh, 96s; Tesla Model 3 RWD LFP 60 kWh, 106s; Nissan
    # Leaf 2011-2015 24 kWh, 96s of 2p AESC LMO cells (the first-generation
    # packs that make up most retired Leafs; the LMO parameters and ageing
    # model are of these cells). Shares chosen so that the default fleet lands
    # near the published 63 MWh (SITE.md); an ASSUMPTION.
    return (
        FleetVehicleModel(name="gm_ultium_200", chemistry="NMC", e_nom_kwh=200.0, n_series=192, share=0.29),
        FleetVehicleModel(name="chevy_bolt_66", chemistry="NMC", e_nom_kwh=66.0, n_series=96, share=0.27),
        FleetVehicleModel(name="ford_mach_e_99", chemistry="NMC", e_nom_kwh=99.0, n_series=96, share=0.20),
        FleetVehicleModel(name="tesla_m3_lfp_60", chemistry="LFP", e_nom_kwh=60.0, n_series=106, share=0.14),
        FleetVehicleModel(name="nissan_leaf_24", chemistry="LMO", e_nom_kwh=24.0, n_series=96, share=0.10),
    )


class BmsConfig(_Strict):
    """Simulated BMS of every pack (twin.fleet.bms): thresholds beyond each chemistry's own limits."""

    v_warn_margin_v: float = Field(0.03, ge=0, le=0.5)  # warning this far inside the cell cut-off
    v_alarm_tol_v: float = Field(0.005, ge=0, le=0.1)  # alarm when a cell passes its cut-off by more than this
    v_trip_margin_v: float = Field(0.05, gt=0, le=0.5)  # contactor opens (latched) this far past the cut-off
    imbalance_warn_v: float = Field(0.1, gt=0, le=2)  # warning when highest - lowest cell voltage exceeds this
    temp_warn_margin_c: float = Field(5.0, ge=0, le=30)  # warning this far inside a temperature limit
    temp_trip_c: float = Field(65.0, gt=30, le=150)  # contactor opens (latched) at this pack temperature
    temp_derate_band_c: float = Field(10.0, gt=0, le=40)  # current limits fall linearly to 0 over this band
    soc_taper_frac: float = Field(0.05, gt=0, le=0.5)  # current limits taper over the last part of the window
    current_alarm_margin_frac: float = Field(0.05, ge=0, le=1)  # over-current alarm above limit x (1 + margin)
    weak_soh_frac: float = Field(0.6, ge=0, le=1)  # packs below this SoH are flagged ...
    weak_soc_max_frac: float = Field(0.9, gt=0, le=1)  # ... and capped at this SoC


class ThermalConfig(_Strict):
    """Lumped outdoor thermal model per pack (twin.fleet.fleet)."""

    temp_start_c: float | None = Field(None, ge=-40, le=60)  # None: ambient at the start
    ua_w_per_k_per_kwh: float = Field(0.25, gt=0, le=10)  # enclosure conductance to ambient per nameplate kWh
    solar_area_m2_per_kwh: float = Field(0.02, ge=0, le=1)  # sunlit enclosure area per nameplate kWh
    solar_absorptance: float = Field(0.5, ge=0, le=1)
    # Yard layout (packs in block order along rows) and heat exchange between neighbours.
    yard_row_packs: int = Field(35, ge=1)
    yard_pitch_m: float = Field(2.0, gt=0)  # between packs along a row
    yard_row_spacing_m: float = Field(6.0, gt=0)
    neighbour_radius_m: float = Field(2.5, ge=0)  # packs closer than this exchange heat
    neighbour_w_per_k: float = Field(30.0, ge=0)  # conductance between two neighbours (radiation, convection)
    runaway_duration_s: float = Field(600.0, gt=0)  # heat of a pack in runaway is released over this time
    # Enclosure heater, powered by the pack itself, so packs stay chargeable in winter (cells must not
    # charge below their chemistry's minimum, about 0 degC): full power below heater_set_c - band.
    heater_set_c: float = Field(3.0, ge=-30, le=30)
    heater_band_c: float = Field(2.0, gt=0, le=20)
    heater_w_per_kwh: float = Field(5.0, ge=0, le=200)  # heater power per nameplate kWh; 0: no heaters
    heater_soc_min_frac: float = Field(0.01, ge=0, le=1)  # heater and cooler may use the reserve below the window
    # Enclosure cooler (a small heat pump), also powered by the pack: full heat removal above
    # cooler_set_c + band, none below cooler_set_c; electric power = heat removed / COP.
    cooler_set_c: float = Field(30.0, ge=0, le=60)
    cooler_band_c: float = Field(3.0, gt=0, le=20)
    cooler_w_per_kwh: float = Field(10.0, ge=0, le=200)  # heat removal per nameplate kWh; 0: no coolers
    cooler_cop: float = Field(3.0, gt=0.5, le=10)


class AgeingConfig(_Strict):
    enabled: bool = True
    update_every_s: float = Field(86400.0, gt=0)  # stress aggregates -> capacity and resistance
    # How a used pack continues from its second-life SoH (twin/ageing.py): "scaled_history" scales each
    # pack's ageing rates so the lab-cell model reaches its SoH after an assumed EV first life;
    # "virtual_age" keeps the lab cell's rates (a used pack then counts as very old and fades slowly).
    second_life: Literal["scaled_history", "virtual_age"] = "scaled_history"


class FleetModelConfig(_Strict):
    n_packs: int = Field(805, ge=1, le=100_000)
    mix: tuple[FleetVehicleModel, ...] = Field(default_factory=_default_mix, min_length=1)
    inventory_csv: str | None = None  # a pack list instead of the mix (path relative to the scenario file)
    soh_min_frac: float = Field(0.5, gt=0, le=1)
    soh_max_frac: float = Field(0.9, gt=0, le=1)
    r_growth_min: float = Field(1.2, ge=1, le=5)  # resistance relative to new at the start of second life
    r_growth_max: float = Field(2.0, ge=1, le=5)
    new_pack_frac: float = Field(0.05, ge=0, le=1)  # "used and some new" (TechCrunch)
    cell_capacity_spread_frac: float = Field(0.03, ge=0, lt=0.5)  # weakest cell below the pack's mean, up to
    cell_resistance_spread_frac: float = Field(0.15, ge=0, le=2)  # weakest cell's resistance above the mean, up to
    soc_start_frac: float = Field(0.5, ge=0, le=1)
    soc_min_frac: float = Field(0.05, ge=0, lt=1)  # usable window of every pack
    soc_max_frac: float = Field(0.95, gt=0, le=1)
    # Pack DC/DC converter losses, as fractions of its rating: no-load, linear, quadratic
    # (p_loss = c0 p_r + c1 |p| + c2 p^2 / p_r); 97.4 % at full power, 96.6 % at 20 %.
    converter_loss_c0_frac: float = Field(0.004, ge=0, le=0.1)
    converter_loss_c1_frac: float = Field(0.012, ge=0, le=0.1)
    converter_loss_c2_frac: float = Field(0.010, ge=0, le=0.1)
    dispatch: Literal["proportional", "soh_aware"] = "proportional"
    soh_aware_exponent: float = Field(2.0, ge=0, le=10)  # soh_aware: weight x (soh / soh_max)^k / r_factor
    record_packs_every_s: float = Field(900.0, ge=0)  # per-pack state in packs.parquet; 0: off
    bms: BmsConfig = BmsConfig()
    thermal: ThermalConfig = ThermalConfig()
    ageing: AgeingConfig = AgeingConfig()

    @model_validator(mode="after")
    def _windows(self) -> FleetModelConfig:
        if self.soh_min_frac > self.soh_max_frac:
            raise ValueError(f"soh_min_frac ({self.soh_min_frac}) must not exceed soh_max_frac ({self.soh_max_frac})")
        if self.r_growth_min > self.r_growth_max:
            raise ValueError(f"r_growth_min ({self.r_growth_min}) must not exceed r_growth_max ({self.r_growth_max})")
        if self.soc_min_frac >= self.soc_max_frac:
            raise ValueError(f"soc_min_frac ({self.soc_min_frac}) must be below soc_max_frac ({self.soc_max_frac})")
        if not self.soc_min_frac <= self.soc_start_frac <= self.soc_max_frac:
            raise ValueError(
                f"soc_start_frac ({self.soc_start_frac}) must lie in the usable window "
                f"[{self.soc_min_frac}, {self.soc_max_frac}]"
            )
        names = [m.name for m in self.mix]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"vehicle names in the mix must be unique; repeated: {', '.join(dup)}")
        return self


class CoolingConfig(_Strict):
    """Liquid cooling of one Spark unit (every unit has the same plant); see twin/cooling.py.

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


class GpuConfig(_Strict):
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


class UnitLoadConfig(_Strict):
    """What every Spark unit's racks do when no workload holds them, and their power features."""

    racks: int = Field(8, ge=1, le=1000)  # the unit's IT peak (site.spark.it_peak_mw) is split evenly
    idle_frac: float = Field(0.2, ge=0, le=1)
    psu_tau_s: float = Field(0.03, ge=0, le=10)  # power-supply filter
    ramp_frac_per_s: float | None = Field(None, gt=0)  # of unit peak per second; None: no limit
    floor_frac: float | None = Field(None, ge=0, le=1)  # power floor of busy racks; None: off


class _JobConfig(_Strict):
    units: tuple[int, ...] | Literal["all"] = "all"  # the units that run it
    racks: int | None = Field(None, ge=1)  # on each unit; omitted: the racks no other workload holds
    name: str = ""  # training: the same name on several units is one job in lockstep
    start_s: float = Field(0.0, ge=0)  # first start (from idle, with the warm-up)
    autostart: bool = True  # false: the job waits for a job_start event (start_s is ignored)

    def workload_kwargs(self) -> dict:
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

    def workload_kwargs(self) -> dict:
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
JOB_KINDS: tuple[str, ...] = ("training", "inference", "constant")


class DataCenterModelConfig(_Strict):
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


class AmbientModelConfig(_Strict):
    t_max_c: float | None = Field(None, ge=-40, le=60)
    t_min_c: float | None = Field(None, ge=-40, le=60)
    hour_min: float = Field(5.5, ge=0, lt=24)  # local hour of the daily minimum
    hour_max: float = Field(15.5, ge=0, lt=24)  # local hour of the daily maximum
    noise_c: float = Field(0.0, ge=0, le=10)
    noise_corr_s: float = Field(7200.0, gt=0)
    noise_knot_s: float = Field(300.0, gt=0)
    interpolate_normals: bool = True
    dewpoint_c: float | None = Field(
        None, ge=-40, le=35
    )  # constant dew point; None: Reno monthly (twin.weather.ambient)
    heatwave: bool = False  # heat-wave extremes and dew point replace the normals (explicit values still win)
    heatwave_t_max_c: float = Field(42.0, ge=-40, le=60)  # Reno record high
    heatwave_t_min_c: float = Field(22.0, ge=-40, le=60)
    heatwave_dewpoint_c: float = Field(8.0, ge=-40, le=35)  # assumption: wet bulb ~20 degC at 42 degC
    step_s: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _order(self) -> AmbientModelConfig:
        if self.hour_max <= self.hour_min:
            raise ValueError(f"hour_max ({self.hour_max:g}) must be after hour_min ({self.hour_min:g})")
        if self.t_max_c is not None and self.t_min_c is not None and self.t_max_c < self.t_min_c:
            raise ValueError(f"t_max_c ({self.t_max_c:g}) must not be below t_min_c ({self.t_min_c:g})")
        if self.heatwave_t_max_c < self.heatwave_t_min_c:
            raise ValueError(
                f"heatwave_t_max_c ({self.heatwave_t_max_c:g}) must not be below "
                f"heatwave_t_min_c ({self.heatwave_t_min_c:g})"
            )
        if self.heatwave:
            hi = self.heatwave_t_max_c if self.t_max_c is None else self.t_max_c
            lo = self.heatwave_t_min_c if self.t_min_c is None else self.t_min_c
            if hi < lo:
                raise ValueError(f"with heatwave the daily max ({hi:g}) must not be below the daily min ({lo:g})")
        return self


class GridModelConfig(_Strict):
    solver: Literal["lightsim2grid", "pandapower"] = "lightsim2grid"
    tolerance_pu: float = Field(1e-9, gt=0, le=1e-3)
    max_iteration: int = Field(30, ge=3, le=200)
    on_nonconvergence: Literal["stop", "flat_start_then_stop"] = "flat_start_then_stop"
    v_band_pu: tuple[float, float] = (0.95, 1.05)  # steps outside are counted in the summary (ANSI C84.1 range A)


class ModelsConfig(_Strict):
    pv: PVModelConfig = PVModelConfig()
    fleet: FleetModelConfig = FleetModelConfig()
    datacenter: DataCenterModelConfig = DataCenterModelConfig()
    ambient: AmbientModelConfig = AmbientModelConfig()
    grid: GridModelConfig = GridModelConfig()


# --------------------------------------------------------------------- controller
class ControllerConfig(_Strict):
    # ``class`` is a Python keyword; the TOML key is ``class``.
    class_path: str = Field("twin.controller:ReferenceController", alias="class")
    step_s: float | None = Field(None, gt=0)  # None: electrical step
    params: dict[str, float | int | bool | str | list[float]] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("class_path")
    @classmethod
    def _path_form(cls, v: str) -> str:
        mod, sep, name = v.partition(":")
        if not sep or not mod or not name or not all(p.isidentifier() for p in mod.split(".") + [name]):
            raise ValueError(f"expected 'package.module:ClassName', got {v!r}")
        return v


# ------------------------------------------------------------------------- events
class _Event(_Strict):
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
    temp_c: float | None = Field(None, ge=-40, le=60)  # omitted: the override ends


Event = Annotated[
    TripBessBlock | RestoreBessBlock | TripPacks | RestorePacks | WeakCell | ThermalRunaway | BmsReset | HilSetOp | TripPvBlock | RestorePvBlock | CoolingPumpTrip | CoolingPumpRestore | DryCoolerFanFail | DryCoolerFanRestore | ChillerTrip | ChillerRestore | JobStart | JobStop | JobCrash | PowerFloor | AmbientOverride,
    Field(discriminator="kind"),
]

EVENT_KINDS: tuple[str, ...] = (
    "trip_bess_block",
    "restore_bess_block",
    "trip_packs",
    "restore_packs",
    "weak_cell",
    "thermal_runaway",
    "bms_reset",
    "hil_setop",
    "trip_pv_block",
    "restore_pv_block",
    "cooling_pump_trip",
    "cooling_pump_restore",
    "dry_cooler_fan_fail",
    "dry_cooler_fan_restore",
    "chiller_trip",
    "chiller_restore",
    "job_start",
    "job_stop",
    "job_crash",
    "power_floor",
    "ambient",
)


# ----------------------------------------------------------------------- hardware in the loop
class HilConfig(_Strict):
    """Packs handed to BMSs on a serial line by ``twin hil`` (command-line options override)."""

    packs: tuple[int, ...] = ()  # pack ids; `twin hil --packs` overrides
    device: str = ""  # device file (TOML) of the BMS product, relative to the scenario file
    realtime: bool = True  # False: lockstep
    overrun_frac: float = Field(0.1, gt=0, le=10)  # a step starting later than this share of a step overran
    max_overruns: int | None = Field(None, ge=0)  # stop the run past this many overruns (None: never)


# ----------------------------------------------------------------------- scenario
class Scenario(_Strict):
    name: str = ""
    description: str = ""
    site: SiteConfig = SiteConfig()
    run: RunConfig = RunConfig()
    models: ModelsConfig = ModelsConfig()
    controller: ControllerConfig = ControllerConfig()
    hil: HilConfig = HilConfig()
    events: tuple[Event, ...] = ()

    @property
    def n_steps(self) -> int:
        return int(round(self.run.duration_s / self.run.step_s))


def cross_check(sc: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks across tables: ``(key path, message)`` for each problem found."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    nb, npv, nsp = sc.site.bess.n_blocks, sc.site.pv.n_blocks, sc.site.spark.n_units
    npk = sc.models.fleet.n_packs
    step = sc.run.step_s
    if npk < nb:
        out.append((("models", "fleet", "n_packs"), f"{npk} packs cannot fill site.bess.n_blocks = {nb} blocks"))
    periods = [
        (("models", "ambient", "step_s"), sc.models.ambient.step_s),
        (("models", "pv", "step_s"), sc.models.pv.step_s),
        (("controller", "step_s"), sc.controller.step_s),
        (("run", "record_every_s"), sc.run.record_every_s),
    ]
    for loc, v in periods:
        if v is not None and (v < step - 1e-9 or abs(v / step - round(v / step)) > 1e-9):
            out.append((loc, f"{v:g} is not a whole multiple of run.step_s ({step:g} s)"))
    for i, ev in enumerate(sc.events):
        if ev.at_s > sc.run.duration_s:
            out.append((("events", i, "at_s"), f"{ev.at_s:g} is after the end of the run ({sc.run.duration_s:g} s)"))
        idx = getattr(ev, "block", None)
        if idx is not None:
            n = npv if "pv" in ev.kind else nb
            if idx >= n:
                out.append((("events", i, "block"), f"{ev.kind}: block {idx} does not exist (blocks are 0..{n - 1})"))
        unit = getattr(ev, "unit", None)
        if unit is not None and unit >= nsp:
            out.append((("events", i, "unit"), f"{ev.kind}: unit {unit} does not exist (units are 0..{nsp - 1})"))
        packs = getattr(ev, "packs", None) or ((ev.pack,) if hasattr(ev, "pack") else ())
        if packs and max(packs) >= npk and not sc.models.fleet.inventory_csv:
            key = "packs" if hasattr(ev, "packs") else "pack"
            out.append((("events", i, key), f"{ev.kind}: pack {max(packs)} does not exist (packs are 0..{npk - 1})"))
        veh = getattr(ev, "vehicle", None)
        names = [m.name for m in sc.models.fleet.mix]
        if veh is not None and not sc.models.fleet.inventory_csv and veh not in names:
            close = difflib.get_close_matches(veh, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            out.append(
                (
                    ("events", i, "vehicle"),
                    f"{ev.kind}: vehicle {veh!r} is not in models.fleet.mix{hint} Allowed: {', '.join(names)}",
                )
            )
        row = getattr(ev, "yard_row", None)
        n_rows = -(-npk // sc.models.fleet.thermal.yard_row_packs)
        if row is not None and not sc.models.fleet.inventory_csv and row >= n_rows:
            out.append(
                (("events", i, "yard_row"), f"{ev.kind}: yard row {row} does not exist (rows are 0..{n_rows - 1})")
            )
    fs = sc.models.datacenter.fine_step_s
    if fs is not None and (fs > step + 1e-12 or abs(step / fs - round(step / fs)) > 1e-6):
        out.append(
            (
                ("models", "datacenter", "fine_step_s"),
                f"{fs:g} must divide run.step_s ({step:g} s) into a whole number of fine steps",
            )
        )
    dcm = sc.models.datacenter
    jobs = dcm.jobs if dcm.jobs is not None else ()
    on_unit: list[list[int]] = [[] for _ in range(nsp)]  # job indices per unit
    for i, j in enumerate(jobs):
        if j.units != "all" and j.units and max(j.units) >= nsp:
            out.append(
                (
                    ("models", "datacenter", "jobs", i, "units"),
                    f"unit {max(j.units)} does not exist (units are 0..{nsp - 1})",
                )
            )
        for u in range(nsp):
            if j.units == "all" or u in j.units:
                on_unit[u].append(i)
    for u, idx in enumerate(on_unit):
        fixed = sum(jobs[i].racks or 0 for i in idx)
        n_free = sum(jobs[i].racks is None for i in idx)
        if fixed + n_free > dcm.unit.racks:
            out.append(
                (
                    ("models", "datacenter", "jobs", idx[-1], "racks"),
                    f"unit {u}: its jobs need {fixed} racks{f' plus one each for {n_free} without racks' if n_free else ''}"
                    f", but a unit has {dcm.unit.racks} (models.datacenter.unit.racks)",
                )
            )
            break
    for i, ev in enumerate(sc.events):
        if ev.kind not in ("job_start", "job_stop", "job_crash"):
            continue
        units = range(nsp) if ev.unit is None else ([ev.unit] if ev.unit < nsp else [])
        if dcm.jobs is None:  # the default: one unnamed training job per unit (index 0)
            names: list[str] = []
            counts = [1] * nsp
        else:
            names = sorted({jobs[k].name for u in units for k in on_unit[u] if jobs[k].name})
            counts = [len(on_unit[u]) for u in range(nsp)]
        if isinstance(ev.job, str):
            if ev.job not in names:
                close = difflib.get_close_matches(ev.job, names, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                out.append(
                    (
                        ("events", i, "job"),
                        f"{ev.kind}: no job named {ev.job!r} runs on "
                        f"{'any unit' if ev.unit is None else f'unit {ev.unit}'}{hint} Named jobs: "
                        f"{', '.join(names) or 'none (give the index of the job in the unit list)'}",
                    )
                )
        elif units and ev.job >= min(counts[u] for u in units):
            out.append(
                (
                    ("events", i, "job"),
                    f"{ev.kind}: job index {ev.job} does not exist on "
                    f"{'every unit' if ev.unit is None else f'unit {ev.unit}'} (indices 0..{min(counts[u] for u in units) - 1})",
                )
            )
    rp = sc.models.fleet.record_packs_every_s
    if rp and (rp < step - 1e-9 or abs(rp / step - round(rp / step)) > 1e-9):
        out.append(
            (("models", "fleet", "record_packs_every_s"), f"{rp:g} is not a whole multiple of run.step_s ({step:g} s)")
        )
    if sc.hil.packs and max(sc.hil.packs) >= npk and not sc.models.fleet.inventory_csv:
        out.append((("hil", "packs"), f"pack {max(sc.hil.packs)} does not exist (packs are 0..{npk - 1})"))
    return out
