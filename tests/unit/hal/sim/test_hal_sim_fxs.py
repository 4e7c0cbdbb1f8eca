"""Rehearsing the analog extensions on the simulated board: a phone on FXS port 1 lifts,
dials by pulses and by DTMF, flashes, hangs up, rings with the Russian cadence and shows the
caller ID it received — all on the manual clock, through the same decoder as the box."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
import numpy.typing as npt
import pytest

from hal.audio import FRAME_SAMPLES, Frame, silence
from hal.events import HookFlash, OffHook, OnHook, PulseDigit
from hal.fxs import CallerIdTiming, Linefeed
from hal.linesignal import RING_CADENCES
from hal.sim.audio import LineModel, SimPcmBus
from hal.sim.board import SimBoard
from hal.sim.clock import ManualClock
from hal.sim.fxs import SimFxsPort

RU = RING_CADENCES["ru"]


def marker_frames(count: int) -> list[Frame]:
    """Distinguishable frames standing in for caller-ID FSK: frame k is all k·100."""
    return [np.full(FRAME_SAMPLES, 100 * (k + 1), dtype=np.int16) for k in range(count)]


def peak_frequencies_hz(samples: npt.NDArray[np.int16], count: int = 2) -> list[float]:
    """The `count` strongest frequencies, an independent check on generated tones."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    bins = np.fft.rfftfreq(len(samples), 1 / 8000)
    strongest: list[float] = []
    for index in np.argsort(spectrum)[::-1]:
        if all(abs(bins[index] - f) > 60 for f in strongest):
            strongest.append(float(bins[index]))
        if len(strongest) == count:
            break
    return sorted(strongest)


async def test_rotary_phone_dials_201_through_the_port(board: SimBoard,
                                                       clock: ManualClock) -> None:
    port, phone = board.fxs(1), board.phone(1)
    phone.lift()
    await clock.advance(0.5)
    took_s = phone.dial("201", pulse=True)
    assert took_s == pytest.approx(13 * 0.100 + 2 * 0.660)  # 13 pulses, two 700 ms pauses
    await clock.advance(took_s + 0.3)
    events = port.take_events()
    assert [type(e) for e in events] == [OffHook, PulseDigit, PulseDigit, PulseDigit]
    assert events[0].at == 1000.0
    assert [(e.digit, e.pulses) for e in events if isinstance(e, PulseDigit)] == [
        ("2", 2), ("0", 10), ("1", 1)]


async def test_flash_then_hang_up(board: SimBoard, clock: ManualClock) -> None:
    port, phone = board.fxs(2), board.phone(2)
    phone.lift()
    await clock.advance(2.0)
    phone.flash()                       # R key: a 100 ms timed break
    await clock.advance(3.0)
    phone.hang_up()
    await clock.advance(0.29)
    assert port.off_hook                # 290 ms open could still be a flash
    await clock.advance(0.02)
    assert not port.off_hook
    events = port.take_events()
    assert events == [OffHook("fxs2", 1000.0), HookFlash("fxs2", 1002.0, 100),
                      OnHook("fxs2", 1005.0)]


async def test_phone_rings_with_the_russian_cadence_until_lifted(board: SimBoard,
                                                                 clock: ManualClock) -> None:
    port, phone = board.fxs(1), board.phone(1)
    await port.ring(RU)
    assert port.linefeed is Linefeed.RINGING and phone.is_ringing and phone.bell_on
    await clock.advance(10.5)
    assert phone.ring_cadence_ms() == [1000, 4000, 1000, 4000]
    assert phone.bell_on                 # the third burst, 10.0–11.0 s
    phone.lift()                         # ring trip
    assert not phone.is_ringing and not phone.bell_on
    assert port.linefeed is Linefeed.FORWARD_ACTIVE
    await clock.advance(0.1)
    assert port.take_events() == [OffHook("fxs1", 1010.5)]
    assert phone.ring_bursts[-1] == (1010.0, 1010.5)


async def test_an_off_hook_phone_is_not_rung(board: SimBoard, clock: ManualClock) -> None:
    board.phone(3).lift()
    await clock.advance(0.1)
    await board.fxs(3).ring(RU)
    assert not board.phone(3).is_ringing and board.phone(3).ring_bursts == []


async def test_caller_id_reaches_the_phone_between_the_first_and_second_ring(
        board: SimBoard, clock: ManualClock) -> None:
    port, phone = board.fxs(1), board.phone(1)
    phone.caller_id_decoder = lambda frames: f"{sum(1 for f in frames if f.any())} marked"
    sent = marker_frames(10)             # 200 ms of "FSK"
    async with board.pcm.idle_media():
        await port.ring(RU, caller_id=sent)
        await clock.advance(1.48)
        assert port.linefeed is Linefeed.RINGING and phone.caller_id is None
        await clock.advance(0.04)        # 1.52 s: 500 ms after the first burst ended
        assert port.linefeed is Linefeed.ON_HOOK_TRANSMISSION
        await clock.advance(0.22)
        assert port.linefeed is Linefeed.RINGING
        await clock.advance(3.5)
        assert phone.bell_on             # second burst at 5 s, cadence undisturbed
    received = [f for f in phone.caller_id_frames if f.any()]  # the window may add silence
    assert len(received) == 10
    assert all(np.array_equal(a, b) for a, b in zip(received, sent, strict=True))
    assert phone.caller_id == "10 marked"
    assert phone.heard().size == 0      # nothing reached the earpiece: it was on-hook


async def test_with_the_british_double_ring_caller_id_waits_for_the_long_pause(
        board: SimBoard, clock: ManualClock) -> None:
    port = board.fxs(2)
    async with board.pcm.idle_media():
        await port.ring(RING_CADENCES["uk"], caller_id=marker_frames(10))
        await clock.advance(0.7)                      # in the 200 ms gap and second burst
        assert port.linefeed is Linefeed.RINGING
        await clock.advance(0.82)                     # 1.52 s: 500 ms into the 2 s pause
        assert port.linefeed is Linefeed.ON_HOOK_TRANSMISSION
        await clock.advance(1.5)
    assert len([f for f in board.phone(2).caller_id_frames if f.any()]) == 10
    assert board.phone(2).ring_cadence_ms()[:4] == [400, 200, 400, 2000]


async def test_caller_id_before_the_first_ring_is_announced_by_a_line_reversal(
        board: SimBoard, clock: ManualClock) -> None:
    port, phone = board.fxs(4), board.phone(4)
    async with board.pcm.idle_media():
        await port.ring(RU, caller_id=marker_frames(5),
                        caller_id_timing=CallerIdTiming.BEFORE_FIRST_RING)
        assert port.linefeed is Linefeed.REVERSE_ACTIVE and not phone.bell_on
        await clock.advance(0.26)
        assert port.linefeed is Linefeed.ON_HOOK_TRANSMISSION
        await clock.advance(1.0)
    assert len([f for f in phone.caller_id_frames if f.any()]) == 5
    assert phone.ring_bursts[0][0] == pytest.approx(1000.0 + 0.25 + 0.1 + 0.25)


async def test_dtmf_dialling_puts_q23_tone_pairs_on_the_port_audio(
        board: SimBoard, clock: ManualClock) -> None:
    port, phone = board.fxs(1), board.phone(1)
    async with board.pcm.idle_media():
        phone.lift()
        took_s = phone.dial("5#")
        await clock.advance(took_s + 0.1)
    audio = board.pcm.captured("fxs1")
    # The dial began on the tick after lift(): find the tones by energy, not by position.
    loud = np.flatnonzero(np.abs(audio) > 1000)
    five = audio[loud[0]:loud[0] + 640]               # 80 ms of the first tone
    hash_ = audio[loud[0] + 1280:loud[0] + 1920]      # 160 ms later
    assert peak_frequencies_hz(five) == pytest.approx([770, 1336], abs=15)
    assert peak_frequencies_hz(hash_) == pytest.approx([941, 1477], abs=15)
    assert [e for e in port.take_events() if isinstance(e, PulseDigit)] == []


async def test_speech_both_ways_only_while_off_hook(board: SimBoard, clock: ManualClock) -> None:
    phone, bus = board.phone(2), board.pcm
    slot = board.fxs(2).audio.slot
    playback = silence(bus.slots)
    playback[slot] = np.arange(FRAME_SAMPLES, dtype=np.int16)
    exchange = clock_exchange(bus, clock)
    await exchange(playback)
    assert phone.heard().size == 0                    # on-hook: the earpiece is dead
    phone.lift()
    phone.speak([np.full(FRAME_SAMPLES, 7, dtype=np.int16)])
    captured = await exchange(playback)
    assert np.array_equal(phone.heard(), playback[slot])
    assert np.all(captured[slot] == 7) and not captured[board.fxs(1).audio.slot].any()


def clock_exchange(bus: SimPcmBus, clock: ManualClock) -> Callable[[Frame], Awaitable[Frame]]:
    """One PCM tick driven by the manual clock: exchange() waits for the tick to end."""

    async def run(playback: Frame) -> Frame:
        task = asyncio.create_task(bus.exchange(playback))
        await clock.advance(0.02)
        return await task

    return run


async def test_hybrid_echo_comes_back_at_the_configured_return_loss(clock: ManualClock) -> None:
    port = SimFxsPort("fxs1", 0, clock, 0, line=LineModel(echo_return_loss_db=12.0))
    bus = SimPcmBus("pcm1", 1, [port], clock)
    async with port, bus:
        port.phone.lift()
        tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(FRAME_SAMPLES) / 8000)).astype(np.int16)
        playback = tone.reshape(1, -1)
        exchange = clock_exchange(bus, clock)
        echoes = [await exchange(playback) for _ in range(5)]
    echo = echoes[-1][0].astype(np.float64)
    loss_db = 20 * np.log10(np.sqrt(np.mean(tone.astype(np.float64) ** 2))
                            / np.sqrt(np.mean(echo ** 2)))
    assert loss_db == pytest.approx(12.0, abs=0.2)


async def test_message_waiting_lamp_and_polarity(board: SimBoard) -> None:
    port, phone = board.fxs(1), board.phone(1)
    await port.set_message_waiting(True)
    assert phone.message_waiting
    await port.set_polarity(True)
    assert port.linefeed is Linefeed.REVERSE_ACTIVE and port.polarity_reversed
    await port.set_polarity(False)
    assert port.linefeed is Linefeed.FORWARD_ACTIVE


async def test_a_closed_port_refuses_commands_and_its_events_end(board: SimBoard) -> None:
    port = board.fxs(1)
    await board.close()
    await board.close()                 # idempotent
    assert port.linefeed is Linefeed.OPEN and port.status.reason == "closed"
    with pytest.raises(RuntimeError, match="fxs1: closed"):
        await port.ring(RU)
    assert [e async for e in port.events()] == []
