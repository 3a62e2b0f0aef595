"""Every simulator against the mosaik API 3 contract.

Upstream offers no full compliance checker: ``mosaik_api_v3.check_api_compliance``
checks only that ``init`` takes ``time_resolution`` and ``step`` takes
``max_advance`` (mosaik calls it on every simulator it starts), and
``mosaik_api_v3.types`` describes the meta and ``create`` results as
TypedDicts. So: the upstream check on every simulator class; the meta and
the ``create`` results validated against those TypedDicts; and one tick by
hand through init, create, step and get_data, the way mosaik calls them (inputs
as ``{eid: {attr: {source full id: value}}}``), checking what the contract
documents: ``init`` returns the meta, ``create`` one entity of a model the
meta names, ``step`` of a time-based simulator the time of its next step,
``get_data`` exactly the attributes asked for, all declared in the meta.
The HIL simulator needs a serial link or a session to get past ``init``: it
gets the signature and meta checks only (tests/integration/test_hil_*.py run it).
"""

from __future__ import annotations

import importlib
from typing import Any

import mosaik_api_v3
import pytest
from mosaik_api_v3.types import CreateResult, Meta
from pydantic import TypeAdapter

from adapters.sims.base import ModelSim
from adapters.world import SIM_CONFIG, initial_data, simulator_periods
from twin.config import Scenario
from twin.site import build_site

SIMS: dict[str, type[ModelSim]] = {}
for _name, _entry in SIM_CONFIG.items():
    _mod, _, _cls = _entry["python"].partition(":")
    SIMS[_name] = getattr(importlib.import_module(_mod), _cls)


@pytest.mark.parametrize("name", list(SIMS))
def test_upstream_api_compliance_check(name, capsys):
    assert mosaik_api_v3.check_api_compliance(SIMS[name]()) is True
    assert capsys.readouterr().out == ""  # no deprecation warning printed


@pytest.mark.parametrize("name", list(SIMS))
def test_meta_is_a_mosaik_api_3_meta(name):
    cls = SIMS[name]
    meta = TypeAdapter(Meta).validate_python(cls().meta, strict=True)
    assert meta["api_version"] == "3.0" and meta["type"] == "time-based"
    assert list(meta["models"]) == [cls.MODEL] == [name]  # the SIM_CONFIG name is the model's
    model = meta["models"][cls.MODEL]
    assert model["public"] is True and model["params"] == []
    attrs = list(model["attrs"])
    assert len(attrs) == len(set(attrs)) and set(attrs) == set(cls.ATTRS) | set(cls.INPUTS)


@pytest.fixture(scope="module")
def site():
    return build_site(Scenario.model_validate({"name": "api", "run": {"duration_s": 120}}))


def _inputs(eid: str, values: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """mosaik's input format: ``{eid: {attr: {"Source-0.source": value}}}``."""
    return {eid: {attr: {f"{src}-0.{src.lower()}": v} for attr, (src, v) in values.items()}}


def test_one_tick_through_init_create_step_get_data(site):
    sc = site.scenario
    step = sc.run.step_s
    periods = simulator_periods(sc)
    init0 = initial_data(site, step)
    sims: dict[str, ModelSim] = {}
    ents: dict[str, str] = {}
    for name in periods:  # the order of the data flow
        sim = SIMS[name]()
        meta = sim.init(f"{name}-0", time_resolution=step, site=site, period_s=periods[name])
        assert meta == sim.meta
        created = TypeAdapter(list[CreateResult]).validate_python(sim.create(1, name))
        assert len(created) == 1 and created[0]["type"] in meta["models"]
        with pytest.raises(ValueError):
            sim.create(2, name)  # one entity per simulator
        sims[name], ents[name] = sim, created[0]["eid"]
    out: dict[str, dict[str, Any]] = {}

    def tick(name: str, values: dict[str, tuple[str, Any]]) -> None:
        sim, eid = sims[name], ents[name]
        nxt = sim.step(0, _inputs(eid, values) if values else {}, max_advance=sc.n_steps)
        assert nxt == int(round(periods[name] / step))  # time-based: the time of its next step
        attrs = list(SIMS[name].ATTRS)
        data = sim.get_data({eid: attrs})
        assert list(data) == [eid] and list(data[eid]) == attrs
        assert set(data[eid]) <= set(sim.meta["models"][name]["attrs"])
        assert all(v is not None for v in data[eid].values())  # mosaik reads None as "no output"
        out[name] = data[eid]

    tick("Ambient", {})
    amb = out["Ambient"]
    tick("PV", {"temp_amb_c": ("Ambient", amb["temp_amb_c"])})
    tick(
        "DataCenter",
        {
            "temp_amb_c": ("Ambient", amb["temp_amb_c"]),
            "temp_wb_c": ("Ambient", amb["temp_wb_c"]),
            "shed_tier": ("Controller", init0["shed_tier"]),
        },
    )
    tick(
        "Grid",
        {
            "pv_avail_p_mw": ("PV", out["PV"]["pv_avail_p_mw"]),
            "dc_meas": ("DataCenter", out["DataCenter"]["dc_meas"]),
            "pv_p_limit_mw": ("Controller", init0["pv_p_limit_mw"]),
            "bess_charge_max_p_mw": ("Fleet", init0["bess_charge_max_p_mw"]),
            "bess_discharge_max_p_mw": ("Fleet", init0["bess_discharge_max_p_mw"]),
        },
    )
    tick(
        "Fleet",
        {
            "bess_p_mw": ("Grid", out["Grid"]["bess_p_mw"]),
            "pack_weights": ("Controller", init0["pack_weights"]),
            "temp_amb_c": ("Ambient", amb["temp_amb_c"]),
            "ghi_w_m2": ("PV", out["PV"]["ghi_w_m2"]),
        },
    )
    tick(
        "Controller",
        {"grid_meas": ("Grid", out["Grid"]["grid_meas"]), "fleet_meas": ("Fleet", out["Fleet"]["fleet_meas"])},
    )
    # the outputs line up with the site: one value per block, unit or pack
    info = site.info
    assert out["PV"]["pv_avail_p_mw"].values.shape == (int(periods["PV"] / step), info.n_pv_blocks)
    assert out["Grid"]["bess_p_mw"].shape == (info.n_bess_blocks,)
    assert out["Fleet"]["pack_soc_frac"].shape == (info.n_packs,)
    assert out["Controller"]["shed_tier"].shape == (info.n_spark_units,)
