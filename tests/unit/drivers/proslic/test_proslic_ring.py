"""Ringing: cadences timed by the chip's ring timers or by the driver, ring trip, the ring
oscillator as the phone hears it, and caller ID in the on-hook transmission window."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.proslic.emulator import ProSlicEmulator
from drivers.proslic.port import ProSlicFxsPort
from drivers.proslic.registers import DR, LinefeedCode
from hal.audio import FRAME_SAMPLES, Frame
from hal.events import OffHook
from hal.fxs import CallerIdTiming, Linefeed
from hal.linesignal import RING_CADENCES
from hal.sim.clock import ManualClock

RU, UK, US = RING_CADENCES["ru"], RING_CADENCES["uk"], RING_CADENCES["us"]


def marker_frames(count: int) -> list[Frame]:
    """Frames standing in for caller-ID FSK (the PCM bus carries them, not the SPI)."""
    return [np.full(FRAME_SAMPLES, 100 * (k + 1), dtype=np.int16) for k in range(count)]


async def test_russian_cadence_is_timed_by_the_chip(port: ProSlicFxsPort,
                                                    emulator: ProSlicEmulator,
                                                    clock: ManualClock) -> None:
    log_before = len(emulator.phone.linefeed_log)
    await port.ring(RU)
    assert port.ringing and port.linefeed is Linefeed.RINGING
    assert emulator.register(DR.RING_OSC_CONTROL) == 0x18
    assert emulator.register(DR.RING_ACTIVE_LO) | emulator.register(DR.RING_ACTIVE_HI) << 8 \
        == 8000
    await clock.advance(10.5)
    assert emulator.phone.ring_cadence_ms() == [1000, 4000, 1000, 4000]
    assert emulator.phone.bell_on  # third burst
    # The chip timed it: one linefeed change (to RINGING) and none per burst.
    assert [code for _, code in emulator.phone.linefeed_log[log_before:]] == [
        LinefeedCode.RINGING]
    burst = emulator.phone.ring_bursts[0]
    assert burst.frequency_hz == pytest.approx(25.0, abs=0.1)
    assert burst.vpk == pytest.approx(65.0, abs=1.0)


async def test_british_double_ring_is_timed_by_the_driver(port: ProSlicFxsPort,
                                                          emulator: ProSlicEmulator,
                                                          clock: ManualClock) -> None:
    await port.ring(UK)
    assert emulator.register(DR.RING_OSC_CONTROL) == 0  # continuous oscillator, driver gates it
    await clock.advance(6.5)
    assert emulator.phone.ring_cadence_ms() == [400, 200, 400, 2000, 400, 200, 400, 2000, 400]


async def test_lifting_in_a_burst_trips_the_ring(port: ProSlicFxsPort,
                                                 emulator: ProSlicEmulator,
                                                 clock: ManualClock) -> None:
    await port.ring(RU)
    await clock.advance(0.5)
    lifted_at = clock.now()
    emulator.phone.lift()
    await clock.advance(0.2)
    assert not port.ringing and not emulator.phone.bell_on
    assert port.linefeed is Linefeed.FORWARD_ACTIVE
    assert emulator.linefeed is LinefeedCode.FORWARD_ACTIVE
    assert emulator.register(DR.RING_OSC_CONTROL) == 0
    events = port.take_events()
    assert [type(e) for e in events] == [OffHook]
    assert events[0].at == pytest.approx(lifted_at + 0.002, abs=1e-6)
    await clock.advance(6.0)
    assert len(emulator.phone.ring_bursts) == 1  # no second burst


async def test_lifting_in_a_chip_timed_pause_stops_ringing(port: ProSlicFxsPort,
                                                           emulator: ProSlicEmulator,
                                                           clock: ManualClock) -> None:
    await port.ring(RU)
    await clock.advance(2.0)  # 1 s into the 4 s pause
    lifted_at = clock.now()
    emulator.phone.lift()
    await clock.advance(0.3)  # the chip debounces 105 ms in the silent period (DR63)
    assert not port.ringing
    events = port.take_events()
    assert [type(e) for e in events] == [OffHook]
    assert events[0].at == pytest.approx(lifted_at, abs=0.005)
    await clock.advance(5.0)
    assert len(emulator.phone.ring_bursts) == 1


async def test_lifting_in_a_driver_timed_pause_stops_ringing(port: ProSlicFxsPort,
                                                             emulator: ProSlicEmulator,
                                                             clock: ManualClock) -> None:
    await port.ring(UK)
    await clock.advance(1.5)  # in the 2 s pause
    emulator.phone.lift()
    await clock.advance(0.2)
    assert not port.ringing and [type(e) for e in port.take_events()] == [OffHook]
    await clock.advance(3.0)
    assert len(emulator.phone.ring_bursts) == 2


async def test_stop_ringing_and_no_ringing_off_hook(port: ProSlicFxsPort,
                                                    emulator: ProSlicEmulator,
                                                    clock: ManualClock) -> None:
    await port.ring(US)
    await clock.advance(1.0)
    await port.stop_ringing()
    await port.stop_ringing()  # harmless twice
    assert not emulator.phone.bell_on and emulator.linefeed is LinefeedCode.FORWARD_ACTIVE
    await clock.advance(8.0)
    assert len(emulator.phone.ring_bursts) == 1
    emulator.phone.lift()
    await clock.advance(0.2)
    await port.ring(US)
    await clock.advance(1.0)
    assert not port.ringing and len(emulator.phone.ring_bursts) == 1


async def test_caller_id_after_the_first_ring(port: ProSlicFxsPort, emulator: ProSlicEmulator,
                                              clock: ManualClock) -> None:
    start = clock.now()
    frames = marker_frames(60)  # 1.2 s of FSK
    await port.ring(RU, caller_id=frames)
    await clock.advance(1.5 + 0.001)
    assert port.linefeed is Linefeed.ON_HOOK_TRANSMISSION
    assert port.audio.own_frames_queued == len(frames)
    await clock.advance(4.0)
    window_start, window_end = emulator.phone.oht_windows[0]
    assert window_start == pytest.approx(start + 1.5)  # 500 ms into the closing pause
    assert window_end == pytest.approx(start + 1.5 + 61 * 0.020)  # frames + one tick slack
    assert emulator.phone.line_reversed is False
    # The second burst comes where the cadence puts it, then the chip times the rest.
    await clock.advance(5.6)
    assert emulator.phone.ring_cadence_ms() == [1000, 4000, 1000, 4000, 1000]


async def test_caller_id_in_the_british_closing_pause(port: ProSlicFxsPort,
                                                      emulator: ProSlicEmulator,
                                                      clock: ManualClock) -> None:
    start = clock.now()
    await port.ring(UK, caller_id=marker_frames(40))
    await clock.advance(4.0)
    assert emulator.phone.oht_windows[0][0] == pytest.approx(start + 1.0 + 0.5)
    assert emulator.phone.ring_cadence_ms()[:4] == [400, 200, 400, 2000]


async def test_caller_id_before_the_first_ring(port: ProSlicFxsPort, emulator: ProSlicEmulator,
                                               clock: ManualClock) -> None:
    start = clock.now()
    frames = marker_frames(50)
    await port.ring(RU, caller_id=frames, caller_id_timing=CallerIdTiming.BEFORE_FIRST_RING)
    assert emulator.phone.line_reversed and not emulator.phone.bell_on
    await clock.advance(0.25 + 0.001)
    assert emulator.linefeed is LinefeedCode.REVERSE_OHT
    await clock.advance(2.0)
    first_ring = emulator.phone.ring_bursts[0].start
    assert emulator.phone.oht_windows[0][0] == pytest.approx(start + 0.25)
    assert first_ring == pytest.approx(start + 0.25 + 50 * 0.020 + 0.25)
    assert not emulator.phone.line_reversed


async def test_send_caller_id_on_hook_only(port: ProSlicFxsPort, emulator: ProSlicEmulator,
                                           clock: ManualClock) -> None:
    assert await port.send_caller_id(marker_frames(10))
    assert emulator.linefeed is LinefeedCode.FORWARD_OHT
    await clock.advance(0.3)
    assert emulator.phone.oht_windows[-1][1] is not None  # closed again: back to active
    assert emulator.linefeed is LinefeedCode.FORWARD_ACTIVE
    emulator.phone.lift()
    await clock.advance(0.2)
    assert not await port.send_caller_id(marker_frames(10))


async def test_polarity_and_message_waiting_lamp(port: ProSlicFxsPort,
                                                 emulator: ProSlicEmulator,
                                                 clock: ManualClock) -> None:
    await port.set_polarity(True)
    assert emulator.phone.line_reversed and port.linefeed is Linefeed.REVERSE_ACTIVE
    await port.set_polarity(False)
    assert not emulator.phone.line_reversed
    assert not emulator.phone.mwi_lamp_lit
    await port.set_message_waiting(True)
    assert emulator.phone.mwi_lamp_lit and port.message_waiting
    await port.set_message_waiting(False)
    assert not emulator.phone.mwi_lamp_lit
