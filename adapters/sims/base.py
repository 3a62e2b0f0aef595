"""Common base of the twin's mosaik simulators.

After each step a simulator hands its ``record`` (signals for the results
time series: scalars, or arrays with one value per electrical step it
covered) to the run's :class:`adapters.results.RowSink`. The sink is a data
sink outside mosaik's data flow: a recorder simulator would add one more
simulator and a connection from every other one to each step, which is most
of mosaik's cost per step (docs/performance.md).

Each simulator wraps one model object of :class:`twin.build.Site` and has
exactly one entity (models are vectorised: a fleet of 805 packs is one
entity with array attributes). Simulators run in-process, so arrays and
dicts pass between them as Python objects, without serialisation.

Time: the world's ``time_resolution`` is the electrical step in seconds
(one mosaik tick = one electrical step). :meth:`ModelSim.ticks` is the one
place where a model's own period in seconds becomes ticks; a period that is
not a whole number of ticks is rejected in ``init()``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import mosaik_api_v3
import numpy as np

from twin.errors import SimulationAborted  # a model hit a condition the run cannot go past (logged first)
from twin.site import Site


def make_meta(model: str, attrs: list[str], *, time_based: bool = True) -> dict[str, Any]:
    return {
        "api_version": "3.0",
        "type": "time-based" if time_based else "event-based",
        "models": {model: {"public": True, "params": [], "attrs": attrs}},
    }


class ModelSim(mosaik_api_v3.Simulator):
    """A simulator with one entity around one model of the site."""

    MODEL: ClassVar[str] = "Model"
    ATTRS: ClassVar[list[str]] = []  # outputs
    INPUTS: ClassVar[list[str]] = []
    PER_STEP_RECORD: ClassVar[bool] = False  # record holds arrays with one value per electrical step

    def __init__(self) -> None:
        super().__init__(make_meta(self.MODEL, list(dict.fromkeys(self.ATTRS + self.INPUTS))))
        self.site: Site
        self.eid = self.MODEL.lower()
        self.out: dict[str, Any] = {}
        self.wall_s = 0.0  # time spent in this simulator's step(), for the benchmark split
        self.n_steps = 0

    # -- time ----------------------------------------------------------------------
    def ticks(self, period_s: float) -> int:
        """Seconds -> mosaik ticks (the only conversion in the adapters)."""
        n = period_s / self.time_resolution
        if n < 1 - 1e-9 or abs(n - round(n)) > 1e-9:
            raise ValueError(
                f"{self.MODEL}: period {period_s:g} s is not a whole multiple of the electrical step "
                f"{self.time_resolution:g} s"
            )
        return int(round(n))

    def t_s(self, tick: int) -> float:
        return tick * self.time_resolution

    # -- mosaik API ----------------------------------------------------------------
    def init(
        self,
        sid: str,
        time_resolution: float = 1.0,
        *,
        site: Site,
        period_s: float | None = None,
        registry: dict[str, Any] | None = None,
        sink: Any = None,
        **_: Any,
    ) -> dict[str, Any]:
        self.sid = sid
        if registry is not None:
            registry[self.MODEL] = self
        self.sink = sink
        self.record: dict[str, Any] = {}
        self.time_resolution = float(time_resolution)
        self.site = site
        self.period_s = float(period_s) if period_s is not None else self.time_resolution
        self.dt_ticks = self.ticks(self.period_s)
        self.dt_s = self.dt_ticks * self.time_resolution
        self.n_sub = self.dt_ticks  # electrical steps covered by one step of this simulator
        if sink is not None:
            sink.register(self.MODEL)
        self.setup()
        return self.meta

    def setup(self) -> None:
        """Hook: prepare the model (called once from init)."""

    def create(self, num: int, model: str, **_: Any) -> list[dict[str, Any]]:
        if num != 1 or model != self.MODEL:
            raise ValueError(f"{self.MODEL} simulator holds exactly one {self.MODEL} entity")
        return [{"eid": self.eid, "type": model}]

    def step(self, time_: int, inputs: dict[str, Any], max_advance: int) -> int:
        t0 = time.perf_counter()
        vals = {attr: next(iter(src.values())) for attr, src in inputs.get(self.eid, {}).items()} if inputs else {}
        t_s = self.t_s(time_)
        try:
            self.advance(t_s, vals)
        except TypeError as exc:
            # mosaik reads a TypeError out of step() as "inputs not JSON-serialisable" and
            # hides the real one: pass it on as what it is
            raise RuntimeError(f"{self.MODEL} at t = {t_s:g} s: TypeError: {exc}") from exc
        t1 = time.perf_counter()
        self.wall_s += t1 - t0
        if self.sink is not None:
            rec = self.record
            if self.n_sub == 1 and self.PER_STEP_RECORD:  # one electrical step: arrays of length 1 -> scalars
                rec = {k: (v.item(0) if isinstance(v, np.ndarray) else v) for k, v in rec.items()}
            self.sink.put(self.MODEL, time_, rec, self.n_sub)
            self.sink.wall_s += time.perf_counter() - t1
        self.n_steps += 1
        return time_ + self.dt_ticks

    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        return {eid: {a: self.out[a] for a in attrs} for eid, attrs in outputs.items()}


class EventQueue:
    """The scenario's events of some kinds, handed out in time order."""

    def __init__(self, events: Any, kinds: set[str]):
        self._evs = sorted((e for e in events if e.kind in kinds), key=lambda e: e.at_s)
        self._i = 0

    def due(self, t_s: float) -> list[Any]:
        """Events with ``at_s <= t_s`` not handed out yet."""
        out = []
        while self._i < len(self._evs) and self._evs[self._i].at_s <= t_s + 1e-9:
            out.append(self._evs[self._i])
            self._i += 1
        return out

    def due_before(self, t_end_s: float) -> list[Any]:
        """Events with ``at_s < t_end_s`` not handed out yet (for models that act within a step)."""
        out = []
        while self._i < len(self._evs) and self._evs[self._i].at_s < t_end_s - 1e-9:
            out.append(self._evs[self._i])
            self._i += 1
        return out
