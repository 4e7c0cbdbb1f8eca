"""Fixtures for the hal tests: a manual clock and the simulated board of board/sim.toml, open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hal.board import load_board
from hal.sim.board import SimBoard
from hal.sim.clock import ManualClock

SIM_TOML = Path(__file__).resolve().parents[3] / "board" / "sim.toml"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)  # not 0: times in events must not pass by accident


@pytest.fixture
async def board(clock: ManualClock) -> AsyncIterator[SimBoard]:
    sim = SimBoard.from_description(load_board(SIM_TOML), clock=clock)
    async with sim:
        yield sim
