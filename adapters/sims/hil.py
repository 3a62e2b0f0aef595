"""mosaik simulator of the hardware-in-the-loop bridge: packs of the fleet handed to BMSs on a serial line.

Thin glue around :class:`hil.supervisor.Supervisor`, which holds the logic
(pacing, the exchange, what the answers mean, the scores). At each
electrical step ``t``, before the fleet steps (the fleet's input ``hil_ok``
comes from here; the fleet's measurements come back time-shifted, so this
simulator cannot run ahead of the plant), it:

1. applies the scenario's ``hil_setop`` and ``bms_reset`` events to the bound packs;
2. reads the bound packs from the fleet's read-only view
   (:attr:`twin.fleet.fleet.BatteryFleet.packs`) and has the supervisor pace the
   step and run the exchange with the BMSs (the pack model's state at ``t``,
   the end of the step just completed, written into model 64950; model 802
   read back);
3. hands the BMSs' State, Evt1 and current limits to the fleet
   (:meth:`twin.fleet.fleet.BatteryFleet.set_external`): a pack whose contactor is
   open, whose BMS does not answer or whose heartbeat froze is out of the
   dispatch for the step; the fleet's split gives its share to the other
   packs and the controller sees the lower limits at the next step;
4. records the supervisor's row (``hil_*`` columns) and, at the end, its
   scores as the ``hil`` section of ``summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaik_api_v3.types import Meta

from adapters.sims.base import ModelSim
from hil.bms_port import BmsPort, PackMeas
from hil.device import DeviceConfig
from hil.line import LineSettings
from hil.link import ReplayLink
from hil.supervisor import CONNECT_TIMEOUT_S, PackReadings, Supervisor

__all__ = ["HilOptions", "HilSim"]


@dataclass
class HilOptions:
    """How ``twin hil`` runs (from the command line and the device file)."""

    packs: list[int]
    device: DeviceConfig = field(default_factory=DeviceConfig)
    port: str = ""
    realtime: bool = True  # False: lockstep (no wall clock; every answer is waited for)
    replay: Path | None = None  # a session file to answer from instead of the port
    record: bool = True  # write session.jsonl in the results folder
    overrun_frac: float = 0.1  # a step that starts later than this share of a step is an overrun
    max_overruns: int | None = None  # stop the run when more steps than this overran
    units: list[int] = field(default_factory=list)  # unit id per pack (default: device file, else 1..n)


class HilSim(ModelSim):
    MODEL = "HIL"
    ATTRS = ["hil_ok"]
    INPUTS = ["fleet_meas"]
    PER_STEP_RECORD = False
    EVENT_KINDS = frozenset({"hil_setop"})  # owned
    EVENT_KINDS_FOLLOWED = frozenset({"bms_reset"})  # the Fleet's: the alarm reset is also written to the BMSs

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Meta:
        """``hil``: the run's :class:`HilOptions` (required); the rest is :meth:`ModelSim.init`'s."""
        hil = sim_params.pop("hil", None)
        if not isinstance(hil, HilOptions):
            raise ValueError("the HIL simulator needs its options (hil=HilOptions(...))")
        self.opts = hil
        return super().init(sid, time_resolution, **sim_params)

    # -- set-up ------------------------------------------------------------------------
    def setup(self) -> None:
        from hil.link import open_link
        from hil.session import Session, SessionRecorder

        o, site = self.opts, self.site
        fleet = site.fleet
        self.idx = fleet.inv.index_of(o.packs)
        units = o.units or [
            next((b.unit_id for b in o.device.packs if b.id == p), i + 1) for i, p in enumerate(o.packs)
        ]
        self.units = units
        self.events = self.event_queue()
        self.session = Session.read(o.replay) if o.replay is not None else None
        if self.session is not None:
            self.link = open_link("replay", session=self.session)
        else:
            ln = o.device.line
            self.link = open_link(
                "serial",
                timeout_s=o.device.timing.timeout_s,
                settings=LineSettings(o.port, ln.baudrate, ln.bytesize, ln.parity, ln.stopbits),
            )
        self.recorder = None
        out = getattr(self.sink.writer, "out", None) if self.sink is not None else None
        if o.record and out is not None and self.session is None:
            self.recorder = SessionRecorder(
                Path(out) / "session.jsonl",
                {
                    "scenario": site.scenario.name,
                    "step_s": self.dt_s,
                    "mode": "realtime" if o.realtime else "lockstep",
                    "port": o.port,
                    "packs": [{"id": int(p), "unit": int(u)} for p, u in zip(o.packs, units)],
                    "device": o.device.model_dump(mode="json"),
                },
            )
        self.ports = [BmsPort(self.link, u, int(p), o.device, self.recorder) for p, u in zip(o.packs, units)]
        if self.session is None:
            self.link.open()
        fleet.bind_external(self.idx)
        self.sup = Supervisor(
            self.ports,
            o.device,
            step_s=self.dt_s,
            log=site.log,
            realtime=o.realtime,
            overrun_frac=o.overrun_frac,
            max_overruns=o.max_overruns,
            recorder=self.recorder,
        )
        # real time starts only once every BMS is discovered (a replayed session from before this was recorded
        # discovers in its first step, as it did then)
        if self.session is None or any(k == -1 for k, _ in self.session.by_step_unit):
            self.sup.connect(CONNECT_TIMEOUT_S)
        self.out = {"hil_ok": True}

    def close(self) -> None:
        """Close the port and the session file (safe to call twice)."""
        for obj in (getattr(self, "link", None), getattr(self, "recorder", None)):
            if obj is not None:
                obj.close()

    def finalize(self) -> None:
        self.close()

    # -- the bound packs, from the fleet's read-only view ------------------------------
    def _readings(self) -> PackReadings:
        packs = self.site.fleet.packs
        return PackReadings(
            i_a=packs.i_a[self.idx].copy(), soc_frac=packs.soc_frac[self.idx], n_series=packs.n_series[self.idx]
        )

    def _meas(self, j: int, t_s: float, ncell: int) -> PackMeas:
        packs = self.site.fleet.packs
        i = int(self.idx[j])
        return PackMeas.of_pack(
            t_s,
            ncell,
            v_terminal_v=packs.v_terminal_v[i],
            i_a=packs.i_a[i],
            v_cell_max_v=packs.v_cell_max_v[i],
            v_cell_min_v=packs.v_cell_min_v[i],
            temp_c=packs.temp_c[i],
            soc_frac=packs.soc_frac[i],
            n_series=packs.n_series[i],
        )

    # -- events ------------------------------------------------------------------------
    def _apply_events(self, t_s: float) -> None:
        inv = self.site.fleet.inv
        for ev in self.events.due(t_s):
            sel = set(int(p) for p in inv.pack_id[inv.select(ev.packs, ev.vehicle, ev.yard_row, ev.block)])
            for j, pid in enumerate(self.opts.packs):
                if int(pid) not in sel:
                    continue
                if ev.kind == "bms_reset":
                    self.sup.alarm_reset(j, t_s)
                else:
                    self.sup.set_op(j, ev.op, t_s)

    # -- one step ----------------------------------------------------------------------
    def advance(self, t_s: float, inputs: dict[str, Any]) -> None:
        deadline = self.sup.pace(t_s)
        self._apply_events(t_s)
        readings = self._readings()
        given = self.sup.step(t_s, deadline, readings, lambda j, ncell: self._meas(j, t_s, ncell))
        self.site.fleet.set_external(self.idx, given.state, given.evt1, given.i_charge_max_a, given.i_discharge_max_a)
        self.record = self.sup.row(readings)
        self.out = {"hil_ok": True}

    # -- scores ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        o, sup = self.opts, self.sup
        s: dict[str, Any] = {
            "mode": "replay" if o.replay is not None else ("realtime" if o.realtime else "lockstep"),
            "port": o.port if o.replay is None else str(o.replay),
            "step_s": self.dt_s,
            "steps": sup.k,
            **sup.scores(),
        }
        if o.realtime and o.replay is None:
            s["lateness_ms"] = sup.lateness_scores()
        if isinstance(self.link, ReplayLink):
            s["replay_divergences"] = int(self.link.divergences)
            s["replay_first_divergence"] = self.link.first_divergence
        if self.recorder is not None:
            s["session_file"] = str(self.recorder.path)
            s["session_lines"] = self.recorder.n_lines
        return s
