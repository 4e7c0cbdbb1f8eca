"""Helpers for the Si3050 driver tests (imported by conftest.py and the tests): a `Rig` is the
real driver on an emulated chip with its exchange line; nothing sleeps: `advance_while` moves
the manual clock until a coroutine ends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from drivers.si3050.emulator import EmulatedLine, Si3050Chain, Si3050Emulator
from drivers.si3050.port import Si3050FxoPort
from hal.sim.clock import ManualClock

T0 = 1000.0
T = TypeVar("T")


async def advance_while(clock: ManualClock, awaitable: Awaitable[T], step_s: float = 0.001,
                        limit_s: float = 30.0) -> T:
    """Run `awaitable` while moving the clock in `step_s` steps (at most `limit_s`)."""
    task = asyncio.ensure_future(awaitable)
    deadline = clock.now() + limit_s
    await clock.settle()
    while not task.done():
        if clock.now() >= deadline:
            task.cancel()
            raise AssertionError(f"still running after {limit_s} s of clock")
        await clock.advance(step_s)
    return task.result()


@dataclass
class Rig:
    clock: ManualClock
    line: EmulatedLine
    chip: Si3050Emulator
    chain: Si3050Chain
    port: Si3050FxoPort
    expect_violations: bool = False
    extra: list[Any] = field(default_factory=list)

    async def open(self) -> None:
        await advance_while(self.clock, self.port.open())

    async def run(self, awaitable: Awaitable[T], step_s: float = 0.001) -> T:
        return await advance_while(self.clock, awaitable, step_s)


RigFactory = Callable[..., Rig]


