"""twin.validation (close matches, lines in TOML, the one formatter of validation errors) and twin.errors."""

from __future__ import annotations

import inspect
import tomllib
from typing import Annotated, Literal

import pytest
from pydantic import Field, ValidationError

import twin.errors as errors
from twin.config import StrictModel
from twin.validation import (
    allowed_keys,
    close_match,
    did_you_mean,
    find_line,
    format_problems,
    format_validation_error,
    key_path,
)


# ----------------------------------------------------------------- close matches
def test_close_match_and_did_you_mean() -> None:
    assert close_match("step_sz", ["step_s", "seed", "duration_s"]) == "step_s"
    assert close_match("zzz", ["step_s", "seed"]) is None
    assert close_match("nmc", ["NMC", "LFP"]) is None  # case counts unless told
    assert close_match("nmc", ["NMC", "LFP"], fold_case=True) == "NMC"  # ... and the choice keeps its case
    assert close_match("ramp", ["ramp_time_s"]) is None  # difflib ratio 0.53 < 0.6
    assert close_match("ramp", ["ramp_time_s"], cutoff=0.5) == "ramp_time_s"
    assert did_you_mean("soc_ful_frac", ["soc_full_frac", "min_dwell_s"]) == "; did you mean 'soc_full_frac'?"
    assert did_you_mean("zzz", ["soc_full_frac"]) == ""
    assert did_you_mean("blok", ("block",), sep=" (") == " (did you mean 'block'?"
    assert did_you_mean("x", []) == ""


def test_key_path() -> None:
    assert key_path(("models", "fleet", "mix", 2, "share")) == "models.fleet.mix[2].share"
    assert key_path(("events", 0)) == "events[0]"
    assert key_path(()) == "(top level)"


# ----------------------------------------------------------------- lines in TOML
TOML = """\
name = "x"  # top level

[run]
step_s = 1.0
seed = 7

[[events]]
at_s = 1
kind = "trip_bess_block"

[[events]]
at_s = 2
kind = "trip_pv_block"
block = 3

[models.pv]
cloud_mode = "clear"
"""


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        (("name",), 1),
        (("run", "step_s"), 4),
        (("run", "seed"), 5),
        (("events", 0, "at_s"), 8),  # the first array item's key, not the second's
        (("events", 1, "at_s"), 12),
        (("events", 1, "block"), 14),
        (("events", 1), 11),  # an item of an array of tables: its own header
        (("events", 0, "block"), 7),  # a key an item lacks: that item's header
        (("models", "pv", "cloud_mode"), 17),
        (("models", "pv", "gcr"), 16),  # a missing key: its table's header
        (("site", "latitude_deg"), None),  # neither key nor table
    ],
)
def test_find_line(loc: tuple, line: int | None) -> None:
    assert find_line(TOML, loc) == line


# ----------------------------------------------------------------- the formatter
class _Inner(StrictModel):
    gain: float = Field(1.0, gt=0, le=10)
    mode: Literal["fast", "slow"] = "fast"


class _Trip(StrictModel):
    kind: Literal["trip_block"]
    at_s: float = Field(ge=0)
    block: int = Field(0, ge=0)


class _Restore(StrictModel):
    kind: Literal["restore_block"]
    at_s: float = Field(ge=0)


class _Doc(StrictModel):
    name: str = ""
    inner: _Inner = _Inner()
    events: tuple[Annotated[_Trip | _Restore, Field(discriminator="kind")], ...] = ()


DOC = """\
name = "doc"

[inner]
gain = 12
mode = "slo"

[[events]]
kind = "trip_block"
at_s = 5
blok = 2

[[events]]
kind = "restor_block"
at_s = 7
"""


def _messages(text: str) -> list[str]:
    data = tomllib.loads(text)
    with pytest.raises(ValidationError) as ei:
        _Doc.model_validate(data)
    return format_validation_error(ei.value, model=_Doc, source="doc.toml", text=text, data=data)


def test_format_validation_error_on_a_nested_model_with_a_union() -> None:
    msgs = _messages(DOC)
    assert len(msgs) == 4, msgs
    # out of range, with its line
    assert "doc.toml:4: inner.gain = 12: Input should be less than or equal to 10" in msgs
    # a bad choice with the close one
    assert any(m.startswith("doc.toml:5: inner.mode = 'slo': Input should be 'fast' or 'slow'") for m in msgs)
    assert any(m.endswith("did you mean 'slow'?") for m in msgs)
    # an unknown key inside an item of the union: matched against that member's keys, on its own line
    assert (
        "doc.toml:10: unknown key 'events[0].blok'; did you mean 'block'? Allowed keys here: at_s, block, kind" in msgs
    )
    # a wrong tag: the tags allowed, with the close one, at the item's header
    assert (
        "doc.toml:12: events[1].kind = 'restor_block' is not an event kind; did you mean 'restore_block'? "
        "Allowed: trip_block, restore_block"
    ) in msgs


def test_format_validation_error_without_text_or_suggestion() -> None:
    data = {"inner": {"zzzz": 1}}
    with pytest.raises(ValidationError) as ei:
        _Doc.model_validate(data)
    (msg,) = format_validation_error(ei.value, model=_Doc, source="doc", data=data)
    assert msg == "doc: unknown key 'inner.zzzz'; Allowed keys here: gain, mode"
    assert allowed_keys(_Doc, ("events", 0), {"events": [{"kind": "restore_block"}]}) == ["kind", "at_s"]
    assert allowed_keys(_Doc, ("name",)) is None


def test_format_problems() -> None:
    assert format_problems("f.toml", ["one"]) == "one"
    assert format_problems("f.toml", ["a", "b\nc"]) == "f.toml: 2 problems in the scenario:\n  a\n  b\n  c"
    many = format_problems("inv.csv", [f"p{i}" for i in range(5)], "the inventory", max_shown=2)
    assert many == "inv.csv: 5 problems in the inventory:\n  p0\n  p1\n  ... and 3 more"


# ----------------------------------------------------------------- the error tree
def test_every_twin_error_has_the_exit_status_of_its_branch() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.TwinError)]
    assert set(errors.__all__) == {c.__name__ for c in classes}
    branch_status = {errors.InputError: 2, errors.RunError: 1, errors.HilError: 1}
    for cls in classes:
        if cls is errors.TwinError:
            continue
        (branch,) = [b for b in branch_status if issubclass(cls, b)]  # exactly one branch
        assert cls.exit_status == branch_status[branch], cls
        assert issubclass(cls, ValueError if branch is errors.InputError else RuntimeError), cls
    assert {c for c in classes if issubclass(c, errors.InputError)} >= {
        errors.ScenarioFileError,
        errors.InventoryError,
        errors.DeviceFileError,
        errors.SessionError,
        errors.EmulatorConfigError,
    }
    assert issubclass(errors.PowerFlowDiverged, errors.RunError)
    assert issubclass(errors.SimulationAborted, errors.RunError)
    assert issubclass(errors.MapError, errors.HilError) and issubclass(errors.EmulatorError, errors.HilError)


def test_the_old_homes_of_the_errors_hand_out_the_same_classes() -> None:
    from adapters.io.inventory_csv import InventoryError
    from adapters.sims.base import SimulationAborted
    from twin.grid.powerflow import PowerFlowDiverged

    assert InventoryError is errors.InventoryError
    assert SimulationAborted is errors.SimulationAborted
    assert PowerFlowDiverged is errors.PowerFlowDiverged
    exc = PowerFlowDiverged("did not converge", {"load_p_mw": [1.0]})
    assert exc.injections == {"load_p_mw": [1.0]} and str(exc) == "did not converge"
    assert errors.PowerFlowDiverged("no source").injections == {}
