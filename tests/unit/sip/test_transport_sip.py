"""SipTransport on real loopback sockets (RFC 3261 §18; RFC 5626 §3.5.1 keep-alive).

Every wait is bounded by `asyncio.timeout`; nothing sleeps to wait for a condition.
"""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from firmware.clock import MonotonicClock
from firmware.sip.message import Limits, Request, Response
from firmware.sip.peer import Peer, Transport
from firmware.sip.transport import SipTransport, TransportSettings, _StreamConnection

WAIT_S = 3.0


def options(call_id: str = "c1", body: bytes = b"", *, transport: str = "UDP") -> bytes:
    head = (
        "OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK{call_id}\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        "To: <sip:pbx@example.com>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\n"
        + ("Content-Type: text/plain\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


OK_RESPONSE = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKx\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\n"
    b"To: <sip:pbx@example.com>;tag=b1\r\n"
    b"Call-ID: resp1\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n"
)


class Inbox:
    """A receiver that records (or only counts) messages and lets a test await a count."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.count = 0
        self.items: list[tuple[Request | Response, Peer, float]] = []
        self._changed = asyncio.Event()

    def __call__(self, message: Request | Response, peer: Peer, now: float) -> None:
        self.count += 1
        if self.keep:
            self.items.append((message, peer, now))
        self._changed.set()

    async def wait_for(self, n: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while self.count < n:
                self._changed.clear()
                await self._changed.wait()


def make_transport(
    inbox: Inbox,
    *,
    limits: Limits | None = None,
    settings: TransportSettings | None = None,
    on_send_failed: Callable[[Peer], None] | None = None,
    on_connection_closed: Callable[[Peer], None] | None = None,
) -> SipTransport:
    return SipTransport(
        listen_host="127.0.0.1",
        port=0,
        transports=(Transport.UDP, Transport.TCP),
        limits=limits or Limits(),
        clock=MonotonicClock(),
        receiver=inbox,
        settings=settings,
        on_send_failed=on_send_failed,
        on_connection_closed=on_connection_closed,
    )


@pytest.fixture
async def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def transport(inbox: Inbox) -> AsyncIterator[SipTransport]:
    async with make_transport(inbox) as t:
        yield t


class UdpClient:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    def send(self, data: bytes, transport: SipTransport) -> None:
        self.sock.sendto(data, transport.local_address(Transport.UDP))

    async def recv(self) -> bytes:
        async with asyncio.timeout(WAIT_S):
            return await asyncio.get_running_loop().sock_recv(self.sock, 65_535)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def udp() -> Iterator[UdpClient]:
    client = UdpClient()
    yield client
    client.close()


async def tcp_connect(
    transport: SipTransport,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = transport.local_address(Transport.TCP)
    async with asyncio.timeout(WAIT_S):
        return await asyncio.open_connection(host, port)


async def read_message(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(WAIT_S):
        return await reader.readuntil(b"\r\n\r\n")


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the transport closes the connection."""
    async with asyncio.timeout(WAIT_S):
        return await reader.read()


# -- binding -----------------------------------------------------------------------------------


async def test_udp_and_tcp_share_one_ephemeral_port(transport: SipTransport) -> None:
    udp_host, udp_port = transport.local_address(Transport.UDP)
    tcp_host, tcp_port = transport.local_address(Transport.TCP)
    assert udp_host == tcp_host == "127.0.0.1"
    assert udp_port == tcp_port != 0


def test_tls_is_refused_until_implemented() -> None:
    with pytest.raises(ValueError, match="TLS"):
        SipTransport(
            listen_host="127.0.0.1",
            port=0,
            transports=(Transport.TLS,),
            limits=Limits(),
            clock=MonotonicClock(),
        )


# -- UDP ---------------------------------------------------------------------------------------


async def test_udp_options_reaches_the_receiver(
    transport: SipTransport, inbox: Inbox, udp: UdpClient
) -> None:
    udp.send(options("u1"), transport)
    await inbox.wait_for(1)
    message, peer, now = inbox.items[0]
    assert isinstance(message, Request) and message.method == "OPTIONS"
    assert message.call_id == "u1"
    assert peer == Peer(Transport.UDP, "127.0.0.1", udp.sock.getsockname()[1])
    assert now > 0
    assert transport.stats().received == 1


async def test_udp_malformed_with_readable_via_is_answered_400(
    transport: SipTransport, inbox: Inbox, udp: UdpClient
) -> None:
    bad = options("bad1").replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
    udp.send(bad, transport)
    answer = await udp.recv()
    assert answer.startswith(b"SIP/2.0 400 ")
    assert b"Call-ID: bad1" in answer and b"branch=z9hG4bKbad1" in answer
    stats = transport.stats()
    assert stats.answered == 1 and stats.drops == {"CSeq method does not match request": 1}
    assert inbox.count == 0


async def test_udp_unreadable_datagram_is_dropped_and_counted(
    transport: SipTransport, inbox: Inbox, udp: UdpClient
) -> None:
    udp.send(b"\x00\x01\x02 not sip at all", transport)
    # Then a datagram that IS answered: if the garbage had been answered, that answer would
    # arrive first (one socket, in order on loopback).
    udp.send(options("second").replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), transport)
    answer = await udp.recv()
    assert answer.startswith(b"SIP/2.0 505 ") and b"Call-ID: second" in answer
    stats = transport.stats()
    assert stats.answered == 1
    assert sum(stats.drops.values()) == 2 and inbox.count == 0


async def test_udp_crlf_keepalive_is_ignored(
    transport: SipTransport, inbox: Inbox, udp: UdpClient
) -> None:
    udp.send(b"\r\n\r\n", transport)
    udp.send(options("after-ping"), transport)
    await inbox.wait_for(1)
    stats = transport.stats()
    assert stats.keepalives == 1 and stats.drops == {} and stats.answered == 0


async def test_udp_datagram_over_the_limit_is_dropped_unanswered(
    inbox: Inbox, udp: UdpClient
) -> None:
    async with make_transport(inbox, limits=Limits(max_message_bytes=1_000)) as transport:
        udp.send(options("big", body=b"x" * 2_000), transport)
        udp.send(options("small"), transport)
        await inbox.wait_for(1)
        assert inbox.items[0][0].call_id == "small"
        assert transport.stats().drops == {"datagram too large": 1}


async def test_udp_send_reaches_the_peer(transport: SipTransport, udp: UdpClient) -> None:
    transport.send(OK_RESPONSE, Peer(Transport.UDP, "127.0.0.1", udp.sock.getsockname()[1]))
    assert await udp.recv() == OK_RESPONSE
    assert transport.stats().sent == 1


async def test_udp_ten_thousand_datagrams_all_arrive_without_leaking(udp: UdpClient) -> None:
    inbox = Inbox(keep=False)
    total, batch = 10_000, 200
    payloads = [options(f"load{i}") for i in range(batch)]
    async with make_transport(inbox) as transport:
        tracemalloc.start()
        try:
            baseline = 0
            for sent in range(0, total, batch):
                for data in payloads:
                    udp.send(data, transport)
                await inbox.wait_for(sent + batch)  # never overrun the socket buffer
                if sent == 1_000:
                    baseline = tracemalloc.get_traced_memory()[0]
            grown = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()
        stats = transport.stats()
    assert inbox.count == total
    assert stats.received == total and stats.drops == {}
    assert grown < 256 * 1024, f"{grown} bytes retained over 9 000 datagrams"


def test_udp_works_under_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        inbox = Inbox()
        client = UdpClient()
        try:
            async with make_transport(inbox) as transport:
                client.send(options("uv"), transport)
                await inbox.wait_for(1)
                transport.send(OK_RESPONSE, inbox.items[0][1])
                assert await client.recv() == OK_RESPONSE
        finally:
            client.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


# -- TCP framing (RFC 3261 §18.3) --------------------------------------------------------------


async def test_tcp_two_messages_in_one_segment(transport: SipTransport, inbox: Inbox) -> None:
    _, writer = await tcp_connect(transport)
    writer.write(options("t1", transport="TCP") + options("t2", b"hello", transport="TCP"))
    await inbox.wait_for(2)
    (m1, p1, _), (m2, p2, _) = inbox.items
    assert (m1.call_id, m2.call_id, m2.body) == ("t1", "t2", b"hello")
    assert p1 == p2 and p1.transport is Transport.TCP and p1.connection is not None
    writer.close()


async def test_tcp_one_message_across_many_segments(transport: SipTransport, inbox: Inbox) -> None:
    _, writer = await tcp_connect(transport)
    data = options("slow", b"v=0\r\n", transport="TCP")
    for i in range(0, len(data), 7):
        writer.write(data[i : i + 7])
        await writer.drain()
    await inbox.wait_for(1)
    assert inbox.items[0][0].call_id == "slow" and inbox.items[0][0].body == b"v=0\r\n"
    writer.close()


async def test_tcp_body_split_from_head(transport: SipTransport, inbox: Inbox) -> None:
    _, writer = await tcp_connect(transport)
    body = b"0123456789" * 30
    data = options("split", body, transport="TCP")
    head_len = len(data) - len(body)
    writer.write(data[:head_len])
    await writer.drain()
    writer.write(body[:100])
    await writer.drain()
    writer.write(body[100:] + b"\r\n\r\n")  # and a trailing keep-alive ping
    await inbox.wait_for(1)
    assert inbox.items[0][0].body == body


async def test_tcp_missing_content_length_gets_400_then_close(
    transport: SipTransport, inbox: Inbox
) -> None:
    reader, writer = await tcp_connect(transport)
    writer.write(options("nolen", transport="TCP").replace(b"Content-Length: 0\r\n", b""))
    rest = await read_eof(reader)
    assert rest.startswith(b"SIP/2.0 400 ") and b"missing Content-Length" in rest
    assert inbox.count == 0
    assert transport.stats().drops == {"missing Content-Length": 1}
    writer.close()


async def test_tcp_parse_error_with_good_framing_is_answered_and_connection_kept(
    transport: SipTransport, inbox: Inbox
) -> None:
    reader, writer = await tcp_connect(transport)
    writer.write(options("bad", transport="TCP").replace(b"CSeq: 1 OPTIONS", b"CSeq: x"))
    assert (await read_message(reader)).startswith(b"SIP/2.0 400 ")
    writer.write(options("good", transport="TCP"))
    await inbox.wait_for(1)
    assert inbox.items[0][0].call_id == "good"
    writer.close()


async def test_tcp_oversize_head_closes_the_connection(inbox: Inbox) -> None:
    async with make_transport(inbox, limits=Limits(max_message_bytes=2_000)) as transport:
        reader, writer = await tcp_connect(transport)
        writer.write(b"OPTIONS sip:x SIP/2.0\r\nX-Pad: " + b"a" * 3_000)
        assert await read_eof(reader) == b""
        assert transport.stats().drops == {"message too large": 1}
        writer.close()


async def test_tcp_oversize_body_is_answered_413_then_closed(inbox: Inbox) -> None:
    async with make_transport(inbox, limits=Limits(max_body_bytes=100)) as transport:
        reader, writer = await tcp_connect(transport)
        writer.write(options("fat", b"x" * 101, transport="TCP"))
        assert (await read_eof(reader)).startswith(b"SIP/2.0 413 ")
        writer.close()


async def test_tcp_keepalive_ping_gets_one_crlf_pong(transport: SipTransport, inbox: Inbox) -> None:
    reader, writer = await tcp_connect(transport)
    writer.write(b"\r\n\r\n")
    async with asyncio.timeout(WAIT_S):
        assert await reader.readexactly(2) == b"\r\n"
    writer.write(b"\r\n" + options("after", transport="TCP"))  # a stray CRLF is skipped
    await inbox.wait_for(1)
    assert transport.stats().keepalives == 1
    writer.close()


async def test_tcp_framing_byte_by_byte_through_the_protocol(inbox: Inbox) -> None:
    """Deterministic segmenting: feed the asyncio.Protocol one byte at a time."""
    async with make_transport(inbox) as transport:
        conn = _StreamConnection(transport, 99, Transport.TCP, None)
        fake = FakeStreamTransport(conn)
        conn.connection_made(fake)
        stream = b"\r\n\r\n" + options("a", b"xy", transport="TCP") + b"\r\n" + options("b")
        for i in range(len(stream)):
            conn.data_received(stream[i : i + 1])
        assert [m.call_id for m, _, _ in inbox.items] == ["a", "b"]
        assert inbox.items[0][0].body == b"xy"
        assert fake.written == [b"\r\n"]
        conn.connection_lost(None)
        assert transport.stats().connections == 0


class FakeStreamTransport(asyncio.Transport):
    def __init__(self, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.protocol = protocol
        self.written: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40_000) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


# -- TCP connections ---------------------------------------------------------------------------


async def test_tcp_per_ip_connection_limit(inbox: Inbox) -> None:
    settings = TransportSettings(max_connections_per_ip=2)
    async with make_transport(inbox, settings=settings) as transport:
        _, w1 = await tcp_connect(transport)
        _, w2 = await tcp_connect(transport)
        r3, w3 = await tcp_connect(transport)
        assert await read_eof(r3) == b""
        w1.write(options("still-ok", transport="TCP"))
        await inbox.wait_for(1)
        stats = transport.stats()
        assert stats.connections == 2 and stats.connections_accepted == 2
        assert stats.drops == {"too many connections from one address": 1}
        for w in (w1, w2, w3):
            w.close()


async def test_tcp_total_connection_limit(inbox: Inbox) -> None:
    settings = TransportSettings(max_connections=1)
    async with make_transport(inbox, settings=settings) as transport:
        _, w1 = await tcp_connect(transport)
        r2, w2 = await tcp_connect(transport)
        assert await read_eof(r2) == b""
        assert transport.stats().drops == {"too many connections": 1}
        w1.close()
        w2.close()


async def test_tcp_connection_without_a_valid_message_times_out(inbox: Inbox) -> None:
    settings = TransportSettings(first_message_timeout_s=0.2)
    async with make_transport(inbox, settings=settings) as transport:
        reader, writer = await tcp_connect(transport)
        writer.write(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h")  # slowloris: never ends
        assert await read_eof(reader) == b""
        assert transport.stats().drops == {"no valid message in time": 1}
        assert transport.stats().connections == 0  # EOF came after connection_lost ran
        writer.close()


async def test_tcp_connection_with_a_valid_message_outlives_the_first_message_timeout(
    inbox: Inbox,
) -> None:
    settings = TransportSettings(first_message_timeout_s=0.1, idle_timeout_s=5.0)
    async with make_transport(inbox, settings=settings) as transport:
        reader, writer = await tcp_connect(transport)
        writer.write(options("early", transport="TCP"))
        await inbox.wait_for(1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):  # three first-message timeouts pass: still open
                await reader.read()
        assert transport.stats().connections == 1
        writer.close()


async def test_tcp_idle_connection_is_closed(inbox: Inbox) -> None:
    settings = TransportSettings(first_message_timeout_s=5.0, idle_timeout_s=0.2)
    async with make_transport(inbox, settings=settings) as transport:
        reader, writer = await tcp_connect(transport)
        writer.write(options("then-quiet", transport="TCP"))
        await inbox.wait_for(1)
        assert await read_eof(reader) == b""
        assert transport.stats().drops == {"idle timeout": 1}
        writer.close()


async def test_tcp_response_goes_back_on_the_same_connection(
    transport: SipTransport, inbox: Inbox
) -> None:
    r1, w1 = await tcp_connect(transport)
    r2, w2 = await tcp_connect(transport)
    w1.write(options("one", transport="TCP"))
    await inbox.wait_for(1)
    w2.write(options("two", transport="TCP"))
    await inbox.wait_for(2)
    peer_one, peer_two = inbox.items[0][1], inbox.items[1][1]
    assert peer_one.connection != peer_two.connection
    transport.send(OK_RESPONSE.replace(b"resp1", b"for-two"), peer_two)
    transport.send(OK_RESPONSE.replace(b"resp1", b"for-one"), peer_one)
    assert b"Call-ID: for-one" in await read_message(r1)
    assert b"Call-ID: for-two" in await read_message(r2)
    assert transport.stats().connections_opened == 0  # no new connection was needed
    w1.close()
    w2.close()


async def test_tcp_send_opens_one_connection_and_reuses_it(inbox: Inbox) -> None:
    accepted: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    got_two = asyncio.Event()
    chunks: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append((reader, writer))
        data = b""
        while data.count(b"\r\n\r\n") < 2:
            chunk = await reader.read(65_536)
            if not chunk:
                break
            data += chunk
        chunks.append(data)
        got_two.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make_transport(inbox) as transport:
            dest = Peer(Transport.TCP, "127.0.0.1", port)
            transport.send(options("out1", transport="TCP"), dest)  # queued while connecting
            transport.send(options("out2", transport="TCP"), dest)
            async with asyncio.timeout(WAIT_S):
                await got_two.wait()
            assert len(accepted) == 1
            assert b"Call-ID: out1" in chunks[0] and b"Call-ID: out2" in chunks[0]
            # The far end answers on that connection; it arrives tagged with its id.
            accepted[0][1].write(OK_RESPONSE)
            await inbox.wait_for(1)
            message, peer, _ = inbox.items[0]
            assert isinstance(message, Response) and message.status == 200
            assert peer.connection is not None and peer.port == port
            stats = transport.stats()
            assert stats.connections_opened == 1 and stats.sent == 2
            for _, writer in accepted:
                writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_tcp_connect_failure_calls_on_send_failed(inbox: Inbox) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    failed: asyncio.Queue[Peer] = asyncio.Queue()
    async with make_transport(inbox, on_send_failed=failed.put_nowait) as transport:
        dest = Peer(Transport.TCP, "127.0.0.1", port)
        transport.send(options("nowhere", transport="TCP"), dest)
        async with asyncio.timeout(WAIT_S):
            assert await failed.get() == dest
        stats = transport.stats()
        assert stats.drops == {"connect failed": 1} and stats.connections == 0


async def test_closed_inbound_connection_is_reported_with_its_peer(inbox: Inbox) -> None:
    closed: asyncio.Queue[Peer] = asyncio.Queue()
    async with make_transport(inbox, on_connection_closed=closed.put_nowait) as transport:
        _, writer = await tcp_connect(transport)
        writer.write(options("c1", transport="TCP"))
        await inbox.wait_for(1)
        _, source, _ = inbox.items[0]
        writer.close()
        async with asyncio.timeout(WAIT_S):
            gone = await closed.get()
        # The same Peer the message came with: the registrar drops what it learnt over it.
        assert gone == source and gone.connection is not None
