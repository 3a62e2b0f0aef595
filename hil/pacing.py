"""Wall-clock pacing of a real-time run, shared by `twin hil` (:mod:`hil.supervisor`) and the controller link
(:mod:`hil.plant.link`): each step waits for its slot (``t0`` + simulated time), its lateness is recorded
(late steps are never made up for: they catch up), a step later than ``overrun_frac`` of a step is an
overrun (logged at the first and every 100th), and more than ``max_overruns`` stop the run. The clock and
the sleep are injectable, so pacing is testable on a fake clock.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from twin.errors import SimulationAborted

__all__ = ["Pacer", "ms_stats"]

LogFn = Callable[[float, str, str], None]


def ms_stats(x: Sequence[float]) -> dict[str, Any]:
    """p50/p99/max in ms of durations in seconds, and how many (zeros for none)."""
    a = np.asarray(x, dtype=float) * 1e3
    if not len(a):
        return {"p50": 0.0, "p99": 0.0, "max": 0.0, "n": 0}
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
        "n": len(a),
    }


class Pacer:
    """``wait(t_s)`` per step; ``kind`` prefixes the events (``<kind>_overrun``, ``<kind>_aborted``), ``what``
    names the step in their text ("step began"), ``label`` the run part in the abort message ("HIL")."""

    def __init__(
        self,
        step_s: float,
        *,
        log: LogFn,
        kind: str,
        what: str,
        label: str,
        overrun_frac: float = 0.1,
        max_overruns: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.step_s, self.log, self.kind, self.what, self.label = float(step_s), log, kind, what, label
        self.overrun_frac, self.max_overruns = overrun_frac, max_overruns
        self.clock, self.sleep = clock, sleep
        self.t0: float | None = None  # wall time of simulated time 0
        self.lateness: list[float] = []
        self.overruns = 0
        self._latest: list[tuple[float, float]] = []  # a heap of (lateness, simulated time): the five latest

    def start(self) -> None:
        """Simulated time 0 is now (when every link is up), unless it was set before."""
        if self.t0 is None:
            self.t0 = self.clock()

    def wait(self, t_s: float) -> float:
        """Wait for the slot of simulated time ``t_s`` and record how late it was reached; returns the slot."""
        self.start()
        assert self.t0 is not None
        slot = self.t0 + t_s
        now = self.clock()
        if now < slot:
            self.sleep(slot - now)
        late = self.clock() - slot
        self.lateness.append(late)
        if len(self._latest) < 5 or late > self._latest[0][0]:
            heapq.heappush(self._latest, (late, t_s))
            if len(self._latest) > 5:
                heapq.heappop(self._latest)
        if late > self.overrun_frac * self.step_s:
            self.overruns += 1
            if self.overruns == 1 or self.overruns % 100 == 0:
                msg = f"{self.what} {late * 1e3:.1f} ms late ({self.overruns} overrun(s) so far)"
                self.log(t_s, f"{self.kind}_overrun", msg)
            if self.max_overruns is not None and self.overruns > self.max_overruns:
                self.log(t_s, f"{self.kind}_aborted", f"more than {self.max_overruns} overrun(s): run stopped")
                raise SimulationAborted(
                    f"{self.label}: {self.overruns} steps overran (limit {self.max_overruns}) at t = {t_s:g} s"
                )
        return slot

    def scores(self) -> dict[str, Any]:
        """The steps' lateness (p50, p99, max, n, the five latest with their simulated times) and the overruns."""
        return {
            **ms_stats(self.lateness),
            "latest": [{"t_s": round(t, 6), "ms": round(x * 1e3, 3)} for x, t in sorted(self._latest, reverse=True)],
            "overruns": self.overruns,
            "overrun_threshold_ms": round(self.overrun_frac * self.step_s * 1e3, 3),
        }
