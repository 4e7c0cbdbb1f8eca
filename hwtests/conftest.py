"""Fixtures of the hardware-in-the-loop tests: skipped, with the reason, without a board."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hw_media import MediaLoop

from hal.audio import PcmBus
from hal.board import Board, find_board, load_board
from hal.loader import create_board

SPI_DEVICE = Path("/dev/spidev0.0")


def board_absent_reason() -> str | None:
    """Why hardware tests cannot run here, or None when they can."""
    if os.environ.get("SWITCHBOX_HWTEST") != "1":
        return "hardware tests need SWITCHBOX_HWTEST=1 on a Switchbox with its board"
    if not SPI_DEVICE.exists():
        return f"no {SPI_DEVICE}: not a Switchbox board (or SPI is disabled)"
    return None


@pytest.fixture
def board() -> Path:
    """The board's SPI device; skips the test when there is no board."""
    reason = board_absent_reason()
    if reason is not None:
        pytest.skip(reason)
    return SPI_DEVICE


# --- the opened board and its media loop (issue 4) ---------------------------------------------



BOARD_ENV = "SWITCHBOX_HWTEST_BOARD"
"""Board description to test (default switchbox-r1)."""
LOOP_ENV = "SWITCHBOX_HWTEST_LOOP"
"""Which FXS port is cabled to which FXO port: "fxs1:fxo1" (the default)."""


@pytest.fixture
async def hw_board(board: Path) -> AsyncIterator[Board]:
    """The real board of `SWITCHBOX_HWTEST_BOARD` (default switchbox-r1), every device open;
    skipped without a board (see `board`). Stop the switchbox service first."""
    description = load_board(find_board(os.environ.get(BOARD_ENV, "switchbox-r1")))
    real = create_board(description)
    async with real:
        down = [f"{d.name}: {d.status.reason}" for d in real.devices if not d.status.in_service]
        if down:
            pytest.fail("devices out of service (run `switchbox board check`):\n"
                        + "\n".join(down))
        yield real


@pytest.fixture
def loop_pair() -> tuple[str, str]:
    """The FXS and FXO port names cabled to each other (SWITCHBOX_HWTEST_LOOP)."""
    fxs, _, fxo = os.environ.get(LOOP_ENV, "fxs1:fxo1").partition(":")
    return fxs, fxo


@pytest.fixture
async def media(hw_board: Board) -> AsyncIterator[MediaLoop]:
    """The PCM bus of the board, exchanged every 20 ms in the background."""
    buses = hw_board.of_type(PcmBus)
    if not buses:
        pytest.skip("the board has no [[pcm]] bus")
    loop = MediaLoop(buses[0])
    task = asyncio.get_running_loop().create_task(loop.run(), name="hwtest media")
    try:
        yield loop
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def interactive() -> Iterator[None]:
    """Tests that need a person (a DECT handset to register) also need SWITCHBOX_HWTEST_DECT=1."""
    if os.environ.get("SWITCHBOX_HWTEST_DECT") != "1":
        pytest.skip("needs a person with a DECT handset: set SWITCHBOX_HWTEST_DECT=1")
    yield
