"""Time for devices: an injected `Clock`, so that drivers and the simulation run on a manual
clock in tests and on the monotonic clock in the box.

A device never calls `asyncio.sleep` or `time.monotonic` itself; it asks its clock for `now()`,
waits with `sleep()`, or arms a timer with `call_at()` (ring cadences, relay pulses, decoder
deadlines). `hal.sim.clock.ManualClock` implements the same protocol and moves only when a test
advances it, running every timer that falls due in time order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """A timer armed with `Clock.call_at`; `cancel()` is harmless after it ran."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic seconds (only differences mean anything), waits and timers."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` on the event loop once `now() >= when` (at once when past)."""
        ...


class MonotonicClock:
    """The box's clock: `time.monotonic`, timers on the running asyncio loop."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        # call_later, not call_at: the loop's own time base need not be time.monotonic (uvloop).
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - self.now()), callback)


class DeadlineTimer:
    """The one timer a device arms for a pure core (a hook decoder, a line model): after every
    input the owner calls `follow(core.next_deadline())`, and `on_due` runs when that time
    comes. Following a new deadline replaces the old one; None disarms."""

    def __init__(self, clock: Clock, on_due: Callable[[], None]) -> None:
        self._clock = clock
        self._on_due = on_due
        self._handle: TimerHandle | None = None

    def follow(self, deadline: float | None) -> None:
        self.cancel()
        if deadline is not None:
            self._handle = self._clock.call_at(deadline, self._due)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _due(self) -> None:
        self._handle = None
        self._on_due()
