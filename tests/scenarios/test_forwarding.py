"""Call forwarding and follow-me, as the office uses them: set from the phone by feature code,
followed by every call, kept across restarts, and never a way around class of service.

Same office as the analog rehearsal: Alice (201), Bob (202, desk and softphone), Carol (203)
on SIP phones, Reception (301) and the Store (302) on analog phones, city lines fxo1/fxo2
behind the trunk access code 9.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from firmware.calls.events import Answered, CallEnded, Diverted
from hal.board import find_board, load_board
from hal.loader import create_board
from hal.sim.board import SimBoard

from .harness import Box, Office
from .test_analog_calls import (
    LEVEL_DBM0,
    analog_office,
    frames_of,
    level_dbm0,
    rtp_tone_to,
    tone,
    until,
)

pytestmark = pytest.mark.timeout(60)


@dataclasses.dataclass
class Rig:
    office: Office
    board: SimBoard
    box: Box
    events: list[object]
    workdir: Path

    def diverted(self) -> list[Diverted]:
        return [e for e in self.events if isinstance(e, Diverted)]


@contextlib.asynccontextmanager
async def _rig(tmp_path: Path) -> AsyncIterator[Rig]:
    board = SimBoard.wrap(create_board(load_board(find_board("sim"))))
    box = await Box.serve(tmp_path, board=board, extra=analog_office)
    events: list[object] = []

    async def watch() -> None:
        async for event in box.bus.subscribe(CallEnded, Answered, Diverted):
            events.append(event)

    watcher = asyncio.get_running_loop().create_task(watch())
    await asyncio.sleep(0)
    async with Office(box) as office:
        yield Rig(office, board, box, events, tmp_path)
    watcher.cancel()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with _rig(tmp_path) as r:
        yield r


def _stored(tmp_path: Path, users: dict[str, dict[str, object]]) -> None:
    """Forwarding as the box keeps it on its data partition (written before it starts)."""
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "forwarding.json").write_text(json.dumps({"version": 1, "users": users}))


async def test_forward_always_set_by_code_sends_calls_to_a_colleague_until_cancelled(
        rig: Rig) -> None:
    alice = await rig.office.phone("201")
    bob = await rig.office.phone("202")
    carol = await rig.office.phone("203")
    await alice.dial("*21*203")
    assert (await alice.connected()).status == 603, "a SIP phone's feature call is 'done'"
    stored = json.loads((rig.workdir / "data" / "forwarding.json").read_text())
    assert stored["users"]["u201"]["always"] == "203", "the forward is kept durably"
    await bob.dial("201")
    await carol.ringing()
    assert not alice.got("INVITE"), "Alice's phone stays silent"
    carol.answer()
    assert (await bob.connected()).status == 200
    assert [(d.user, d.kind, d.to) for d in rig.diverted()] == [("u201", "always", "203")]
    await bob.hangup()
    alice.responses.clear()
    await alice.dial("#21#")
    assert (await alice.connected()).status == 603
    bob.responses.clear()
    await bob.dial("201")
    await alice.ringing()


async def test_forward_on_busy_set_on_an_analog_phone_takes_calls_while_it_is_busy(
        rig: Rig) -> None:
    alice = await rig.office.phone("201")
    reception, store = rig.board.phone(1), rig.board.phone(2)
    reception.lift()
    reception.dial("*67*302#")
    await asyncio.sleep(2.0)  # eight DTMF digits, then the confirmation tone
    assert level_dbm0(reception.heard()[-4000:], 425.0) > -25, "confirmation tone"
    reception.hang_up()
    await asyncio.sleep(1.5)
    await alice.dial("301")
    await until(lambda: reception.is_ringing, "Reception rings while free")
    assert not store.is_ringing
    alice.cancel()
    await until(lambda: not reception.is_ringing, "the ringing stops")
    reception.lift()  # Reception is busy now (dialling)
    await asyncio.sleep(0.2)
    alice.responses.clear()
    await alice.dial("301")
    await until(lambda: store.is_ringing, "the Store takes Reception's calls while it is busy")
    store.lift()
    assert (await alice.connected()).status == 200
    store.heard()
    await rtp_tone_to(alice, 1.0)
    assert abs(level_dbm0(store.heard()) - LEVEL_DBM0) < 1.5
    await alice.hangup()
    store.hang_up()
    reception.hang_up()


async def test_no_answer_forward_rings_a_mobile_through_a_city_line(tmp_path: Path) -> None:
    _stored(tmp_path, {"u301": {"no_answer": "989161234567", "no_answer_s": 5.0}})
    async with _rig(tmp_path) as rig:
        line = rig.board.office.line(1)
        line.settings = dataclasses.replace(line.settings, number_length=11,
                                            answer_after_s=0.3)
        alice = await rig.office.phone("201")
        reception = rig.board.phone(1)
        await alice.dial("301")
        await until(lambda: reception.is_ringing, "Reception rings first")
        await until(lambda: line.calls == ["89161234567"],
                    "after 5 s unanswered the mobile is dialled on a city line", timeout_s=10)
        assert not reception.is_ringing, "Reception stops ringing"
        assert (await alice.connected()).status == 200
        line.far_end_heard()
        await rtp_tone_to(alice, 1.0)
        assert abs(level_dbm0(line.far_end_heard()) - LEVEL_DBM0) < 2.0
        assert [(d.kind, d.to) for d in rig.diverted()] == [("no_answer", "989161234567")]
        await alice.hangup()
        await until(lambda: not rig.board.fxo(1).seized, "the line is released")


async def test_a_forward_cannot_escape_class_of_service(rig: Rig) -> None:
    alice = await rig.office.phone("201")
    await alice.dial("*21*9810442071234567")
    assert (await alice.connected()).status == 403, "international is denied by default"
    assert not (rig.workdir / "data" / "forwarding.json").exists()
    bob = await rig.office.phone("202")
    await bob.dial("201")
    await alice.ringing()


async def test_follow_me_rings_its_numbers_in_turn(tmp_path: Path) -> None:
    _stored(tmp_path, {"u201": {"follow_me": ["202", "301"], "follow_me_step_s": 5.0}})
    async with _rig(tmp_path) as rig:
        bob = await rig.office.phone("202")
        carol = await rig.office.phone("203")
        reception = rig.board.phone(1)
        await carol.dial("201")
        await bob.ringing()
        assert not reception.is_ringing
        await until(lambda: reception.is_ringing, "after Bob's turn Reception rings",
                    timeout_s=8.0)
        await bob.expect_request("CANCEL")
        reception.lift()
        assert (await carol.connected()).status == 200
        reception.heard()
        await rtp_tone_to(carol, 1.0)
        assert abs(level_dbm0(reception.heard()) - LEVEL_DBM0) < 1.5
        reception.speak(frames_of(tone(0.5)))
        assert [d.to for d in rig.diverted()] == ["202", "301"]
        await carol.hangup()
        reception.hang_up()


async def test_a_damaged_forwarding_file_does_not_stop_the_box(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(parents=True)
    (data / "forwarding.json").write_text("{not json")
    async with _rig(tmp_path) as rig:
        alice = await rig.office.phone("201")
        bob = await rig.office.phone("202")
        await bob.dial("201")
        await alice.ringing()
        assert (data / "forwarding.damaged").exists(), "the damaged file is kept aside"
