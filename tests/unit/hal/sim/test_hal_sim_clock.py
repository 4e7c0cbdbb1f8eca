"""The manual clock every sim test runs on: timers in time order at their own times, sleepers
woken by `advance`, nothing run early, nothing run after cancel."""

from __future__ import annotations

import asyncio

import pytest

from hal.clock import MonotonicClock
from hal.sim.clock import ManualClock


async def test_advance_runs_what_falls_due_in_order_at_its_own_time() -> None:
    clock = ManualClock(start=10.0)
    ran: list[tuple[str, float]] = []
    clock.call_at(10.5, lambda: ran.append(("b", clock.now())))
    clock.call_at(10.2, lambda: ran.append(("a", clock.now())))
    cancelled = clock.call_at(10.3, lambda: ran.append(("x", clock.now())))
    clock.call_at(12.0, lambda: ran.append(("late", clock.now())))
    cancelled.cancel()
    await clock.advance(1.0)
    assert ran == [("a", 10.2), ("b", 10.5)] and clock.now() == 11.0


async def test_a_sleeping_task_wakes_when_the_clock_reaches_it_and_can_sleep_again() -> None:
    clock = ManualClock()
    woke: list[float] = []

    async def ticker() -> None:
        for _ in range(3):
            await clock.sleep(0.02)
            woke.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.advance(0.05)
    assert woke == pytest.approx([0.02, 0.04])
    await clock.advance(0.05)
    await task
    assert woke == pytest.approx([0.02, 0.04, 0.06])


async def test_run_until_stops_at_the_condition_or_the_timeout() -> None:
    clock = ManualClock()
    flag: list[bool] = []
    clock.call_at(0.3, lambda: flag.append(True))
    assert await clock.run_until(lambda: bool(flag), timeout_s=1.0)
    assert clock.now() == pytest.approx(0.3, abs=0.011)
    assert not await clock.run_until(lambda: False, timeout_s=0.5)
    with pytest.raises(ValueError):
        await clock.advance(-1)


async def test_the_monotonic_clock_fires_timers_on_the_loop() -> None:
    clock = MonotonicClock()
    fired = asyncio.Event()
    clock.call_at(clock.now() + 0.01, fired.set)
    await asyncio.wait_for(fired.wait(), 1.0)
