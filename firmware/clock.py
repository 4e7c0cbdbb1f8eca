"""Monotonic time as an injected capability.

Protocol cores never read the clock themselves: the adapter passes `now` in. Adapters and
schedulers receive a `Clock` so that tests can substitute `ManualClock` and advance time
without sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic scale; only differences are meaningful."""

    def now(self) -> float: ...


class MonotonicClock:
    """The system's monotonic clock (`time.monotonic`)."""

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when a test says so."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move forward by `seconds` (≥ 0)."""
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        self._now += seconds
