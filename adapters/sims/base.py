"""Common base of the twin's mosaik simulators.

After each step a simulator hands its ``record`` (signals for the results
time series: scalars, or arrays with one value per electrical step it
covered) to the run's :class:`adapters.io.rows.RowSink`. The sink is a data
sink outside mosaik's data flow: a recorder simulator would add one more
simulator and a connection from every other one to each step, which is most
of mosaik's cost per step (docs/performance.md).

Each simulator wraps one model object of :class:`twin.site.Site` and has
exactly one entity (models are vectorised: a fleet of 805 packs is one
entity with array attributes). Simulators run in-process, so arrays and
dicts pass between them as Python objects, without serialisation.

Time: the world's ``time_resolution`` is the electrical step in seconds
(one mosaik tick = one electrical step). :meth:`ModelSim.ticks` is the one
place where a model's own period in seconds becomes ticks; a period that is
not a whole number of ticks is rejected in ``init()``.

Events: each scenario event kind (``twin.config.Event``) has exactly one
simulator that owns it, declared in the class as ``EVENT_KINDS``: it applies
the event to its model and logs it. A simulator whose model must also act on
a kind another one owns declares it in ``EVENT_KINDS_FOLLOWED`` (it applies
it without logging it). Today: the Grid follows the battery-block trips the
Fleet owns (it takes the block out of the net) and the PV-block trips PV
owns (it takes the block's inverter out of the net); HIL follows the Fleet's
``bms_reset`` (the alarm reset is written to the hardware BMSs of bound
packs). :func:`event_owners` reads the declarations;
``tests/unit/adapters/test_event_routing.py`` proves every kind of the
scenario's ``Event`` union has exactly one owner.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar

import mosaik_api_v3
import numpy as np
from mosaik_api_v3.types import CreateResult, Meta

from twin.errors import SimulationAborted  # a model hit a condition the run cannot go past (logged first)
from twin.site import Site

__all__ = ["EventQueue", "ModelSim", "SimulationAborted", "event_owners", "make_meta"]


def make_meta(model: str, attrs: list[str], *, time_based: bool = True) -> Meta:
    """The mosaik API 3 meta of a simulator with one public model (no create parameters)."""
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
    EVENT_KINDS: ClassVar[frozenset[str]] = frozenset()  # scenario event kinds this simulator owns: applies and logs
    EVENT_KINDS_FOLLOWED: ClassVar[frozenset[str]] = frozenset()  # kinds another owns that this one also applies

    def __init__(self) -> None:
        super().__init__(make_meta(self.MODEL, list(dict.fromkeys(self.ATTRS + self.INPUTS))))
        self.site: Site
        self.eid = self.MODEL.lower()
        self.out: dict[str, Any] = {}
        self.wall_s = 0.0  # time spent in this simulator's step(), for the benchmark split
        self.registry: dict[str, Any] = {}  # simulators by model name (from init)
        self._queues: list[EventQueue] = []
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
        site: Site | None = None,
        period_s: float | None = None,
        registry: dict[str, Any] | None = None,
        sink: Any = None,
        **_: Any,
    ) -> Meta:
        """``site``: the models (required); ``period_s``: this simulator's period (default: one electrical
        step); ``registry``: simulators by model name, filled here; ``sink``: the run's row sink."""
        if site is None:
            raise TypeError(f"{self.MODEL} simulator: init() needs site=<twin.site.Site>")
        self.sid = sid
        self.registry = registry if registry is not None else {}
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

    def event_queue(self, kinds: Iterable[str] | None = None) -> EventQueue:
        """The scenario's events of this simulator's kinds, owned and followed (or of ``kinds``, a part of
        them: a simulator that applies some kinds otherwise than others keeps a queue for each)."""
        mine = self.EVENT_KINDS | self.EVENT_KINDS_FOLLOWED
        want = mine if kinds is None else frozenset(kinds)
        if not want <= mine:
            raise ValueError(f"{self.MODEL} does not declare the event kinds {sorted(want - mine)}")
        q = EventQueue(self.site.scenario.events, want)
        self._queues.append(q)
        return q

    def inject(self, ev: Any) -> None:
        """An event raised during the run (a breaker a controller operated) into this simulator's queues of its
        kind; it is applied where the simulator applies that kind's events."""
        for q in self._queues:
            q.push(ev)

    def create(self, num: int, model: str, **_: Any) -> list[CreateResult]:
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

    def __init__(self, events: Any, kinds: Iterable[str]) -> None:
        wanted = frozenset(kinds)
        self.kinds = wanted
        self._evs = sorted((e for e in events if e.kind in wanted), key=lambda e: e.at_s)
        self._i = 0

    def push(self, ev: Any) -> None:
        """Add an event of this queue's kinds (others are ignored) among those not handed out yet, in time order."""
        if ev.kind not in self.kinds:
            return
        j = self._i
        while j < len(self._evs) and self._evs[j].at_s <= ev.at_s:
            j += 1
        self._evs.insert(j, ev)

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


def event_owners(sims: Iterable[type[ModelSim]]) -> dict[str, list[str]]:
    """Each event kind the simulators declare, with the simulators (``MODEL``) that own it, in the given
    order: one owner per kind when the declarations are right. Followed kinds are not listed."""
    out: dict[str, list[str]] = {}
    for cls in sims:
        for kind in sorted(cls.EVENT_KINDS):
            out.setdefault(kind, []).append(cls.MODEL)
    return out
