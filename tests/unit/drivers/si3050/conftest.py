"""Fixtures for the Si3050 driver tests: the real driver on an emulated chip and exchange line.

`rig` is one port on an open emulated chip (Russian line; `make_rig` builds others). At the end
every port is closed and the emulator must have seen nothing the data sheet forbids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from si3050_rig import T0, Rig, RigFactory

from drivers.si3050.countries import CountrySettings
from drivers.si3050.emulator import EmulatedLine, LineProfile, Si3050Chain, Si3050Emulator
from drivers.si3050.port import Si3050FxoPort
from drivers.si3050.registers import LineSideDevice
from hal.sim.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture
async def make_rig(clock: ManualClock) -> AsyncIterator[RigFactory]:
    rigs: list[Rig] = []

    def make(profile: LineProfile | str = "ru", country: CountrySettings | str = "ru", *,
             port_class: type[Si3050FxoPort] = Si3050FxoPort, channel: int = 1, slot: int = 4,
             line_side: LineSideDevice = LineSideDevice.SI3019, interrupt: bool = True,
             **port_options: Any) -> Rig:
        line = EmulatedLine(clock, profile)
        chip = Si3050Emulator(clock, line, channel=channel, line_side=line_side)
        chain = Si3050Chain([chip])
        port = port_class("fxo1", chain, channel, clock, slot, country=country,
                          interrupt=chip.interrupt if interrupt else None, **port_options)
        rig = Rig(clock, line, chip, chain, port)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.port.close()
        if not rig.expect_violations:
            assert rig.chip.violations == []
            assert rig.chain.violations == []
            assert rig.line.violations == []


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    """A port on a Russian line, open and in service, its start-up events taken."""
    r = make_rig()
    await r.open()
    assert r.port.status.in_service, r.port.status
    r.port.take_events()
    return r
