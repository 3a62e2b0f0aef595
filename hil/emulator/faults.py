"""The emulator's fault plan: the grammar of a fault (``KIND@AT[:DURATION][=VALUE]``), when each one is active.

Kinds: ``silent`` (no answers), ``corrupt`` (answers with a broken CRC),
``garbage`` (random bytes before or instead of the answer),
``freeze_heartbeat`` (802 Hb stops), ``soc_bias`` (the SoC estimate off by
``value`` points), ``over_temp`` (the cells sensed ``value`` K hotter),
each for ``duration_s``; ``open_contactor`` (OTHER_ALARM latched) and
``reboot`` (silent for ``reboot_s``, then power-on state) happen once.

A fault starts when the emulator's clock reaches ``at_s`` and lasts its
duration (:class:`FaultPlan`): a clock that jumped past the whole window
(no step arrived for a while) still gets it, from the moment it is seen.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, model_validator

from twin.config.base import StrictModel
from twin.errors import EmulatorConfigError
from twin.validation import format_problems, format_validation_error

__all__ = [
    "FAULT_KINDS",
    "ONE_SHOT",
    "WIRE_KINDS",
    "FaultKind",
    "FaultPlan",
    "FaultSpec",
    "garble",
]

FaultKind = Literal[
    "open_contactor", "silent", "corrupt", "garbage", "freeze_heartbeat", "soc_bias", "reboot", "over_temp"
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
_NEEDS_DURATION = frozenset({"silent", "corrupt", "garbage", "freeze_heartbeat", "over_temp"})
_NEEDS_VALUE = frozenset({"soc_bias", "over_temp"})
ONE_SHOT = frozenset({"open_contactor", "reboot"})
WIRE_KINDS = ("silent", "corrupt", "garbage")  # priority order when several overlap

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_FAULT_RE = re.compile(rf"^([A-Za-z_]\w*)@({_NUM})(?::({_NUM}))?(?:=({_NUM}))?$")


class FaultSpec(StrictModel):
    """One entry of the fault plan: ``kind`` from ``at_s`` (emulator clock) for ``duration_s``."""

    kind: FaultKind
    at_s: float = Field(ge=0)
    duration_s: float | None = Field(None, gt=0)
    value: float | None = None

    @model_validator(mode="after")
    def _complete(self) -> FaultSpec:
        if self.kind in _NEEDS_DURATION and self.duration_s is None:
            raise ValueError(f"fault {self.kind!r} needs a duration_s (e.g. {self.kind}@{self.at_s:g}:5)")
        if self.kind in ONE_SHOT and self.duration_s is not None:
            raise ValueError(f"fault {self.kind!r} happens once at at_s and takes no duration_s")
        if self.kind in _NEEDS_VALUE and self.value is None:
            what = "percentage points" if self.kind == "soc_bias" else "kelvin"
            raise ValueError(f"fault {self.kind!r} needs a value ({what}, e.g. {self.kind}@{self.at_s:g}=3)")
        if self.kind not in _NEEDS_VALUE and self.value is not None:
            raise ValueError(f"fault {self.kind!r} takes no value")
        return self

    def active(self, t_s: float) -> bool:
        end = math.inf if self.duration_s is None else self.at_s + self.duration_s
        return self.at_s <= t_s < end

    def describe(self) -> str:
        s = f"{self.kind}@{self.at_s:g}"
        if self.duration_s is not None:
            s += f":{self.duration_s:g}"
        if self.value is not None:
            s += f"={self.value:g}"
        return s

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``KIND@AT[:DURATION][=VALUE]`` (``silent@20:5``, ``soc_bias@0=3``); raises
        :class:`~twin.errors.EmulatorConfigError` (exit 2)."""
        source = f"--fault {text!r}"
        m = _FAULT_RE.match(text.strip())
        if not m:
            raise EmulatorConfigError(
                f"{source}: expected KIND@AT[:DURATION][=VALUE] with times in seconds, e.g. silent@20:5 or soc_bias@0=3"
            )
        kind, at, dur, val = m.groups()
        data: dict[str, Any] = {"kind": kind, "at_s": float(at)}
        if dur is not None:
            data["duration_s"] = float(dur)
        if val is not None:
            data["value"] = float(val)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            msgs = format_validation_error(exc, model=cls, source=source)
            raise EmulatorConfigError(format_problems(source, msgs, "the fault")) from exc


class FaultPlan:
    """Which faults of a plan are active on the emulator's clock (state that survives a reboot)."""

    def __init__(self, faults: Sequence[FaultSpec]) -> None:
        self.faults = list(faults)
        self.done: set[int] = set()
        self.active: set[int] = set()
        self.start: dict[int, float] = {}  # clock at which each duration fault began
        self.prev_t = 0.0  # the clock at the previous look at the plan

    def active_kinds(self) -> set[str]:
        return {self.faults[i].kind for i in self.active}

    def active_sum(self, kind: str) -> float:
        """The sum of the values of the active faults of ``kind`` (soc_bias points, over_temp kelvin)."""
        return sum(float(self.faults[i].value or 0.0) for i in self.active if self.faults[i].kind == kind)

    def advance(self, t: float) -> Iterator[tuple[FaultSpec, str]]:
        """The plan's changes as the clock reaches ``t``, in plan order: ``(fault, "once")`` for a one-shot
        fault due, ``(fault, "start")`` / ``(fault, "end")`` for a duration fault. Lazy: a caller that stops
        iterating (a reboot) leaves the later faults for the next look."""
        prev_t, self.prev_t = self.prev_t, t
        for i, f in enumerate(self.faults):
            if f.kind in ONE_SHOT:
                if i in self.done or t < f.at_s:
                    continue
                self.done.add(i)
                yield f, "once"
            # edge-triggered: a fault starts when the clock reaches at_s and lasts duration_s; a clock that
            # jumped past the whole window (no step arrived for a while) still gets it, from now
            elif i not in self.active and i not in self.done and t >= f.at_s:
                self.active.add(i)
                start = max(f.at_s, prev_t)
                self.start[i] = start if f.duration_s is None or t - start < f.duration_s else t
                yield f, "start"
            elif i in self.active and f.duration_s is not None and t >= self.start[i] + f.duration_s:
                self.active.discard(i)
                self.done.add(i)
                yield f, "end"

    def wire_mode(self) -> str:
        """What the active faults do to an answer: ``ok``, ``silent``, ``corrupt`` or ``garbage``."""
        kinds = self.active_kinds()
        return next((k for k in WIRE_KINDS if k in kinds), "ok")


def garble(frame: bytes, rng: random.Random) -> bytes:
    """An answer after the ``garbage`` fault: random bytes before it, or random bytes instead of it."""
    noise = bytes(rng.getrandbits(8) for _ in range(rng.randint(3, 12)))
    if rng.random() < 0.5:
        return noise + frame  # preceded by garbage
    return bytes(rng.getrandbits(8) for _ in range(len(frame)))  # replaced
