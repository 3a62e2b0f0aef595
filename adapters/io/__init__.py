"""Files in and out of a run.

- :mod:`adapters.io.scenario_file`: scenario TOML files read and validated (file, line and key in each message);
- :mod:`adapters.io.inventory_csv`: the fleet's pack inventory from a CSV file;
- :mod:`adapters.io.rows`: ``RowSink`` (simulator records -> one row per electrical step) and
  ``Accumulator`` (energies, extremes and balances from every step);
- :mod:`adapters.io.results`: ``ResultsWriter``, which owns the results folder (time series, pack
  snapshots, fine IT trace, network, summary), and ``PackRecorder``;
- :mod:`adapters.io.plots`: ``plot_overview``, the run's ``overview.png``;
- :mod:`adapters.io.telemetry`: field data in (readers of historian CSV, Parquet, COMTRADE and InfluxDB CSV,
  the mapping file, data-quality checks, recorded inputs, the replay's scoring);
- :mod:`adapters.io.replay_report`: ``replay.json`` and ``replay.html`` of ``twin replay``.

The folder's layout and every summary key: docs/results.md.
"""

__all__ = ["inventory_csv", "plots", "replay_report", "results", "rows", "scenario_file", "telemetry"]
