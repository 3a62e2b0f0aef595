"""Read (and write) a fleet inventory CSV: one row per pack.

The reader builds the same :class:`twin.fleet.inventory.FleetInventory` as the
seeded draw over the scenario's mix. Every problem in the file is reported
at once, each as ``FILE:LINE: column 'soh_frac' = '1.7': must be in (0, 1]``
(the value received and what is allowed, with a close match for a
misspelled column or chemistry); :class:`InventoryError` carries the
message. The columns are documented in ``docs/scenario.md``
("Inventory CSV").
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.config import CHEMISTRY_NAMES, ThermalConfig
from twin.errors import InventoryError
from twin.fleet.inventory import FleetInventory, blocks_in_order
from twin.validation import close_match, did_you_mean, format_problems

__all__ = ["COLUMNS", "MAX_SHOWN", "InventoryError", "read_inventory_csv", "write_inventory_csv"]

MAX_SHOWN = 40  # problems listed in one message (a file of 10 000 bad rows must stay readable)


@dataclass(frozen=True)
class _Column:
    name: str
    parse: Callable[[str], Any]  # raises ValueError with "what is allowed"
    required: bool = True


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    if lo is not None and hi is not None:
        allowed = f"an integer in [{lo}, {hi}]"
    elif lo is not None:
        allowed = f"an integer >= {lo}"
    else:
        allowed = "an integer"

    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise ValueError(f"must be {allowed}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"must be {allowed}")
        return v

    return parse


def _float(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Callable[[str], float]:
    if lo is None:
        allowed = "a finite number"
    else:
        allowed = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise ValueError(f"must be a number {allowed}" if lo is not None else f"must be {allowed}") from None
        if not math.isfinite(v):
            raise ValueError(f"must be {'a finite number ' + allowed if lo is not None else allowed}")
        if lo is not None and hi is not None and (v < lo or (lo_open and v == lo) or v > hi):
            raise ValueError(f"must be {allowed}")
        return v

    return parse


def _text(s: str) -> str:
    return s


_NOT_MODELLED = ("NCA", "LCO", "LTO", "LMFP", "NMCA", "NA-ION", "SIB")


def _chemistry(s: str) -> str:
    up = s.upper()
    if up in CHEMISTRY_NAMES:
        return up
    if up in _NOT_MODELLED:  # a real chemistry, not a typo: no suggestion
        raise ValueError(
            f"must be one of {', '.join(CHEMISTRY_NAMES)} (any case); {up} cells are not modelled, "
            "give the closest of these"
        )
    hint = did_you_mean(up, CHEMISTRY_NAMES, cutoff=0.5)
    raise ValueError(f"must be one of {', '.join(CHEMISTRY_NAMES)} (any case){hint}")


def _close(name: str, names: list[str]) -> str | None:
    """A close match of a column name (``name`` lower-cased; the column names are)."""
    return close_match(name.lower(), names)


def _columns(n_blocks: int) -> tuple[_Column, ...]:
    return (
        _Column("pack_id", _int(0)),
        _Column("vehicle", _text),
        _Column("chemistry", _chemistry),
        _Column("n_series", _int(4, 400)),
        _Column("e_nom_kwh", _float(0, 500, lo_open=True)),
        _Column("soh_frac", _float(0, 1, lo_open=True)),
        _Column("r_factor", _float(1, 5)),
        _Column("yard_x_m", _float()),
        _Column("yard_y_m", _float()),
        _Column("block", _int(0, n_blocks - 1), required=False),
        _Column("yard_row", _int(0), required=False),
    )


COLUMNS: tuple[str, ...] = tuple(c.name for c in _columns(1))  # in the order the writer uses


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.msgs: list[str] = []

    def add(self, line: int | None, msg: str) -> None:
        self.msgs.append(f"{self.path}:{line}: {msg}" if line else f"{self.path}: {msg}")

    def raise_if_any(self) -> None:
        if self.msgs:
            raise InventoryError(format_problems(str(self.path), self.msgs, "the inventory", max_shown=MAX_SHOWN))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        folder = path.parent
        names = sorted(q.name for q in folder.iterdir() if q.is_file()) if folder.is_dir() else []
        near = close_match(path.name, names)
        hint = f"; did you mean '{folder / near}'?" if near else ""
        raise InventoryError(f"{path}: no such inventory file{hint}") from exc
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark (spreadsheet export) is accepted
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InventoryError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            f"save the file as UTF-8 CSV"
        ) from exc


def read_inventory_csv(path: Path, n_blocks: int, thermal: ThermalConfig) -> FleetInventory:
    """Read an inventory CSV into a :class:`FleetInventory` of a site with ``n_blocks`` battery blocks.

    Rows are sorted stably by block (file order within a block). Without a
    ``block`` column packs are spread over the blocks in file order
    (:func:`twin.fleet.inventory.blocks_in_order`); without a ``yard_row`` column a
    pack's row is the rank of its ``yard_y_m`` among the distinct values.
    ``thermal`` (the fleet's thermal configuration, from which the mix draw
    lays out the yard) is not used: the file gives every position.
    Raises :class:`InventoryError` listing every problem found.
    """
    del thermal  # the file gives the positions; kept so that both sources of a fleet take the same inputs
    path = Path(path)
    text = _read_text(path)
    probs = _Problems(path)
    cols = {c.name: c for c in _columns(n_blocks)}

    # physical lines, without comments and blank lines, each parsed on its own so that line numbers stay exact
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            fields = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            probs.add(lineno, f"cannot parse the line as CSV: {exc}")
            continue
        rows.append((lineno, [f.strip() for f in fields]))
    if not rows:
        probs.add(
            None,
            "the inventory is empty: expected a header row naming the columns "
            f"({', '.join(COLUMNS)}), then one row per pack",
        )
        probs.raise_if_any()

    head_line, header = rows[0]
    if not any(name in cols or _close(name, list(cols)) for name in header):
        probs.add(
            head_line,
            f"the first row is not a header: expected the column names ({', '.join(COLUMNS)}; "
            "block and yard_row optional) before the pack rows",
        )
        probs.raise_if_any()
    index: dict[str, int] = {}
    unknown: list[str] = []
    for j, name in enumerate(header):
        if name in index:
            probs.add(head_line, f"column '{name}' appears twice in the header")
        elif name in cols:
            index[name] = j
        else:
            unknown.append(name)
    missing = [c.name for c in cols.values() if c.required and c.name not in index]
    suggested: set[str] = set()
    free = [n for n in cols if n not in index]
    for name in unknown:
        close = _close(name, free)
        hint = f"; did you mean '{close}'?" if close else ";"
        if close:
            suggested.add(close)
        probs.add(head_line, f"unknown column '{name}'{hint} Allowed columns: {', '.join(COLUMNS)}")
    rest = [m for m in missing if m not in suggested]
    if rest:
        probs.add(
            head_line,
            f"missing required column{'s' if len(rest) > 1 else ''} "
            f"{', '.join(repr(m) for m in rest)} (required: "
            f"{', '.join(c.name for c in cols.values() if c.required)})",
        )
    probs.raise_if_any()
    if len(rows) == 1:
        probs.add(head_line, "the inventory has a header but no pack rows")
        probs.raise_if_any()

    present = [c for c in cols.values() if c.name in index]
    values: dict[str, list[Any]] = {c.name: [] for c in present}
    lines: list[int] = []
    first_id: dict[int, int] = {}  # pack id -> line of its first row
    first_at: dict[tuple[float, float], int] = {}  # yard position -> line of its first row
    for lineno, fields in rows[1:]:
        if len(fields) != len(header):
            probs.add(lineno, f"{len(fields)} field{'s' if len(fields) != 1 else ''}, the header has {len(header)}")
            continue
        parsed: dict[str, Any] = {}
        for c in present:
            raw = fields[index[c.name]]
            if raw == "":
                probs.add(lineno, f"column '{c.name}' is empty")
                continue
            try:
                parsed[c.name] = c.parse(raw)
            except ValueError as exc:
                probs.add(lineno, f"column '{c.name}' = '{raw}': {exc}")
        pid = parsed.get("pack_id")
        if pid is not None:
            if pid in first_id:
                probs.add(
                    lineno,
                    f"column 'pack_id' = '{pid}': repeated; pack ids must be unique (first on line {first_id[pid]})",
                )
            else:
                first_id[pid] = lineno
        if "yard_x_m" in parsed and "yard_y_m" in parsed:
            xy = (parsed["yard_x_m"], parsed["yard_y_m"])
            if xy in first_at:
                probs.add(
                    lineno,
                    f"columns 'yard_x_m', 'yard_y_m' = '{xy[0]:g}', '{xy[1]:g}': another pack "
                    f"stands there (line {first_at[xy]}); two packs cannot share a position",
                )
            else:
                first_at[xy] = lineno
        if len(parsed) == len(present):
            lines.append(lineno)
            for k, v in parsed.items():
                values[k].append(v)
    probs.raise_if_any()

    n = len(lines)
    if "block" in values:
        block = np.asarray(values["block"], dtype=np.int64)
        empty = sorted(set(range(n_blocks)) - set(block.tolist()))
        if empty:
            probs.add(
                None,
                f"column 'block': no pack feeds block{'s' if len(empty) > 1 else ''} "
                f"{_ranges(empty)}; every block 0..{n_blocks - 1} needs at least one pack",
            )
    elif n < n_blocks:
        probs.add(
            None,
            f"{n} pack{'s' if n != 1 else ''} cannot fill the site's {n_blocks} battery blocks "
            "(site.bess.n_blocks); every block needs at least one pack",
        )
        block = np.zeros(n, dtype=np.int64)
    else:
        block = blocks_in_order(n, n_blocks)
    probs.raise_if_any()

    y = np.asarray(values["yard_y_m"], dtype=float)
    if "yard_row" in values:
        row = np.asarray(values["yard_row"], dtype=np.int64)
    else:
        row = np.unique(y, return_inverse=True)[1].astype(np.int64).reshape(-1)
    order = np.argsort(block, kind="stable")
    return FleetInventory(
        pack_id=np.asarray(values["pack_id"], dtype=np.int64)[order],
        vehicle=np.asarray(values["vehicle"], dtype=str)[order],
        chemistry=np.asarray(values["chemistry"], dtype=str)[order],
        n_series=np.asarray(values["n_series"], dtype=np.int64)[order],
        e_nom_mwh=(np.asarray(values["e_nom_kwh"], dtype=float) / 1000.0)[order],
        soh_frac=np.asarray(values["soh_frac"], dtype=float)[order],
        r_factor=np.asarray(values["r_factor"], dtype=float)[order],
        block=block[order],
        yard_x_m=np.asarray(values["yard_x_m"], dtype=float)[order],
        yard_y_m=y[order],
        yard_row=row[order],
    )


def _ranges(nums: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``'1..3, 7'`` (``nums`` sorted, not empty)."""
    runs: list[list[int]] = []
    for k in nums:
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return ", ".join(f"{a}..{b}" if b > a else f"{a}" for a, b in runs)


def write_inventory_csv(inv: FleetInventory, path: Path, comment: str = "") -> None:
    """Write ``inv`` as an inventory CSV (every column, floats exact), ``comment`` lines first as ``# ...``.

    Reading the file back with :func:`read_inventory_csv` gives arrays equal to ``inv``'s.
    """
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as f:
        for line in comment.splitlines():
            f.write(f"# {line}".rstrip() + "\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for i in range(inv.n_packs):
            w.writerow(
                [
                    int(inv.pack_id[i]),
                    str(inv.vehicle[i]),
                    str(inv.chemistry[i]),
                    int(inv.n_series[i]),
                    _num(inv.e_nom_mwh[i] * 1000.0),
                    _num(inv.soh_frac[i]),
                    _num(inv.r_factor[i]),
                    _num(inv.yard_x_m[i]),
                    _num(inv.yard_y_m[i]),
                    int(inv.block[i]),
                    int(inv.yard_row[i]),
                ]
            )


def _num(v: float) -> str:
    """Shortest text that reads back as exactly ``v`` (``66`` rather than ``66.0``)."""
    v = float(v)
    short = f"{v:g}"
    return short if float(short) == v else repr(v)
