"""Analog phones and city lines in the same numbering plan as the SIP phones.

The box runs as installed, on the simulated board: Reception (301) has an analog phone on
fxs1, the Store (302) one on fxs2, city line 1 (fxo1) rings Reception. Audio is checked as a
user would notice it: a 1 kHz tone said at one end arrives at the other end at about the
level it was said at, both ways.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firmware.calls.events import Answered, CallEnded, CallHeld
from firmware.media.codecs.g711 import ulaw_decode, ulaw_encode
from firmware.sip import sdp as sdp_mod
from hal.board import find_board, load_board
from hal.loader import create_board
from hal.sim.board import SimBoard

from .harness import WAIT_S, Box, Media, Office

pytestmark = pytest.mark.timeout(60)

TONE_HZ = 1000.0
LEVEL_DBM0 = -10.0
FULL_SCALE_DBM0 = 3.17  # G.711: a full-scale sine is +3.17 dBm0


def analog_office(document: dict[str, Any]) -> None:
    document["users"] += [
        {"id": "u301", "name": "Reception", "extension": "301"},
        {"id": "u302", "name": "Store", "extension": "302"},
    ]
    document["devices"] += [
        {"id": "reception-phone", "user": "u301", "kind": "fxs", "port": "fxs1"},
        {"id": "store-phone", "user": "u302", "kind": "fxs", "port": "fxs2"},
    ]
    document["inbound"] = [{"line": "fxo1", "destination": "301"}]


@dataclasses.dataclass
class Rehearsal:
    office: Office
    board: SimBoard
    ended: list[CallEnded]
    answered: list[Answered]


@pytest.fixture
async def rehearsal(tmp_path: Path) -> AsyncIterator[Rehearsal]:
    board = SimBoard.wrap(create_board(load_board(find_board("sim"))))
    box = await Box.serve(tmp_path, board=board, extra=analog_office)
    ended: list[CallEnded] = []
    answered: list[Answered] = []

    async def watch() -> None:
        async for event in box.bus.subscribe(CallEnded, Answered):
            (ended if isinstance(event, CallEnded) else answered).append(event)  # type: ignore[arg-type]

    watcher = asyncio.get_running_loop().create_task(watch())
    await asyncio.sleep(0)
    async with Office(box) as office:
        yield Rehearsal(office, board, ended, answered)
    watcher.cancel()


async def until(check: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> None:
    """Wait for `check()` to hold, looking once per PCM tick: the simulated board's state has
    no change notification, and a tick is the granularity at which it changes."""
    try:
        async with asyncio.timeout(timeout_s):
            for _ in itertools.count():
                if check():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s} s: {what}") from None


def tone(seconds: float, hz: float = TONE_HZ, level_dbm0: float = LEVEL_DBM0) -> np.ndarray:
    n = int(8000 * seconds)
    peak = 32767 * 10 ** ((level_dbm0 - FULL_SCALE_DBM0) / 20)
    return (peak * np.sin(2 * math.pi * hz * np.arange(n) / 8000)).astype(np.int16)


def frames_of(signal: np.ndarray) -> list[np.ndarray]:
    return [signal[i:i + 160] for i in range(0, signal.size - 159, 160)]


def level_dbm0(signal: np.ndarray, hz: float = TONE_HZ) -> float:
    """Level of the `hz` component of `signal` (the loudest 0.25 s of it), in dBm0."""
    if signal.size < 2000:
        return -99.0
    best = -99.0
    window = 2000
    for start in range(0, signal.size - window + 1, window // 2):
        chunk = signal[start:start + window].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(chunk * np.hanning(window)))
        k = int(round(hz * window / 8000))
        amplitude = 2 * spectrum[k - 2:k + 3].max() / np.hanning(window).sum()
        if amplitude > 0:
            best = max(best, 20 * math.log10(amplitude / 32767) + FULL_SCALE_DBM0)
    return best


async def rtp_tone_to(phone: Any, seconds: float) -> None:
    """The SIP phone says a tone: PCMU packets every 20 ms, as a phone sends them."""
    for frame in frames_of(tone(seconds)):
        phone.send_rtp(ulaw_encode(frame).tobytes())
        await asyncio.sleep(0.02)


def heard_over_rtp(phone: Any) -> np.ndarray:
    payloads = [p for p in phone.rtp if len(p) == 160]
    if not payloads:
        return np.zeros(0, np.int16)
    return ulaw_decode(np.frombuffer(b"".join(payloads), np.uint8))


async def talk_both_ways(sip_phone: Any, station: Any, tolerance_db: float = 1.5) -> None:
    """A tone said on the SIP phone is heard at the analog phone or handset, and back, at
    the level it was said at."""
    station.heard()
    await rtp_tone_to(sip_phone, 1.0)
    assert abs(level_dbm0(station.heard()) - LEVEL_DBM0) < tolerance_db
    sip_phone.rtp.clear()
    station.speak(frames_of(tone(1.0)))
    await until(lambda: len(sip_phone.rtp) >= 55, "RTP from the phone")
    assert abs(level_dbm0(heard_over_rtp(sip_phone)) - LEVEL_DBM0) < tolerance_db


async def test_analog_phone_calls_a_sip_phone_and_they_hear_each_other(
        rehearsal: Rehearsal) -> None:
    alice = await rehearsal.office.phone("201")
    reception = rehearsal.board.phone(1)
    reception.lift()
    await asyncio.sleep(0.3)
    assert level_dbm0(reception.heard(), 425.0) > -20, "no dial tone"
    reception.dial("201")
    invite = await alice.ringing()
    assert "301" in (invite.headers.get("From") or "")
    assert "Reception" in (invite.headers.get("From") or "")
    alice.answer()
    await until(lambda: rehearsal.answered, "the call is answered")
    await talk_both_ways(alice, reception)
    reception.hang_up()
    await alice.expect_request("BYE")
    await until(lambda: rehearsal.ended, "the call is recorded as ended")
    assert rehearsal.ended[0].answered_by == "alice-desk"
    assert rehearsal.ended[0].caller == "301"


async def test_sip_phone_calls_an_analog_phone_which_rings_with_caller_id(
        rehearsal: Rehearsal) -> None:
    alice = await rehearsal.office.phone("201")
    reception = rehearsal.board.phone(1)
    await alice.dial("301")
    await until(lambda: reception.is_ringing, "the analog phone rings")
    await until(lambda: reception.caller_id == "201", "caller ID 201 on the display",
                timeout_s=8.0)
    reception.lift()
    response = await alice.connected()
    assert response.status == 200
    await talk_both_ways(alice, reception)
    await alice.hangup()
    await until(lambda: rehearsal.ended, "the call ended")
    assert rehearsal.ended[0].answered_by == "reception-phone"
    reception.hang_up()


async def test_two_analog_phones_call_each_other(rehearsal: Rehearsal) -> None:
    reception, store = rehearsal.board.phone(1), rehearsal.board.phone(2)
    reception.lift()
    reception.dial("302")
    await until(lambda: store.is_ringing, "the store's phone rings")
    store.lift()
    await until(lambda: rehearsal.answered, "answered")
    store.heard()
    reception.speak(frames_of(tone(1.0)))
    await asyncio.sleep(1.2)
    assert abs(level_dbm0(store.heard()) - LEVEL_DBM0) < 1.5
    store.hang_up()
    await until(lambda: rehearsal.ended, "the call ended")
    assert rehearsal.ended[0].answered_by == "store-phone"
    reception.hang_up()


async def test_busy_analog_phone_gives_the_sip_caller_busy(rehearsal: Rehearsal) -> None:
    alice = await rehearsal.office.phone("201")
    store = rehearsal.board.phone(2)
    store.lift()  # the store is dialling, not free
    await asyncio.sleep(0.2)
    await alice.dial("302")
    response = await alice.connected()
    assert response.status == 486


async def test_analog_phone_dials_a_city_number_through_the_fxo_line(
        rehearsal: Rehearsal) -> None:
    line = rehearsal.board.office.line(1)
    line.settings = dataclasses.replace(line.settings, number_length=11, answer_after_s=0.3)
    reception = rehearsal.board.phone(1)
    reception.lift()
    reception.dial("9" + "84951234567")
    await until(lambda: line.calls == ["84951234567"], "the exchange received the number",
                timeout_s=10.0)
    await until(lambda: rehearsal.answered, "the trunk call is connected")
    reception.heard()
    line.far_end_heard()
    line.far_end_speak(frames_of(tone(1.0)))
    reception.speak(frames_of(tone(1.0)))
    await asyncio.sleep(1.3)
    assert abs(level_dbm0(reception.heard()) - LEVEL_DBM0) < 2.0
    assert abs(level_dbm0(line.far_end_heard()) - LEVEL_DBM0) < 2.0
    reception.hang_up()
    await until(lambda: rehearsal.ended, "the call ended")
    await until(lambda: not rehearsal.board.fxo(1).seized, "the line is released")


async def test_city_call_rings_reception_and_ends_when_the_caller_hangs_up(
        rehearsal: Rehearsal) -> None:
    reception = rehearsal.board.phone(1)
    await rehearsal.board.office.ring_line(1, cli="+74951234567")
    await until(lambda: reception.is_ringing, "reception rings", timeout_s=8.0)
    reception.lift()
    await until(lambda: rehearsal.board.fxo(1).seized, "the box answers the line")
    line = rehearsal.board.office.line(1)
    reception.heard()
    line.far_end_speak(frames_of(tone(1.0)))
    await asyncio.sleep(1.3)
    assert abs(level_dbm0(reception.heard()) - LEVEL_DBM0) < 2.0
    rehearsal.board.office.hang_up(1)
    await until(lambda: rehearsal.ended, "the call ended when the exchange cleared it",
                timeout_s=8.0)
    await until(lambda: not rehearsal.board.fxo(1).seized, "the line is released")
    reception.hang_up()


async def _alice_talks_to_reception(rehearsal: Rehearsal) -> Any:
    alice = await rehearsal.office.phone("201")
    reception = rehearsal.board.phone(1)
    await alice.dial("301")
    await until(lambda: reception.is_ringing, "reception rings")
    reception.lift()
    assert (await alice.connected()).status == 200
    return alice


async def test_flash_transfer_after_the_store_answers_joins_caller_and_store(
        rehearsal: Rehearsal) -> None:
    alice = await _alice_talks_to_reception(rehearsal)
    reception, store = rehearsal.board.phone(1), rehearsal.board.phone(2)
    await asyncio.sleep(reception.flash() + 0.1)
    reception.dial("302")
    await until(lambda: store.is_ringing, "the store rings for the consultation")
    store.lift()
    await until(lambda: len(rehearsal.answered) == 2, "the store answers")
    reception.hang_up()  # transfer on hang-up
    await asyncio.sleep(0.3)
    store.heard()
    await rtp_tone_to(alice, 1.0)
    assert abs(level_dbm0(store.heard()) - LEVEL_DBM0) < 2.0, "the store hears the caller"
    alice.rtp.clear()
    store.speak(frames_of(tone(1.0)))
    await until(lambda: len(alice.rtp) >= 55, "RTP from the store")
    assert abs(level_dbm0(heard_over_rtp(alice)) - LEVEL_DBM0) < 2.0, "the caller hears"
    assert rehearsal.ended == [], "the transfer ended no call"
    await alice.hangup()
    await until(lambda: len(rehearsal.ended) == 2, "both calls end with the caller")
    store.hang_up()


async def test_blind_flash_transfer_rings_the_store_and_connects_when_it_answers(
        rehearsal: Rehearsal) -> None:
    alice = await _alice_talks_to_reception(rehearsal)
    reception, store = rehearsal.board.phone(1), rehearsal.board.phone(2)
    await asyncio.sleep(reception.flash() + 0.1)
    reception.dial("302")
    await until(lambda: store.is_ringing, "the store rings")
    reception.hang_up()  # blind: hang up while it rings
    await asyncio.sleep(0.3)
    assert store.is_ringing, "the store still rings for the transferred caller"
    store.lift()
    await asyncio.sleep(0.3)
    store.heard()
    await rtp_tone_to(alice, 1.0)
    assert abs(level_dbm0(store.heard()) - LEVEL_DBM0) < 2.0, "the store hears the caller"
    store.hang_up()
    await alice.expect_request("BYE")
    await until(lambda: len(rehearsal.ended) == 2, "both calls end")


async def test_flash_holds_the_caller_with_music_and_flash_again_takes_it_back(
        rehearsal: Rehearsal) -> None:
    alice = await _alice_talks_to_reception(rehearsal)
    reception = rehearsal.board.phone(1)
    held: list[CallHeld] = []

    async def watch() -> None:
        async for event in rehearsal.office.box.bus.subscribe(CallHeld):
            held.append(event)  # type: ignore[arg-type]

    watcher = asyncio.get_running_loop().create_task(watch())
    await asyncio.sleep(0)
    await asyncio.sleep(reception.flash() + 0.1)
    await until(lambda: held and held[-1].held, "the call is on hold")
    alice.rtp.clear()
    await asyncio.sleep(1.0)
    music = heard_over_rtp(alice)
    assert music.size >= 40 * 160, "the held caller keeps receiving audio"
    assert np.sqrt(np.mean(music.astype(np.float64) ** 2)) > 300, "music, not silence"
    await asyncio.sleep(reception.flash() + 0.1)  # R again: back to the caller
    await until(lambda: not held[-1].held, "the call is taken back")
    reception.heard()
    await rtp_tone_to(alice, 1.0)
    assert abs(level_dbm0(reception.heard()) - LEVEL_DBM0) < 2.0
    watcher.cancel()
    await alice.hangup()


async def test_international_number_is_refused_by_default_class_of_service(
        rehearsal: Rehearsal) -> None:
    """Fraud guardrail: international numbers are denied until a class of service allows
    them; the phone hears congestion and no city line is taken."""
    reception = rehearsal.board.phone(1)
    reception.lift()
    reception.dial("9" + "81044" + "2079460958")
    await until(lambda: rehearsal.ended, "the call is refused", timeout_s=10.0)
    assert rehearsal.ended[0].cause == "rejected"
    assert rehearsal.board.office.line(1).calls == []
    assert not rehearsal.board.fxo(1).seized
    reception.heard()
    await asyncio.sleep(0.6)
    assert level_dbm0(reception.heard(), 425.0) > -20, "congestion tone"


async def test_group_pickup_answers_the_call_ringing_another_phone(
        rehearsal: Rehearsal) -> None:
    alice = await rehearsal.office.phone("201")
    reception, store = rehearsal.board.phone(1), rehearsal.board.phone(2)
    await alice.dial("302")
    await until(lambda: store.is_ringing, "the store rings")
    reception.lift()
    reception.dial("*8")
    response = await alice.connected()
    assert response.status == 200, "the caller is answered by the picker"
    await until(lambda: not store.is_ringing, "the store stops ringing")
    assert rehearsal.answered[-1].device == "reception-phone"
    reception.heard()
    await rtp_tone_to(alice, 1.0)
    assert abs(level_dbm0(reception.heard()) - LEVEL_DBM0) < 1.5
    await alice.hangup()
    await until(lambda: any(e.answered_by == "reception-phone" for e in rehearsal.ended),
                "the picked-up call ends")
    reception.hang_up()


async def test_do_not_disturb_by_feature_code_gives_callers_busy_until_cleared(
        rehearsal: Rehearsal) -> None:
    alice = await rehearsal.office.phone("201")
    reception = rehearsal.board.phone(1)
    reception.lift()
    reception.dial("*26")
    await asyncio.sleep(0.8)
    assert level_dbm0(reception.heard(), 425.0) > -25, "confirmation tone"
    reception.hang_up()
    await asyncio.sleep(0.2)
    await alice.dial("301")
    assert (await alice.connected()).status == 486
    assert not reception.is_ringing
    reception.lift()
    reception.dial("#26")
    await asyncio.sleep(0.8)
    reception.hang_up()
    await asyncio.sleep(1.5)  # on-hook longer than a flash is a hang-up
    alice.responses.clear()  # the scripted phone reads the first final response it has
    await alice.dial("301")
    await until(lambda: reception.is_ringing, "reception rings again")


async def test_sip_phone_holds_an_analog_call_and_the_box_answers_for_the_port(
        rehearsal: Rehearsal) -> None:
    alice = await _alice_talks_to_reception(rehearsal)
    response = await alice.hold()
    assert response.status == 200
    assert Media.of(response.body).direction is sdp_mod.Direction.RECVONLY
    response = await alice.resume()
    assert response.status == 200
    assert Media.of(response.body).direction is sdp_mod.Direction.SENDRECV
    await talk_both_ways(alice, rehearsal.board.phone(1))
    await alice.hangup()
