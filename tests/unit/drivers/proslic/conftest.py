"""Fixtures for the ProSLIC driver tests: the real driver on an emulated Si3210, manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from drivers.proslic.emulator import EmulatedResetLine, ProSlicEmulator
from drivers.proslic.port import ProSlicFxsPort
from hal.sim.clock import ManualClock

OPEN_TIMEOUT_S = 10.0
"""Virtual seconds an open may take (reset 0.5 s, power-up, calibrations ≈ 1.9 s)."""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)  # not 0: times in events must not pass by accident


@pytest.fixture
def emulator(clock: ManualClock) -> ProSlicEmulator:
    return ProSlicEmulator(clock)


class Bench:
    """Builds ports on emulators and opens them on the manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def port(self, emulator: ProSlicEmulator, name: str = "fxs1", slot: int = 0, *,
             cls: type[ProSlicFxsPort] = ProSlicFxsPort, **kwargs: Any) -> ProSlicFxsPort:
        return cls(name, emulator, self.clock, slot, emulator.interrupt,
                   reset=EmulatedResetLine(emulator, self.clock), **kwargs)

    async def open(self, port: ProSlicFxsPort) -> None:
        """Open `port`, advancing the manual clock through reset and calibration."""
        task = asyncio.ensure_future(port.open())
        assert await self.clock.run_until(task.done, OPEN_TIMEOUT_S), "open() did not finish"
        await task


MakePort = Callable[..., ProSlicFxsPort]
"""make_port(emulator, name="fxs1", slot=0, *, cls=ProSlicFxsPort, **port_kwargs)"""
OpenPort = Callable[[ProSlicFxsPort], Awaitable[None]]


@pytest.fixture
def make_port(clock: ManualClock) -> MakePort:
    return Bench(clock).port


@pytest.fixture
def open_port(clock: ManualClock) -> OpenPort:
    return Bench(clock).open


@pytest.fixture
async def port(emulator: ProSlicEmulator, make_port: MakePort,
               open_port: OpenPort) -> AsyncIterator[ProSlicFxsPort]:
    fxs = make_port(emulator)
    await open_port(fxs)
    assert fxs.status.in_service, fxs.status
    fxs.take_events()
    yield fxs
    await fxs.close()
