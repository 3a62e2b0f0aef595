"""Line protocol, the schema and the spool of the InfluxDB sink (adapters/io/influx), without a server.

The server-side reading of these lines is checked against a real VictoriaMetrics in
tests/integration/test_influx_sink.py; here: escaping (InfluxDB's line-protocol reference), missing values,
exact numbers, the layout of columns, timestamps, events, and the spool's bound.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.io.influx.lineproto import LineFormatter, escape_key, escape_measurement, escape_string
from adapters.io.influx.schema import MEASUREMENTS, layout, place
from adapters.io.influx.spool import Spool

TAGS = {"site": "pilot", "scenario": "my scenario, v2", "run": "r=1"}
START_MS = 1752606000000


def parse(line: str) -> tuple[str, dict[str, str], dict[str, str], int]:
    """A plain reader of one line we write (no quoted spaces in tags): measurement, tags, fields, time."""
    head, _, rest = _split_unescaped(line, " ")
    fields_txt, _, ts = rest.rpartition(" ")
    parts = _split_all(head, ",")
    tags = dict(_split_unescaped(p, "=")[::2] for p in parts[1:])
    fields = dict(_split_unescaped(p, "=")[::2] for p in _split_all(fields_txt, ","))
    return parts[0], tags, fields, int(ts)


def _split_unescaped(s: str, sep: str) -> tuple[str, str, str]:
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == sep:
            return s[:i], sep, s[i + 1 :]
        i += 1
    return s, "", ""


def _split_all(s: str, sep: str) -> list[str]:
    out = []
    while True:
        a, found, s = _split_unescaped(s, sep)
        out.append(a)
        if not found:
            return out


def test_escaping_follows_the_line_protocol_reference() -> None:
    assert escape_measurement("a b,c") == "a\\ b\\,c"
    assert escape_key("k=v, x") == "k\\=v\\,\\ x"
    assert escape_string('say "hi"\\') == 'say \\"hi\\"\\\\'
    f = LineFormatter(TAGS, START_MS, ["time_s", "soc_frac"])
    line = f.rows(np.array([[0.0, 0.5]])).data.decode()
    assert line == "bess,run=r\\=1,scenario=my\\ scenario\\,\\ v2,site=pilot soc_frac=0.5 1752606000000\n"


def test_missing_values_are_left_out_and_an_empty_line_is_not_written() -> None:
    cols = ["time_s", "pv_p_mw", "pv_avail_p_mw", "ctrl_pv_p_limit_mw"]
    f = LineFormatter(TAGS, START_MS, cols)
    blk = f.rows(np.array([[0.0, 1.0, math.inf, 3.0], [1.0, math.nan, 2.0, math.nan]]))
    lines = blk.data.decode().splitlines()
    assert len(lines) == blk.n_lines == 3  # pv twice, controller once (its second row has no value)
    parsed = [parse(x) for x in lines]
    assert [p[0] for p in parsed] == ["pv", "pv", "controller"]
    assert parsed[0][2] == {"pv_p_mw": "1"} and parsed[1][2] == {"pv_avail_p_mw": "2"}
    assert parsed[2][2] == {"ctrl_pv_p_limit_mw": "3"}
    assert parsed[2][3] == START_MS and parsed[1][3] == START_MS + 1000
    assert all("nan" not in x and "inf" not in x for x in lines)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=50))
def test_every_number_reads_back_as_the_same_double(xs: list[float]) -> None:
    f = LineFormatter(TAGS, START_MS, ["time_s", "soc_frac"])
    block = np.column_stack([np.arange(len(xs), dtype=float), np.array(xs)])
    lines = f.rows(block).data.decode().splitlines()
    assert [float(parse(x)[2]["soc_frac"]) for x in lines] == xs


def test_pieces_cut_on_whole_lines() -> None:
    f = LineFormatter(TAGS, START_MS, ["time_s", "soc_frac", "pv_p_mw"])
    blk = f.rows(np.column_stack([np.arange(7.0), np.ones(7), np.ones(7)]))
    pieces = blk.pieces(3)
    assert [n for _, n in pieces] == [3, 3, 3, 3, 2]
    assert b"".join(d for d, _ in pieces) == blk.data and all(d.endswith(b"\n") for d, _ in pieces)


def test_element_columns_get_a_tag_and_the_rest_keep_their_names() -> None:
    assert place("bess_b03_soc_frac") == ("bess_block", (("block", "3"),), "soc_frac")
    assert place("pv_b07_p_mw") == ("pv_block", (("block", "7"),), "p_mw")
    assert place("spark_u02_gpu_temp_c") == ("spark", (("unit", "2"),), "gpu_temp_c")
    assert place("soc_frac") == ("bess", (), "soc_frac")
    assert place("v_bess00_mv_pu") == ("grid", (), "v_bess00_mv_pu")
    assert place("hil_lateness_ms") == ("hil", (), "hil_lateness_ms")
    assert place("brand_new_column_x") == ("site", (), "brand_new_column_x")
    groups = layout(["time_s", "bess_b00_p_mw", "bess_b00_soc_frac", "bess_b01_p_mw", "soc_frac"])
    assert [(g.measurement, g.tags, [f for _, f in g.fields]) for g in groups] == [
        ("bess_block", (("block", "0"),), ["p_mw", "soc_frac"]),
        ("bess_block", (("block", "1"),), ["p_mw"]),
        ("bess", (), ["soc_frac"]),
    ]
    assert {g.measurement for g in groups} <= set(MEASUREMENTS)


def test_pack_points_are_tagged_by_block_and_pack() -> None:
    f = LineFormatter(TAGS, START_MS)
    snap = {"soc_frac": np.array([0.5, 0.25]), "temp_c": np.array([30.0, math.nan])}
    blk = f.packs(900.0, snap, np.array([0, 3]), np.array([17, 804]))
    (m0, t0, f0, ts0), (m1, t1, f1, _) = [parse(x) for x in blk.data.decode().splitlines()]
    assert m0 == "pack" and t0["block"] == "0" and t0["pack"] == "17" and f0 == {"soc_frac": "0.5", "temp_c": "30"}
    assert t1["pack"] == "804" and f1 == {"soc_frac": "0.25"} and ts0 == START_MS + 900_000


def test_events_of_a_kind_at_one_millisecond_do_not_overwrite_each_other() -> None:
    f = LineFormatter(TAGS, START_MS)
    evs = [{"time_s": 0.0, "kind": "cooling_regime", "detail": f'unit {k}: "dry"'} for k in range(3)]
    evs.append({"time_s": 0.0, "kind": "trip_bess_block", "detail": {"block": 3}})
    lines = [parse(x) for x in f.events(evs).data.decode().splitlines()]
    assert [x[3] - START_MS for x in lines] == [0, 1, 2, 0]
    assert lines[0][1]["kind"] == "cooling_regime" and lines[0][2]["detail"] == '"unit 0: \\"dry\\""'
    assert lines[3][2]["time_s"] == "0.0" and lines[3][2]["detail"] == "\"{'block': 3}\""
    # the same events again (twin influx-flush --all after the live sink): the same timestamps
    again = [parse(x) for x in LineFormatter(TAGS, START_MS).events(evs).data.decode().splitlines()]
    assert [x[3] for x in again] == [x[3] for x in lines]


def test_the_spool_is_bounded_and_reads_a_torn_segment_to_its_last_whole_line(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool", max_bytes=100, segment_bytes=40)
    assert sp.append(b"a 1 1\n" * 5, 5) and sp.append(b"b 2 2\n" * 5, 5)
    assert len(sp.segments()) == 2 and sp.lines == 10 and sp.bytes == 60
    assert not sp.append(b"c 3 3\n" * 10, 10)  # 60 + 60 > 100: refused, nothing written
    assert sp.lines == 10
    seg = sp.oldest()
    assert seg is not None and seg[2] == 5 and seg[3] == 0
    sp.remove(seg[0], seg[2])
    with open(sp.segments()[0], "ab") as fh:  # a crash in the middle of a write
        fh.write(b"half a li")
    reopened = Spool(tmp_path / "spool", max_bytes=100)
    path, data, n, torn = reopened.oldest() or (None, b"", 0, 0)
    assert n == 5 and data == b"b 2 2\n" * 5 and torn == len(b"half a li")
    reopened.remove(path, 5)  # type: ignore[arg-type]
    reopened.tidy()
    assert not (tmp_path / "spool").exists()


def test_the_formatter_refuses_rows_before_it_knows_the_columns() -> None:
    with pytest.raises(ValueError, match="no columns"):
        LineFormatter(TAGS, START_MS).rows(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="base tags missing"):
        LineFormatter({"site": "x"}, START_MS)
