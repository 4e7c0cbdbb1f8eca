"""DISA on a city line: a caller dials an extension straight from the greeting, or * PIN #
for the box's dial tone — and a caller trying PINs is locked out (issue 5, item 7).

City line 2 (fxo2) is answered by DISA; Alice (201, a SIP phone) has the PIN 482915;
Reception (301) has an analog phone on fxs1. The caller's digits are DTMF tones on the line,
as a mobile phone sends them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hal.board import find_board, load_board
from hal.loader import create_board
from hal.sim.board import SimBoard
from hal.tones import dtmf_frames

from .harness import Box, Office
from .test_analog_calls import analog_office, level_dbm0, until

pytestmark = pytest.mark.timeout(90)

PIN = "482915"


def disa_office(document: dict[str, Any]) -> None:
    analog_office(document)
    document["disa"] = {"enabled": True, "lines": ["fxo2"],
                        "user_pins": [{"user": "u201", "pin": PIN}]}


@pytest.fixture
async def rehearsal(tmp_path: Path) -> AsyncIterator[tuple[Office, SimBoard]]:
    board = SimBoard.wrap(create_board(load_board(find_board("sim"))))
    box = await Box.serve(tmp_path, board=board, extra=disa_office)
    async with Office(box) as office:
        yield office, board


def _cadenced(signal: np.ndarray) -> bool:
    """Whether a tone stops and starts (busy, congestion) rather than being steady (dial
    tone): at least a fifth of its 20 ms blocks are silent."""
    blocks = signal[: signal.size // 160 * 160].reshape(-1, 160).astype(np.float64)
    rms = np.sqrt((blocks ** 2).mean(axis=1))
    return bool((rms < rms.max() / 10).mean() > 0.2)


async def _answered_by_disa(board: SimBoard) -> Any:
    line = board.office.line(2)
    await board.office.ring_line(2)
    await until(lambda: board.fxo(2).seized, "DISA answers the line", timeout_s=8.0)
    line.far_end_heard()
    await asyncio.sleep(0.5)
    greeting = line.far_end_heard()
    assert level_dbm0(greeting, 425.0) > -20, "the greeting dial tone"
    assert not _cadenced(greeting), "a steady dial tone"
    return line


async def test_caller_dials_an_extension_from_the_greeting(
        rehearsal: tuple[Office, SimBoard]) -> None:
    _, board = rehearsal
    line = await _answered_by_disa(board)
    reception = board.phone(1)
    line.far_end_speak(dtmf_frames("301"))
    await until(lambda: reception.is_ringing, "reception rings", timeout_s=8.0)
    reception.lift()
    await asyncio.sleep(0.3)
    reception.hang_up()
    await until(lambda: not board.fxo(2).seized, "the line is released")


async def test_right_pin_gives_dial_tone_and_dials_an_extension(
        rehearsal: tuple[Office, SimBoard]) -> None:
    office, board = rehearsal
    alice = await office.phone("201")
    line = await _answered_by_disa(board)
    line.far_end_speak(dtmf_frames(f"*{PIN}#"))
    await asyncio.sleep(1.6)
    line.far_end_heard()
    await asyncio.sleep(0.5)
    assert level_dbm0(line.far_end_heard(), 425.0) > -20, "the box's dial tone"
    line.far_end_speak(dtmf_frames("201"))
    await alice.ringing()


async def test_wrong_pins_lock_the_caller_out_even_with_the_right_pin_next_time(
        rehearsal: tuple[Office, SimBoard]) -> None:
    office, board = rehearsal
    alice = await office.phone("201")
    line = await _answered_by_disa(board)
    line.far_end_speak(dtmf_frames("*1111#"))
    await asyncio.sleep(2.5)
    line.far_end_speak(dtmf_frames("2222#"))
    await asyncio.sleep(2.5)
    line.far_end_speak(dtmf_frames("3333#"))
    await until(lambda: not board.fxo(2).seized, "the box hangs up after 3 wrong PINs",
                timeout_s=8.0)
    board.office.hang_up(2)
    await asyncio.sleep(0.5)
    # Next call from the same caller: the right PIN no longer works, no dial tone is heard.
    line = board.office.line(2)
    await board.office.ring_line(2)
    await until(lambda: board.fxo(2).seized, "DISA answers", timeout_s=8.0)
    line.far_end_heard()
    await asyncio.sleep(0.5)
    heard = line.far_end_heard()
    assert level_dbm0(heard, 425.0) > -20, "a tone, not silence"
    assert _cadenced(heard), "congestion (cadenced), never the steady dial tone"
    line.far_end_speak(dtmf_frames(f"*{PIN}#"))
    await until(lambda: not board.fxo(2).seized, "refused and released", timeout_s=8.0)
    assert not alice.got("INVITE"), "a locked-out caller reached nobody"
