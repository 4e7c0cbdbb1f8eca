"""The ALSA PCM stream as the pcm drivers use it, and its implementation over pyalsaaudio.

`AlsaPcm` mirrors the part of `alsaaudio.PCM` the drivers call (read, write, polldescriptors,
info, close), so tests inject a fake that records writes and returns queued reads. Streams are
opened non-blocking: the event loop waits on the PCM's poll descriptors
(`loop.add_reader`/`add_writer`), and a `read()`/`write()` never holds the loop longer than
copying one period.

pyalsaaudio conventions (doc/libalsaaudio.rst, "PCM objects"): `read()` returns
`(frames, data)`, `(0, b"")` when no period is ready in non-blocking mode, and a negative size
(-EPIPE) after an overrun, once the library has re-prepared the stream; `write()` returns the
frames taken, 0 when the buffer is full, and a negative size on an underrun. Library errors
(`alsaaudio.ALSAAudioError`: no such device, device busy, unplugged) become `PcmError`.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from hal.clock import Clock


class PcmError(Exception):
    """The ALSA device failed or refused; the message says why."""


class Direction(StrEnum):
    CAPTURE = "capture"
    PLAYBACK = "playback"


@dataclass(frozen=True, slots=True)
class PcmParams:
    """What a stream is opened with: interleaved S16_LE, `channels` × `rate_hz`, periods of
    `period_frames`, an ALSA buffer of `periods` periods."""

    device: str
    channels: int
    rate_hz: int
    period_frames: int
    periods: int


class AlsaPcm(Protocol):
    """One opened ALSA stream (the subset of `alsaaudio.PCM` the drivers use)."""

    def read(self) -> tuple[int, bytes]: ...

    def write(self, data: bytes) -> int: ...

    def polldescriptors(self) -> list[tuple[int, int]]: ...

    def info(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


PcmOpener = Callable[[Direction, PcmParams], AlsaPcm]
"""Opens a stream; raises PcmError."""


def open_alsaaudio(direction: Direction, params: PcmParams) -> AlsaPcm:
    """The box's opener: a non-blocking `alsaaudio.PCM`, checked to run at exactly the
    asked rate, channels and period (a `plughw:` device converts; a `hw:` device must match).
    Raises PcmError."""
    try:
        import alsaaudio  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise PcmError(f"pyalsaaudio is not installed: {exc}") from exc
    kind = alsaaudio.PCM_CAPTURE if direction is Direction.CAPTURE else alsaaudio.PCM_PLAYBACK
    try:
        pcm = alsaaudio.PCM(type=kind, mode=alsaaudio.PCM_NONBLOCK, device=params.device,
                            channels=params.channels, rate=params.rate_hz,
                            format=alsaaudio.PCM_FORMAT_S16_LE,
                            periodsize=params.period_frames, periods=params.periods)
    except alsaaudio.ALSAAudioError as exc:
        raise PcmError(f"{params.device} ({direction.value}): {exc}") from exc
    stream = _AlsaaudioPcm(pcm, alsaaudio.ALSAAudioError)
    check_params(stream, direction, params)
    return stream


def check_params(pcm: AlsaPcm, direction: Direction, params: PcmParams) -> None:
    """Raise PcmError (closing `pcm`) unless the device took the rate, channel count and
    period size asked for: a 48 kHz stream read as 8 kHz would be noise, not audio."""
    info = pcm.info()
    wanted = {"rate": params.rate_hz, "channels": params.channels,
              "period_size": params.period_frames}
    wrong = [f"{key} {info.get(key)} instead of {value}" for key, value in wanted.items()
             if key in info and int(info[key]) != value]
    if wrong:
        pcm.close()
        raise PcmError(f"{params.device} ({direction.value}) runs at {', '.join(wrong)}")


class _AlsaaudioPcm:
    """`alsaaudio.PCM` with its errors as PcmError."""

    def __init__(self, pcm: Any, error: type[Exception]) -> None:
        self._pcm = pcm
        self._error = error

    def read(self) -> tuple[int, bytes]:
        try:
            frames, data = self._pcm.read()
        except self._error as exc:
            raise PcmError(str(exc)) from exc
        return int(frames), bytes(data)

    def write(self, data: bytes) -> int:
        try:
            return int(self._pcm.write(data))
        except self._error as exc:
            raise PcmError(str(exc)) from exc

    def polldescriptors(self) -> list[tuple[int, int]]:
        try:
            return [(int(fd), int(mask)) for fd, mask in self._pcm.polldescriptors()]
        except self._error as exc:
            raise PcmError(str(exc)) from exc

    def info(self) -> dict[str, Any]:
        try:
            return dict(self._pcm.info())
        except self._error as exc:
            raise PcmError(str(exc)) from exc

    def close(self) -> None:
        self._pcm.close()


async def wait_ready(descriptors: Sequence[tuple[int, int]], clock: Clock,
                     timeout_s: float) -> bool:
    """Wait until one of `descriptors` ((fd, poll mask) from `polldescriptors()`) is ready,
    at most `timeout_s` on `clock`. Returns False on timeout."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()

    def done(result: bool) -> None:
        if not ready.done():
            ready.set_result(result)

    readers: list[int] = []
    writers: list[int] = []
    for fd, mask in descriptors:
        if mask & (select.POLLIN | select.POLLPRI):
            loop.add_reader(fd, done, True)
            readers.append(fd)
        if mask & select.POLLOUT:
            loop.add_writer(fd, done, True)
            writers.append(fd)
    timer = clock.call_at(clock.now() + timeout_s, lambda: done(False))
    try:
        return await ready
    finally:
        timer.cancel()
        for fd in readers:
            loop.remove_reader(fd)
        for fd in writers:
            loop.remove_writer(fd)
