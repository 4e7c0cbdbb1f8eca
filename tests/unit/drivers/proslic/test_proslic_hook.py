"""Hook, flash and pulse dialling: the emulated phone's loop through the chip's loop-closure
interrupt into `hal.linesignal.HookDecoder`, with times on the line's clock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from drivers.proslic.emulator import EmulatedInterruptLine, ProSlicEmulator
from drivers.proslic.port import ProSlicFxsPort
from hal.events import HookFlash, OffHook, OnHook, PulseDigit
from hal.linesignal import HookTiming, PulseTiming
from hal.sim.clock import ManualClock

BOUNCE_S = 0.002
"""The emulated hook contact settles 2 ms after its first edge."""


async def test_lift_and_hang_up_report_line_times(port: ProSlicFxsPort,
                                                  emulator: ProSlicEmulator,
                                                  clock: ManualClock) -> None:
    lifted_at = clock.now()
    emulator.phone.lift()
    await clock.advance(0.011)
    assert port.take_events() == []  # the chip is still debouncing (12.5 ms)
    await clock.advance(0.1)
    events = port.take_events()
    assert [type(e) for e in events] == [OffHook]
    assert events[0].at == pytest.approx(lifted_at + BOUNCE_S, abs=1e-6)
    assert port.off_hook and emulator.interrupt.edges == 1
    await clock.advance(5.0)
    hung_up_at = clock.now()
    emulator.phone.hang_up()
    await clock.advance(0.25)
    assert port.take_events() == []  # could still be a flash
    await clock.advance(0.2)
    events = port.take_events()
    assert [type(e) for e in events] == [OnHook]
    assert events[0].at == pytest.approx(hung_up_at + BOUNCE_S, abs=1e-6)
    assert not port.off_hook


async def test_rotary_phone_dials_201(port: ProSlicFxsPort, emulator: ProSlicEmulator,
                                      clock: ManualClock) -> None:
    emulator.phone.lift()
    await clock.advance(0.5)
    took_s = emulator.phone.dial("201")
    await clock.advance(took_s + 0.5)
    events = port.take_events()
    assert [type(e) for e in events] == [OffHook, PulseDigit, PulseDigit, PulseDigit]
    digits = [(e.digit, e.pulses) for e in events if isinstance(e, PulseDigit)]
    assert digits == [("2", 2), ("0", 10), ("1", 1)]
    assert port.chip.frames < 1200  # one interrupt per edge: ≤ 7 frames each, 26 edges


async def test_slow_and_fast_dials_within_tolerance_still_decode(
        port: ProSlicFxsPort, emulator: ProSlicEmulator, clock: ManualClock) -> None:
    emulator.phone.lift()
    await clock.advance(0.5)
    for timing, digit in ((PulseTiming(break_ms=66, make_ms=34), "7"),   # Bellcore 66/34
                          (PulseTiming(break_ms=55, make_ms=36), "3")):  # 11 pps
        await clock.advance(emulator.phone.dial(digit, timing) + 0.5)
    digits = [e.digit for e in port.take_events() if isinstance(e, PulseDigit)]
    assert digits == ["7", "3"]


async def test_flash_is_reported_with_its_duration(port: ProSlicFxsPort,
                                                   emulator: ProSlicEmulator,
                                                   clock: ManualClock) -> None:
    emulator.phone.lift()
    await clock.advance(1.0)
    port.take_events()
    await clock.advance(emulator.phone.flash(120.0) + 0.5)
    events = port.take_events()
    assert [type(e) for e in events] == [HookFlash]
    flash = events[0]
    assert isinstance(flash, HookFlash) and flash.duration_ms == pytest.approx(120, abs=2)


async def test_blip_shorter_than_the_chip_debounce_is_ignored(
        port: ProSlicFxsPort, emulator: ProSlicEmulator, clock: ManualClock) -> None:
    emulator.phone.lift()
    await clock.advance(1.0)
    port.take_events()
    edges = emulator.interrupt.edges
    await clock.advance(emulator.phone.flash(8.0) + 0.5)  # 8 ms < 12.5 ms DR69
    assert port.take_events() == [] and emulator.interrupt.edges == edges


async def test_per_port_flash_window(port: ProSlicFxsPort, emulator: ProSlicEmulator,
                                     clock: ManualClock) -> None:
    port.set_hook_timing(HookTiming(flash_min_ms=300.0, flash_max_ms=1000.0))
    emulator.phone.lift()
    await clock.advance(1.0)
    port.take_events()
    await clock.advance(emulator.phone.flash(600.0) + 0.5)  # a North American flash
    assert [type(e) for e in port.take_events()] == [HookFlash]
    await clock.advance(emulator.phone.flash(150.0) + 1.5)  # too short for this window
    assert port.take_events() == []  # a 150 ms break is neither pulse nor flash here


class ThreadedLine:
    """The emulator's INT line, but handlers run on another thread, as gpiozero's do."""

    def __init__(self, line: EmulatedInterruptLine) -> None:
        self._line = line
        self.threads: set[str] = set()

    @property
    def is_active(self) -> bool:
        return self._line.is_active

    def add_handler(self, handler: Callable[[], None]) -> None:
        def on_thread() -> None:
            def run() -> None:
                self.threads.add(threading.current_thread().name)
                handler()

            worker = threading.Thread(target=run, name="gpio-callback")
            worker.start()
            worker.join()

        self._line.add_handler(on_thread)

    def remove_handler(self, handler: Callable[[], None]) -> None:
        pass


async def test_interrupts_from_a_library_thread_enter_the_loop(
        clock: ManualClock, emulator: ProSlicEmulator) -> None:
    line = ThreadedLine(emulator.interrupt)
    fxs = ProSlicFxsPort("fxs1", emulator, clock, 0, line)
    task = asyncio.ensure_future(fxs.open())
    assert await clock.run_until(task.done, 10.0)
    emulator.phone.lift()
    await clock.advance(0.1)
    assert [type(e) for e in fxs.take_events()] == [OffHook]
    assert line.threads == {"gpio-callback"}
    await fxs.close()
