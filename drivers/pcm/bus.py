"""The PCM/TDM bus of the analog chips through ALSA: one multi-channel stream each way.

The ProSLICs and Si3050s share one PCM highway (each chip's time slot is programmed into it by
its driver); the SoC's I2S block runs it in TDM mode and ALSA presents it as one interleaved
S16_LE stream of `channels` channels at 8 kHz, ALSA channel n = TDM slot n unless
`channel_of_slot` says otherwise (a board whose frame has more slots than ports).

Timing, per `exchange()` (once per 20 ms tick): write the tick's playback, then wait for one
captured period of 160 frames and return it as `(slots, 160)` int16. The capture stream paces
the caller; playback runs `prefill_periods` periods (default 2, 40 ms) ahead so that a caller
up to that late does not underrun it. Latency through the box: 20 ms capture + 40 ms playback
at the default; 1 prefill period gives 40 ms total but tolerates only 20 ms of scheduling jitter.
The ALSA buffer is `periods` periods (default 4, 80 ms): a caller later than that overruns the
capture.

Xruns: a capture overrun (read returns -EPIPE) or a playback underrun (write returns < 0)
counts in `xruns`, drops the partial period, and re-primes playback with silence so the
latency returns to its design value; the call still returns one period. A stream error or no
captured period for `stall_s` (default 100 ms: the PCM clock stopped) puts the bus out of
service (DeviceNotResponding) and reopens it with back-off (1, 2, 4 … 60 s).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from drivers.gpio.retry import RetryTimer
from drivers.pcm.alsa import (
    AlsaPcm,
    Direction,
    PcmError,
    PcmOpener,
    PcmParams,
    open_alsaaudio,
    wait_ready,
)
from hal.audio import FRAME_SAMPLES, RATE_HZ, AudioPort, Frame, PcmBus
from hal.clock import Clock
from hal.errors import DeviceNotResponding

log = logging.getLogger(__name__)

SAMPLE_BYTES = 2
DEFAULT_PERIODS = 4
DEFAULT_PREFILL_PERIODS = 2
DEFAULT_STALL_S = 0.1
_LE_INT16 = np.dtype("<i2")


class AlsaPcmBus(PcmBus):
    """The bus on ALSA device `device` (e.g. "hw:CARD=switchboxpcm,DEV=0"); capture from
    `capture_device` when the card offers the two directions as two devices (a
    simple-audio-card with one DAI link per direction)."""

    def __init__(self, name: str, device: str, slots: int, ports: Sequence[AudioPort],
                 clock: Clock, opener: PcmOpener = open_alsaaudio, *,
                 capture_device: str | None = None,
                 channels: int | None = None, channel_of_slot: Sequence[int] | None = None,
                 periods: int = DEFAULT_PERIODS, prefill_periods: int = DEFAULT_PREFILL_PERIODS,
                 stall_s: float = DEFAULT_STALL_S) -> None:
        super().__init__(name, slots, ports)
        channels = slots if channels is None else channels
        mapping = list(range(slots)) if channel_of_slot is None else list(channel_of_slot)
        if len(mapping) != slots or len(set(mapping)) != slots or not all(
                0 <= c < channels for c in mapping):
            raise ValueError(f"{name}: channel_of_slot must give {slots} distinct ALSA "
                             f"channels 0-{channels - 1}, not {mapping}")
        if not 1 <= prefill_periods < periods:
            raise ValueError(f"{name}: need 1 ≤ prefill_periods < periods "
                             f"({prefill_periods}, {periods})")
        self.device = device
        self.channels = channels
        self.channel_of_slot = tuple(mapping)
        self._index = np.array(mapping, dtype=np.intp)
        self.params = PcmParams(device, channels, RATE_HZ, FRAME_SAMPLES, periods)
        self.capture_device = capture_device if capture_device is not None else device
        self.capture_params = PcmParams(self.capture_device, channels, RATE_HZ, FRAME_SAMPLES,
                                        periods)
        self.prefill_periods = prefill_periods
        self.stall_s = stall_s
        self._clock = clock
        self._opener = opener
        self._capture: AlsaPcm | None = None
        self._playback: AlsaPcm | None = None
        self._pending = bytearray()
        self._period_bytes = FRAME_SAMPLES * channels * SAMPLE_BYTES
        self._silence = bytes(self._period_bytes)
        self._retry = RetryTimer(name, clock, self._bring_up)
        self.ticks = 0
        self.playback_dropped = 0
        """Periods the playback buffer had no room for (the capture clock ran slow)."""

    @property
    def latency_ms(self) -> int:
        """Capture period plus playback prefill: the delay the bus adds to a round trip."""
        return (1 + self.prefill_periods) * FRAME_SAMPLES * 1000 // RATE_HZ

    async def exchange(self, playback: Frame) -> Frame:
        if self.closed or not self._opened:
            raise RuntimeError(f"{self.name}: {self.status.reason}")
        out = self._with_own_frames(playback)  # checks the shape and dtype
        capture, playback_pcm = self._capture, self._playback
        if capture is None or playback_pcm is None:
            # Pace a caller that carries on regardless, instead of letting it spin.
            await self._clock.sleep(FRAME_SAMPLES / RATE_HZ)
            raise DeviceNotResponding(self.name, self.status.reason or "out of service")
        try:
            self._write(playback_pcm, self._interleave(out))
            data = await self._read_period(capture)
        except PcmError as exc:
            self._fail(str(exc))
            raise DeviceNotResponding(self.name, str(exc)) from exc
        self.ticks += 1
        return self._deinterleave(data)

    async def probe(self) -> Mapping[str, str]:
        """For `switchbox board check`: the device, stream format, channel map and counters."""
        facts = {"device": self.device if self.capture_device == self.device
                 else f"{self.device} (playback), {self.capture_device} (capture)",
                 "stream": f"{self.channels} ch S16_LE {RATE_HZ} Hz, period {FRAME_SAMPLES} "
                           f"frames, buffer {self.params.periods} periods",
                 "latency": f"{self.latency_ms} ms",
                 "xruns": str(self.xruns)}
        by_slot = sorted(self.ports.values(), key=lambda p: p.slot)
        facts["channel map"] = ", ".join(
            f"{p.device}=slot {p.slot}/ch {self.channel_of_slot[p.slot]}" for p in by_slot)
        return facts

    def _interleave(self, frames: Frame) -> bytes:
        if self.channels == self.slots and self.channel_of_slot == tuple(range(self.slots)):
            wide = frames
        else:
            wide = np.zeros((self.channels, FRAME_SAMPLES), dtype=np.int16)
            wide[self._index] = frames
        return np.ascontiguousarray(wide.T, dtype=_LE_INT16).tobytes()

    def _deinterleave(self, data: bytes) -> Frame:
        wide = np.frombuffer(data, dtype=_LE_INT16).reshape(FRAME_SAMPLES, self.channels)
        out: Frame = np.ascontiguousarray(wide.T[self._index], dtype=np.int16)
        return out

    def _write(self, pcm: AlsaPcm, data: bytes) -> None:
        written = pcm.write(data)
        if written < 0:
            self._xrun("playback underrun")
            self._prime(pcm)
            written = pcm.write(data)
        if written == 0:
            self.playback_dropped += 1
            log.debug("%s: playback buffer full, period dropped", self.name)

    def _prime(self, pcm: AlsaPcm) -> None:
        """Put `prefill_periods` of silence ahead of the first real period."""
        for _ in range(self.prefill_periods):
            if pcm.write(self._silence) <= 0:
                break

    async def _read_period(self, pcm: AlsaPcm) -> bytes:
        deadline = self._clock.now() + self.stall_s
        while len(self._pending) < self._period_bytes:
            frames, data = pcm.read()
            if frames < 0:
                self._xrun("capture overrun")
                self._pending.clear()
                if self._playback is not None:
                    self._prime(self._playback)
                continue
            if frames > 0:
                self._pending += data
                continue
            remaining_s = deadline - self._clock.now()
            if remaining_s <= 0 or not await wait_ready(pcm.polldescriptors(), self._clock,
                                                        remaining_s):
                raise PcmError(f"no audio for {self.stall_s * 1000:.0f} ms: "
                               "is the PCM clock running?")
        period = bytes(self._pending[:self._period_bytes])
        del self._pending[:self._period_bytes]
        return period

    def _xrun(self, what: str) -> None:
        self.xruns += 1
        log.debug("%s: %s (xrun %d)", self.name, what, self.xruns)

    def _bring_up(self) -> bool:
        if self.closed:
            return True
        try:
            capture = self._opener(Direction.CAPTURE, self.capture_params)
            try:
                playback = self._opener(Direction.PLAYBACK, self.params)
            except PcmError:
                capture.close()
                raise
        except PcmError as exc:
            reason = str(exc)
            if self.status.reason != reason:
                log.warning("%s: out of service: %s", self.name, reason)
            self._out_of_service(reason)
            self._retry.schedule()
            return False
        self._capture, self._playback = capture, playback
        self._pending.clear()
        self._prime(playback)
        if self._retry.attempts:
            log.info("%s: back in service", self.name)
        self._in_service()
        self._retry.succeeded()
        return True

    def _fail(self, reason: str) -> None:
        log.warning("%s: out of service: %s", self.name, reason)
        self._release()
        self._out_of_service(reason)
        self._retry.schedule()

    def _release(self) -> None:
        for pcm in (self._capture, self._playback):
            if pcm is not None:
                pcm.close()
        self._capture = self._playback = None
        self._pending.clear()

    async def _open(self) -> None:
        self._bring_up()

    async def _close(self) -> None:
        self._retry.cancel()
        self._release()
