"""LinuxWatchdog against a plain file standing in for /dev/watchdog: arming at start() (never
at open), keep-alive writes, magic close, a missing node (out of service, retried), sysfs
probing, and the ioctl numbers checked against the kernel's own header."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from drivers.gpio import watchdog
from drivers.gpio.watchdog import LinuxWatchdog
from hal.errors import DeviceNotResponding
from hal.sim.clock import ManualClock


async def test_start_kicks_and_magic_close_are_what_the_device_node_sees(
        tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    node = tmp_path / "watchdog"
    node.write_bytes(b"")
    async with LinuxWatchdog("watchdog1", node, clock, timeout_s=10) as dog:
        assert dog.status.in_service and not dog.running
        assert node.read_bytes() == b""  # open() did not arm it
        dog.kick()  # ignored while not running
        await dog.start()
        assert dog.running
        dog.kick()
        dog.kick()
        assert dog.kicks == 2
        await dog.stop()
        assert not dog.running
    assert node.read_bytes() == b"\0\0V"
    # a plain file takes no watchdog ioctls: the driver says so and keeps the asked timeout
    assert "takes no watchdog ioctls" in caplog.text
    assert dog.timeout_s == 10


async def test_close_disarms_a_running_watchdog(tmp_path: Path, clock: ManualClock) -> None:
    node = tmp_path / "watchdog"
    node.write_bytes(b"")
    dog = LinuxWatchdog("watchdog1", node, clock)
    async with dog:
        await dog.start()
    assert node.read_bytes() == b"V" and not dog.running


async def test_a_missing_node_is_out_of_service_and_found_later(tmp_path: Path,
                                                              clock: ManualClock) -> None:
    node = tmp_path / "watchdog"
    async with LinuxWatchdog("watchdog1", node, clock) as dog:
        assert not dog.status.in_service
        assert dog.status.reason is not None and "dtparam=watchdog=on" in dog.status.reason
        with pytest.raises(DeviceNotResponding):
            await dog.start()
        node.write_bytes(b"")
        await clock.advance(1.0)
        assert dog.status.in_service
        await dog.start()
        assert dog.running


async def test_probe_reads_sysfs_without_arming(tmp_path: Path, clock: ManualClock) -> None:
    node = tmp_path / "watchdog"
    node.write_bytes(b"")
    sysfs = tmp_path / "sys"
    sysfs.mkdir()
    (sysfs / "identity").write_text("Broadcom BCM2835 Watchdog timer\n")
    (sysfs / "timeout").write_text("15\n")
    (sysfs / "state").write_text("inactive\n")
    async with LinuxWatchdog("watchdog1", node, clock, sysfs=sysfs) as dog:
        facts = await dog.probe()
    assert facts["identity"] == "Broadcom BCM2835 Watchdog timer"
    assert facts["timeout"] == "15 s" and facts["state"] == "inactive"
    assert node.read_bytes() == b""


def test_default_sysfs_directory_of_the_legacy_node_is_watchdog0() -> None:
    dog = LinuxWatchdog("w", Path("/dev/watchdog"), ManualClock())
    assert dog.sysfs == Path("/sys/class/watchdog/watchdog0")


@pytest.mark.skipif(shutil.which("cc") is None or not Path(
    "/usr/include/linux/watchdog.h").exists(), reason="needs cc and linux/watchdog.h")
def test_ioctl_numbers_match_the_kernel_header(tmp_path: Path) -> None:
    source = tmp_path / "wd.c"
    source.write_text('#include <stdio.h>\n#include <linux/watchdog.h>\n'
                      'int main(void) { printf("%lu %lu\\n", (unsigned long)WDIOC_SETTIMEOUT,'
                      ' (unsigned long)WDIOC_GETTIMEOUT); return 0; }\n')
    binary = tmp_path / "wd"
    subprocess.run(["cc", "-o", str(binary), str(source)], check=True, timeout=60)
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True, timeout=10)
    assert out.stdout.split() == [str(watchdog.WDIOC_SETTIMEOUT), str(watchdog.WDIOC_GETTIMEOUT)]
