"""InfluxDB line protocol from blocks of result rows, pack snapshots and events, formatted by pyarrow.

Numbers are written as pyarrow formats a float64 (the shortest text that reads back as the same double: a
value read back equals the value in ``timeseries.parquet``), so a whole block costs one cast per column
instead of one Python format per value (about 45 us per row of 200 columns against 170 us for ``repr``).
NaN and infinities are not in line protocol: such a field is left out of its line, and a line with no
field left is not written. Timestamps are integers in milliseconds.

Escaping follows InfluxDB's line-protocol reference: commas and spaces in a measurement; commas, equals
signs and spaces in tag keys, tag values and field keys; double quotes and backslashes in string fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adapters.io.influx.schema import BASE_TAGS, PACK_FIELDS, Group, layout

__all__ = ["Block", "LineFormatter", "escape_key", "escape_measurement", "escape_string"]


def escape_measurement(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def escape_key(s: str) -> str:
    """A tag key, tag value or field key."""
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ").replace("\n", "\\n")


def escape_string(s: str) -> str:
    """A string field's value, without its quotes."""
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class Block:
    """Formatted lines: ``data`` (each line ends with a newline) and where each line starts."""

    data: bytes = b""
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))  # n_lines + 1 offsets

    @property
    def n_lines(self) -> int:
        return len(self.starts) - 1

    def pieces(self, max_lines: int) -> list[tuple[bytes, int]]:
        """The block cut into pieces of at most ``max_lines`` whole lines: (bytes, number of lines)."""
        out = []
        for a in range(0, self.n_lines, max_lines):
            b = min(a + max_lines, self.n_lines)
            out.append((self.data[self.starts[a] : self.starts[b]], b - a))
        return out


def _strings(arr: pa.Array) -> pa.Array:
    return arr.cast(pa.string())


def _lines(prefix: pa.Array | str, fields: Sequence[tuple[str, pa.Array]], ts_nl: pa.Array) -> pa.Array:
    """``prefix f1=v1,f2=v2 ts\\n`` for every row; null values are left out, rows with no value dropped."""
    pieces = [pc.binary_join_element_wise(key, vals, "") for key, vals in fields]
    body = pieces[0] if len(pieces) == 1 else pc.binary_join_element_wise(*pieces, ",", null_handling="skip")
    if body.null_count or pc.any(pc.equal(body, "")).as_py():
        keep = pc.and_kleene(pc.is_valid(body), pc.not_equal(body, ""))
        keep = pc.fill_null(keep, False)
        body, ts_nl = pc.filter(body, keep), pc.filter(ts_nl, keep)
        if isinstance(prefix, pa.Array):
            prefix = pc.filter(prefix, keep)
    return pc.binary_join_element_wise(prefix, body, ts_nl, " ")


def _join(arrays: Sequence[pa.Array]) -> Block:
    arrays = [a for a in arrays if len(a)]
    if not arrays:
        return Block()
    arr = pa.chunked_array(arrays, type=pa.string()).combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    assert data is not None
    lo, hi = int(offsets[0]), int(offsets[-1])
    return Block(data=data.to_pybytes()[lo:hi], starts=offsets.astype(np.int64) - lo)


def _column(x: np.ndarray) -> pa.Array:
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    return _strings(pa.array(x) if finite.all() else pa.array(x, mask=~finite))


class LineFormatter:
    """Line protocol for one run: the base tags (``site``, ``scenario``, ``run``), the start of the run in
    milliseconds since the epoch (UTC), and the layout of the result rows (:func:`schema.layout`)."""

    def __init__(self, tags: Mapping[str, str], start_ms: int, columns: Sequence[str] = ()) -> None:
        missing = [k for k in BASE_TAGS if k not in tags]
        if missing:
            raise ValueError(f"base tags missing: {missing}")
        self.start_ms = int(start_ms)
        self.base = ",".join(f"{escape_key(k)}={escape_key(tags[k])}" for k in sorted(tags))
        self._event_used: set[tuple[str, int]] = set()
        self.set_columns(columns)

    def set_columns(self, columns: Sequence[str]) -> None:
        """The columns of the result rows (``time_s`` among them) that :meth:`rows` gets."""
        self.columns = list(columns)
        self.t_col = self.columns.index("time_s") if self.columns else -1
        self.groups: list[Group] = layout(self.columns)
        self._prefix = [self._prefix_of(g.measurement, g.tags) for g in self.groups]
        self._keys = [[(f"{escape_key(f)}=", j) for j, f in g.fields] for g in self.groups]

    def _prefix_of(self, measurement: str, tags: Sequence[tuple[str, str]]) -> str:
        extra = "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags))
        return f"{escape_measurement(measurement)},{self.base}{extra}"

    def timestamps_ms(self, t_s: np.ndarray) -> np.ndarray:
        return self.start_ms + np.rint(np.asarray(t_s, dtype=np.float64) * 1000.0).astype(np.int64)

    def _ts_nl(self, t_s: np.ndarray) -> pa.Array:
        return pc.binary_join_element_wise(_strings(pa.array(self.timestamps_ms(t_s))), "\n", "")

    # -- result rows -----------------------------------------------------------------------------
    def rows(self, block: np.ndarray) -> Block:
        """Lines of a block of rows (``n x len(columns)``, the columns given at construction)."""
        if not len(block):
            return Block()
        if self.t_col < 0:
            raise ValueError("LineFormatter.rows: no columns set (set_columns)")
        ts_nl = self._ts_nl(block[:, self.t_col])
        cols: dict[int, pa.Array] = {}
        out = []
        for prefix, keys in zip(self._prefix, self._keys, strict=True):
            fields = []
            for key, j in keys:
                if j not in cols:
                    cols[j] = _column(block[:, j])
                fields.append((key, cols[j]))
            out.append(_lines(prefix, fields, ts_nl))
        return _join(out)

    # -- pack snapshots --------------------------------------------------------------------------
    def packs(self, t_s: float, snapshot: Mapping[str, np.ndarray], block: np.ndarray, pack_id: np.ndarray) -> Block:
        """``pack`` lines of one snapshot (:meth:`twin.fleet.BatteryFleet.snapshot`), tagged block and pack."""
        n = len(pack_id)
        if not n:
            return Block()
        head = f"{escape_measurement('pack')},{self.base},block="
        prefix = pc.binary_join_element_wise(
            head, _strings(pa.array(np.asarray(block, dtype=np.int64))), ",pack=", _strings(pa.array(pack_id)), ""
        )
        ts_nl = self._ts_nl(np.full(n, float(t_s)))
        fields = [(f"{escape_key(f)}=", _column(snapshot[f])) for f in PACK_FIELDS if f in snapshot]
        return _join([_lines(prefix, fields, ts_nl)])

    # -- events ----------------------------------------------------------------------------------
    def events(self, events: Sequence[Mapping[str, Any]]) -> Block:
        """``events`` lines, tagged ``kind``. Events of one kind at one millisecond are spread 1 ms apart (a
        point with the tags and timestamp of another overwrites it); ``time_s`` keeps the exact time."""
        lines = []
        for ev in events:
            kind = str(ev.get("kind", "event"))
            t = float(ev.get("time_s", 0.0))
            ts = int(self.timestamps_ms(np.array([t]))[0])
            while (kind, ts) in self._event_used:
                ts += 1
            self._event_used.add((kind, ts))
            detail = ev.get("detail", "")
            text = detail if isinstance(detail, str) else repr(detail)
            lines.append(
                f"{escape_measurement('events')},{self.base},kind={escape_key(kind)} "
                f'time_s={t!r},detail="{escape_string(text)}" {ts}\n'
            )
        if not lines:
            return Block()
        data = "".join(lines).encode()
        lens = np.fromiter((len(s.encode()) for s in lines), dtype=np.int64, count=len(lines))
        return Block(data=data, starts=np.concatenate([[0], np.cumsum(lens)]))
