"""``[models.pv]``: the PV plant's trackers, PVWatts DC and inverter models and moving clouds.

Taken as is by :class:`twin.generation.pv.PVPlant` (with ``[site]`` for the
plant's size and place): these fields and ranges are the only ones.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from twin.config.base import StrictModel

__all__ = ["CLOUD_MODES", "SKY_MODELS", "CloudMode", "PVModelConfig", "SkyModel"]

CloudMode = Literal["clear", "partly_cloudy", "overcast"]
CLOUD_MODES: tuple[str, ...] = get_args(CloudMode)
SkyModel = Literal["isotropic", "haydavies"]  # pvlib transposition models
SKY_MODELS: tuple[str, ...] = get_args(SkyModel)


class PVModelConfig(StrictModel):
    """Trackers, PVWatts and clouds of every PV block. Defaults: the pilot site (``shared/design/SITE.md``)."""

    # Range [0, 90): tilted single-axis trackers exist beyond 45 deg (steep sites); 90 would be a
    # vertical axis, which pvlib.tracking.singleaxis does not describe.
    axis_tilt_deg: float = Field(0.0, ge=0, lt=90)  # horizontal N-S axis, the usual utility tracker
    axis_azimuth_deg: float = Field(180.0, ge=0, lt=360)
    max_angle_deg: float = Field(60.0, gt=0, le=90)  # typical tracker rotation limit (+-60 deg)
    gcr: float = Field(0.35, gt=0, lt=1)  # ground coverage ratio, typical of single-axis plants
    backtrack: bool = True
    albedo: float = Field(0.25, ge=0, le=1)  # pvlib default albedo (irradiance.get_ground_diffuse)
    gamma_pdc_per_c: float = Field(-0.0035, ge=-0.01, le=0)  # PVWatts v5 "standard" c-Si module
    # Range (0.8, 1]: the PVWatts v5 inverter curve is a fit to grid inverters (nominal efficiency
    # 90-99.5 %); far below that it is extrapolated and no utility inverter is that poor.
    inverter_eff_nom: float = Field(0.985, gt=0.8, le=1)  # pvlib.inverter.pvwatts eta_inv_nom, central inverter
    # Range [0, 0.5): a constant derate (soiling, mismatch, wiring; PVWatts v5 default 14 % incl.
    # availability); a plant losing half its DC power that way is not one this model describes.
    dc_loss_frac: float = Field(0.10, ge=0, lt=0.5)
    cloud_mode: CloudMode = "partly_cloudy"
    cloud_cover_frac: float = Field(0.25, ge=0, le=1)  # long-run fraction of time a block is shaded
    cloud_transmission_frac: float = Field(0.3, ge=0, le=1)  # irradiance fraction under a cloud (thick cumulus)
    cloud_mean_duration_s: float = Field(120.0, gt=0)  # mean shaded duration (semi-Markov)
    # Range >= 0: 0 gives sharp shadow edges (a step), which the cloud model implements exactly.
    cloud_ramp_s: float = Field(20.0, ge=0)  # edge ramp time of a cloud shadow at a block
    cloud_speed_block_lag_s: float = Field(15.0, ge=0)  # a shadow reaches block k+1 this much later than block k
    sky_model: SkyModel = "haydavies"
    wind_speed_m_s: float = Field(1.0, ge=0, le=40)  # for the Faiman cell temperature; pvlib default
    faiman_u0_w_m2k: float = Field(25.0, gt=0)  # pvlib.temperature.faiman defaults (Faiman 2008)
    faiman_u1_w_s_m3k: float = Field(6.84, ge=0)
    overcast_variation_frac: float = Field(0.05, ge=0, le=1)  # std of the overcast transmission (absolute)
    irradiance_grid_s: float = Field(60.0, gt=0)  # pvlib evaluated on this grid, interpolated to steps
    sun_grid_s: float = Field(600.0, gt=0)  # solar position grid (sun vector interpolated; error < 0.01 deg)
    # The PV simulator steps at this period and hands the grid the per-step
    # trajectory of available power over it (no averaging: one value per
    # electrical step). Curtailment is applied by the inverters in the grid
    # model every electrical step, so a long period costs no fidelity.
    step_s: float = Field(60.0, gt=0)
