"""The site's weather: :mod:`twin.weather.ambient` (dry bulb, dew point, wet bulb and humidity from normals)."""

__all__ = ["ambient"]
