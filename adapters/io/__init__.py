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
- :mod:`adapters.io.replay_report`: ``replay.json`` and ``replay.html`` of ``twin replay``;
- :mod:`adapters.io.run_report` (plots: :mod:`adapters.io.run_report_plots`): ``report.html``, one offline page
  about a run (``twin report``, and at the end of ``twin run`` and ``twin hil``);
- :mod:`adapters.io.html_page`: what the two HTML reports share (CSS, tables, figures as base64 PNG).

The folder's layout and every summary key: docs/results.md.
"""

__all__ = [
    "html_page",
    "inventory_csv",
    "plots",
    "replay_report",
    "results",
    "rows",
    "run_report",
    "run_report_plots",
    "scenario_file",
    "telemetry",
]
