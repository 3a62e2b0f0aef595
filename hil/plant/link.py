"""The controller link: the plant's server, its clock (real time or lockstep), its session and its scores.

Per controller step the twin calls :meth:`ControllerLink.exchange` with the :class:`PlantState` of the step
just solved and gets the :class:`Commands` for the next one:

* **lockstep**: the state is published with ``StepCnt`` = n (steps done) and ``St`` WAITING; the twin waits
  until the controller writes ``CycDone`` = n (it has read the measurements and written its setpoints),
  then takes the setpoints. No wall clock: a cooperating controller runs a day far faster than real time.
  A controller silent for ``cycle_timeout_s`` is logged (``controller_silent``) and the twin runs on
  without waiting, as a site would, until ``CycDone`` moves again (``controller_back``).
* **real time**: step n is published at its wall-clock slot (``t0`` + the simulated time at its end,
  ``t0`` when the controller was ready); lateness and overruns are measured as ``twin hil`` does; the
  setpoints are whatever the registers hold then.

Before the clock runs, :meth:`connect` publishes ``StepCnt`` = 0 (``St`` STARTING) and waits for the
controller to write ``CycDone`` = 0 (it has discovered the devices and done its first exchange). Every
request and answer is recorded (:mod:`hil.plant.session`); :class:`ReplayControllerLink` runs a recorded
session again without the controller.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hil.pacing import Pacer, ms_stats
from hil.plant.coupling import SIM_FINISHED, SIM_RUNNING, SIM_STARTING, SIM_WAITING, Commands, PlantCoupling, PlantState
from hil.plant.devices import MODEL_SIM_CONTROL, UID_SIMCTL
from hil.plant.server import PlantServer, Transaction
from hil.plant.session import ControllerSession, ControllerSessionRecorder, regs_crc
from twin.errors import SimulationAborted

__all__ = ["CYCDONE_NONE", "ControllerLink", "ReplayControllerLink"]

CYCDONE_NONE = 0xFFFFFFFF  # CycDone before the controller's first write
LogFn = Callable[[float, str, str], None]


class ControllerLink:
    """The live link: a started :class:`PlantServer`, the coupling, the clock and the session recorder."""

    replay = False

    def __init__(
        self,
        server: PlantServer,
        coupling: PlantCoupling,
        *,
        realtime: bool,
        step_s: float,
        log: LogFn,
        session_path: Path | None = None,
        header: dict[str, Any] | None = None,
        connect_timeout_s: float = 30.0,
        cycle_timeout_s: float = 10.0,
        overrun_frac: float = 0.1,
        max_overruns: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.server, self.coupling = server, coupling
        self.realtime, self.step_s, self.log = realtime, step_s, log
        self.connect_timeout_s, self.cycle_timeout_s = connect_timeout_s, cycle_timeout_s
        self.clock = clock
        self.pacer = Pacer(
            step_s,
            log=log,
            kind="controller",
            what="step published",
            label="controller link",
            overrun_frac=overrun_frac,
            max_overruns=max_overruns,
            clock=clock,
            sleep=sleep,
        )
        self.k = 0  # the StepCnt shown
        self.cycle_s: list[float] = []
        self.wait_s: list[float] = []  # lockstep: how long the twin waited for CycDone
        self._published_wall: dict[int, float] = {}
        self.silent = False
        self.silent_periods: list[dict[str, float]] = []
        self._last_cyc_wall = time.time()
        self.reverted: list[dict[str, Any]] = []
        self.n_reverted = 0
        self.n_writes = 0
        self.recorder: ControllerSessionRecorder | None = None
        self.session_path = session_path
        if session_path is not None:
            self.recorder = ControllerSessionRecorder(session_path, header or {}, time.time())
            server.on_transaction = self._record
        self.phase = 0  # 1 once the setpoints of step k were taken (lockstep): later writes act an exchange later
        self._cyc_at_silence = CYCDONE_NONE
        coupling.simctl.set(MODEL_SIM_CONTROL, "CycDone", CYCDONE_NONE, computed=False)  # "none yet"

    def _record(self, tx: Transaction) -> None:
        if self.recorder is not None:
            self.recorder.add(self.k, tx, self.phase)

    # -- before the clock --------------------------------------------------------------------------
    def open(self, first: PlantState) -> str | None:
        """Publish the start state (StepCnt 0, St STARTING), then start the server (so a controller never reads an
        empty plant); returns the address it listens on."""
        self.coupling.publish(first, state=SIM_STARTING)
        self._published_wall[0] = time.time()
        self.server.start()
        return f"{self.server.host}:{self.server.port}"

    def connect(self) -> None:
        """Wait for the controller's CycDone = 0 (it has discovered the plant and done its first exchange)."""
        t0 = self.clock()
        ok = self.server.wait_for(lambda: self.coupling.cycle_done() == 0, self.connect_timeout_s)
        ms = (self.clock() - t0) * 1e3
        host = f"{self.server.host}:{self.server.port}"
        if not ok:
            self.log(
                0.0,
                "controller_not_connected",
                f"no controller wrote CycDone = 0 on {host} within {self.connect_timeout_s:g} s",
            )
            raise SimulationAborted(
                f"no controller on {host}: none wrote simulation control CycDone = 0 within "
                f"{self.connect_timeout_s:g} s (start one, e.g. `twin controller --connect {host}`)"
            )
        self._last_cyc_wall = time.time()  # the writes so far (CycDone = 0 among them) go with the first step's
        self.log(0.0, "controller_connected", f"controller ready on {host} after {ms:.0f} ms, before the clock")
        self.pacer.start()  # simulated time 0: now, with the controller ready

    # -- one step ----------------------------------------------------------------------------------
    def exchange(self, s: PlantState) -> Commands:
        """Publish the step just solved, let the controller act (lockstep: wait for it), return its setpoints."""
        if self.realtime:  # at the slot: what the registers hold, then the new measurements
            self.pacer.wait(s.t_end_s)
            cmds = self.coupling.commands(s.t_end_s)
            self.k = s.steps_done
            self.coupling.publish(s, state=SIM_RUNNING)
            self._published_wall[self.k] = time.time()
            self._note_writes(cmds)
            self._watch_silence(s.t_end_s)
        else:  # the measurements, the controller's cycle, then its setpoints
            self.k, self.phase = s.steps_done, 0
            self.coupling.publish(s, state=SIM_WAITING)
            self._published_wall[self.k] = time.time()
            self._wait(s)
            cmds = self.coupling.commands(s.t_end_s)
            self.phase = 1
            self._note_writes(cmds)
        if self.recorder is not None:
            self.recorder.flush()
        return cmds

    def _wait(self, s: PlantState) -> None:
        n = s.steps_done
        if self.silent:  # back once CycDone moves at all; then it catches up with the step shown now
            if self.coupling.cycle_done() == self._cyc_at_silence:
                return
            self._back(s.t_end_s)
        t0 = self.clock()
        ok = self.server.wait_for(lambda: self.coupling.cycle_done() == n, self.cycle_timeout_s)
        self.wait_s.append(self.clock() - t0)
        if not ok:
            self.silent = True
            self._cyc_at_silence = self.coupling.cycle_done()
            self.silent_periods.append({"from_s": s.t_end_s})
            self.log(
                s.t_end_s,
                "controller_silent",
                f"no CycDone = {n} within {self.cycle_timeout_s:g} s: running on without the controller "
                f"(its setpoints revert by their timers)",
            )

    def _back(self, t_s: float) -> None:
        self.silent = False
        if self.silent_periods:
            self.silent_periods[-1]["to_s"] = t_s
        self.log(t_s, "controller_back", "CycDone moves again: the controller is back")

    def _watch_silence(self, t_s: float) -> None:
        quiet = time.time() - self._last_cyc_wall
        limit = max(self.cycle_timeout_s, 3 * self.step_s)
        if not self.silent and quiet > limit:
            self.silent = True
            self.silent_periods.append({"from_s": t_s})
            self.log(t_s, "controller_silent", f"no CycDone written for {quiet:.1f} s")

    def _note_writes(self, cmds: Commands) -> None:
        self.n_writes += len(cmds.writes)
        for w in cmds.writes:
            if w.unit_id == UID_SIMCTL and w.point == "CycDone":
                self._last_cyc_wall = w.wall_s
                t_pub = self._published_wall.pop(int(w.value), None)
                if t_pub is not None and int(w.value) > 0 and not self.replay:  # a replay's walls are today's
                    self.cycle_s.append(w.wall_s - t_pub)
                if self.silent and self.realtime:
                    self._back(self.k * self.step_s)
        if len(self._published_wall) > 1000:  # steps the controller skipped (real time)
            for key in sorted(self._published_wall)[:-100]:
                del self._published_wall[key]
        for r in cmds.reverted:
            self.n_reverted += 1
            if len(self.reverted) < 100:
                name = self.server.images[r.unit_id].spec.name
                self.reverted.append(
                    {"t_s": r.t_s, "device": name, "point": f"{r.model_id}.{r.point}", "value": r.value}
                )

    # -- the end -----------------------------------------------------------------------------------
    def close(self) -> None:
        """St FINISHED (a controller that polls it stops), the session closed, the server stopped."""
        try:
            self.coupling.set_run_state(SIM_FINISHED)
            if self.server.images and not self.replay:
                time.sleep(min(0.5, 2 * self.step_s))  # a polling controller sees FINISHED
        finally:
            if self.recorder is not None:
                self.recorder.close()
            self.server.stop()

    def summary(self) -> dict[str, Any]:
        srv = self.server
        tot: collections.Counter[str] = collections.Counter()
        for c in srv.counters.values():
            tot.update(c)
        rej = [
            {
                "device": srv.images[r.unit_id].spec.name,
                "addr": r.addr,
                "exception": r.exception,
                "kind": r.kind,
                "detail": r.detail,
            }
            for r in srv.rejected[:20]
        ]
        out: dict[str, Any] = {
            "mode": "replay" if self.replay else ("realtime" if self.realtime else "lockstep"),
            "address": f"{srv.host}:{srv.port}",
            "owns": sorted(self.coupling.owns),
            "steps": self.k,
            "transactions": int(tot["transactions"]),
            "writes_accepted": self.n_writes,
            "exceptions": {
                "read_only": int(tot["exceptions_read_only"]),
                "unknown_address": int(tot["exceptions_unknown_address"]),
                "out_of_range": int(tot["exceptions_out_of_range"]),
            },
            "rejected_first": rej,
            "reverted_setpoints": self.n_reverted,
            "reverted_first": self.reverted[:20],
            "cycle_ms": ms_stats(self.cycle_s),
            "silent_periods": self.silent_periods,
            "connections": dict(srv.server_counters),
        }
        if self.realtime:
            out["lateness_ms"] = self.pacer.scores()
        elif not self.replay:
            out["wait_ms"] = ms_stats(self.wait_s)
        if self.session_path is not None:
            out["session"] = self.session_path.name
        return out


class ReplayControllerLink(ControllerLink):
    """A recorded session instead of the controller: the server is not started; step n's recorded writes are
    applied where they came (checked as on the wire) and every recorded read of a plant device (simulation control,
    the clock, aside) is compared, by CRC, with what the twin serves now. A difference is a divergence (the run,
    the scenario or the twin has changed)."""

    replay = True

    def __init__(self, server: PlantServer, coupling: PlantCoupling, session: ControllerSession, **kw: Any) -> None:
        kw.pop("session_path", None)
        super().__init__(server, coupling, session_path=None, **{**kw, "realtime": False})
        self.session = session
        self.divergences = 0
        self.first_divergence: str | None = None
        self.replayed = 0

    def open(self, first: PlantState) -> str | None:
        """The start state; no server (the session answers)."""
        self.coupling.publish(first, state=SIM_STARTING)
        return None

    def connect(self) -> None:
        self._play(0, 0.0)
        self.log(0.0, "controller_connected", f"replaying {self.session.path.name} (no controller)")

    def exchange(self, s: PlantState) -> Commands:
        """As the recorded mode did it: real time takes the setpoints before publishing, lockstep after."""
        rt = self.session.header.get("mode") == "realtime"
        cmds = self.coupling.commands(s.t_end_s) if rt else None
        self.k = s.steps_done
        self.coupling.publish(s, state=SIM_RUNNING if rt else SIM_WAITING)
        self._play(self.k, s.t_end_s, None if rt else 0)
        if cmds is None:
            cmds = self.coupling.commands(s.t_end_s)
            self._play(self.k, s.t_end_s, 1)  # written after the setpoints were taken: act an exchange later
        self._note_writes(cmds)
        return cmds

    def _play(self, k: int, t_s: float, phase: int | None = None) -> None:
        for tx in self.session.by_step.get(k, ()):
            if phase is not None and tx.phase != phase:
                continue
            self.replayed += 1
            img = self.server.images.get(tx.unit_id)
            if img is None:
                continue
            if tx.function_code in (6, 16):
                exc = self.server._on_write(tx.unit_id, tx.addr, [int(v) for v in tx.data]) or 0
                if int(exc) != tx.exception:
                    self._diverge(
                        t_s,
                        f"step {k}: write to unit {tx.unit_id} at {tx.addr} answered {int(exc)}, "
                        f"recorded {tx.exception}",
                    )
            elif (
                tx.function_code in (3, 4)
                and tx.exception == 0
                and tx.unit_id != UID_SIMCTL
                and img.contains(tx.addr, tx.count)
            ):  # simulation control is the clock, polled while it changes: not compared
                if regs_crc(img.read(tx.addr, tx.count)) != tx.data:
                    self._diverge(
                        t_s,
                        f"step {k}: unit {tx.unit_id} registers {tx.addr}+{tx.count} differ from the recorded answer",
                    )

    def _diverge(self, t_s: float, what: str) -> None:
        self.divergences += 1
        if self.first_divergence is None:
            self.first_divergence = what
            self.log(t_s, "controller_replay_divergence", what)

    def close(self) -> None:
        self.coupling.set_run_state(SIM_FINISHED)

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out.update(
            {
                "session": self.session.path.name,
                "replayed_transactions": self.replayed,
                "replay_divergences": self.divergences,
                "replay_first_divergence": self.first_divergence,
            }
        )
        return out


def session_header(mode: str, step_s: float, owns: list[str], server: PlantServer, scenario: str) -> dict[str, Any]:
    """The header of a session file."""
    return {
        "mode": mode,
        "step_s": step_s,
        "owns": owns,
        "scenario": scenario,
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "devices": [[img.spec.name, uid, list(img.spec.models)] for uid, img in sorted(server.images.items())],
    }
