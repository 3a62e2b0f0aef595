"""mosaik simulators around the twin's models, the world, data sinks and sources, and the CLI.

``twin/`` holds the physics and knows nothing of mosaik or files; this package
turns each model into a mosaik simulator and connects it to the outside:

- :mod:`adapters.sims`: one mosaik simulator per model and their base (``ModelSim``, ``EventQueue``);
- :mod:`adapters.world`: the world from a scenario: build, run, finish (``run_scenario``);
- :mod:`adapters.io`: files in and out: the scenario file, the inventory CSV, the results writer, the row
  sink, the plots (later: telemetry readers and sinks);
- :mod:`adapters.cli`: the ``twin`` command, one module per subcommand.
"""

__all__ = ["cli", "io", "sims", "world"]
