"""The twin's one error tree: every error the twin raises on purpose is a :class:`TwinError`.

Three branches, told apart by what the user should do and by the exit status
of the ``twin`` command:

- :class:`InputError` (exit 2): a file, key, row or flag the twin cannot use.
  The message names the file and the key or row, says what was received and
  what is allowed, with a close match where there is one. No traceback.
- :class:`RunError` (exit 1): the run could not go on (a power flow that did
  not converge, a simulator that aborted). The run is recorded as failed and
  everything computed until then is written.
- :class:`HilError` (exit 1): the hardware-in-the-loop side (a register map
  that cannot be used, a port or emulator that cannot start).

A library's own error is raised ``from`` at the boundary where it is turned
into one of these, so the cause stays in ``__cause__`` for a debugger while
the user sees one sentence. The classes keep :class:`ValueError` (input) and
:class:`RuntimeError` (run, HIL) as second bases so that code catching those
keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DeviceFileError",
    "EmulatorConfigError",
    "EmulatorError",
    "HilError",
    "InputError",
    "InventoryError",
    "MapError",
    "PowerFlowDiverged",
    "RunError",
    "ScenarioFileError",
    "SessionError",
    "SimulationAborted",
    "TelemetryError",
    "TwinError",
]


class TwinError(Exception):
    """Root of every error the twin raises on purpose; ``exit_status`` is the CLI's exit code."""

    exit_status: int = 1


# --------------------------------------------------------------------------- input (exit 2)
class InputError(TwinError, ValueError):
    """Input the twin cannot use: the message is for people and names the file, key or row."""

    exit_status = 2


class ScenarioFileError(InputError):
    """A scenario file (or a ``--packs``/``--port`` option checked against it) that cannot be used.

    Not called ``ScenarioError``: mosaik has a class of that name.
    """


class InventoryError(InputError):
    """A pack-inventory CSV that cannot be used (the message names the file and rows)."""


class DeviceFileError(InputError):
    """A HIL device file or HIL option that cannot be used (the message names the file and key)."""


class SessionError(InputError):
    """A recorded HIL session that cannot be replayed (missing, malformed, of another version)."""


class TelemetryError(InputError):
    """A telemetry file or mapping file that cannot be used (the message names the file, row or key and why)."""


class EmulatorConfigError(InputError):
    """Bad BMS-emulator input (config file, fault syntax, flags); the message is one line."""


# --------------------------------------------------------------------------- run (exit 1)
class RunError(TwinError, RuntimeError):
    """The simulation could not go on; the run is recorded as failed."""


class PowerFlowDiverged(RunError):
    """The AC power flow did not converge (or the island has no voltage source).

    ``injections``: the inputs of the solve that failed (what ``network.json`` records).
    """

    def __init__(self, message: str, injections: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.injections: dict[str, Any] = injections if injections is not None else {}


class SimulationAborted(RunError):
    """A simulator stopped the run on purpose (the reason is in the event log)."""


# --------------------------------------------------------------------------- hardware in the loop (exit 1)
class HilError(TwinError, RuntimeError):
    """The hardware-in-the-loop side failed (map, port, emulator)."""


class MapError(HilError):
    """A SunSpec register map that cannot be built or discovered."""


class EmulatorError(HilError):
    """The BMS emulator could not start (the serial port cannot be opened, ...)."""
