"""The error family of the hardware boundary: what went wrong with a device, not how.

Callers catch `DeviceError` only. A device that raises `DeviceNotResponding` is put out of
service and retried with back-off; `DeviceFault` means the chip answered but reports a fault
(over-temperature, calibration failure); `LineFault` is trouble on the wire outside the box
(foreign voltage, no battery on an FXO line, a short on an FXS pair).
"""

from __future__ import annotations


class DeviceError(Exception):
    """A device could not do what was asked. `device` names it as the board does ("fxs1")."""

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"{device}: {reason}")
        self.device = device
        self.reason = reason


class DeviceNotResponding(DeviceError):
    """The chip or module did not answer within its deadline (bus error, timeout, unplugged)."""


class DeviceFault(DeviceError):
    """The device answered and reports a fault of its own."""


class LineFault(DeviceError):
    """The device works but the line attached to it does not (FXS/FXO wiring, battery)."""
