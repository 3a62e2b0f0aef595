"""The Grafana dashboard of docs/grafana/ (issue 14): neither Grafana nor InfluxDB 2 runs here, so these tests
check the JSON's structure and that every (measurement, field) its Flux queries read is one the InfluxDB sink
writes (parser: tests/integration/grafana_support.py).

What the sink writes is the schema (:func:`adapters.io.influx.schema.place`) applied to the real columns of
two short runs: `twin run scenarios/pilot-1h.toml --duration-s 120`, and a 3 s `twin hil --lockstep` run
against `twin bms-emulator` on a pseudo-terminal pair (the bench of tests/integration/hil_support.py, about
10 s), whose time series holds the ``hil_*`` columns of the HIL supervisor's row (hil/supervisor.py ``row``);
plus ``PACK_FIELDS`` for ``pack`` and ``EVENT_FIELDS`` for ``events``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from adapters.io.influx.schema import BASE_TAGS, EVENT_FIELDS, MEASUREMENTS, PACK_FIELDS, place
from tests.integration.grafana_support import DashboardQueryError, dashboard_fields, dashboard_queries, query_fields
from tests.integration.hil_support import Bench, scenario, twin_hil

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "twin-dashboard.json"
DS_UID = "${DS_INFLUXDB}"

# what issue 14 asks the dashboard to show (docs/grafana/README.md lists the panels)
REQUIRED = {
    ("pv", "pv_p_mw"),
    ("pv", "pv_avail_p_mw"),
    ("bess", "bess_p_mw"),
    ("datacenter", "it_p_mw"),
    ("cooling", "cooling_p_mw"),
    ("datacenter", "aux_p_mw"),
    ("grid", "losses_p_mw"),
    ("datacenter", "shed_p_mw"),
    ("grid", "ufls_p_mw"),
    ("bess", "soc_frac"),
    ("bess", "pack_soc_min_frac"),
    ("bess", "pack_soc_max_frac"),
    ("bess_block", "soc_frac"),
    ("grid", "v_min_pu"),
    ("grid", "v_max_pu"),
    ("grid", "line_loading_max_pct"),
    ("grid", "trafo_loading_max_pct"),
    ("spark", "gpu_temp_c"),
    ("spark", "coolant_temp_c"),
    ("hil", "hil_link_ok"),
    ("hil", "hil_lateness_ms"),
    ("hil", "hil_io_ms"),
    ("hil", "hil_attempts"),
    ("events", "time_s"),
    ("events", "detail"),
}


# -- the parser ---------------------------------------------------------------------------------------------
def _query(filters: str) -> str:
    head = 'from(bucket: "twin")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
    return f"{head}  |> filter(fn: (r) => {filters})"


def _dashboard(queries: list[str], annotation: str | None = None) -> dict[str, Any]:
    ds = {"type": "influxdb", "uid": DS_UID}
    panels: list[dict[str, Any]] = [
        {"id": i + 1, "title": f"p{i}", "targets": [{"refId": "A", "query": q, "datasource": ds}]}
        for i, q in enumerate(queries)
    ]
    d: dict[str, Any] = {"panels": panels, "annotations": {"list": [{"builtIn": 1, "name": "Annotations & Alerts"}]}}
    if annotation is not None:
        d["annotations"]["list"].append({"name": "events", "target": {"refId": "Anno", "query": annotation}})
    return d


def test_parser_pairs_each_field_with_its_measurement(tmp_path: Path) -> None:
    """The forms the parser reads, from a small dashboard file: each field is paired with the measurement
    of its own clause, never with the other measurement of the same query; a collapsed row's panels and the
    annotation query count; the built-in annotation (no query) does not."""
    join = (
        _query('r._measurement == "datacenter" and (r._field == "it_p_mw" or r["_field"] == "aux_p_mw")')
        + '\n  |> yield(name: "it")\n'
        + _query('r["_measurement"] == "cooling" and r._field == "cooling_p_mw"')
    )
    union = _query(
        '(r._measurement == "datacenter" and r._field == "shed_p_mw") or (r._measurement == "grid" and '
        'contains(value: r._field, set: ["ufls_p_mw", "losses_p_mw"]))'
    )
    field_first = _query('r._field == "gpu_temp_c" and r._measurement == "spark"')
    d = _dashboard([join, union], annotation=_query('r._measurement == "events" and r._field == "detail"'))
    d["panels"].append({"id": 9, "type": "row", "title": "row", "panels": _dashboard([field_first])["panels"]})
    path = tmp_path / "d.json"
    path.write_text(json.dumps(d))
    assert dashboard_fields(path) == {
        ("datacenter", "it_p_mw"),
        ("datacenter", "aux_p_mw"),
        ("cooling", "cooling_p_mw"),
        ("datacenter", "shed_p_mw"),
        ("grid", "ufls_p_mw"),
        ("grid", "losses_p_mw"),
        ("spark", "gpu_temp_c"),
        ("events", "detail"),
    }
    assert len(dashboard_queries(d)) == 4


@pytest.mark.parametrize(
    "filters, needle",
    [
        ('r._field == "pv_p_mw"', "no measurement"),  # would read pv_p_mw of every measurement
        ('r._measurement == "pv"', "no field"),
        ('r._measurement == "pv" and r._field =~ /pv_.*/', "does not read"),
        ('r._measurement == "pv" and r._field != "pv_p_mw"', "does not read"),
        ('r._measurement =~ /p.*/ and r._field == "pv_p_mw"', "does not read"),
        ('r.site == "x"', "names no measurement"),
        ('r._measurement == "pv" and contains(value: r._field, set: fields)', "does not read"),
    ],
)
def test_parser_refuses_what_it_cannot_read(filters: str, needle: str) -> None:
    with pytest.raises(DashboardQueryError, match=needle):
        query_fields(_query(filters))


def test_parser_needs_the_measurement_in_the_same_stream() -> None:
    """A field filter in a second ``from()`` with the measurement only in the first is refused."""
    q = _query('r._measurement == "pv" and r._field == "pv_p_mw"') + "\n" + _query('r._field == "it_p_mw"')
    with pytest.raises(DashboardQueryError, match="no measurement"):
        query_fields(q)


# -- the dashboard's structure ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def test_dashboard_is_an_importable_influxdb_dashboard(dash: dict[str, Any]) -> None:
    assert 36 <= dash["schemaVersion"] <= 41 and dash["uid"] and dash["title"]
    assert dash.get("id") is None  # an export for sharing: Grafana assigns the id on import
    inputs = {i["name"]: i for i in dash["__inputs"]}
    assert inputs["DS_INFLUXDB"]["type"] == "datasource" and inputs["DS_INFLUXDB"]["pluginId"] == "influxdb"
    ds = {"type": "influxdb", "uid": DS_UID}
    panels = dash["panels"]
    assert panels
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), ids
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        assert p.get("title"), p["id"]
        assert p.get("datasource") == ds, p["title"]
        assert p.get("description"), p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t.get("refId") and t.get("query", "").strip(), (p["title"], t)
            assert t.get("datasource", ds) == ds, (p["title"], t)
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in ("h", "w", "x", "y")), p["title"]
        assert g["h"] > 0 and g["w"] > 0 and g["x"] >= 0 and g["y"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
        assert p.get("fieldConfig", {}).get("defaults", {}).get("unit"), f"{p['title']}: no unit"
    annos = [a for a in dash["annotations"]["list"] if not a.get("builtIn")]
    assert annos and all(a["datasource"] == ds and a["enable"] for a in annos)


def test_dashboard_variables_and_filters(dash: dict[str, Any]) -> None:
    """The variables bucket (a textbox, default twin), site, scenario and run (multi) from the bucket's tag
    values; every panel and annotation query reads the chosen bucket over the dashboard's time range and
    keeps to the chosen site, scenario and runs."""
    v = {x["name"]: x for x in dash["templating"]["list"]}
    assert set(v) >= {"bucket", "site", "scenario", "run"}
    assert v["bucket"]["type"] in ("textbox", "constant") and v["bucket"]["query"] == "twin"
    for tag in BASE_TAGS:
        assert v[tag]["type"] == "query" and v[tag]["datasource"]["uid"] == DS_UID
        assert f'schema.tagValues(bucket: ${{bucket:doublequote}}, tag: "{tag}"' in v[tag]["query"]
    assert v["run"]["multi"] is True
    for where, q in dashboard_queries(dash):
        assert "from(bucket: ${bucket:doublequote})" in q, where
        assert "range(start: v.timeRangeStart, stop: v.timeRangeStop)" in q, where
        assert "r.site == ${site:doublequote}" in q and "r.scenario == ${scenario:doublequote}" in q, where
        assert "contains(value: r.run, set: [${run:doublequote}])" in q, where
        if where.startswith("panel"):
            assert "aggregateWindow(every: v.windowPeriod" in q, where


def test_dashboard_shows_what_issue_14_asks_for() -> None:
    missing = REQUIRED - dashboard_fields(DASHBOARD)
    assert not missing, f"the dashboard no longer queries {sorted(missing)}"


# -- every field it queries is one the sink writes ----------------------------------------------------------
def _columns(path: Path) -> list[str]:
    return [c for c in pq.read_schema(path).names if c != "time_s"]  # time_s is the timestamp, not a field


@pytest.fixture(scope="module")
def pilot_columns(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("pilot") / "out"
    scen = ROOT / "scenarios" / "pilot-1h.toml"
    cmd = [sys.executable, "-m", "adapters.cli", "run", str(scen), "--duration-s", "120", "--out", str(out)]
    r = subprocess.run([*cmd, "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return _columns(out / "timeseries.parquet")


@pytest.fixture(scope="module")
def hil_columns(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    tmp = tmp_path_factory.mktemp("hil")
    with Bench(tmp) as bench:
        r = twin_hil(scenario(tmp, duration_s=3), tmp / "out", "--lockstep", port=bench.port)
    assert isinstance(r, subprocess.CompletedProcess)
    assert r.returncode == 0, str(r.stderr)[-3000:]
    return _columns(tmp / "out" / "timeseries.parquet")


def test_every_queried_field_is_written_by_the_sink(pilot_columns: list[str], hil_columns: list[str]) -> None:
    hil_keys = [c for c in hil_columns if c.startswith("hil_")]
    # the HIL supervisor's row (hil/supervisor.py row()) reached the time series, and the schema sends it to hil
    assert {"hil_link_ok", "hil_lateness_ms", "hil_io_ms", "hil_attempts"} <= set(hil_keys)
    assert all(place(c)[0] == "hil" for c in hil_keys)
    written = {(m, f) for c in (*pilot_columns, *hil_columns) for m, _tags, f in [place(c)]}
    written |= {("pack", f) for f in PACK_FIELDS} | {("events", f) for f in EVENT_FIELDS}
    assert {m for m, _ in written} <= set(MEASUREMENTS)
    queried = dashboard_fields(DASHBOARD)
    unknown = sorted(queried - written)
    assert not unknown, f"the dashboard queries (measurement, field) pairs the sink never writes: {unknown}"
