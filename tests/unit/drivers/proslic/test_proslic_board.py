"""The "proslic" board factory and its spidev/gpiozero adapters (gpiozero's mock pins; no
SPI device is opened until a port opens)."""

from __future__ import annotations

import asyncio

import pytest
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from drivers.proslic.board import (
    GpioInterruptLine,
    GpioResetLine,
    SpidevBus,
    create_devices,
)
from drivers.proslic.chip import PcmLaw
from drivers.proslic.emulator import EmulatedInterruptLine
from drivers.proslic.port import ProSlicFxsPort
from drivers.proslic.registers import LinefeedCircuit
from hal.board import BoardError, parse_board
from hal.loader import create_board
from hal.sim.clock import ManualClock

REGISTRY = {"proslic": "drivers.proslic.board:create_devices"}
BOARD = """
name = "r1"
[[fxs]]
driver = "proslic"
spi = { bus = 0, cs = [0, 1] }
interrupt_gpio = 25
reset_gpio = 24
gpio_backend = "mock"
ring_hz = 20
ring_vpk = 60
pcm_law = "ulaw"
linefeed = "si3201"
"""


def test_board_entry_builds_ports_without_touching_hardware(clock: ManualClock) -> None:
    board = create_board(parse_board(BOARD), REGISTRY, clock=clock)
    ports = board.of_type(ProSlicFxsPort)
    assert [p.name for p in ports] == ["fxs1", "fxs2"]
    assert [p.audio.slot for p in ports] == [0, 1]
    assert ports[0].settings.ring_frequency_hz == 20 and ports[0].settings.ring_vpk == 60
    assert ports[0].settings.pcm_law is PcmLaw.ULAW
    assert ports[0].settings.linefeed_circuit is LinefeedCircuit.SI3201
    assert all(not p.status.in_service for p in ports)  # created, not opened


def test_bad_entry_is_refused_with_every_problem(clock: ManualClock) -> None:
    text = """
name = "bad"
[[fxs]]
driver = "proslic"
spi = { bus = 0, cs = [0, 0] }
interrupt_gpio = [25, 26, 27]
max_speed_hz = 50
pcm_law = "mulaw"
ring_vpk = 95
colour = "blue"
"""
    with pytest.raises(BoardError) as caught:
        create_board(parse_board(text), REGISTRY, clock=clock)
    problems = "\n".join(caught.value.problems)
    for expected in ("fxs[0].colour: unknown option", "fxs[0].spi.cs: must be a chip select",
                     "fxs[0].max_speed_hz: must be 100000-10000000",
                     "fxs[0].pcm_law: must be one of alaw, ulaw",
                     "fxs[0].settings: ProSLIC settings: ring_vpk = 95 outside 40-90"):
        assert expected in problems, problems
    with pytest.raises(BoardError, match=r"interrupt_gpio: needs one value, or one per chip"):
        create_board(parse_board(text.replace("[0, 0]", "[0, 1]")), REGISTRY, clock=clock)


def test_pcm_slots_must_be_free(clock: ManualClock) -> None:
    text = BOARD.replace('gpio_backend = "mock"', 'gpio_backend = "mock"\npcm_slots = [3, 3]')
    with pytest.raises(BoardError, match="pcm_slots: must be a list of distinct slots"):
        create_board(parse_board(text), REGISTRY, clock=clock)


def test_interrupt_line_calls_handlers_on_the_falling_edge() -> None:
    factory = MockFactory()
    line = GpioInterruptLine(25, factory)
    calls: list[str] = []
    line.add_handler(lambda: calls.append("a"))
    line.add_handler(lambda: calls.append("b"))
    pin = factory.pin(25)
    assert not line.is_active  # pull-up: idle high
    pin.drive_low()
    assert line.is_active and calls == ["a", "b"]
    pin.drive_high()
    pin.drive_low()
    assert calls == ["a", "b", "a", "b"]


async def test_reset_line_pulses_low_once(clock: ManualClock) -> None:
    factory = MockFactory()
    reset = GpioResetLine(24, factory, clock)
    task = asyncio.ensure_future(reset.pulse())
    await clock.advance(0.1)
    pin = factory.pin(24)
    assert pin.state is False  # RESET asserted (active low)
    await clock.advance(0.5)
    assert task.done() and pin.state is True
    second = asyncio.ensure_future(reset.pulse())
    await clock.settle()
    assert second.done()  # shared line: never a second reset


async def test_missing_spi_device_puts_the_port_out_of_service(clock: ManualClock) -> None:
    port = ProSlicFxsPort("fxs1", SpidevBus(7, 15), clock, 0, EmulatedInterruptLine())
    await port.open()
    assert not port.status.in_service
    assert port.status.reason is not None and port.status.reason.startswith("SPI transfer failed")
    await port.close()


def test_factory_refuses_other_sections(clock: ManualClock) -> None:
    text = 'name = "x"\n[[fxo]]\ndriver = "proslic"\nspi = { cs = 0 }\ninterrupt_gpio = 5\n'
    with pytest.raises(BoardError, match="proslic drives FXS ports only"):
        create_board(parse_board(text), REGISTRY, clock=clock)
    assert REGISTRY["proslic"].endswith(create_devices.__name__)
