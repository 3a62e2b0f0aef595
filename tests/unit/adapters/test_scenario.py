"""Scenario files: the shipped ones validate; every kind of mistake gets a clear
message (file, line, key, value, what is allowed, a suggestion) and exit status 2."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from adapters.io.scenario_file import load_inventory, load_scenario
from tests.conftest import SCENARIOS, run_cli, write_scenario
from twin.config import Scenario, check_hil_packs
from twin.controller import ReferenceController, unknown_params
from twin.errors import InputError, ScenarioFileError

GOOD = (SCENARIOS / "pilot-1h.toml").read_text()


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_validate(path: Path):
    p = run_cli(["validate", str(path)])
    assert p.returncode == 0, p.stderr
    assert ": ok:" in p.stdout


def test_default_scenario_is_the_pilot_summer_day():
    sc = load_scenario(SCENARIOS / "pilot-summer-day.toml")
    assert sc.models.fleet.n_packs == 805 and sc.site.spark.n_units == 4
    assert sc.run.duration_s == 86400 and sc.run.step_s == 1.0
    assert sc.run.start.month == 7 and sc.models.pv.cloud_mode == "partly_cloudy"


def test_misspelled_key_cli_exit_2_names_file_line_key_and_suggestion(tmp_path):
    bad = write_scenario(tmp_path, "typo", GOOD.replace("step_s = 1.0", "step_sz = 1.0"))
    p = run_cli(["validate", str(bad)])
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    line = GOOD.splitlines().index("step_s = 1.0") + 1
    assert re.search(rf"{re.escape(str(bad))}:{line}: unknown key 'run.step_sz'; did you mean 'step_s'\?", p.stderr), (
        p.stderr
    )
    # the same through `twin run`
    p = run_cli(["run", str(bad), "--out", str(tmp_path / "out")])
    assert p.returncode == 2 and "did you mean 'step_s'" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists()


def test_out_of_range_value_says_what_is_allowed(tmp_path):
    bad = write_scenario(tmp_path, "neg", GOOD.replace("step_s = 1.0", "step_s = -1"))
    with pytest.raises(
        ScenarioFileError, match=r"neg\.toml:\d+: run\.step_s = -1: Input should be greater than or equal to 0\.1"
    ):
        load_scenario(bad)


def test_bad_choice_lists_choices_and_suggests(tmp_path):
    bad = write_scenario(tmp_path, "cloud", GOOD + '\n[models.pv]\ncloud_mode = "partly_cloud"\n')
    with pytest.raises(
        ScenarioFileError,
        match=r"models\.pv\.cloud_mode = 'partly_cloud': Input should be 'clear', "
        r"'partly_cloudy' or 'overcast'; did you mean 'partly_cloudy'\?",
    ):
        load_scenario(bad)


def test_unknown_event_kind_suggests_the_close_one(tmp_path):
    bad = write_scenario(tmp_path, "ev", GOOD.replace('kind = "trip_pv_block"', 'kind = "trip_pv_blok"'))
    with pytest.raises(
        ScenarioFileError,
        match=r"events\[3\]\.kind = 'trip_pv_blok' is not an event kind; "
        r"did you mean 'trip_pv_block'\? Allowed: trip_bess_block",
    ):
        load_scenario(bad)


def test_event_pointing_at_a_missing_block(tmp_path):
    bad = write_scenario(tmp_path, "blk", GOOD.replace("block = 3", "block = 30", 1))
    line = GOOD.splitlines().index("block = 3") + 1
    with pytest.raises(
        ScenarioFileError,
        match=rf"blk\.toml:{line}: events\[0\]\.block: trip_bess_block: block 30 does "
        r"not exist \(blocks are 0\.\.11\)",
    ):
        load_scenario(bad)


def test_every_problem_is_reported_at_once(tmp_path):
    text = GOOD.replace("step_s = 1.0", "step_sz = 1.0").replace("seed = 11", "seed = -4")
    bad = write_scenario(tmp_path, "two", text)
    with pytest.raises(ScenarioFileError) as ei:
        load_scenario(bad)
    msg = str(ei.value)
    assert "2 problems" in msg and "step_sz" in msg and "run.seed = -4" in msg


def test_misspelled_nested_table_and_controller_param(tmp_path):
    bad = write_scenario(tmp_path, "tbl", GOOD + "\n[site.spakr]\nn_units = 4\n")
    with pytest.raises(ScenarioFileError, match=r"unknown key 'site\.spakr'; did you mean 'spark'\?"):
        load_scenario(bad)
    bad = write_scenario(tmp_path, "par", GOOD + "\n[controller.params]\nsoc_ful_frac = 0.9\n")
    with pytest.raises(
        ScenarioFileError,
        match=r"par\.toml:\d+: unknown key 'controller\.params\.soc_ful_frac' for "
        r"ReferenceController; did you mean 'soc_full_frac'\?",
    ):
        load_scenario(bad)


def test_controller_class_that_does_not_import(tmp_path):
    bad = write_scenario(tmp_path, "ctl", GOOD + '\n[controller]\nclass = "twin.controller:ReferenceControler"\n')
    with pytest.raises(
        ScenarioFileError,
        match=r"controller\.class = 'twin\.controller:ReferenceControler': module "
        r"'twin\.controller' has no class 'ReferenceControler'; did you mean "
        r"'ReferenceController'\?",
    ):
        load_scenario(bad)
    bad = write_scenario(tmp_path, "ctl2", GOOD + '\n[controller]\nclass = "no_such_pkg.mod:Ctl"\n')
    with pytest.raises(ScenarioFileError, match=r"cannot import module 'no_such_pkg'"):
        load_scenario(bad)
    bad = write_scenario(tmp_path, "ctl3", GOOD + '\n[controller]\nclass = "twin.controller"\n')
    with pytest.raises(
        ScenarioFileError, match=r"controller\.class = 'twin\.controller': expected 'package\.module:ClassName'"
    ):
        load_scenario(bad)


def test_not_toml_and_missing_file(tmp_path):
    bad = write_scenario(tmp_path, "syntax", "[run\nstep_s = 1\n")
    with pytest.raises(ScenarioFileError, match=r"syntax\.toml: not valid TOML: .*line 1") as ei:
        load_scenario(bad)
    assert isinstance(ei.value.__cause__, tomllib.TOMLDecodeError)  # the library's error, for a debugger
    assert ei.value.exit_status == 2
    (tmp_path / "pilot.toml").write_text(GOOD)
    with pytest.raises(ScenarioFileError, match=r"no such scenario file; did you mean '.*pilot\.toml'\?"):
        load_scenario(tmp_path / "pilto.toml")
    p = run_cli(["validate", str(tmp_path / "nothing.toml")])
    assert p.returncode == 2 and "no such scenario file" in p.stderr


def test_duration_must_be_whole_steps(tmp_path):
    bad = write_scenario(tmp_path, "dur", GOOD.replace("duration_s = 3600", "duration_s = 3600.5"))
    with pytest.raises(
        ScenarioFileError, match=r"duration_s \(3600\.5\) must be a whole number of steps of step_s \(1\)"
    ):
        load_scenario(bad)


def test_bad_cli_arguments_exit_2():
    p = run_cli(["run"])
    assert p.returncode == 2 and "usage:" in p.stderr
    p = run_cli(["frobnicate"])
    assert p.returncode == 2


def test_periods_must_be_whole_electrical_steps(tmp_path):
    bad = write_scenario(tmp_path, "per", GOOD + "\n[models.ambient]\nstep_s = 2.5\n[models.pv]\nstep_s = 0.5\n")
    with pytest.raises(ScenarioFileError) as ei:
        load_scenario(bad)
    msg = str(ei.value)
    assert "2 problems" in msg
    assert re.search(
        r"per\.toml:\d+: models\.ambient\.step_s: 2\.5 is not a whole multiple of run\.step_s \(1 s\)", msg
    )
    assert "models.pv.step_s: 0.5 is not a whole multiple" in msg


def test_ambient_hours_in_order(tmp_path):
    bad = write_scenario(tmp_path, "amb", GOOD + "\n[models.ambient]\nhour_min = 16\nhour_max = 6\n")
    with pytest.raises(ScenarioFileError, match=r"models\.ambient = .*hour_max \(6\) must be after hour_min \(16\)"):
        load_scenario(bad)


def test_misspelled_key_inside_an_event(tmp_path):
    bad = write_scenario(tmp_path, "evkey", GOOD.replace("block = 3", "blok = 3", 1))
    with pytest.raises(
        ScenarioFileError, match=r"evkey\.toml:\d+: unknown key 'events\[0\]\.blok'; did you mean 'block'\?"
    ):
        load_scenario(bad)


def test_pack_event_errors_point_at_their_own_event(tmp_path):
    p = tmp_path / "packs.toml"
    p.write_text(
        '[run]\nduration_s = 3600\n\n[[events]]\nat_s = 10\nkind = "trip_bess_block"\nblock = 1\n\n'
        '[[events]]\nat_s = 20\nkind = "trip_packs"\n\n'
        '[[events]]\nat_s = 30\nkind = "weak_cell"\nvehicle = "chevy_bolt"\n\n'
        '[[events]]\nat_s = 40\nkind = "thermal_runaway"\npack = 900\n'
    )
    with pytest.raises(ScenarioFileError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    # the selector check names the event's own header line (9), not the first [[events]] (4)
    assert re.search(
        r"packs\.toml:9: events\[1\] = .*name the packs: give 'packs', 'vehicle', 'yard_row' or 'block'", msg
    )
    p.write_text(p.read_text().replace('[[events]]\nat_s = 20\nkind = "trip_packs"\n\n', ""))
    with pytest.raises(ScenarioFileError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    assert re.search(
        r"packs\.toml:12: events\[1\]\.vehicle: weak_cell: vehicle 'chevy_bolt' is not in models\.fleet\.mix; "
        r"did you mean 'chevy_bolt_66'\?",
        msg,
    )
    assert re.search(
        r"packs\.toml:17: events\[2\]\.pack: thermal_runaway: pack 900 does not exist \(packs are 0\.\.804\)", msg
    )


def test_hil_packs_must_be_in_the_fleet(tmp_path):
    """[hil] packs are checked by `twin validate` too, against the drawn fleet or the inventory CSV."""
    bad = write_scenario(tmp_path, "hil", GOOD + "\n[hil]\npacks = [0, 9999]\n")
    with pytest.raises(
        ScenarioFileError, match=r"hil\.toml:\d+: hil\.packs: pack 9999 not in the fleet \(pack ids: 0\.\.804\)"
    ):
        load_scenario(bad)
    inv = (SCENARIOS / "hil-one-pack.toml").read_text().replace("packs = [0]", "packs = [0, 9999]")
    inv = inv.replace('"data/pilot-inventory.csv"', repr(str(SCENARIOS / "data" / "pilot-inventory.csv")))
    bad = write_scenario(tmp_path, "hilinv", inv)
    with pytest.raises(ScenarioFileError, match=r"hil\.packs: pack 9999 not in the inventory .*pilot-inventory\.csv"):
        load_scenario(bad)
    # the one check, as `twin hil --packs` calls it: against the drawn fleet or the inventory
    sc = load_scenario(SCENARIOS / "hil-one-pack.toml")
    assert check_hil_packs(sc, [0]) == check_hil_packs(sc, [0], load_inventory(sc)) == []
    assert check_hil_packs(Scenario(), [3, 900, 901, 900]) == ["packs 900, 901 not in the fleet (pack ids: 0..804)"]
    (msg,) = check_hil_packs(sc, [0, 9999], load_inventory(sc))
    assert re.fullmatch(r"pack 9999 not in the inventory .*pilot-inventory\.csv \(pack ids: .*\)", msg), msg


def test_controller_params_are_checked_by_one_function(tmp_path):
    """The scenario file (with lines) and the controller itself (a scenario built in code) use unknown_params."""
    text = GOOD + "\n[controller.params]\nsoc_ful_frac = 0.9\nmin_dwel_s = 10\n"
    bad = write_scenario(tmp_path, "two_par", text)
    with pytest.raises(ScenarioFileError) as ei:
        load_scenario(bad)
    lines = text.splitlines()
    for key, near in (("soc_ful_frac", "soc_full_frac"), ("min_dwel_s", "min_dwell_s")):
        line = next(i for i, t in enumerate(lines, 1) if t.startswith(key))
        assert f"two_par.toml:{line}: unknown key 'controller.params.{key}' for ReferenceController; " in str(ei.value)
        assert f"did you mean '{near}'?" in str(ei.value)
    assert unknown_params(ReferenceController, {"soc_full_frac": 0.9}) == {}
    assert list(unknown_params(ReferenceController, {"zzz": 1})) == ["zzz"]
    assert (
        "zzz' for ReferenceController; Allowed keys here: charge_margin_frac"
        in unknown_params(ReferenceController, {"zzz": 1})["zzz"]
    )
    with pytest.raises(InputError, match=r"unknown key 'controller\.params\.soc_ful_frac'"):
        ReferenceController(None, {"soc_ful_frac": 0.9})  # type: ignore[arg-type]  # refused before the site is used
