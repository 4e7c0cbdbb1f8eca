"""A simulated contact input: `press()` and `release()` it, optionally bouncing, and read the
debounced `Pressed`/`Released` events from `events()` as the firmware would."""

from __future__ import annotations

import functools

from hal.clock import Clock
from hal.contact import DEFAULT_DEBOUNCE_MS, ContactInput, ContactSignal
from hal.eventqueue import DEFAULT_MAXLEN


class SimContactInput(ContactInput):
    """A contact on input `channel`, debounced by `debounce_ms`."""

    def __init__(self, name: str, channel: int, clock: Clock,
                 debounce_ms: float = DEFAULT_DEBOUNCE_MS,
                 queue_maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(name, queue_maxlen)
        self.channel = channel
        self._clock = clock
        self._debounce_ms = debounce_ms
        self._signal = ContactSignal(name, clock, debounce_ms, self._emit)
        self._raw = False

    @property
    def is_pressed(self) -> bool:
        return self._signal.pressed

    @property
    def debounce_ms(self) -> float:
        return self._debounce_ms

    def press(self, bounce_ms: float = 0.0) -> None:
        """Close the contact now; with `bounce_ms`, it chatters that long first."""
        self._move(True, bounce_ms)

    def release(self, bounce_ms: float = 0.0) -> None:
        """Open the contact now (chattering `bounce_ms`)."""
        self._move(False, bounce_ms)

    def _move(self, closed: bool, bounce_ms: float) -> None:
        now = self._clock.now()
        self._sample(closed)
        if bounce_ms > 0:
            # Chatter: the contact springs back twice before it settles.
            for fraction, state in ((0.3, not closed), (0.5, closed), (0.8, not closed),
                                    (1.0, closed)):
                self._clock.call_at(now + bounce_ms / 1000.0 * fraction,
                                    functools.partial(self._sample, state))

    def _sample(self, raw: bool) -> None:
        self._raw = raw
        if not self.status.in_service:
            return
        self._signal.sample(raw, self._clock.now())

    async def _open(self) -> None:
        if self._raw:
            self._sample(True)

    async def _close(self) -> None:
        self._signal.cancel()
