"""The media relay on loopback with real UDP sockets: forwarding, latching, RTCP, taps, ports."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from firmware.media.relay import (
    Direction,
    MediaRelay,
    PortAllocator,
    PortsExhausted,
    RelayError,
    RelaySession,
)
from firmware.media.rtp import RtpHeader, build_rtp

LOOPBACK = "127.0.0.1"
TIMEOUT_S = 2.0
# Far from the default 10000–20000 so that a running box on this host does not disturb us.
PORT_START, PORT_END = 23000, 23999


def rtp(seq: int, payload: bytes = b"\xff" * 160, ssrc: int = 0x1111) -> bytes:
    return build_rtp(RtpHeader(0, seq, seq * 160, ssrc), payload)


RTCP_RR = b"\x81\xc9\x00\x07" + bytes(28)


class Phone(asyncio.DatagramProtocol):
    """A UDP socket standing in for a phone (or a NAT binding of one)."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[bytes, tuple[Any, ...]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, port: int = 0) -> Phone:
        loop = asyncio.get_running_loop()
        _, phone = await loop.create_datagram_endpoint(cls, local_addr=(LOOPBACK, port))
        return phone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.inbox.put_nowait((data, addr))

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")
        return (host, port)

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def receive(self) -> tuple[bytes, tuple[Any, ...]]:
        async with asyncio.timeout(TIMEOUT_S):
            return await self.inbox.get()

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


async def open_phone_with_rtcp() -> tuple[Phone, Phone]:
    """A phone's RTP socket and its RTCP socket on port + 1 (RFC 3550 §11)."""
    for _ in range(20):
        rtp_phone = await Phone.open()
        try:
            return rtp_phone, await Phone.open(rtp_phone.addr[1] + 1)
        except OSError:  # the neighbour port is taken: try another
            rtp_phone.close()
    raise RuntimeError("no two adjacent free UDP ports on loopback")


@pytest.fixture
async def relay() -> AsyncIterator[MediaRelay]:
    async with MediaRelay(LOOPBACK, PortAllocator(PORT_START, PORT_END)) as media:
        yield media


@pytest.fixture
async def phones() -> AsyncIterator[list[Phone]]:
    opened = [await Phone.open(), await Phone.open()]
    yield opened
    for phone in opened:
        phone.close()


async def connected(relay: MediaRelay, a: Phone, b: Phone) -> RelaySession:
    session = await relay.open_session("call-1")
    session.a.set_remote(a.addr)
    session.b.set_remote(b.addr)
    return session


async def test_relays_a_to_b_and_b_to_a(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    session = await connected(relay, alice, bob)

    alice.send(rtp(1), session.a.local)
    data, source = await bob.receive()
    assert data == rtp(1)
    assert source == (LOOPBACK, session.b.rtp_port)  # out of B's socket: the B2BUA's face

    bob.send(rtp(7, ssrc=0x2222), session.b.local)
    data, source = await alice.receive()
    assert data == rtp(7, ssrc=0x2222)
    assert source == (LOOPBACK, session.a.rtp_port)

    stats = session.stats()
    assert (stats.a_to_b.packets, stats.a_to_b.bytes) == (1, 172)
    assert (stats.b_to_a.packets, stats.b_to_a.bytes) == (1, 172)
    assert stats.a_to_b.stray == stats.a_to_b.dropped == 0


async def test_endpoints_get_even_rtp_ports_with_rtcp_above(relay: MediaRelay) -> None:
    session = await relay.open_session()
    for endpoint in (session.a, session.b):
        assert endpoint.rtp_port % 2 == 0
        assert endpoint.rtcp_port == endpoint.rtp_port + 1
        assert endpoint.local == (LOOPBACK, endpoint.rtp_port)
        assert PORT_START <= endpoint.rtp_port < PORT_END
    assert session.a.rtp_port != session.b.rtp_port


async def test_latches_to_real_source_when_sdp_port_is_wrong(
    relay: MediaRelay, phones: list[Phone]
) -> None:
    alice, bob_behind_nat = phones
    bob_sdp = await Phone.open()  # the private address Bob's SDP advertises, as seen here
    session = await relay.open_session()
    session.a.set_remote(alice.addr)
    session.b.set_remote(bob_sdp.addr)
    assert not session.b.latched

    # Until Bob sends, media for Bob goes where his SDP said.
    alice.send(rtp(1), session.a.local)
    assert (await bob_sdp.receive())[0] == rtp(1)

    bob_behind_nat.send(rtp(100, ssrc=0x2222), session.b.local)
    assert (await alice.receive())[0] == rtp(100, ssrc=0x2222)
    assert session.b.latched
    assert session.b.remote == bob_behind_nat.addr

    alice.send(rtp(2), session.a.local)
    assert (await bob_behind_nat.receive())[0] == rtp(2)
    assert bob_sdp.inbox.empty()
    bob_sdp.close()


async def test_latches_without_any_sdp_address(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    session = await relay.open_session()
    alice.send(rtp(1), session.a.local)  # nowhere to go yet: counted, not sent
    bob.send(rtp(50, ssrc=0x2222), session.b.local)
    assert (await alice.receive())[0] == rtp(50, ssrc=0x2222)
    alice.send(rtp(2), session.a.local)
    assert (await bob.receive())[0] == rtp(2)
    stats = session.stats()
    assert (stats.a_to_b.packets, stats.a_to_b.dropped) == (2, 1)


async def test_ignores_other_sources_after_latching(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    intruder = await Phone.open()
    session = await connected(relay, alice, bob)
    alice.send(rtp(1), session.a.local)
    assert (await bob.receive())[0] == rtp(1)

    intruder.send(rtp(666, ssrc=0x6666), session.a.local)
    alice.send(rtp(2), session.a.local)  # loopback keeps order: the stray was seen first
    assert (await bob.receive())[0] == rtp(2)
    assert session.stats().a_to_b.stray == 1
    assert session.a.remote == alice.addr
    intruder.close()


async def test_does_not_latch_to_non_rtp(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    session = await connected(relay, alice, bob)
    stun_binding_request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12)
    alice.send(stun_binding_request, session.a.local)
    alice.send(rtp(1), session.a.local)
    assert (await bob.receive())[0] == rtp(1)
    assert session.stats().a_to_b.stray == 1


async def test_relatches_when_a_new_source_persists_and_the_old_is_silent(
    phones: list[Phone],
) -> None:
    alice, bob = phones
    rebound = await Phone.open()  # Alice's NAT gave her a new public port
    async with MediaRelay(LOOPBACK, PortAllocator(PORT_START, PORT_END), relatch_packets=3) as r:
        session = await connected(r, alice, bob)
        alice.send(rtp(1), session.a.local)
        assert (await bob.receive())[0] == rtp(1)

        for seq in (2, 3):
            rebound.send(rtp(seq), session.a.local)
        rebound.send(rtp(4), session.a.local)  # the third in a row: re-latch and forward
        assert (await bob.receive())[0] == rtp(4)
        assert session.a.remote == rebound.addr

        bob.send(rtp(9, ssrc=0x2222), session.b.local)
        assert (await rebound.receive())[0] == rtp(9, ssrc=0x2222)
        assert session.stats().a_to_b.stray == 2
    rebound.close()


async def test_keeps_latch_while_the_latched_source_still_talks(phones: list[Phone]) -> None:
    alice, bob = phones
    intruder = await Phone.open()
    async with MediaRelay(LOOPBACK, PortAllocator(PORT_START, PORT_END), relatch_packets=3) as r:
        session = await connected(r, alice, bob)
        alice.send(rtp(0), session.a.local)
        assert (await bob.receive())[0] == rtp(0)
        for seq in range(1, 7):
            intruder.send(rtp(1000 + seq, ssrc=0x6666), session.a.local)
            alice.send(rtp(seq), session.a.local)
        for seq in range(1, 7):
            assert (await bob.receive())[0] == rtp(seq)
        assert session.a.remote == alice.addr
        assert session.stats().a_to_b.stray == 6
    intruder.close()


async def test_set_remote_on_reinvite_relatches(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    transferred = await Phone.open()  # after a re-INVITE Alice's side is another phone
    session = await connected(relay, alice, bob)
    alice.send(rtp(1), session.a.local)
    assert (await bob.receive())[0] == rtp(1)

    session.a.set_remote(transferred.addr)
    assert not session.a.latched
    bob.send(rtp(5, ssrc=0x2222), session.b.local)
    assert (await transferred.receive())[0] == rtp(5, ssrc=0x2222)
    transferred.send(rtp(10, ssrc=0x3333), session.a.local)
    assert (await bob.receive())[0] == rtp(10, ssrc=0x3333)
    assert session.a.latched and session.a.remote == transferred.addr
    transferred.close()


async def test_rtcp_is_relayed_on_the_odd_ports(relay: MediaRelay) -> None:
    alice, alice_rtcp = await open_phone_with_rtcp()
    bob, bob_rtcp = await open_phone_with_rtcp()
    session = await connected(relay, alice, bob)
    assert session.a.rtcp_remote == alice_rtcp.addr  # port + 1 by default

    alice_rtcp.send(RTCP_RR, (LOOPBACK, session.a.rtcp_port))
    data, source = await bob_rtcp.receive()
    assert (data, source) == (RTCP_RR, (LOOPBACK, session.b.rtcp_port))
    bob_rtcp.send(RTCP_RR, (LOOPBACK, session.b.rtcp_port))
    assert (await alice_rtcp.receive())[0] == RTCP_RR

    stats = session.stats()
    assert (stats.a_to_b.rtcp_packets, stats.a_to_b.rtcp_bytes) == (1, len(RTCP_RR))
    assert stats.a_to_b.packets == 0
    assert alice.inbox.empty() and bob.inbox.empty()
    for phone in (alice, alice_rtcp, bob, bob_rtcp):
        phone.close()


async def test_rtcp_address_from_sdp_rtcp_attribute(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    bob_rtcp = await Phone.open()  # RFC 3605 a=rtcp: anywhere, not port + 1
    session = await relay.open_session()
    session.a.set_remote(alice.addr)
    session.b.set_remote(bob.addr, rtcp=bob_rtcp.addr)
    alice.send(RTCP_RR, (LOOPBACK, session.a.rtcp_port))
    assert (await bob_rtcp.receive())[0] == RTCP_RR
    bob_rtcp.close()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[Direction, bytes]] = []

    def on_packet(self, direction: Direction, data: bytes) -> bytes | None:
        self.seen.append((direction, data))
        return data


class Louder:
    def on_packet(self, direction: Direction, data: bytes) -> bytes | None:
        return data[:12] + b"\x00" * (len(data) - 12)


class Hold:
    """Music on hold for B: drops what A says, plays its own."""

    def on_packet(self, direction: Direction, data: bytes) -> bytes | None:
        return None if direction is Direction.A_TO_B else data


async def test_tap_observes_both_directions(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    session = await connected(relay, alice, bob)
    recorder = Recorder()
    session.set_tap(recorder)
    assert session.tap is recorder
    alice.send(rtp(1), session.a.local)
    assert (await bob.receive())[0] == rtp(1)
    bob.send(rtp(2, ssrc=0x2222), session.b.local)
    assert (await alice.receive())[0] == rtp(2, ssrc=0x2222)
    assert recorder.seen == [(Direction.A_TO_B, rtp(1)), (Direction.B_TO_A, rtp(2, ssrc=0x2222))]


async def test_tap_can_modify(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    session = await connected(relay, alice, bob)
    session.set_tap(Louder())
    alice.send(rtp(1), session.a.local)
    assert (await bob.receive())[0] == rtp(1, payload=bytes(160))


async def test_tap_can_drop_and_inject(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    session = await connected(relay, alice, bob)
    session.set_tap(Hold())
    music = rtp(1, payload=b"\x55" * 160, ssrc=0x4D4F48)
    alice.send(rtp(1), session.a.local)  # dropped by the tap
    assert session.inject(Direction.A_TO_B, music)
    assert await bob.receive() == (music, (LOOPBACK, session.b.rtp_port))
    stats = session.stats().a_to_b
    assert (stats.packets, stats.dropped, stats.injected) == (1, 1, 1)


async def test_removing_tap_restores_plain_relay(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    session = await connected(relay, alice, bob)
    recorder = Recorder()
    session.set_tap(recorder)
    session.set_tap(None)
    alice.send(rtp(1), session.a.local)
    assert (await bob.receive())[0] == rtp(1)
    assert recorder.seen == []


async def test_failing_tap_drops_packet_and_logs_once(
    relay: MediaRelay, phones: list[Phone], caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky:
        """Fails on sequence numbers below 10."""

        def on_packet(self, direction: Direction, data: bytes) -> bytes | None:
            if data[3] < 10:
                raise RuntimeError("bug in a feature")
            return data

    alice, bob = phones
    session = await connected(relay, alice, bob)
    session.set_tap(Flaky())
    with caplog.at_level(logging.ERROR, logger="firmware.media.relay"):
        alice.send(rtp(1), session.a.local)
        alice.send(rtp(2), session.a.local)
        bob.send(rtp(3), session.b.local)
        alice.send(rtp(10), session.a.local)
        bob.send(rtp(11), session.b.local)
        assert (await bob.receive())[0] == rtp(10)
        assert (await alice.receive())[0] == rtp(11)
    stats = session.stats()
    assert (stats.a_to_b.dropped, stats.b_to_a.dropped) == (2, 1)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2  # once for each direction, not for every packet
    assert "media tap failed" in errors[0].getMessage()
    assert errors[0].exc_info is not None


async def test_inject_both_ways_without_tap(relay: MediaRelay, phones: list[Phone]) -> None:
    alice, bob = phones
    session = await connected(relay, alice, bob)
    assert session.inject(Direction.B_TO_A, rtp(1))
    assert await alice.receive() == (rtp(1), (LOOPBACK, session.a.rtp_port))
    assert session.inject(Direction.A_TO_B, rtp(2))
    assert (await bob.receive())[0] == rtp(2)
    assert session.stats().b_to_a.injected == 1


async def test_inject_before_remote_is_known_is_refused(relay: MediaRelay) -> None:
    session = await relay.open_session()
    assert not session.inject(Direction.A_TO_B, rtp(1))
    assert session.stats().a_to_b.dropped == 1
    session.close()
    assert not session.inject(Direction.A_TO_B, rtp(1))


async def test_close_frees_ports_and_is_idempotent(relay: MediaRelay) -> None:
    capacity = relay.ports.capacity
    async with await relay.open_session() as session:
        assert relay.ports.available == capacity - 2
        assert relay.sessions == {session}
        ports = (session.a.rtp_port, session.b.rtp_port)
    assert session.closed
    assert relay.sessions == frozenset()
    assert relay.ports.available == capacity
    session.close()
    await session.wait_closed()
    assert relay.ports.available == capacity
    for port in ports:  # the kernel let go of all four sockets
        for p in (port, port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((LOOPBACK, p))


async def test_closed_session_relays_nothing_and_keeps_counters(
    relay: MediaRelay, phones: list[Phone]
) -> None:
    alice, bob = phones
    session = await connected(relay, alice, bob)
    alice.send(rtp(1), session.a.local)
    await bob.receive()
    session.close()
    await session.wait_closed()
    session.set_tap(Recorder())
    assert session.stats().a_to_b.packets == 1


async def test_close_all_closes_every_session(relay: MediaRelay) -> None:
    for i in range(3):
        await relay.open_session(f"call-{i}")
    await relay.close_all()
    assert relay.sessions == frozenset()
    assert relay.ports.available == relay.ports.capacity


async def test_skips_ports_held_by_another_program() -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind((LOOPBACK, PORT_START + 1))  # the RTCP port of the first pair
    try:
        async with MediaRelay(LOOPBACK, PortAllocator(PORT_START, PORT_START + 5)) as r:
            session = await r.open_session()
            assert {session.a.rtp_port, session.b.rtp_port} == {PORT_START + 2, PORT_START + 4}
    finally:
        squatter.close()


async def test_exhaustion_refuses_the_call_and_leaks_no_port() -> None:
    ports = PortAllocator(PORT_START, PORT_START + 5)  # three pairs: one call and a half
    async with MediaRelay(LOOPBACK, ports) as r:
        await r.open_session()
        with pytest.raises(PortsExhausted, match="all 3 RTP ports of 23000-23005 are in use"):
            await r.open_session()
        assert len(r.sessions) == 1
    assert ports.available == 3


async def test_binding_that_keeps_failing_is_a_relay_error() -> None:
    ports = PortAllocator(PORT_START, PORT_START + 3)
    squatters = []
    for port in (PORT_START, PORT_START + 2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((LOOPBACK, port))
        squatters.append(s)
    try:
        with pytest.raises(RelayError):
            async with MediaRelay(LOOPBACK, ports) as r:
                await r.open_session()
    finally:
        for s in squatters:
            s.close()


async def test_set_remote_wants_an_ip_literal_of_the_socket_family(relay: MediaRelay) -> None:
    session = await relay.open_session()
    with pytest.raises(ValueError):
        session.a.set_remote(("phone.example.com", 4000))
    with pytest.raises(ValueError, match="IPv6 but the media socket is IPv4"):
        session.a.set_remote(("::1", 4000))
    with pytest.raises(ValueError, match="out of range"):
        session.a.set_remote((LOOPBACK, 0))


async def test_ipv6_dual_stack_relays_ipv4_and_ipv6_phones(phones: list[Phone]) -> None:
    alice = phones[0]  # IPv4, seen on the dual-stack socket as ::ffff:127.0.0.1
    loop = asyncio.get_running_loop()
    try:
        _, bob = await loop.create_datagram_endpoint(Phone, local_addr=("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    bob_addr = bob.transport.get_extra_info("sockname")[:2] if bob.transport else ("::1", 0)
    async with MediaRelay("::1", PortAllocator(PORT_START, PORT_END), bind_host="::") as r:
        session = await r.open_session()
        session.a.set_remote(alice.addr)
        session.b.set_remote(bob_addr)
        assert session.a.remote == ("::ffff:127.0.0.1", alice.addr[1])
        bob.send(rtp(1), ("::1", session.b.rtp_port))
        assert (await alice.receive())[0] == rtp(1)
        alice.send(rtp(2), (LOOPBACK, session.a.rtp_port))
        assert (await bob.receive())[0] == rtp(2)
    bob.close()


def test_allocator_hands_out_even_ports_and_reuses_freed_ones_last() -> None:
    ports = PortAllocator(10001, 10008)
    assert ports.capacity == 3
    assert [ports.allocate() for _ in range(2)] == [10002, 10004]
    ports.release(10002)
    assert ports.allocate() == 10006
    assert ports.allocate() == 10002
    with pytest.raises(PortsExhausted, match="all 3 RTP ports of 10001-10008 are in use"):
        ports.allocate()
    assert isinstance(PortsExhausted("x"), RelayError)


def test_allocator_release_of_unknown_port_is_an_error() -> None:
    ports = PortAllocator()
    assert ports.capacity == 5000
    with pytest.raises(ValueError, match="10000 was not allocated"):
        ports.release(10000)


@pytest.mark.parametrize(
    ("start", "end"), [(10000, 10000), (10001, 10002), (80, 2000), (60000, 70000)]
)
def test_allocator_rejects_ranges_without_a_pair(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="holds no even/odd pair"):
        PortAllocator(start, end)


def test_relay_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        MediaRelay("pbx.local")
    with pytest.raises(ValueError, match="relatch_packets"):
        MediaRelay(LOOPBACK, relatch_packets=0)
    with pytest.raises(ValueError, match="dscp"):
        MediaRelay(LOOPBACK, dscp=64)


# --- spare endpoints: sockets of ended sessions reused after a quiet rest ----------------------


async def test_spare_endpoints_are_reused_after_a_quiet_rest(phones: list[Phone]) -> None:
    alice, bob = phones
    ports = PortAllocator(PORT_START, PORT_END)
    async with MediaRelay(LOOPBACK, ports, spare_endpoints=4, spare_rest_s=0.0) as relay:
        first = await connected(relay, alice, bob)
        used = {first.a.rtp_port, first.b.rtp_port}
        alice.send(rtp(1), first.a.local)
        await bob.receive()
        first.close()
        await first.wait_closed()  # at once: the pool owns the ports now
        assert relay.spare == 2
        assert ports.available == ports.capacity - 2
        assert first.stats().a_to_b.packets == 1  # frozen at close

        second = await connected(relay, alice, bob)
        assert {second.a.rtp_port, second.b.rtp_port} == used
        assert relay.spare == 0
        stats = second.stats()
        assert stats.a_to_b.packets == stats.a_to_b.stray == 0  # a fresh start
        assert not second.a.latched
        alice.send(rtp(2), second.a.local)
        data, _ = await bob.receive()
        assert data == rtp(2)
        assert second.a.latched
        assert first.stats().a_to_b.packets == 1  # the old call's record did not move
    assert relay.spare == 0
    assert ports.available == ports.capacity


async def test_spare_endpoint_that_hears_late_packets_is_not_reused(
    phones: list[Phone],
) -> None:
    alice, bob = phones
    ports = PortAllocator(PORT_START, PORT_END)
    async with MediaRelay(LOOPBACK, ports, spare_endpoints=4, spare_rest_s=0.05) as relay:
        first = await connected(relay, alice, bob)
        late_port = first.a.rtp_port
        first.close()
        await first.wait_closed()
        alice.send(rtp(9), (LOOPBACK, late_port))  # a late packet of the ended call
        await asyncio.sleep(0.1)
        nothing_forwarded = bob.inbox.empty()
        second = await relay.open_session("call-2")
        # A's old endpoint rests again; B's, quiet, is reused (for A of the new call).
        assert late_port not in (second.a.rtp_port, second.b.rtp_port)
        assert nothing_forwarded
        assert relay.spare == 1


async def test_spares_are_bounded_and_closed_with_the_relay() -> None:
    ports = PortAllocator(PORT_START, PORT_END)
    async with MediaRelay(LOOPBACK, ports, spare_endpoints=3) as relay:
        sessions = [await relay.open_session(f"call-{i}") for i in range(3)]
        for session in sessions:
            session.close()
        for session in sessions:
            await session.wait_closed()
        assert relay.spare == 3
        assert ports.available == ports.capacity - 3
    assert relay.spare == 0
    assert ports.available == ports.capacity


async def test_spares_resting_are_used_rather_than_refusing_a_call() -> None:
    ports = PortAllocator(PORT_START, PORT_START + 3)  # two pairs: one call
    async with MediaRelay(LOOPBACK, ports, spare_endpoints=2, spare_rest_s=60.0) as relay:
        first = await relay.open_session("call-1")
        first.close()
        second = await relay.open_session("call-2")  # both endpoints still resting
        assert relay.spare == 0
        with pytest.raises(PortsExhausted):
            await relay.open_session("call-3")
        second.close()


def test_spare_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="spare"):
        MediaRelay(LOOPBACK, spare_endpoints=-1)
    with pytest.raises(ValueError, match="spare"):
        MediaRelay(LOOPBACK, spare_rest_s=-0.5)
