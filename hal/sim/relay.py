"""A simulated relay: its state and every change with its time, for checking pulse lengths."""

from __future__ import annotations

from dataclasses import dataclass

from hal.clock import Clock, TimerHandle
from hal.relay import Relay, check_pulse_ms


@dataclass(frozen=True, slots=True)
class RelayPulse:
    """A completed energisation: when it began and how long it lasted."""

    at: float
    duration_ms: float


class SimRelay(Relay):
    """A relay on output `channel`; `history` holds (time, state) for every change."""

    def __init__(self, name: str, channel: int, clock: Clock) -> None:
        super().__init__(name)
        self.channel = channel
        self._clock = clock
        self._on = False
        self._release: TimerHandle | None = None
        self.history: list[tuple[float, bool]] = []

    @property
    def is_on(self) -> bool:
        return self._on

    async def set(self, on: bool) -> None:
        self._check_open()
        self._cancel_release()
        self._switch(on)

    async def pulse(self, duration_ms: int) -> None:
        self._check_open()
        check_pulse_ms(self.name, duration_ms)
        self._cancel_release()
        self._switch(True)
        self._release = self._clock.call_at(self._clock.now() + duration_ms / 1000.0,
                                            self._released)

    @property
    def pulses(self) -> list[RelayPulse]:
        """Every on→off period so far (set() and pulse() alike), in order."""
        out: list[RelayPulse] = []
        began: float | None = None
        for at, state in self.history:
            if state:
                began = at
            elif began is not None:
                out.append(RelayPulse(began, (at - began) * 1000.0))
                began = None
        return out

    def _released(self) -> None:
        self._release = None
        self._switch(False)

    def _switch(self, on: bool) -> None:
        if on != self._on:
            self._on = on
            self.history.append((self._clock.now(), on))

    def _cancel_release(self) -> None:
        if self._release is not None:
            self._release.cancel()
            self._release = None

    def _check_open(self) -> None:
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        self._cancel_release()
        self._switch(False)  # a closed relay is released: doors stay locked
