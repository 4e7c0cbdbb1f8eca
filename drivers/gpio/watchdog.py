"""The SoC's hardware watchdog through the Linux watchdog device (/dev/watchdog).

Linux watchdog API (Documentation/watchdog/watchdog-api.rst, include/uapi/linux/watchdog.h):
opening the device arms the timer, every write restarts it, `WDIOC_SETTIMEOUT` sets the timeout
in whole seconds (the driver may round it; `WDIOC_GETTIMEOUT` reads back what it took), and
writing the magic character "V" before `close()` disarms it ("magic close"; ignored by drivers
built with nowayout, where only a reboot stops it). On a Raspberry Pi the node is bcm2835-wdt
(`dtparam=watchdog=on`), whose longest timeout is 15 s.

Arming is `start()`, never `open()`: merely opening the node starts the countdown, and
`switchbox board check` must be able to look at the watchdog without arming it — it reads the
driver's identity and state from sysfs (/sys/class/watchdog/watchdogN) instead.

Options of the "watchdog" driver: `device = "/dev/watchdog"`, `timeout_s = 15` (1-600),
`sysfs = "/sys/class/watchdog/watchdog0"` (default: derived from the device name).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import math
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from drivers.gpio.retry import RetryTimer
from hal.board import BoardEntry, BoardError, DeviceKind
from hal.clock import Clock
from hal.device import Device
from hal.errors import DeviceFault, DeviceNotResponding
from hal.loader import BoardContext
from hal.watchdog import HardwareWatchdog

log = logging.getLogger(__name__)

DEFAULT_DEVICE = Path("/dev/watchdog")
DEFAULT_TIMEOUT_S = 15.0
SYSFS_CLASS = Path("/sys/class/watchdog")
MAGIC_CLOSE = b"V"
KEEPALIVE = b"\0"
"""Any byte but "V" restarts the countdown."""


def _ioc(direction: int, kind: str, number: int, size: int) -> int:
    """The kernel's _IOC() (include/uapi/asm-generic/ioctl.h): dir 2 bits, size 14, type 8,
    nr 8. _IOC_WRITE = 1, _IOC_READ = 2."""
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | number


_INT_SIZE = struct.calcsize("i")
WDIOC_SETTIMEOUT = _ioc(3, "W", 6, _INT_SIZE)  # _IOWR(WATCHDOG_IOCTL_BASE, 6, int)
WDIOC_GETTIMEOUT = _ioc(2, "W", 7, _INT_SIZE)  # _IOR(WATCHDOG_IOCTL_BASE, 7, int)
_NOT_A_WATCHDOG = {errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP}


class LinuxWatchdog(HardwareWatchdog):
    """The watchdog node at `device`; `sysfs` is its /sys/class/watchdog directory."""

    def __init__(self, name: str, device: Path, clock: Clock,
                 timeout_s: float = DEFAULT_TIMEOUT_S, sysfs: Path | None = None) -> None:
        super().__init__(name)
        if timeout_s < 1:
            raise ValueError(f"{name}: timeout_s must be ≥ 1 s, not {timeout_s}")
        self.device = device
        self.sysfs = sysfs if sysfs is not None else _sysfs_of(device)
        self._clock = clock
        self._timeout_s = float(timeout_s)
        self._fd: int | None = None
        self._retry = RetryTimer(name, clock, self._look)
        self.kicks = 0

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    @property
    def running(self) -> bool:
        return self._fd is not None

    async def start(self) -> None:
        """Open (arm) the watchdog and set its timeout. Raises DeviceNotResponding when the
        node is missing or busy (another process holds it), RuntimeError when not open."""
        if self.closed or not self._opened:
            raise RuntimeError(f"{self.name}: {self.status.reason}")
        if self._fd is not None:
            return
        try:
            fd = os.open(self.device, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._out_of_service(f"cannot open {self.device}: {exc.strerror}")
            raise DeviceNotResponding(self.name, f"cannot open {self.device}: "
                                                 f"{exc.strerror}") from exc
        self._fd = fd
        self._timeout_s = self._set_timeout(fd, self._timeout_s)
        log.info("%s: armed, %.0f s timeout", self.name, self._timeout_s)

    def kick(self) -> None:
        fd = self._fd
        if fd is None:
            return
        try:
            os.write(fd, KEEPALIVE)
        except OSError as exc:
            # Nothing the caller could do: the board will reset, which is the point.
            log.error("%s: kick failed: %s", self.name, exc)
            self._out_of_service(f"kick failed: {exc.strerror}")
            return
        self.kicks += 1

    async def stop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.write(fd, MAGIC_CLOSE)
        except OSError as exc:
            log.error("%s: magic close failed, the board may reset: %s", self.name, exc)
        finally:
            os.close(fd)
        log.info("%s: disarmed", self.name)

    async def probe(self) -> Mapping[str, str]:
        """For `switchbox board check`, from sysfs (does not arm the watchdog)."""
        facts = {"device": str(self.device)}
        for key in ("identity", "timeout", "state", "bootstatus"):
            value = _read_text(self.sysfs / key)
            if value is not None:
                facts[key] = value + (" s" if key == "timeout" else "")
        if len(facts) == 1:
            facts["sysfs"] = f"{self.sysfs} not readable"
        return facts

    def _set_timeout(self, fd: int, timeout_s: float) -> float:
        wanted = max(1, math.ceil(timeout_s))
        try:
            fcntl.ioctl(fd, WDIOC_SETTIMEOUT, struct.pack("i", wanted))
            (took,) = struct.unpack("i", fcntl.ioctl(fd, WDIOC_GETTIMEOUT, struct.pack("i", 0)))
        except OSError as exc:
            if exc.errno not in _NOT_A_WATCHDOG:
                raise DeviceFault(self.name, f"cannot set the timeout: {exc.strerror}") from exc
            log.warning("%s: %s takes no watchdog ioctls (%s); assuming %.0f s",
                        self.name, self.device, exc.strerror, timeout_s)
            return timeout_s
        if took != wanted:
            log.warning("%s: asked for %d s, the driver took %d s", self.name, wanted, took)
        return float(took)

    def _look(self) -> bool:
        """In service when the node exists (opening it would arm it)."""
        if self.closed:
            return True
        if self.device.exists():
            self._in_service()
            return True
        self._out_of_service(f"no {self.device} (enable the SoC watchdog: dtparam=watchdog=on)")
        return False

    async def _open(self) -> None:
        if not self._look():
            log.warning("%s: %s", self.name, self.status.reason)
            self._retry.schedule()

    async def _close(self) -> None:
        self._retry.cancel()
        await self.stop()


def _sysfs_of(device: Path) -> Path:
    """/dev/watchdogN → /sys/class/watchdog/watchdogN; /dev/watchdog is watchdog0's alias."""
    name = device.name if device.name != "watchdog" else "watchdog0"
    return SYSFS_CLASS / name


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def create_devices(entry: BoardEntry, next_name: Callable[[], str],
                   context: BoardContext) -> Sequence[Device]:
    """The "watchdog" driver's factory (see `hal.loader`): one LinuxWatchdog per entry.
    Raises BoardError naming every problem."""
    problems: list[str] = []
    if entry.kind is not DeviceKind.WATCHDOG:
        problems.append(f"{entry.path}.driver: the watchdog driver serves [[watchdog]] only")
    unknown = sorted(set(entry.options) - {"device", "timeout_s", "sysfs"})
    problems += [f"{entry.path}.{key}: unknown option of the watchdog driver; it takes "
                 "`device`, `timeout_s`, `sysfs`" for key in unknown]
    device = entry.options.get("device", str(DEFAULT_DEVICE))
    if not isinstance(device, str) or not device.startswith("/"):
        problems.append(f'{entry.path}.device: must be an absolute path such as '
                        f'"/dev/watchdog", not {device!r}')
    timeout_s = entry.options.get("timeout_s", DEFAULT_TIMEOUT_S)
    if (isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float)
            or not 1 <= timeout_s <= 600):
        problems.append(f"{entry.path}.timeout_s: must be a number 1-600, not {timeout_s!r}")
    sysfs = entry.options.get("sysfs")
    if sysfs is not None and (not isinstance(sysfs, str) or not sysfs.startswith("/")):
        problems.append(f"{entry.path}.sysfs: must be an absolute path, not {sysfs!r}")
    if problems:
        raise BoardError("watchdog", problems)
    return [LinuxWatchdog(next_name(), Path(device), context.clock, float(timeout_s),
                          Path(sysfs) if sysfs is not None else None)]
