"""The hardware watchdog: once started it resets the board unless kicked within `timeout_s`.

On the box this is the SoC's watchdog (/dev/watchdog; the BCM2835's maximum is ~15 s).
systemd's own watchdog supervises the service (firmware/service); this one catches a hung
kernel. `stop()` disarms it ("magic close") for an orderly shutdown.
"""

from __future__ import annotations

import abc

from hal.device import Device


class HardwareWatchdog(Device, abc.ABC):
    """The board's watchdog. Raises `hal.errors.DeviceError` when it cannot be armed."""

    @property
    @abc.abstractmethod
    def timeout_s(self) -> float: ...

    @property
    @abc.abstractmethod
    def running(self) -> bool: ...

    @abc.abstractmethod
    async def start(self) -> None:
        """Arm the watchdog; kick it at least every `timeout_s` from now on."""

    @abc.abstractmethod
    def kick(self) -> None:
        """Restart the countdown. Cheap; safe to call when not running (ignored)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disarm it. Idempotent."""
