"""The "si3050" board driver: options checked with precise messages, ports built through the
loader, a missing /dev/spidev node taking the ports out of service, INT through gpiozero."""

from __future__ import annotations

import asyncio
import functools
import itertools
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.si3050.board import GpioInterrupt, SpidevBus, create_devices
from drivers.si3050.port import Si3050FxoPort
from drivers.si3050.registers import PcmFormat
from hal.board import BoardEntry, BoardError, DeviceKind, load_board, parse_board
from hal.loader import BoardContext, create_board
from hal.sim.clock import ManualClock

REGISTRY = {"si3050": "drivers.si3050.board:create_devices", "sim": "hal.sim.board:create_devices"}


def entry(**options: object) -> BoardEntry:
    return BoardEntry(DeviceKind.FXO, 0, "si3050", options)


def names() -> functools.partial[str]:
    counter = itertools.count(1)
    return functools.partial(lambda: f"fxo{next(counter)}")


def test_an_entry_becomes_one_port_per_chain_channel(clock: ManualClock) -> None:
    ports = create_devices(entry(spi={"bus": 0, "cs": 1}, channels=[0, 1], country="ctr21",
                                 pcm_format="alaw", pcm_slots=[4, 5]),
                           names(), BoardContext(clock, ()))
    assert [p.name for p in ports] == ["fxo1", "fxo2"]
    assert all(isinstance(p, Si3050FxoPort) for p in ports)
    first = ports[0]
    assert isinstance(first, Si3050FxoPort)
    assert (first.channel, first.audio.slot, first.country.code, first.pcm_format) == (
        0, 4, "eu", PcmFormat.ALAW)


def test_every_bad_option_is_named_with_its_fix(clock: ManualClock) -> None:
    with pytest.raises(BoardError) as caught:
        create_devices(entry(spi={"bus": 0}, channels=[0, 0], country="xx",
                             pcm_format="gsm", interrupt_gpio=[1, 2, 3], colour="red"),
                       names(), BoardContext(clock, ()))
    assert caught.value.problems == (
        "fxo[0].colour: unknown option of the si3050 driver; it takes spi, channels, "
        "pcm_slots, country, pcm_format, interrupt_gpio, spi_speed_hz, supervision_ms, "
        "line_in_use_below_v",
        "fxo[0].spi: must be a table { bus = 0, cs = 1 } naming /dev/spidev<bus>.<cs>",
        "fxo[0].channels: must be a list of distinct numbers 0-15, e.g. channels = [0, 1]",
        "fxo[0].country: unknown country 'xx'; known: ctr21, eu, fcc, ru, tbr21, us",
        "fxo[0].pcm_format: must be one of linear16, alaw, ulaw, not 'gsm'",
        "fxo[0].interrupt_gpio: must be one BCM pin 0-53 (a wired-OR INT) or a list of "
        "pins, one per channel",
    )


def test_si3050_is_refused_outside_fxo(clock: ManualClock) -> None:
    with pytest.raises(BoardError, match=r"fxs\[0\].driver: si3050 drives FXO lines"):
        create_devices(BoardEntry(DeviceKind.FXS, 0, "si3050", {}), names(),
                       BoardContext(clock, ()))


def test_the_loader_builds_the_ports_next_to_sim_ports(clock: ManualClock) -> None:
    board = create_board(parse_board("""
        name = "r1"
        [[fxs]]
        driver = "sim"
        channels = [0, 1]
        [[fxo]]
        driver = "si3050"
        spi = { bus = 0, cs = 1 }
        channels = [0, 1]
        interrupt_gpio = 24
    """), REGISTRY, clock=clock)
    fxo = board.of_type(Si3050FxoPort)
    assert [(p.name, p.audio.slot) for p in fxo] == [("fxo1", 2), ("fxo2", 3)]


async def test_a_missing_spidev_node_puts_the_ports_out_of_service(clock: ManualClock) -> None:
    bus = SpidevBus(99, 9)                                 # /dev/spidev99.9 does not exist
    port = Si3050FxoPort("fxo1", bus.handle(), 0, clock, 0)
    await port.open()                                      # the rest of the box keeps going
    assert not port.status.in_service
    assert "SPI transfer failed" in (port.status.reason or "")
    await port.close()


async def test_gpio_interrupt_edges_reach_each_port_on_its_loop() -> None:
    factory = MockFactory()
    line = GpioInterrupt(24, pin_factory=factory)
    hits: list[str] = []
    first, second = line.line(), line.line()
    first.set_handler(lambda: hits.append("fxo1"))
    second.set_handler(lambda: hits.append("fxo2"))
    pin = factory.pin(24)
    pin.drive_low()                                        # INT is active low
    await asyncio.sleep(0)
    assert sorted(hits) == ["fxo1", "fxo2"]
    pin.drive_high()
    first.set_handler(None)
    pin.drive_low()
    await asyncio.sleep(0)
    assert sorted(hits) == ["fxo1", "fxo2", "fxo2"]
    second.set_handler(None)                               # the last one closes the device
    assert line._device is None


def test_the_reference_boards_fxo_entry_is_accepted(clock: ManualClock) -> None:
    path = Path(__file__).resolve().parents[4] / "board" / "switchbox-r1.toml"
    if not path.exists():
        pytest.skip(f"{path} not there yet")
    [fxo] = load_board(path).of_kind(DeviceKind.FXO)
    ports = create_devices(fxo, names(), BoardContext(clock, ()))
    assert [type(p) for p in ports] == [Si3050FxoPort, Si3050FxoPort]
