"""Physics of the microgrid digital twin (no mosaik, no I/O)."""
