"""Fixtures of the pcm driver tests: the fake ALSA opener and a manual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pcm_fakes import FakeAlsa

from hal.sim.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=100.0)


@pytest.fixture
def alsa() -> Iterator[FakeAlsa]:
    fake = FakeAlsa()
    yield fake
    fake.close_all()
