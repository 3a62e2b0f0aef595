"""Telemetry readers: one function per file format, all behind :func:`read_source`.

Every reader returns, for each requested tag, a :class:`TagSeries` in file order
(nothing dropped or sorted: that is :mod:`~adapters.io.telemetry.quality`'s
job) and the file-level findings (how the stamps were read, daylight-saving
changes, stamps that cannot be read). Formats:

- ``csv_long``: one row per sample, columns ``tag``, ``time``, ``value`` and (optional) ``quality``
  named by the source's ``columns``; ``csv_wide``: ``time`` and one column per tag. Rows are the
  file's line numbers (the header is line 1; quoted fields spanning lines are not counted apart).
- ``parquet``: long when it has the tag and value columns, else wide; the time column may be a
  tz-aware or naive timestamp or text. Rows are 1-based record numbers.
- ``comtrade``: IEEE C37.111 (1991, 1999, 2013) through the ``comtrade`` package; the source's file
  is the ``.cfg`` with the ``.dat`` beside it (ASCII, BINARY, BINARY32, FLOAT32). Tags are the
  channel names (``ch_id``) of analog and status channels; analog values are ``a * x + b`` as the
  cfg states them (primary or secondary as the channel's P/S flag says: the mapping's ``scale``
  converts). Sample times are the cfg's start stamp plus the record's time (from the sampling
  rates, or the .dat stamps x timemult when the cfg gives no rate); rows are the .dat sample numbers.
  A 2013 cfg's ``time_code`` (the stamps' offset from UTC) is honoured; without it the stamps are
  read in the source's zone. ``.cff`` (single-file) records are not read.
- ``influx_csv``: an InfluxDB 2 annotated CSV export (``#datatype``/``#group``/``#default`` rows,
  several tables each with its own header). A tag is ``measurement.field`` for a series without
  tag columns, else ``measurement,k1=v1,k2=v2.field`` (keys sorted, as line protocol's series key,
  without escapes); a bare ``field`` or ``measurement.field`` is accepted when it names one series.
  Rows are physical line numbers (annotations counted).

Times become int64 ns UTC: a stamp with an offset (or ``Z``) as written, a stamp without one in
the source's IANA zone (ambiguous fall-back stamps resolved by their order, nonexistent
spring-forward stamps shifted forward; both reported as ``dst``). Values become float64 in the
file's unit; empty or non-numeric cells are NaN; ``true/on/closed`` -> 1, ``false/off/open`` -> 0.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import comtrade
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adapters.io.telemetry.series import Finding, Severity, TagSeries, finding, rows_text, source_name
from twin.config.recorded import SourceConfig
from twin.errors import TelemetryError
from twin.validation import close_match, did_you_mean

__all__ = ["BOOL_WORDS", "read_source"]

_NAT = np.iinfo(np.int64).min  # numpy's NaT as int64
# text booleans of status tags; "closed" = 1 as a breaker's 52a contact reads
BOOL_WORDS: dict[str, float] = {"true": 1.0, "false": 0.0, "on": 1.0, "off": 0.0, "closed": 1.0, "open": 0.0}
# a stamp's UTC offset: Z or +hh[[:]mm] right after a clock time (a date's "-07-15" is not one)
_HAS_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_OFFSET_RE = re.compile(r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")
_ISO_HELP = "ISO 8601 such as 2025-07-15T12:00:00-07:00 or 2025-07-15 12:00:00 (else set the source's time_format)"
_INFLUX_FIXED = ("", "result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement")


_Rows = np.ndarray | None


@dataclass
class _Ctx:
    """One source being read: its names, zone and the findings so far."""

    src: SourceConfig
    path: Path
    name: str
    tz: str
    word: str = "line"  # what a row is called in messages: line (CSV), record (Parquet), sample (COMTRADE)
    findings: list[Finding] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.src.file

    def fail(self, msg: str, row: int | None = None) -> TelemetryError:
        return TelemetryError(f"{self.file}{f' {self.word} {row}' if row is not None else ''}: {msg}")

    def note(self, kind: str, msg: str, action: str, sev: Severity = "info", rows: _Rows = None, tag: str = "") -> None:
        self.findings.append(finding(self.file, tag, kind, msg, action, sev, rows))


def _listing(names: Collection[str], limit: int = 20) -> str:
    """Names for a message, shortened when there are many (20: still readable on one line)."""
    ns = sorted(str(n) for n in names)
    more = f", ... ({len(ns) - limit} more)" if len(ns) > limit else ""
    return ", ".join(repr(n) for n in ns[:limit]) + more if ns else "none"


def _rows_text(rows: np.ndarray, word: str) -> str:
    return rows_text(rows, word)


# --------------------------------------------------------------------------- times
def _zone(ctx: _Ctx) -> str:
    """The source's zone, checked; pandas gets the name (its own zone tables are ~40 x faster than ZoneInfo)."""
    try:
        if not ctx.tz:
            raise ValueError("empty")
        zoneinfo.ZoneInfo(ctx.tz)
        return ctx.tz
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        hint = did_you_mean(ctx.tz, zoneinfo.available_timezones(), fold_case=True)
        raise ctx.fail(
            f"stamps have no UTC offset and the time zone {ctx.tz!r} is not an IANA zone{hint}; set the "
            "source's or the mapping's timezone (e.g. 'America/Los_Angeles')"
        ) from exc


def _localize(ctx: _Ctx, naive: np.ndarray, rows: np.ndarray, groups: Mapping[str, np.ndarray]) -> np.ndarray:
    """Naive local ns -> UTC ns in the source's zone; DST changes resolved and reported."""
    zone = _zone(ctx)
    idx = pd.DatetimeIndex(naive.view("M8[ns]"))
    out = np.array(idx.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").asi8)
    bad = np.flatnonzero((out == _NAT) & (naive != _NAT))
    if not len(bad):
        return out
    dst = idx[bad].tz_localize(zone, ambiguous=np.ones(len(bad), bool), nonexistent="NaT").asi8
    gone = bad[dst == _NAT]  # spring forward: no such local time
    if len(gone):
        out[gone] = idx[gone].tz_localize(zone, nonexistent="shift_forward").asi8
        msg = f"{len(gone)} stamps fall in the hour the clocks skip ({_rows_text(rows[gone], ctx.word)}, {ctx.tz})"
        ctx.note("dst", msg, "shifted forward to the end of the skipped hour", "warning", rows[gone])
    amb = np.zeros(len(naive), bool)
    amb[bad[dst != _NAT]] = True
    for tag, g in groups.items():
        g = g[naive[g] != _NAT]
        hit = amb[g]
        if not hit.any():
            continue
        sev: Severity = "info"
        try:
            res = idx[g].tz_localize(zone, ambiguous="infer", nonexistent="shift_forward").asi8
            how = "told apart by their order (first pass daylight time, repeat standard time)"
        except Exception:  # pytz's AmbiguousTimeError (pandas' own dependency): the order does not tell
            res = idx[g].tz_localize(zone, ambiguous=np.ones(len(g), bool), nonexistent="shift_forward").asi8
            how, sev = "the order does not tell them apart: took the earlier (daylight-time) instant", "warning"
        out[g[hit]] = res[hit]
        r = rows[g[hit]]
        msg = f"{len(r)} stamps fall in the repeated hour of the fall-back ({_rows_text(r, ctx.word)}, {ctx.tz})"
        ctx.note("dst", msg, how, sev, r, tag)
    return out


def _utc_ns(series: pd.Series) -> np.ndarray:
    s = series.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns")
    return np.asarray(s.to_numpy(dtype="M8[ns]")).view(np.int64)


def _parse_ns(text: pd.Series, fmt: str | None, utc: bool) -> np.ndarray:
    """Stamps -> int64 ns (``_NAT`` where unreadable): Arrow's ISO 8601 cast (fast), else pandas element-wise."""
    if fmt is None:
        try:
            ts = pc.cast(pa.array(text), pa.timestamp("ns", "UTC" if utc else None)).cast(pa.int64())
            return np.asarray(pc.fill_null(ts, _NAT).to_numpy(zero_copy_only=False), np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # one stamp Arrow cannot read: pandas tells which
    parsed = pd.to_datetime(text.astype(object), format=fmt or "ISO8601", utc=utc, errors="coerce")
    return _utc_ns(parsed) if utc else np.asarray(parsed.dt.as_unit("ns").to_numpy(dtype="M8[ns]")).view(np.int64)


def _times(ctx: _Ctx, col: pd.Series, rows: np.ndarray, groups: Mapping[str, np.ndarray]) -> np.ndarray:
    """A time column -> int64 UTC ns (``_NAT`` where it cannot be read); ``groups``: runs of one tag in file order."""
    col = col.reset_index(drop=True)
    n = len(col)
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        ctx.note("timezone", f"stamps carry a time zone ({col.dt.tz}); taken as written", "none")
        return _utc_ns(col)
    if pd.api.types.is_datetime64_dtype(col.dtype):
        naive = np.asarray(col.dt.as_unit("ns").to_numpy(dtype="M8[ns]")).view(np.int64)
        ctx.note("timezone", f"stamps have no UTC offset: read as {ctx.tz} local time", "none")
        return _localize(ctx, naive, rows, groups)
    if not (pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(col.dtype)):
        raise ctx.fail(
            f"time column {ctx.src.columns.time!r} holds {col.dtype} values; expected date-times or text "
            f"stamps ({_ISO_HELP})"
        )
    text = col.astype("string[pyarrow]").str.strip()
    aware = text.str.contains(_HAS_OFFSET).fillna(False).to_numpy(bool)
    out = np.full(n, _NAT, np.int64)
    said = []
    if aware.any():
        sub = text[aware]
        out[aware] = _parse_ns(sub, ctx.src.time_format, utc=True)
        offs = sorted({m.group(0) for t in pd.unique(sub.str.slice(-6)) if (m := _OFFSET_RE.search(str(t)))})
        said.append(f"stamps carry UTC offsets ({', '.join(offs[:6])}); taken as written")
    naive_m = ~aware & text.notna().to_numpy(bool)
    if naive_m.any():
        naive = np.full(n, _NAT, np.int64)
        naive[naive_m] = _parse_ns(text[naive_m], ctx.src.time_format, utc=False)
        said.append(
            f"{'stamps have' if not aware.any() else f'{int(naive_m.sum())} stamps have'} no UTC offset: "
            f"read as {ctx.tz} local time"
        )
        loc = _localize(ctx, naive, rows, groups)
        out[naive_m] = loc[naive_m]
    if said:
        ctx.note("timezone", "; ".join(said), "none")
    bad = np.flatnonzero(out == _NAT)
    if len(bad):
        first = text.iloc[bad[0]]
        shown = "(empty)" if pd.isna(first) else repr(str(first))
        want = f"the format {ctx.src.time_format!r} (time_format)" if ctx.src.time_format else _ISO_HELP
        if len(bad) * 2 > n:
            raise ctx.fail(
                f"time {shown} cannot be read ({len(bad)} of {n} stamps cannot); expected {want}", int(rows[bad[0]])
            )
        msg = f"{len(bad)} time stamps cannot be read ({ctx.word} {int(rows[bad[0]])}: {shown}); expected {want}"
        ctx.note("unparseable", msg, f"dropped {len(bad)} samples", "warning", rows[bad])
    return out


# --------------------------------------------------------------------------- values
def _values(col: pd.Series) -> np.ndarray:
    """Cells -> float64: numbers as they are, text booleans 1/0, anything else NaN."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(col.dtype):
        return np.asarray(col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    v = np.asarray(pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan), np.float64)
    miss = np.isnan(v) & col.notna().to_numpy(bool)
    if miss.any():
        words = col[miss].astype(str).str.strip().str.lower().map(BOOL_WORDS)
        v[miss] = words.to_numpy(dtype=np.float64, na_value=np.nan)
    return v


def _good(col: pd.Series | None, codes: tuple[str, ...], n: int) -> np.ndarray:
    if col is None:
        return np.ones(n, bool)
    if pd.api.types.is_numeric_dtype(col.dtype):
        nums = [float(c) for c in codes if re.fullmatch(r"[+-]?\d+(\.\d*)?", c)]
        return col.isin(nums).to_numpy(bool)
    return col.astype("string[pyarrow]").str.strip().isin(codes).fillna(False).to_numpy(bool)


def _groups(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Positions of each key, in file order."""
    codes, uniq = pd.factorize(keys)
    order = np.argsort(codes, kind="stable")
    cuts = np.cumsum(np.bincount(codes, minlength=len(uniq)))[:-1]
    return {str(k): part for k, part in zip(uniq, np.split(order, cuts))}


# --------------------------------------------------------------------------- shared shapes
def _missing(ctx: _Ctx, what: str, name: str, have: Collection[str]) -> TelemetryError:
    return ctx.fail(f"{what} {name!r} not found{did_you_mean(name, have)}; the file has {_listing(have)}")


def _long(
    ctx: _Ctx,
    tag: pd.Series,
    time: pd.Series,
    value: pd.Series,
    quality: pd.Series | None,
    rows: np.ndarray,
    tags: Collection[str],
    alias: Mapping[str, str] | None = None,
) -> dict[str, TagSeries]:
    """One sample per row: pick the requested tags, read times, values and quality."""
    tag = tag.astype("string[pyarrow]")  # a Parquet tag column may hold numbers; tags are text
    have = set(pd.unique(tag.dropna()).astype(str))
    key: dict[str, str] = {}
    for t in tags:
        k = t if t in have else (alias or {}).get(t)
        if k is None:
            raise _missing(ctx, "tag", t, have)
        key[t] = k
    pick = tag.isin(set(key.values())).to_numpy(bool)
    rows = rows[pick]
    groups = _groups(tag[pick].astype(str).to_numpy())
    t_ns = _times(ctx, time[pick], rows, groups)
    v = _values(value[pick].reset_index(drop=True))
    good = _good(None if quality is None else quality[pick], ctx.src.good_quality, len(rows))
    out = {}
    for t, k in key.items():
        g = groups[k]
        g = g[t_ns[g] != _NAT]
        out[t] = TagSeries(t, ctx.name, ctx.file, rows[g], t_ns[g], v[g], good[g])
    return out


def _wide(ctx: _Ctx, time: pd.Series, cols: Mapping[str, pd.Series], rows: np.ndarray) -> dict[str, TagSeries]:
    """One row per stamp, one column per tag (no quality)."""
    t_ns = _times(ctx, time, rows, {"": np.arange(len(rows))})
    keep = t_ns != _NAT
    r, t, good = rows[keep], t_ns[keep], np.ones(int(keep.sum()), bool)
    return {tag: TagSeries(tag, ctx.name, ctx.file, r, t, _values(c)[keep], good) for tag, c in cols.items()}


# --------------------------------------------------------------------------- CSV
def _csv(
    ctx: _Ctx, source: Path | io.BytesIO, sep: str | None = None, blank: bool = False, **kw: object
) -> pd.DataFrame:
    """pandas' C reader; blank lines kept as empty rows (``blank=False``) so that row i is line i + 2."""
    sep = sep or ctx.src.delimiter
    try:
        return pd.read_csv(source, sep=sep, encoding="utf-8-sig", skip_blank_lines=blank, **kw)
    except UnicodeDecodeError as exc:
        raise ctx.fail(
            f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save the export as UTF-8"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise ctx.fail("the file is empty: expected a header row naming the columns, then data rows") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise ctx.fail(f"cannot be read as CSV with the delimiter {sep!r}: {exc}") from exc


def _header(ctx: _Ctx) -> list[str]:
    return [str(c) for c in _csv(ctx, ctx.path, nrows=0).columns]


def _need(ctx: _Ctx, names: list[str], *want: str) -> None:
    for w in want:
        if w not in names:
            raise _missing(ctx, "column", w, names)


def _read_csv_long(ctx: _Ctx, tags: Collection[str]) -> dict[str, TagSeries]:
    c = ctx.src.columns
    names = _header(ctx)
    _need(ctx, names, c.tag, c.time, c.value)
    use = [c.tag, c.time, c.value] + ([c.quality] if c.quality in names else [])
    df = _csv(ctx, ctx.path, usecols=use, dtype={c.tag: str, c.time: str, c.quality: str})
    _no_data(ctx, df)
    rows = np.arange(2, len(df) + 2, dtype=np.int64)  # line 1 is the header; blank lines are kept as rows
    q = df[c.quality] if c.quality in names else None
    return _long(ctx, df[c.tag], df[c.time], df[c.value], q, rows, tags)


def _read_csv_wide(ctx: _Ctx, tags: Collection[str]) -> dict[str, TagSeries]:
    c = ctx.src.columns
    names = _header(ctx)
    _need(ctx, names, c.time)
    for t in tags:
        if t not in names:
            raise _missing(ctx, "tag column", t, [n for n in names if n != c.time])
    df = _csv(ctx, ctx.path, usecols=[c.time, *tags], dtype={c.time: str})
    _no_data(ctx, df)
    rows = np.arange(2, len(df) + 2, dtype=np.int64)
    keep = df.notna().any(axis=1).to_numpy(bool)  # blank lines: nothing to read
    df, rows = df[keep], rows[keep]
    return _wide(ctx, df[c.time], {t: df[t] for t in tags}, rows)


def _no_data(ctx: _Ctx, df: pd.DataFrame) -> None:
    if not len(df) or not df.notna().to_numpy().any():
        raise ctx.fail(f"the file has a header ({_listing([str(c) for c in df.columns], 8)}) but no data rows")


# --------------------------------------------------------------------------- Parquet
def _read_parquet(ctx: _Ctx, tags: Collection[str]) -> dict[str, TagSeries]:
    ctx.word = "record"
    c = ctx.src.columns
    try:
        names = pq.read_schema(ctx.path).names
        long = c.tag in names and c.value in names
        _need(ctx, names, c.time)
        if not long:
            for t in tags:
                if t not in names:
                    raise _missing(ctx, "tag column", t, [n for n in names if n != c.time])
        use = ([c.tag, c.time, c.value] + ([c.quality] if c.quality in names else [])) if long else [c.time, *tags]
        df = pq.read_table(ctx.path, columns=use).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise ctx.fail(f"cannot be read as Parquet: {exc}") from exc
    if not len(df):
        raise ctx.fail("the file has no records")
    rows = np.arange(1, len(df) + 1, dtype=np.int64)
    if long:
        q = df[c.quality] if c.quality in names else None
        return _long(ctx, df[c.tag].astype(object), df[c.time], df[c.value], q, rows, tags)
    return _wide(ctx, df[c.time], {t: df[t] for t in tags}, rows)


# --------------------------------------------------------------------------- InfluxDB annotated CSV
def _read_influx(ctx: _Ctx, tags: Collection[str]) -> dict[str, TagSeries]:
    try:
        data = ctx.path.read_bytes()
    except OSError as exc:
        raise ctx.fail(f"cannot read the file: {exc.strerror or exc}") from exc
    raw = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(raw == 10)
    starts = np.r_[0, nl + 1]
    ends = np.r_[nl, len(raw)]  # exclusive, without the newline
    if starts[-1] == len(raw):
        starts, ends = starts[:-1], ends[:-1]
    body_end = ends - ((ends > starts) & (raw[np.maximum(ends - 1, 0)] == 13))  # without a CR
    blank = body_end <= starts
    first = np.where(blank, 0, raw[np.minimum(starts, max(len(raw) - 1, 0))])
    annot = first == ord("#")
    data_line = ~annot & ~blank
    heads = np.flatnonzero(data_line & ~np.r_[False, data_line[:-1]])  # first line of each run: its header
    if not len(heads):
        raise ctx.fail(
            "the file has no table: expected annotation rows (#datatype, #group, #default), a header "
            "',result,table,_start,_stop,_time,_value,_field,_measurement,...' and data rows"
        )
    other = np.r_[np.flatnonzero(~data_line), len(data_line)]
    stops = other[np.searchsorted(other, heads)]  # each table's end: the next annotation, blank line or the end
    parts = [_influx_table(ctx, data, int(h), int(e), starts, ends, annot) for h, e in zip(heads, stops)]
    df = pd.concat(parts, ignore_index=True)
    keys = df["key"].to_numpy(object)
    alias: dict[str, str] = {}
    uniq = pd.unique(keys)
    for col in ("_field", "mf"):
        names = df.drop_duplicates("key").set_index("key")[col]
        counts = names.value_counts()
        for k, nm in names.items():
            if counts[nm] == 1 and nm not in uniq:
                alias.setdefault(str(nm), str(k))
    return _long(ctx, df["key"], df["_time"], df["_value"], None, df["row"].to_numpy(np.int64), tags, alias)


def _influx_table(
    ctx: _Ctx, data: bytes, h: int, stop: int, starts: np.ndarray, ends: np.ndarray, annot: np.ndarray
) -> pd.DataFrame:
    """One header and its data lines (lines ``h`` to ``stop - 1``, 0-based) as key, time, value, row."""
    try:
        header = next(csv.reader([data[starts[h] : ends[h]].decode("utf-8-sig").rstrip("\r")]))
    except UnicodeDecodeError as exc:
        raise ctx.fail("the header is not UTF-8 text", h + 1) from exc
    miss = [c for c in ("_time", "_value", "_field", "_measurement") if c not in header]
    if miss:
        raise ctx.fail(
            f"the header has no column {miss[0]!r}{did_you_mean(miss[0], header)}; it has "
            f"{_listing([c for c in header if c])} (an InfluxDB 2 annotated CSV export is expected)",
            h + 1,
        )
    defaults: dict[str, str] = {}
    a = h - 1
    while a >= 0 and annot[a]:  # this table's annotations (a few lines)
        fields = next(csv.reader([data[starts[a] : ends[a]].decode("utf-8", "replace").rstrip("\r")]))
        if fields and fields[0] == "#default":
            defaults = {c: d for c, d in zip(header[1:], fields[1:]) if d}
        a -= 1
    cols = [c if c else f"_annotation{i}" for i, c in enumerate(header)]
    text_cols = {c: str for c in cols if c != "_value"}
    df = _csv(ctx, io.BytesIO(data[starts[h] : ends[stop - 1]]), ",", header=0, names=cols, dtype=text_cols)
    for c, d in defaults.items():
        if c in df:
            df[c] = df[c].fillna(d)
    tag_keys = sorted(c for c in header if c not in _INFLUX_FIXED)
    key = df["_measurement"].fillna("").astype(str)
    for k in tag_keys:
        key = key + ("," + k + "=" + df[k]).fillna("")
    out = pd.DataFrame({"_time": df["_time"], "_value": df["_value"], "_field": df["_field"].astype(str)})
    out["key"] = key + "." + out["_field"]
    out["mf"] = df["_measurement"].fillna("").astype(str) + "." + out["_field"]
    out["row"] = np.arange(h + 2, h + 2 + len(df), dtype=np.int64)  # line h + 1 is the header (1-based)
    return out


# --------------------------------------------------------------------------- COMTRADE
_C37_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2,4})\s*,\s*(\d{1,2}):(\d{2}):(\d{1,2})(?:\.(\d{1,9}))?\s*$")
_C37_CODE = re.compile(r"^([+-])?(\d{1,2})(?:h(\d{2}))?$")  # a 2013 time_code: "-7", "+5h30", "0"


def _read_comtrade(ctx: _Ctx, tags: Collection[str]) -> dict[str, TagSeries]:
    ctx.word = "sample"
    if ctx.path.suffix.lower() != ".cfg":
        raise ctx.fail("a COMTRADE source names the .cfg file (the .dat beside it); single-file .cff is not read")
    dat = next((p for p in (ctx.path.with_suffix(s) for s in (".dat", ".DAT", ".Dat")) if p.is_file()), None)
    if dat is None:
        raise ctx.fail(f"the COMTRADE data file {ctx.path.with_suffix('.dat').name} is missing beside the .cfg")
    try:
        lines = ctx.path.read_text("utf-8").splitlines()
        rec = comtrade.Comtrade(ignore_warnings=True, use_numpy_arrays=True, use_double_precision=True)
        rec.load(str(ctx.path), str(dat))
    except (comtrade.ComtradeError, ValueError, TypeError, IndexError, KeyError, OSError) as exc:
        raise ctx.fail(
            f"cannot be read as an IEEE C37.111 record (cfg and {dat.name}): {exc}; check the cfg's channel counts "
            "and lines, and its two stamps (dd/mm/yyyy,hh:mm:ss.ssssss: the comtrade reader needs the fraction)"
        ) from exc
    cfg = rec.cfg
    names = [str(n) for n in (*rec.analog_channel_ids, *rec.status_channel_ids)]
    for t in tags:
        if t not in names:
            raise _missing(ctx, "channel", t, names)
        if names.count(t) > 1:
            raise ctx.fail(f"channel name {t!r} appears {names.count(t)} times in the cfg: it cannot tell them apart")
    i_start = 2 + rec.analog_count + rec.status_count + 2 + max(cfg.nrates, 1)  # lines before the start stamp
    start_ns = _c37_stamp(ctx, lines[i_start] if i_start < len(lines) else "", rec.rev_year, i_start + 1)
    n_num = _c37_sample_numbers(ctx, dat, rec)
    n = min(len(n_num), rec.total_samples)
    if n < rec.total_samples:
        msg = f"{dat.name} holds {n} samples; the cfg announces {rec.total_samples}"
        ctx.note("truncated", msg, f"read the {n} samples present", "warning")
    code = lines[i_start + 4].split(",")[0].strip() if rec.rev_year == "2013" and i_start + 4 < len(lines) else ""
    m = _C37_CODE.match(code)
    if m:
        off_min = (-1 if m.group(1) == "-" else 1) * (int(m.group(2)) * 60 + int(m.group(3) or 0))
        start_ns -= off_min * 60_000_000_000
        msg = f"the 2013 cfg's time_code {code!r} puts the stamps at UTC{off_min / 60:+g} h; taken as written"
        ctx.note("timezone", msg, "none")
    else:
        start_ns = int(_localize(ctx, np.array([start_ns]), np.array([i_start + 1]), {"": np.array([0])})[0])
        said = f"revision {rec.rev_year}{', time_code ' + repr(code) if code else ''}"
        ctx.note("timezone", f"the cfg's start stamp has no UTC offset ({said}): read as {ctx.tz} local time", "none")
    out = {}
    secondary = []
    for i, ch in enumerate(cfg.analog_channels):
        if ch.name in tags:
            t_s = np.asarray(rec.analog_time[i], np.float64)[:n]
            out[ch.name] = _c37_series(ctx, ch.name, start_ns, t_s, np.asarray(rec.analog[i], np.float64)[:n], n_num)
            if str(ch.pors).strip().upper() == "S":
                secondary.append(f"{ch.name} (x {ch.primary:g}/{ch.secondary:g} for primary)")
    for i, ch in enumerate(cfg.status_channels):
        if ch.name in tags:
            t_s = np.asarray(rec.time, np.float64)[:n]
            out[ch.name] = _c37_series(ctx, ch.name, start_ns, t_s, np.asarray(rec.status[i], np.float64)[:n], n_num)
    if secondary:
        ctx.note("secondary", f"channels in secondary units: {', '.join(secondary)}", "none (the tag's scale converts)")
    return out


def _c37_series(ctx: _Ctx, tag: str, start_ns: int, t_s: np.ndarray, v: np.ndarray, n_num: np.ndarray) -> TagSeries:
    t_ns = start_ns + np.rint(t_s * 1e9).astype(np.int64)
    return TagSeries(tag, ctx.name, ctx.file, n_num[: len(v)], t_ns, v, np.ones(len(v), bool))


def _c37_stamp(ctx: _Ctx, line: str, rev: str, lineno: int) -> int:
    m = _C37_DATE.match(line)
    if not m:
        raise ctx.fail(f"cfg line {lineno}: start stamp {line!r} cannot be read; expected dd/mm/yyyy,hh:mm:ss.ssssss")
    d1, d2, y, hh, mm, ss = (int(x) for x in m.groups()[:6])
    day, month = (d2, d1) if rev == "1991" else (d1, d2)  # 1991 writes mm/dd/yy
    y += (1900 if y >= 70 else 2000) if y < 100 else 0  # a two-digit year (1991 files): 1970-2069
    frac = (m.group(7) or "").ljust(9, "0")
    try:
        return int(pd.Timestamp(y, month, day, hh, mm, ss).value) + int(frac)
    except ValueError as exc:
        raise ctx.fail(f"cfg line {lineno}: start stamp {line!r} is not a date ({exc})") from exc


def _c37_sample_numbers(ctx: _Ctx, dat: Path, rec: comtrade.Comtrade) -> np.ndarray:
    """The sample number n of each .dat record (the package keeps only the times)."""
    ft = rec.ft.upper()
    if ft == "ASCII":
        df = _csv(ctx, dat, ",", True, header=None, usecols=[0], nrows=rec.total_samples)
        return pd.to_numeric(df[0], errors="coerce").fillna(-1).to_numpy(np.int64)
    width = {"BINARY": 2, "BINARY32": 4, "FLOAT32": 4}[ft]  # bytes per analog value (C37.111 7.x)
    row = 8 + width * rec.analog_count + 2 * ((rec.status_count + 15) // 16)  # n, timestamp, analog, status words
    raw = np.frombuffer(dat.read_bytes(), np.uint8)
    k = min(len(raw) // row, rec.total_samples)
    return raw[: k * row].reshape(k, row)[:, :4].copy().view("<u4").ravel().astype(np.int64)


# --------------------------------------------------------------------------- entry
_READERS = {
    "csv_long": _read_csv_long,
    "csv_wide": _read_csv_wide,
    "parquet": _read_parquet,
    "comtrade": _read_comtrade,
    "influx_csv": _read_influx,
}


def read_source(
    src: SourceConfig, base_dir: Path, default_tz: str, tags: Collection[str]
) -> tuple[dict[str, TagSeries], list[Finding]]:
    """Read the requested ``tags`` of one telemetry file; the file-level findings with them.

    ``src.file`` is relative to ``base_dir`` (the mapping file's folder); stamps without a UTC
    offset are read in ``src.timezone or default_tz``. Raises :class:`TelemetryError` (one message
    naming the file, row or column, with a close match) for a file that cannot be used or a
    requested tag it does not hold.
    """
    path = Path(base_dir) / src.file
    ctx = _Ctx(src, path, source_name(src), src.timezone or default_tz)
    if not path.is_file():
        folder = path.parent
        near = close_match(path.name, [p.name for p in folder.iterdir()]) if folder.is_dir() else None
        hint = f"; did you mean '{Path(src.file).parent / near}'?" if near else ""
        raise TelemetryError(f"{src.file}: no such file (looked for {path}){hint}")
    if path.stat().st_size == 0:
        raise ctx.fail("the file is empty")
    tags = list(dict.fromkeys(tags))
    series = _READERS[src.format](ctx, tags) if tags else {}
    return series, ctx.findings
