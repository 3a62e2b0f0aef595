"""The one base of every input model of the twin (scenario tables, device files, emulator configs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """Base: unknown keys are errors (a misspelled key must never be ignored); numbers must be finite.

    Frozen: a validated model is a value; change it with ``model_copy(update=...)``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
