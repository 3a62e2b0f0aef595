"""Replay: the twin driven by recorded field inputs, and its comparison signals scored against the field.

``twin replay`` (issue 12) reads a site's telemetry through a mapping file, drives the twin with the recorded
inputs, and compares the twin's comparison signals with what the field recorded. This package holds the
parts that need no file: plain numpy, scipy and pandas.

- :mod:`twin.replay.signals`: the twin signals a mapping may name, their units and physical bounds;
- :mod:`twin.replay.units`: a file's unit to the signal's unit;
- :mod:`twin.replay.resample`: field samples onto the twin's grid (mean or hold), gaps left as NaN;
- :mod:`twin.replay.inputs`: the recorded inputs, initial state and events handed to the models;
- :mod:`twin.replay.scores`: a field series against the twin's: errors with a time tolerance, RMSE, bias,
  inside share, divergences, IEC 61400-27-2 style pre-fault / fault / post-fault windows (``score_signal``);
- :mod:`twin.replay.explain`: what happened around a divergence (events, the twin's states, plain-English
  observations) so an engineer can tell a model error from a plant fault (``divergence_context``).

The report (``replay.json``, ``replay.html``) is written by :mod:`adapters.io.replay_report`.
"""

from __future__ import annotations

__all__ = ["explain", "inputs", "resample", "scores", "signals", "units"]
