"""Retrying a device that could not be brought up: exponential back-off on the board clock.

A pin claimed by another process, a sound card whose overlay did not load, a watchdog node
that is missing: the device goes out of service with the reason and tries again after 1 s,
2 s, 4 s … at most every 60 s, so a transient fault heals by itself and a permanent one costs
one attempt a minute. Time comes from the injected `hal.clock.Clock` (a `ManualClock` in tests).

(Shared by drivers/gpio and drivers/pcm; a candidate for `hal/` so every driver retries alike.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hal.clock import Clock, TimerHandle

log = logging.getLogger(__name__)

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0


class Backoff:
    """Delays between attempts: `first_s`, doubling, at most `max_s`; `reset()` on success."""

    def __init__(self, first_s: float = FIRST_RETRY_S, max_s: float = MAX_RETRY_S) -> None:
        if not 0 < first_s <= max_s:
            raise ValueError(f"need 0 < first_s <= max_s, not {first_s}, {max_s}")
        self._first_s = first_s
        self._max_s = max_s
        self._next_s = first_s

    def next_delay_s(self) -> float:
        delay = self._next_s
        self._next_s = min(self._max_s, self._next_s * 2.0)
        return delay

    def reset(self) -> None:
        self._next_s = self._first_s


class RetryTimer:
    """Calls `attempt()` after back-off delays until it returns True or `cancel()`.

    `attempt` runs on the event loop (a clock timer) and must not block beyond ~1 ms.
    """

    def __init__(self, owner: str, clock: Clock, attempt: Callable[[], bool],
                 backoff: Backoff | None = None) -> None:
        self._owner = owner
        self._clock = clock
        self._attempt = attempt
        self._backoff = backoff if backoff is not None else Backoff()
        self._timer: TimerHandle | None = None
        self.attempts = 0
        """Retries made so far (not counting the first try at open)."""

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def schedule(self) -> float:
        """Arm the next attempt; returns its delay in seconds. Harmless when armed."""
        if self._timer is not None:
            return 0.0
        delay_s = self._backoff.next_delay_s()
        self._timer = self._clock.call_at(self._clock.now() + delay_s, self._run)
        log.debug("%s: next attempt in %.0f s", self._owner, delay_s)
        return delay_s

    def succeeded(self) -> None:
        """The device works: start the back-off from the beginning next time."""
        self.cancel()
        self._backoff.reset()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _run(self) -> None:
        self._timer = None
        self.attempts += 1
        if self._attempt():
            self._backoff.reset()
        else:
            self.schedule()
