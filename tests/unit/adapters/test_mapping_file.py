"""Mapping files: every problem with its line and a close match; event tags, start state and inputs from small
real files (adapters/io/telemetry/mapping_file.py and load.py), no run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapters.io.telemetry.load import load_telemetry, recorded_inputs
from adapters.io.telemetry.mapping_file import load_mapping
from twin.config import Scenario, SiteConfig
from twin.errors import TelemetryError

SITE = SiteConfig()
SC = Scenario.model_validate({"run": {"start": "2025-07-15T12:00:00", "duration_s": 600, "step_s": 1.0}})


def _files(d: Path, mapping: str, csv: str) -> Path:
    (d / "h.csv").write_text(csv)
    (d / "m.toml").write_text(mapping)
    return d / "m.toml"


HEAD = '[[sources]]\nname = "historian"\nfile = "h.csv"\nformat = "csv_long"\n'


def test_every_problem_with_its_line_and_a_close_match(tmp_path: Path) -> None:
    m = _files(
        tmp_path,
        HEAD
        + '[[tags]]\ntag = "A"\nsignal = "pv_b00_poa_wm2"\nrole = "input"\n'  # line 6-9
        + '[[tags]]\ntag = "B"\nsource = "histrian"\nsignal = "bess_p_mw"\ntolerance = 0.1\n'
        + '[[tags]]\ntag = "C"\nsignal = "bess_p_mw"\n'
        + '[[tags]]\ntag = "D"\nsignal = "bess_p_mw"\nunit = "kw"\ntolerance = 0.1\n'
        + '[[tags]]\ntag = "E"\nsignal = "x"\nrole = "event"\nfall = { kind = "trip_bess_block", blok = 3 }\n'
        + '[[tags]]\ntag = "F"\nsignal = "x"\nrole = "event"\nfall = { kind = "trip_bess_block", block = 12 }\n',
        "tag,timestamp,value\n",
    )
    with pytest.raises(TelemetryError) as e:
        load_mapping(m, SITE)
    msg = str(e.value)
    assert (
        f"{m}:7: tags[0].signal" in msg
        and "problems in the mapping file" in msg
        and "did you mean 'pv_b00_poa_w_m2'" in msg
    )
    assert "tags[1].source: 'histrian' is not a source" in msg and "did you mean 'historian'" in msg
    assert "tags[2].tolerance: compare tag 'C' needs a tolerance" in msg
    assert "tags[3].unit: unit 'kw'" in msg and "did you mean 'kW'" in msg
    assert "tags[4].fall: blok" in msg  # the event is checked as a scenario event
    assert "tags[5].fall: trip_bess_block: block 12 does not exist (blocks are 0..11)" in msg


def test_missing_file_and_schema_errors(tmp_path: Path) -> None:
    with pytest.raises(TelemetryError, match="no such mapping file"):
        load_mapping(tmp_path / "nope.toml", SITE)
    (tmp_path / "m.toml").write_text(
        '[[sources]]\nfile = "gone.csv"\nformat = "csv_lng"\n[[tags]]\ntag = "A"\nsignal = "bess_p_mw"\n'
    )
    with pytest.raises(TelemetryError, match="csv_lng"):
        load_mapping(tmp_path / "m.toml", SITE)


def test_inputs_start_state_and_events_from_a_historian_file(tmp_path: Path) -> None:
    csv = "tag,timestamp,value,quality\n"
    for k in range(0, 601, 60):
        ts = f"2025-07-15T12:{k // 60:02d}:00"  # no offset: read in the site's zone
        csv += f"TAMB,{ts},{30 + k / 600},good\nRH,{ts},20,good\nSOC02,{ts},55.5,good\n"
    csv += "CB5,2025-07-15T11:59:00,0,good\nCB5,2025-07-15T12:05:00.500,1,good\n"  # open at the start, closes
    csv += "ALM,2025-07-15T12:00:00,0,good\nALM,2025-07-15T12:03:00,1,good\nALM,2025-07-15T12:04:00,0,good\n"
    csv += "IT,2025-07-15T12:00:00,2.0,good\nIT,2025-07-15T12:05:00,3.0,good\n"
    m = _files(
        tmp_path,
        "it_share_weights = [1, 1, 2, 0]\n"
        + HEAD
        + '[[tags]]\ntag = "TAMB"\nsignal = "temp_amb_c"\nrole = "input"\n'
        + '[[tags]]\ntag = "RH"\nsignal = "rh_frac"\nunit = "%"\nrole = "input"\n'
        + '[[tags]]\ntag = "IT"\nsignal = "it_p_mw"\nrole = "input"\n'
        + '[[tags]]\ntag = "SOC02"\nsignal = "bess_b02_soc_frac"\nunit = "%"\ntolerance = 0.01\ninitial = true\n'
        + '[[tags]]\ntag = "CB5"\nsignal = "cb5"\nrole = "event"\nnormal = true\n'
        + 'fall = { kind = "trip_bess_block", block = 5 }\nrise = { kind = "restore_bess_block", block = 5 }\n'
        + '[[tags]]\ntag = "ALM"\nsignal = "alm"\nrole = "event"\nrise = { kind = "alarm", text = "fire panel" }\n',
        csv,
    )
    tel = load_telemetry(load_mapping(m, SITE), SC)
    rec, events, fired = recorded_inputs(tel, SC)
    assert [(e.kind, round(e.at_s, 3)) for e in events] == [
        ("trip_bess_block", 0.0),  # open at the start, not the tag's normal state
        ("alarm", 180.0),
        ("restore_bess_block", 300.5),
    ]
    assert fired[0].at_start and fired[0].clear_s == 300.5
    assert rec.start_soc_block == {2: pytest.approx(0.555)}
    # ambient: mean over each 60 s step of the held samples (here each sample holds its whole step)
    assert rec.ambient_t_s is not None and rec.ambient_temp_c is not None and rec.ambient_rh_frac is not None
    np.testing.assert_allclose(rec.ambient_temp_c[:3], [30.0, 30.1, 30.2])
    np.testing.assert_allclose(rec.ambient_rh_frac, 0.2)
    # site IT shared by the weights 1:1:2:0
    assert rec.it_units == (0, 1, 2, 3) and rec.it_p_mw is not None
    np.testing.assert_allclose(rec.it_p_mw[:, 0], [0.5, 0.5, 1.0, 0.0])
    said = " ".join(rec.statements)
    assert "shared by the units in the shares [0.25, 0.25, 0.5, 0.0]" in said
    assert any(f.kind == "timezone" and "America/Los_Angeles" in f.message for f in tel.findings)


def test_no_sample_in_the_run_is_an_error(tmp_path: Path) -> None:
    m = _files(
        tmp_path,
        HEAD + '[[tags]]\ntag = "TAMB"\nsignal = "temp_amb_c"\nrole = "input"\n',
        "tag,timestamp,value\nTAMB,2024-01-01T00:00:00Z,3\nTAMB,2024-01-01T00:01:00Z,3\n",
    )
    with pytest.raises(TelemetryError, match="no usable sample within an hour of the run"):
        load_telemetry(load_mapping(m, SITE), SC)


def test_states_logged_on_change_long_before_the_run_hold(tmp_path: Path) -> None:
    """A historian that logs on change: block 5's breaker opened at 09:00 and closes at 12:05; block 2's SoC was
    logged at 80 % at 10:30 and next at 40 % at 12:30. The run from 12:00 starts with the breaker open and
    the SoC at 0.8 (the values in force), not with what comes after."""
    csv = (
        "tag,timestamp,value\n"
        "CB5,2025-07-15T09:00:00,0\nCB5,2025-07-15T12:05:00,1\n"
        "SOC02,2025-07-15T10:30:00,80\nSOC02,2025-07-15T12:30:00,40\n"
    )
    m = _files(
        tmp_path,
        HEAD
        + '[[tags]]\ntag = "CB5"\nsignal = "cb5"\nrole = "event"\nnormal = true\n'
        + 'fall = { kind = "trip_bess_block", block = 5 }\nrise = { kind = "restore_bess_block", block = 5 }\n'
        + '[[tags]]\ntag = "SOC02"\nsignal = "bess_b02_soc_frac"\nunit = "%"\nrole = "initial"\n',
        csv,
    )
    tel = load_telemetry(load_mapping(m, SITE), SC)
    rec, events, fired = recorded_inputs(tel, SC)
    assert [(e.kind, e.at_s) for e in events] == [("trip_bess_block", 0.0), ("restore_bess_block", 300.0)]
    assert fired[0].at_start and fired[0].clear_s == 300.0
    assert rec.start_soc_block == {2: pytest.approx(0.8)}


def test_it_share_weights_must_be_positive(tmp_path: Path) -> None:
    for w in ("[0, 0, 0, 0]", "[1, -1, 1, 1]"):
        m = _files(
            tmp_path,
            f"it_share_weights = {w}\n" + HEAD + '[[tags]]\ntag = "A"\nsignal = "it_p_mw"\nrole = "input"\n',
            "",
        )
        with pytest.raises(TelemetryError, match="it_share_weights must be >= 0 with a positive sum"):
            load_mapping(m, SITE)


def test_a_pack_the_fleet_does_not_have_is_refused_before_the_run(tmp_path: Path) -> None:
    from adapters.io.telemetry.load import load_recorded

    m = _files(
        tmp_path,
        HEAD + '[[tags]]\ntag = "P"\nsignal = "pack_9999_soc_frac"\nrole = "initial"\n',
        "tag,timestamp,value\nP,2025-07-15T12:00:00,0.5\n",
    )
    with pytest.raises(
        TelemetryError, match=r"tags\[0\] \(P\): signal 'pack_9999_soc_frac': pack 9999 is not in the fleet"
    ):
        load_recorded(SC, load_mapping(m, SITE))
