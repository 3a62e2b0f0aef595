"""The contract's register map (hil/sunspec_map.py): layout and point codecs from pysunspec2's definitions,
discovery of the chain as a SunSpec client walks it (no fixed addresses), the counters' wrap."""

from __future__ import annotations

import pytest

from hil.sunspec_map import (
    BASE_ADDR,
    MODEL_BATTERY,
    MODEL_COMMON,
    MODEL_HIL,
    MODEL_LION_STRING,
    SUNS_MARKER,
    Block,
    MapError,
    discover,
    next_count,
    split_ranges,
    standard_layout,
)


def image(locs: list, blocks: dict | None = None) -> dict[int, int]:
    """Register address -> value of a device with these models (the SunS marker, the models, the end)."""
    regs = {BASE_ADDR: SUNS_MARKER[0], BASE_ADDR + 1: SUNS_MARKER[1]}
    for loc in locs:
        if loc.model_id in (MODEL_COMMON, MODEL_BATTERY, MODEL_HIL):
            values = ((blocks or {}).get(loc.model_id) or Block(loc)).all_regs()
        else:  # a model the twin does not read (804): its ID, L and zeros
            values = [loc.model_id, loc.length] + [0] * loc.length
        for k, v in enumerate(values):
            regs[loc.addr + k] = v
    end = locs[-1].end
    regs[end], regs[end + 1] = 0xFFFF, 0
    return regs


def reader(regs: dict[int, int]):
    return lambda addr, n: [regs.get(a, 0) for a in range(addr, addr + n)]


def test_layout_follows_pysunspec2_lengths():
    locs = standard_layout(96)
    assert [(m.model_id, m.addr, m.length) for m in locs] == [(1, 40002, 66), (802, 40070, 62), (64950, 40134, 108)]
    h = Block(locs[2])
    # model 64950 as the contract lays it out: offsets from the first register after ID and L
    assert [
        h.offset(n) - 2 for n in ("PlantHb", "SimT", "PackV", "PackA", "CellVMax", "CellTMax", "SoCTrue", "NCell")
    ] == [0, 1, 3, 4, 5, 8, 10, 11]
    assert h.cell_range() == (40134 + 2 + 12, 96) and h.get("NCell", computed=False) == 96


def test_points_round_trip_with_their_scale_factors():
    b = Block(standard_layout(4)[1])
    b.set("SoC_SF", -2, computed=False)
    b.set("AMax_SF", -1, computed=False)
    b.set("SoC", 55.555)
    b.set("AChaMax", 115.04)
    b.set("Evt1", (1 << 31) | (1 << 9), computed=False)
    again = Block(b.loc, b.all_regs())  # what a reader of the registers sees
    assert again.get("SoC") == pytest.approx(55.56) and again.get("AChaMax") == pytest.approx(115.0)
    assert again.get("Evt1", computed=False) == (1 << 31) | (1 << 9)
    assert again.regs("Evt1", "Evt1") == [0x8000, 0x0200]  # 32-bit values high word first
    h = Block(standard_layout(4)[2])
    h.set("PackA", -12.34)  # int16, 0.1 A, rounded (not truncated)
    h.set_cell(3, 3.7126)
    again = Block(h.loc, h.all_regs())
    assert again.get("PackA") == pytest.approx(-12.3) and again.cells[3].cvalue == pytest.approx(3.713)


def test_discovery_walks_the_chain_and_skips_models_it_does_not_use():
    """With the optional model 804 before 64950, 64950 sits 2 + L(804) registers further on: found there."""
    locs = standard_layout(16, with_804=True)
    assert [m.model_id for m in locs] == [MODEL_COMMON, MODEL_BATTERY, MODEL_LION_STRING, MODEL_HIL]
    found = discover(reader(image(locs)))
    assert found == locs and found[-1].addr > standard_layout(16)[-1].addr


@pytest.mark.parametrize(
    "spoil, needle",
    [
        ("marker", "no SunSpec marker"),
        ("no_64950", "model 64950 missing"),
        ("ncell", "the contract allows 12..204"),
    ],
)
def test_discovery_refuses_a_map_that_breaks_the_contract(spoil, needle):
    locs = standard_layout(8)
    regs = image(locs)
    if spoil == "marker":
        regs[BASE_ADDR] = 0
    elif spoil == "no_64950":
        regs = image(locs[:2])
    else:  # L of 64950 past 12 + 192, the end marker after it
        regs[locs[2].addr + 1] = 300
        regs[locs[2].addr + 302], regs[locs[2].addr + 303] = 0xFFFF, 0
    with pytest.raises(MapError, match=needle):
        discover(reader(regs))


def test_counters_wrap_skipping_not_implemented_and_long_ranges_split():
    assert next_count(65533) == 65534 and next_count(65534) == 0
    assert split_ranges(40148, 300, 123) == [(40148, 123), (40271, 123), (40394, 54)]


def test_the_802_code_table_is_pysunspec2s() -> None:
    """twin.sunspec802 (the one table the fleet's BMS, the supervisor and the emulator use) against the
    symbols of pysunspec2's model 802 definition."""
    import sunspec2.device as ss_device

    from twin import sunspec802 as s802

    points = {p["name"]: p for p in ss_device.get_model_def(MODEL_BATTERY)["group"]["points"]}

    def symbols(point: str) -> dict[str, int]:
        return {s["name"].replace(" ", "_"): int(s["value"]) for s in points[point]["symbols"]}

    for name, value in symbols("State").items():
        assert getattr(s802, f"STATE_{name}") == value and s802.STATE_NAMES[value] == name
    assert {f"SETOP_{n}": v for n, v in symbols("SetOp").items()} == {
        "SETOP_CONNECT": s802.SETOP_CONNECT,
        "SETOP_DISCONNECT": s802.SETOP_DISCONNECT,
    }
    chast = symbols("ChaSt")
    for name in ("OFF", "EMPTY", "DISCHARGING", "CHARGING", "FULL", "HOLDING"):
        assert getattr(s802, f"CHAST_{name}") == chast[name]
    assert s802.TYP_LITHIUM_ION == symbols("Typ")["LITHIUM_ION"]
    assert s802.LOCREMCTL_REMOTE == symbols("LocRemCtl")["REMOTE"]
    evt1 = symbols("Evt1")
    assert s802.COMMUNICATION_ERROR == evt1["COMMUNICATION_ERROR"]
    for bit, name in s802.EVT1_NAMES.items():
        assert evt1[name] == bit and getattr(s802, name) == bit
    assert s802.evt1_names(1 << s802.OVER_VOLT_ALARM | 1 << s802.OTHER_ALARM) == ["OVER_VOLT_ALARM", "OTHER_ALARM"]
    assert s802.ALARM_MASK & s802.WARNING_MASK == 0
