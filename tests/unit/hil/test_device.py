"""The device file of a BMS product (hil/device.py) and the serial line's settings and flags (hil/line.py):
defaults, a misspelled key named with a close match and its line, values out of range, the error class
(an input error: exit 2), and one set of allowed line values for the device file and both commands."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hil.device import DeviceConfig, DeviceFileError, load_device, parse_device
from hil.line import PARITIES, LineConfig, LineSettings, add_line_arguments, is_pty, line_flags
from hil.ptypair import PtyPair
from twin.errors import EmulatorConfigError, InputError


def test_defaults_are_the_contracts() -> None:
    dev = load_device(None)
    assert dev == DeviceConfig() == parse_device({}, "x")
    assert (dev.line.baudrate, dev.line.bytesize, dev.line.parity, dev.line.stopbits) == (115200, 8, "E", 1)
    assert (dev.timing.timeout_s, dev.timing.retries, dev.timing.hb_timeout_s, dev.timing.io_budget_frac) == (
        0.1,
        2,
        5.0,
        0.8,
    )
    assert (dev.bms.current_sign, dev.bms.use_fc23, dev.bms.ncell_expected) == (1, "auto", 0) and dev.packs == []


def test_a_full_file(tmp_path: Path) -> None:
    f = tmp_path / "bms.toml"
    f.write_text(
        '[line]\nbaudrate = 9600\nparity = "o"\nstopbits = 2\nbytesize = 7\n'
        '[timing]\ntimeout_s = 0.2\nretries = 0\n[bms]\ncurrent_sign = -1\nuse_fc23 = "no"\n'
        "[[packs]]\nid = 4\nunit_id = 9\n"
    )
    dev = load_device(f)
    assert dev.line == LineConfig(baudrate=9600, parity="O", stopbits=2, bytesize=7)  # parity in any case
    assert dev.timing.retries == 0 and dev.bms.current_sign == -1 and dev.bms.use_fc23 == "no"
    assert [(p.id, p.unit_id) for p in dev.packs] == [(4, 9)]


def test_a_misspelled_key_is_named_with_its_line_and_a_close_match(tmp_path: Path) -> None:
    f = tmp_path / "bms.toml"
    f.write_text("[timing]\ntimeout_s = 0.2\nretrys = 3\n")
    with pytest.raises(DeviceFileError) as exc:
        load_device(f)
    msg = str(exc.value)
    assert msg.startswith(f"{f}:3: unknown key 'timing.retrys'; did you mean 'retries'?")
    assert "Allowed keys here: hb_timeout_s, io_budget_frac, retries, timeout_s" in msg
    assert isinstance(exc.value, InputError) and exc.value.exit_status == 2


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[line]\nparity = 'X'\n", ":2: line.parity = 'X': Input should be 'N', 'E' or 'O'"),
        ("[line]\nstopbits = 3\n", ":2: line.stopbits = 3: Input should be 1 or 2"),
        ("[line]\nbytesize = 5\n", ":2: line.bytesize = 5: Input should be 7 or 8"),
        ("[line]\nbaudrate = 0\n", ":2: line.baudrate = 0: Input should be greater than 0"),
        ("[timing]\nretries = 11\n", ":2: timing.retries = 11: Input should be less than or equal to 10"),
        ("[bms]\ncurrent_sign = 2\n", ":2: bms.current_sign = 2: Input should be 1 or -1"),
        ("[[packs]]\nid = 0\nunit_id = 300\n", ":3: packs[0].unit_id = 300: Input should be less than or equal to 247"),
    ],
)
def test_values_out_of_range(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bms.toml"
    f.write_text(text)
    with pytest.raises(DeviceFileError) as exc:
        load_device(f)
    assert str(exc.value) == f"{f}{needle}"


def test_several_problems_one_message_and_unreadable_files(tmp_path: Path) -> None:
    f = tmp_path / "bms.toml"
    f.write_text("[line]\nparity = 'X'\n[bms]\nsign = 1\n")
    with pytest.raises(
        DeviceFileError, match=r"2 problems in the device file:\n  .*:2: line.parity.*\n  .*:4: unknown"
    ):
        load_device(f)
    f.write_text("[line\n")
    with pytest.raises(DeviceFileError, match="not valid TOML"):
        load_device(f)
    with pytest.raises(DeviceFileError, match="cannot read it"):
        load_device(tmp_path / "missing.toml")


# ------------------------------------------------------------------------------------------------
# the line flags of twin hil (no defaults: they override the device file) and twin bms-emulator
# ------------------------------------------------------------------------------------------------
def parse(argv: list[str], *, defaults: bool, unit_id: bool = False) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_line_arguments(p, defaults=defaults, unit_id=unit_id)
    return p.parse_args(argv)


def test_flags_without_defaults_override_only_what_is_given() -> None:
    assert line_flags(parse([], defaults=False)) == {}
    got = line_flags(parse(["--parity", "n", "--stopbits", "2"], defaults=False))
    assert got == {"parity": "N", "stopbits": 2}
    dev = DeviceConfig.model_validate({"line": {"baudrate": 9600}})
    line = dev.line.model_copy(update=got)
    assert (line.baudrate, line.parity, line.stopbits, line.bytesize) == (9600, "N", 2, 8)


def test_flags_with_defaults_are_the_contracts() -> None:
    got = line_flags(parse([], defaults=True, unit_id=True))
    assert got == {"baudrate": 115200, "parity": "E", "stopbits": 1, "bytesize": 8, "unit_id": 1}
    assert LineSettings("/dev/x", **got).describe() == "/dev/x 115200 8E1, unit 1"


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--parity", "X"], "command line: --parity = 'X': Input should be 'N', 'E' or 'O'"),
        (["--stopbits", "3"], "command line: --stopbits = 3: Input should be 1 or 2"),
        (["--bytesize", "5"], "command line: --bytesize = 5: Input should be 7 or 8"),
        (["--baudrate", "0"], "command line: --baudrate = 0: Input should be greater than 0"),
        (["--baudrate", "fast"], "command line: --baudrate = 'fast': Input should be a valid integer"),
    ],
)
@pytest.mark.parametrize("defaults", [False, True])
def test_bad_flags_one_line_the_same_for_both_commands(argv: list[str], msg: str, defaults: bool) -> None:
    error = EmulatorConfigError if defaults else DeviceFileError
    with pytest.raises(error) as exc:
        line_flags(parse(argv, defaults=defaults), error=error)
    assert str(exc.value).startswith(msg) and "\n" not in str(exc.value) and exc.value.exit_status == 2


def test_unit_id_flag_range() -> None:
    with pytest.raises(InputError, match="--unit-id = 0: Input should be greater than or equal to 1"):
        line_flags(parse(["--unit-id", "0"], defaults=True, unit_id=True))
    assert PARITIES == ("N", "E", "O")


def test_a_pseudo_terminal_gets_no_parity() -> None:
    with PtyPair() as pair:
        assert is_pty(pair.a) and is_pty(f"spy://{pair.a}")
        s = LineSettings(pair.a, parity="E")
        assert s.for_port().parity == "N" and s.parity == "E"
    assert not is_pty("/dev/null") and not is_pty("loop://") and LineSettings("/dev/null").for_port().parity == "E"
