"""Telemetry out: every run streamed to InfluxDB 2 while it goes (docs/telemetry.md).

- :mod:`~adapters.io.influx.schema`: which measurement, tags and field each result column becomes (the one
  definition; the Grafana dashboard's test reads it);
- :mod:`~adapters.io.influx.lineproto`: line protocol from blocks of rows, pack snapshots and events;
- :mod:`~adapters.io.influx.target`: the server, org, bucket and token, and the check before the run;
- :mod:`~adapters.io.influx.spool`: the bounded on-disk spool (``RUN_DIR/influx.spool``);
- :mod:`~adapters.io.influx.outlet`: influxdb-client's batching write API, the spool while the server is away;
- :mod:`~adapters.io.influx.sink`: the run's side and the sink process;
- :mod:`~adapters.io.influx.flush`: ``twin influx-flush RUN_DIR`` (the spool, or the whole run, later).
"""

__all__ = ["flush", "lineproto", "outlet", "schema", "sink", "spool", "target"]
