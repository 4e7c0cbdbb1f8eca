"""GpioRelay on gpiozero's MockFactory: pin levels, pulses on the board clock, a pin that is
taken (out of service, then retried), and the "gpio" factory's option checks."""

from __future__ import annotations

import gpiozero
import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio.board import make_create_devices
from drivers.gpio.lines import GpiozeroLines
from drivers.gpio.relay import GpioRelay
from hal.board import BoardDescription, BoardError, DeviceKind, parse_board
from hal.device import Device
from hal.errors import DeviceNotResponding
from hal.loader import BoardContext, DeviceFactory
from hal.sim.clock import ManualClock


async def test_relay_drives_its_pin_high_when_on(lines: GpiozeroLines, factory: MockFactory,
                                                 clock: ManualClock) -> None:
    async with GpioRelay("relay1", 17, lines, clock) as relay:
        pin = factory.pin(17)
        assert pin.function == "output" and pin.state is False
        await relay.set(True)
        assert pin.state is True and relay.is_on
        await relay.set(False)
        assert pin.state is False and not relay.is_on


async def test_active_low_relay_pulls_its_pin_low_when_on(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    async with GpioRelay("relay1", 27, lines, clock, active_high=False) as relay:
        pin = factory.pin(27)
        assert pin.state is True  # released: the driver input sits high
        await relay.set(True)
        assert pin.state is False


async def test_pulse_releases_the_relay_after_its_duration_on_the_board_clock(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    async with GpioRelay("relay1", 17, lines, clock) as relay:
        await relay.pulse(3000)
        pin = factory.pin(17)
        assert pin.state is True
        await clock.advance(2.999)
        assert pin.state is True
        await clock.advance(0.002)
        assert pin.state is False and not relay.is_on
        # a new pulse restarts the time; set(False) cancels a pulse
        await relay.pulse(1000)
        await clock.advance(0.5)
        await relay.pulse(1000)
        await clock.advance(0.9)
        assert pin.state is True
        await relay.set(False)
        await relay.set(True)
        await clock.advance(5.0)
        assert pin.state is True  # the cancelled pulse's timer did not release it


async def test_pulse_out_of_range_is_refused(lines: GpiozeroLines, clock: ManualClock) -> None:
    async with GpioRelay("relay1", 17, lines, clock) as relay:
        with pytest.raises(ValueError, match="1-60000 ms"):
            await relay.pulse(0)


async def test_closing_releases_the_relay_and_the_pin(lines: GpiozeroLines, factory: MockFactory,
                                                      clock: ManualClock) -> None:
    relay = GpioRelay("relay1", 17, lines, clock)
    async with relay:
        await relay.pulse(5000)
    pin = factory.pin(17)
    assert pin.state is False and pin.function == "input"
    # the pin is free again for another device
    gpiozero.DigitalOutputDevice(17, pin_factory=factory).close()
    with pytest.raises(RuntimeError):
        await relay.set(True)


async def test_a_taken_pin_puts_the_relay_out_of_service_and_it_is_retried(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    squatter = gpiozero.DigitalOutputDevice(17, pin_factory=factory)
    async with GpioRelay("relay1", 17, lines, clock) as relay:
        assert not relay.status.in_service
        assert relay.status.reason is not None and "GPIO17" in relay.status.reason
        assert "in use" in relay.status.reason
        with pytest.raises(DeviceNotResponding):
            await relay.set(True)
        await clock.advance(1.0)  # first retry: still taken
        assert not relay.status.in_service
        squatter.close()
        await clock.advance(2.0)  # second retry, 2 s later
        assert relay.status.in_service
        await relay.set(True)
        assert factory.pin(17).state is True


def _board(text: str) -> BoardDescription:
    return parse_board('name = "t"\n' + text)


def _create_all(create: DeviceFactory, description: BoardDescription) -> tuple[
        list[Device], list[str]]:
    """What hal.loader.create_board does, with `create` for every entry: devices, problems."""
    devices: list[Device] = []
    problems: list[str] = []
    counters: dict[DeviceKind, int] = {}
    for entry in description.entries:
        def next_name(kind: DeviceKind = entry.kind) -> str:
            counters[kind] = counters.get(kind, 0) + 1
            return f"{kind.value}{counters[kind]}"
        try:
            devices += create(entry, next_name, BoardContext(ManualClock(), tuple(devices)))
        except BoardError as exc:
            problems += exc.problems
    return devices, problems


def test_gpio_factory_names_every_bad_option(factory: MockFactory) -> None:
    create = make_create_devices(lambda chip: GpiozeroLines(factory, chip=chip))
    _, problems = _create_all(create, _board("""
[[relay]]
driver = "gpio"
pins = [17, 99]
colour = "red"

[[input]]
driver = "gpio"
pins = [22]
pull = "sideways"

[[panel]]
driver = "gpio"
leds = { status = 24, blinky = 25 }

[[paging]]
driver = "gpio"
"""))
    assert "relay[0].pins: must be a BCM GPIO number 0-53, not 99" in problems
    assert any(p.startswith("relay[0].colour: unknown option of the gpio driver")
               for p in problems)
    assert "input[0].pull: must be \"up\" (contact to ground) or \"down\", not 'sideways'" \
        in problems
    assert "panel[0].leds.blinky: unknown; known are status, alarm" in problems
    assert any(p.startswith("paging[0].driver: the gpio driver serves") for p in problems)
    assert len(problems) == 5


def test_gpio_factory_refuses_a_pin_used_twice_on_the_board(factory: MockFactory) -> None:
    create = make_create_devices(lambda chip: GpiozeroLines(factory, chip=chip))
    devices, problems = _create_all(create, _board("""
[[relay]]
driver = "gpio"
pins = [17, 27]

[[input]]
driver = "gpio"
pins = [22, 27]
"""))
    assert problems == ["input[0].pins: GPIO27 is already used by relay2"]
    relays = [d for d in devices if isinstance(d, GpioRelay)]
    assert [r.name for r in relays] == ["relay1", "relay2"]
    # every gpio device of the board shares one GpioLines (one pin factory)
    assert relays[0].gpio is relays[1].gpio


async def test_gpio_board_builds_named_devices_that_open(factory: MockFactory) -> None:
    create = make_create_devices(lambda chip: GpiozeroLines(factory, chip=chip))
    devices, problems = _create_all(create, _board("""
[[relay]]
driver = "gpio"
pins = [17, 27, 22]

[[input]]
driver = "gpio"
pins = [23, 16]
pull = "down"
debounce_ms = 30
"""))
    assert problems == []
    assert [d.name for d in devices] == ["relay1", "relay2", "relay3", "input1", "input2"]
    for device in devices:
        await device.open()
    assert all(d.status.in_service for d in devices)
    assert factory.pin(16).function == "input" and factory.pin(22).function == "output"
    for device in devices:
        await device.close()


class _InvertedRelay(GpioRelay):
    """A deliberately broken driver: claims its line with the wrong polarity."""

    def _claim(self) -> None:
        self._line = self._lines.output(self.pin, active_high=not self.active_high)
        self._on = False


async def _pin_follows_relay(cls: type[GpioRelay], lines: GpiozeroLines,
                             factory: MockFactory, clock: ManualClock) -> bool:
    async with cls("relay1", 17, lines, clock) as relay:
        levels = [factory.pin(17).state]
        await relay.set(True)
        levels.append(factory.pin(17).state)
    return levels == [False, True]


async def test_the_mock_pins_catch_a_driver_with_the_wrong_polarity(
        lines: GpiozeroLines, factory: MockFactory, clock: ManualClock) -> None:
    assert await _pin_follows_relay(GpioRelay, lines, factory, clock)
    assert not await _pin_follows_relay(_InvertedRelay, lines, factory, clock)
