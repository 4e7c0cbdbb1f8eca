"""Fixtures of the gpio driver tests: gpiozero's MockFactory behind `GpiozeroLines`, a manual
clock, and a helper to run the loop until the edges handed over by gpiozero are processed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio.lines import GpiozeroLines
from hal.sim.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=500.0)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    made = MockFactory()
    yield made
    made.reset()
    made.close()


@pytest.fixture
def lines(factory: MockFactory) -> GpiozeroLines:
    return GpiozeroLines(factory)

