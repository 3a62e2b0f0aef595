"""A pair of pseudo-terminals joined like a null-modem cable, for tests and the README demo.

Why not one ``os.openpty()``: its master end is not a tty device a second
program can open by path, and the twin and the BMS emulator both open their
side of the line by path with pyserial, as they would a USB adapter. So two
pty pairs are opened and a background thread copies bytes between the two
masters; each side's slave (``/dev/pts/N``) is the device a program opens.
The bridge in the middle is also where a test breaks the wire on purpose:
cut it, pull side A's adapter out, flip bits, push garbage.

Both slaves are put in raw mode (``tty.setraw``) so no byte is altered on the
way (no CR/LF translation, no echo, no signal characters). Pseudo-terminals
refuse parity, so both ends must open them without parity
(:meth:`hil.line.LineSettings.for_port` does that).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import tty
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["SIDES", "PtyPair"]

log = logging.getLogger("hil.ptypair")

SIDES = ("a", "b")
_POLL_S = 0.02  # bridge wakes at least this often (stop requests, unplug)
_CHUNK = 4096


class _End:
    """One pseudo-terminal: the master the bridge uses and the slave we hold open.

    We hold the slave fd open so that the master does not report EIO while no program has the
    device open (a USB adapter with nobody listening still exists)."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self.slave = -1


class PtyPair:
    """Two pseudo-terminals bridged by a thread: bytes written to one side come out of the other.

    ``.a`` / ``.b`` are the paths to open (symlinks at ``link_a`` / ``link_b`` when given, else the
    ``/dev/pts/N`` devices). Side A is the twin's (the adapter a user can pull), side B the BMS's.

    Faults: :meth:`cut` / :meth:`mend` (wire broken: bytes read and dropped both ways),
    :meth:`unplug` / :meth:`replug` (side A's device disappears and comes back under the same link),
    :meth:`corrupt_next` (flip a bit in the next bytes B -> A), :meth:`inject` (garbage toward a side).
    Counters: :attr:`bytes_a_to_b`, :attr:`bytes_b_to_a`, :attr:`bytes_dropped`, :attr:`bytes_corrupted`.
    """

    def __init__(
        self, link_a: str | os.PathLike[str] | None = None, link_b: str | os.PathLike[str] | None = None
    ) -> None:
        self.link_a = Path(link_a) if link_a is not None else None
        self.link_b = Path(link_b) if link_b is not None else None
        self._ends: dict[str, _End | None] = {"a": None, "b": None}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cut = False
        self._corrupt_bytes = 0
        self._corrupt_mask = 0x01
        self.bytes_a_to_b = 0
        self.bytes_b_to_a = 0
        self.bytes_dropped = 0
        self.bytes_corrupted = 0
        self.unplugged = False

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> PtyPair:
        if self._thread is not None:
            return self
        for side in SIDES:
            self._ends[side] = _End()
            self._point_link(side)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ptypair-bridge", daemon=True)
        self._thread.start()
        log.debug("pty pair: A %s <-> B %s", self.a, self.b)
        return self

    def close(self) -> None:
        """Stop the bridge, close both pseudo-terminals and remove the links (safe to call twice)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=2.0)
            self._thread = None
        with self._lock:
            for side in SIDES:
                end = self._ends[side]
                if end is not None:
                    end.close()
                    self._ends[side] = None
                self._remove_link(side)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- paths ----------------------------------------------------------------------------
    @property
    def a(self) -> str:
        """Path of side A (the twin's side): the link when given, else the current slave device."""
        return self._path("a")

    @property
    def b(self) -> str:
        """Path of side B (the BMS's side)."""
        return self._path("b")

    def device(self, side: str) -> str | None:
        """The ``/dev/pts/N`` behind a side (None while side A is unplugged)."""
        end = self._ends[_check_side(side)]
        return end.path if end is not None else None

    def _path(self, side: str) -> str:
        link = self.link_a if side == "a" else self.link_b
        if link is not None:
            return str(link)
        end = self._ends[side]
        if end is None:
            raise RuntimeError(f"side {side.upper()} has no device (not started, or unplugged)")
        return end.path

    def _point_link(self, side: str) -> None:
        link = self.link_a if side == "a" else self.link_b
        end = self._ends[side]
        if link is None or end is None:
            return
        tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(end.path, tmp)
        os.replace(tmp, link)  # atomic re-point: a reader never sees the link missing on replug

    def _remove_link(self, side: str) -> None:
        link = self.link_a if side == "a" else self.link_b
        if link is not None and link.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                link.unlink()

    # -- faults ---------------------------------------------------------------------------
    def cut(self) -> None:
        """Break the wire: bytes in both directions are read and dropped until :meth:`mend`."""
        self._cut = True

    def mend(self) -> None:
        self._cut = False

    @property
    def is_cut(self) -> bool:
        return self._cut

    def unplug(self) -> None:
        """Side A's device disappears, like a USB adapter pulled out.

        Closing the master hangs up the slave, so a program that has the A path open gets an
        error (pyserial: ``SerialException``, EIO) on its next read or write; the link is removed
        so opening the path fails until :meth:`replug`."""
        with self._lock:
            end = self._ends["a"]
            if end is None:
                return
            end.close()
            self._ends["a"] = None
            self._remove_link("a")
            self.unplugged = True
        log.debug("pty pair: side A unplugged")

    def replug(self) -> None:
        """Side A comes back: a new pseudo-terminal, the link re-pointed at it."""
        with self._lock:
            if self._ends["a"] is not None:
                return
            self._ends["a"] = _End()
            self._point_link("a")
            self.unplugged = False
        log.debug("pty pair: side A replugged at %s", self.a)

    def corrupt_next(self, n_bytes: int = 1, mask: int = 0x01) -> None:
        """Flip ``mask`` bits in each of the next ``n_bytes`` bytes going B -> A (one flipped bit in an
        answer breaks its CRC)."""
        if not 0 < mask <= 0xFF:
            raise ValueError(f"mask must be 1..255, got {mask}")
        with self._lock:
            self._corrupt_bytes += n_bytes
            self._corrupt_mask = mask

    def inject(self, side: str, data: bytes) -> None:
        """Push ``data`` toward ``side``: the program that has that side open reads it."""
        side = _check_side(side)
        with self._lock:
            end = self._ends[side]
            if end is None:
                raise RuntimeError(f"side {side.upper()} is unplugged")
            self._write(end.master, bytes(data))

    # -- the bridge -----------------------------------------------------------------------
    def _run(self) -> None:
        # select without the lock (a thread waiting for it would starve: Python locks are not fair),
        # then forward under it, from the ends that are current (unplug may have closed one meanwhile).
        while not self._stop.is_set():
            ends = {s: e for s, e in self._ends.items() if e is not None}
            fds = [e.master for e in ends.values()]
            if not fds:
                self._stop.wait(_POLL_S)
                continue
            try:
                ready, _, _ = select.select(fds, [], [], _POLL_S)
            except (OSError, ValueError):  # an fd closed by unplug() under our feet: look again
                continue
            if not ready:
                continue
            with self._lock:
                for side in SIDES:
                    end = self._ends[side]
                    if end is not None and end is ends.get(side) and end.master in ready:
                        self._forward(side, end)

    def _forward(self, side: str, src: _End) -> None:
        try:
            data = os.read(src.master, _CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: nobody holds the slave (should not happen: we hold it)
            if exc.errno != errno.EIO:
                log.debug("pty pair: read side %s: %s", side, exc)
            return
        if not data:
            return
        other = "b" if side == "a" else "a"
        dst = self._ends[other]
        if self._cut or dst is None:
            self.bytes_dropped += len(data)
            return
        if other == "a" and self._corrupt_bytes:
            n = min(self._corrupt_bytes, len(data))
            buf = bytearray(data)
            for i in range(n):
                buf[i] ^= self._corrupt_mask
            self._corrupt_bytes -= n
            self.bytes_corrupted += n
            data = bytes(buf)
        sent = self._write(dst.master, data)
        if side == "a":
            self.bytes_a_to_b += sent
        else:
            self.bytes_b_to_a += sent

    def _write(self, fd: int, data: bytes) -> int:
        """Write what the other side's input queue takes; the rest is dropped (a line nobody reads)."""
        sent = 0
        while sent < len(data):
            try:
                n = os.write(fd, data[sent:])
            except BlockingIOError:
                break
            except OSError:
                break
            if n <= 0:
                break
            sent += n
        self.bytes_dropped += len(data) - sent
        return sent


def _check_side(side: str) -> str:
    s = side.lower()
    if s not in SIDES:
        raise ValueError(f"side must be 'a' or 'b', got {side!r}")
    return s
