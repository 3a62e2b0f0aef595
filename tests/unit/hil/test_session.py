"""Recording a HIL session and playing it back (hil/session.py, the replay link in hil/link.py).

A real exchange (the emulator over a pseudo-terminal pair, the twin's serial link) is recorded, read back
and replayed through the same BmsPort without the line: the same answers and no divergence; other
measurements diverge and say where. A file that is not a session, or a broken line in it, is an input
error (exit 2) naming the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.bms_port import BmsAnswer, BmsPort, PackMeas
from hil.device import DeviceConfig
from hil.emulator import BmsEmulator, EmulatorConfig
from hil.line import LineSettings
from hil.link import ReplayLink, open_link
from hil.ptypair import PtyPair
from hil.session import SESSION_VERSION, Session, SessionError, SessionRecorder
from twin.errors import InputError


def meas(t_s: float, v_cell: float = 3.75):
    def f(ncell: int) -> PackMeas:
        return PackMeas.of_pack(
            t_s,
            ncell,
            v_terminal_v=4 * v_cell,
            i_a=-10.0,
            v_cell_max_v=v_cell + 0.01,
            v_cell_min_v=v_cell - 0.05,
            temp_c=25.0,
            soc_frac=0.6,
            n_series=4,
        )

    return f


def run_steps(port: BmsPort, n: int, v_cell: float = 3.75) -> list[BmsAnswer | None]:
    return [port.step(k, float(k), meas(float(k), v_cell)) for k in range(n)]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[BmsAnswer | None]]:
    path = tmp_path_factory.mktemp("session") / "session.jsonl"
    with PtyPair() as pair, BmsEmulator(LineSettings(pair.b), EmulatorConfig(ncell=4)):
        rec = SessionRecorder(path, {"scenario": "t", "step_s": 1.0, "packs": [{"id": 0, "unit": 1}]})
        with open_link("serial", settings=LineSettings(pair.a), timeout_s=0.2) as link:
            port = BmsPort(link, 1, 0, DeviceConfig(), rec)
            answers = run_steps(port, 3)
            rec.note(2, 2.0, "link_lost", unit=1, why="a note for a reader")
        rec.close()
        rec.close()  # safe twice
    return path, answers


def test_record_read_replay_round_trip(recorded) -> None:
    path, answers = recorded
    assert all(a is not None for a in answers)
    s = Session.read(path)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["session"] == SESSION_VERSION and s.header["packs"] == [{"id": 0, "unit": 1}]
    assert s.n_attempts == len(lines) - 2  # the header and the note are not attempts
    first = json.loads(lines[1])
    assert (first["k"], first["u"], first["op"], first["a"], first["n"], first["out"]) == (0, 1, "read", 40000, 2, "ok")
    assert bytes.fromhex(first["tx"])[:2] == b"\x01\x03" and first["rx"]  # the bytes on the wire
    link = open_link("replay", session=s)
    assert isinstance(link, ReplayLink)
    port = BmsPort(link, 1, 0, DeviceConfig())
    assert run_steps(port, 3) == answers
    assert link.divergences == 0 and link.first_divergence is None
    assert port.serial_number == "HIL-0" and port.ncell == 4


def test_replay_against_other_measurements_diverges(recorded) -> None:
    path, answers = recorded
    link = ReplayLink(Session.read(path))
    port = BmsPort(link, 1, 0, DeviceConfig())
    replayed = run_steps(port, 3, v_cell=3.60)
    assert replayed == answers  # the answers are the recorded ones whatever the twin writes
    assert link.divergences > 0 and "values written at" in (link.first_divergence or "")
    assert link.first_divergence.startswith("step 0: unit 1:")  # type: ignore[union-attr]


def test_replay_past_the_end_of_the_session(recorded) -> None:
    path, _ = recorded
    link = ReplayLink(Session.read(path))
    port = BmsPort(link, 1, 0, DeviceConfig.model_validate({"timing": {"retries": 0}}))
    run_steps(port, 3)
    assert port.step(3, 3.0, meas(3.0)) is None
    assert link.divergences == 1 and "no more exchanges in this step" in (link.first_divergence or "")


def test_a_torn_last_line_is_ignored(recorded, tmp_path: Path) -> None:
    path, _ = recorded
    torn = tmp_path / "torn.jsonl"
    torn.write_text(path.read_text() + '{"k": 3, "u": 1, "op": "re')
    assert Session.read(torn).n_attempts == Session.read(path).n_attempts


@pytest.mark.parametrize(
    "text, where",
    [
        ("", "empty"),
        ("not json\n", "line 1: not JSON"),
        ('{"session": 99, "scenario": "x"}\n', 'line 1: not a session header (expected "session": 1'),
        ('{"session": 1}\n{"k": 0, "u": 1}\n{"k": 0}\n', "line 2: missing op, a, n, out"),
        ('{"session": 1}\n{broken\n{"k": 0}\n', "line 2: not JSON"),
    ],
)
def test_a_file_that_is_not_a_session(tmp_path: Path, text: str, where: str) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text(text)
    with pytest.raises(SessionError) as exc:
        Session.read(f)
    assert str(exc.value).startswith(f"session file {f}") and where in str(exc.value)
    assert isinstance(exc.value, InputError) and exc.value.exit_status == 2


def test_a_missing_session_file(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="cannot read it"):
        Session.read(tmp_path / "nope.jsonl")
