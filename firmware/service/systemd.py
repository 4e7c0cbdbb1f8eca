"""Telling systemd how the service is doing: sd_notify(3) through systemd-python.

Under `Type=notify` systemd sets NOTIFY_SOCKET and waits for READY=1; with `WatchdogSec=` it also
sets WATCHDOG_USEC and restarts the service when no WATCHDOG=1 arrives within that time. We ping
at half the interval, as sd_watchdog_enabled(3) recommends. Outside systemd (a developer's
shell, tests) every call is a no-op, and so it is when systemd-python is not installed.

The application owns the watchdog loop: only it knows whether the event loop and the SIP
transport are healthy enough to deserve a ping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Send = Callable[[str], bool]


def _load_sender() -> Send | None:
    try:
        from systemd import daemon
    except ImportError:
        log.debug("systemd-python is not installed: systemd notifications are off")
        return None

    def send(message: str) -> bool:
        return bool(daemon.notify(message))

    return send


class Notifier:
    """Sends READY, STATUS, WATCHDOG and STOPPING to systemd when running under it.

    `environ` defaults to `os.environ`; the message itself is sent by sd_notify, which reads
    NOTIFY_SOCKET from the process environment.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._send: Send | None = None
        if env.get("NOTIFY_SOCKET"):
            self._send = _load_sender()
        self.watchdog_interval_s = _watchdog_interval_s(env)

    @property
    def enabled(self) -> bool:
        """True when notifications reach systemd."""
        return self._send is not None

    def ready(self, status: str) -> None:
        """Startup finished: the service listens and serves. `status` is shown by systemctl."""
        self._notify(f"READY=1\nSTATUS={_one_line(status)}")

    def status(self, text: str) -> None:
        """Replace the one-line status systemctl shows."""
        self._notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> None:
        """Still alive; call every `watchdog_interval_s` seconds."""
        self._notify("WATCHDOG=1")

    def stopping(self) -> None:
        """Shutdown has begun: systemd stops expecting watchdog pings."""
        self._notify("STOPPING=1")

    def _notify(self, message: str) -> None:
        if self._send is None:
            return
        if not self._send(message):
            log.debug("sd_notify did not deliver %r", message)


def _watchdog_interval_s(env: Mapping[str, str]) -> float | None:
    """Seconds between pings (half of WATCHDOG_USEC), or None when no watchdog is armed."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):  # the watchdog is meant for another process
        return None
    return int(usec) / 2_000_000


def _one_line(text: str) -> str:
    # sd_notify messages are newline-separated assignments: a newline would start a new one.
    return " ".join(text.split())
