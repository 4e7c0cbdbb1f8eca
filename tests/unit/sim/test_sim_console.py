"""The simulated board as `switchbox run` wires it: real caller ID between the exchange, the
box and the phones, and the console an installer rehearses with."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from firmware.simulation import Console, decode_caller_id, encode_caller_id, wire
from hal.board import load_board
from hal.linesignal import RING_CADENCES
from hal.loader import create_board
from hal.sim.board import SimBoard
from hal.sim.clock import ManualClock

SIM_TOML = Path(__file__).resolve().parents[3] / "board" / "sim.toml"
NUMBER = "+74951234567"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=500.0)


@pytest.fixture
async def board(clock: ManualClock) -> AsyncIterator[SimBoard]:
    sim = wire(create_board(load_board(SIM_TOML), clock=clock))
    assert sim is not None
    async with sim:
        yield sim


def test_caller_id_frames_decode_to_the_number() -> None:
    frames = encode_caller_id(NUMBER)
    assert all(f.shape == (160,) for f in frames)
    assert decode_caller_id(frames) == NUMBER
    assert decode_caller_id([f * 0 for f in frames]) is None


async def test_a_phone_on_the_sim_board_shows_the_callers_number(
        board: SimBoard, clock: ManualClock) -> None:
    port, phone = board.fxs(1), board.phone(1)
    async with board.pcm.idle_media():
        await port.ring(RING_CADENCES["ru"], caller_id=encode_caller_id(NUMBER))
        await clock.advance(6.0)
    assert phone.caller_id == NUMBER


def test_the_exchange_sends_the_firmwares_caller_id(board: SimBoard) -> None:
    encoder = board.office.line(1).caller_id_encoder
    assert encoder is not None and decode_caller_id(encoder(NUMBER)) == NUMBER


class _Described:
    """Just enough of a Board for `wire`, which looks only at the description."""

    def __init__(self, path: Path) -> None:
        self.description = load_board(path)


def test_a_real_board_is_not_wired() -> None:
    r1 = _Described(SIM_TOML.with_name("switchbox-r1.toml"))
    assert wire(r1) is None  # type: ignore[arg-type]


async def test_the_console_lifts_dials_and_reports(board: SimBoard, clock: ManualClock) -> None:
    console = Console(board)
    assert await console.execute("phone 2 lift") == "phone 2 off hook"
    await clock.advance(0.1)
    assert board.fxs(2).off_hook
    assert await console.execute("phone 2 dial 201 pulse") == "phone 2 dialled 201 by pulses"
    assert (await console.execute("phone 2 status")).startswith(
        "phone 2: handset up, the box sees off hook")
    assert await console.execute("phone 2 hangup") == "phone 2 on hook"
    assert await console.execute("relay 1 status") == "relay 1: off"
    assert await console.execute("input 1 press") == "input 1 pressed"
    assert "fxs1: in service" in await console.execute("board")
    assert await console.execute("line 1 ring 84951234567") == "line 1 rings from 84951234567"


@pytest.mark.parametrize("line", ["phone 9 lift", "phone x lift", "dance", "phone 1 dial",
                                  'phone "1 lift', "relay 1 explode"])
async def test_the_console_answers_nonsense_with_usage_not_a_crash(
        board: SimBoard, line: str) -> None:
    answer = await Console(board).execute(line)
    assert answer.startswith("error:"), answer


async def test_the_console_serves_a_stream_until_it_ends(board: SimBoard) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"phone 1 lift\n\nnonsense\nphone 1 hangup\n")
    reader.feed_eof()
    out = io.StringIO()
    await Console(board).run(reader, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "phone 1 off hook" and lines[1].startswith("error:")
    assert lines[2] == "phone 1 on hook"
