"""pyVoIP 1.6.8 as the called phone: it registers as 202 and answers a call from SIPp as 201.

pyVoIP runs in its own process (pyvoip_phone.py) so its non-daemon threads cannot hang pytest.
What pyVoIP 1.6.8 needs from a server (see the module docstring of pyvoip_phone.py and the
README of tests/interop): it computes the RFC 2069 digest (ignores `qop`, sends no cnonce/nc),
puts `uri="sip:SERVER;transport=UDP"` in Authorization while its Request-URI is `sip:SERVER`,
and sends every response to the server's address, never to the Via.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .pbx import PbxProcess
from .ports import free_port, free_udp_range
from .sipp import SippRun, expect_success, scenario

pytestmark = pytest.mark.interop

SCRIPT = Path(__file__).with_name("pyvoip_phone.py")
MAX_S = 20.0


class PyVoipPhone:
    """The pyvoip_phone.py process; `expect(word)` waits for one of its status lines."""

    def __init__(self, server_port: int, user: str, password: str) -> None:
        self.sip_port = free_port(tcp_too=False)
        rtp_low = free_udp_range(20)
        self.argv = [
            sys.executable, str(SCRIPT),
            "--server", "127.0.0.1", "--port", str(server_port),
            "--user", user, "--password", password,
            "--sip-port", str(self.sip_port),
            "--rtp-low", str(rtp_low), "--rtp-high", str(rtp_low + 19),
            "--max-s", str(MAX_S),
        ]  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def expect(self, word: str, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"pyVoIP: no {word!r} in {timeout_s} s\n{self.report()}"
                ) from None
            if line.startswith("failed"):
                raise AssertionError(f"pyVoIP: {line} (waiting for {word!r})\n{self.report()}")
            if line == word:
                return

    def report(self) -> str:
        return f"pyVoIP said: {self.seen}\nargv: {' '.join(self.argv)}"

    def close(self) -> str:
        """Wait for the phone to leave (it de-registers), kill it if late; returns stderr."""
        try:
            self._proc.wait(timeout=MAX_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        assert self._proc.stderr is not None
        return self._proc.stderr.read().decode("utf-8", "replace")[-3000:]

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in iter(self._proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            self.seen.append(line)
            self.lines.put(line)


def test_pyvoip_registers_and_answers_stand_in(sipp: str, tmp_path: Path) -> None:
    """Validation without the PBX: a SIPp stand-in registers pyVoIP, calls it, hangs up."""
    stand_in = SippRun(
        sipp, scenario("stub_phone"), tmp_path, name="pbx-stand-in",
        keys={"user": "202", "password": "secret-202-pass", "sdp_ip": "127.0.0.1"},
        timeout_s=15,
    )  # fmt: skip
    stand_in.start()
    phone = PyVoipPhone(stand_in.local_port, "202", "secret-202-pass")
    try:
        phone.expect("registered")
        phone.expect("answered")
        phone.expect("ended")
        expect_success(stand_in.wait())
    finally:
        stand_in.kill()
        phone.close()


def test_pyvoip_answers_call_through_pbx(sipp: str, pbx: PbxProcess, tmp_path: Path) -> None:
    callee = pbx.ext("202")
    phone = PyVoipPhone(pbx.port, callee.username, callee.password)
    caller_ext = pbx.ext("201")
    caller = SippRun(
        sipp, scenario("uac_call"), tmp_path, name="caller", remote=pbx.uri_host,
        service="202", auth=(caller_ext.username, caller_ext.password),
        keys={"caller": "201", "sdp_ip": "127.0.0.3"}, timeout_s=15,
    )  # fmt: skip
    try:
        phone.expect("registered")
        result = caller.run()
        try:
            expect_success(result)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{phone.report()}\n{pbx.log_tail()}") from None
        phone.expect("answered")
        phone.expect("ended")
    finally:
        caller.kill()
        stderr = phone.close()
    assert "Traceback" not in stderr, stderr
