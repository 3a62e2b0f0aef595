"""mosaik simulators around the twin's models, the world builder, result sinks and the CLI.

``twin/`` holds the physics and knows nothing of mosaik or files; this
package turns each model into a mosaik simulator (one file per model),
assembles the world from a scenario (:mod:`adapters.world`), writes results
(:mod:`adapters.io`) and holds the ``twin`` command line
(:mod:`adapters.cli`).
"""
