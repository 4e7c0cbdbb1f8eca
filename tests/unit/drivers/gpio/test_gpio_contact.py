"""GpioContactInput on gpiozero's MockFactory: presses debounced on the board clock, chatter,
both wirings, and edges arriving from another thread (as gpiozero's event thread delivers
them) reaching a consumer through the event loop."""

from __future__ import annotations

import asyncio
import threading

import gpiozero
from gpiozero.pins.mock import MockFactory

from drivers.gpio.contact import GpioContactInput
from drivers.gpio.lines import (
    EdgeCallback,
    GpiozeroLines,
    InputLine,
    LineUnavailable,
    OutputLine,
)
from hal.events import Pressed, Released
from hal.sim.clock import ManualClock


async def test_a_press_is_reported_after_the_debounce_with_the_time_of_its_first_edge(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    async with GpioContactInput("input1", 23, lines, clock) as contact:
        pin = factory.pin(23)
        assert pin.state is True  # pull-up: an open contact reads high
        pressed_at = clock.now()
        pin.drive_low()
        await clock.advance(0.019)
        assert contact.take_events() == [] and not contact.is_pressed
        await clock.advance(0.002)
        assert contact.take_events() == [Pressed("input1", pressed_at)]
        assert contact.is_pressed
        await clock.advance(1.5)
        pin.drive_high()
        await clock.advance(0.021)
        assert contact.take_events() == [Released("input1", pressed_at + 1.521, 1521)]


async def test_chatter_shorter_than_the_debounce_gives_one_press(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    async with GpioContactInput("input1", 23, lines, clock, debounce_ms=20) as contact:
        pin = factory.pin(23)
        first = clock.now()
        for _ in range(4):  # a bouncing push button: 4 ms of chatter
            pin.drive_low()
            await clock.advance(0.0005)
            pin.drive_high()
            await clock.advance(0.0005)
        pin.drive_low()
        await clock.advance(0.05)
        events = contact.take_events()
        assert events == [Pressed("input1", first)]
        assert contact.edges == 9


async def test_a_glitch_shorter_than_the_debounce_is_ignored(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    async with GpioContactInput("input1", 23, lines, clock) as contact:
        pin = factory.pin(23)
        pin.drive_low()
        await clock.advance(0.010)
        pin.drive_high()
        await clock.advance(0.5)
        assert contact.take_events() == []


async def test_pull_down_wiring_reads_a_high_pin_as_pressed(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    async with GpioContactInput("input1", 16, lines, clock, pull_up=False) as contact:
        pin = factory.pin(16)
        at = clock.now()
        pin.drive_high()
        await clock.advance(0.03)
        assert contact.take_events() == [Pressed("input1", at)]


class _ClosedContactLines:
    """GpioLines whose one input reads closed from the start (MockPin's pull-up would lift a
    mock pin high when claimed; a real pull-up cannot lift a closed contact)."""

    chip = 0

    def __init__(self) -> None:
        self.on_change: EdgeCallback | None = None

    def output(self, pin: int, *, active_high: bool) -> OutputLine:
        raise LineUnavailable("no outputs here")

    def input(self, pin: int, *, pull_up: bool, on_change: EdgeCallback) -> InputLine:
        self.on_change = on_change
        return self

    @property
    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        self.on_change = None

    def describe(self) -> str:
        return "closed contact"


async def test_a_contact_closed_at_start_up_is_reported(clock: ManualClock) -> None:
    at = clock.now()
    async with GpioContactInput("input1", 23, _ClosedContactLines(), clock) as contact:
        await clock.advance(0.03)
        assert contact.take_events() == [Pressed("input1", at)]


async def test_edges_from_gpiozero_thread_reach_the_consumer_through_the_loop(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    async with GpioContactInput("input1", 23, lines, clock) as contact:
        events = contact.events()
        consumer = asyncio.ensure_future(events.__anext__())
        loop_thread = threading.get_ident()
        seen_on: list[int] = []
        original = contact._sample

        def spy(raw: bool, at: float) -> None:
            seen_on.append(threading.get_ident())
            original(raw, at)

        contact._sample = spy  # type: ignore[method-assign]
        presser = threading.Thread(target=factory.pin(23).drive_low)
        presser.start()
        presser.join()
        await clock.advance(0.05)
        event = await asyncio.wait_for(consumer, timeout=1.0)
        assert isinstance(event, Pressed)
        assert seen_on == [loop_thread]  # the edge was processed on the loop, not gpiozero's


async def test_a_taken_pin_leaves_the_contact_out_of_service_until_it_is_free(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    squatter = gpiozero.DigitalInputDevice(23, pin_factory=factory)
    async with GpioContactInput("input1", 23, lines, clock) as contact:
        assert not contact.status.in_service
        squatter.close()
        await clock.advance(1.0)
        assert contact.status.in_service
        factory.pin(23).drive_low()
        await clock.advance(0.03)
        assert [type(e) for e in contact.take_events()] == [Pressed]
