"""Telemetry in: field data read from historian exports, Parquet, COMTRADE and InfluxDB CSV (docs/replay.md).

- :mod:`~adapters.io.telemetry.series`: ``TagSeries`` (one tag as read) and ``Finding`` (a data-quality
  finding with its file and rows), shared by the readers, the checks and the report;
- :mod:`~adapters.io.telemetry.readers`: one reader per format, ``read_source``;
- :mod:`~adapters.io.telemetry.quality`: the data-quality checks, ``check_tag``;
- :mod:`~adapters.io.telemetry.columns`: the columns of a site's time series (what a compare tag may name);
- :mod:`~adapters.io.telemetry.mapping_file`: the mapping TOML read and validated;
- :mod:`~adapters.io.telemetry.load`: a mapping's files to the twin's recorded inputs, initial state, events and
  comparison series;
- :mod:`~adapters.io.telemetry.score`: a replay's scores and the document of ``replay.json``.
"""

__all__ = ["columns", "load", "mapping_file", "quality", "readers", "score", "series"]
