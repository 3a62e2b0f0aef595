"""``[site]``: the plant (battery blocks, PV blocks, Spark units, auxiliaries) and its MV collector."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from twin.config.base import StrictModel

__all__ = [
    "AuxSiteConfig",
    "BessSiteConfig",
    "CableConfig",
    "FeederConfig",
    "PVSiteConfig",
    "SiteConfig",
    "SparkSiteConfig",
    "TransformerConfig",
]


# --------------------------------------------------------------------------- site
class CableConfig(StrictModel):
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


class TransformerConfig(StrictModel):
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


class FeederConfig(StrictModel):
    """How blocks hang off the main 13.8 kV bus: daisy-chained on feeders."""

    blocks_per_feeder: int = Field(4, ge=1)
    home_run_km: float = Field(0.3, gt=0)  # main bus to the first block of a feeder
    spacing_km: float = Field(0.12, gt=0)  # between consecutive blocks on a feeder


class BessSiteConfig(StrictModel):
    n_blocks: int = Field(12, ge=1, le=200)
    block_inverter_mva: float = Field(1.0, gt=0)
    pack_converter_kw: float = Field(15.0, gt=0)  # Redwood DC/DC box per pack
    vm_set_pu: float = Field(1.0, gt=0.9, lt=1.1)  # grid-forming voltage setpoint at the LV bus


class PVSiteConfig(StrictModel):
    p_dc_mw: float = Field(20.0, gt=0)
    dc_ac_ratio: float = Field(1.25, ge=0.8, le=2.0)
    n_blocks: int = Field(8, ge=1, le=200)


class SparkSiteConfig(StrictModel):
    n_units: int = Field(4, ge=1, le=200)
    it_peak_mw: float = Field(1.0, gt=0)
    it_pf: float = Field(0.98, gt=0, le=1)
    # cooling loads on each unit's 480 V bus: pumps and fans on VFDs / EC motors, the chiller's compressor
    pump_pf: float = Field(0.95, gt=0, le=1)
    fan_pf: float = Field(0.95, gt=0, le=1)
    chiller_pf: float = Field(0.85, gt=0, le=1)
    # Unit transformer rating; None: IT peak plus 30 % for cooling at the worse power factor.
    transformer_mva: float | None = Field(None, gt=0)


class AuxSiteConfig(StrictModel):
    p_mw: float = Field(0.15, ge=0)  # offices, lighting, controls, security, yard HVAC
    pf: float = Field(0.95, gt=0, le=1)


class SiteConfig(StrictModel):
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
