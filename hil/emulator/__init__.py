"""``twin bms-emulator``: a software BMS serving the HIL contract's map over Modbus RTU.

Why: the twin's serial HIL bridge needs a counterpart before a real BMS is on
the bench, and a real BMS cannot be made to misbehave on cue. This one follows
``../shared/design/BMS_HIL_PROTOCOL.md`` (models 1, 802 and 64950 from 40000,
served by pymodbus's serial server) and misbehaves on a fault plan: it goes
silent, garbles or corrupts its answers, freezes its heartbeat, biases its
SoC, reboots, opens its contactor, or senses its cells hotter than they are.

- :mod:`hil.emulator.faults`: the fault grammar (``KIND@AT[:DURATION][=VALUE]``,
  :class:`FaultSpec`) and the plan on the emulator's clock (:class:`FaultPlan`);
- :mod:`hil.emulator.config`: :class:`EmulatorConfig` (a TOML file, flags);
- :mod:`hil.emulator.protection`: the protection rules, pure (alarms, warnings,
  derated limits for one step's :class:`Measurements`);
- :mod:`hil.emulator.registers`: models 1 and 802 as this BMS fills them;
- :mod:`hil.emulator.logic`: :class:`BmsLogic`, the BMS itself without I/O (register
  image, contactor, SoC estimate, watchdog, the plan applied); unit-testable with
  points written by name and an injected wall clock;
- :mod:`hil.emulator.server`: :class:`BmsEmulator`, pymodbus's RTU server in a
  background thread serving one or several :class:`BmsLogic` (units on one line);
- :mod:`hil.emulator.cli`: the command line (:func:`add_arguments`, :func:`main`).
"""

from hil.emulator.cli import add_arguments, main
from hil.emulator.config import VERSION, EmulatorConfig
from hil.emulator.faults import FAULT_KINDS, FaultPlan, FaultSpec
from hil.emulator.logic import BmsLogic
from hil.emulator.protection import Measurements
from hil.emulator.server import BmsEmulator
from twin.errors import EmulatorConfigError, EmulatorError

__all__ = [
    "FAULT_KINDS",
    "VERSION",
    "BmsEmulator",
    "BmsLogic",
    "EmulatorConfig",
    "EmulatorConfigError",
    "EmulatorError",
    "FaultPlan",
    "FaultSpec",
    "Measurements",
    "add_arguments",
    "cli",
    "config",
    "faults",
    "logic",
    "main",
    "protection",
    "registers",
    "server",
]
