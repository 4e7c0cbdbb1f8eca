"""A relay on a GPIO output (through a transistor or a relay driver such as the ULN2803).

`pulse()` releases the relay from a timer on the board clock, so a door strike is released
even when nobody calls again; `close()` releases it too (doors stay locked when the service
stops). A relay's coil on a ULN2803 is energised by a high GPIO (`active_high`, the default);
boards with an active-low driver say `active_high = false`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from drivers.gpio.lines import GpioLines, LineUnavailable, OutputLine
from drivers.gpio.owner import LineOwner
from hal.clock import Clock, TimerHandle
from hal.errors import DeviceNotResponding
from hal.relay import Relay, check_pulse_ms

log = logging.getLogger(__name__)


class GpioRelay(LineOwner, Relay):
    """One relay on BCM GPIO `pin`."""

    def __init__(self, name: str, pin: int, lines: GpioLines, clock: Clock,
                 active_high: bool = True) -> None:
        super().__init__(name)
        self._init_lines(lines, clock, (pin,))
        self.pin = pin
        self.active_high = active_high
        self._line: OutputLine | None = None
        self._on = False
        self._release_timer: TimerHandle | None = None

    @property
    def is_on(self) -> bool:
        return self._on

    async def set(self, on: bool) -> None:
        self._check_usable()
        self._cancel_release()
        self._drive(on)

    async def pulse(self, duration_ms: int) -> None:
        self._check_usable()
        check_pulse_ms(self.name, duration_ms)
        self._cancel_release()
        self._drive(True)
        self._release_timer = self._clock.call_at(
            self._clock.now() + duration_ms / 1000.0, self._released)

    async def probe(self) -> Mapping[str, str]:
        """What `switchbox board check` shows: the pin and what drives it."""
        return {"pin": f"GPIO{self.pin} ({'active high' if self.active_high else 'active low'})",
                "gpio": self._lines.describe()}

    def _released(self) -> None:
        self._release_timer = None
        try:
            self._drive(False)
        except DeviceNotResponding:
            pass  # already out of service and logged by _drive; the coil has no drive anyway

    def _drive(self, on: bool) -> None:
        line = self._line
        if line is None:
            raise DeviceNotResponding(self.name, self.status.reason or "no GPIO line")
        try:
            if on:
                line.on()
            else:
                line.off()
        except LineUnavailable as exc:
            self._line_failed(exc)
            raise DeviceNotResponding(self.name, str(exc)) from exc
        self._on = on

    def _cancel_release(self) -> None:
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None

    def _claim(self) -> None:
        self._line = self._lines.output(self.pin, active_high=self.active_high)
        self._on = False

    def _release(self) -> None:
        self._cancel_release()
        line, self._line = self._line, None
        self._on = False
        if line is not None:
            try:
                line.off()
            except LineUnavailable as exc:
                log.debug("%s: could not switch off while releasing: %s", self.name, exc)
            line.close()
