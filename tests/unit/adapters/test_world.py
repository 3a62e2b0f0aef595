"""The world's wiring and the build / run / finish split, without running a day."""

from __future__ import annotations

import json

import pytest

from adapters import world as w
from twin.config import Scenario


class _RecordingWorld:
    def __init__(self) -> None:
        self.connections: list[tuple] = []

    def connect(self, src, dst, *attrs, time_shifted=False, initial_data=None):
        self.connections.append((src, dst, attrs, time_shifted, initial_data))


INITIAL = {
    "bess_charge_max_p_mw": "ch0",
    "bess_discharge_max_p_mw": "dis0",
    "pv_p_limit_mw": "inf",
    "shed_tier": "zeros",
    "it_p_cap_mw": "no caps",
    "pack_weights": "empty",
}


def test_wire_connects_the_graph_and_hil_only_when_it_runs():
    names = list(w.simulator_periods(Scenario())) + ["HIL"]
    plain = _RecordingWorld()
    w.wire(plain, {n: n for n in names if n != "HIL"}, INITIAL)
    assert all("HIL" not in (c[0], c[1]) for c in plain.connections)
    shifted = {(c[0], c[1]): (c[2], c[4]) for c in plain.connections if c[3]}
    assert shifted == {
        ("Fleet", "Grid"): (
            ("bess_charge_max_p_mw", "bess_discharge_max_p_mw"),
            {"bess_charge_max_p_mw": "ch0", "bess_discharge_max_p_mw": "dis0"},
        ),
        ("Controller", "Grid"): (("pv_p_limit_mw",), {"pv_p_limit_mw": "inf"}),
        ("Controller", "DataCenter"): (("shed_tier", "it_p_cap_mw"), {"shed_tier": "zeros", "it_p_cap_mw": "no caps"}),
        ("Controller", "Fleet"): (("pack_weights",), {"pack_weights": "empty"}),
    }
    with_hil = _RecordingWorld()
    w.wire(with_hil, {n: n for n in names}, INITIAL)
    assert with_hil.connections[:2] == [
        ("HIL", "Fleet", ("hil_ok",), False, None),  # HIL at t before the fleet at t
        ("Fleet", "HIL", ("fleet_meas",), True, {"fleet_meas": {}}),  # ... and after the fleet at t-1
    ]
    assert with_hil.connections[2:] == plain.connections


def test_every_simulator_started_is_in_sim_config():
    assert set(w.simulator_periods(Scenario())) | {"HIL"} == set(w.SIM_CONFIG)


def test_a_simulator_that_fails_to_start_fails_the_run_and_the_folder_is_written(tmp_path, monkeypatch):
    sc = Scenario.model_validate({"name": "no-start", "run": {"duration_s": 10}})
    tw = w.build(sc, tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "running"
    assert (tmp_path / "scenario.toml").exists()

    def refuse(tw: w.Twin) -> dict:
        raise ValueError("the simulator refused its period")

    monkeypatch.setattr(w, "start_simulators", refuse)
    outcome = w.run(tw, progress=False)
    assert outcome.status == "failed" and isinstance(outcome.error, ValueError) and outcome.loop_s == 0.0
    res = w.finish(tw, outcome)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert res.summary == s and res.status == "failed" and res.out_dir == tmp_path
    assert s["status"] == "failed" and s["error"] == "ValueError: the simulator refused its period"
    assert [e["kind"] for e in s["events"]] == ["error"]
    assert s["n_steps"] == 0 and set(s["timing_s"]) == {"build", "loop", "finalize"}
    assert {"fleet", "datacenter", "gpu_temp_c_max"} <= set(s)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["network.json", "scenario.toml", "summary.json"]  # no row: no time series, no plot
    assert res.sim_wall_s == {"RowSink": pytest.approx(0.0)}
