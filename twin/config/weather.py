"""``[models.ambient]``: the ambient air model (daily dry-bulb profile, dew point, heat wave).

Taken as is by :class:`twin.weather.ambient.Ambient` (with the site's
altitude): these fields and ranges are the only ones.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from twin.config.base import StrictModel

__all__ = ["AMBIENT_TEMP_RANGE_C", "DEWPOINT_RANGE_C", "AmbientModelConfig"]

# Range of an ambient dry bulb, degC (daily extremes, the heat wave's, a forced temperature): the
# site's climate (Reno's record low is about -32 degC, its record high 42 degC) with a margin, and
# the range over which the battery and cooling models are defined.
AMBIENT_TEMP_RANGE_C: tuple[float, float] = (-40.0, 60.0)
# Range of a dew point, degC: up to the highest dew point on record (35 degC, Dhahran 2003).
DEWPOINT_RANGE_C: tuple[float, float] = (-40.0, 35.0)
_T_LO, _T_HI = AMBIENT_TEMP_RANGE_C
_D_LO, _D_HI = DEWPOINT_RANGE_C


class AmbientModelConfig(StrictModel):
    """Ambient air. Precedence of each day's extremes and dew point: an explicit ``t_max_c`` /
    ``t_min_c`` / ``dewpoint_c`` wins; else, with ``heatwave``, the ``heatwave_*`` values; else the
    Reno monthly values (interpolated between mid-months)."""

    t_max_c: float | None = Field(None, ge=_T_LO, le=_T_HI)  # daily max; None: Reno monthly normal of each day
    t_min_c: float | None = Field(None, ge=_T_LO, le=_T_HI)  # daily min; None: Reno monthly normal of each day
    hour_min: float = Field(5.5, ge=0, lt=24)  # local clock hour of the daily minimum (near sunrise)
    hour_max: float = Field(15.5, ge=0, lt=24)  # local clock hour of the daily maximum (mid-afternoon)
    noise_c: float = Field(0.0, ge=0, le=10)  # stationary std of a seeded slow random variation (0 = none)
    noise_corr_s: float = Field(7200.0, gt=0)  # correlation time of that variation (OU process), assumption
    noise_knot_s: float = Field(300.0, gt=0)  # the variation is linearly interpolated between knots this far apart
    interpolate_normals: bool = True  # False: each day takes its own month's normal (steps at month ends)
    # constant dew point; None: the Reno monthly assumption (twin.weather.ambient) or the heat wave's
    dewpoint_c: float | None = Field(None, ge=_D_LO, le=_D_HI)
    heatwave: bool = False  # heat-wave extremes and dew point replace the normals (explicit values still win)
    heatwave_t_max_c: float = Field(42.0, ge=_T_LO, le=_T_HI)  # Reno record high (about 108 degF)
    heatwave_t_min_c: float = Field(22.0, ge=_T_LO, le=_T_HI)  # warm night, assumption
    heatwave_dewpoint_c: float = Field(8.0, ge=_D_LO, le=_D_HI)  # assumption: wet bulb 19.8 degC at 42 degC, 86.1 kPa
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
