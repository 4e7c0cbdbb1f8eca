"""The PBX under test as a real process: config on disk, free loopback ports, ready line, SIGTERM.

Started exactly as an installer would (`python -m firmware run --config … --data …`), bound to
127.0.0.1 only. `start()` returns once stdout carries the `ready` line (10 s limit); `stop()`
sends SIGTERM and requires an exit within 2 s, as the service contract says.
"""

from __future__ import annotations

import collections
import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from .ports import LOOPBACK, free_port, free_udp_range

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 2.0
LOG_TAIL_LINES = 200
RTP_PORT_COUNT = 200
READY_LINE = re.compile(r"\bready\b", re.IGNORECASE)


class PbxError(AssertionError):
    """The PBX process misbehaved (no ready line, died, slow to stop); message has its log tail."""


@dataclass(frozen=True, slots=True)
class Extension:
    """One SIP extension configured on the PBX, with the digest credentials of its device."""

    number: str
    user_id: str
    device_id: str
    username: str
    password: str
    name: str


DEFAULT_EXTENSIONS = ("201", "202", "203")


def _password_for(number: str) -> str:
    """A fixed, strong password that does not contain the username (the config refuses that)."""
    letters = "".join(chr(ord("a") + int(digit)) for digit in number if digit.isdigit())
    return f"interop-{letters}-Secret!9"


def make_extensions(numbers: tuple[str, ...] = DEFAULT_EXTENSIONS) -> dict[str, Extension]:
    """Extensions keyed by number, each with its own user, device and password."""
    return {
        number: Extension(
            number=number,
            user_id=f"u{number}",
            device_id=f"d{number}",
            username=number,
            password=_password_for(number),
            name=f"Ext {number}",
        )
        for number in numbers
    }


def build_config(
    *, port: int, rtp_start: int, rtp_end: int, extensions: dict[str, Extension], realm: str,
    kernel_forwarding: bool = False,
) -> dict[str, object]:
    """The YAML config document for these ports and extensions (the shape config/schema reads)."""
    return {
        "sip": {
            "listen": LOOPBACK,
            "port": port,
            "advertise": LOOPBACK,
            "realm": realm,
            "rtp_ports": {"start": rtp_start, "end": rtp_end},
            "kernel_forwarding": kernel_forwarding,
        },
        "users": [
            {"id": ext.user_id, "name": ext.name, "extension": ext.number}
            for ext in extensions.values()
        ],
        "devices": [
            {
                "id": ext.device_id,
                "user": ext.user_id,
                "kind": "sip",
                "username": ext.username,
                "password": ext.password,
            }
            for ext in extensions.values()
        ],
    }


@dataclass
class PbxProcess:
    """A PBX subprocess on loopback. Use as a context manager, or `start()` then `stop()`."""

    workdir: Path
    extensions: dict[str, Extension] = field(default_factory=make_extensions)
    realm: str = "switchbox"
    host: str = LOOPBACK
    port: int = 0
    rtp_start: int = 0
    rtp_end: int = 0
    kernel_forwarding: bool = False
    """Off unless a test is about it: media counters then move at once, not per counter read."""
    ready_timeout_s: float = READY_TIMEOUT_S
    stop_timeout_s: float = STOP_TIMEOUT_S
    returncode: int | None = None
    _proc: subprocess.Popen[bytes] | None = None
    _tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=LOG_TAIL_LINES)
    )
    _all_lines: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _readers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uri_host(self) -> str:
        """host:port of the PBX's SIP listener, for request URIs and SIPp's remote address."""
        return f"{self.host}:{self.port}"

    def ext(self, number: str) -> Extension:
        """The configured extension `number` (KeyError if not configured)."""
        return self.extensions[number]

    def log_tail(self, lines: int = 80) -> str:
        """The last `lines` lines the PBX wrote (stdout and stderr, interleaved as read)."""
        with self._lock:
            return "\n".join(list(self._tail)[-lines:])

    def output(self) -> str:
        """Everything the PBX wrote so far."""
        with self._lock:
            return "\n".join(self._all_lines)

    def command(self, config_path: Path, data_dir: Path) -> list[str]:
        """The argv that starts the PBX (the venv's interpreter runs the firmware package)."""
        return [
            sys.executable,
            "-m",
            "firmware",
            "run",
            "--config",
            str(config_path),
            "--data",
            str(data_dir),
            "--sip-listen",
            self.host,
            "--sip-port",
            str(self.port),
            "--log-level",
            "debug",
        ]

    def start(self) -> None:
        """Write the config, start the process, wait for `ready`. Raises PbxError with the log."""
        self.port = self.port or free_port()
        if not self.rtp_start:
            self.rtp_start = free_udp_range(RTP_PORT_COUNT)
            self.rtp_end = self.rtp_start + RTP_PORT_COUNT - 1
        config_path = self.workdir / "switchbox.yaml"
        data_dir = self.workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        config = build_config(
            port=self.port,
            rtp_start=self.rtp_start,
            rtp_end=self.rtp_end,
            extensions=self.extensions,
            realm=self.realm,
            kernel_forwarding=self.kernel_forwarding,
        )
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        argv = self.command(config_path, data_dir)
        self._proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self._proc.stdout, "", True), daemon=True),
            threading.Thread(target=self._read, args=(self._proc.stderr, "", False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + self.ready_timeout_s
        while not self._ready.wait(timeout=0.05):
            if self._proc.poll() is not None:
                self._join_readers()
                raise PbxError(
                    f"PBX exited with code {self._proc.returncode} before `ready`\n"
                    f"argv: {' '.join(argv)}\n--- PBX output ---\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise PbxError(
                    f"PBX printed no `ready` line within {self.ready_timeout_s} s\n"
                    f"argv: {' '.join(argv)}\n--- PBX output ---\n{self.log_tail()}"
                )

    def stop(self) -> None:
        """SIGTERM; the PBX must exit within 2 s (else it is killed and PbxError raised)."""
        proc = self._proc
        if proc is None or self.returncode is not None:
            return
        if proc.poll() is not None:
            self.returncode = proc.returncode
            self._join_readers()
            raise PbxError(
                f"PBX died during the test with code {proc.returncode}\n"
                f"--- PBX output ---\n{self.log_tail()}"
            )
        proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = proc.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise PbxError(
                f"PBX did not exit within {self.stop_timeout_s} s of SIGTERM (killed)\n"
                f"--- PBX output ---\n{self.log_tail()}"
            ) from None
        self._join_readers()

    def check_no_tracebacks(self) -> None:
        """Raise PbxError if the PBX logged a Python traceback (an unsupervised failure)."""
        text = self.output()
        if "Traceback (most recent call last)" in text:
            raise PbxError(f"PBX logged a traceback\n--- PBX output ---\n{self.log_tail(120)}")

    def kill(self) -> None:
        """Hard-kill the process if it still runs (idempotent); used after a failed stop."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        if self._proc is not None:
            self.returncode = self._proc.returncode
        self._join_readers()

    def _join_readers(self) -> None:
        for reader in self._readers:
            reader.join(timeout=2)

    def _read(self, stream: IO[bytes], prefix: str, watch_ready: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = prefix + raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self._tail.append(line)
                self._all_lines.append(line)
            if watch_ready and READY_LINE.search(line):
                self._ready.set()
        stream.close()

    def __enter__(self) -> PbxProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()
