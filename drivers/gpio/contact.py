"""A contact input on a GPIO pin (door button, alarm loop, key switch), debounced in software.

Wiring: a dry contact between the pin and ground with the SoC's pull-up (`pull_up=True`, the
default: closed = low = pressed), or an optocoupler output driving the pin high with the
pull-down (`pull_up=False`: high = pressed). Every raw edge comes from gpiozero's thread with
its time on the board clock, enters the event loop through `loop.call_soon_threadsafe`, and
goes through `hal.debounce.Debouncer` (20 ms by default): `Pressed` once the contact has stayed
closed that long, `Released` with the held time, both stamped with the first edge's time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from drivers.gpio.lines import GpioLines, InputLine
from drivers.gpio.owner import LineOwner
from hal.clock import Clock
from hal.contact import DEFAULT_DEBOUNCE_MS, ContactInput, ContactSignal
from hal.eventqueue import DEFAULT_MAXLEN

log = logging.getLogger(__name__)


class GpioContactInput(LineOwner, ContactInput):
    """One contact on BCM GPIO `pin`."""

    def __init__(self, name: str, pin: int, lines: GpioLines, clock: Clock,
                 debounce_ms: float = DEFAULT_DEBOUNCE_MS, pull_up: bool = True,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, queue_maxlen)
        self._init_lines(lines, clock, (pin,))
        self.pin = pin
        self.pull_up = pull_up
        self._debounce_ms = debounce_ms
        self._signal = ContactSignal(name, clock, debounce_ms, self._emit)
        self._line: InputLine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.edges = 0
        """Raw edges seen (chatter included): a rising count with no events means bounce."""

    @property
    def is_pressed(self) -> bool:
        return self._signal.pressed

    @property
    def debounce_ms(self) -> float:
        return self._debounce_ms

    async def probe(self) -> Mapping[str, str]:
        """For `switchbox board check`: the pin, its wiring and its raw (undebounced) level."""
        line = self._line
        raw = "unknown" if line is None else ("closed" if line.is_active else "open")
        pull = "pull-up, closes to ground" if self.pull_up else "pull-down, driven high"
        return {"pin": f"GPIO{self.pin} ({pull})", "raw level": raw,
                "gpio": self._lines.describe()}

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await super()._open()

    def _claim(self) -> None:
        self._line = self._lines.input(self.pin, pull_up=self.pull_up, on_change=self._edge)
        if self._line.is_active:  # closed already at start-up: report it, debounced
            self._sample(True, self._clock.now())

    def _release(self) -> None:
        self._signal.cancel()
        line, self._line = self._line, None
        if line is not None:
            line.close()

    def _edge(self, active: bool) -> None:
        """gpiozero's thread: stamp the edge now and hand it to the loop."""
        at = self._clock.now()
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._sample, active, at)

    def _sample(self, raw: bool, at: float) -> None:
        if self._line is None:  # released meanwhile
            return
        self.edges += 1
        self._signal.sample(raw, at)
