"""Hardware-in-the-loop bridge: the bytes on the wire between the twin and a battery management system.

- :mod:`hil.sunspec_map`: the contract's register map (``../shared/design/BMS_HIL_PROTOCOL.md``:
  SunSpec models 1, 802 and our vendor model 64950, defined in ``hil/models/model_64950.json``), laid
  out and read through pysunspec2 (model 802's codes are :mod:`twin.sunspec802`'s);
- :mod:`hil.line`: the serial line's settings, their allowed values (the device file's ``[line]`` and the
  line flags of ``twin hil`` and ``twin bms-emulator``) and the pseudo-terminal parity fallback;
- :mod:`hil.link`: link backends by name (``serial``: pyserial ports and URLs with pymodbus's RTU
  client; ``replay``: the answers of a recorded session), one attempt per call;
- :mod:`hil.bms_port`: one pack's BMS on the line (discovery, the step's exchange, retries);
- :mod:`hil.session`: recording every frame of a run to a session file and reading one back;
- :mod:`hil.device`: the device file of a BMS product;
- :mod:`hil.supervisor`: the twin's side of each step (pacing and lateness, the exchange, what the
  answers mean: link lost, heartbeat frozen, reboot, current sign; the limits for the fleet; the scores);
- :mod:`hil.emulator`: ``twin bms-emulator``, a software BMS with protection logic and a fault plan
  (sub-package: faults, config, protection, registers, logic, server, cli);
- :mod:`hil.ptypair`: a pseudo-terminal pair joined like a null-modem cable.

The mosaik simulator that hands packs of the fleet to the supervisor is ``adapters/sims/hil.py`` (thin
glue); this package imports nothing from mosaik. See docs/hil.md.
"""

__all__ = ["bms_port", "device", "emulator", "line", "link", "ptypair", "session", "sunspec_map", "supervisor"]
