"""Operating modes: the receptionist switches the office to night from her phone and city calls
ring the night destination; back to the schedule and they ring her again. Only authorised
phones may switch. Same office as the analog rehearsal (Reception 301 on fxs1, the Store 302 on
fxs2, city line fxo1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hal.board import find_board, load_board
from hal.loader import create_board
from hal.sim.board import SimBoard

from .harness import Box, Office
from .test_analog_calls import analog_office, level_dbm0, until

pytestmark = pytest.mark.timeout(60)


def night_office(document: dict[str, Any]) -> None:
    analog_office(document)
    document["inbound"] = [{"line": "fxo1", "destination": "301", "night": "302"}]
    document["modes"] = {"authorised_users": ["u301"]}


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[tuple[Office, SimBoard, Path]]:
    board = SimBoard.wrap(create_board(load_board(find_board("sim"))))
    box = await Box.serve(tmp_path, board=board, extra=night_office)
    async with Office(box) as office:
        yield office, board, tmp_path


async def _code(board: SimBoard, digits: str) -> float:
    """Reception dials a feature code; the tone level heard after it (confirmation or not)."""
    reception = board.phone(1)
    reception.lift()
    reception.dial(digits)
    await asyncio.sleep(1.2)
    level = level_dbm0(reception.heard()[-4000:], 425.0)
    reception.hang_up()
    await asyncio.sleep(1.5)
    return level


async def test_night_mode_by_feature_code_sends_city_calls_to_the_night_destination(
        office: tuple[Office, SimBoard, Path]) -> None:
    sip, board, workdir = office
    reception, store = board.phone(1), board.phone(2)
    assert await _code(board, "*42") > -25
    stored = json.loads((workdir / "data" / "state" / "mode.json").read_text())
    assert "night" in json.dumps(stored), "the switch is kept across restarts"
    await board.office.ring_line(1, cli="+74951234567")
    await until(lambda: store.is_ringing, "the night destination rings", timeout_s=8.0)
    assert not reception.is_ringing
    board.office.hang_up(1)
    await until(lambda: not store.is_ringing, "the caller gave up", timeout_s=8.0)
    await asyncio.sleep(1.0)
    assert await _code(board, "*40") > -25
    await board.office.ring_line(1, cli="+74951234567")
    await until(lambda: reception.is_ringing, "back on the schedule: Reception rings",
                timeout_s=8.0)
    assert not store.is_ringing
    board.office.hang_up(1)


async def test_an_unauthorised_phone_cannot_switch_the_mode(
        office: tuple[Office, SimBoard, Path]) -> None:
    sip, board, workdir = office
    alice = await sip.phone("201")
    await alice.dial("*42")
    assert (await alice.connected()).status == 403
    assert not (workdir / "data" / "state" / "mode.json").exists()
    await board.office.ring_line(1, cli="+74951234567")
    await until(lambda: board.phone(1).is_ringing, "still day: Reception rings", timeout_s=8.0)
    board.office.hang_up(1)
