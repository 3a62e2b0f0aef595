"""The HIL supervisor (hil/supervisor.py) without mosaik and without a line: pacing on a fake clock, and the
judgement of synthetic BMS answers (heartbeat frozen and back, a reboot, a reversed current sign, the limits
handed to the fleet, limit violations and clamps, the SoC estimate's score, a lost link).

The ports are real :class:`hil.bms_port.BmsPort` objects that never touch a line here: the supervisor reads
their identity and statistics only, the answers are handed to :meth:`Supervisor.take` as a port would."""

from __future__ import annotations

import numpy as np
import pytest

from hil.bms_port import BmsAnswer, BmsPort
from hil.device import DeviceConfig
from hil.supervisor import PackReadings, Supervisor
from twin import sunspec802 as s802
from twin.errors import RunError, SimulationAborted


class FakeClock:
    """perf_counter and sleep in one: sleeping moves the clock."""

    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []

    def __call__(self, t_s: float, kind: str, detail: str) -> None:
        self.events.append((t_s, kind, detail))

    def kinds(self) -> list[str]:
        return [k for _, k, _ in self.events]

    def of(self, kind: str) -> list[tuple[float, str, str]]:
        return [e for e in self.events if e[1] == kind]


def make(device: DeviceConfig | None = None, n: int = 1, **kw) -> tuple[Supervisor, Log, FakeClock]:
    dev = device or DeviceConfig()
    ports = [BmsPort(None, j + 1, 10 + j, dev) for j in range(n)]
    for p in ports:
        p.serial_number, p.ncell = f"SN-{p.pack_id}", 96
    log, clock = Log(), FakeClock()
    kw.setdefault("realtime", False)
    sup = Supervisor(ports, dev, step_s=1.0, log=log, clock=clock, sleep=clock.sleep, **kw)
    return sup, log, clock


def answer(hb: int | None = 1, state: int = s802.STATE_CONNECTED, **kw) -> BmsAnswer:
    base = dict(
        evt1=0,
        soc_pct=50.0,
        soh_pct=90.0,
        i_charge_max_a=100.0,
        i_discharge_max_a=200.0,
        v_v=360.0,
        a_a=None,
        alm_rst=0,
    )
    return BmsAnswer(state=state, hb=hb, **{**base, **kw})


def readings(i_a: float = 0.0, soc: float = 0.5, n_series: int = 96) -> PackReadings:
    return PackReadings(np.array([i_a]), np.array([soc]), np.array([n_series]))


def feed(sup: Supervisor, t_s: float, ans: BmsAnswer | None, packs: PackReadings | None = None):
    """One step as Supervisor.step runs it, with a synthetic answer."""
    packs = packs or readings()
    k = sup.begin_step()
    if k > 0:
        sup.check_current(0, float(packs.i_a[0]))
    sup.take(0, t_s, ans, packs)
    return sup.fleet_inputs()


# ------------------------------------------------------------------------------------------------
# pacing
# ------------------------------------------------------------------------------------------------
def test_realtime_pacing_sleeps_to_the_slot_and_measures_lateness() -> None:
    sup, log, clock = make(realtime=True, overrun_frac=0.1)
    deadline = sup.pace(0.0)
    assert deadline == pytest.approx(100.0 + 0.8) and sup.lateness == [0.0]
    clock.t += 0.3  # the step's work took 0.3 s: the next one sleeps 0.7 s
    sup.pace(1.0)
    assert clock.slept == [pytest.approx(0.7)] and sup.lateness[-1] == pytest.approx(0.0)
    clock.t += 1.05  # this step ran long: the next one starts 50 ms late, no sleep, no catch-up of the schedule
    deadline = sup.pace(2.0)
    assert len(clock.slept) == 1 and sup.lateness[-1] == pytest.approx(0.05)
    assert deadline == pytest.approx(100.0 + 2.0 + 0.8) and sup.overruns == 0
    clock.t += 1.1  # 150 ms late > 10 % of a step: an overrun, logged the first time
    sup.pace(3.0)
    assert sup.overruns == 1 and log.kinds() == ["hil_overrun"] and "150.0 ms late" in log.events[0][2]
    late = sup.lateness_scores()
    assert late["overruns"] == 1 and late["overrun_threshold_ms"] == 100.0 and late["max"] == pytest.approx(150.0)


def test_overruns_past_the_limit_stop_the_run() -> None:
    sup, log, clock = make(realtime=True, max_overruns=1)
    sup.pace(0.0)
    clock.t += 1.5
    sup.pace(1.0)
    clock.t += 1.5
    with pytest.raises(SimulationAborted, match="2 steps overran") as exc:
        sup.pace(2.0)
    assert isinstance(exc.value, RunError) and exc.value.exit_status == 1
    assert log.kinds() == ["hil_overrun", "hil_aborted"]


def test_lockstep_never_waits() -> None:
    sup, _, clock = make(realtime=False)
    assert sup.pace(0.0) == float("inf") and sup.pace(50.0) == float("inf")
    assert clock.slept == [] and sup.lateness == []


# ------------------------------------------------------------------------------------------------
# answers
# ------------------------------------------------------------------------------------------------
def test_first_answer_limits_and_what_the_fleet_gets() -> None:
    sup, log, _ = make()
    given = feed(sup, 0.0, answer(hb=1), readings(n_series=100))
    assert given.state.tolist() == [s802.STATE_CONNECTED]
    assert given.i_charge_max_a.tolist() == [100.0] and given.i_discharge_max_a.tolist() == [200.0]
    assert log.kinds() == ["hil_cell_map", "hil_link_up", "bms_contactor_closed"]
    assert "NCell = 96, the pack model 100 series cells" in log.of("hil_cell_map")[0][2]
    # the BMS opens: the pack is out at once, limits 0
    given = feed(sup, 1.0, answer(hb=2, state=s802.STATE_FAULT, evt1=1 << s802.OVER_TEMP_ALARM))
    assert given.state.tolist() == [s802.STATE_FAULT] and given.i_charge_max_a.tolist() == [0.0]
    assert log.kinds()[-2:] == ["bms_contactor_open", "bms_alarm"] and "OVER_TEMP_ALARM" in log.events[-1][2]
    assert sup.steps_out.tolist() == [1]


def test_heartbeat_frozen_takes_the_pack_out_until_it_moves() -> None:
    sup, log, _ = make(DeviceConfig.model_validate({"timing": {"hb_timeout_s": 3.0}}))
    for t in range(0, 3):  # Hb stuck at 7 from t = 0: out at t = 3 (3 s without a move)
        assert feed(sup, float(t), answer(hb=7)).state.tolist() == [s802.STATE_CONNECTED]
    given = feed(sup, 3.0, answer(hb=7))
    assert given.state.tolist() == [s802.STATE_DISCONNECTED] and given.i_discharge_max_a.tolist() == [0.0]
    assert log.of("bms_heartbeat_frozen")[0][0] == 3.0 and "stuck at 7 for 3 s" in log.of("bms_heartbeat_frozen")[0][2]
    feed(sup, 4.0, answer(hb=7))
    assert len(log.of("bms_heartbeat_frozen")) == 1  # said once
    given = feed(sup, 5.0, answer(hb=8))
    assert given.state.tolist() == [s802.STATE_CONNECTED] and log.kinds()[-1] == "bms_heartbeat_restored"


def test_heartbeat_going_back_is_a_reboot_but_a_wrap_is_not() -> None:
    sup, log, _ = make()
    feed(sup, 0.0, answer(hb=50))
    feed(sup, 1.0, answer(hb=3))
    assert log.of("bms_reboot")[0][2].endswith("went back from 50 to 3")
    feed(sup, 2.0, answer(hb=65034))
    feed(sup, 3.0, answer(hb=0))  # 0..65534 wraps to 0
    assert len(log.of("bms_reboot")) == 1


def test_reversed_current_sign_is_counted_and_the_setting_named() -> None:
    sup, log, _ = make()
    for t in range(4):  # the model charges at 20 A, the BMS reads -20 A
        feed(sup, float(t), answer(hb=t + 1, a_a=-20.0), readings(i_a=20.0))
    feed(sup, 4.0, answer(hb=5, a_a=0.5), readings(i_a=20.0))  # too small to judge
    feed(sup, 5.0, answer(hb=6, a_a=19.0), readings(i_a=20.0))  # agrees
    assert sup.sign_mismatch.tolist() == [4] and sup.scores()["current_sign_mismatch_steps"] == 4
    (ev,) = log.of("hil_sign_mismatch")
    assert ev[0] == 2.0 and "current_sign = -1" in ev[2] and "-20.0 A where the model has +20.0 A" in ev[2]


def test_limit_violations_and_clamps_against_the_limits_in_force() -> None:
    sup, _, _ = make()
    feed(sup, 0.0, answer(hb=1, i_charge_max_a=8.0, i_discharge_max_a=10.0))
    feed(sup, 1.0, answer(hb=2, i_charge_max_a=8.0), readings(i_a=8.0))  # at the limit: clamped
    feed(sup, 2.0, answer(hb=3, i_charge_max_a=8.0), readings(i_a=-5.0))  # inside
    feed(sup, 3.0, answer(hb=4, i_charge_max_a=8.0), readings(i_a=8.5))  # over by 0.5 A
    sc = sup.scores()
    assert sc["clamped_steps"] == 1 and sc["packs"][0]["clamped_steps"] == 1
    assert sc["current_limit_violations"] == 1 and sc["current_over_limit_max_a"] == pytest.approx(0.5)
    # out of service: limits 0, so any current is a violation
    feed(sup, 4.0, None, readings(i_a=0.0))
    feed(sup, 5.0, None, readings(i_a=3.0))
    assert sup.scores()["current_limit_violations"] == 2


def test_soc_estimate_scored_against_the_true_soc() -> None:
    sup, _, _ = make()
    feed(sup, 0.0, answer(hb=1, soc_pct=53.0), readings(soc=0.5))
    feed(sup, 1.0, answer(hb=2, soc_pct=None), readings(soc=0.5))  # not implemented: not scored
    feed(sup, 2.0, answer(hb=3, soc_pct=49.0), readings(soc=0.5))
    soc = sup.scores()["soc_estimate_error_pct"]
    assert soc["n"] == 2 and soc["mean"] == 1.0 and soc["mean_abs"] == 2.0 and soc["max_abs"] == 3.0
    assert soc["last"] == -1.0 and soc["rms"] == round(np.sqrt(5.0), 4)


def test_link_lost_and_restored() -> None:
    sup, log, _ = make()
    sup.ports[0].last_failure = "read at 40000: timeout"
    feed(sup, 0.0, None)  # never there from the first step
    feed(sup, 1.0, None)  # still lost: said once
    assert log.kinds() == ["hil_link_lost"] and "3 attempt(s): read at 40000: timeout" in log.events[0][2]
    given = feed(sup, 2.0, answer(hb=1))
    assert given.state.tolist() == [s802.STATE_CONNECTED] and "hil_link_up" in log.kinds()
    feed(sup, 3.0, None)
    feed(sup, 4.0, answer(hb=2))
    assert log.kinds()[-2:] == ["hil_link_lost", "hil_link_restored"] and sup.n_lost == 2
    assert sup.steps_out.tolist() == [3]


def test_commands_are_written_with_the_next_exchange() -> None:
    sup, log, _ = make(n=2)
    sup.set_op(1, "disconnect", 5.0)
    sup.alarm_reset(0, 5.0)
    assert sup.setop.tolist() == [s802.SETOP_CONNECT, s802.SETOP_DISCONNECT] and sup.reset_pending.tolist() == [1, 0]
    assert log.kinds() == ["hil_setop", "hil_alarm_reset"] and "pack 11: SetOp DISCONNECT" in log.events[0][2]
    sup.begin_step()
    sup.take(0, 5.0, answer(), PackReadings(np.zeros(2), np.full(2, 0.5), np.full(2, 96)))
    assert sup.reset_pending.tolist() == [0, 0]  # written with that exchange
