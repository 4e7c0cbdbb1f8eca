"""Rehearsing DECT on the simulated board: handsets register with the PIN during the window,
receive calls with caller ID, call out en bloc, show text, roam between two bases and hand a
call over, and a failing base goes out of service while the rest keeps working."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from hal.audio import FRAME_SAMPLES, silence
from hal.board import BoardError, parse_board
from hal.dect import CallerIdText, Handset
from hal.errors import DeviceError, DeviceFault, DeviceNotResponding, LineFault
from hal.events import (
    HandoverCompleted,
    HandoverStarted,
    HandsetDeregistered,
    HandsetOffHook,
    HandsetOnHook,
    HandsetRegistered,
    KeypadPressed,
    PortAlarm,
    PortAlarmCleared,
    RegistrationWindowClosed,
)
from hal.loader import create_board
from hal.sim.audio import SimPcmBus
from hal.sim.board import SimBoard
from hal.sim.clock import ManualClock
from hal.sim.dect import SimDectBase, SimHandset

T0 = 1000.0
PIN = "1234"
TWO_BASES = """
name = "two-cells"
[[fxs]]
driver = "sim"
channels = [0]
[[dect]]
driver = "sim"
channels = [0, 1]
"""


def dect(board: SimBoard, number: int = 1) -> SimDectBase:
    return board.of_type(SimDectBase)[number - 1]


async def registered(base: SimDectBase) -> SimHandset:
    await base.open_registration(60, PIN)
    handset = base.add_handset()
    assert handset.register(PIN) is not None
    await base.close_registration()
    for other in base.cluster.bases:
        other.take_events()
    return handset


@pytest.fixture
async def cells(clock: ManualClock) -> AsyncIterator[SimBoard]:
    board = SimBoard.from_description(parse_board(TWO_BASES, "two.toml"), clock=clock)
    async with board:
        yield board


async def test_the_sim_board_has_a_dect_base_on_a_free_pcm_slot(board: SimBoard) -> None:
    base = dect(board)
    assert base.name == "dect1" and base.status.in_service
    assert [p.slot for p in base.audio_ports] == [6]   # FXS 0-3, FXO 4-5 in board/sim.toml
    assert board.not_simulated == []


async def test_a_handset_registers_with_the_pin_while_the_window_is_open(
        board: SimBoard, clock: ManualClock) -> None:
    base = dect(board)
    handset = base.add_handset(ipui="0123456789")
    assert handset.register(PIN) is None and handset.display == "Registration failed"
    await base.open_registration(60, PIN)
    assert base.registration_open
    assert handset.register("0000") is None
    assert handset.register(PIN) == 1 and handset.display == "Registered"
    assert base.take_events() == [HandsetRegistered("dect1", T0, 1, "0123456789")]
    assert base.handsets() == (Handset(1, "0123456789", True),)
    await clock.advance(59.9)
    assert base.registration_open
    await clock.advance(0.2)
    assert not base.registration_open
    assert base.take_events() == [RegistrationWindowClosed("dect1", T0 + 60.0)]
    with pytest.raises(ValueError, match="PIN must be 4 digits"):
        await base.open_registration(60, "12")
    await base.deregister(1)
    assert base.take_events() == [HandsetDeregistered("dect1", pytest.approx(T0 + 60.1), 1)]
    assert handset.number is None and handset.display == "Not registered"


async def test_an_incoming_call_rings_shows_the_caller_and_is_answered(
        board: SimBoard, clock: ManualClock) -> None:
    base = dect(board)
    handset = await registered(base)
    await base.page(1, CallerIdText("201", "Reception"))
    assert handset.is_ringing and handset.display == "201 Reception"
    assert handset.caller_id == CallerIdText("201", "Reception")
    await clock.advance(4.0)
    handset.answer()
    assert base.take_events() == [HandsetOffHook("dect1", T0 + 4.0, 1)]
    slot = await base.connect(1)
    assert slot.slot == 6 and handset.in_call and base.call_slot(1) is slot
    with pytest.raises(RuntimeError, match="not ringing"):
        handset.answer()
    await clock.advance(30.0)
    handset.hang_up()
    assert base.take_events() == [HandsetOnHook("dect1", T0 + 34.0, 1)]
    assert base.call_slot(1) is None
    await base.release(1)                            # harmless when idle


async def test_an_outgoing_call_sends_the_number_en_bloc(board: SimBoard) -> None:
    base = dect(board)
    handset = await registered(base)
    with pytest.raises(RuntimeError, match="on-hook"):
        handset.press("1")
    with pytest.raises(ValueError, match="no 'A' key"):
        handset.call("20A")
    handset.call("201")
    assert base.take_events() == [HandsetOffHook("dect1", T0, 1),
                                  KeypadPressed("dect1", T0, 1, "201")]
    await base.connect(1)
    handset.press("R")
    assert base.take_events() == [KeypadPressed("dect1", T0, 1, "R")]
    with pytest.raises(DeviceError, match="busy"):
        await base.page(1)


async def test_text_and_message_waiting_reach_the_handset(board: SimBoard) -> None:
    base = dect(board)
    handset = await registered(base)
    await base.show(1, "Voicemail: 3 new messages waiting")
    assert handset.display == "Voicemail: 3 new message"      # 24 characters
    await base.set_message_waiting(1, True)
    assert handset.message_waiting
    with pytest.raises(KeyError):
        await base.show(7, "nobody")
    with pytest.raises(DeviceFault, match="not off-hook"):
        await base.connect(1)


async def test_a_single_slot_base_refuses_a_second_call(board: SimBoard) -> None:
    base = dect(board)
    first, second = await registered(base), await registered(base)
    first.talk()
    second.talk()
    await base.connect(first.number or 0)
    with pytest.raises(DeviceError, match="every speech slot is busy"):
        await base.connect(second.number or 0)


async def test_handsets_roam_between_bases_and_a_call_hands_over(
        cells: SimBoard, clock: ManualClock) -> None:
    one, two = dect(cells, 1), dect(cells, 2)
    assert [p.slot for p in one.audio_ports + two.audio_ports] == [1, 2]
    handset = await registered(one)
    handset.roam_to(two)                             # idle: only the location changes
    assert one.handsets() == (Handset(1, handset.ipui, False),)
    assert two.handsets() == (Handset(1, handset.ipui, True),)
    with pytest.raises(LineFault, match="out of range"):
        await one.page(1)
    await two.page(1, CallerIdText("+74951234567"))
    handset.answer()
    await two.connect(1)
    two.take_events()
    await clock.advance(20.0)
    handset.roam_to(one)                             # walks back in the middle of the call
    assert one.take_events() == [HandoverStarted("dect1", T0 + 20.0, 1, "dect2")]
    assert handset.in_call and two.call_slot(1) is not None
    slot = await one.connect(1)                      # the firmware moves the audio
    assert slot.slot == 1 and two.call_slot(1) is None and handset.base is one
    assert one.take_events() == [HandoverCompleted("dect1", T0 + 20.0, 1, "dect2")]
    assert two.take_events() == []
    handset.hang_up()
    assert one.take_events() == [HandsetOnHook("dect1", T0 + 20.0, 1)]


async def test_a_handover_nobody_connects_leaves_the_call_on_the_old_base(
        cells: SimBoard, clock: ManualClock) -> None:
    one, two = dect(cells, 1), dect(cells, 2)
    handset = await registered(one)
    handset.talk()
    await one.connect(1)
    handset.roam_to(two)
    await clock.advance(1.1)
    assert [type(e) for e in two.take_events()] == [HandoverStarted]
    assert handset.base is one and one.call_slot(1) is not None and handset.in_call
    handset.leave_range()
    assert one.take_events()[-1] == HandsetOnHook("dect1", T0 + 1.1, 1)
    assert one.call_slot(1) is None


async def test_a_failed_base_alarms_ends_its_calls_and_the_other_base_keeps_working(
        cells: SimBoard, clock: ManualClock) -> None:
    one, two = dect(cells, 1), dect(cells, 2)
    handset, other = await registered(one), await registered(one)
    other.roam_to(two)
    handset.talk()
    await one.connect(1)
    one.take_events()
    one.fail("no answer from the DECT module")
    assert one.take_events() == [PortAlarm("dect1", T0, "no answer from the DECT module"),
                                 HandsetOnHook("dect1", T0, 1)]
    assert not handset.in_call and handset.display == "No base"
    with pytest.raises(DeviceNotResponding):
        await one.page(1)
    await two.page(2)
    assert other.is_ringing
    await clock.advance(10.0)
    one.restore()
    assert one.take_events() == [PortAlarmCleared("dect1", T0 + 10.0)]
    await one.page(1)
    assert handset.is_ringing


async def test_speech_paths_carry_audio_between_the_bus_and_the_handset(
        board: SimBoard, clock: ManualClock) -> None:
    base = dect(board)
    handset = await registered(base)
    handset.talk()
    slot = await base.connect(1)
    bus = SimPcmBus("pcm9", 8, base.speech_paths, clock)   # a bus that carries the base
    async with bus:
        playback = silence(8)
        playback[slot.slot] = np.full(FRAME_SAMPLES, 1000, dtype=np.int16)
        handset.speak([np.full(FRAME_SAMPLES, -500, dtype=np.int16)])
        exchanging = asyncio.create_task(bus.exchange(playback))
        await clock.advance(0.02)                    # one 20 ms tick
        captured = await exchanging
    assert np.all(handset.heard() == 1000)
    assert np.all(captured[slot.slot] == -500) and not captured[slot.slot - 1].any()


@pytest.mark.parametrize(("toml", "problem"), [
    ('[[fxs]]\ndriver = "sim"\nchannels = [0]\n[[dect]]\ndriver = "sim"\nchannels = [0]\n'
     "pcm_slots = [0]\n", "dect[0].pcm_slots: slot 0 already carries fxs1"),
    ('[[dect]]\ndriver = "sim"\nchannels = [0]\nuart = "/dev/ttyAMA1"\n',
     "dect[0].uart: unknown option of the sim driver; dect takes only `channels`, "
     "`pcm_slots`"),
])
def test_a_bad_dect_entry_is_refused_precisely(toml: str, problem: str) -> None:
    with pytest.raises(BoardError) as info:
        create_board(parse_board('name = "x"\n' + toml, "x.toml"))
    assert info.value.problems == (problem,)
