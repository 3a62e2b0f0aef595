"""The plant's devices served as SunSpec Modbus TCP servers (issue 13): devices.py (who, unit ids, model chains,
register images), server.py (the Modbus TCP server and the simulation side's API)."""

from __future__ import annotations

__all__: list[str] = []
