"""The sink's on-disk spool: line protocol the server did not take yet, in ``RUN_DIR/influx.spool/``.

Segments ``seg-NNNNNNNN.lp`` hold whole lines (each append is one ``write`` of lines that end with a
newline) and are sent, oldest first, by the sink when the server is back, at the end of the run, or by
``twin influx-flush RUN_DIR``. A segment is removed only after the server accepted it. The spool is bounded
(``max_bytes``): what does not fit is dropped and counted, never silently. A segment cut short by a crash
(its last line without a newline) is read up to its last whole line; the rest is counted as torn.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["SEGMENT_BYTES", "Spool"]

SEGMENT_BYTES = 4 << 20  # about 16,000 lines: one request per segment (InfluxDB's default body limit is 25 MB)


class Spool:
    """Append-only segments, read and removed oldest first; safe to use from two threads."""

    def __init__(self, folder: Path | str, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = Path(folder)
        self.max_bytes = int(max_bytes)
        self.segment_bytes = int(segment_bytes)
        self._lock = threading.Lock()
        self._current: Path | None = None
        self._current_bytes = 0
        existing = self.segments()
        self._next = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
        self.bytes = sum(p.stat().st_size for p in existing)
        self.lines = sum(_count_lines(p) for p in existing)

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("seg-*.lp")) if self.folder.exists() else []

    def __bool__(self) -> bool:
        return self.lines > 0

    def append(self, data: bytes, n_lines: int) -> bool:
        """Add whole lines (``data`` ends with a newline); False (nothing written) when the spool is full."""
        if not data:
            return True
        with self._lock:
            if self.bytes + len(data) > self.max_bytes:
                return False
            if self._current is None or self._current_bytes + len(data) > self.segment_bytes:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._current = self.folder / f"seg-{self._next:08d}.lp"
                self._next += 1
                self._current_bytes = 0
            with open(self._current, "ab") as f:
                f.write(data)
            self._current_bytes += len(data)
            self.bytes += len(data)
            self.lines += n_lines
            return True

    def oldest(self) -> tuple[Path, bytes, int, int] | None:
        """The oldest segment, closed to appends: (path, whole lines, number of lines, torn bytes)."""
        with self._lock:
            segs = self.segments()
            if not segs:
                return None
            path = segs[0]
            if path == self._current:
                self._current = None  # appends go to a new segment from now on
        raw = path.read_bytes()
        cut = raw.rfind(b"\n") + 1
        return path, raw[:cut], raw[:cut].count(b"\n"), len(raw) - cut

    def remove(self, path: Path, n_lines: int) -> None:
        """A segment the server accepted."""
        with self._lock:
            try:
                size = path.stat().st_size
                os.unlink(path)
            except FileNotFoundError:  # removed already: counted then
                return
            self.bytes -= size
            self.lines -= n_lines

    def tidy(self) -> None:
        """Remove the folder when it holds nothing (at the end)."""
        with self._lock:
            if self.folder.exists() and not any(self.folder.iterdir()):
                self.folder.rmdir()


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
