"""What the telemetry readers hand on: one tag's samples as read, and data-quality findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from twin.config import SourceConfig

__all__ = ["MAX_ROWS", "SEVERITIES", "CleanSeries", "Finding", "TagSeries", "finding", "rows_text", "source_name"]

MAX_ROWS = 50  # rows listed in one finding (``n_rows`` says how many in all)

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "error")


@dataclass(frozen=True)
class TagSeries:
    """One tag of one file, in file order (nothing dropped or sorted yet)."""

    tag: str
    source: str  # the source's name in the mapping
    file: str  # the file as the mapping names it (for messages)
    row: np.ndarray  # int64: the file's line number of each sample (CSV: header = line 1), or record number
    time_ns: np.ndarray  # int64: UTC, nanoseconds since the epoch
    value: np.ndarray  # float64: in the file's unit; NaN where empty or not a number
    good: np.ndarray  # bool: the historian's quality is good (all True when the file has no quality)


@dataclass(frozen=True)
class CleanSeries:
    """One tag after the checks: sorted, unique times, finite values, converted to the signal's unit."""

    tag: str
    time_ns: np.ndarray  # int64, strictly increasing
    value: np.ndarray  # float64, finite
    gaps_ns: tuple[tuple[int, int], ...] = ()  # (last stamp before, first stamp after) of each gap


@dataclass(frozen=True)
class Finding:
    """A data problem, where it is and what was done about it."""

    file: str
    tag: str  # "" when it concerns the whole file
    kind: str  # gap, nan, bad_quality, out_of_order, duplicate, clock_step, timezone, dst, stuck,
    # out_of_bounds, unit, unparseable, outside_run, ...
    message: str
    action: str  # what the twin did: "dropped 3 samples", "held over the gap", "none (listed only)"
    severity: Severity = "warning"
    rows: tuple[int, ...] = field(default=())  # the affected rows (at most the first 50)
    n_rows: int = 0  # how many rows in all

    @property
    def row(self) -> int | None:
        return self.rows[0] if self.rows else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "tag": self.tag,
            "kind": self.kind,
            "severity": self.severity,
            "row": self.row,
            "rows": list(self.rows),
            "n_rows": self.n_rows or len(self.rows),
            "message": self.message,
            "action": self.action,
        }


def finding(file: str, tag: str, kind: str, message: str, action: str, severity: Severity, rows: Any = None) -> Finding:
    """A finding with the first ``MAX_ROWS`` of ``rows`` listed and their number counted."""
    r = () if rows is None else tuple(int(x) for x in rows[:MAX_ROWS])
    return Finding(file, tag, kind, message, action, severity, r, 0 if rows is None else len(rows))


def rows_text(rows: Any, word: str = "row") -> str:
    """``rows 3, 7, 9 (and 2 more)``: five rows are enough to find them in the file."""
    shown = ", ".join(str(int(r)) for r in rows[:5])
    more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
    return f"{word}{'s' if len(rows) > 1 else ''} {shown}{more}"


def source_name(src: SourceConfig) -> str:
    """How tags refer to a source: its ``name``, else its file's stem."""
    return src.name or Path(src.file).stem
