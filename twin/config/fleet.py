"""``[models.fleet]``: the second-life battery fleet (mix of vehicle packs, BMS, thermal, ageing)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from twin.config.base import StrictModel

__all__ = [
    "CHEMISTRY_NAMES",
    "AgeingConfig",
    "BmsConfig",
    "Chemistry",
    "FleetModelConfig",
    "FleetVehicleModel",
    "ThermalConfig",
]

# The cell chemistries the fleet models: the one definition (twin.fleet.chemistry holds a parameter set for each).
Chemistry = Literal["NMC", "LFP", "LMO"]
CHEMISTRY_NAMES: tuple[str, ...] = get_args(Chemistry)


class FleetVehicleModel(StrictModel):
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


class BmsConfig(StrictModel):
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


class ThermalConfig(StrictModel):
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


class AgeingConfig(StrictModel):
    enabled: bool = True
    update_every_s: float = Field(86400.0, gt=0)  # stress aggregates -> capacity and resistance
    # How a used pack continues from its second-life SoH (twin/fleet/ageing.py): "scaled_history" scales each
    # pack's ageing rates so the lab-cell model reaches its SoH after an assumed EV first life;
    # "virtual_age" keeps the lab cell's rates (a used pack then counts as very old and fades slowly).
    second_life: Literal["scaled_history", "virtual_age"] = "scaled_history"


class FleetModelConfig(StrictModel):
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
