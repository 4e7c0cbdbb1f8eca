"""Clocks for the simulated board: `ManualClock` for tests, `MonotonicClock` for `switchbox run`.

`ManualClock` never moves by itself. `await clock.advance(1.5)` walks time forward to each
timer and sleeper that falls due within the 1.5 s, in time order, setting `now()` to that
moment and letting the tasks it wakes run before going on; so a ring cadence, a dialled pulse
train or a 20 ms audio tick behaves exactly as on the real clock, without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from hal.clock import Clock, MonotonicClock, TimerHandle

__all__ = ["Clock", "ManualClock", "MonotonicClock", "TimerHandle"]

SETTLE_YIELDS = 8
"""Loop iterations given to woken tasks before the clock moves on: enough for a chain of a
few tasks handing results to each other (each hop costs one iteration)."""


class _Timer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only in `advance()`; implements `hal.clock.Clock`."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _Timer(when, callback)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        """Wait until `advance()` reaches now + `seconds` (cancellable)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_at(self._now + max(0.0, seconds), wake)
        try:
            await future
        finally:
            timer.cancel()

    def next_due(self) -> float | None:
        """When the earliest live timer falls due, or None."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    async def advance(self, seconds: float) -> None:
        """Move forward by `seconds` (≥ 0), running what falls due on the way, in order."""
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        await self.advance_to(self._now + seconds)

    async def advance_to(self, when: float) -> None:
        """Move forward to `when`, running what falls due on the way, in order."""
        await self.settle()
        while True:
            due = self.next_due()
            if due is None or due > when:
                break
            _, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            timer.callback()
            await self.settle()
        self._now = max(self._now, when)
        await self.settle()

    async def run_until(self, condition: Callable[[], bool], timeout_s: float,
                        step_s: float = 0.01) -> bool:
        """Advance in `step_s` steps until `condition()` holds; False after `timeout_s`."""
        deadline = self._now + timeout_s
        await self.settle()
        while not condition():
            if self._now >= deadline - 1e-9:
                return False
            await self.advance_to(min(deadline, self._now + step_s))
        return True

    @staticmethod
    async def settle() -> None:
        """Let tasks woken so far run until they wait again."""
        for _ in range(SETTLE_YIELDS):
            await asyncio.sleep(0)
