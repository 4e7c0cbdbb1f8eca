"""Free loopback ports for peers started by the interop tests.

Ports come from the kernel (bind to port 0), so parallel runs and other engineers' processes do
not collide; a SIP port must be free for UDP and TCP at once (RFC 3261 §18: both transports).
"""

from __future__ import annotations

import random
import socket

LOOPBACK = "127.0.0.1"


def free_port(*, tcp_too: bool = True, attempts: int = 50) -> int:
    """A loopback port free for UDP (and TCP when `tcp_too`) right now.

    Raises RuntimeError after `attempts` kernel-chosen ports that were taken for TCP.
    """
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOOPBACK, 0))
            port: int = udp.getsockname()[1]
            if not tcp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no port free for UDP and TCP on {LOOPBACK} after {attempts} tries")


def free_udp_range(count: int, *, low: int = 20000, high: int = 32000, attempts: int = 50) -> int:
    """First port of `count` consecutive UDP ports (even start, for RTP/RTCP pairs) free now.

    Every port of the block is bound once to check; raises RuntimeError after `attempts` blocks.
    The default range stays below Linux's ephemeral ports (32768 and up), which `free_port`
    hands out, so a SIP port can never fall inside an RTP range chosen here.
    """
    rng = random.Random()
    for _ in range(attempts):
        start = rng.randrange(low, high - count) & ~1
        sockets: list[socket.socket] = []
        try:
            for port in range(start, start + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind((LOOPBACK, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return start
    raise RuntimeError(f"no block of {count} free UDP ports on {LOOPBACK}")
