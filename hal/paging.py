"""Paging: a loudspeaker output (its own sound device) behind an amplifier that is switched on
only while paging (a relay on its enable input or mains).

`start()` switches the amplifier on and returns once it has warmed up (a class-D amplifier
needs ~100 ms, a mains PA several hundred, or the first syllable is lost); `play()` writes one
20 ms frame and paces the caller like the PCM bus; `stop()` switches the amplifier off.
"""

from __future__ import annotations

import abc

from hal.audio import Frame
from hal.device import Device


class PagingOutput(Device, abc.ABC):
    """One paging output. Raises `hal.errors.DeviceError` when the sound device fails."""

    @property
    @abc.abstractmethod
    def amplifier_on(self) -> bool: ...

    @property
    @abc.abstractmethod
    def warmup_ms(self) -> int:
        """How long `start()` waits after switching the amplifier on."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Switch the amplifier on; return when it is ready for audio. Idempotent."""

    @abc.abstractmethod
    async def play(self, frame: Frame) -> None:
        """Play one `(160,)` int16 frame; returns when the output wants the next. Raises
        ValueError for a malformed frame, RuntimeError when not started."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Switch the amplifier off (audio not yet played is dropped). Idempotent."""
