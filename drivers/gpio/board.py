"""The "gpio" driver: relays, contact inputs and the panel's LEDs/keys from a board description.

Options, per section (every problem is named, `relay[0].pins: …`):

    relay   pins = [17, 27]   active_high = true            chip = 0
    input   pins = [22, 23]   pull = "up" | "down"          debounce_ms = 20   chip = 0
    panel   leds = { status = 24, alarm = 25 }   keys = { up = 5, … }   active_high = true

Pins are BCM GPIO numbers on gpiochip `chip`. A pin may serve one device only; the check runs
across every gpio entry of the board. All gpio devices of one chip share one `GpioLines` (one
gpiozero pin factory, so gpiozero's own reservation check sees every pin), created on first use
— building the devices touches no hardware, opening them claims the pins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from drivers.gpio.contact import GpioContactInput
from drivers.gpio.lines import GpioLines, GpiozeroLines
from drivers.gpio.owner import LineOwner
from drivers.gpio.panel import GpioPanel
from drivers.gpio.relay import GpioRelay
from hal.board import BoardEntry, DeviceKind, EntryProblems, is_whole_number
from hal.contact import DEFAULT_DEBOUNCE_MS
from hal.device import Device
from hal.events import PanelKey
from hal.loader import BoardContext, DeviceFactory
from hal.panel import PanelLed

MAX_GPIO = 53
"""BCM2711 has GPIO 0-57, of which 0-27 reach the 40-pin header; 0-53 covers both SoCs' banks."""

_OPTIONS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.RELAY: ("pins", "active_high", "chip"),
    DeviceKind.INPUT: ("pins", "pull", "debounce_ms", "chip"),
    DeviceKind.PANEL: ("leds", "keys", "active_high", "debounce_ms", "chip"),
}


def _pin(problems: EntryProblems, key: str, value: Any) -> int | None:
    if not is_whole_number(value) or not 0 <= value <= MAX_GPIO:
        problems.add(key, f"must be a BCM GPIO number 0-{MAX_GPIO}, not {value!r}")
        return None
    return int(value)


def _bool(problems: EntryProblems, key: str, default: bool) -> bool:
    value = problems.entry.options.get(key, default)
    if not isinstance(value, bool):
        problems.add(key, f"must be true or false, not {value!r}")
        return default
    return value


def _debounce_ms(problems: EntryProblems) -> float:
    value = problems.entry.options.get("debounce_ms", DEFAULT_DEBOUNCE_MS)
    if (not (is_whole_number(value) or isinstance(value, float))) or not 0 <= value <= 1000:
        problems.add("debounce_ms", f"must be a number 0-1000, not {value!r}")
        return DEFAULT_DEBOUNCE_MS
    return float(value)


def _pin_list(problems: EntryProblems) -> list[int]:
    value = problems.entry.options.get("pins")
    if not isinstance(value, list) or not value:
        problems.add("pins", "missing or empty: add e.g. `pins = [17, 27]` (BCM numbers)")
        return []
    return [p for p in (_pin(problems, "pins", v) for v in value) if p is not None]


def _pin_table(problems: EntryProblems, key: str, names: Sequence[str],
               required: bool) -> dict[str, int]:
    value = problems.entry.options.get(key)
    if value is None:
        if required:
            problems.add(key, f"missing: add e.g. `{key} = {{ {names[0]} = 24 }}`")
        return {}
    if not isinstance(value, dict):
        problems.add(key, f"must be a table such as `{key} = {{ {names[0]} = 24 }}`")
        return {}
    table: dict[str, int] = {}
    for name, pin_value in value.items():
        if name not in names:
            problems.add(f"{key}.{name}", f"unknown; known are {', '.join(names)}")
            continue
        pin = _pin(problems, f"{key}.{name}", pin_value)
        if pin is not None:
            table[name] = pin
    return table


def _shared_lines(chip: int, context: BoardContext,
                  make_lines: Callable[[int], GpioLines]) -> GpioLines:
    for device in context.devices:
        if isinstance(device, LineOwner) and device.gpio.chip == chip:
            return device.gpio
    return make_lines(chip)


def _check_conflicts(problems: EntryProblems, key: str, pins: Sequence[int], chip: int,
                     context: BoardContext) -> None:
    owners = {pin: d.name for d in context.devices
              if isinstance(d, LineOwner) and d.gpio.chip == chip for pin in d.pins}
    for pin in pins:
        if pin in owners:
            problems.add(key, f"GPIO{pin} is already used by {owners[pin]}")
    if len(set(pins)) != len(pins):
        problems.add(key, "uses a pin twice")


def make_create_devices(make_lines: Callable[[int], GpioLines]) -> DeviceFactory:
    """A "gpio" factory whose lines come from `make_lines(chip)` (tests: gpiozero's
    MockFactory; the box: `GpiozeroLines.lgpio`)."""

    def create_devices(entry: BoardEntry, next_name: Callable[[], str],
                       context: BoardContext) -> Sequence[Device]:
        problems = EntryProblems(entry, "gpio")
        allowed = _OPTIONS.get(entry.kind)
        if allowed is None:
            kinds = ", ".join(f"[[{k.value}]]" for k in _OPTIONS)
            problems.add("driver", f"the gpio driver serves {kinds}; not [[{entry.kind.value}]]")
            problems.raise_if_any()
            return []
        for key in sorted(set(entry.options) - set(allowed)):
            takes = ", ".join(f"`{k}`" for k in allowed)
            problems.add(key, f"unknown option of the gpio driver; {entry.kind.value} takes "
                              f"only {takes}")
        chip = entry.options.get("chip", 0)
        if not is_whole_number(chip) or not 0 <= chip <= 15:
            problems.add("chip", f"must be a gpiochip number 0-15, not {chip!r}")
            chip = 0
        clock = context.clock
        if entry.kind is DeviceKind.PANEL:
            leds = _pin_table(problems, "leds", [led.value for led in PanelLed], required=True)
            keys = _pin_table(problems, "keys", [key.value for key in PanelKey], required=False)
            active_high = _bool(problems, "active_high", True)
            debounce_ms = _debounce_ms(problems)
            _check_conflicts(problems, "leds", [*leds.values(), *keys.values()], chip, context)
            problems.raise_if_any()
            lines = _shared_lines(chip, context, make_lines)
            return [GpioPanel(next_name(), lines, clock,
                              {PanelLed(k): p for k, p in leds.items()},
                              {PanelKey(k): p for k, p in keys.items()},
                              active_high=active_high, debounce_ms=debounce_ms)]
        pins = _pin_list(problems)
        _check_conflicts(problems, "pins", pins, chip, context)
        if entry.kind is DeviceKind.RELAY:
            active_high = _bool(problems, "active_high", True)
            problems.raise_if_any()
            lines = _shared_lines(chip, context, make_lines)
            return [GpioRelay(next_name(), pin, lines, clock, active_high) for pin in pins]
        pull = entry.options.get("pull", "up")
        if pull not in ("up", "down"):
            problems.add("pull", f'must be "up" (contact to ground) or "down", not {pull!r}')
        debounce_ms = _debounce_ms(problems)
        problems.raise_if_any()
        lines = _shared_lines(chip, context, make_lines)
        return [GpioContactInput(next_name(), pin, lines, clock, debounce_ms,
                                 pull_up=pull == "up") for pin in pins]

    return create_devices


def _lgpio_lines(chip: int) -> GpioLines:
    return GpiozeroLines.lgpio(chip)


create_devices: DeviceFactory = make_create_devices(_lgpio_lines)
"""The registry's "gpio" factory: gpiozero's LGPIOFactory on the box."""

