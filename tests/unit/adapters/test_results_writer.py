"""The results writer, the row sink and the accumulator on their own: rows in, files out.

No mosaik and no models: rows are made by hand, so the energies, extremes and
balances in the summary can be checked against figures computed here.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from adapters.io.results import ResultsWriter
from adapters.io.rows import ENERGY_TERMS, Accumulator, RowSink

DT = 900.0  # s: a quarter of an hour, so each row is 0.25 h
H = DT / 3600.0

# Four steps of a small plant that balances at every step: PV + discharge = IT + cooling + aux + losses + charge.
PV = [4.0, 4.0, 2.0, 0.0]
CHARGE = [1.0, 0.5, 0.0, 0.0]
DISCHARGE = [0.0, 0.0, 1.2, 3.0]
IT = [2.5, 3.0, 2.7, 2.6]
COOL = [0.3, 0.3, 0.3, 0.2]
AUX = [0.1, 0.1, 0.1, 0.1]
LOSSES = [4.0 - 1.0 - 2.5 - 0.3 - 0.1, 4.0 - 0.5 - 3.0 - 0.3 - 0.1, 2.0 + 1.2 - 2.7 - 0.3 - 0.1, 3.0 - 2.6 - 0.2 - 0.1]
SOC = [0.60, 0.62, 0.61, 0.55]
V_MIN = [0.99, 0.97, 0.98, 0.96]
V_MAX = [1.01, 1.02, 1.06, 1.00]  # step 2 out of the 0.95-1.05 band
HEADROOM = [5.0, -0.5, 2.0, 1.0]  # step 1 negative


def _row(i: int) -> dict[str, float]:
    return {
        "time_s": i * DT,
        "pv_avail_p_mw": PV[i] + 0.5,
        "pv_p_mw": PV[i],
        "bess_charge_p_mw": CHARGE[i],
        "bess_discharge_p_mw": DISCHARGE[i],
        "bess_p_mw": CHARGE[i] - DISCHARGE[i],
        "it_p_mw": IT[i],
        "cooling_p_mw": COOL[i],
        "aux_p_mw": AUX[i],
        "losses_p_mw": LOSSES[i],
        "shed_p_mw": 0.25 if i == 3 else 0.0,
        "v_min_pu": V_MIN[i],
        "v_max_pu": V_MAX[i],
        "line_loading_max_pct": 40.0 + i,
        "trafo_loading_max_pct": 55.0 if i == 1 else 30.0,
        "soc_frac": SOC[i],
        "pack_soc_min_frac": SOC[i] - 0.1,
        "pack_soc_max_frac": SOC[i] + 0.1,
        "e_stored_mwh": 10.0 * SOC[i],
        "temp_amb_c": 25.0 + i,
        "bess_headroom_p_mw": HEADROOM[i],
        "it_site_max_p_mw": IT[i] + 0.4,
        "it_site_min_p_mw": IT[i] - 0.1 * (i + 1),
    }


META = {"step_s": DT, "n_packs": 3, "n_buses": 2, "fleet_e_max_mwh": 10.0, "extra": {"solver": "test"}}


def _writer(tmp_path, chunk_rows: int = 100, **kw) -> ResultsWriter:
    return ResultsWriter(
        tmp_path,
        scenario_name="hand-made",
        meta=json.loads(json.dumps(META)),
        chunk_rows=chunk_rows,
        acc=Accumulator(DT),
        events=[{"time_s": 900.0, "kind": "b", "detail": ""}, {"time_s": 0.0, "kind": "a", "detail": ""}],
        e_start_mwh=6.0,
        soc_start=0.6,
        **kw,
    )


def _feed(w: ResultsWriter, n: int = 4) -> None:
    for i in range(n):
        row = _row(i)
        assert w.acc is not None
        w.acc.add(row["time_s"], DT, row)
        w.add_row(row)


def test_energies_extremes_and_balances_against_hand_computed_figures(tmp_path):
    w = _writer(tmp_path)
    _feed(w)
    s = w.finish("completed")
    e = s["energy_mwh"]
    assert e["pv_delivered"] == pytest.approx(sum(PV) * H)  # 2.5 MWh
    assert e["pv_available"] == pytest.approx((sum(PV) + 4 * 0.5) * H)
    assert e["pv_curtailed"] == pytest.approx(4 * 0.5 * H)
    assert e["bess_charge"] == pytest.approx(1.5 * H) and e["bess_discharge"] == pytest.approx(4.2 * H)
    assert e["it_load"] == pytest.approx(10.8 * H) and e["cooling_load"] == pytest.approx(1.1 * H)
    assert e["aux_load"] == pytest.approx(0.4 * H)
    assert e["unserved"] == pytest.approx(0.25 * H)  # shed + UFLS; UFLS absent from the rows counts 0
    assert e["bess_shortfall"] == 0.0 and set(ENERGY_TERMS) <= set(e)
    assert s["energy_balance_error_frac"] == pytest.approx(0.0, abs=1e-12)  # the rows balance
    assert s["power_balance_max_abs_mw"] == pytest.approx(0.0, abs=1e-12)
    want = {"min": 0.55, "max": 0.62, "start": 0.6, "end": 0.55, "pack_min": 0.45, "pack_max": 0.72}
    assert s["soc_frac"] == pytest.approx(want)
    assert s["bess_stored_change_mwh"] == pytest.approx(5.5 - 6.0)
    assert s["v_pu"] == {"min": 0.96, "max": 1.06} and s["v_out_of_band_steps"] == 1
    assert s["loading_max_pct"] == 55.0 and s["temp_amb_max_c"] == 28.0
    assert s["bess_headroom_min_mw"] == -0.5 and s["bess_headroom_negative_steps"] == 1
    assert s["it_swing_max_mw"] == pytest.approx(0.4 + 0.4)  # step 3: max IT + 0.4, min IT - 0.4
    assert s["pue"] == pytest.approx((10.8 + 1.1 + 0.4) / 10.8, abs=1e-5)
    assert s["pue_datacenter"] == pytest.approx((10.8 + 1.1) / 10.8, abs=1e-5)
    assert s["cooling_load"]["peak_mw"] == 0.3
    assert s["cooling_load"]["mean_mw"] == pytest.approx(1.1 / 4)
    assert s["sim_time_s"] == 4 * DT and s["n_steps"] == 4 and s["n_rows"] == 4
    assert [ev["kind"] for ev in s["events"]] == ["a", "b"]  # in time order
    assert s["solver"] == "test" and s["status"] == "completed" and s["interrupted"] is False


def test_rows_in_files_out(tmp_path):
    w = _writer(tmp_path, chunk_rows=3)
    w.write_scenario('name = "hand-made"\n')
    pk = w.record_packs(np.array([7, 8, 9]), np.array([0, 0, 1]))
    _feed(w, 3)  # one full chunk: a part file and a running summary, written by the writer thread
    w.wait_written()
    parts = sorted((tmp_path / "timeseries.parts").glob("part-*.parquet"))
    assert [p.name for p in parts] == ["part-00000.parquet"] and pq.read_table(parts[0]).num_rows == 3
    running = json.loads((tmp_path / "summary.json").read_text())
    assert running["status"] == "running" and running["interrupted"] is True and running["n_rows"] == 3

    class Fleet:  # what PackRecorder reads of the fleet
        def snapshot(self):
            return {"soc_frac": np.array([0.5, 0.6, 0.7])}

    pk.add(900.0, Fleet())
    _feed_one = _row(3)
    w.add_row(_feed_one)
    assert w.acc is not None
    w.acc.add(_feed_one["time_s"], DT, _feed_one)
    import pandapower as pp

    net = pp.create_empty_network()
    pp.create_bus(net, vn_kv=13.8, name="mv_main")
    fine = [np.array([1.0, 2.0], np.float32), np.array([3.0], np.float32)]
    s = w.finish("completed", net=net, fine_it=fine, fine_step_s=0.01, timing_s={"build": 1.0, "loop": 2.0})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "it_fine.parquet",
        "network.json",
        "overview.png",
        "packs.parquet",
        "scenario.toml",
        "summary.json",
        "timeseries.parquet",
    ]
    t = pq.read_table(tmp_path / "timeseries.parquet")
    assert t.column_names == list(_row(0))  # time_s first, then the columns in the order of the first row
    assert np.array_equal(t.column("time_s").to_numpy(), np.arange(4) * DT)
    assert np.array_equal(t.column("pv_p_mw").to_numpy(), PV)
    packs = pq.read_table(tmp_path / "packs.parquet").to_pydict()
    assert packs["pack_id"] == [7, 8, 9] and packs["block"] == [0, 0, 1] and packs["time_s"] == [900.0] * 3
    fine_t = pq.read_table(tmp_path / "it_fine.parquet").to_pydict()
    assert fine_t["it_p_mw"] == [1.0, 2.0, 3.0] and fine_t["time_s"] == pytest.approx([0.0, 0.01, 0.02])
    assert len(pp.from_json(str(tmp_path / "network.json")).bus) == 1
    assert json.loads((tmp_path / "summary.json").read_text()) == s
    assert set(s["timing_s"]) == {"build", "loop", "finalize"} and list(s)[-1] == "timing_s"


def test_a_failed_run_still_writes_its_rows_and_summary(tmp_path):
    w = _writer(tmp_path, chunk_rows=2)
    _feed(w, 3)  # one chunk on disk, one row in the buffer
    s = w.finish("failed", "RuntimeError: the controller crashed")
    assert s["status"] == "failed" and s["interrupted"] is True and s["error"] == "RuntimeError: the controller crashed"
    assert pq.read_table(tmp_path / "timeseries.parquet").num_rows == 3 and s["n_rows"] == 3
    assert not (tmp_path / "timeseries.parts").exists()
    assert s["energy_mwh"]["pv_delivered"] == pytest.approx(sum(PV[:3]) * H)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "failed"
    assert (tmp_path / "overview.png").exists()


def test_a_run_that_failed_before_its_first_row(tmp_path):
    w = _writer(tmp_path)
    s = w.finish("failed", "ValueError: bad period")
    assert s["n_rows"] == 0 and s["n_steps"] == 0 and s["sim_time_s"] == 0.0
    assert s["soc_frac"]["min"] is None and s["v_pu"] == {"min": None, "max": None}  # no step: no extremes
    assert not (tmp_path / "timeseries.parquet").exists() and not (tmp_path / "overview.png").exists()
    json.loads((tmp_path / "summary.json").read_text())  # valid JSON: no NaN or infinity


def test_stale_files_of_an_earlier_run_are_removed(tmp_path):
    for name in ("timeseries.parquet", "summary.json", "overview.png", "packs.parquet", "it_fine.parquet"):
        (tmp_path / name).write_text("old")
    (tmp_path / "timeseries.parts").mkdir()
    (tmp_path / "timeseries.parts" / "part-00009.parquet").write_text("old")
    _writer(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timeseries.parts"]
    assert not any((tmp_path / "timeseries.parts").iterdir())


def test_the_sink_assembles_rows_from_sources_at_different_rates(tmp_path):
    """A slow source covers two steps per put (a scalar held, an array one value per step); rows are complete
    when every source has covered them; the accumulator sees every step, the writer every second one."""
    w = _writer(tmp_path)
    assert w.acc is not None
    sink = RowSink(w, w.acc, DT, n_steps=4, record_every=2)
    sink.register("Slow")
    sink.register("Fast")
    fast = {k: v for k, v in _row(0).items() if k not in ("time_s", "temp_amb_c", "pv_p_mw")}
    sink.put("Slow", 0, {"temp_amb_c": 30.0, "pv_p_mw": np.array([4.0, 3.0])}, n_sub=2)
    assert sink.next == 0  # the fast source has not spoken yet
    for i in range(2):
        sink.put("Fast", i, fast)
    assert sink.next == 2 and w.acc.steps == 2
    sink.put("Fast", 2, fast)  # ahead of the slow source: held back
    assert sink.next == 2
    sink.put("Slow", 2, {"temp_amb_c": 31.0, "pv_p_mw": np.array([2.0, 1.0])}, n_sub=2)
    sink.put("Fast", 3, fast)
    assert sink.next == 4 and w.acc.steps == 4 and not sink.pending
    assert w.acc.e["pv_delivered"] == pytest.approx((4 + 3 + 2 + 1) * H)
    assert w.acc.ext["temp_amb_max_c"] == 31.0
    w.finish("completed")
    t = pq.read_table(tmp_path / "timeseries.parquet")
    assert t.column("time_s").to_pylist() == [0.0, 2 * DT]  # every second step
    assert t.column("pv_p_mw").to_pylist() == [4.0, 2.0] and t.column("temp_amb_c").to_pylist() == [30.0, 31.0]


def test_accumulator_without_optional_columns():
    acc = Accumulator(1.0, (0.9, 1.1))
    row = {k: v for k, v in _row(0).items() if k not in ("temp_amb_c", "bess_headroom_p_mw", "it_site_max_p_mw")}
    acc.add(0.0, 1.0, row)
    assert acc.steps == 1 and acc.t_end_s == 1.0 and acc.v_out_of_band_steps == 0
    assert acc.ext["temp_amb_max_c"] == -math.inf and acc.ext["headroom_min_mw"] == math.inf
    assert acc.e["pv_delivered"] == pytest.approx(4.0 / 3600.0)


def test_a_slow_disk_does_not_hold_up_the_step(tmp_path, monkeypatch):
    """A chunk is written by the writer thread: with a disk taking 0.5 s per part (write_part slowed down, the
    real one called after the wait), the row that fills a chunk returns at once; the part and then the running
    summary that counts it land later, in that order, and the end of the run waits for them."""
    import time

    import adapters.io.results as results

    real = results.write_part
    landed: list[tuple[str, float]] = []

    def slow(parts, n, table):
        time.sleep(0.5)
        real(parts, n, table)
        landed.append(("part", time.perf_counter()))

    monkeypatch.setattr(results, "write_part", slow)
    w = _writer(tmp_path, chunk_rows=2)
    t0 = time.perf_counter()
    _feed(w, 2)
    assert time.perf_counter() - t0 < 0.25  # the step did not wait for the disk
    assert not (tmp_path / "timeseries.parts" / "part-00000.parquet").exists()
    w.wait_written()
    assert landed and json.loads((tmp_path / "summary.json").read_text())["n_rows"] == 2  # after the part
    for i in (2, 3):
        row = _row(i)
        assert w.acc is not None
        w.acc.add(row["time_s"], DT, row)
        w.add_row(row)
    s = w.finish("completed")
    assert s["n_rows"] == 4 and pq.read_table(tmp_path / "timeseries.parquet").num_rows == 4
