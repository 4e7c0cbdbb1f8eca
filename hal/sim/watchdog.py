"""A simulated hardware watchdog: records kicks and whether it would have reset the board."""

from __future__ import annotations

import logging

from hal.clock import Clock, TimerHandle
from hal.watchdog import HardwareWatchdog

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 15.0


class SimWatchdog(HardwareWatchdog):
    """`fired_at` is set when a real board would have been reset."""

    def __init__(self, name: str, clock: Clock, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(name)
        if timeout_s <= 0:
            raise ValueError(f"{name}: timeout_s must be > 0")
        self._clock = clock
        self._timeout_s = timeout_s
        self._timer: TimerHandle | None = None
        self.kicks = 0
        self.fired_at: float | None = None

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    @property
    def running(self) -> bool:
        return self._timer is not None

    async def start(self) -> None:
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")
        self._arm()

    def kick(self) -> None:
        if self._timer is not None:
            self.kicks += 1
            self._arm()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.call_at(self._clock.now() + self._timeout_s, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.fired_at = self._clock.now()
        log.error("%s: not kicked for %.1f s: a real board would reset now",
                  self.name, self._timeout_s)

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        await self.stop()
