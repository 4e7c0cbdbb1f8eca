"""The running PBX against hostile input, live reconfiguration and shutdown.

Bad input gets a clear answer or a counted drop, never a crash: after every attack the PBX
still answers OPTIONS, and the fixture's teardown fails on any traceback in its output. A new
configuration applied by SIGHUP (the systemd `reload`) leaves a call in progress up, and a bad
file is refused while the running revision stays. SIGTERM hangs up every call with BYE.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
import yaml

from .flows import CALLEE, caller_run, registered_callee
from .pbx import PbxProcess
from .sipp import expect_success

pytestmark = pytest.mark.interop

REPLY_TIMEOUT_S = 2.0


def _request(method: str, pbx: PbxProcess, port: int, *, extra: str = "", body: str = "",
             max_forwards: int = 70, length: int | None = None, cseq_method: str = "") -> bytes:
    head = (
        f"{method} sip:202@{pbx.uri_host} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{method.lower()}{time.monotonic_ns()}\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        f"From: <sip:attacker@127.0.0.1>;tag=evil\r\n"
        f"To: <sip:202@{pbx.uri_host}>\r\n"
        f"Call-ID: {time.monotonic_ns()}@attacker\r\n"
        f"CSeq: 1 {cseq_method or method}\r\n"
        f"{extra}"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return (head + body).encode()


class UdpProbe:
    """A raw UDP socket talking to the PBX: send bytes, read the status line that comes back."""

    def __init__(self, pbx: PbxProcess) -> None:
        self.pbx = pbx
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(REPLY_TIMEOUT_S)
        self.port: int = self.sock.getsockname()[1]

    def exchange(self, data: bytes) -> str | None:
        """Send `data`; the first final status line answered, or None if nothing came back."""
        self.sock.sendto(data, (self.pbx.host, self.pbx.port))
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                reply = self.sock.recv(65535).decode(errors="replace")
            except TimeoutError:
                return None
            status = reply.split("\r\n", 1)[0]
            if not status.startswith("SIP/2.0 1"):
                return status
        return None

    def silent(self, data: bytes, wait_s: float = 0.3) -> bool:
        """True if `data` gets no answer at all (a counted drop)."""
        self.sock.sendto(data, (self.pbx.host, self.pbx.port))
        self.sock.settimeout(wait_s)
        try:
            self.sock.recv(65535)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(REPLY_TIMEOUT_S)
        return False

    def alive(self) -> bool:
        status = self.exchange(_request("OPTIONS", self.pbx, self.port))
        return status is not None and status.startswith("SIP/2.0 200")


def test_hostile_datagrams_get_answers_or_drops_and_the_pbx_stays_up(pbx: PbxProcess) -> None:
    probe = UdpProbe(pbx)
    try:
        assert probe.alive()
        cases: list[tuple[str, bytes, str | None]] = [
            ("unknown method", _request("FROBNICATE", pbx, probe.port), "SIP/2.0 501"),
            ("loop: Max-Forwards 0", _request("INVITE", pbx, probe.port, max_forwards=0),
             "SIP/2.0 483"),
            ("Content-Length past the datagram",
             _request("OPTIONS", pbx, probe.port, body="v=0\r\n", length=500), "SIP/2.0 400"),
            ("CSeq method differs", _request("OPTIONS", pbx, probe.port, cseq_method="INVITE"),
             "SIP/2.0 400"),
            ("header flood", _request("OPTIONS", pbx, probe.port,
                                      extra="".join(f"X-Flood-{n}: x\r\n" for n in range(400))),
             "SIP/2.0 400"),
            ("wrong SIP version", _request("OPTIONS", pbx, probe.port).replace(
                b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), "SIP/2.0 505"),
            ("BYE outside any dialog", _request("BYE", pbx, probe.port), "SIP/2.0 481"),
            ("SUBSCRIBE to an event we do not serve", _request(
                "SUBSCRIBE", pbx, probe.port, extra="Event: presence\r\n"), "SIP/2.0 489"),
            ("oversize body", _request("OPTIONS", pbx, probe.port, body="x" * 60000),
             "SIP/2.0 413"),
        ]
        for name, data, expected in cases:
            status = probe.exchange(data)
            assert status is not None and status.startswith(expected or ""), (
                f"{name}: got {status!r}\n{pbx.log_tail()}")
            assert probe.alive(), f"PBX stopped answering after: {name}\n{pbx.log_tail()}"
        drops = {
            "binary garbage": bytes(range(256)) * 4,
            "a response nobody asked for": (
                b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n"
                b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
                b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"),
            "no headers at all": b"INVITE sip:202@127.0.0.1 SIP/2.0\r\n\r\n",
        }
        for name, data in drops.items():
            probe.sock.sendto(data, (pbx.host, pbx.port))
            assert probe.alive(), f"PBX stopped answering after: {name}\n{pbx.log_tail()}"
    finally:
        probe.sock.close()


def test_hostile_streams_are_closed_and_the_pbx_stays_up(pbx: PbxProcess) -> None:
    # A TCP stream without Content-Length cannot be framed: answered 400, then closed.
    with socket.create_connection((pbx.host, pbx.port), timeout=REPLY_TIMEOUT_S) as conn:
        conn.sendall(_request("OPTIONS", pbx, 5060).replace(b"Content-Length: 0\r\n", b""))
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        assert data.startswith(b"SIP/2.0 400"), data[:200]
    # Garbage on a stream, then a half-sent message and a hang-up: no effect on others.
    with socket.create_connection((pbx.host, pbx.port), timeout=REPLY_TIMEOUT_S) as conn:
        conn.sendall(b"\x16\x03\x01\x02\x00" + bytes(range(256)))
    with socket.create_connection((pbx.host, pbx.port), timeout=REPLY_TIMEOUT_S) as conn:
        conn.sendall(_request("OPTIONS", pbx, 5060)[:40])
    probe = UdpProbe(pbx)
    try:
        assert probe.alive(), pbx.log_tail()
    finally:
        probe.sock.close()
    # And a well-formed request on TCP is answered on the same connection.
    with socket.create_connection((pbx.host, pbx.port), timeout=REPLY_TIMEOUT_S) as conn:
        conn.sendall(_request("OPTIONS", pbx, 5060).replace(b"UDP", b"TCP", 1))
        assert conn.recv(4096).startswith(b"SIP/2.0 200"), pbx.log_tail()


def _config_path(pbx: PbxProcess) -> Path:
    return pbx.workdir / "switchbox.yaml"


def test_reload_keeps_the_call_up_and_refuses_a_bad_file(
    sipp: str, pbx: PbxProcess, tmp_path: Path
) -> None:
    assert pbx._proc is not None
    for step in ("before", "after"):
        (tmp_path / step).mkdir()
    # 299 is not in the office yet: 404.
    expect_success(caller_run(sipp, pbx, tmp_path / "before", "unknown", "299").run())
    callee = registered_callee(sipp, pbx, tmp_path, "answer")
    caller = caller_run(sipp, pbx, tmp_path, "call", CALLEE)
    caller.pause_ms = 3000
    try:
        caller.start()
        _wait_for_log(pbx, "answered by")
        # A good new revision: one more extension. Applied while the call is up.
        document = yaml.safe_load(_config_path(pbx).read_text(encoding="utf-8"))
        document["users"].append({"id": "u299", "name": "New", "extension": "299"})
        _config_path(pbx).write_text(yaml.safe_dump(document), encoding="utf-8")
        pbx._proc.send_signal(signal.SIGHUP)
        _wait_for_log(pbx, "applied as revision 2")
        # A bad one: refused with the line of the problem; revision 2 stays active.
        _config_path(pbx).write_text(
            yaml.safe_dump(document).replace("extension: '299'", "extension: '2x9'"),
            encoding="utf-8")
        pbx._proc.send_signal(signal.SIGHUP)
        _wait_for_log(pbx, "refused, the running configuration stays")
        assert "extension" in pbx.log_tail(40)
        caller_result = caller.wait()
        callee_result = callee.wait()
    finally:
        caller.kill()
        callee.kill()
    expect_success(caller_result, callee_result)  # the call lasted, with BYE/200 at its end
    # 299 exists now (revision 2 stayed active): it has no phone registered, so 480.
    expect_success(caller_run(sipp, pbx, tmp_path / "after", "unavailable", "299").run())


def test_sigterm_hangs_up_calls_in_progress(sipp: str, pbx: PbxProcess, tmp_path: Path) -> None:
    assert pbx._proc is not None
    callee = registered_callee(sipp, pbx, tmp_path, "answer")
    caller = caller_run(sipp, pbx, tmp_path, "call_hungup", CALLEE)
    try:
        caller.start()
        _wait_for_log(pbx, "answered by")
        started = time.monotonic()
        pbx.stop()  # SIGTERM; fails the test unless the PBX exits within 2 s
        assert time.monotonic() - started < 2.0
        caller_result = caller.wait()
        callee_result = callee.wait()
    finally:
        caller.kill()
        callee.kill()
    expect_success(caller_result, callee_result)  # both sides got BYE and answered 200
    assert pbx.returncode == 0


def _wait_for_log(pbx: PbxProcess, text: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in pbx.output():
        if time.monotonic() > deadline:
            raise AssertionError(f"PBX never logged {text!r}\n{pbx.log_tail()}")
        time.sleep(0.02)
