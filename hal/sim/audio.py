"""The simulated PCM bus, and the line effects between a port and what is on its line.

`SimPcmBus.exchange()` paces the caller at 20 ms ticks of the board clock, like the ALSA
stream on the box: it waits for the tick to end, hands each port's playback to whatever is on
the line (a `SimPhone`, a `SimFxoLine`) and returns what they sent. A caller that comes back
more than a tick late loses audio and is counted in `xruns`, as ALSA would overrun.

`LineModel` adds what a real two-wire line adds to the capture: the hybrid's echo of our own
playback (trans-hybrid loss, `echo_return_loss_db`, typically 6–20 dB; delay in samples) and
white noise at `noise_dbm0` (an office line is around −65 dBm0; a poor one −50). Both are off by
default, deterministic (seeded), and what the echo canceller and the line wizard are tested on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hal.audio import FRAME_MS, FRAME_SAMPLES, AudioPort, Frame, PcmBus, check_frame, silence
from hal.clock import Clock
from hal.tones import peak_amplitude

log = logging.getLogger(__name__)

TICK_S = FRAME_MS / 1000.0


class SimLinePort(Protocol):
    """A simulated port with a line behind it, as the sim bus sees it."""

    audio: AudioPort

    def box_to_line(self, frame: Frame, at: float) -> None:
        """The box played `frame` on this port during the tick ending at `at`."""

    def line_to_box(self, at: float) -> Frame | None:
        """What the line sent during the tick ending at `at` (None: silence)."""


@dataclass(frozen=True, slots=True)
class LineModel:
    """What the line adds to the capture: echo of our own playback, and noise."""

    echo_return_loss_db: float | None = None
    echo_delay_samples: int = 16
    noise_dbm0: float | None = None
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.echo_delay_samples <= FRAME_SAMPLES:
            raise ValueError(f"echo_delay_samples must be 0-{FRAME_SAMPLES}")


class LineEffects:
    """Applies a `LineModel` to one port's audio, tick by tick."""

    def __init__(self, model: LineModel) -> None:
        self.model = model
        self._played = np.zeros(2 * FRAME_SAMPLES, dtype=np.float64)
        self._rng = np.random.default_rng(model.seed)

    def played(self, frame: Frame) -> None:
        """Remember what the box played this tick (the source of the echo)."""
        self._played = np.concatenate((self._played[FRAME_SAMPLES:],
                                       frame.astype(np.float64)))

    def captured(self, frame: Frame | None) -> Frame | None:
        """`frame` (what the far side sent) with echo and noise added."""
        m = self.model
        if m.echo_return_loss_db is None and m.noise_dbm0 is None:
            return frame
        out = np.zeros(FRAME_SAMPLES) if frame is None else frame.astype(np.float64)
        if m.echo_return_loss_db is not None:
            start = FRAME_SAMPLES - m.echo_delay_samples
            out += self._played[start:start + FRAME_SAMPLES] * 10.0 ** (
                -m.echo_return_loss_db / 20.0)
        if m.noise_dbm0 is not None:
            # White noise: its RMS equals a sine's at the same level (peak / √2).
            rms = peak_amplitude(m.noise_dbm0) / np.sqrt(2.0)
            out += self._rng.normal(0.0, rms, FRAME_SAMPLES)
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


class SimPcmBus(PcmBus):
    """The simulated PCM stream over `ports` (sim FXS/FXO ports)."""

    def __init__(self, name: str, slots: int, ports: Sequence[SimLinePort],
                 clock: Clock) -> None:
        super().__init__(name, slots, [p.audio for p in ports])
        self._lines = tuple(ports)
        self._clock = clock
        self._next_tick: float | None = None
        self.ticks = 0
        self._recorded: dict[str, list[Frame]] | None = None

    async def exchange(self, playback: Frame) -> Frame:
        if not self.status.in_service:
            raise RuntimeError(f"{self.name}: {self.status.reason}")
        check_frame(playback, self.slots)
        now = self._clock.now()
        if self._next_tick is None:
            self._next_tick = now + TICK_S
        elif now > self._next_tick + 1e-9:  # the caller missed this tick's deadline
            self.xruns += 1
            log.debug("%s: xrun %d (%.1f ms late)", self.name, self.xruns,
                      (now - self._next_tick) * 1000)
            self._next_tick = now + TICK_S
        await self._clock.sleep(self._next_tick - now)
        at = self._next_tick
        self._next_tick = at + TICK_S
        # Ports' own frames (caller ID, DTMF) are taken as the tick plays, not when the
        # firmware handed its audio over: a transmission armed meanwhile starts on this tick.
        out = self._with_own_frames(playback)
        capture = silence(self.slots)
        for line in self._lines:
            line.box_to_line(out[line.audio.slot], at)
            sent = line.line_to_box(at)
            if sent is not None:
                capture[line.audio.slot] = sent
        self.ticks += 1
        if self._recorded is not None:
            for line in self._lines:
                self._recorded[line.audio.device].append(capture[line.audio.slot].copy())
        return capture

    @contextlib.asynccontextmanager
    async def idle_media(self) -> AsyncIterator[SimPcmBus]:
        """Stand in for the firmware's media loop: exchange silence every tick, recording
        what each port captured (`captured()`), until the block ends."""
        self._recorded = {line.audio.device: [] for line in self._lines}

        async def loop() -> None:
            while self.status.in_service:
                await self.exchange(silence(self.slots))

        task = asyncio.get_running_loop().create_task(loop(), name=f"{self.name} idle media")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def captured(self, device: str) -> Frame:
        """Everything `device` captured under `idle_media()`, as one array."""
        if self._recorded is None:
            return np.zeros(0, dtype=np.int16)
        frames = self._recorded[device]
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)

    async def _open(self) -> None:
        self._next_tick = None

    async def _close(self) -> None:
        return None


def concatenate(frames: Sequence[Frame] | collections.deque[Frame]) -> Frame:
    """Frames as one array (empty when none)."""
    return np.concatenate(list(frames)) if frames else np.zeros(0, dtype=np.int16)
