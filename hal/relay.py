"""Relays: a door opener, a night bell, a paging amplifier's mains.

A relay is on or off, or pulsed: energised for `duration_ms` then released by the device
itself (door strikes want 1–5 s; the release must happen even if the firmware is busy), so
`pulse()` returns as soon as the relay is energised.
"""

from __future__ import annotations

import abc

from hal.device import Device

MAX_PULSE_MS = 60_000
"""Longer than any door strike needs; a longer "pulse" is a mistake in the configuration."""


class Relay(Device, abc.ABC):
    """One relay. Commands raise `hal.errors.DeviceError` when the output fails and
    RuntimeError when the relay is not open."""

    @property
    @abc.abstractmethod
    def is_on(self) -> bool: ...

    @abc.abstractmethod
    async def set(self, on: bool) -> None:
        """Energise (True) or release the relay; cancels a pulse in progress."""

    @abc.abstractmethod
    async def pulse(self, duration_ms: int) -> None:
        """Energise now and release after `duration_ms` (1…MAX_PULSE_MS); a new pulse
        restarts the time. Raises ValueError outside the range."""


def check_pulse_ms(device: str, duration_ms: int) -> None:
    """The range check every `Relay.pulse` applies."""
    if not 1 <= duration_ms <= MAX_PULSE_MS:
        raise ValueError(f"{device}: pulse must last 1-{MAX_PULSE_MS} ms, not {duration_ms}")
