"""The HIL supervisor: the twin's side of each step with the BMSs on the line, without mosaik.

Per electrical step (the mosaik simulator, :mod:`adapters.sims.hil`, only
reads the fleet's packs, calls these and hands the result to the fleet):

1. :meth:`Supervisor.pace`: real time: wait for the step's wall-clock slot
   (``t0 + t``, ``t0`` the first step), record how late it began (lateness;
   late steps are never made up for: they catch up), count overruns (a step
   that began later than ``overrun_frac`` of a step) and stop the run past
   ``max_overruns``; lockstep: no waiting. Returns the deadline of the
   step's serial exchange (``io_budget_frac`` of the step);
2. :meth:`Supervisor.step`: per bound pack, check its current over the step
   just completed against the limits that were in force (violations, steps
   clamped at a limit), run the exchange (:class:`hil.bms_port.BmsPort`) and
   judge the answer (:meth:`Supervisor.take`): link lost / restored, BMS
   heartbeat frozen or gone back (a reboot), State and new alarms, the BMS's
   current reading with the opposite sign to the model's, the BMS's SoC
   estimate against the model's true SoC;
3. what the fleet gets (:class:`FleetInputs`): the BMS's State (DISCONNECTED
   while its link or heartbeat is lost), Evt1, and the current limits of a
   pack in service (0 while it is out), in force for the next step;
4. :meth:`Supervisor.row` (the step's time-series columns) and
   :meth:`Supervisor.scores` / :meth:`Supervisor.lateness_scores` (summary).

Events go through the ``log(t_s, kind, detail)`` function it is given (the
site's event log). The wall clock and the sleep are injectable, so pacing
is testable on a fake clock.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.bms_port import BmsAnswer, BmsPort, PackMeas
from hil.device import DeviceConfig
from hil.pacing import Pacer
from hil.session import SessionRecorder
from twin.errors import MapError, SimulationAborted
from twin.sunspec802 import (
    ALARM_MASK,
    COMMUNICATION_ERROR,
    SETOP_CONNECT,
    SETOP_DISCONNECT,
    STATE_CONNECTED,
    STATE_DISCONNECTED,
    STATE_NAMES,
    evt1_names,
)

__all__ = [
    "CONNECT_RETRY_S",
    "CONNECT_TIMEOUT_S",
    "FleetInputs",
    "LogFn",
    "PackReadings",
    "Supervisor",
    "percentile",
]

LogFn = Callable[[float, str, str], None]  # (t_s, kind, detail): the site's event log

CONNECT_RETRY_S = 0.2  # a silent BMS is asked again this often before the start (a few frames' worth)
CONNECT_TIMEOUT_S = 10.0  # how long the start waits for every BMS (one booting takes seconds)
SIGN_MISMATCH_STEPS = 3  # steps of opposite current signs before the device-file setting is named
SIGN_MIN_A = 1.0  # currents below this are not compared (noise, a pack at rest)
HB_WRAP_HI, HB_WRAP_LO = 65000, 500  # a heartbeat from above HB_WRAP_HI to below HB_WRAP_LO wrapped, not rebooted


def percentile(x: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``x`` (0 for none)."""
    return float(np.percentile(np.asarray(x), q)) if len(x) else 0.0


@dataclass(frozen=True)
class PackReadings:
    """The fleet model's bound packs at the start of the step (arrays in the order of the ports)."""

    i_a: np.ndarray  # current over the step just completed, + charging
    soc_frac: np.ndarray  # true SoC
    n_series: np.ndarray  # series cells of the pack model


@dataclass(frozen=True)
class FleetInputs:
    """What the fleet takes from the BMSs for the next step (:meth:`twin.fleet.fleet.BatteryFleet.set_external`)."""

    state: np.ndarray
    evt1: np.ndarray
    i_charge_max_a: np.ndarray
    i_discharge_max_a: np.ndarray


class Supervisor:
    """Pacing, the BMS answers judged, the limits handed to the fleet and the scores of one HIL run."""

    def __init__(
        self,
        ports: Sequence[BmsPort],
        device: DeviceConfig,
        *,
        step_s: float,
        log: LogFn,
        realtime: bool = True,
        overrun_frac: float = 0.1,
        max_overruns: int | None = None,
        recorder: SessionRecorder | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ports = list(ports)
        self.dev = device
        self.step_s = float(step_s)
        self.log = log
        self.realtime = realtime
        self.recorder = recorder
        self.clock = clock
        self.sleep = sleep
        n = len(self.ports)
        self.setop = np.full(n, SETOP_CONNECT)
        self.reset_pending = np.zeros(n, dtype=bool)
        self.link_ok = np.zeros(n, dtype=bool)
        self.ever_ok = np.zeros(n, dtype=bool)
        self.state = np.full(n, STATE_DISCONNECTED)
        self.evt = np.zeros(n, dtype=np.int64)
        self.i_ch = np.zeros(n)
        self.i_dis = np.zeros(n)
        self.lim_ch = np.zeros(n)  # the limits handed to the fleet (0 while the pack is out)
        self.lim_dis = np.zeros(n)
        self.hb: list[int | None] = [None] * n
        self.hb_t = np.zeros(n)
        self.hb_frozen = np.zeros(n, dtype=bool)
        self.soc_bms = np.full(n, np.nan)  # the BMS's last SoC estimate, %
        self.soc_err: list[float] = []
        self.pacer = Pacer(
            self.step_s,
            log=log,
            kind="hil",
            what="step began",
            label="HIL",
            overrun_frac=overrun_frac,
            max_overruns=max_overruns,
            clock=clock,
            sleep=sleep,
        )
        self.io_s: list[float] = []
        self.clamp_steps = np.zeros(n, dtype=np.int64)
        self.sign_mismatch = np.zeros(n, dtype=np.int64)
        self.violations = 0
        self.max_over_a = 0.0
        self.steps_out = np.zeros(n, dtype=np.int64)
        self.n_lost = 0
        self.k = 0  # steps begun

    # -- before the clock runs ---------------------------------------------------------
    def connect(self, timeout_s: float) -> list[int]:
        """Discover every bound pack's BMS before real time starts (the walk of the SunSpec chain reads models
        1, 802 and 64950: the first exchange), retrying each silent one every ``CONNECT_RETRY_S`` for up to
        ``timeout_s``. Recorded as step -1 of the session. Returns the pack ids still silent: the run then
        starts without them and finds them as the steps go, as before."""
        t0 = self.clock()
        pending = list(range(len(self.ports)))
        while True:
            try:
                pending = [j for j in pending if not self.ports[j].discover(-1, 0.0)]
            except MapError as exc:
                raise SimulationAborted(f"HIL: a BMS answered with a map that breaks the contract: {exc}") from exc
            if not pending or self.clock() - t0 >= timeout_s:
                break
            self.sleep(CONNECT_RETRY_S)
        ms = (self.clock() - t0) * 1e3
        n_up = len(self.ports) - len(pending)
        self.log(
            0.0, "hil_connected", f"{n_up} of {len(self.ports)} BMS(s) discovered in {ms:.0f} ms, before the clock"
        )
        silent = [self.ports[j].pack_id for j in pending]
        if silent:
            self.log(0.0, "hil_not_connected", f"packs {silent} did not answer within {timeout_s:g} s before the start")
        return silent

    # -- pacing ------------------------------------------------------------------------
    def pace(self, t_s: float) -> float:
        """Real time: wait for the slot of the step at ``t_s`` (:class:`hil.pacing.Pacer`: lateness, overruns,
        the stop past ``max_overruns``). Returns the deadline of the step's exchange on :attr:`clock` (infinite
        in lockstep)."""
        self.pacer.start()
        if not self.realtime:
            return float("inf")
        return self.pacer.wait(t_s) + self.dev.timing.io_budget_frac * self.step_s

    @property
    def lateness(self) -> list[float]:
        return self.pacer.lateness

    @property
    def overruns(self) -> int:
        return self.pacer.overruns

    # -- commands (scenario events) ----------------------------------------------------
    def alarm_reset(self, j: int, t_s: float) -> None:
        """Write AlmRst = 1 to pack ``j``'s BMS with the next exchange."""
        self.reset_pending[j] = True
        self.log(t_s, "hil_alarm_reset", f"pack {self.ports[j].pack_id}: AlmRst = 1 written to its BMS")

    def set_op(self, j: int, op: str, t_s: float) -> None:
        """SetOp of pack ``j`` from now on: ``connect`` or ``disconnect``."""
        self.setop[j] = SETOP_CONNECT if op == "connect" else SETOP_DISCONNECT
        self.log(t_s, "hil_setop", f"pack {self.ports[j].pack_id}: SetOp {op.upper()} from now on")

    # -- one step ----------------------------------------------------------------------
    def step(
        self, t_s: float, deadline: float, packs: PackReadings, meas: Callable[[int, int], PackMeas]
    ) -> FleetInputs:
        """The step's exchange with every bound pack's BMS; ``meas(j, ncell)`` gives pack ``j``'s measurements
        on its BMS's NCell points. A map that breaks the contract stops the run."""
        k = self.begin_step()
        t_io = self.clock()
        for j, port in enumerate(self.ports):
            if k > 0:  # the limits in force during the step just completed: was any exceeded? was it clamped?
                self.check_current(j, packs.i_a[j])
            try:
                ans = port.step(
                    k,
                    t_s,
                    functools.partial(meas, j),
                    int(self.setop[j]),
                    bool(self.reset_pending[j]),
                    deadline,
                )
            except MapError as exc:
                raise SimulationAborted(f"HIL pack {port.pack_id} (unit {port.unit}): {exc}") from exc
            self.take(j, t_s, ans, packs)
        self.io_s.append(self.clock() - t_io)
        return self.fleet_inputs()

    def begin_step(self) -> int:
        """A new step: its index (0 for the first). :meth:`take` judges answers in the step begun last."""
        self.k += 1
        return self.k - 1

    def check_current(self, j: int, i_a: float) -> None:
        """Pack ``j``'s current over the step just completed against the limits that were in force."""
        lim = self.lim_ch[j] if i_a > 0 else self.lim_dis[j]
        over = abs(i_a) - lim
        if over > 1e-6 * max(lim, 1.0):
            self.violations += 1
            self.max_over_a = max(self.max_over_a, float(over))
        elif lim > 0 and abs(i_a) >= lim * (1 - 1e-4):
            self.clamp_steps[j] += 1

    def fleet_inputs(self) -> FleetInputs:
        """What the fleet sees: the BMS's state, or DISCONNECTED while its link or heartbeat is lost; limits only
        for a pack in service (they are in force for the next step). Counts the steps out of service."""
        usable = self.link_ok & ~self.hb_frozen
        on = usable & (self.state == STATE_CONNECTED)
        self.steps_out += ~on
        self.lim_ch, self.lim_dis = np.where(on, self.i_ch, 0.0), np.where(on, self.i_dis, 0.0)
        return FleetInputs(np.where(usable, self.state, STATE_DISCONNECTED), self.evt, self.lim_ch, self.lim_dis)

    # -- one answer --------------------------------------------------------------------
    def take(self, j: int, t_s: float, ans: BmsAnswer | None, packs: PackReadings) -> None:
        """Judge pack ``j``'s answer in the step begun last (None: its BMS did not answer)."""
        port = self.ports[j]
        pid = port.pack_id
        k = self.k - 1
        if ans is None:
            if self.link_ok[j] or k == 0:  # lost now, or never there from the first step
                self.n_lost += 1
                self.log(
                    t_s,
                    "hil_link_lost",
                    f"pack {pid} (unit {port.unit}): no answer after {1 + self.dev.timing.retries} attempt(s): "
                    f"{port.last_failure}; pack out of service",
                )
                if self.recorder is not None:
                    self.recorder.note(k, t_s, "link_lost", unit=port.unit, why=port.last_failure)
            self.link_ok[j] = False
            return
        if not self.ever_ok[j]:
            self._note_cells(j, t_s, int(packs.n_series[j]))
        if not self.link_ok[j]:
            what = "answers" if self.ever_ok[j] else "first answer"
            self.log(
                t_s,
                "hil_link_restored" if self.ever_ok[j] else "hil_link_up",
                f"pack {pid} (unit {port.unit}): {what} from BMS '{port.serial_number}', NCell {port.ncell}, "
                f"State {STATE_NAMES.get(ans.state, ans.state)}",
            )
            if self.recorder is not None:
                self.recorder.note(k, t_s, "link_up", unit=port.unit)
        self.link_ok[j] = True
        self.ever_ok[j] = True
        self._heartbeat(j, t_s, ans.hb)
        if ans.state != self.state[j]:
            names = ", ".join(evt1_names(ans.evt1)) or "no alarm"
            kind = "bms_contactor_closed" if ans.state == STATE_CONNECTED else "bms_contactor_open"
            self.log(
                t_s,
                kind,
                f"pack {pid}: BMS State {STATE_NAMES.get(int(self.state[j]), self.state[j])} -> "
                f"{STATE_NAMES.get(ans.state, ans.state)} (Evt1: {names})",
            )
        new_alarm = ans.evt1 & ~int(self.evt[j]) & (ALARM_MASK | 1 << COMMUNICATION_ERROR)
        if new_alarm:
            self.log(t_s, "bms_alarm", f"pack {pid}: BMS raised {', '.join(evt1_names(new_alarm)) or hex(new_alarm)}")
        self.reset_pending[j] = False  # written with this exchange
        self.state[j] = ans.state
        self.evt[j] = ans.evt1
        self.i_ch[j] = ans.i_charge_max_a
        self.i_dis[j] = ans.i_discharge_max_a
        self._current_sign(j, t_s, ans.a_a, float(packs.i_a[j]))
        if ans.soc_pct is not None:
            true_pct = float(packs.soc_frac[j] * 100.0)
            self.soc_bms[j] = ans.soc_pct
            self.soc_err.append(float(ans.soc_pct) - true_pct)

    def _heartbeat(self, j: int, t_s: float, hb: int | None) -> None:
        """The BMS heartbeat (802 Hb): frozen for ``hb_timeout_s`` takes the pack out; gone back is a reboot."""
        pid = self.ports[j].pack_id
        old = self.hb[j]
        if hb is None:
            return
        if old is None or hb != old:
            if old is not None and hb < old and not (old > HB_WRAP_HI and hb < HB_WRAP_LO):
                self.log(t_s, "bms_reboot", f"pack {pid}: BMS heartbeat went back from {old} to {hb}")
            if self.hb_frozen[j]:
                self.log(t_s, "bms_heartbeat_restored", f"pack {pid}: BMS heartbeat moves again")
            self.hb_frozen[j] = False
            self.hb[j] = hb
            self.hb_t[j] = t_s
        elif not self.hb_frozen[j] and t_s - self.hb_t[j] >= self.dev.timing.hb_timeout_s:
            self.hb_frozen[j] = True
            self.log(
                t_s,
                "bms_heartbeat_frozen",
                f"pack {pid}: BMS heartbeat stuck at {hb} for {t_s - self.hb_t[j]:g} s; pack out of service",
            )

    def _current_sign(self, j: int, t_s: float, i_bms: float | None, i_model: float) -> None:
        """The BMS's own current reading (802 A, after the device file's sign) against the model's: opposite
        signs step after step mean the product reports discharge positive (current_sign = -1)."""
        if i_bms is None or abs(i_model) <= SIGN_MIN_A or abs(i_bms) <= SIGN_MIN_A or (i_bms > 0) == (i_model > 0):
            return
        self.sign_mismatch[j] += 1
        if self.sign_mismatch[j] == SIGN_MISMATCH_STEPS:
            self.log(
                t_s,
                "hil_sign_mismatch",
                f"pack {self.ports[j].pack_id}: the BMS reads {i_bms:+.1f} A where the model has {i_model:+.1f} A "
                f"({SIGN_MISMATCH_STEPS} steps so far): if the product reports discharge positive, set "
                f"[bms] current_sign = {-self.dev.bms.current_sign} in its device file",
            )

    def _note_cells(self, j: int, t_s: float, n_series: int) -> None:
        port = self.ports[j]
        if port.ncell != n_series:
            self.log(
                t_s,
                "hil_cell_map",
                f"pack {port.pack_id}: the BMS has NCell = {port.ncell}, the pack model {n_series} series cells: "
                f"its mean cell and weakest cell are mapped onto {port.ncell} points (one weak, the rest "
                f"at the mean)",
            )

    # -- results -----------------------------------------------------------------------
    def row(self, packs: PackReadings) -> dict[str, float]:
        """The step's time-series columns (the first bound pack's values)."""
        return {
            "hil_link_ok": float(self.link_ok.all()),
            "hil_bms_state": float(self.state[0]),
            "hil_i_charge_max_a": float(self.lim_ch[0]),
            "hil_i_discharge_max_a": float(self.lim_dis[0]),
            "hil_pack_i_a": float(packs.i_a[0]),
            "hil_soc_true_pct": float(packs.soc_frac[0] * 100.0),
            "hil_soc_bms_pct": float(self.soc_bms[0]),
            "hil_lateness_ms": float(self.lateness[-1] * 1e3) if self.realtime and self.lateness else 0.0,
            "hil_io_ms": float(self.io_s[-1] * 1e3),
            "hil_attempts": float(self.ports[0].stats["attempts"]),
        }

    def scores(self) -> dict[str, Any]:
        """The run's scores for ``summary.json`` (per pack, the line's counts, the SoC estimate, the limits)."""
        tot: dict[str, int] = {}
        for p in self.ports:
            for key, v in p.stats.items():
                tot[key] = tot.get(key, 0) + int(v)
        err = np.asarray(self.soc_err)
        return {
            "packs": [
                {
                    "id": p.pack_id,
                    "unit": p.unit,
                    "serial_number": p.serial_number,
                    "ncell": p.ncell,
                    "steps_out_of_service": int(self.steps_out[j]),
                    "clamped_steps": int(self.clamp_steps[j]),
                }
                for j, p in enumerate(self.ports)
            ],
            "exchanges": tot.get("exchanges", 0),
            "attempts": tot.get("attempts", 0),
            "retries": tot.get("retries", 0),
            "timeouts": tot.get("timeout", 0),
            "bad_frames": tot.get("bad_frame", 0),
            "port_errors": tot.get("port_error", 0),
            "modbus_exceptions": tot.get("modbus_exception", 0),
            "skipped_for_deadline": tot.get("skipped", 0),
            "link_lost_events": self.n_lost,
            "soc_estimate_error_pct": {
                "n": int(err.size),
                "mean": round(float(err.mean()), 4) if err.size else None,
                "mean_abs": round(float(np.abs(err).mean()), 4) if err.size else None,
                "rms": round(float(np.sqrt((err**2).mean())), 4) if err.size else None,
                "max_abs": round(float(np.abs(err).max()), 4) if err.size else None,
                "last": round(float(err[-1]), 4) if err.size else None,
            },
            "clamped_steps": int(self.clamp_steps.sum()),
            "current_sign_mismatch_steps": int(self.sign_mismatch.sum()),
            "current_limit_violations": int(self.violations),
            "current_over_limit_max_a": round(self.max_over_a, 6),
            "io_ms": {
                "p50": round(percentile(self.io_s, 50) * 1e3, 3),
                "p99": round(percentile(self.io_s, 99) * 1e3, 3),
                "max": round(max(self.io_s, default=0.0) * 1e3, 3),
            },
        }

    def lateness_scores(self) -> dict[str, Any]:
        """Real time: the steps' lateness (p50, p99, max, the latest) and the overruns."""
        return self.pacer.scores()
