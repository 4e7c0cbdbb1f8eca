"""The office under rehearsal: `office` is the box as installed (`firmware.app.serve` from a
configuration file on free loopback ports) with scripted phones opened on demand:
`alice = await office.phone("201")` registers Alice's desk phone.

Scenarios that need a short ring timeout, faster SIP timers or the event bus
build `Office(await Box.serve(tmp_path, ...))` themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .harness import Box, Office


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[Office]:
    async with Office(await Box.serve(tmp_path)) as rehearsal:
        yield rehearsal
