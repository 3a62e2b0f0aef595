"""Hardware-in-the-loop bridge (to come with the HIL issue).

This package will own the bytes on the wire between the twin and a real
battery management system: serial link backends chosen by name (pyserial
ports and URLs), Modbus RTU framing through pymodbus, SunSpec discovery and
point layout through pysunspec2 (models 1, 802 and the vendor model 64950
defined in ``../shared/design/BMS_HIL_PROTOCOL.md``), a software BMS
emulator, and session recording and replay. The mosaik simulator that puts
a hardware-bound pack into the fleet lives in ``adapters/``. It imports
nothing from mosaik.
"""
