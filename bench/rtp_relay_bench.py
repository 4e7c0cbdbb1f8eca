"""Benchmark the media relay (firmware/media/relay.py): CPU per relayed RTP packet, loss, RSS.

Two processes, so that the figures are the relay's alone:

* the relay process opens N `RelaySession`s (N calls: 2N endpoints, 4N sockets) on loopback and
  answers `stats` requests on stdin with its CPU time (getrusage), counters and VmHWM;
* this process is the load generator: 2N "phones" (one UDP socket per call side) each send a
  G.711-sized packet (12-byte header + 160 bytes) every 20 ms to their endpoint, and receive what
  the relay forwards from the other side. 200 calls = 20 000 packets/s through the relay.

Steady mode (default): warm up (the relay latches every phone), then measure for D seconds:
µs of relay CPU per relayed packet, loss, latency through the relay, peak RSS.
Burst mode (--burst): every phone sends as fast as the generator can; gives the relay's maximum
packets/s on one core and its CPU cost per packet at saturation.

    .venv/bin/python bench/rtp_relay      # 200 calls, 10 s, uvloop
    bench/rtp_relay --loop asyncio        # the stock event loop, for comparison
    bench/rtp_relay --burst --duration 5
    bench/rtp_relay --bare                # a minimal latching relay: the floor to compare with
    bench/rtp_relay --profile /tmp/relay.pstats   # cProfile the relay process
    bench/rtp_relay --kernel              # sessions offloaded to the kernel (root, nft)
    bench/rtp_relay --json

The cost to the machine is measured too, first for a *direct* phase in which the same phones
send to each other with no relay between them, then for the relayed phase; the difference per
packet is what relaying costs, wherever it runs: in the relay process, in the kernel (--kernel:
the relay process is idle and netfilter does the work in the phones' system calls and in
softirqs), or in the nft processes the forwarder starts (the relay's children). "Involved CPU"
is the generator's own CPU + the relay's (with children) + the ksoftirqd threads', which other
work on the machine does not disturb (this kernel charges softirq ticks to the task they
interrupt, CONFIG_IRQ_TIME_ACCOUNTING unset); "machine CPU" is every core's busy time from
/proc/stat, true only on an otherwise idle machine. In user-space mode both cross-check the
relay process's own figure.

Targets (issue 2): ≤ 8 µs CPU per relayed packet, RSS ≤ 80 MB with 200 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "rtp_relay"
ROOT = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
PACKET_INTERVAL_S = 0.020  # G.711 with 20 ms packetisation: 50 packets/s per direction
PAYLOAD_BYTES = 160
TARGET_US_PER_PACKET = 8.0
TARGET_RSS_MB = 80.0
PHASE_WARMUP, PHASE_MEASURED = 0, 1
# RTP header, then our own payload prefix: phase byte and send time (ns, CLOCK_MONOTONIC).
_HEADER = struct.Struct("!BBHII")
_STAMP = struct.Struct("!Bq")


# --- the relay process --------------------------------------------------------------------------


def _proc_status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class _BareLeg(asyncio.DatagramProtocol):
    """The floor to compare with: the least a latching UDP relay can do per packet."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.peer: _BareLeg | None = None
        self.remote: Any = None
        self.packets = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.remote = addr
        peer = self.peer
        if peer is not None and peer.remote is not None:
            peer.transport.sendto(data, peer.remote)
            self.packets += 1


async def _bare_sessions(count: int, port_start: int) -> tuple[list[list[int]], list[_BareLeg]]:
    loop = asyncio.get_running_loop()
    ports, legs = [], []
    port = port_start
    for _ in range(count):
        pair = []
        for _side in range(2):
            _, leg = await loop.create_datagram_endpoint(_BareLeg, local_addr=(HOST, port))
            pair.append(leg)
            port += 2
        pair[0].peer, pair[1].peer = pair[1], pair[0]
        legs += pair
        ports.append([port - 4, port - 2])
    return ports, legs


async def _relay_main(args: argparse.Namespace) -> None:
    if args.bare:
        await _bare_main(args)
        return
    from firmware.media.relay import MediaRelay, PortAllocator

    ports = PortAllocator(args.port_start, args.port_start + 4 * args.sessions + 64)
    relay = MediaRelay(HOST, ports, dscp=0)
    forwarder = None
    forwarding = None
    if args.kernel:
        from firmware.media.forwarder import KernelForwarder, NftCommand

        forwarder = KernelForwarder(relay, NftCommand())  # the product's timings
        if not await forwarder.start():
            raise SystemExit("kernel forwarding unavailable (needs root and nft)")
        forwarding = asyncio.create_task(forwarder.run())
    sessions = [await relay.open_session(f"bench-{i}") for i in range(args.sessions)]
    _reply({"ports": [[s.a.rtp_port, s.b.rtp_port] for s in sessions]})

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "quit":
            break
        if forwarder is not None:
            await forwarder.read_counters()
        usage = _usage()
        totals = {"packets": 0, "bytes": 0, "dropped": 0, "stray": 0, "rtcp_packets": 0,
                  "offloaded": forwarder.offloaded if forwarder is not None else 0}
        for session in sessions:
            stats = session.stats()
            for direction in (stats.a_to_b, stats.b_to_a):
                totals["packets"] += direction.packets
                totals["bytes"] += direction.bytes
                totals["dropped"] += direction.dropped
                totals["stray"] += direction.stray
                totals["rtcp_packets"] += direction.rtcp_packets
        _reply(
            {
                "cpu_s": usage[0] + usage[1],
                "user_s": usage[0],
                "sys_s": usage[1],
                "wall_s": time.monotonic(),
                "forwarded": totals["packets"] - totals["dropped"],
                "vm_hwm_kb": _proc_status_kb("VmHWM"),
                "vm_rss_kb": _proc_status_kb("VmRSS"),
                **totals,
            }
        )
    if forwarding is not None and forwarder is not None:
        forwarding.cancel()
        await asyncio.wait([forwarding])
        await forwarder.close()
    await relay.close_all()


def _usage() -> tuple[float, float]:
    """(user, system) CPU seconds of this process and of its finished children (nft runs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime)


def _pid_cpu_s(pid: int | str) -> float:
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    fields = raw[raw.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def softirq_threads_s() -> float:
    """CPU seconds of the ksoftirqd kernel threads (softirq work not done in a task's context)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().startswith("ksoftirqd/"):
                    total += _pid_cpu_s(proc.name)
            except OSError:
                continue
    return total


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> float:
    """CPU seconds every core spent busy (user, nice, system, irq, softirq, steal) since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def _bare_main(args: argparse.Namespace) -> None:
    ports, legs = await _bare_sessions(args.sessions, args.port_start)
    _reply({"ports": ports})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while (await reader.readline()).decode().strip() == "stats":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        forwarded = sum(leg.packets for leg in legs)
        _reply(
            {
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "user_s": usage.ru_utime,
                "sys_s": usage.ru_stime,
                "wall_s": time.monotonic(),
                "forwarded": forwarded,
                "packets": forwarded,
                "bytes": 0,
                "dropped": 0,
                "stray": 0,
                "vm_hwm_kb": _proc_status_kb("VmHWM"),
                "vm_rss_kb": _proc_status_kb("VmRSS"),
            }
        )
    for leg in legs:
        leg.transport.close()


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _run_relay(args: argparse.Namespace) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_relay_main(args))
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile)


# --- the load generator -------------------------------------------------------------------------


class Relay:
    """The relay child process and its stdin/stdout request channel."""

    def __init__(self, args: argparse.Namespace) -> None:
        command = [sys.executable, str(SCRIPT), "--role", "relay"]
        command += ["--loop", args.loop, "--sessions", str(args.sessions)]
        command += ["--port-start", str(args.port_start)]
        if args.kernel:
            command.append("--kernel")
        if args.bare:
            command.append("--bare")
        if args.profile:
            command += ["--profile", args.profile]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.ports: list[list[int]] = self._read()["ports"]

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return self._read()

    def quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.flush()
        self.process.wait(timeout=30)

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"relay process died (exit {self.process.wait()})")
        message: dict[str, Any] = json.loads(line)
        return message


class Phones:
    """2N UDP sockets, one per call side, each sending to its relay endpoint."""

    def __init__(self, ports: list[list[int]] | None, calls: int = 0) -> None:
        """Phones that send to the relay's `ports`, or with None, `calls` pairs of phones that
        send straight to each other (the direct baseline)."""
        self.socks: list[socket.socket] = []
        self.dests: list[tuple[str, int]] = []
        for a_port, b_port in ports if ports is not None else [[0, 0]] * calls:
            for port in (a_port, b_port):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                sock.bind((HOST, 0))
                sock.setblocking(False)
                self.socks.append(sock)
                self.dests.append((HOST, port))
        if ports is None:
            for i in range(0, len(self.socks), 2):
                self.dests[i] = self.socks[i + 1].getsockname()
                self.dests[i + 1] = self.socks[i].getsockname()
        self.packets = [bytearray(12 + PAYLOAD_BYTES) for _ in self.socks]
        for i, packet in enumerate(self.packets):
            _HEADER.pack_into(packet, 0, 0x80, 0, 0, 0, 0x5B000000 + i)
        self.seq = [0] * len(self.socks)
        self.poller = select.epoll()
        self.by_fd = {sock.fileno(): sock for sock in self.socks}
        for fd in self.by_fd:
            self.poller.register(fd, select.EPOLLIN)
        self.sent = 0
        self.received = 0
        self.latencies_ns: list[int] = []

    def send(self, index: int, phase: int) -> None:
        packet = self.packets[index]
        seq = self.seq[index] = (self.seq[index] + 1) & 0xFFFF
        struct.pack_into("!HI", packet, 2, seq, seq * PAYLOAD_BYTES)
        _STAMP.pack_into(packet, 12, phase, time.monotonic_ns())
        try:
            self.socks[index].sendto(packet, self.dests[index])
        except BlockingIOError:
            return
        if phase == PHASE_MEASURED:
            self.sent += 1

    def drain(self, timeout_s: float) -> None:
        for fd, _ in self.poller.poll(timeout_s):
            sock = self.by_fd[fd]
            while True:
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    break
                phase, sent_ns = _STAMP.unpack_from(data, 12)
                if phase == PHASE_MEASURED:
                    self.received += 1
                    self.latencies_ns.append(time.monotonic_ns() - sent_ns)

    def paced(self, duration_s: float, phase: int) -> None:
        """Every phone sends one packet per 20 ms, phones spread evenly over the interval."""
        count = len(self.socks)
        per_packet_s = PACKET_INTERVAL_S / count
        start = time.monotonic()
        end = start + duration_s
        done = 0
        while (now := time.monotonic()) < end:
            due = int((now - start) / per_packet_s)
            while done < due:
                self.send(done % count, phase)
                done += 1
            self.drain(max(0.0, start + (done + 1) * per_packet_s - time.monotonic()))

    def flood(self, duration_s: float) -> int:
        """Send round-robin as fast as possible; returns packets offered."""
        count = len(self.socks)
        socks, dests, packets = self.socks, self.dests, self.packets
        offered = 0
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            for i in range(count):
                try:
                    socks[i].sendto(packets[i], dests[i])
                    offered += 1
                except BlockingIOError:
                    pass
        return offered

    def close(self) -> None:
        self.poller.close()
        for sock in self.socks:
            sock.close()


def syscall_floor_us(rounds: int = 20000) -> float:
    """CPU µs for one loopback recvfrom + one sendto of a 172-byte packet in a tight loop: the
    least any user-space relay pays per packet on this host, before event-loop wakeups."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock in (rx, tx, sink):
        sock.bind((HOST, 0))
    for sock in (rx, sink):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setblocking(False)
    packet = bytes(12 + PAYLOAD_BYTES)
    batch = rounds // 10
    try:
        best = float("inf")
        for _ in range(3):
            for _ in range(batch):
                tx.sendto(packet, rx.getsockname())
            sink_addr = sink.getsockname()
            before = time.process_time()
            for _ in range(batch):
                data, _addr = rx.recvfrom(2048)
                tx.sendto(data, sink_addr)
            best = min(best, 1e6 * (time.process_time() - before) / batch)
            for _ in range(batch):  # empty the sink so that it never fills
                sink.recv(2048)
        return best
    finally:
        for sock in (rx, tx, sink):
            sock.close()


def _percentile(values: list[int], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000.0


def direct_baseline(args: argparse.Namespace) -> tuple[float, float, int]:
    """Machine CPU seconds, involved CPU seconds and packets delivered when the same phones
    talk with no relay."""
    phones = Phones(None, args.sessions)
    try:
        phones.paced(args.warmup, PHASE_WARMUP)
        phones.drain(0.05)
        busy, involved = machine_busy_s(), own_cpu_s() + softirq_threads_s()
        phones.paced(args.duration, PHASE_MEASURED)
        phones.drain(0.3)
        return (machine_busy_s() - busy, own_cpu_s() + softirq_threads_s() - involved,
                phones.received)
    finally:
        phones.close()


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    floor_us = syscall_floor_us()
    baseline_s, baseline_involved_s, baseline_packets = (
        (0.0, 0.0, 0) if args.burst else direct_baseline(args))
    relay = Relay(args)
    phones = Phones(relay.ports)
    try:
        phones.paced(args.warmup, PHASE_WARMUP)
        phones.drain(0.05)
        before = relay.stats()
        busy_before = machine_busy_s()
        involved_before = own_cpu_s() + softirq_threads_s()
        if args.burst:
            started = time.monotonic()
            offered = phones.flood(args.duration)
            elapsed = time.monotonic() - started
        else:
            elapsed = args.duration
            phones.paced(args.duration, PHASE_MEASURED)
            end_drain = time.monotonic() + 0.3
            while (left := end_drain - time.monotonic()) > 0:
                phones.drain(left)
        busy_s = machine_busy_s() - busy_before
        involved_s = own_cpu_s() + softirq_threads_s() - involved_before
        after = relay.stats()
    finally:
        phones.close()
        relay.quit()

    forwarded = after["forwarded"] - before["forwarded"]
    cpu_s = after["cpu_s"] - before["cpu_s"]
    wall_s = after["wall_s"] - before["wall_s"]
    result: dict[str, Any] = {
        "mode": "burst" if args.burst else "steady",
        "loop": args.loop,
        "relay": "bare" if args.bare else "kernel" if args.kernel else "firmware",
        "offloaded_sessions": after.get("offloaded", 0),
        "calls": args.sessions,
        "sockets": 4 * args.sessions,
        "duration_s": round(wall_s, 3),
        "relayed_packets": forwarded,
        "relayed_pps": round(forwarded / elapsed),
        "relay_cpu_s": round(cpu_s, 3),
        "relay_cpu_user_s": round(after["user_s"] - before["user_s"], 3),
        "relay_cpu_sys_s": round(after["sys_s"] - before["sys_s"], 3),
        "relay_cpu_percent": round(100.0 * cpu_s / wall_s, 1),
        "us_per_packet": round(1e6 * cpu_s / forwarded, 2) if forwarded else None,
        "stray": after["stray"] - before["stray"],
        "dropped": after["dropped"] - before["dropped"],
        "capacity_pps_one_core": round(forwarded / cpu_s) if cpu_s else None,
        "kernel_floor_us": round(floor_us, 2),
        "peak_rss_mb": round(after["vm_hwm_kb"] / 1024, 1),
        "rss_mb": round(after["vm_rss_kb"] / 1024, 1),
    }
    if args.burst:
        result["offered_packets"] = offered
        result["offered_pps"] = round(offered / elapsed)
    else:
        result["offered_pps"] = round(2 * args.sessions / PACKET_INTERVAL_S)
        result["sent"] = phones.sent
        result["received"] = phones.received
        result["loss_percent"] = (
            round(100.0 * (phones.sent - phones.received) / phones.sent, 3) if phones.sent else None
        )
        result["latency_us_p50"] = round(_percentile(phones.latencies_ns, 0.50), 1)
        result["latency_us_p99"] = round(_percentile(phones.latencies_ns, 0.99), 1)
        result["latency_us_max"] = round(_percentile(phones.latencies_ns, 1.0), 1)
        result["machine_cpu_s"] = round(busy_s, 3)
        result["direct_machine_cpu_s"] = round(baseline_s, 3)
        result["direct_packets"] = baseline_packets
        # Relaying's cost to the machine: busy time above the direct phase's, scaled to the
        # same packet count, per relayed packet.
        result["involved_cpu_s"] = round(involved_s + cpu_s, 3)
        result["direct_involved_cpu_s"] = round(baseline_involved_s, 3)
        if forwarded and baseline_packets:
            scale = phones.received / baseline_packets
            extra_s = busy_s - baseline_s * scale
            result["machine_us_per_packet"] = round(1e6 * extra_s / forwarded, 2)
            extra_s = involved_s + cpu_s - baseline_involved_s * scale
            result["involved_us_per_packet"] = round(1e6 * extra_s / forwarded, 2)
    return result


def report(result: dict[str, Any]) -> str:
    us = result["us_per_packet"]
    lines = [
        f"RTP relay bench: {result['mode']}, {result['loop']} loop, {result['relay']} relay, "
        f"{result['calls']} calls ({result['sockets']} relay sockets), "
        f"{result['duration_s']:.1f} s measured",
        f"  relayed        {result['relayed_packets']} packets, {result['relayed_pps']} pps "
        f"(offered {result['offered_pps']} pps)",
        f"  relay CPU      {result['relay_cpu_s']:.3f} s = {result['relay_cpu_percent']}% of one "
        f"core (user {result['relay_cpu_user_s']:.3f} s, sys {result['relay_cpu_sys_s']:.3f} s)",
        f"  CPU per packet {us} µs  (target ≤ {TARGET_US_PER_PACKET} µs: "
        f"{'met' if us is not None and us <= TARGET_US_PER_PACKET else 'NOT met'})",
        f"  kernel floor   {result['kernel_floor_us']} µs per packet (recvfrom + sendto in a "
        f"tight loop on this host); at 100% of one core ≈ {result['capacity_pps_one_core']} pps",
        f"  peak RSS       {result['peak_rss_mb']} MB  (target ≤ {TARGET_RSS_MB} MB: "
        f"{'met' if result['peak_rss_mb'] <= TARGET_RSS_MB else 'NOT met'})",
    ]
    if result["mode"] == "steady":
        lines.append(
            f"  involved CPU   {result['involved_cpu_s']:.3f} s relayed vs "
            f"{result['direct_involved_cpu_s']:.3f} s direct (generator + relay + ksoftirqd): "
            f"{result.get('involved_us_per_packet')} µs per relayed packet"
        )
        lines.append(
            f"  machine CPU    {result['machine_cpu_s']:.3f} s relayed vs "
            f"{result['direct_machine_cpu_s']:.3f} s direct (same phones, no relay): "
            f"{result.get('machine_us_per_packet')} µs per relayed packet, all cores"
        )
        lines.append(
            f"  loss           {result['loss_percent']}% "
            f"({result['sent']} sent, {result['received']} received)"
        )
        lines.append(
            f"  latency        p50 {result['latency_us_p50']} µs, p99 {result['latency_us_p99']} "
            f"µs, max {result['latency_us_max']} µs (phone → relay → phone, upper bound)"
        )
    lines.append(f"  stray {result['stray']}, dropped {result['dropped']}")
    return "\n".join(lines)


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200, help="concurrent calls (200)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured (10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring (1)")
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default=None, help="uvloop if installed"
    )
    parser.add_argument("--burst", action="store_true", help="send as fast as possible")
    parser.add_argument("--port-start", type=int, default=30000, help="relay RTP ports (30000)")
    parser.add_argument(
        "--bare", action="store_true", help="relay with a minimal protocol instead (the floor)"
    )
    parser.add_argument(
        "--kernel", action="store_true",
        help="offload the sessions to the kernel (firmware/media/forwarder.py; root and nft)"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the relay into FILE")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--role", choices=("generator", "relay"), default="generator", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    uvloop_found = importlib.util.find_spec("uvloop") is not None
    if args.loop is None:
        args.loop = "uvloop" if uvloop_found else "asyncio"
    elif args.loop == "uvloop" and not uvloop_found:
        parser.error("uvloop is not installed for this Python; run with .venv/bin/python")
    if args.kernel:
        # Sessions are offloaded after DEFAULT_SETTLE_S; measure only once they all are.
        args.warmup = max(args.warmup, 2.5)
    _raise_fd_limit(4 * args.sessions + 256)
    if args.role == "relay":
        _run_relay(args)
        return
    result = run_bench(args)
    print(json.dumps(result, indent=2) if args.json else report(result))
    if args.profile:
        import pstats

        print(f"\nrelay profile ({args.profile}), top 12 by own time:", file=sys.stderr)
        pstats.Stats(args.profile, stream=sys.stderr).sort_stats("tottime").print_stats(12)
