"""The firmware's media loop in miniature, for the hardware tests (imported by name: keep this
basename unique)."""

from __future__ import annotations

import numpy as np

from hal.audio import Frame, PcmBus, silence


class MediaLoop:
    """Runs the PCM bus like the firmware's media loop: every tick, play what a test queued
    for a port and record what each port captured."""

    def __init__(self, bus: PcmBus) -> None:
        self.bus = bus
        self._queued: dict[str, list[Frame]] = {}
        self._captured: dict[str, list[Frame]] = {name: [] for name in bus.ports}

    def play(self, device: str, frames: list[Frame]) -> None:
        self._queued.setdefault(device, []).extend(frames)

    def captured(self, device: str) -> Frame:
        frames = self._captured[device]
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)

    def clear(self) -> None:
        for frames in self._captured.values():
            frames.clear()

    async def run(self) -> None:
        while True:
            out = silence(self.bus.slots)
            for device, frames in self._queued.items():
                if frames:
                    self.bus.port(device).put(out, frames.pop(0))
            captured = await self.bus.exchange(out)
            for device, port in self.bus.ports.items():
                self._captured[device].append(port.of(captured).copy())
