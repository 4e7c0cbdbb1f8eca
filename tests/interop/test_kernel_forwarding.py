"""Media forwarded by the kernel (firmware/media/forwarder.py), with real packets.

* Two baresip phones call through the PBX on loopback with `kernel_forwarding` on: the tones
  still arrive both ways, and the PBX's log shows the kernel forwarded the call's packets.
* Three hosts made of network namespaces on one bridge — the box and two phones, as in an
  office LAN: the box's kernel forwards the phones' RTP between them (IP forwarding switched
  on by the forwarder, guarded), each phone sees the packets come from the box's endpoint it
  talks to, and a tap brings the packets back to user space at once.

Both need root and nft (setup.sh installs nftables; CI runs as root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .baresip import BaresipPhone
from .pbx import PbxProcess
from .test_baresip import _phones, exchange_tones

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None
                       or shutil.which("ip") is None,
                       reason="needs root, nft (nftables) and ip (iproute2)"),
]

PROBE = Path(__file__).with_name("kernel_probe.py")
KERNEL_LINE = re.compile(r"media back from the kernel, which forwarded (\d+) \+ (\d+) packets")


def test_baresip_call_is_forwarded_by_the_kernel(baresip: str, tmp_path: Path) -> None:
    workdir = tmp_path / "pbx"
    workdir.mkdir()
    pbx = PbxProcess(workdir=workdir, kernel_forwarding=True)
    pbx.start()
    try:
        caller, callee = _phones(
            baresip, tmp_path, f"sip:201@{pbx.uri_host}", f"sip:202@{pbx.uri_host}",
            caller_password=pbx.ext("201").password, callee_password=pbx.ext("202").password)
        phones: tuple[BaresipPhone, BaresipPhone] = (caller, callee)
        with phones[0], phones[1]:
            caller.wait_registered(timeout_s=5)
            callee.wait_registered(timeout_s=5)
            # 1 s to settle, then about 2 s in the kernel: the tone checks cover both parts.
            exchange_tones(caller, callee, f"sip:202@{pbx.uri_host}", talk_s=3.0)
        # The call is over; the forwarder takes its flows back and logs what they carried.
        deadline = time.monotonic() + 5.0
        while not KERNEL_LINE.search(pbx.output()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pbx.stop()
    output = pbx.output()
    assert "kernel media forwarding on" in output, pbx.log_tail()
    counts = [(int(a), int(b)) for a, b in KERNEL_LINE.findall(output)]
    assert len(counts) == 1, pbx.log_tail()
    # 50 packets/s each way; at least a second's worth went through the kernel each way.
    assert min(counts[0]) >= 50, counts
    pbx.check_no_tracebacks()


# --- three hosts ------------------------------------------------------------------------------

SUBNET = "10.213.0"
BOX, ALICE, BOB = f"{SUBNET}.1", f"{SUBNET}.2", f"{SUBNET}.3"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def lan() -> Iterator[dict[str, str]]:
    """Namespaces box, alice and bob; alice and bob reach the box over a bridge in the box."""
    tag = uuid.uuid4().hex[:6]
    names = {role: f"sbx{letter}{tag}"
             for role, letter in (("box", "x"), ("alice", "a"), ("bob", "b"))}
    try:
        for ns in names.values():
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        box = names["box"]
        _ip("-n", box, "link", "add", "br0", "type", "bridge")
        _ip("-n", box, "link", "set", "br0", "up")
        _ip("-n", box, "addr", "add", f"{BOX}/24", "dev", "br0")
        for role, addr in (("alice", ALICE), ("bob", BOB)):
            ns, port, peer = names[role], f"p{role[0]}{tag}", f"v{role[0]}{tag}"
            _ip("link", "add", port, "type", "veth", "peer", "name", peer)
            _ip("link", "set", port, "netns", box)
            _ip("link", "set", peer, "netns", ns)
            _ip("-n", box, "link", "set", port, "master", "br0")
            _ip("-n", box, "link", "set", port, "up")
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", peer)
            _ip("-n", ns, "link", "set", peer, "up")
        yield names
    finally:
        for ns in names.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10,
                           check=False)


class Relay:
    """kernel_probe.py's relay role in the box namespace."""

    def __init__(self, ns: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(PROBE), "relay", BOX,
             "26000", "26099"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.ports = self.read()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            assert self.proc.stderr is not None
            raise AssertionError(f"relay probe died: {self.proc.stderr.read()}")
        message: dict[str, Any] = json.loads(line)
        assert "error" not in message, message
        return message

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> str:
        stderr = ""
        if self.proc.poll() is None:
            _, stderr = self.proc.communicate("quit\n", timeout=10)
        return stderr


def _talk(lan: dict[str, str], relay: Relay, seconds: float, alice_port: int,
          bob_port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    a_port, b_port = relay.ports["a"][1], relay.ports["b"][1]
    procs = [
        subprocess.Popen(["ip", "netns", "exec", lan[role], sys.executable, str(PROBE), "phone",
                          addr, str(own), BOX, str(to), str(seconds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for role, addr, own, to in (("bob", BOB, bob_port, b_port),
                                    ("alice", ALICE, alice_port, a_port))
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 20)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results[1], results[0]


def test_the_box_kernel_forwards_media_between_phones_on_the_lan(lan: dict[str, str]) -> None:
    relay = Relay(lan["box"])
    try:
        relay.ask(f"remote a {ALICE} 40000")
        relay.ask(f"remote b {BOB} 42000")
        alice, bob = _talk(lan, relay, 3.0, 40000, 42000)
        stats = relay.ask("stats")
        a_port, b_port = relay.ports["a"][1], relay.ports["b"][1]
        # Everything arrived, from the endpoint each phone talks to: the box's address, its
        # port for that phone.
        assert bob["received"] == alice["sent"], (alice, bob)
        assert alice["received"] == bob["sent"], (alice, bob)
        assert bob["sources"] == [[BOX, b_port]] and alice["sources"] == [[BOX, a_port]]
        assert stats["offloaded"], stats
        # After 0.2 s to settle, the kernel forwarded the rest of the 3 s (150 packets a way).
        assert stats["kernel_a_to_b"] >= 100 and stats["kernel_b_to_a"] >= 100, stats
        assert stats["a_to_b"] >= alice["sent"] - 3, stats

        # A feature that needs the audio: the packets come back to the sockets at once.
        relay.ask("tap")
        alice, bob = _talk(lan, relay, 1.0, 40000, 42000)
        stats_tapped = relay.ask("stats")
        assert not stats_tapped["offloaded"], stats_tapped
        assert stats_tapped["tapped"] >= alice["sent"] + bob["sent"] - 4, stats_tapped
        assert bob["received"] >= alice["sent"] - 2 and alice["received"] >= bob["sent"] - 2
        kernel_then = stats_tapped["kernel_a_to_b"] + stats_tapped["kernel_b_to_a"]
        assert kernel_then == stats["kernel_a_to_b"] + stats["kernel_b_to_a"]

        # Tap gone: back to the kernel, and the phones still hear each other.
        relay.ask("untap")
        alice, bob = _talk(lan, relay, 2.0, 40000, 42000)
        stats_back = relay.ask("stats")
        assert stats_back["offloaded"]
        assert stats_back["kernel_a_to_b"] + stats_back["kernel_b_to_a"] > kernel_then + 100
        assert bob["received"] >= alice["sent"] - 3 and alice["received"] >= bob["sent"] - 3
    finally:
        stderr = relay.close()
    assert "Traceback" not in stderr, stderr
