"""GPIO lines as the gpio drivers use them, and their implementation over gpiozero.

The devices of this package (relays, contact inputs, panel LEDs and keys) never name a GPIO
library: they take a `GpioLines`, which hands out one `OutputLine` or `InputLine` per pin.
`GpiozeroLines` implements it with gpiozero's `DigitalOutputDevice` / `DigitalInputDevice` on
an *injected* pin factory — gpiozero's `LGPIOFactory` (the kernel's gpiochip character device,
Pi 4 and Pi 5 alike) in the box, its `MockFactory` in the tests — never gpiozero's global
default factory, so a test cannot drive real pins by accident and two boards in one process do
not share pin reservations.

Threads: gpiozero reports input edges on its own thread (the pin factory's event thread; the
mock factory calls back synchronously from `drive_high()`). `InputLine` hands each edge to the
caller's `on_change(active, at)` on that thread; devices pass it into the event loop with
`loop.call_soon_threadsafe`, as `hal.eventqueue` requires.

Every library failure (no pin factory on this machine, pin in use, invalid pin) is raised as
`LineUnavailable` with the library's reason, so a device can go out of service with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

EdgeCallback = Callable[[bool], None]
"""Called on the library's thread with the line's new state (True = active)."""


class LineUnavailable(Exception):
    """A GPIO line could not be claimed or used; the message says why (for the status page)."""


class OutputLine(Protocol):
    """One output pin. `on()` drives it to its active level."""

    @property
    def is_active(self) -> bool: ...

    def on(self) -> None: ...

    def off(self) -> None: ...

    def close(self) -> None:
        """Release the pin (it returns to an input: the board's pull resistor decides)."""


class InputLine(Protocol):
    """One input pin; edges go to the `on_change` given to `GpioLines.input`."""

    @property
    def is_active(self) -> bool: ...

    def close(self) -> None:
        """Stop reporting edges and release the pin."""


class GpioLines(Protocol):
    """Hands out GPIO lines by BCM number. Raises LineUnavailable."""

    @property
    def chip(self) -> int:
        """The gpiochip the lines belong to (0 on a Pi 4 and, since Linux 6.6.45, a Pi 5)."""

    def output(self, pin: int, *, active_high: bool) -> OutputLine:
        """Claim `pin` as an output, inactive to start with."""

    def input(self, pin: int, *, pull_up: bool, on_change: EdgeCallback) -> InputLine:
        """Claim `pin` as an input with the SoC's pull-up (True) or pull-down (False); it is
        active when pulled away from its pull. `on_change` runs on the library's thread."""

    def describe(self) -> str:
        """What drives the lines, for `switchbox board check` ("gpiozero LGPIOFactory
        gpiochip0")."""


class GpiozeroLines:
    """`GpioLines` over gpiozero with an injected pin factory.

    Give either `pin_factory`, a gpiozero `Factory` instance (tests: `MockFactory()`), or
    `make_factory`, a callable making one on first use, so that building the board's devices
    touches no hardware (see `lgpio`). Raises LineUnavailable when the factory cannot be made
    or refuses a pin.
    """

    def __init__(self, pin_factory: Any = None, *,
                 make_factory: Callable[[], Any] | None = None, chip: int = 0) -> None:
        if (pin_factory is None) == (make_factory is None):
            raise ValueError("give pin_factory or make_factory, not both or neither")
        self._factory_instance = pin_factory
        self._make_factory = make_factory
        self._chip = chip
        self._lock = threading.Lock()

    @classmethod
    def lgpio(cls, chip: int = 0) -> GpiozeroLines:
        """The box's lines: gpiozero's LGPIOFactory on /dev/gpiochip`chip`, opened on first
        use (needs the `lgpio` package)."""

        def make() -> Any:
            import lgpio  # type: ignore[import-not-found, import-untyped, unused-ignore]
            from gpiozero.pins.lgpio import LGPIOFactory  # type: ignore[import-untyped, unused-ignore]

            try:
                return LGPIOFactory(chip=chip)
            except lgpio.error as exc:  # lgpio's own error: no such chip, no permission
                raise OSError(str(exc)) from exc

        return cls(make_factory=make, chip=chip)

    @property
    def chip(self) -> int:
        return self._chip

    def describe(self) -> str:
        made = self._factory_instance
        kind = type(made).__name__ if made is not None else "pin factory (not opened yet)"
        return f"gpiozero {kind}, gpiochip{self._chip}"

    def output(self, pin: int, *, active_high: bool) -> OutputLine:
        gpiozero = self._gpiozero()
        factory = self._factory(gpiozero)
        try:
            device = gpiozero.DigitalOutputDevice(pin, active_high=active_high,
                                                  initial_value=False, pin_factory=factory)
        except (gpiozero.GPIOZeroError, OSError) as exc:
            raise LineUnavailable(f"GPIO{pin}: {exc}") from exc
        return _GpiozeroOutput(device, pin, gpiozero.GPIOZeroError)

    def input(self, pin: int, *, pull_up: bool, on_change: EdgeCallback) -> InputLine:
        gpiozero = self._gpiozero()
        factory = self._factory(gpiozero)
        try:
            device = gpiozero.DigitalInputDevice(pin, pull_up=pull_up, bounce_time=None,
                                                 pin_factory=factory)
        except (gpiozero.GPIOZeroError, OSError) as exc:
            raise LineUnavailable(f"GPIO{pin}: {exc}") from exc
        # Debouncing is ours (hal.debounce, on the board clock), so every raw edge is wanted.
        device.when_activated = lambda: on_change(True)
        device.when_deactivated = lambda: on_change(False)
        return _GpiozeroInput(device)

    def _factory(self, gpiozero: Any) -> Any:
        with self._lock:
            if self._factory_instance is None:
                assert self._make_factory is not None
                try:
                    self._factory_instance = self._make_factory()
                except (gpiozero.GPIOZeroError, ImportError, OSError) as exc:
                    # BadPinFactory, PinUnknownPi (not a Pi), no lgpio, no /dev/gpiochipN
                    raise LineUnavailable(f"no GPIO here: {exc}") from exc
            return self._factory_instance

    @staticmethod
    def _gpiozero() -> Any:
        try:
            import gpiozero  # type: ignore[import-untyped, unused-ignore]
        except ImportError as exc:
            raise LineUnavailable(f"gpiozero is not installed: {exc}") from exc
        return gpiozero


class _GpiozeroOutput:
    def __init__(self, device: Any, pin: int, error: type[Exception]) -> None:
        self._device = device
        self._pin = pin
        self._error = error

    @property
    def is_active(self) -> bool:
        return bool(self._device.is_active)

    def on(self) -> None:
        self._set(True)

    def off(self) -> None:
        self._set(False)

    def _set(self, active: bool) -> None:
        try:
            if active:
                self._device.on()
            else:
                self._device.off()
        except (self._error, OSError) as exc:
            raise LineUnavailable(f"GPIO{self._pin}: {exc}") from exc

    def close(self) -> None:
        self._device.close()


class _GpiozeroInput:
    def __init__(self, device: Any) -> None:
        self._device = device

    @property
    def is_active(self) -> bool:
        return bool(self._device.is_active)

    def close(self) -> None:
        self._device.when_activated = None
        self._device.when_deactivated = None
        self._device.close()
