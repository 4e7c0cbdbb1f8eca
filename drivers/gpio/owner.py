"""What every gpio device shares: claiming its lines at open, and going out of service (and
retrying with back-off) when a line cannot be had, instead of failing the whole board.

`Board.open()` gives up on the whole board when one device's `open()` raises, so a relay whose
pin is taken must not raise: it reports `DeviceStatus(False, "GPIO17: pin in use")`, the rest
of the box comes up, and the relay is tried again after 1, 2, 4 … 60 s (`RetryTimer`).
"""

from __future__ import annotations

import abc
import logging

from drivers.gpio.lines import GpioLines, LineUnavailable
from drivers.gpio.retry import RetryTimer
from hal.clock import Clock
from hal.device import Device
from hal.errors import DeviceNotResponding

log = logging.getLogger(__name__)


class LineOwner(Device, abc.ABC):
    """Mixin base of the gpio devices; call `_init_lines` from the subclass's `__init__`."""

    _lines: GpioLines
    _clock: Clock
    _retry: RetryTimer
    pins: tuple[int, ...]
    """The BCM GPIO numbers this device claims (for the board's pin-conflict check)."""

    def _init_lines(self, lines: GpioLines, clock: Clock, pins: tuple[int, ...]) -> None:
        self._lines = lines
        self._clock = clock
        self.pins = pins
        self._retry = RetryTimer(self.name, clock, self._bring_up)

    @property
    def gpio(self) -> GpioLines:
        """The GPIO lines the device's pins come from (shared by a board's gpio devices)."""
        return self._lines

    @abc.abstractmethod
    def _claim(self) -> None:
        """Claim every line and set it to its idle state. Raises LineUnavailable."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Release whatever `_claim` got (also after a partial claim); never raises."""

    def _bring_up(self) -> bool:
        """Claim the lines; in service on success, out of service with the reason (and a retry
        armed) on failure. Returns whether it worked."""
        if self.closed:
            return True  # nothing to retry for
        try:
            self._claim()
        except LineUnavailable as exc:
            self._release()
            reason = str(exc)
            if self.status.reason != reason:
                log.warning("%s: out of service: %s", self.name, reason)
            self._out_of_service(reason)
            self._retry.schedule()
            return False
        if self._retry.attempts:
            log.info("%s: back in service", self.name)
        self._in_service()
        self._retry.succeeded()
        return True

    def _line_failed(self, exc: LineUnavailable) -> None:
        """A claimed line failed while in use: out of service, release, retry."""
        log.warning("%s: out of service: %s", self.name, exc)
        self._release()
        self._out_of_service(str(exc))
        self._retry.schedule()

    async def _open(self) -> None:
        self._bring_up()

    async def _close(self) -> None:
        self._retry.cancel()
        self._release()

    def _check_usable(self) -> None:
        """RuntimeError before `open()` or after `close()`; DeviceNotResponding while out of
        service (the line is being retried)."""
        if self.closed or not self._opened:
            raise RuntimeError(f"{self.name}: {self.status.reason}")
        if not self.status.in_service:
            raise DeviceNotResponding(self.name, self.status.reason or "out of service")
