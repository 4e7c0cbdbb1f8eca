"""Rehearsing the rest of the box on the simulated board: the door opener relay, the door
button, the front panel, the paging amplifier, the watchdog and the PCM bus's own checks."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from hal.audio import FRAME_SAMPLES, silence
from hal.events import KeyPressed, PanelKey, Pressed, Released
from hal.panel import PanelLed
from hal.sim.board import SimBoard
from hal.sim.clock import ManualClock
from hal.sim.relay import RelayPulse

T0 = 1000.0


async def test_door_opener_pulses_for_three_seconds(board: SimBoard, clock: ManualClock) -> None:
    door = board.relay(1)
    await door.pulse(3000)
    assert door.is_on                       # energised at once; pulse() does not wait
    await clock.advance(2.99)
    assert door.is_on
    await clock.advance(0.02)
    assert not door.is_on
    assert door.pulses == [RelayPulse(T0, pytest.approx(3000.0))]


async def test_a_second_pulse_restarts_the_time_and_set_cancels_a_pulse(
        board: SimBoard, clock: ManualClock) -> None:
    door, bell = board.relay(1), board.relay(2)
    await door.pulse(1000)
    await clock.advance(0.5)
    await door.pulse(1000)                  # pressed again: 1 s from now
    await clock.advance(0.9)
    assert door.is_on
    await clock.advance(0.2)
    assert door.pulses == [RelayPulse(T0, pytest.approx(1500.0))]
    await bell.pulse(5000)
    await bell.set(False)
    await clock.advance(6.0)
    assert [on for _, on in bell.history] == [True, False]
    with pytest.raises(ValueError, match="relay2: pulse must last 1-60000 ms, not 0"):
        await bell.pulse(0)


async def test_a_closed_relay_is_released(board: SimBoard) -> None:
    door = board.relay(1)
    await door.set(True)
    await board.close()
    assert not door.is_on


async def test_door_button_is_debounced(board: SimBoard, clock: ManualClock) -> None:
    button = board.contact(1)              # debounce_ms = 20 in board/sim.toml
    button.press()
    await clock.advance(0.005)
    button.release()                       # a 5 ms glitch: nothing
    await clock.advance(1.0)
    assert button.take_events() == [] and not button.is_pressed
    button.press(bounce_ms=4)              # a real press, chattering for 4 ms
    await clock.advance(0.019)
    assert not button.is_pressed           # not yet held for 20 ms
    await clock.advance(0.002)
    assert button.is_pressed
    await clock.advance(0.479)
    button.release(bounce_ms=4)
    await clock.advance(0.1)
    assert button.take_events() == [Pressed("input1", T0 + 1.005),
                                    Released("input1", T0 + 1.505, 500)]


async def test_front_panel_shows_text_and_reports_keys(board: SimBoard,
                                                       clock: ManualClock) -> None:
    panel = board.panel
    await panel.show(["Switchbox ready", "4 FXS 2 FXO 12:00 extra"])
    assert panel.display == ["Switchbox ready", "4 FXS 2 FXO 12:0"]
    with pytest.raises(ValueError, match="3 lines for a 2-line display"):
        await panel.show(["a", "b", "c"])
    await panel.set_led(PanelLed.ALARM, True)
    panel.press(PanelKey.OK)
    assert panel.leds[PanelLed.ALARM]
    assert panel.take_events() == [KeyPressed("panel1", T0, PanelKey.OK)]


async def test_paging_waits_for_the_amplifier_then_plays_paced_frames(
        board: SimBoard, clock: ManualClock) -> None:
    paging = board.paging
    with pytest.raises(RuntimeError, match="start"):
        await paging.play(silence())
    starting = asyncio.create_task(paging.start())
    await clock.advance(0.29)
    assert paging.amplifier_on and not starting.done()   # warming up: 300 ms
    await clock.advance(0.02)
    await starting

    async def announce() -> None:
        for k in range(5):
            await paging.play(np.full(FRAME_SAMPLES, k, dtype=np.int16))

    speaking = asyncio.create_task(announce())
    await clock.advance(0.2)
    await speaking
    await paging.stop()
    assert [round(at - T0, 3) for at, _ in paging.played] == [0.31, 0.33, 0.35, 0.37, 0.39]
    assert [on for _, on in paging.amplifier_history] == [True, False]


async def test_watchdog_fires_unless_kicked(board: SimBoard, clock: ManualClock) -> None:
    watchdog = board.watchdog
    await watchdog.start()
    for _ in range(4):
        await clock.advance(10.0)
        watchdog.kick()
    assert watchdog.fired_at is None and watchdog.kicks == 4
    await clock.advance(15.0)
    assert watchdog.fired_at == pytest.approx(T0 + 55.0)
    await watchdog.stop()


async def test_pcm_bus_refuses_malformed_frames_and_counts_late_ticks(
        board: SimBoard, clock: ManualClock) -> None:
    bus = board.pcm
    with pytest.raises(ValueError, match=r"int16 of shape \(8, 160\), not float64 \(8, 160\)"):
        await bus.exchange(np.zeros((8, FRAME_SAMPLES)))
    tick = asyncio.create_task(bus.exchange(silence(8)))
    await clock.advance(0.02)
    await tick
    await clock.advance(0.1)                # the media loop stalled for 100 ms
    tick = asyncio.create_task(bus.exchange(silence(8)))
    await clock.advance(0.02)
    await tick
    assert bus.xruns == 1 and bus.ticks == 2
    assert bus.port("fxo2").slot == 5 and set(bus.ports) == {
        "fxs1", "fxs2", "fxs3", "fxs4", "fxo1", "fxo2", "dect1.1"}


def test_a_dect_base_with_two_call_slots_keeps_both_on_the_pcm_bus() -> None:
    from hal.audio import PcmBus
    from hal.sim.dect import SimDectBase

    class Bus(PcmBus):
        async def exchange(self, playback: object) -> object:  # not used here
            raise NotImplementedError

        async def _open(self) -> None: ...

        async def _close(self) -> None: ...

    base = SimDectBase("dect1", 0, ManualClock(), slots=[6, 7])
    bus = Bus("pcm1", 8, base.audio_ports)
    assert {name: port.slot for name, port in bus.ports.items()} == {"dect1.1": 6, "dect1.2": 7}
