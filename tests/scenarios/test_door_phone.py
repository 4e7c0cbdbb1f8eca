"""The door phone: a visitor lifts the door station, Alice's SIP phone rings, she answers and
opens the lock with `*1` from her keypad.

The box runs as installed on the simulated board: the door station is an analog device on fxs3
with a hotline to 201; door `front` pulses relay1 for 500 ms. Alice's keys travel as RFC 4733
telephone-event packets (payload type as the box's SDP offer says), built here with
`firmware.media.dtmf_relay` exactly as a desk phone sends them: three start/update packets
with one timestamp, the first marked, then the end packet three times (RFC 4733 §2.5.1.4).
The lock is watched on the simulated relay's own history, on the board clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from firmware.calls.events import Answered
from firmware.features.door import DoorOpened, OpenMethod, RingDoor
from firmware.media.dtmf_relay import TelephoneEvent, encode_event, event_code
from firmware.media.rtp import RtpHeader, build_rtp
from firmware.sip import sdp as sdp_mod
from hal.board import find_board, load_board
from hal.loader import create_board
from hal.sim.board import SimBoard

from .harness import WAIT_S, Box, Office, TestPhone

pytestmark = pytest.mark.timeout(60)

PULSE_MS = 500
TICK_S = 0.02


def door_office(document: dict[str, Any]) -> None:
    document["users"] += [{"id": "door", "name": "Front door", "extension": "390"}]
    document["devices"] += [
        {"id": "front-door", "user": "door", "kind": "fxs", "port": "fxs3", "hotline": "201"},
    ]
    document["doors"] = [{"id": "front", "station_device": "front-door", "rings": "201",
                          "relay": "relay1", "pulse_ms": PULSE_MS, "open_code": "*1",
                          "bell_input": "input1"}]


@dataclasses.dataclass
class Rehearsal:
    office: Office
    board: SimBoard
    answered: list[Answered]
    openings: list[DoorOpened]
    rings: list[RingDoor]


@pytest.fixture
async def rehearsal(tmp_path: Path) -> AsyncIterator[Rehearsal]:
    board = SimBoard.wrap(create_board(load_board(find_board("sim"))))
    box = await Box.serve(tmp_path, board=board, extra=door_office)
    seen = Rehearsal(Office(box), board, [], [], [])

    async def watch() -> None:
        async for event in box.bus.subscribe(Answered, DoorOpened, RingDoor):
            if isinstance(event, Answered):
                seen.answered.append(event)
            elif isinstance(event, DoorOpened):
                seen.openings.append(event)
            elif isinstance(event, RingDoor):
                seen.rings.append(event)

    watcher = asyncio.get_running_loop().create_task(watch())
    await asyncio.sleep(0)
    async with seen.office:
        yield seen
    watcher.cancel()


async def until(check: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            for _ in itertools.count():  # the sim board's state has no change notification
                if check():
                    return
                await asyncio.sleep(TICK_S)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s} s: {what}") from None


def telephone_event_pt(sdp: bytes) -> int:
    """The payload type the SDP maps to telephone-event/8000."""
    session = sdp_mod.parse_sdp(sdp)
    for line in sdp.decode().splitlines():
        if "telephone-event/8000" in line and line.startswith("a=rtpmap:"):
            return int(line.split(":", 1)[1].split()[0])
    raise AssertionError(f"no telephone-event in the box's SDP ({session})")


def rfc4733_packets(digit: str, *, payload_type: int, seq: Callable[[], int], timestamp: int,
                    ssrc: int = 0x5B0C, steps: int = 5) -> list[bytes]:
    """One key press as a phone sends it: `steps` packets 20 ms apart with growing duration
    (the first with the marker bit), then three end packets (RFC 4733 §2.5.1.3-4)."""
    code = event_code(digit)
    packets = []
    for step in range(1, steps + 1):
        payload = encode_event(TelephoneEvent(code, False, 10, 160 * step))
        packets.append(build_rtp(RtpHeader(payload_type, seq(), timestamp, ssrc,
                                           marker=step == 1), payload))
    end = encode_event(TelephoneEvent(code, True, 10, 160 * steps))
    packets += [build_rtp(RtpHeader(payload_type, seq(), timestamp, ssrc), end)
                for _ in range(3)]
    return packets


class Keypad:
    """A phone's RFC 4733 sender: sequence numbers and timestamps go on across key presses,
    as they do in one RTP stream (a repeated timestamp is the same event, RFC 4733 §2.5.1.2)."""

    def __init__(self, phone: TestPhone, payload_type: int) -> None:
        self.phone = phone
        self.payload_type = payload_type
        self._seq = itertools.count(1000)
        self._timestamp = itertools.count(160_000, 8000)

    async def press(self, keys: str) -> None:
        """Dial `keys`: RFC 4733 to where the box's SDP said, from the phone's RTP socket (the
        only source the box's relay takes), 20 ms per packet and 100 ms between keys."""
        rtp = self.phone._rtp
        media = self.phone.remote_media
        assert rtp is not None and media is not None, "no media yet"
        for key in keys:
            for packet in rfc4733_packets(key, payload_type=self.payload_type,
                                          seq=lambda: next(self._seq) & 0xFFFF,
                                          timestamp=next(self._timestamp)):
                rtp.sendto(packet, (media.host, media.port))
                await asyncio.sleep(TICK_S)
            await asyncio.sleep(0.1)


async def door_call_answered_by_alice(rehearsal: Rehearsal) -> tuple[TestPhone, Keypad]:
    alice = await rehearsal.office.phone("201")
    station = rehearsal.board.phone(3)
    station.lift()  # the visitor picks up the door phone: its hotline calls 201
    invite = await alice.ringing()
    assert "390" in (invite.headers.get("From") or ""), "Alice sees the door calling"
    alice.answer()
    await until(lambda: rehearsal.answered, "Alice's answer connects the door")
    await asyncio.sleep(0.2)  # the relay takes Alice's first RTP as her source
    return alice, Keypad(alice, telephone_event_pt(invite.body))


async def test_alice_answers_the_door_and_opens_it_with_star_1(rehearsal: Rehearsal) -> None:
    relay = rehearsal.board.relay(1)
    alice, keypad = await door_call_answered_by_alice(rehearsal)
    assert not relay.is_on and relay.pulses == [], "the lock stays shut until the code"
    await keypad.press("*1")
    await until(lambda: relay.pulses, "relay1 closes and opens again",
                timeout_s=PULSE_MS / 1000 + WAIT_S)
    [pulse] = relay.pulses
    assert abs(pulse.duration_ms - PULSE_MS) <= 2 * TICK_S * 1000, pulse
    assert not relay.is_on, "the lock is released after the pulse"
    await until(lambda: rehearsal.openings, "the opening is published")
    [opening] = rehearsal.openings
    assert (opening.door, opening.by, opening.method) == ("front", "alice-desk", OpenMethod.DTMF)
    assert opening.pulse_started
    await alice.hangup()
    rehearsal.board.phone(3).hang_up()


async def test_a_wrong_code_opens_nothing(rehearsal: Rehearsal) -> None:
    relay = rehearsal.board.relay(1)
    alice, keypad = await door_call_answered_by_alice(rehearsal)
    await keypad.press("*2#1")
    await asyncio.sleep(0.5)
    assert relay.history == [] and rehearsal.openings == [], "a wrong code opened the door"
    await keypad.press("*1")  # the right code still works after a wrong one
    await until(lambda: relay.pulses, "the right code opens", timeout_s=PULSE_MS / 1000 + 3)
    assert len(rehearsal.openings) == 1
    await alice.hangup()
    rehearsal.board.phone(3).hang_up()


async def test_the_bell_button_asks_to_ring_the_doors_number(rehearsal: Rehearsal) -> None:
    bell = rehearsal.board.contact(1)
    bell.press(bounce_ms=5)
    await until(lambda: rehearsal.rings, "the bell press is taken")
    bell.release()
    bell.press()  # chatter within the hold-off rings once
    await asyncio.sleep(0.3)
    assert [(r.door, r.rings) for r in rehearsal.rings] == [("front", "201")]
    assert rehearsal.board.relay(1).history == [], "the bell opens nothing"


async def test_the_visitor_cannot_open_with_the_door_stations_keypad(
        rehearsal: Rehearsal) -> None:
    """Keys pressed on the door station are in-band on its own slot and go to Alice; only keys
    arriving from the answering party count."""
    relay = rehearsal.board.relay(1)
    alice, _ = await door_call_answered_by_alice(rehearsal)
    station = rehearsal.board.phone(3)
    alice.rtp.clear()
    await asyncio.sleep(station.dial("*1*1") + 0.5)
    assert any(len(p) == 4 for p in alice.rtp), "the station's keys reach Alice (RFC 4733)"
    assert relay.history == [] and rehearsal.openings == [], "the visitor opened the door"
    await alice.hangup()
    station.hang_up()
