"""Runs inside a network namespace for test_kernel_forwarding.py: either the relay side (a
`MediaRelay` with its `KernelForwarder`) or a phone (a UDP socket that sends RTP at 50
packets/s and counts what it receives, and from where).

    python kernel_probe.py relay HOST PORT_START PORT_END
        prints {"a": [host, port], "b": [host, port]} for one session, then reads commands on
        stdin: `remote a HOST PORT` / `remote b HOST PORT` (SDP addresses), `tap` / `untap`,
        `stats` (prints the session's counters, the tap's count and whether it is offloaded),
        `quit`.
    python kernel_probe.py phone BIND_HOST BIND_PORT TO_HOST TO_PORT SECONDS
        prints {"sent": n, "received": n, "sources": [[host, port], ...]}
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from firmware.media.forwarder import KernelForwarder, NftCommand  # noqa: E402
from firmware.media.relay import Direction, MediaRelay, PortAllocator  # noqa: E402
from firmware.media.rtp import RtpHeader, build_rtp  # noqa: E402


class CountingTap:
    def __init__(self) -> None:
        self.packets = 0

    def on_packet(self, direction: Direction, data: bytes) -> bytes | None:
        self.packets += 1
        return data


def _say(message: object) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def relay(host: str, port_start: int, port_end: int) -> None:
    async with MediaRelay(host, PortAllocator(port_start, port_end), dscp=0) as media:
        forwarder = KernelForwarder(media, NftCommand(), settle_s=0.2, interval_s=0.1,
                                    counters_interval_s=0.2)
        if not await forwarder.start():
            _say({"error": "kernel forwarding unavailable"})
            return
        task = asyncio.create_task(forwarder.run())
        session = await media.open_session("probe")
        tap = CountingTap()
        _say({"a": list(session.a.local), "b": list(session.b.local)})
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        try:
            while line := (await reader.readline()).decode().split():
                match line:
                    case ["remote", side, rhost, rport]:
                        endpoint = session.a if side == "a" else session.b
                        endpoint.set_remote((rhost, int(rport)))
                        _say({"ok": True})
                    case ["tap"]:
                        session.set_tap(tap)
                        _say({"ok": True})
                    case ["untap"]:
                        session.set_tap(None)
                        _say({"ok": True})
                    case ["stats"]:
                        await forwarder.read_counters()
                        stats = session.stats()
                        _say({"a_to_b": stats.a_to_b.packets, "b_to_a": stats.b_to_a.packets,
                              "kernel_a_to_b": stats.a_to_b.kernel_packets,
                              "kernel_b_to_a": stats.b_to_a.kernel_packets,
                              "tapped": tap.packets,
                              "offloaded": forwarder.is_offloaded(session)})
                    case _:
                        break
        finally:
            task.cancel()
            await asyncio.wait([task])
            await forwarder.close()


def phone(bind_host: str, bind_port: int, to_host: str, to_port: int, seconds: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind_host, bind_port))
    sock.setblocking(False)
    sent = received = 0
    sources: set[tuple[str, int]] = set()
    # Both phones are started together; sending after a pause means each is listening
    # before the other's first packet arrives, so every packet sent can be expected.
    start = time.monotonic() + 0.5
    due = start
    while (now := time.monotonic()) < start + seconds + 0.3:
        if now >= due and now < start + seconds:
            sock.sendto(build_rtp(RtpHeader(0, sent & 0xFFFF, sent * 160, 0x5B), bytes(160)),
                        (to_host, to_port))
            sent += 1
            due += 0.02
        try:
            _, addr = sock.recvfrom(2048)
        except BlockingIOError:
            time.sleep(0.002)
            continue
        received += 1
        sources.add((addr[0], addr[1]))
    _say({"sent": sent, "received": received, "sources": sorted(sources)})


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "relay":
        asyncio.run(relay(args[0], int(args[1]), int(args[2])))
    else:
        phone(args[0], int(args[1]), args[2], int(args[3]), float(args[4]))
