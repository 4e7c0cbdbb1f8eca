"""The "si3050" board driver: FXO ports from a `[[fxo]]` entry, over spidev, INT via gpiozero.

    [[fxo]]
    driver = "si3050"
    spi = { bus = 0, cs = 1 }     # /dev/spidev0.1; the chips are daisy-chained on it
    channels = [0, 1]             # chain positions, one FXO port each (0-15)
    pcm_slots = [4, 5]            # optional: default the next free slots
    country = "ru"                # ru | eu (ctr21, tbr21) | us (fcc)
    pcm_format = "linear16"       # linear16 | alaw | ulaw
    interrupt_gpio = 24           # optional: BCM pin of the chain's wired INT, or one per channel
    spi_speed_hz = 1000000        # optional
    supervision_ms = 100          # optional
    line_in_use_below_v = 25      # optional

Every problem is reported at once (`BoardError`), each naming the key and the fix. spidev and
gpiozero are imported when a port opens, so this module imports on any machine; a missing
library or device node puts the ports out of service with the reason, like a dead chip.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Sequence
from typing import Any

from drivers.si3050.countries import ALIASES, COUNTRIES
from drivers.si3050.port import InterruptLine, Si3050FxoPort
from drivers.si3050.registers import MAX_CHANNELS, SPI_MAX_SPEED_HZ, SPI_MODE, PcmFormat
from hal.board import BoardEntry, DeviceKind, EntryProblems, is_whole_number
from hal.device import Device
from hal.fxo import FxoPort
from hal.fxs import FxsPort
from hal.loader import BoardContext

MAX_PCM_SLOTS = 64
MAX_GPIO = 53
OPTIONS = ("spi", "channels", "pcm_slots", "country", "pcm_format", "interrupt_gpio",
           "spi_speed_hz", "supervision_ms", "line_in_use_below_v")
PCM_FORMATS = {"linear16": PcmFormat.LINEAR16, "alaw": PcmFormat.ALAW, "ulaw": PcmFormat.ULAW}


class SpidevBus:
    """`/dev/spidev<bus>.<cs>`, shared by the ports of one chain: opened at the first
    transfer, closed when the last handle is closed."""

    def __init__(self, bus: int, cs: int, speed_hz: int = SPI_MAX_SPEED_HZ) -> None:
        self.bus, self.cs, self.speed_hz = bus, cs, speed_hz
        self._device: Any = None
        self._handles = 0

    def handle(self) -> SpidevHandle:
        """A port's handle on the bus (`drivers.si3050.port.SpiBus`)."""
        self._handles += 1
        return SpidevHandle(self)

    def xfer2(self, data: list[int]) -> list[int]:
        """Raises OSError when the device node or the spidev library is missing."""
        if self._device is None:
            try:
                spidev = importlib.import_module("spidev")
            except ImportError as exc:
                raise OSError(f"the spidev library is not installed: {exc}") from exc
            device = spidev.SpiDev()
            device.open(self.bus, self.cs)
            device.mode = SPI_MODE
            device.max_speed_hz = self.speed_hz
            self._device = device
        return list(self._device.xfer2(list(data)))

    def release(self) -> None:
        self._handles -= 1
        if self._handles <= 0 and self._device is not None:
            device, self._device = self._device, None
            device.close()


class SpidevHandle:
    """One port's use of a `SpidevBus`; `close()` is idempotent."""

    def __init__(self, bus: SpidevBus) -> None:
        self._bus: SpidevBus | None = bus

    def xfer2(self, data: list[int]) -> list[int]:
        if self._bus is None:
            raise OSError("SPI handle closed")
        return self._bus.xfer2(data)

    def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.release()


class GpioInterrupt:
    """An active-low INT line on BCM `pin` (pulled up), shared by the chips wired to it;
    gpiozero's edge callback (its own thread) reaches each port's loop through
    `call_soon_threadsafe`. `pin_factory` is gpiozero's (tests pass a MockFactory)."""

    def __init__(self, pin: int, pin_factory: Any = None) -> None:
        self.pin = pin
        self._pin_factory = pin_factory
        self._device: Any = None
        self._handlers: dict[int, tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = {}

    def line(self) -> InterruptLine:
        """A port's view of the line."""
        return _InterruptView(self)

    def _attach(self, key: int, handler: Callable[[], None] | None) -> None:
        if handler is None:
            self._handlers.pop(key, None)
            if not self._handlers and self._device is not None:
                device, self._device = self._device, None
                device.close()
            return
        self._handlers[key] = (asyncio.get_running_loop(), handler)
        if self._device is None:
            gpiozero = importlib.import_module("gpiozero")
            device = gpiozero.DigitalInputDevice(self.pin, pull_up=True,
                                                 pin_factory=self._pin_factory)
            device.when_activated = self._edge
            self._device = device

    def _edge(self) -> None:
        for loop, handler in list(self._handlers.values()):
            loop.call_soon_threadsafe(handler)


class _InterruptView:
    def __init__(self, line: GpioInterrupt) -> None:
        self._line = line

    def set_handler(self, handler: Callable[[], None] | None) -> None:
        self._line._attach(id(self), handler)


def _int_list(problems: EntryProblems, key: str, top: int, example: str) -> list[int] | None:
    value = problems.entry.options.get(key)
    if (not isinstance(value, list) or not value
            or not all(is_whole_number(v) and 0 <= v <= top for v in value)
            or len(set(value)) != len(value)):
        problems.add(key, f"must be a list of distinct numbers 0-{top}, e.g. {example}")
        return None
    return list(value)


def _number(problems: EntryProblems, key: str, default: float, low: float, high: float) -> float:
    value = problems.entry.options.get(key, default)
    if not (is_whole_number(value) or isinstance(value, float)) or not low <= value <= high:
        problems.add(key, f"must be a number {low:g}-{high:g}, not {value!r}")
        return default
    return float(value)


def _spi(problems: EntryProblems) -> tuple[int, int] | None:
    value = problems.entry.options.get("spi")
    if (not isinstance(value, dict) or set(value) != {"bus", "cs"}
            or not all(is_whole_number(v) and 0 <= v <= 15 for v in value.values())):
        problems.add("spi", "must be a table { bus = 0, cs = 1 } naming /dev/spidev<bus>.<cs>")
        return None
    return int(value["bus"]), int(value["cs"])


def _slots(problems: EntryProblems, count: int, context: BoardContext) -> list[int]:
    used = {d.audio.slot: d.name for d in context.devices if isinstance(d, FxsPort | FxoPort)}
    if "pcm_slots" not in problems.entry.options:
        free = (s for s in range(MAX_PCM_SLOTS) if s not in used)
        return [next(free) for _ in range(count)]
    slots = _int_list(problems, "pcm_slots", MAX_PCM_SLOTS - 1, "pcm_slots = [4, 5]") or []
    if slots and len(slots) != count:
        problems.add("pcm_slots", f"needs one slot per channel: {count} channels, "
                                  f"{len(slots)} slots")
    for slot in slots:
        if slot in used:
            problems.add("pcm_slots", f"slot {slot} already carries {used[slot]}")
    return slots


def _interrupts(problems: EntryProblems, count: int,
                pin_factory: Any) -> list[InterruptLine | None]:
    value = problems.entry.options.get("interrupt_gpio")
    if value is None:
        return [None] * count
    if is_whole_number(value) and 0 <= value <= MAX_GPIO:
        shared = GpioInterrupt(value, pin_factory)
        return [shared.line() for _ in range(count)]
    if (isinstance(value, list) and len(value) == count
            and all(is_whole_number(v) and 0 <= v <= MAX_GPIO for v in value)):
        lines: dict[int, GpioInterrupt] = {}
        return [lines.setdefault(pin, GpioInterrupt(pin, pin_factory)).line() for pin in value]
    problems.add("interrupt_gpio", f"must be one BCM pin 0-{MAX_GPIO} (a wired-OR INT) or a "
                                   "list of pins, one per channel")
    return [None] * count


def create_devices(entry: BoardEntry, next_name: Callable[[], str], context: BoardContext,
                   *, pin_factory: Any = None) -> Sequence[Device]:
    """The si3050 driver's factory (see `hal.loader`). Raises BoardError naming every
    problem. `pin_factory` is for tests (a gpiozero MockFactory)."""
    problems = EntryProblems(entry, "si3050")
    if entry.kind is not DeviceKind.FXO:
        problems.add("driver", f"si3050 drives FXO lines; use it under [[fxo]], not "
                               f"[[{entry.kind.value}]]")
        problems.raise_if_any()
    for key in sorted(set(entry.options) - set(OPTIONS)):
        problems.add(key, f"unknown option of the si3050 driver; it takes "
                          f"{', '.join(OPTIONS)}")
    spi = _spi(problems)
    channels = _int_list(problems, "channels", MAX_CHANNELS - 1, "channels = [0, 1]") or []
    slots = _slots(problems, len(channels), context)
    code = entry.options.get("country", "ru")
    if not isinstance(code, str) or code.lower() not in {*COUNTRIES, *ALIASES}:
        known = ", ".join(sorted({*COUNTRIES, *ALIASES}))
        problems.add("country", f"unknown country {code!r}; known: {known}")
        code = "ru"
    format_name = entry.options.get("pcm_format", "linear16")
    if format_name not in PCM_FORMATS:
        problems.add("pcm_format", f"must be one of {', '.join(PCM_FORMATS)}, not "
                                   f"{format_name!r}")
        format_name = "linear16"
    speed_hz = _number(problems, "spi_speed_hz", SPI_MAX_SPEED_HZ, 100_000, 8_000_000)
    supervision_ms = _number(problems, "supervision_ms", 100.0, 10.0, 1000.0)
    in_use_v = _number(problems, "line_in_use_below_v", 25.0, 5.0, 45.0)
    interrupts = _interrupts(problems, len(channels), pin_factory)
    problems.raise_if_any()
    assert spi is not None
    bus = SpidevBus(spi[0], spi[1], int(speed_hz))
    return [Si3050FxoPort(next_name(), bus.handle(), channel, context.clock, slot,
                          country=code, interrupt=interrupt,
                          pcm_format=PCM_FORMATS[format_name], supervision_ms=supervision_ms,
                          line_in_use_below_v=in_use_v)
            for channel, slot, interrupt in zip(channels, slots, interrupts, strict=True)]
