"""Contact inputs: a door button, an alarm contact, a "night mode" key switch.

A contact reports `Pressed` when it closed and stayed closed for its debounce time, and
`Released` (with how long it was held) when it opened again, debounced the same way
(`hal.debounce.Debouncer`; 20 ms by default — push buttons bounce for up to ~10 ms).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from hal.clock import Clock, DeadlineTimer
from hal.debounce import Debouncer, Edge
from hal.eventqueue import EventDevice
from hal.events import ContactEvent, Pressed, Released

DEFAULT_DEBOUNCE_MS = 20.0


class ContactInput(EventDevice[ContactEvent], abc.ABC):
    """One contact input."""

    @property
    @abc.abstractmethod
    def is_pressed(self) -> bool:
        """The debounced state: closed."""

    @property
    @abc.abstractmethod
    def debounce_ms(self) -> float: ...


class ContactSignal:
    """Raw samples of one contact → debounced `Pressed`/`Released` events (the held time on
    release), with the debounce deadline timed on `clock`. Shared by every contact input:
    the GPIO driver feeds it edges from its pin, the simulation from `press()`/`release()`."""

    def __init__(self, name: str, clock: Clock, debounce_ms: float,
                 emit: Callable[[ContactEvent], None]) -> None:
        self._name = name
        self._clock = clock
        self._emit = emit
        self._debouncer = Debouncer(False, debounce_ms)
        self._timer = DeadlineTimer(clock, self._on_timer)
        self._pressed_at: float | None = None

    @property
    def pressed(self) -> bool:
        """The debounced state."""
        return self._debouncer.state

    def sample(self, raw: bool, at: float) -> None:
        """The contact is `raw` (closed: True) since `at` (board seconds)."""
        self._settle(self._debouncer.sample(raw, at))

    def cancel(self) -> None:
        """Stop the debounce timer (the device closes)."""
        self._timer.cancel()

    def _on_timer(self) -> None:
        self._settle(self._debouncer.handle_timers(self._clock.now()))

    def _settle(self, edges: list[Edge]) -> None:
        for edge in edges:
            if edge.state:
                self._pressed_at = edge.at
                self._emit(Pressed(self._name, edge.at))
            else:
                held_ms = 0 if self._pressed_at is None else round(
                    (edge.at - self._pressed_at) * 1000)
                self._emit(Released(self._name, edge.at, held_ms))
        self._timer.follow(self._debouncer.next_deadline())
