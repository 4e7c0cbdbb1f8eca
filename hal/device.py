"""The base of every hardware device: a name, a service status, and an async lifetime.

A device is an async context manager: `async with port:` opens it and closes it on the way
out, and `close()` may be called any number of times (shutdown paths overlap). Everything a
device needs (bus, clock, emulator) comes through its constructor.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Whether a device can be used; `reason` says why not, for the panel and the web page."""

    in_service: bool
    reason: str | None = None


IN_SERVICE = DeviceStatus(True)


class Device(abc.ABC):
    """A piece of hardware (or its simulation) as the firmware sees it.

    Subclasses implement `_open()` and `_close()`; the base makes `close()` idempotent and
    tracks `status`. A device starts out of service ("not opened") until opened.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._status = DeviceStatus(False, "not opened")
        self._opened = False
        self._closed = False

    @property
    def name(self) -> str:
        """The board's name for the device: "fxs1", "fxo2", "dect1", "relay1"."""
        return self._name

    @property
    def status(self) -> DeviceStatus:
        """In service, or out of service with a reason."""
        return self._status

    @property
    def closed(self) -> bool:
        return self._closed

    async def open(self) -> None:
        """Bring the device up; it is in service afterwards unless `_open` says otherwise.

        Raises `hal.errors.DeviceError` when the device cannot be brought up, RuntimeError
        when opened twice or after `close()`.
        """
        if self._closed or self._opened:
            raise RuntimeError(f"{self._name}: open() once, before close()")
        self._opened = True
        self._status = IN_SERVICE
        await self._open()

    async def probe(self) -> Mapping[str, str]:
        """What the hardware says about itself, read now, for `switchbox board check` (chip,
        revision, line voltage, loop state). Call on an open device; raises
        `hal.errors.DeviceError` when it does not answer. The default reports nothing."""
        return {}

    async def close(self) -> None:
        """Release the device. Idempotent; safe to call when `open()` failed or never ran."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._opened:
                await self._close()
        finally:
            self._status = DeviceStatus(False, "closed")

    def _out_of_service(self, reason: str) -> None:
        """For subclasses: the device cannot be used now, because `reason`."""
        self._status = DeviceStatus(False, reason)

    def _in_service(self) -> None:
        """For subclasses: the device works again."""
        self._status = IN_SERVICE

    @abc.abstractmethod
    async def _open(self) -> None:
        """Bring the hardware up (reset, calibrate, configure)."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Put the hardware in a safe idle state and release its resources; called once."""

    async def __aenter__(self) -> Self:
        try:
            await self.open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name}>"
