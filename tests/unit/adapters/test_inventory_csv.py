"""Inventory CSV: a drawn fleet survives a round trip through the file; every kind of
bad row gets a message naming the file, the line, the column, the value and what is
allowed; events in a scenario are checked against the pack list."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from adapters.io.inventory_csv import COLUMNS, InventoryError, read_inventory_csv, write_inventory_csv
from adapters.io.scenario_file import load_inventory, load_scenario
from tests.conftest import SCENARIOS, run_cli, write_scenario
from twin.config import FleetModelConfig, ThermalConfig
from twin.errors import ScenarioFileError
from twin.fleet.inventory import FleetInventory, blocks_in_order, draw_inventory

TH = ThermalConfig()
HEADER = "pack_id,vehicle,chemistry,n_series,e_nom_kwh,soh_frac,r_factor,yard_x_m,yard_y_m,block"
# four good packs, two per block of a two-block site
ROWS = (
    "10,chevy_bolt_66,NMC,96,66,0.8,1.5,0,0,0",
    "11,tesla_m3_lfp_60,LFP,106,60,0.7,1.3,2,0,0",
    "12,chevy_bolt_66,NMC,96,66,0.9,1.1,0,6,1",
    "13,nissan_leaf_62,LMO,96,62,0.6,1.9,2,6,1",
)


def write_csv(folder: Path, *rows: str, header: str = HEADER, name: str = "inv.csv") -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def read(path: Path, n_blocks: int = 2) -> FleetInventory:
    return read_inventory_csv(path, n_blocks, TH)


def assert_same(a: FleetInventory, b: FleetInventory) -> None:
    for f in dataclasses.fields(FleetInventory):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype.kind == y.dtype.kind, f.name
        assert np.array_equal(x, y), f.name


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize(("n_packs", "n_blocks", "seed"), [(805, 12, 7), (805, 12, 11), (37, 5, 3)])
def test_round_trip_of_a_drawn_fleet(tmp_path, n_packs, n_blocks, seed):
    inv = draw_inventory(FleetModelConfig(n_packs=n_packs), n_blocks, seed)
    path = tmp_path / "fleet.csv"
    write_inventory_csv(inv, path, comment="drawn for the test\nsecond line")
    assert path.read_text().startswith("# drawn for the test\n# second line\n" + ",".join(COLUMNS) + "\n")
    assert_same(read_inventory_csv(path, n_blocks, TH), inv)


def test_round_trip_without_the_optional_columns(tmp_path):
    """Without block and yard_row the defaults give back what the draw laid out."""
    inv = draw_inventory(FleetModelConfig(n_packs=100), 4, 5)
    full = tmp_path / "full.csv"
    write_inventory_csv(inv, full)
    lines = full.read_text().splitlines()
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(",".join(line.split(",")[:9]) for line in lines) + "\n")
    assert_same(read_inventory_csv(cut, 4, TH), inv)


def test_shipped_example_is_the_pilot_draw():
    path = SCENARIOS / "data" / "pilot-inventory.csv"
    assert "draw_inventory(twin.config.FleetModelConfig(), 12, seed=7)" in path.read_text().split("pack_id")[0]
    inv = read_inventory_csv(path, 12, TH)
    assert inv.n_packs == 805 and set(inv.block.tolist()) == set(range(12))
    assert set(inv.chemistry.tolist()) <= {"NMC", "LFP", "LMO"}


def test_shipped_inventory_scenario_loads_with_an_absolute_path():
    sc = load_scenario(SCENARIOS / "pilot-inventory-1h.toml")
    path = Path(sc.models.fleet.inventory_csv)
    assert path.is_absolute() and path == (SCENARIOS / "data" / "pilot-inventory.csv").resolve()
    assert sc.models.fleet.n_packs == 805 and not sc.events
    inv = load_inventory(sc)
    assert inv is not None and inv.n_packs == 805
    assert load_inventory(load_scenario(SCENARIOS / "pilot-1h.toml")) is None


# ------------------------------------------------------- layout and defaults
def test_rows_are_sorted_stably_by_block(tmp_path):
    path = write_csv(
        tmp_path,
        "5,a,NMC,96,66,0.8,1.5,0,0,1",
        "3,a,NMC,96,66,0.8,1.5,2,0,0",
        "9,b,LFP,96,66,0.8,1.5,4,0,1",
        "1,b,LFP,96,66,0.8,1.5,6,0,0",
        "7,c,nmc,96,66,0.8,1.5,8,0,1",
    )
    inv = read(path)
    assert inv.pack_id.tolist() == [3, 1, 5, 9, 7]
    assert inv.block.tolist() == [0, 0, 1, 1, 1]
    assert inv.yard_x_m.tolist() == [2, 6, 0, 4, 8]
    assert inv.chemistry.tolist()[-1] == "NMC"  # accepted in any case, stored upper-case
    assert inv.index_of([7, 3]).tolist() == [4, 0]


def test_without_block_column_packs_spread_in_file_order(tmp_path):
    header = "pack_id,vehicle,chemistry,n_series,e_nom_kwh,soh_frac,r_factor,yard_x_m,yard_y_m"
    rows = [f"{100 - i},v,NMC,96,66,0.8,1.5,{2 * i},0" for i in range(7)]
    inv = read(write_csv(tmp_path, *rows, header=header), n_blocks=3)
    assert inv.block.tolist() == blocks_in_order(7, 3).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert inv.pack_id.tolist() == list(range(100, 93, -1))


def test_yard_row_defaults_to_the_rank_of_yard_y(tmp_path):
    rows = (
        "1,v,NMC,96,66,0.8,1.5,0,10.5,0",
        "2,v,NMC,96,66,0.8,1.5,0,4,0",
        "3,v,NMC,96,66,0.8,1.5,2,10.5,1",
        "4,v,NMC,96,66,0.8,1.5,0,7,1",
    )
    assert read(write_csv(tmp_path, *rows)).yard_row.tolist() == [2, 0, 2, 1]
    given = write_csv(tmp_path, *(r + f",{k}" for k, r in enumerate(rows)), header=HEADER + ",yard_row", name="r.csv")
    assert read(given).yard_row.tolist() == [0, 1, 2, 3]


def test_columns_in_any_order_comments_blank_lines_and_bom(tmp_path):
    path = tmp_path / "inv.csv"
    path.write_text(
        "\ufeff# exported from the yard database\n\n"
        "block,yard_y_m,yard_x_m,r_factor,soh_frac,e_nom_kwh,n_series,chemistry,vehicle,pack_id\n"
        "   # a comment between rows\n"
        '0,0,0,1.5,0.8,66,96,NMC,"Chevrolet Bolt, 2019",1\n\n'
        "1, 6 , 0 ,1,1,60,106,lfp,tesla,2\n",
        encoding="utf-8",
    )
    inv = read(path)
    assert inv.vehicle.tolist() == ["Chevrolet Bolt, 2019", "tesla"]
    assert inv.e_nom_mwh.tolist() == [0.066, 0.06] and inv.yard_y_m.tolist() == [0, 6]


# ---------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("soh_frac", "1.7", r"must be in \(0, 1\]"),
        ("soh_frac", "0", r"must be in \(0, 1\]"),
        ("soh_frac", "high", r"must be a number in \(0, 1\]"),
        ("r_factor", "0.9", r"must be in \[1, 5\]"),
        ("e_nom_kwh", "501", r"must be in \(0, 500\]"),
        ("e_nom_kwh", "inf", r"must be a finite number in \(0, 500\]"),
        ("n_series", "3", r"must be an integer in \[4, 400\]"),
        ("n_series", "96.5", r"must be an integer in \[4, 400\]"),
        ("pack_id", "-1", r"must be an integer >= 0"),
        ("pack_id", "P-12", r"must be an integer >= 0"),
        ("block", "2", r"must be an integer in \[0, 1\]"),
        ("yard_x_m", "nan", r"must be a finite number"),
        ("chemistry", "XYZ", r"must be one of NMC, LFP, LMO \(any case\)$"),
        (
            "chemistry",
            "nca",
            (
                r"must be one of NMC, LFP, LMO \(any case\); NCA cells are not modelled, give the "
                r"closest of these$"
            ),
        ),
    ],
)
def test_bad_value_names_file_line_column_value_and_what_is_allowed(tmp_path, column, value, message):
    j = HEADER.split(",").index(column)
    fields = ROWS[2].split(",")
    fields[j] = value
    path = write_csv(tmp_path, ROWS[0], ROWS[1], ",".join(fields), ROWS[3])
    with pytest.raises(
        InventoryError,
        match=rf"^{re.escape(str(path))}:4: column '{column}' = "
        rf"'{re.escape(value)}': {message}",
    ):
        read(path)


def test_chemistry_typo_gets_a_suggestion(tmp_path):
    path = write_csv(tmp_path, ROWS[0], ROWS[1].replace(",LFP,", ",LPF,"), *ROWS[2:])
    with pytest.raises(
        InventoryError,
        match=r"inv\.csv:3: column 'chemistry' = 'LPF': must be one of NMC, LFP, LMO "
        r"\(any case\); did you mean 'LFP'\?",
    ):
        read(path)


def test_empty_cell_and_wrong_field_count(tmp_path):
    path = write_csv(tmp_path, ROWS[0].replace(",chevy_bolt_66,", ",,"), ROWS[1] + ",7", *ROWS[2:])
    with pytest.raises(InventoryError) as ei:
        read(path)
    msg = str(ei.value)
    assert msg.startswith(f"{path}: 2 problems in the inventory:\n")
    assert f"  {path}:2: column 'vehicle' is empty\n" in msg
    assert msg.endswith(f"  {path}:3: 11 fields, the header has 10")


def test_every_problem_is_reported_at_once_with_its_line(tmp_path):
    path = tmp_path / "inv.csv"
    path.write_text(
        "# two comment lines\n#\n"
        + HEADER
        + "\n"
        + ROWS[0]
        + "\n\n"
        + ROWS[1].replace("0.7", "1.7")
        + "\n"
        + ROWS[2].replace(",96,", ",1000,")
        + "\n"
        + ROWS[3].replace("LMO", "lmx")
        + "\n"
    )
    with pytest.raises(InventoryError) as ei:
        read(path)
    assert str(ei.value).splitlines() == [
        f"{path}: 3 problems in the inventory:",
        f"  {path}:6: column 'soh_frac' = '1.7': must be in (0, 1]",
        f"  {path}:7: column 'n_series' = '1000': must be an integer in [4, 400]",
        f"  {path}:8: column 'chemistry' = 'lmx': must be one of NMC, LFP, LMO (any case); did you mean 'LMO'?",
    ]


def test_long_lists_of_problems_are_cut(tmp_path):
    path = write_csv(tmp_path, *(f"{i},v,NMC,96,66,1.5,1.5,{2 * i},0,{i % 2}" for i in range(100)))
    with pytest.raises(InventoryError, match=r"100 problems in the inventory:\n(.*\n){40}  \.\.\. and 60 more$"):
        read(path)


def test_duplicate_pack_ids_name_both_lines(tmp_path):
    path = write_csv(tmp_path, ROWS[0], ROWS[1], ROWS[2].replace("12,", "10,", 1), ROWS[3])
    with pytest.raises(
        InventoryError,
        match=r"inv\.csv:4: column 'pack_id' = '10': repeated; pack ids must be unique "
        r"\(first on line 2\)",
    ):
        read(path)


def test_two_packs_at_one_position(tmp_path):
    path = write_csv(tmp_path, ROWS[0], ROWS[1], ROWS[2], ROWS[3].replace(",2,6,", ",0,6,"))
    with pytest.raises(
        InventoryError,
        match=r"inv\.csv:5: columns 'yard_x_m', 'yard_y_m' = '0', '6': another pack "
        r"stands there \(line 4\)",
    ):
        read(path)


def test_every_block_needs_a_pack(tmp_path):
    path = write_csv(tmp_path, *ROWS)
    with pytest.raises(
        InventoryError,
        match=rf"^{re.escape(str(path))}: column 'block': no pack feeds blocks 2\.\.4; "
        r"every block 0\.\.4 needs at least one pack$",
    ):
        read(path, n_blocks=5)
    header = HEADER.removesuffix(",block")
    few = write_csv(tmp_path, *(r.rsplit(",", 1)[0] for r in ROWS), header=header, name="few.csv")
    with pytest.raises(InventoryError, match=r"few\.csv: 4 packs cannot fill the site's 5 battery blocks"):
        read(few, n_blocks=5)


# ------------------------------------------------------------------ bad files
def test_misspelled_and_missing_columns(tmp_path):
    header = "pack_id,vehicel,chemistry,n_series,e_nom_kwh,SOH_frac,yard_x_m,yard_y_m,block"
    path = write_csv(tmp_path, "1,a,NMC,96,66,0.8,0,0,0", header=header)
    with pytest.raises(InventoryError) as ei:
        read(path)
    lines = str(ei.value).splitlines()
    assert lines[0] == f"{path}: 3 problems in the inventory:"
    assert lines[1].startswith(
        f"  {path}:1: unknown column 'vehicel'; did you mean 'vehicle'? Allowed columns: pack_id, vehicle, chemistry,"
    )
    assert lines[2].startswith(f"  {path}:1: unknown column 'SOH_frac'; did you mean 'soh_frac'?")
    assert lines[3].startswith(f"  {path}:1: missing required column 'r_factor' (required: pack_id, vehicle,")


def test_header_problems_on_the_header_line(tmp_path):
    path = tmp_path / "inv.csv"
    path.write_text("# comment\n" + HEADER + ",soh_frac\n" + ROWS[0] + ",0.8\n")
    with pytest.raises(InventoryError, match=r"inv\.csv:2: column 'soh_frac' appears twice in the header"):
        read(path)
    path.write_text(ROWS[0] + "\n" + ROWS[1] + "\n")
    with pytest.raises(
        InventoryError,
        match=r"inv\.csv:1: the first row is not a header: expected the column names "
        r"\(pack_id, vehicle,",
    ):
        read(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"inv\.csv: the inventory is empty: expected a header row"),
        ("# only a comment\n\n   \n", r"inv\.csv: the inventory is empty"),
        (HEADER + "\n# no packs\n", r"inv\.csv:1: the inventory has a header but no pack rows"),
    ],
)
def test_empty_files(tmp_path, text, message):
    path = tmp_path / "inv.csv"
    path.write_text(text)
    with pytest.raises(InventoryError, match=message):
        read(path)


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "inv.csv"
    latin = "13,Citro\xebn,NMC,96,66,0.8,1.5,9,9,1\n".encode("latin-1")
    path.write_bytes((HEADER + "\n" + ROWS[0] + "\n").encode() + latin)
    with pytest.raises(
        InventoryError,
        match=r"inv\.csv:3: not UTF-8 text \(byte 0xeb at offset \d+\); "
        r"save the file as UTF-8 CSV",
    ):
        read(path)


def test_missing_file_suggests_a_close_name(tmp_path):
    write_csv(tmp_path, *ROWS, name="pilot-inventory.csv")
    with pytest.raises(
        InventoryError,
        match=r"pilot-inventroy\.csv: no such inventory file; did you mean "
        r"'.*pilot-inventory\.csv'\?",
    ):
        read(tmp_path / "pilot-inventroy.csv")
    with pytest.raises(InventoryError, match=r"nothing\.csv: no such inventory file$"):
        read(tmp_path / "nothing.csv")
    with pytest.raises(InventoryError, match=r"cannot read the file"):
        read(tmp_path)


# ----------------------------------------------------------- through the scenario
SCEN = """name = "inv"
[run]
duration_s = 60

[site.bess]
n_blocks = 2

[models.fleet]
inventory_csv = "data/inv.csv"
"""


def scenario_with(tmp_path: Path, events: str = "", extra_fleet: str = "") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    if not (tmp_path / "data" / "inv.csv").exists():
        write_csv(tmp_path / "data", *ROWS)
    return write_scenario(tmp_path, "inv", SCEN + extra_fleet + events)


def line_of(path: Path, text: str, nth: int = 0) -> int:
    return [i for i, ln in enumerate(path.read_text().splitlines(), start=1) if ln.startswith(text)][nth]


def test_path_is_relative_to_the_scenario_and_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).parent)
    sc = load_scenario(scenario_with(tmp_path))
    assert sc.models.fleet.inventory_csv == str((tmp_path / "data" / "inv.csv").resolve())
    assert sc.models.fleet.n_packs == 4
    inv = load_inventory(sc)
    assert inv is not None and inv.pack_id.tolist() == [10, 11, 12, 13]
    assert load_scenario(SCENARIOS / "pilot-1h.toml").models.fleet.inventory_csv is None


def test_bad_csv_is_reported_at_the_scenario_key(tmp_path):
    path = scenario_with(tmp_path)
    write_csv(tmp_path / "data", ROWS[0].replace("0.8", "1.7"), *ROWS[1:])
    line = line_of(path, "inventory_csv")
    csv_path = tmp_path / "data" / "inv.csv"
    with pytest.raises(
        ScenarioFileError,
        match=rf"^{re.escape(str(path))}:{line}: models\.fleet\.inventory_csv = "
        rf"'data/inv\.csv': {re.escape(str(csv_path))}:2: column 'soh_frac' = "
        r"'1\.7': must be in \(0, 1\]$",
    ):
        load_scenario(path)
    p = run_cli(["validate", str(path)])
    assert p.returncode == 2 and "column 'soh_frac' = '1.7'" in p.stderr and "Traceback" not in p.stderr


def test_missing_csv_through_the_scenario(tmp_path):
    path = scenario_with(tmp_path)
    (tmp_path / "data" / "inv.csv").rename(tmp_path / "data" / "inventory.csv")
    with pytest.raises(
        ScenarioFileError,
        match=r"inv\.toml:\d+: models\.fleet\.inventory_csv = 'data/inv\.csv': "
        r".*inv\.csv: no such inventory file; did you mean '.*inventory\.csv'\?",
    ):
        load_scenario(path)


def test_csv_problems_and_scenario_problems_together(tmp_path):
    path = scenario_with(tmp_path, events='\n[[events]]\nat_s = 120\nkind = "trip_bess_block"\nblock = 0\n')
    write_csv(tmp_path / "data", ROWS[0].replace("0.8", "1.7"), ROWS[1].replace("1.3", "9"), *ROWS[2:])
    with pytest.raises(ScenarioFileError) as ei:
        load_scenario(path)
    lines = str(ei.value).splitlines()
    assert lines[0] == f"{path}: 2 problems in the scenario:"
    assert lines[1].endswith("events[0].at_s: 120 is after the end of the run (60 s)")
    assert lines[2].endswith(": 2 problems in the inventory:") and "models.fleet.inventory_csv" in lines[2]
    assert lines[3].startswith("    ") and lines[3].endswith("inv.csv:2: column 'soh_frac' = '1.7': must be in (0, 1]")
    assert lines[4].endswith("inv.csv:3: column 'r_factor' = '9': must be in [1, 5]")


def event(kind: str, **keys: object) -> str:
    body = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in keys.items())
    return f'\n[[events]]\nat_s = 10\nkind = "{kind}"\n{body}'


def test_events_are_checked_against_the_inventory(tmp_path):
    events = (
        event("trip_packs", packs=[10, 14, 99])
        + event("weak_cell", vehicle="chevy_bolt66")
        + event("bms_reset", yard_row=5)
        + event("thermal_runaway", pack=0)
        + event("restore_packs", block=2)
    )
    path = scenario_with(tmp_path, events=events)
    with pytest.raises(ScenarioFileError) as ei:
        load_scenario(path)
    msg = str(ei.value)
    assert msg.startswith(f"{path}: 5 problems in the scenario:\n")
    assert (
        f"{path}:{line_of(path, 'packs')}: events[0].packs: trip_packs: packs 14, 99 not in the inventory "
        "data/inv.csv (pack ids: 10..13)"
    ) in msg
    assert (
        f"{path}:{line_of(path, 'vehicle')}: events[1].vehicle: weak_cell: vehicle 'chevy_bolt66' is not in the "
        "inventory data/inv.csv; did you mean 'chevy_bolt_66'? Allowed: chevy_bolt_66, nissan_leaf_62, "
        "tesla_m3_lfp_60"
    ) in msg
    assert (
        f"{path}:{line_of(path, 'yard_row')}: events[2].yard_row: bms_reset: no pack of the inventory "
        "data/inv.csv stands in yard row 5 (rows: 0..1)"
    ) in msg
    assert (
        f"{path}:{line_of(path, 'pack =')}: events[3].pack: thermal_runaway: pack 0 not in the inventory data/inv.csv"
    ) in msg
    assert (
        f"{path}:{line_of(path, 'block')}: events[4].block: restore_packs: block 2 does not exist (blocks are 0..1)"
    ) in msg


def test_selectors_that_match_no_pack_together(tmp_path):
    path = scenario_with(tmp_path, events=event("trip_packs", vehicle="tesla_m3_lfp_60", block=1))
    with pytest.raises(
        ScenarioFileError,
        match=r"inv\.toml:\d+: events\[0\]\.kind: trip_packs: selects no pack of the "
        r"inventory data/inv\.csv: no pack matches vehicle = 'tesla_m3_lfp_60' "
        r"and block = 1 together",
    ):
        load_scenario(path)


def test_events_that_fit_the_inventory(tmp_path):
    """Pack ids beyond models.fleet.n_packs are fine when the inventory has them; selectors of the mix are not used."""
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data", *ROWS[:3], ROWS[3].replace("13,", "5000,", 1))
    events = (
        event("trip_packs", packs=[5000, 10])
        + event("weak_cell", vehicle="chevy_bolt_66", yard_row=1)
        + event("thermal_runaway", pack=5000)
        + event("bms_reset", block=1)
    )
    sc = load_scenario(scenario_with(tmp_path, events=events))
    inv = load_inventory(sc)
    assert inv is not None
    assert inv.select(packs=(5000, 10)).tolist() == [0, 3]
    assert inv.select(vehicle="chevy_bolt_66", yard_row=1).tolist() == [2]


def test_n_packs_must_agree_with_the_inventory(tmp_path):
    path = scenario_with(tmp_path, extra_fleet="n_packs = 805\n")
    with pytest.raises(
        ScenarioFileError,
        match=rf"inv\.toml:{line_of(path, 'n_packs')}: models\.fleet\.n_packs: 805 but "
        r"data/inv\.csv lists 4 packs; leave n_packs out",
    ):
        load_scenario(path)
    path.write_text(SCEN + "n_packs = 4\n")
    assert load_scenario(path).models.fleet.n_packs == 4


def test_load_inventory_reports_a_file_gone_since_loading(tmp_path):
    sc = load_scenario(scenario_with(tmp_path))
    (tmp_path / "data" / "inv.csv").unlink()
    with pytest.raises(
        ScenarioFileError, match=r"models\.fleet\.inventory_csv = '.*inv\.csv': .*no such inventory file"
    ):
        load_inventory(sc)


def test_resolved_scenario_reads_the_same_inventory_from_elsewhere(tmp_path):
    """The results' scenario.toml (defaults filled in, absolute path) loads from any folder."""
    import tomli_w

    sc = load_scenario(scenario_with(tmp_path))
    elsewhere = tmp_path / "results" / "run1"
    elsewhere.mkdir(parents=True)
    resolved = elsewhere / "scenario.toml"
    resolved.write_text(tomli_w.dumps(sc.model_dump(mode="json", by_alias=True, exclude_none=True)))
    again = load_scenario(resolved)
    assert again == sc
    a, b = load_inventory(sc), load_inventory(again)
    assert a is not None and b is not None
    assert_same(a, b)
