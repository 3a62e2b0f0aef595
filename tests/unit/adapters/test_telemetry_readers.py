"""The telemetry readers (adapters/io/telemetry/readers.py): real files of each format written and read back."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.io.telemetry.readers import read_source
from adapters.io.telemetry.series import Finding, TagSeries
from twin.config.recorded import SourceConfig
from twin.errors import InputError, TelemetryError

LA = "America/Los_Angeles"


def _ns(stamp: str) -> int:
    return int(pd.Timestamp(stamp).value)


def _read(tmp_path: Path, tags: list[str], tz: str = LA, **src: object) -> tuple[dict[str, TagSeries], list[Finding]]:
    return read_source(SourceConfig(**src), tmp_path, tz, tags)  # type: ignore[arg-type]


def _kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


# --------------------------------------------------------------------------- CSV
def test_long_csv_with_quality_codes(tmp_path: Path) -> None:
    (tmp_path / "hist.csv").write_text(
        "tag,timestamp,value,quality\n"
        "PV1.POA,2025-07-15T12:00:00-07:00,812.5,Good\n"
        "BESS03.P,2025-07-15T12:00:00-07:00,-1.25,192\n"
        "\n"  # a blank line still counts as a line
        "PV1.POA,2025-07-15T12:00:10-07:00,,Good\n"
        "PV1.POA,2025-07-15T12:00:20-07:00,815.0,Bad\n"
        "OTHER,2025-07-15T12:00:20-07:00,1,Good\n"
        "BESS03.P,2025-07-15T12:00:10-07:00,-1.5,0\n"
    )
    series, findings = _read(tmp_path, ["PV1.POA", "BESS03.P"], file="hist.csv", format="csv_long")
    assert set(series) == {"PV1.POA", "BESS03.P"}
    pv = series["PV1.POA"]
    assert pv.source == "hist" and pv.file == "hist.csv"
    assert pv.row.tolist() == [2, 5, 6]
    assert pv.time_ns.tolist() == [
        _ns("2025-07-15T19:00:00Z"),
        _ns("2025-07-15T19:00:10Z"),
        _ns("2025-07-15T19:00:20Z"),
    ]
    np.testing.assert_array_equal(pv.value, [812.5, np.nan, 815.0])
    assert pv.good.tolist() == [True, True, False]
    b = series["BESS03.P"]
    # OPC DA's 192 is good, its 0 bad (not among the default good codes)
    assert b.row.tolist() == [3, 8] and b.value.tolist() == [-1.25, -1.5] and b.good.tolist() == [True, False]
    tz = [f for f in findings if f.kind == "timezone"]
    assert len(tz) == 1 and tz[0].tag == "" and "(-07:00)" in tz[0].message and tz[0].severity == "info"


def test_long_csv_without_quality_column_and_named_columns(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("Time,Name,Val\n2025-07-15 12:00:00,A,1.5\n2025-07-15 12:01:00,A,true\n")
    cols = {"tag": "Name", "time": "Time", "value": "Val"}
    series, findings = _read(tmp_path, ["A"], tz="UTC", file="h.csv", format="csv_long", columns=cols, name="scada")
    a = series["A"]
    assert a.source == "scada" and a.good.tolist() == [True, True] and a.value.tolist() == [1.5, 1.0]
    assert a.time_ns.tolist() == [_ns("2025-07-15T12:00:00Z"), _ns("2025-07-15T12:01:00Z")]
    assert "no UTC offset: read as UTC local time" in findings[0].message


def test_wide_csv_with_semicolon(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text(
        "timestamp;PV1.POA;CB3.52a;T_AMB\n"
        "2025-07-15 12:00:00;800.5;closed;30.5\n"
        "2025-07-15 12:00:10;801;open;x\n"
        "2025-07-15 12:00:20;;CLOSED;31\n"
    )
    series, findings = _read(tmp_path, ["PV1.POA", "CB3.52a"], file="w.csv", format="csv_wide", delimiter=";")
    assert set(series) == {"PV1.POA", "CB3.52a"}
    pv = series["PV1.POA"]
    assert pv.row.tolist() == [2, 3, 4]
    np.testing.assert_array_equal(pv.value, [800.5, 801.0, np.nan])
    assert series["CB3.52a"].value.tolist() == [1.0, 0.0, 1.0]
    assert pv.time_ns[0] == _ns("2025-07-15T19:00:00Z")  # 12:00 PDT
    assert "read as America/Los_Angeles local time" in findings[0].message


def test_time_format_and_mixed_offsets_across_dst(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text(
        "timestamp,A\n11/02/2025 01:30:00 -0700,1\n11/02/2025 01:10:00 -0800,2\n11/02/2025 01:20:00 -0800,3\n"
    )
    series, _ = _read(tmp_path, ["A"], file="f.csv", format="csv_wide", time_format="%m/%d/%Y %H:%M:%S %z")
    assert series["A"].time_ns.tolist() == [
        _ns("2025-11-02T08:30:00Z"),
        _ns("2025-11-02T09:10:00Z"),
        _ns("2025-11-02T09:20:00Z"),
    ]


def test_naive_stamps_across_the_fall_back_are_monotonic_and_reported(tmp_path: Path) -> None:
    local = ["00:30", "00:45", "01:00", "01:15", "01:30", "01:45", "01:00", "01:15", "01:30", "01:45", "02:00"]
    lines = ["tag,timestamp,value"] + [f"P,2025-11-02 {hm}:00,{i}" for i, hm in enumerate(local)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    series, findings = _read(tmp_path, ["P"], file="d.csv", format="csv_long")
    t = series["P"].time_ns
    assert np.all(np.diff(t) == 15 * 60 * 10**9)  # one sample every 15 min in UTC
    assert t[0] == _ns("2025-11-02T07:30:00Z") and t[-1] == _ns("2025-11-02T10:00:00Z")
    dst = [f for f in findings if f.kind == "dst"]
    assert len(dst) == 1
    assert dst[0].rows == (4, 5, 6, 7, 8, 9, 10, 11) and dst[0].tag == "P"
    assert "order" in dst[0].action


def test_naive_stamp_in_the_spring_forward_hour_is_shifted(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(
        "timestamp,A\n2025-03-09 01:30:00,1\n2025-03-09 02:30:00,2\n2025-03-09 03:30:00,3\n"
    )
    series, findings = _read(tmp_path, ["A"], file="s.csv", format="csv_wide")
    assert series["A"].time_ns.tolist() == [
        _ns("2025-03-09T09:30:00Z"),
        _ns("2025-03-09T10:00:00Z"),  # 02:30 does not exist: 03:00 PDT
        _ns("2025-03-09T10:30:00Z"),
    ]
    dst = [f for f in findings if f.kind == "dst"]
    assert len(dst) == 1 and dst[0].rows == (3,) and dst[0].severity == "warning"


def test_unparseable_stamps_dropped_and_listed(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text(
        "timestamp,A\n2025-07-15 12:00:00,1\nyesterday,2\n2025-07-15 12:00:20,3\n,4\n2025-07-15 12:00:40,5\n"
    )
    series, findings = _read(tmp_path, ["A"], file="u.csv", format="csv_wide")
    assert series["A"].row.tolist() == [2, 4, 6] and series["A"].value.tolist() == [1.0, 3.0, 5.0]
    bad = [f for f in findings if f.kind == "unparseable"]
    assert len(bad) == 1 and bad[0].rows == (3, 5) and "'yesterday'" in bad[0].message


def test_mostly_unparseable_stamps_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text("timestamp,A\n15.07.2025 12:00,1\n15.07.2025 12:01,2\n2025-07-15 12:02:00,3\n")
    with pytest.raises(TelemetryError, match=r"u\.csv line 2: time '15\.07\.2025 12:00' cannot be read.*ISO 8601"):
        _read(tmp_path, ["A"], file="u.csv", format="csv_wide")


# --------------------------------------------------------------------------- errors
def test_missing_tag_names_the_close_match(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text(
        "tag,timestamp,value\nBESS03.P,2025-07-15T12:00:00Z,1\nPV1.POA,2025-07-15T12:00:00Z,2\n"
    )
    with pytest.raises(TelemetryError) as exc:
        _read(tmp_path, ["BESS3.P"], file="h.csv", format="csv_long")
    msg = str(exc.value)
    assert msg.startswith("h.csv: tag 'BESS3.P' not found")
    assert "did you mean 'BESS03.P'?" in msg and "'PV1.POA'" in msg
    assert isinstance(exc.value, InputError)


def test_missing_tag_column_in_wide_file(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("timestamp,PV1.POA\n2025-07-15T12:00:00Z,1\n")
    with pytest.raises(TelemetryError, match=r"tag column 'PV1.PAO' not found; did you mean 'PV1.POA'\?"):
        _read(tmp_path, ["PV1.PAO"], file="w.csv", format="csv_wide")


def test_missing_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "history.csv").write_text("x\n")
    with pytest.raises(TelemetryError, match=r"histroy\.csv: no such file .*did you mean 'history\.csv'\?"):
        _read(tmp_path, ["A"], file="histroy.csv", format="csv_long")


def test_missing_column_names_what_the_file_has(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("tag,time,value\nA,2025-07-15T12:00:00Z,1\n")
    with pytest.raises(TelemetryError) as exc:
        _read(tmp_path, ["A"], file="h.csv", format="csv_long")
    assert "column 'timestamp' not found" in str(exc.value)
    assert "'tag', 'time', 'value'" in str(exc.value)


def test_empty_and_undecodable_files(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(TelemetryError, match=r"e\.csv: the file is empty"):
        _read(tmp_path, ["A"], file="e.csv", format="csv_long")
    (tmp_path / "h.csv").write_text("timestamp,A\n")
    with pytest.raises(TelemetryError, match=r"h\.csv: the file has a header .* but no data rows"):
        _read(tmp_path, ["A"], file="h.csv", format="csv_wide")
    (tmp_path / "b.csv").write_bytes(b"timestamp,A\n2025-07-15T12:00:00Z,\xff\xfe1\n")
    with pytest.raises(TelemetryError, match=r"b\.csv: not UTF-8 text \(byte 0xff"):
        _read(tmp_path, ["A"], file="b.csv", format="csv_wide")


def test_unknown_time_zone(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("timestamp,A\n2025-07-15 12:00:00,1\n")
    with pytest.raises(
        TelemetryError, match=r"'America/Los_Angles' is not an IANA zone; did you mean 'America/Los_Angeles'"
    ):
        _read(tmp_path, ["A"], tz="America/Los_Angles", file="w.csv", format="csv_wide")


# --------------------------------------------------------------------------- Parquet
def test_parquet_long_with_tz_aware_times(tmp_path: Path) -> None:
    t = pd.to_datetime(["2025-07-15 12:00:00", "2025-07-15 12:00:00", "2025-07-15 12:00:01"]).tz_localize(LA)
    table = pa.table(
        {
            "tag": ["A", "B", "A"],
            "timestamp": pa.array(t, pa.timestamp("us", tz=LA)),
            "value": [1.5, 2.5, 3.5],
            "quality": [192, 0, 8],
        }
    )
    pq.write_table(table, tmp_path / "l.parquet")
    series, findings = _read(tmp_path, ["A"], file="l.parquet", format="parquet")
    a = series["A"]
    assert a.row.tolist() == [1, 3] and a.value.tolist() == [1.5, 3.5] and a.good.tolist() == [True, False]
    assert a.time_ns.tolist() == [_ns("2025-07-15T19:00:00Z"), _ns("2025-07-15T19:00:01Z")]
    assert findings[0].kind == "timezone" and "America/Los_Angeles" in findings[0].message


def test_parquet_wide_with_naive_and_text_times(tmp_path: Path) -> None:
    naive = pd.to_datetime(["2025-07-15 12:00:00", "2025-07-15 12:00:10"])
    pq.write_table(
        pa.table({"timestamp": pa.array(naive, pa.timestamp("ns")), "P": [1.0, None]}), tmp_path / "w.parquet"
    )
    series, _ = _read(tmp_path, ["P"], file="w.parquet", format="parquet")
    assert series["P"].time_ns.tolist() == [_ns("2025-07-15T19:00:00Z"), _ns("2025-07-15T19:00:10Z")]
    np.testing.assert_array_equal(series["P"].value, [1.0, np.nan])
    assert series["P"].row.tolist() == [1, 2]
    text = pa.table({"ts": ["2025-07-15T12:00:00-07:00", "2025-07-15T12:00:10-07:00"], "P": [True, False]})
    pq.write_table(text, tmp_path / "x.parquet")
    series, _ = _read(tmp_path, ["P"], file="x.parquet", format="parquet", columns={"time": "ts"})
    assert series["P"].time_ns[1] == _ns("2025-07-15T19:00:10Z") and series["P"].value.tolist() == [1.0, 0.0]


def test_parquet_not_parquet(tmp_path: Path) -> None:
    (tmp_path / "p.parquet").write_text("not parquet")
    with pytest.raises(TelemetryError, match=r"p\.parquet: cannot be read as Parquet"):
        _read(tmp_path, ["A"], file="p.parquet", format="parquet")


# --------------------------------------------------------------------------- InfluxDB
INFLUX = """#group,false,false,true,true,false,false,true,true,true
#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string
#default,_result,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,block
,,0,2025-07-15T00:00:00Z,2025-07-16T00:00:00Z,2025-07-15T19:00:00Z,1.25,p_mw,bess,B03
,,0,2025-07-15T00:00:00Z,2025-07-16T00:00:00Z,2025-07-15T19:00:01Z,1.5,p_mw,bess,B03
,,1,2025-07-15T00:00:00Z,2025-07-16T00:00:00Z,2025-07-15T19:00:00Z,0.5,p_mw,bess,B04

#group,false,false,true,true,false,false,true,true
#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string
#default,_result,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement
,,2,2025-07-15T00:00:00Z,2025-07-16T00:00:00Z,2025-07-15T19:00:00Z,31.5,temp_c,weather
,,2,2025-07-15T00:00:00Z,2025-07-16T00:00:00Z,2025-07-15T19:00:10.5Z,31.75,temp_c,weather
"""


def test_influx_annotated_csv_two_tables(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text(INFLUX)
    tags = ["bess,block=B03.p_mw", "bess,block=B04.p_mw", "weather.temp_c", "temp_c"]
    series, findings = _read(tmp_path, tags, file="q.csv", format="influx_csv")
    b3 = series["bess,block=B03.p_mw"]
    assert b3.row.tolist() == [5, 6] and b3.value.tolist() == [1.25, 1.5]
    assert b3.time_ns.tolist() == [_ns("2025-07-15T19:00:00Z"), _ns("2025-07-15T19:00:01Z")]
    assert series["bess,block=B04.p_mw"].row.tolist() == [7]
    w = series["weather.temp_c"]
    assert w.row.tolist() == [13, 14] and w.value.tolist() == [31.5, 31.75]
    assert w.time_ns[1] == _ns("2025-07-15T19:00:10.5Z")
    assert series["temp_c"].row.tolist() == [13, 14]  # a field that names one series
    assert "(Z)" in findings[0].message


def test_influx_ambiguous_field_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text(INFLUX)
    with pytest.raises(TelemetryError, match=r"tag 'bess,block=B3.p_mw' not found; did you mean 'bess,block=B03.p_mw'"):
        _read(tmp_path, ["bess,block=B3.p_mw"], file="q.csv", format="influx_csv")
    with pytest.raises(TelemetryError, match=r"tag 'p_mw' not found"):  # two series have this field
        _read(tmp_path, ["p_mw"], file="q.csv", format="influx_csv")


def test_influx_header_without_value(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text("#datatype,string\n,result,table,_time,_val,_field,_measurement\n,,0,x,1,f,m\n")
    with pytest.raises(TelemetryError, match=r"q\.csv line 2: the header has no column '_value'; did you mean '_val'"):
        _read(tmp_path, ["m.f"], file="q.csv", format="influx_csv")


# --------------------------------------------------------------------------- COMTRADE
CHANNELS = (
    "3,2A,1D\n"
    "1,VA,A,BUS1,kV,0.01,0.5,0,-32767,32767,14.4,0.12,P\n"
    "2,P_BESS,,BESS03,MW,0.001,0,0,-32767,32767,1,1,P\n"
    "1,52A,,CB3,0\n"
    "60\n"
    "1\n"
    "1000,5\n"
    "15/07/2025,12:00:00.000000\n"
    "15/07/2025,12:00:00.002000\n"
)
DAT = "1,0,100,1500,0\n2,1000,200,1400,0\n3,2000,300,1300,1\n4,3000,400,1200,1\n5,4000,99999,1100,1\n"


def _check_comtrade(series: dict[str, TagSeries], start: str) -> None:
    t0 = _ns(start)
    va, p, cb = series["VA"], series["P_BESS"], series["52A"]
    assert va.row.tolist() == [1, 2, 3, 4, 5]
    assert va.time_ns.tolist() == [t0 + k * 1_000_000 for k in range(5)]  # 1000 samples/s
    np.testing.assert_allclose(va.value, [1.5, 2.5, 3.5, 4.5, np.nan])  # a * x + b; 99999 = missing
    np.testing.assert_allclose(p.value, [1.5, 1.4, 1.3, 1.2, 1.1])
    assert cb.value.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0] and cb.time_ns.tolist() == va.time_ns.tolist()


def test_comtrade_1999_ascii(tmp_path: Path) -> None:
    (tmp_path / "rec.cfg").write_text("Station A,REC01,1999\n" + CHANNELS + "ASCII\n1\n")
    (tmp_path / "rec.dat").write_text(DAT)
    series, findings = _read(tmp_path, ["VA", "P_BESS", "52A"], file="rec.cfg", format="comtrade")
    _check_comtrade(series, "2025-07-15T19:00:00Z")  # no zone in 1999: read in America/Los_Angeles (PDT)
    assert series["VA"].source == "rec"
    assert "read as America/Los_Angeles" in [f for f in findings if f.kind == "timezone"][0].message


def test_comtrade_2013_time_code_is_honoured(tmp_path: Path) -> None:
    (tmp_path / "rec.cfg").write_text("Station A,REC01,2013\n" + CHANNELS + "ASCII\n1\n-7,-7\n0,0\n")
    (tmp_path / "rec.dat").write_text(DAT)
    series, findings = _read(tmp_path, ["VA", "P_BESS", "52A"], tz="UTC", file="rec.cfg", format="comtrade")
    _check_comtrade(series, "2025-07-15T19:00:00Z")  # stamps at UTC-7 whatever the default zone
    assert "time_code '-7'" in [f for f in findings if f.kind == "timezone"][0].message


def test_comtrade_binary(tmp_path: Path) -> None:
    (tmp_path / "b.cfg").write_text("Station A,REC01,1999\n" + CHANNELS + "BINARY\n1\n")
    raw = [(100, 1500, 0), (200, 1400, 0), (300, 1300, 1), (400, 1200, 1), (-32768, 1100, 1)]
    (tmp_path / "b.dat").write_bytes(
        b"".join(struct.pack("<IIhhH", n + 1, n * 1000, a, p, s) for n, (a, p, s) in enumerate(raw))
    )
    series, _ = _read(tmp_path, ["VA", "P_BESS", "52A"], file="b.cfg", format="comtrade")
    _check_comtrade(series, "2025-07-15T19:00:00Z")


def test_comtrade_errors(tmp_path: Path) -> None:
    (tmp_path / "rec.cfg").write_text("Station A,REC01,1999\n" + CHANNELS + "ASCII\n1\n")
    with pytest.raises(TelemetryError, match=r"rec\.cfg: the COMTRADE data file rec\.dat is missing"):
        _read(tmp_path, ["VA"], file="rec.cfg", format="comtrade")
    (tmp_path / "rec.dat").write_text(DAT)
    with pytest.raises(TelemetryError, match=r"channel 'P_BES' not found; did you mean 'P_BESS'\?"):
        _read(tmp_path, ["P_BES"], file="rec.cfg", format="comtrade")
    (tmp_path / "bad.cfg").write_text("Station A,REC01,1999\nthree,2A,1D\n")
    (tmp_path / "bad.dat").write_text(DAT)
    with pytest.raises(TelemetryError, match=r"bad\.cfg: cannot be read as an IEEE C37\.111 record"):
        _read(tmp_path, ["VA"], file="bad.cfg", format="comtrade")
