"""Progress on stderr for long steps: only on a terminal, only once a step has run a few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO

QUIET_SECONDS = 3.0


class Progress:
    def __init__(self, label: str, stream: TextIO | None = None, *, after: float = QUIET_SECONDS) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.after = after
        self.started = time.monotonic()
        self.count = 0
        self.shown = False

    def step(self, what: str) -> None:
        self.count += 1
        if self.enabled and time.monotonic() - self.started >= self.after:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"\r\033[K{self.label}: {self.count} {what} ({elapsed:.0f}s)")
            self.stream.flush()
            self.shown = True

    def status(self, text: str) -> None:
        """A step known to be long (building the embedded account): shown at once, on a terminal."""
        if self.enabled:
            self.stream.write(f"\r\033[K{self.label}: {text}")
            self.stream.flush()
            self.shown = True

    def clear(self) -> None:
        """Erase what status() or step() wrote, for output that follows on the same stream."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def done(self) -> None:
        if self.shown:
            self.stream.write(
                f"\r\033[K{self.label}: {self.count} done in {time.monotonic() - self.started:.0f}s\n"
            )
            self.stream.flush()
