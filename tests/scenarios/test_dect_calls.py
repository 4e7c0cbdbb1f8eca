"""DECT handsets in the same numbering plan as the SIP and analog phones.

The box runs as installed, on the simulated board: the Warehouse (310) has DECT handset 1 of
base dect1 (registered with the base's PIN before the test), Reception (301) an analog phone
on fxs1. Audio is checked as a user would notice it: a 1 kHz tone said at one end arrives at
the other end at about the level it was said at, both ways.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from firmware.calls.events import Answered, CallEnded
from hal.board import find_board, load_board
from hal.loader import create_board
from hal.sim.board import SimBoard
from hal.sim.dect import SimHandset

from .harness import Box, Office
from .test_analog_calls import (
    LEVEL_DBM0,
    frames_of,
    level_dbm0,
    talk_both_ways,
    tone,
    until,
)

pytestmark = pytest.mark.timeout(60)

PIN = "0000"


def dect_office(document: dict[str, Any]) -> None:
    document["users"] += [
        {"id": "u301", "name": "Reception", "extension": "301"},
        {"id": "u310", "name": "Warehouse", "extension": "310"},
    ]
    document["devices"] += [
        {"id": "reception-phone", "user": "u301", "kind": "fxs", "port": "fxs1"},
        {"id": "warehouse-handset", "user": "u310", "kind": "dect", "port": "dect1",
         "handset": 1},
    ]
    document["inbound"] = [{"line": "fxo1", "destination": "301"}]


@dataclasses.dataclass
class Rehearsal:
    office: Office
    board: SimBoard
    handset: SimHandset
    ended: list[CallEnded]
    answered: list[Answered]


@pytest.fixture
async def rehearsal(tmp_path: Path) -> AsyncIterator[Rehearsal]:
    board = SimBoard.wrap(create_board(load_board(find_board("sim"))))
    box = await Box.serve(tmp_path, board=board, extra=dect_office)
    base = board.dect(1)
    await base.open_registration(60.0, PIN)
    handset = base.add_handset()
    assert handset.register(PIN) == 1
    ended: list[CallEnded] = []
    answered: list[Answered] = []

    async def watch() -> None:
        async for event in box.bus.subscribe(CallEnded, Answered):
            (ended if isinstance(event, CallEnded) else answered).append(event)  # type: ignore[arg-type]

    watcher = asyncio.get_running_loop().create_task(watch())
    await asyncio.sleep(0)
    async with Office(box) as office:
        yield Rehearsal(office, board, handset, ended, answered)
    watcher.cancel()


async def test_handset_calls_a_sip_phone_and_they_hear_each_other(
        rehearsal: Rehearsal) -> None:
    alice = await rehearsal.office.phone("201")
    handset = rehearsal.handset
    handset.talk()
    await asyncio.sleep(0.3)
    assert handset.in_call, "the base gave the call a speech path"
    assert level_dbm0(handset.heard(), 425.0) > -20, "no dial tone"
    handset.press("201")
    invite = await alice.ringing()
    assert "310" in (invite.headers.get("From") or "")
    assert "Warehouse" in (invite.headers.get("From") or "")
    alice.answer()
    await until(lambda: rehearsal.answered, "the call is answered")
    await talk_both_ways(alice, handset)
    handset.hang_up()
    await alice.expect_request("BYE")
    await until(lambda: rehearsal.ended, "the call is recorded as ended")
    assert rehearsal.ended[0].answered_by == "alice-desk"
    assert rehearsal.ended[0].caller == "310"
    await until(lambda: rehearsal.board.dect(1).call_slot(1) is None, "the slot is freed")


async def test_sip_phone_calls_a_handset_which_shows_the_caller_and_answers(
        rehearsal: Rehearsal) -> None:
    alice = await rehearsal.office.phone("201")
    handset = rehearsal.handset
    await alice.dial("310")
    await until(lambda: handset.is_ringing, "the handset rings")
    assert handset.caller_id is not None and handset.caller_id.number == "201"
    await until(lambda: "201" in handset.display, "the caller's number on the display")
    handset.answer()
    response = await alice.connected()
    assert response.status == 200
    assert handset.in_call
    await talk_both_ways(alice, handset)
    await alice.hangup()
    await until(lambda: rehearsal.ended, "the call ended")
    assert rehearsal.ended[0].answered_by == "warehouse-handset"
    handset.hang_up()
    await until(lambda: rehearsal.board.dect(1).call_slot(1) is None, "the slot is freed")


async def test_handset_calls_an_analog_phone(rehearsal: Rehearsal) -> None:
    handset, reception = rehearsal.handset, rehearsal.board.phone(1)
    handset.call("301")
    await until(lambda: reception.is_ringing, "reception's phone rings")
    reception.lift()
    await until(lambda: rehearsal.answered, "answered")
    reception.heard()
    handset.heard()
    handset.speak(frames_of(tone(1.0)))
    reception.speak(frames_of(tone(1.0)))
    await asyncio.sleep(1.2)
    assert abs(level_dbm0(reception.heard()) - LEVEL_DBM0) < 1.5
    assert abs(level_dbm0(handset.heard()) - LEVEL_DBM0) < 1.5
    reception.hang_up()
    await until(lambda: rehearsal.ended, "the call ended")
    assert rehearsal.ended[0].answered_by == "reception-phone"
    assert rehearsal.ended[0].caller == "310"
    handset.hang_up()


async def test_city_call_answered_on_an_analog_phone_is_flash_transferred_to_a_handset(
        rehearsal: Rehearsal) -> None:
    """Issue 5's rehearsal: a customer rings the city line, Reception answers on the analog
    phone, presses R, dials the Warehouse's handset, announces the call and hangs up; the
    customer and the Warehouse then hear each other, and the call ends when the customer
    hangs up."""
    board, handset, reception = rehearsal.board, rehearsal.handset, rehearsal.board.phone(1)
    line = board.office.line(1)
    await board.office.ring_line(1, cli="+74951234567")
    await until(lambda: reception.is_ringing, "reception rings", timeout_s=8.0)
    reception.lift()
    await until(lambda: board.fxo(1).seized, "the box answers the city line")
    await asyncio.sleep(reception.flash() + 0.1)
    reception.dial("310")
    await until(lambda: handset.is_ringing, "the warehouse handset rings")
    handset.answer()
    await until(lambda: len(rehearsal.answered) == 2, "the warehouse answers")
    reception.hang_up()
    await asyncio.sleep(0.3)
    handset.heard()
    line.far_end_heard()
    line.far_end_speak(frames_of(tone(1.0)))
    handset.speak(frames_of(tone(1.0)))
    await asyncio.sleep(1.3)
    assert abs(level_dbm0(handset.heard()) - LEVEL_DBM0) < 2.0, "the warehouse hears"
    assert abs(level_dbm0(line.far_end_heard()) - LEVEL_DBM0) < 2.0, "the customer hears"
    assert rehearsal.ended == []
    board.office.hang_up(1)
    await until(lambda: len(rehearsal.ended) == 2, "both calls end with the customer",
                timeout_s=8.0)
    await until(lambda: not board.fxo(1).seized, "the line is released")
    handset.heard()
    await asyncio.sleep(0.6)
    assert level_dbm0(handset.heard(), 425.0) > -20, "the warehouse hears busy tone"
    handset.hang_up()
    await until(lambda: board.dect(1).call_slot(1) is None, "the slot is freed")
