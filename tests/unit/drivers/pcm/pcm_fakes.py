"""A fake ALSA stream for the pcm driver tests: records writes, returns queued reads, and is
"ready" through a real pipe so the driver's loop.add_reader path runs as on the box.
(Imported by name from the tests: keep this basename unique in the repository.)"""

from __future__ import annotations

import collections
import os
import select
from typing import Any

from drivers.pcm.alsa import Direction, PcmError, PcmParams

EPIPE = -32


class FakePcm:
    """One stream. `queue(data)` makes a read return it (an int: that size, e.g. -EPIPE)."""

    def __init__(self, direction: Direction, params: PcmParams,
                 info: dict[str, Any] | None = None) -> None:
        self.direction = direction
        self.params = params
        self.frame_bytes = 2 * params.channels
        self.writes: list[bytes] = []
        self.write_results: collections.deque[int] = collections.deque()
        self.reads: collections.deque[bytes | int] = collections.deque()
        self.read_error: str | None = None
        self.closed = False
        self._info = info or {"rate": params.rate_hz, "channels": params.channels,
                              "period_size": params.period_frames}
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)

    def queue(self, item: bytes | int) -> None:
        self.reads.append(item)
        os.write(self._wfd, b"x")

    def read(self) -> tuple[int, bytes]:
        if self.read_error is not None:
            raise PcmError(self.read_error)
        if not self.reads:
            return 0, b""
        os.read(self._rfd, 1)
        item = self.reads.popleft()
        if isinstance(item, int):
            return item, b""
        return len(item) // self.frame_bytes, item

    def write(self, data: bytes) -> int:
        assert len(data) % self.frame_bytes == 0
        self.writes.append(data)
        if self.write_results:
            return self.write_results.popleft()
        return len(data) // self.frame_bytes

    def polldescriptors(self) -> list[tuple[int, int]]:
        if self.direction is Direction.CAPTURE:
            return [(self._rfd, select.POLLIN)]
        return [(self._wfd, select.POLLOUT)]

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._rfd)
            os.close(self._wfd)


class FakeAlsa:
    """The opener: remembers every stream; `fail` makes the next opens raise PcmError."""

    def __init__(self) -> None:
        self.opened: list[FakePcm] = []
        self.fail: str | None = None

    def __call__(self, direction: Direction, params: PcmParams) -> FakePcm:
        if self.fail is not None:
            raise PcmError(self.fail)
        pcm = FakePcm(direction, params)
        self.opened.append(pcm)
        return pcm

    def latest(self, direction: Direction) -> FakePcm:
        return [p for p in self.opened if p.direction is direction][-1]

    def close_all(self) -> None:
        for pcm in self.opened:
            pcm.close()
