"""The "proslic" driver's board factory, and its adapters to `spidev` and `gpiozero`.

Registry line for `hal/loader.py` DRIVERS: `"proslic": "drivers.proslic.board:create_devices"`.

Options of an `[[fxs]]` entry with `driver = "proslic"` (each checked; every problem named):

    spi = { bus = 0, cs = [0, 1, 2, 3] }   one Si3210/Si3215 per chip select (daisy chain: no)
    interrupt_gpio = 25        BCM pin of the active-low, open-drain INT line shared by the
                               entry's chips (or a list, one pin per chip)
    reset_gpio = 24            optional BCM pin of their shared RESET line (active low); pulsed
                               once when the board opens, never on a retry (it would reset the
                               chips that work)
    pcm_slots = [0, 1, 2, 3]   default: the next free slots
    max_speed_hz = 1000000     SPI clock
    gpio_backend = "lgpio"     gpiozero pin factory: lgpio, rpigpio, native or mock
    ring_hz = 25               ring_vpk = 65           loop_current_ma = 20 (20-41, 3 mA steps)
    on_hook_voltage_v = 48     vbat_high_v = 66        vbat_low_v = 60
    pcm_law = "alaw"           linefeed = "discrete"   (or "si3201": AN47 power-alarm values)
    dcdc_pwm_period = 0x7F     dcdc_min_off_time = 0x14  (DR92/DR93: from the board's inductor)

Nothing here touches hardware when devices are created: the SPI device opens on the first
transfer and the GPIO lines when the port opens, so `switchbox board check` can describe a
board it then probes, and a missing /dev/spidev puts one port out of service, not the box.
The libraries are imported lazily, so this module imports where they are not installed.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from drivers.proslic.chip import PcmLaw, ProSlicSettings
from drivers.proslic.port import ProSlicFxsPort
from drivers.proslic.registers import SPI_MODE, LinefeedCircuit
from hal.board import BoardEntry, EntryProblems, is_whole_number
from hal.clock import Clock
from hal.device import Device
from hal.fxo import FxoPort
from hal.fxs import FxsPort
from hal.loader import BoardContext

log = logging.getLogger(__name__)

MAX_PCM_SLOTS = 64
MAX_GPIO = 53
DEFAULT_SPEED_HZ = 1_000_000
PIN_FACTORIES = {
    "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),
    "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
    "native": ("gpiozero.pins.native", "NativeFactory"),
    "mock": ("gpiozero.pins.mock", "MockFactory"),
}
"""gpiozero pin factories by name, chosen explicitly (never gpiozero's global default)."""
_KNOWN = ("spi", "interrupt_gpio", "reset_gpio", "pcm_slots", "max_speed_hz", "gpio_backend",
          "ring_hz", "ring_vpk", "loop_current_ma", "on_hook_voltage_v", "vbat_high_v",
          "vbat_low_v", "pcm_law", "linefeed", "dcdc_pwm_period", "dcdc_min_off_time")
_SETTING_OPTIONS = {"ring_hz": "ring_frequency_hz", "ring_vpk": "ring_vpk",
                    "loop_current_ma": "loop_current_ma",
                    "on_hook_voltage_v": "on_hook_voltage_v", "vbat_high_v": "vbat_high_v",
                    "vbat_low_v": "vbat_low_v", "dcdc_pwm_period": "dcdc_pwm_period",
                    "dcdc_min_off_time": "dcdc_min_off_time"}


class SpidevBus:
    """`SpiBus` on /dev/spidev<bus>.<cs>, opened on the first transfer; mode 3, 8-bit words."""

    def __init__(self, bus: int, cs: int, max_speed_hz: int = DEFAULT_SPEED_HZ) -> None:
        self.bus = bus
        self.cs = cs
        self.max_speed_hz = max_speed_hz
        self._device: Any = None

    def xfer2(self, values: list[int]) -> list[int]:
        """One chip-select frame. Raises OSError when the device cannot be opened or used."""
        if self._device is None:
            spidev = importlib.import_module("spidev")
            device = spidev.SpiDev()
            device.open(self.bus, self.cs)
            device.mode = SPI_MODE
            device.bits_per_word = 8
            device.max_speed_hz = self.max_speed_hz
            self._device = device
        reply = self._device.xfer2(list(values))
        return [int(b) for b in reply]

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None

    def __repr__(self) -> str:
        return f"<SpidevBus /dev/spidev{self.bus}.{self.cs}>"


def pin_factory(backend: str) -> Any:
    """A new gpiozero pin factory of `backend` (a key of PIN_FACTORIES)."""
    module_name, class_name = PIN_FACTORIES[backend]
    return getattr(importlib.import_module(module_name), class_name)()


class GpioInterruptLine:
    """`InterruptLine` on a GPIO with the pull-up on (INT is open drain, active low), shared by
    every port that adds a handler. gpiozero calls `_fire` on its own thread; the ports'
    handlers only hand over to the event loop. The gpiozero device exists while handlers do."""

    def __init__(self, pin: int, factory: Any) -> None:
        self.pin = pin
        self._factory = factory
        self._device: Any = None
        self._handlers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def is_active(self) -> bool:
        device = self._device
        return bool(device.is_active) if device is not None else False

    def add_handler(self, handler: Callable[[], None]) -> None:
        with self._lock:
            self._handlers.append(handler)
            if self._device is None:
                gpiozero = importlib.import_module("gpiozero")
                self._device = gpiozero.DigitalInputDevice(self.pin, pull_up=True,
                                                           pin_factory=self._factory)
                self._device.when_activated = self._fire

    def remove_handler(self, handler: Callable[[], None]) -> None:
        with self._lock:
            if handler in self._handlers:
                self._handlers.remove(handler)
            if not self._handlers and self._device is not None:
                self._device.close()
                self._device = None

    def _fire(self) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:
            handler()


class GpioResetLine:
    """`ResetLine` on a GPIO (active low), shared: the first `pulse()` resets every chip on
    it, later calls return at once (a retry must not reset the chips that work)."""

    def __init__(self, pin: int, factory: Any, clock: Clock, hold_s: float = 0.25) -> None:
        self.pin = pin
        self._factory = factory
        self._clock = clock
        self._hold_s = hold_s
        self._done: asyncio.Future[None] | None = None
        self._device: Any = None

    async def pulse(self) -> None:
        if self._done is not None:
            await asyncio.shield(self._done)
            return
        self._done = asyncio.get_running_loop().create_future()
        try:
            gpiozero = importlib.import_module("gpiozero")
            # Held released afterwards (not closed): a floating RESET pin would reset at random.
            self._device = gpiozero.DigitalOutputDevice(
                self.pin, active_high=False, initial_value=True, pin_factory=self._factory)
            await self._clock.sleep(self._hold_s)
            self._device.off()
            await self._clock.sleep(self._hold_s)
        finally:
            self._done.set_result(None)


def _int_or_list(problems: EntryProblems, key: str, lo: int, hi: int, count: int | None,
                 example: str) -> list[int]:
    value = problems.entry.options.get(key)
    values = [value] if is_whole_number(value) else value
    if (not isinstance(values, list) or not values
            or not all(is_whole_number(v) and lo <= v <= hi for v in values)):
        problems.add(key, f"must be a number {lo}-{hi} or a list of them, e.g. {example}")
        return []
    if count is not None and len(values) not in (1, count):
        problems.add(key, f"needs one value, or one per chip ({count}), not {len(values)}")
        return []
    return list(values)


def _chip_selects(problems: EntryProblems) -> tuple[int, list[int]]:
    spi = problems.entry.options.get("spi")
    example = "spi = { bus = 0, cs = [0, 1] }"
    if not isinstance(spi, dict) or set(spi) - {"bus", "cs"} or "cs" not in spi:
        problems.add("spi", f"missing or malformed: write {example}")
        return 0, []
    bus = spi.get("bus", 0)
    if not is_whole_number(bus) or not 0 <= bus <= 7:
        problems.add("spi.bus", f"must be a number 0-7, not {bus!r}")
    cs = spi["cs"]
    selects = [cs] if is_whole_number(cs) else cs
    if (not isinstance(selects, list) or not selects
            or not all(is_whole_number(c) and 0 <= c <= 15 for c in selects)
            or len(set(selects)) != len(selects)):
        problems.add("spi.cs", f"must be a chip select 0-15 or a list of distinct ones, "
                               f"e.g. {example}")
        return int(bus) if is_whole_number(bus) else 0, []
    return int(bus) if is_whole_number(bus) else 0, list(selects)


def _pcm_slots(problems: EntryProblems, count: int, context: BoardContext) -> list[int]:
    used = {d.audio.slot: d.name for d in context.devices
            if isinstance(d, FxsPort | FxoPort)}
    if "pcm_slots" not in problems.entry.options:
        free = (s for s in range(MAX_PCM_SLOTS) if s not in used)
        return [next(free) for _ in range(count)]
    slots = problems.entry.options["pcm_slots"]
    if (not isinstance(slots, list) or not all(is_whole_number(s) and 0 <= s < MAX_PCM_SLOTS
                                                for s in slots)
            or len(set(slots)) != len(slots)):
        problems.add("pcm_slots", f"must be a list of distinct slots 0-{MAX_PCM_SLOTS - 1}")
        return []
    if len(slots) != count:
        problems.add("pcm_slots", f"needs one slot per chip: {count} chips, {len(slots)} slots")
    for slot in slots:
        if slot in used:
            problems.add("pcm_slots", f"slot {slot} already carries {used[slot]}")
    return list(slots)


def _settings(problems: EntryProblems) -> ProSlicSettings:
    options = problems.entry.options
    kwargs: dict[str, Any] = {}
    for option, name in _SETTING_OPTIONS.items():
        if option in options:
            value = options[option]
            if not (is_whole_number(value) or isinstance(value, float)):
                problems.add(option, f"must be a number, not {value!r}")
                continue
            kwargs[name] = value
    if "pcm_law" in options:
        try:
            kwargs["pcm_law"] = PcmLaw(options["pcm_law"])
        except ValueError:
            problems.add("pcm_law", f"must be one of {', '.join(PcmLaw)}")
    if "linefeed" in options:
        try:
            kwargs["linefeed_circuit"] = LinefeedCircuit(options["linefeed"])
        except ValueError:
            problems.add("linefeed", f"must be one of {', '.join(LinefeedCircuit)}")
    try:
        return ProSlicSettings(**kwargs)
    except ValueError as exc:
        problems.add("settings", str(exc))
        return ProSlicSettings()


def create_devices(entry: BoardEntry, next_name: Callable[[], str],
                   context: BoardContext) -> Sequence[Device]:
    """The proslic driver's factory (see `hal.loader`). Raises BoardError naming every
    problem of the entry."""
    problems = EntryProblems(entry, "proslic")
    if entry.kind.value != "fxs":
        problems.add("driver", "proslic drives FXS ports only ([[fxs]])")
        problems.raise_if_any()
    for key in sorted(set(entry.options) - set(_KNOWN)):
        problems.add(key, f"unknown option of the proslic driver; known: {', '.join(_KNOWN)}")
    bus, selects = _chip_selects(problems)
    count = len(selects) or None
    interrupts = _int_or_list(problems, "interrupt_gpio", 0, MAX_GPIO, count,
                              "interrupt_gpio = 25")
    resets = (_int_or_list(problems, "reset_gpio", 0, MAX_GPIO, 1, "reset_gpio = 24")
              if "reset_gpio" in entry.options else [])
    speed = entry.options.get("max_speed_hz", DEFAULT_SPEED_HZ)
    if not is_whole_number(speed) or not 100_000 <= speed <= 10_000_000:
        problems.add("max_speed_hz", f"must be 100000-10000000, not {speed!r}")
    backend = entry.options.get("gpio_backend", "lgpio")
    if backend not in PIN_FACTORIES:
        problems.add("gpio_backend", f"must be one of {', '.join(PIN_FACTORIES)}")
    slots = _pcm_slots(problems, len(selects), context)
    settings = _settings(problems)
    for library, package in (("spidev", "spidev"), ("gpiozero", "gpiozero")):
        if importlib.util.find_spec(library) is None:
            problems.add("driver", f"the {library} library is missing: pip install {package}")
    problems.raise_if_any()

    factory = pin_factory(backend)
    lines: dict[int, GpioInterruptLine] = {}
    reset = GpioResetLine(resets[0], factory, context.clock) if resets else None
    pins = interrupts * len(selects) if len(interrupts) == 1 else interrupts
    ports: list[Device] = []
    for cs, slot, pin in zip(selects, slots, pins, strict=True):
        line = lines.setdefault(pin, GpioInterruptLine(pin, factory))
        ports.append(ProSlicFxsPort(next_name(), SpidevBus(bus, cs, int(speed)),
                                    context.clock, slot, line, reset=reset,
                                    settings=settings))
    log.debug("%s: %d ProSLIC port(s) on SPI bus %d", entry.path, len(ports), bus)
    return ports
