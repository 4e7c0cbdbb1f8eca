"""The Device lifetime: open once, close any number of times, status says why not in service."""

from __future__ import annotations

import pytest

from hal.device import Device, DeviceStatus
from hal.errors import DeviceError, DeviceFault, DeviceNotResponding, LineFault


class Recorder(Device):
    def __init__(self, name: str, fail_open: bool = False) -> None:
        super().__init__(name)
        self.calls: list[str] = []
        self.fail_open = fail_open

    async def _open(self) -> None:
        self.calls.append("open")
        if self.fail_open:
            raise DeviceNotResponding(self.name, "no answer on SPI")

    async def _close(self) -> None:
        self.calls.append("close")


async def test_close_is_idempotent_and_status_tells_why() -> None:
    device = Recorder("fxs1")
    assert device.status == DeviceStatus(False, "not opened")
    async with device:
        assert device.status.in_service
    await device.close()
    assert device.calls == ["open", "close"]
    assert device.status == DeviceStatus(False, "closed")


async def test_failed_open_still_closes_cleanly() -> None:
    device = Recorder("fxs1", fail_open=True)
    with pytest.raises(DeviceNotResponding, match="fxs1: no answer on SPI"):
        async with device:
            pass
    assert device.calls == ["open", "close"] and device.closed


async def test_close_without_open_releases_nothing() -> None:
    device = Recorder("fxs1")
    await device.close()
    assert device.calls == []
    with pytest.raises(RuntimeError):
        await device.open()


def test_error_family() -> None:
    for cls in (DeviceNotResponding, DeviceFault, LineFault):
        error = cls("fxo1", "no battery")
        assert isinstance(error, DeviceError)
        assert (error.device, error.reason) == ("fxo1", "no battery")
        assert str(error) == "fxo1: no battery"
