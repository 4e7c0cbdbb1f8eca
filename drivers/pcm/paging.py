"""The paging output: a mono ALSA playback stream and the amplifier's enable relay.

The loudspeaker line is its own sound device (the reference board uses the Pi's 3.5 mm jack,
"plughw:CARD=Headphones,DEV=0": `plughw` converts our 8 kHz to the jack's rate). The amplifier
is switched by a `hal.relay.Relay` of the board (named in the board file, built by the gpio
driver) and given `warmup_ms` before audio starts, so the first syllable is not lost. The
stream is opened at `start()` and closed at `stop()`: nothing holds the sound device between
pages. `play()` waits (on the stream's poll descriptors, not by sleeping) until the device has
room for the next 20 ms, so it paces the caller like the PCM bus; underruns (the caller was
late) re-prime 2 periods of silence and count in `underruns`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from drivers.gpio.retry import RetryTimer
from drivers.pcm.alsa import AlsaPcm, Direction, PcmError, PcmOpener, PcmParams, wait_ready
from drivers.pcm.alsa import open_alsaaudio as default_opener
from hal.audio import FRAME_SAMPLES, RATE_HZ, Frame, check_frame
from hal.clock import Clock
from hal.errors import DeviceError, DeviceNotResponding
from hal.paging import PagingOutput
from hal.relay import Relay

log = logging.getLogger(__name__)

DEFAULT_WARMUP_MS = 300
PERIODS = 4
PREFILL_PERIODS = 2
STALL_S = 0.1
_LE_INT16 = np.dtype("<i2")


class AlsaPagingOutput(PagingOutput):
    """Paging on ALSA `device`, amplifier on `amplifier` (None: always powered)."""

    def __init__(self, name: str, device: str, clock: Clock, amplifier: Relay | None = None,
                 warmup_ms: int = DEFAULT_WARMUP_MS, opener: PcmOpener = default_opener) -> None:
        super().__init__(name)
        self.device = device
        self.amplifier = amplifier
        self.params = PcmParams(device, 1, RATE_HZ, FRAME_SAMPLES, PERIODS)
        self._clock = clock
        self._warmup_ms = warmup_ms
        self._opener = opener
        self._pcm: AlsaPcm | None = None
        self._amplifier_on = False
        self._silence = bytes(FRAME_SAMPLES * 2)
        self._retry = RetryTimer(name, clock, self._look)
        self.underruns = 0
        self.frames_played = 0

    @property
    def amplifier_on(self) -> bool:
        return self._amplifier_on

    @property
    def warmup_ms(self) -> int:
        return self._warmup_ms

    async def start(self) -> None:
        """Raises DeviceNotResponding when the sound device or the amplifier relay fails."""
        if self.closed or not self._opened:
            raise RuntimeError(f"{self.name}: {self.status.reason}")
        if self._amplifier_on:
            return
        try:
            pcm = self._opener(Direction.PLAYBACK, self.params)
        except PcmError as exc:
            self._out_of_service(str(exc))
            self._retry.schedule()
            raise DeviceNotResponding(self.name, str(exc)) from exc
        try:
            if self.amplifier is not None:
                await self.amplifier.set(True)
        except (DeviceError, RuntimeError) as exc:
            pcm.close()
            raise DeviceNotResponding(self.name, f"amplifier relay: {exc}") from exc
        self._amplifier_on = True
        if self._warmup_ms > 0:
            await self._clock.sleep(self._warmup_ms / 1000.0)
        self._pcm = pcm
        self._prime(pcm)

    async def play(self, frame: Frame) -> None:
        check_frame(frame)
        pcm = self._pcm
        if pcm is None:
            raise RuntimeError(f"{self.name}: start() the amplifier before playing")
        data = np.ascontiguousarray(frame, dtype=_LE_INT16).tobytes()
        try:
            written = pcm.write(data)
            if written == 0:  # the buffer is full: wait for room, as the contract paces us
                if not await wait_ready(pcm.polldescriptors(), self._clock, STALL_S):
                    raise PcmError(f"{self.device} took no audio for {STALL_S * 1000:.0f} ms")
                written = pcm.write(data)
            if written < 0:
                self.underruns += 1
                self._prime(pcm)
                written = pcm.write(data)
        except PcmError as exc:
            await self.stop()
            self._out_of_service(str(exc))
            self._retry.schedule()
            raise DeviceNotResponding(self.name, str(exc)) from exc
        self.frames_played += 1

    async def stop(self) -> None:
        pcm, self._pcm = self._pcm, None
        if pcm is not None:
            pcm.close()
        if self._amplifier_on:
            self._amplifier_on = False
            if self.amplifier is not None:
                try:
                    await self.amplifier.set(False)
                except (DeviceError, RuntimeError) as exc:
                    log.warning("%s: could not switch the amplifier off: %s", self.name, exc)

    async def probe(self) -> Mapping[str, str]:
        """For `switchbox board check`: opens and closes the stream (silently)."""
        facts = {"device": self.device,
                 "amplifier": self.amplifier.name if self.amplifier is not None else "none"}
        if self._pcm is None:
            try:
                self._opener(Direction.PLAYBACK, self.params).close()
                facts["stream"] = f"mono S16_LE {RATE_HZ} Hz: opens"
            except PcmError as exc:
                facts["stream"] = f"does not open: {exc}"
        return facts

    def _prime(self, pcm: AlsaPcm) -> None:
        for _ in range(PREFILL_PERIODS):
            if pcm.write(self._silence) <= 0:
                break

    def _look(self) -> bool:
        """The device opens (then is closed again): in service."""
        if self.closed:
            return True
        try:
            self._opener(Direction.PLAYBACK, self.params).close()
        except PcmError as exc:
            self._out_of_service(str(exc))
            return False
        self._in_service()
        return True

    async def _open(self) -> None:
        if not self._look():
            log.warning("%s: out of service: %s", self.name, self.status.reason)
            self._retry.schedule()

    async def _close(self) -> None:
        self._retry.cancel()
        await self.stop()
