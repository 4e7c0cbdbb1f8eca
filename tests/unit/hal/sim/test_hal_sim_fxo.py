"""Rehearsing the city lines on the simulated board: the exchange rings line 1 with the Russian
cadence and caller ID, the box calls out by pulses and by DTMF, the far end answers and hangs
up, and each kind of disconnect signal reaches the port as the driver would report it."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
import pytest

from hal.audio import FRAME_SAMPLES, Frame
from hal.events import (
    LineInUse,
    LoopCurrentChanged,
    PolarityReversed,
    PortAlarm,
    PortAlarmCleared,
    RingDetected,
    RingEnded,
    RingStopped,
)
from hal.fxo import DialMethod
from hal.fxs import CallerIdTiming
from hal.linesignal import RING_CADENCES, RingValidation
from hal.sim.board import SimBoard
from hal.sim.clock import ManualClock
from hal.sim.fxo import DisconnectSignal, LineSettings, LineState

T0 = 1000.0
RU = RING_CADENCES["ru"]


def digit_frames(cli: str) -> list[Frame]:
    """A stand-in caller-ID encoder: one frame per digit, all samples (digit + 1)·100."""
    return [np.full(FRAME_SAMPLES, (int(d) + 1) * 100, dtype=np.int16) for d in cli if d.isdigit()]


def read_digit_frames(audio: npt.NDArray[np.int16]) -> tuple[int, str]:
    """(first frame index with a marker, the digits the markers spell)."""
    frames = audio.reshape(-1, FRAME_SAMPLES)
    marked = [i for i, f in enumerate(frames) if f.any()]
    return marked[0], "".join(str(frames[i][0] // 100 - 1) for i in marked)


def dominant_hz(samples: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 8000)[int(np.argmax(spectrum))])


def on_off_ms(samples: npt.NDArray[np.int16]) -> list[int]:
    """Lengths of the tone's on and off runs in 10 ms blocks (an envelope, independent of how
    the tone was made)."""
    blocks = samples[: len(samples) // 80 * 80].reshape(-1, 80).astype(np.float64)
    on = np.sqrt(np.mean(blocks ** 2, axis=1)) > 300
    edges = np.flatnonzero(np.diff(on.astype(np.int8))) + 1
    return [int(n) * 10 for n in np.diff(edges)]


async def test_exchange_rings_line_1_with_cadence_and_caller_id_after_the_first_ring(
        board: SimBoard, clock: ManualClock) -> None:
    port, office = board.fxo(1), board.office
    office.caller_id_encoder = digit_frames
    port.set_ring_validation(RingValidation(expected=RU))
    await port.monitor_on_hook(True)
    async with board.pcm.idle_media():
        await office.ring_line(1, cli="+74951234567")
        await clock.advance(5.5)
    assert port.take_events() == [
        RingDetected("fxo1", T0, 1, (), None),
        RingEnded("fxo1", T0 + 1.0, 1, 1000),
        RingDetected("fxo1", T0 + 5.0, 2, (1000, 4000), True),
    ]
    first, digits = read_digit_frames(board.pcm.captured("fxo1"))
    assert digits == "74951234567"
    assert first * 0.020 == pytest.approx(1.5)   # 500 ms after the first burst ended


async def test_without_the_on_hook_monitor_the_caller_id_is_not_heard(
        board: SimBoard, clock: ManualClock) -> None:
    board.office.caller_id_encoder = digit_frames
    async with board.pcm.idle_media():
        await board.office.ring_line(2, cli="84951112233")
        await clock.advance(2.0)
    assert not board.pcm.captured("fxo2").any()


async def test_a_caller_who_gives_up_ends_the_ringing_after_the_ring_timeout(
        board: SimBoard, clock: ManualClock) -> None:
    port = board.fxo(1)
    await board.office.ring_line(1, cli="+74951234567")
    await clock.advance(1.2)
    board.office.hang_up(1)
    await clock.advance(6.2)                          # 7.4 s: 6.4 s without ring voltage
    assert port.ringing                               # could still be a long pause
    await clock.advance(0.2)
    assert port.take_events()[-1] == RingStopped("fxo1", T0 + 1.0, 1)
    assert not port.ringing and board.office.line(1).state is LineState.IDLE


async def test_answering_a_ringing_line_connects_the_caller(board: SimBoard,
                                                            clock: ManualClock) -> None:
    port, line = board.fxo(1), board.office.line(1)
    await board.office.ring_line(1, cli="+74951234567")
    await clock.advance(0.5)
    await port.seize()                                # in the first burst: ring trip
    assert not line.ring_voltage and not port.ringing
    await clock.advance(0.1)
    assert line.state is LineState.CONNECTED
    line.far_end_speak([np.full(FRAME_SAMPLES, 3, dtype=np.int16)])
    async with board.pcm.idle_media():
        await clock.advance(0.1)
    assert (board.pcm.captured("fxo1") == 3).sum() == FRAME_SAMPLES
    await clock.advance(10.0)
    assert port.take_events() == [RingDetected("fxo1", T0, 1, (), None),
                                  LoopCurrentChanged("fxo1", T0 + 0.5, 28.0)]


async def test_caller_id_before_the_first_ring_follows_a_line_reversal(
        board: SimBoard, clock: ManualClock) -> None:
    port = board.fxo(2)
    board.office.caller_id_encoder = digit_frames
    await port.monitor_on_hook(True)
    async with board.pcm.idle_media():
        await board.office.ring_line(2, cli="123",
                                     caller_id_timing=CallerIdTiming.BEFORE_FIRST_RING)
        await clock.advance(1.5)
    ring_at = T0 + 0.25 + 3 * 0.020 + 0.25
    events = port.take_events()
    assert events[:3] == [PolarityReversed("fxo2", T0, True),
                          PolarityReversed("fxo2", pytest.approx(ring_at), False),
                          RingDetected("fxo2", pytest.approx(ring_at), 1, (), None)]
    first, digits = read_digit_frames(board.pcm.captured("fxo2"))
    assert digits == "123" and first * 0.020 == pytest.approx(0.25, abs=0.011)  # ±½ tick


async def test_pulse_dialled_call_is_answered_and_ends_with_a_loop_current_drop(
        board: SimBoard, clock: ManualClock) -> None:
    port, line = board.fxo(1), board.office.line(1)
    async with board.pcm.idle_media():
        await port.seize()
        await clock.advance(0.5)
        assert line.state is LineState.DIAL_TONE
        assert dominant_hz(board.pcm.captured("fxo1")[-2000:]) == pytest.approx(425, abs=5)
        dialling = asyncio.create_task(port.dial("123", DialMethod.PULSE))
        await clock.advance(3.0)
        await dialling
        await clock.advance(4.1)                      # the exchange waits 4 s for more digits
        assert line.calls == ["123"] and line.state is LineState.ALERTING
        await clock.advance(3.0)
        assert line.state is LineState.CONNECTED
        line.far_end_speak([np.full(FRAME_SAMPLES, 9, dtype=np.int16)])
        port.audio.play([np.full(FRAME_SAMPLES, 5, dtype=np.int16)])
        await clock.advance(0.1)
        assert (board.pcm.captured("fxo1") == 9).sum() == FRAME_SAMPLES
        assert (line.far_end_heard() == 5).sum() == FRAME_SAMPLES
        board.office.hang_up(1)                       # at 10.7 s
        await clock.advance(2.7)
        busy_audio = board.pcm.captured("fxo1")[-int(2.0 * 8000):]
    assert line.state is LineState.BUSY
    assert [e for e in port.take_events() if isinstance(e, LoopCurrentChanged)] == [
        LoopCurrentChanged("fxo1", T0, 28.0),             # seized; none while dialling
        LoopCurrentChanged("fxo1", pytest.approx(T0 + 10.7), 0.0),
        LoopCurrentChanged("fxo1", pytest.approx(T0 + 11.3), 28.0),
    ]
    assert dominant_hz(busy_audio) == pytest.approx(425, abs=5)
    assert on_off_ms(busy_audio)[1:4] == [350, 350, 350]  # Russian busy: 0.35 s on, 0.35 off
    assert on_off_ms(busy_audio)[:4] == [350, 350, 350, 350]  # Russian busy tone


async def test_dtmf_dialled_call_with_polarity_reversal_answer_and_disconnect(
        board: SimBoard, clock: ManualClock) -> None:
    port, line = board.fxo(2), board.office.line(2)
    line.settings = LineSettings(disconnect=DisconnectSignal.POLARITY_REVERSAL,
                                 answer_polarity_reversal=True, number_length=3,
                                 answer_after_s=2.0)
    async with board.pcm.idle_media():
        await port.seize()
        await clock.advance(0.3)
        dialling = asyncio.create_task(port.dial("911"))
        await clock.advance(0.6)
        await dialling
        assert line.calls == ["911"]                  # complete at 3 digits, no timeout
        await clock.advance(2.1)
        assert line.state is LineState.CONNECTED and port.polarity_reversed
        line.far_end_hangs_up()
        await clock.advance(0.1)
        assert line.state is LineState.BUSY and not port.polarity_reversed
        await port.release()
        await clock.advance(0.35)
    assert line.state is LineState.IDLE
    assert [e.reversed for e in port.take_events() if isinstance(e, PolarityReversed)] == [
        True, False]


async def test_busy_tone_only_disconnect_gives_no_electrical_signal(
        board: SimBoard, clock: ManualClock) -> None:
    port, line = board.fxo(1), board.office.line(1)
    line.settings = LineSettings(disconnect=DisconnectSignal.BUSY_TONE_ONLY, number_length=1,
                                 answer_after_s=0.5)
    async with board.pcm.idle_media():
        await port.seize()
        await clock.advance(0.2)
        dialling = asyncio.create_task(port.dial("0", DialMethod.PULSE))
        await clock.advance(1.5)
        await dialling
        await clock.advance(1.0)
        assert line.state is LineState.CONNECTED
        port.take_events()
        line.far_end_hangs_up()
        await clock.advance(2.0)
        audio = board.pcm.captured("fxo1")[-16000:]
    assert port.take_events() == [] and port.loop_current_ma == 28.0
    assert dominant_hz(audio) == pytest.approx(425, abs=5)
    assert on_off_ms(audio)[1:3] == [350, 350]


async def test_a_parallel_set_and_an_unplugged_line_are_reported(board: SimBoard,
                                                                 clock: ManualClock) -> None:
    port, line = board.fxo(2), board.office.line(2)
    line.parallel_set(off_hook=True)
    assert port.line_in_use
    line.parallel_set(off_hook=False)
    line.disconnect_cable()
    assert port.status.reason == "no line voltage"
    with pytest.raises(RuntimeError, match="no line voltage"):
        await port.seize()
    line.reconnect_cable()
    assert port.status.in_service
    assert port.take_events() == [LineInUse("fxo2", T0, True), LineInUse("fxo2", T0, False),
                                  PortAlarm("fxo2", T0, "no line voltage"),
                                  PortAlarmCleared("fxo2", T0)]
