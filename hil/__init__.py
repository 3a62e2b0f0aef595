"""Hardware-in-the-loop bridge: the bytes on the wire between the twin and a battery management system.

- :mod:`hil.sunspec_map`: the contract's register map (``../shared/design/BMS_HIL_PROTOCOL.md``:
  SunSpec models 1, 802 and our vendor model 64950, defined in ``hil/models/model_64950.json``), laid
  out and read through pysunspec2;
- :mod:`hil.line`: line settings (the pseudo-terminal parity fallback);
- :mod:`hil.link`: link backends by name (``serial``: pyserial ports and URLs with pymodbus's RTU
  client; ``replay``: a recorded session), one attempt per call;
- :mod:`hil.bms_port`: one pack's BMS on the line (discovery, the step's exchange, retries);
- :mod:`hil.session`: recording every frame and replaying a session without the hardware;
- :mod:`hil.device`: the device file of a BMS product;
- :mod:`hil.emulator`: ``twin bms-emulator``, a software BMS with protection logic and a fault plan;
- :mod:`hil.ptypair`: a pseudo-terminal pair joined like a null-modem cable.

The mosaik simulator that hands packs of the fleet to the line is ``adapters/hil_sim.py``; this
package imports nothing from mosaik. See docs/hil.md.
"""
