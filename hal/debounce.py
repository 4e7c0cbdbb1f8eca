"""Debouncing a two-state input (a hook switch, a door contact), pure: time is passed in.

Mechanical contacts chatter for 1–5 ms when they change; a hook switch read through a SLIC's
loop-closure detector can glitch on ring trip. A new state counts once it has held for
`debounce_ms` without interruption, and it counts *from its first edge*, so measured durations
(a 60 ms dial break) are not shortened by the debounce: when the input blips back to the old
state for less than `debounce_ms` and then returns, the blip was chatter and the change still
dates from its first edge. Shared by the line-signalling decoder,
the contact inputs and any driver that samples a pin.
"""

from __future__ import annotations

from dataclasses import dataclass

_EPSILON_S = 1e-9  # float slack: an edge exactly `debounce_ms` old has held long enough


@dataclass(frozen=True, slots=True)
class Edge:
    """The input settled in `state` (True = closed / off-hook), starting at `at` seconds."""

    state: bool
    at: float


class Debouncer:
    """One input. Feed every raw change to `sample`; call `handle_timers` by `next_deadline`.

    Both return the accepted edges; an edge is accepted late (debounce_ms after it happened)
    and reported with its own time.
    """

    def __init__(self, state: bool, debounce_ms: float) -> None:
        if debounce_ms < 0:
            raise ValueError(f"debounce_ms must be ≥ 0, not {debounce_ms}")
        self._state = state
        self._debounce_s = debounce_ms / 1000.0
        self._pending: Edge | None = None
        self._bounced: Edge | None = None  # a pending edge interrupted by a blip back
        self._bounced_at = 0.0

    @property
    def state(self) -> bool:
        """The accepted state."""
        return self._state

    @property
    def pending(self) -> Edge | None:
        """A change seen but not yet held for the debounce time, or None."""
        return self._pending

    def sample(self, raw: bool, at: float) -> list[Edge]:
        """The input reads `raw` from `at` on. Returns the edges this settles."""
        settled = self.handle_timers(at)
        if raw == self._state:
            if self._pending is not None:  # back before holding: a glitch, or chatter
                self._bounced, self._bounced_at = self._pending, at
                self._pending = None
        elif self._pending is None:
            bounced = self._bounced
            if (bounced is not None and bounced.state == raw
                    and at - self._bounced_at < self._debounce_s):
                self._pending = bounced  # the blip back was chatter: keep the first edge
            else:
                self._pending = Edge(raw, at)
            self._bounced = None
            if self._debounce_s == 0.0:
                settled += self.handle_timers(at)
        return settled

    def handle_timers(self, now: float) -> list[Edge]:
        """Accept a pending edge that has held until `now`."""
        pending = self._pending
        if pending is None or now - pending.at + _EPSILON_S < self._debounce_s:
            return []
        self._pending = None
        self._state = pending.state
        return [pending]

    def next_deadline(self) -> float | None:
        """When a pending edge will have held long enough, or None."""
        if self._pending is None:
            return None
        return self._pending.at + self._debounce_s
