"""Which simulator applies which scenario event: each kind of the ``Event`` union has exactly one owner.

The simulators declare the kinds they own (``EVENT_KINDS``: applied and
logged) and the kinds another owns that they also act on
(``EVENT_KINDS_FOLLOWED``); adapters/sims/base.py says why each follower
follows.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import get_args

import pytest

from adapters.sims.base import EventQueue, ModelSim, event_owners
from adapters.world import SIM_CONFIG
from twin.config import EVENT_KINDS, Event


def _simulators() -> list[type[ModelSim]]:
    out = []
    for entry in SIM_CONFIG.values():
        mod, _, name = entry["python"].partition(":")
        out.append(getattr(importlib.import_module(mod), name))
    return out


SIMS = _simulators()
UNION_KINDS = [get_args(m.model_fields["kind"].annotation)[0] for m in get_args(get_args(Event)[0])]


def test_every_kind_of_the_event_union_has_exactly_one_owner():
    owners = event_owners(SIMS)
    assert set(owners) == set(UNION_KINDS), "kinds nobody owns, or declared kinds that are no event"
    shared = {k: v for k, v in owners.items() if len(v) != 1}
    assert not shared, f"kinds with more than one owner: {shared}"


def test_followed_kinds_exist_and_are_owned_by_another_simulator():
    owners = event_owners(SIMS)
    for cls in SIMS:
        assert cls.EVENT_KINDS <= set(UNION_KINDS), cls.MODEL
        assert cls.EVENT_KINDS_FOLLOWED <= set(UNION_KINDS), cls.MODEL
        assert not cls.EVENT_KINDS & cls.EVENT_KINDS_FOLLOWED, cls.MODEL
        for kind in cls.EVENT_KINDS_FOLLOWED:
            assert owners[kind] != [cls.MODEL], f"{cls.MODEL} follows {kind}, which it owns"


def test_the_routing_of_today():
    """The owners and followers as documented (adapters/sims/base.py, docs/architecture.md)."""
    owners = {k: v[0] for k, v in event_owners(SIMS).items()}
    assert {k for k, v in owners.items() if v == "Fleet"} == {
        "trip_bess_block",
        "restore_bess_block",
        "trip_packs",
        "restore_packs",
        "weak_cell",
        "thermal_runaway",
        "bms_reset",
    }
    assert {k for k, v in owners.items() if v == "PV"} == {"trip_pv_block", "restore_pv_block"}
    assert {k for k, v in owners.items() if v == "Ambient"} == {"ambient"}
    assert {k for k, v in owners.items() if v == "HIL"} == {"hil_setop"}
    assert owners["cooling_pump_trip"] == owners["job_crash"] == "DataCenter"
    followed = {cls.MODEL: cls.EVENT_KINDS_FOLLOWED for cls in SIMS if cls.EVENT_KINDS_FOLLOWED}
    assert followed == {
        "Grid": {"trip_bess_block", "restore_bess_block", "trip_pv_block", "restore_pv_block"},
        "HIL": {"bms_reset"},
    }


def test_every_simulator_builds_its_queues_from_its_declarations():
    """No simulator builds an EventQueue of its own kinds: each goes through ModelSim.event_queue, which
    refuses kinds the class does not declare (read from the source, so a new simulator is covered too)."""
    import adapters.sims as sims

    pkg = Path(sims.__file__).parent
    direct = [p.name for p in pkg.glob("*.py") if p.name != "base.py" and "EventQueue(" in p.read_text()]
    assert not direct, f"simulators building EventQueue directly: {direct}"


def test_config_event_kinds_are_the_union_tags():
    assert list(EVENT_KINDS) == UNION_KINDS


class _Ev:
    def __init__(self, at_s: float, kind: str):
        self.at_s, self.kind = at_s, kind


def test_event_queue_hands_out_its_kinds_in_time_order():
    evs = [_Ev(5.0, "a"), _Ev(1.0, "b"), _Ev(1.0, "a"), _Ev(3.0, "c"), _Ev(2.0, "a")]
    q = EventQueue(evs, {"a", "b"})
    assert [(e.at_s, e.kind) for e in q.due(1.0)] == [(1.0, "b"), (1.0, "a")]  # same time: scenario order
    assert q.due(1.5) == []
    assert [e.at_s for e in q.due_before(5.0)] == [2.0]  # strictly before
    assert [e.at_s for e in q.due(5.0)] == [5.0]  # at or before
    assert q.due(100.0) == []


def test_a_simulator_cannot_queue_kinds_it_does_not_declare():
    from adapters.sims.ambient import AmbientSim

    sim = AmbientSim()

    class _Site:
        class scenario:  # noqa: N801 - stands in for the scenario
            events = [_Ev(0.0, "ambient"), _Ev(0.0, "trip_packs")]

    sim.site = _Site()  # type: ignore[assignment]
    assert [e.kind for e in sim.event_queue().due(0.0)] == ["ambient"]
    with pytest.raises(ValueError, match="does not declare the event kinds"):
        sim.event_queue({"trip_packs"})
