"""The front panel's GPIO parts: status LEDs on outputs, and keys on inputs.

The reference board (switchbox-r1) has two LEDs (STATUS green, ALARM red) and no display or
keys; a board with keys names them (`keys = { up = 5, down = 6, ok = 13, back = 19 }`, each a
push button to ground on the SoC's pull-up, debounced 20 ms like `hal.contact`). A character
display is not a GPIO device: without one (`lines == 0`) `show()` accepts only empty text, as
`hal.panel.Panel.show` promises for more lines than the display has.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence

from drivers.gpio.lines import GpioLines, InputLine, LineUnavailable, OutputLine
from drivers.gpio.owner import LineOwner
from hal.clock import Clock, TimerHandle
from hal.contact import DEFAULT_DEBOUNCE_MS
from hal.debounce import Debouncer, Edge
from hal.errors import DeviceNotResponding
from hal.events import KeyPressed, PanelKey
from hal.panel import Panel, PanelLed

log = logging.getLogger(__name__)


class GpioPanel(LineOwner, Panel):
    """LEDs on `leds` (PanelLed → BCM GPIO), keys on `keys` (PanelKey → BCM GPIO)."""

    def __init__(self, name: str, lines: GpioLines, clock: Clock,
                 leds: Mapping[PanelLed, int], keys: Mapping[PanelKey, int] | None = None,
                 active_high: bool = True, debounce_ms: float = DEFAULT_DEBOUNCE_MS) -> None:
        super().__init__(name)
        keys = dict(keys or {})
        self._init_lines(lines, clock, (*leds.values(), *keys.values()))
        self.led_pins = dict(leds)
        self.key_pins = keys
        self.active_high = active_high
        self._led_lines: dict[PanelLed, OutputLine] = {}
        self._key_lines: dict[PanelKey, InputLine] = {}
        self._led_state: dict[PanelLed, bool] = dict.fromkeys(leds, False)
        self._debouncers = {key: Debouncer(False, debounce_ms) for key in keys}
        self._timers: dict[PanelKey, TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def lines(self) -> int:
        return 0

    @property
    def columns(self) -> int:
        return 0

    @property
    def leds(self) -> Mapping[PanelLed, bool]:
        """Each LED's state as last set."""
        return dict(self._led_state)

    async def show(self, text: Sequence[str]) -> None:
        if any(text):
            raise ValueError(f"{self.name}: {len(text)} lines for a panel without a display")

    async def set_led(self, led: PanelLed, on: bool) -> None:
        """Raises KeyError for an LED this board does not have."""
        if led not in self.led_pins:
            raise KeyError(f"{self.name}: no {led.value} LED on this board")
        self._check_usable()
        line = self._led_lines[led]
        try:
            if on:
                line.on()
            else:
                line.off()
        except LineUnavailable as exc:
            self._line_failed(exc)
            raise DeviceNotResponding(self.name, str(exc)) from exc
        self._led_state[led] = on

    async def probe(self) -> Mapping[str, str]:
        """For `switchbox board check`: which pin each LED and key uses."""
        facts = {f"{led.value} LED": f"GPIO{pin}" for led, pin in self.led_pins.items()}
        facts.update({f"{key.value} key": f"GPIO{pin}" for key, pin in self.key_pins.items()})
        facts["gpio"] = self._lines.describe()
        return facts

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await super()._open()

    def _claim(self) -> None:
        for led, pin in self.led_pins.items():
            self._led_lines[led] = self._lines.output(pin, active_high=self.active_high)
            self._led_state[led] = False
        for key, pin in self.key_pins.items():
            self._key_lines[key] = self._lines.input(
                pin, pull_up=True, on_change=functools.partial(self._edge, key))

    def _release(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for line in self._key_lines.values():
            line.close()
        self._key_lines.clear()
        for led, out in self._led_lines.items():
            try:
                out.off()
            except LineUnavailable as exc:
                log.debug("%s: %s LED: %s", self.name, led.value, exc)
            out.close()
            self._led_state[led] = False
        self._led_lines.clear()

    def _edge(self, key: PanelKey, active: bool) -> None:
        """gpiozero's thread: stamp and hand over to the loop."""
        at = self._clock.now()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._sample, key, active, at)

    def _sample(self, key: PanelKey, raw: bool, at: float) -> None:
        if key not in self._key_lines:
            return
        self._settle(key, self._debouncers[key].sample(raw, at))

    def _on_timer(self, key: PanelKey) -> None:
        self._timers.pop(key, None)
        self._settle(key, self._debouncers[key].handle_timers(self._clock.now()))

    def _settle(self, key: PanelKey, edges: list[Edge]) -> None:
        for edge in edges:
            if edge.state:
                self._emit(KeyPressed(self.name, edge.at, key))
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        deadline = self._debouncers[key].next_deadline()
        if deadline is not None:
            self._timers[key] = self._clock.call_at(
                deadline, functools.partial(self._on_timer, key))
