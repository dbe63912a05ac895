"""A tiny metrics sink the core writes to; handlers plug Powertools Metrics (EMF) in, tests a Counter."""

from __future__ import annotations

from collections import Counter
from typing import Protocol


class MetricSink(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...


class CountingSink:
    """In-memory sink for the CLI, the demo and tests."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] += value


class NullSink:
    def count(self, name: str, value: int = 1) -> None:
        return None
