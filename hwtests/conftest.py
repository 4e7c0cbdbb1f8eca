"""Fixtures of the hardware-in-the-loop tests: skipped, with the reason, without a board."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
