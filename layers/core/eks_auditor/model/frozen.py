"""The base of every value the auditor passes around: a pydantic model that cannot change once built."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """Immutable and hashable by value: snapshots, outcomes and findings are facts, never edited in place.

    A subclass that needs more configuration extends it: `model_config = ConfigDict(frozen=True, ...)`.
    """

    model_config = ConfigDict(frozen=True)
