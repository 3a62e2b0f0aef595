"""What a Grafana dashboard's Flux queries read: the (measurement, field) pairs they filter on
(tests/integration/test_grafana_dashboard.py checks them against what the InfluxDB sink writes).

A query is cut into streams at each ``from(`` (the text before the first one is a stream too). In a stream,
each field filter belongs to the measurement filter named last before it (or, when none is, the first one
after it), so ``(r._measurement == "a" and r._field == "x") or (r._measurement == "b" and r._field == "y")``
reads (a, x) and (b, y), not (a, y). Recognised filters, with ``r.<col>`` or ``r["<col>"]``:

- ``r._measurement == "m"``, ``r._field == "f"``;
- ``contains(value: r._field, set: ["f", "g"])`` (the same for ``_measurement``).

Anything else that names ``_measurement`` or ``_field`` on a row (a regex match, ``!=``, ``exists``), a stream
with a field but no measurement (it would read that field of every measurement), a stream with a measurement
but no field, or a panel query that names neither raises :class:`DashboardQueryError`: a query the check
cannot read is a failure, not a pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

__all__ = ["DashboardQueryError", "dashboard_fields", "dashboard_queries", "fields_of", "query_fields"]


class DashboardQueryError(ValueError):
    """A dashboard query whose measurements and fields cannot be told."""


def _col(name: str) -> str:
    """``r._name`` or ``r["_name"]``."""
    return rf'\br\s*(?:\.\s*{name}\b|\[\s*"{name}"\s*\])'


_STRING = r'"((?:[^"\\]|\\.)*)"'
_SET = r"\[(?P<set>[^\]]*)\]"
_CLAUSES = {
    kind: (
        re.compile(rf"{_col(col)}\s*==\s*{_STRING}"),
        re.compile(rf"contains\s*\(\s*value\s*:\s*(?P<col>{_col(col)})\s*,\s*set\s*:\s*{_SET}\s*\)"),
        re.compile(_col(col)),
    )
    for kind, col in (("measurement", "_measurement"), ("field", "_field"))
}
_FROM = re.compile(r"\bfrom\s*\(")
_COMMENT = re.compile(r"//[^\n]*")


def _unquote(s: str) -> str:
    return s.replace('\\"', '"').replace("\\\\", "\\")


def _names_in_set(body: str, where: str) -> list[str]:
    names = [_unquote(m.group(1)) for m in re.finditer(_STRING, body)]
    rest = re.sub(_STRING, "", body).replace(",", "").strip()
    if not names or rest:
        raise DashboardQueryError(f"{where}: contains(set: [{body}]) is not a list of string literals")
    return names


def _clauses(stream: str, where: str) -> list[tuple[int, str, list[str]]]:
    """(position, "measurement" | "field", names) of each filter clause of a stream, in order."""
    out: list[tuple[int, str, list[str]]] = []
    for kind, (eq, contains, any_use) in _CLAUSES.items():
        used: set[int] = set()
        for m in eq.finditer(stream):
            out.append((m.start(), kind, [_unquote(m.group(1))]))
            used.add(m.start())
        for m in contains.finditer(stream):
            out.append((m.start(), kind, _names_in_set(m.group("set"), where)))
            used.add(m.start("col"))
        for m in any_use.finditer(stream):
            if m.start() not in used:
                snippet = stream[max(0, m.start() - 20) : m.end() + 30].replace("\n", " ")
                raise DashboardQueryError(f"{where}: {kind} used in a way this check does not read: ...{snippet}...")
    return sorted(out)


def query_fields(query: str, where: str = "query") -> set[tuple[str, str]]:
    """The (measurement, field) pairs one Flux query filters on (module docstring)."""
    text = _COMMENT.sub("", query)
    cuts = [0, *(m.start() for m in _FROM.finditer(text)), len(text)]
    pairs: set[tuple[str, str]] = set()
    for a, b in pairwise(cuts):
        stream = text[a:b]
        clauses = _clauses(stream, where)
        meas = [(p, names) for p, kind, names in clauses if kind == "measurement"]
        fields = [(p, names) for p, kind, names in clauses if kind == "field"]
        if fields and not meas:
            raise DashboardQueryError(f"{where}: field(s) {[n for _, f in fields for n in f]} with no measurement")
        paired: set[int] = set()
        for pos, names in fields:
            before = [i for i, (p, _) in enumerate(meas) if p < pos]
            i = before[-1] if before else 0
            paired.add(i)
            pairs.update((m, f) for m in meas[i][1] for f in names)
        lone = [n for i, (_, names) in enumerate(meas) if i not in paired for n in names]
        if lone:
            raise DashboardQueryError(f"{where}: measurement(s) {lone} with no field (it would read every field)")
    if not pairs:
        raise DashboardQueryError(f"{where}: names no measurement and field")
    return pairs


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels") or [])  # a collapsed row holds its panels


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, Flux query) of every panel target and every annotation with a query."""
    out = []
    for p in _panels(dashboard.get("panels") or []):
        for t in p.get("targets") or []:
            q = t.get("query")
            if isinstance(q, str) and q.strip():
                out.append((f"panel {p.get('id')} {p.get('title')!r} target {t.get('refId')}", q))
    for a in (dashboard.get("annotations") or {}).get("list") or []:
        target = a.get("target") or {}
        q = target.get("query") if isinstance(target, dict) else None
        q = q if isinstance(q, str) else a.get("query")
        if isinstance(q, str) and q.strip():
            out.append((f"annotation {a.get('name')!r}", q))
    return out


def fields_of(dashboard: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (measurement, field) pairs a dashboard's panel and annotation queries filter on."""
    pairs: set[tuple[str, str]] = set()
    for where, q in dashboard_queries(dashboard):
        pairs |= query_fields(q, where)
    return pairs


def dashboard_fields(path: str | Path) -> set[tuple[str, str]]:
    """:func:`fields_of` the dashboard JSON file at ``path``."""
    return fields_of(json.loads(Path(path).read_text()))
