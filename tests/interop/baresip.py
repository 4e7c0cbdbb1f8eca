"""baresip (Debian baresip-core 1.0.0) as a headless test phone on loopback.

Each phone has its own config dir (`-f DIR`) and is driven through the `ctrl_tcp` module:
netstring-framed JSON commands (`{"command": "dial", "params": URI, "token": N}`) answered by
`{"response": true, "ok": …, "token": N}`, and events (`{"event": true, "type": "CALL_ESTABLISHED",
…}`) pushed on the same socket. Audio comes from the `aufile` source (a WAV file: 8 kHz, mono,
S16LE, matching PCMU so no resampler is involved) and what the phone receives is written by the
`sndfile` filter to `SND_DIR/dump-<time>-dec.wav` once the call ends. No sound card is needed: the
player is `aubridge` (an in-process bridge that nobody reads).

Everything is pinned to 127.0.0.1: `sip_listen`, `net_interface`, `ctrl_tcp_listen`, and a
`dns_server` on loopback so no query ever leaves the machine.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ports import LOOPBACK, free_port, free_udp_range

MODULE_PATH = "/usr/lib/baresip/modules"
START_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 5.0
QUIT_TIMEOUT_S = 3.0


class BaresipError(AssertionError):
    """A phone did not do what the test asked in time; the message has its log tail."""


@dataclass
class BaresipPhone:
    """One baresip process. `start()`, drive it, `stop()` (always; it is idempotent).

    `account` is the accounts-file line's URI part, e.g. `sip:201@127.0.0.1:5070` (registers to
    that server when `password` is given) or `sip:202@127.0.0.1` (no registration: reachable
    directly at `sip:202@127.0.0.1:{sip_port}`). `source_wav` is sent on every call.
    """

    binary: str
    workdir: Path
    name: str
    account: str
    source_wav: Path
    password: str | None = None
    auto_answer: bool = False
    sip_port: int = 0
    ctrl_port: int = 0
    rtp_start: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _sock: socket.socket | None = None
    _events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    _responses: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    _seen: list[dict[str, Any]] = field(default_factory=list)
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _reader: threading.Thread | None = None

    @property
    def config_dir(self) -> Path:
        return self.workdir / self.name

    @property
    def snd_dir(self) -> Path:
        """Where the sndfile filter writes `dump-*-dec.wav` (received) and `-enc.wav` (sent)."""
        return self.config_dir / "snd"

    @property
    def log_path(self) -> Path:
        return self.config_dir / "baresip.log"

    @property
    def direct_uri(self) -> str:
        """URI that reaches this phone without a server: `sip:USER@127.0.0.1:SIP_PORT`."""
        user = self.account.removeprefix("sip:").split("@", 1)[0]
        return f"sip:{user}@{LOOPBACK}:{self.sip_port}"

    def write_config(self) -> None:
        """Write `config` and `accounts` into the phone's own config dir."""
        self.sip_port = self.sip_port or free_port()
        self.ctrl_port = self.ctrl_port or free_port()
        self.rtp_start = self.rtp_start or free_udp_range(20)
        self.snd_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen {LOOPBACK}:{self.sip_port}",
                    f"net_interface {LOOPBACK}",
                    f"dns_server {LOOPBACK}:53",
                    "call_local_timeout 30",
                    "call_max_calls 2",
                    "audio_player aubridge,nil",
                    f"audio_source aufile,{self.source_wav}",
                    "audio_alert aubridge,nil",
                    "ausrc_srate 8000",
                    "ausrc_channels 1",
                    "audio_level no",
                    f"rtp_ports {self.rtp_start}-{self.rtp_start + 19}",
                    "rtcp_mux no",
                    "jitter_buffer_delay 1-5",
                    "statmode_default off",
                    f"module_path {MODULE_PATH}",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module sndfile.so",
                    "module_tmp account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen {LOOPBACK}:{self.ctrl_port}",
                    f"snd_path {self.snd_dir}",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        params = ["audio_codecs=pcmu,pcma", "ptime=20"]
        if self.password is not None:
            params += [f"auth_pass={self.password}", "regint=300"]
        else:
            params.append("regint=0")
        if self.auto_answer:
            params.append("answermode=auto")
        (self.config_dir / "accounts").write_text(
            f"<{self.account}>;{';'.join(params)}\n", encoding="utf-8"
        )
        # An empty contacts file stops baresip from writing its default one.
        (self.config_dir / "contacts").write_text("", encoding="utf-8")

    def start(self) -> None:
        """Start baresip and connect to its ctrl_tcp port (5 s limit)."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        log = open(self.log_path, "wb")
        with log:
            self._proc = subprocess.Popen(
                [self.binary, "-f", str(self.config_dir)],
                cwd=self.config_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._sock is None:
            if self._proc.poll() is not None:
                raise BaresipError(f"{self.name}: baresip exited early\n{self.log_tail()}")
            try:
                self._sock = socket.create_connection((LOOPBACK, self.ctrl_port), timeout=0.2)
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BaresipError(
                        f"{self.name}: no ctrl_tcp on {self.ctrl_port}\n{self.log_tail()}"
                    ) from None
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-ctrl", daemon=True)
        self._reader.start()

    def command(self, command: str, params: str = "", timeout_s: float = COMMAND_TIMEOUT_S) -> str:
        """Run a long command (`dial`, `hangup`, …); returns its output, raises if not ok."""
        assert self._sock is not None, "start() first"
        token = str(next(self._tokens))
        payload = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._sock.sendall(b"%d:%s," % (len(payload), payload))
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                response = self._responses.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BaresipError(
                    f"{self.name}: no response to {command!r} in {timeout_s} s\n{self.log_tail()}"
                ) from None
            if response.get("token") == token:
                break
        if not response.get("ok", False):
            raise BaresipError(f"{self.name}: {command} {params} failed: {response}")
        return str(response.get("data", ""))

    def wait_event(self, kind: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The next event of type `kind` (e.g. `REGISTER_OK`, `CALL_ESTABLISHED`), in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self._events.get(timeout=max(0.0, remaining))
            except queue.Empty:
                raise BaresipError(
                    f"{self.name}: no {kind} within {timeout_s} s; events so far: "
                    f"{[e.get('type') for e in self._seen]}\n{self.log_tail()}"
                ) from None
            if event.get("type") == kind:
                return event
            if event.get("type") in {"REGISTER_FAIL", "CALL_CLOSED"} and kind != event["type"]:
                raise BaresipError(
                    f"{self.name}: got {event} while waiting for {kind}\n{self.log_tail()}"
                )

    def wait_registered(self, timeout_s: float = 5.0) -> None:
        """Wait until baresip logs the registrar's 200 OK. The REGISTER_OK event is no use
        here: registration often completes before the control connection is attached."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            if re.search(r"\} 200 OK\b", text):
                return
            if re.search(r"\} [4-6]\d\d |Register: ", text):
                raise BaresipError(f"{self.name}: registration refused\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise BaresipError(f"{self.name}: not registered within {timeout_s} s\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def hangup(self) -> None:
        self.command("hangup")

    def received_wavs(self) -> list[Path]:
        """WAV files of audio received (decoded) by this phone, one per call, oldest first."""
        return sorted(self.snd_dir.glob("dump-*-dec.wav"))

    def log_tail(self, chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return f"--- {self.name} baresip log ---\n{text[-chars:]}"

    def stop(self) -> None:
        """Quit baresip (ends calls, closes WAV files), killing it if it lingers. Idempotent."""
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(OSError):
                payload = json.dumps({"command": "quit", "params": "", "token": "quit"}).encode()
                self._sock.sendall(b"%d:%s," % (len(payload), payload))
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.wait(timeout=QUIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._reader is not None:
            self._reader.join(timeout=2)

    def __enter__(self) -> BaresipPhone:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _read(self) -> None:
        assert self._sock is not None
        sock = self._sock
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                head, sep, rest = buffer.partition(b":")
                if not sep or not head.isdigit():
                    break
                length = int(head)
                if len(rest) < length + 1:
                    break
                message = json.loads(rest[:length])
                buffer = rest[length + 1 :]  # skip the trailing ","
                if message.get("event"):
                    self._seen.append(message)
                    self._events.put(message)
                elif message.get("response"):
                    self._responses.put(message)
