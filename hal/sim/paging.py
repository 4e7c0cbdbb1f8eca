"""A simulated paging output: records the amplifier's switching and every frame played."""

from __future__ import annotations

from hal.audio import Frame, check_frame
from hal.clock import Clock
from hal.paging import PagingOutput
from hal.sim.audio import TICK_S, concatenate

DEFAULT_WARMUP_MS = 300


class SimPagingOutput(PagingOutput):
    """A loudspeaker output; `amplifier_history` holds (time, on) for every switch."""

    def __init__(self, name: str, clock: Clock, warmup_ms: int = DEFAULT_WARMUP_MS) -> None:
        super().__init__(name)
        self._clock = clock
        self._warmup_ms = warmup_ms
        self._amplifier = False
        self._ready = False
        self._next_tick: float | None = None
        self.amplifier_history: list[tuple[float, bool]] = []
        self.played: list[tuple[float, Frame]] = []
        """Every frame played, with the time it started."""

    @property
    def amplifier_on(self) -> bool:
        return self._amplifier

    @property
    def warmup_ms(self) -> int:
        return self._warmup_ms

    async def start(self) -> None:
        self._check_open()
        if self._amplifier:
            return
        self._switch(True)
        await self._clock.sleep(self._warmup_ms / 1000.0)
        self._ready = self._amplifier
        self._next_tick = None

    async def play(self, frame: Frame) -> None:
        check_frame(frame)
        if not self._ready:
            raise RuntimeError(f"{self.name}: start() the amplifier before playing")
        now = self._clock.now()
        start = now if self._next_tick is None or self._next_tick < now else self._next_tick
        self.played.append((start, frame.copy()))
        self._next_tick = start + TICK_S
        await self._clock.sleep(start - now)

    async def stop(self) -> None:
        self._ready = False
        self._switch(False)

    def audio(self) -> Frame:
        """Everything played so far, as one array."""
        return concatenate([f for _, f in self.played])

    def _switch(self, on: bool) -> None:
        if on != self._amplifier:
            self._amplifier = on
            self.amplifier_history.append((self._clock.now(), on))

    def _check_open(self) -> None:
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        await self.stop()
