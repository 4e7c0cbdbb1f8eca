"""SIP transport: the only SIP I/O. UDP datagrams and TCP streams in, bytes out (RFC 3261 §18).

This module moves bytes and nothing else: it parses each datagram or framed stream message with
`parse_message`, hands the result to a receiver together with `now`, and sends whatever bytes it
is given. Transactions, retransmissions and routing decisions live in the pure cores.

What it does, by standard:

- UDP (RFC 3261 §18.1.2, §18.2.1): one datagram is one message. Datagrams larger than
  `Limits.max_message_bytes` are dropped unread. A datagram that fails to parse is answered
  (400, 413, 414, 505, 513 …) when `error_response_bytes` can form a response, otherwise dropped
  with a named reason and a counter. CRLF keep-alives (RFC 5626 §4.4.1, as phones send them on
  UDP) are ignored.
- TCP (RFC 3261 §18.3): a stream is framed by Content-Length, which is mandatory on streams;
  CRLFs before a start line are skipped (RFC 3261 §7.5). A missing or conflicting Content-Length,
  or a message over the limits, is a framing error: answered when possible, then the connection
  is closed, because the stream can no longer be resynchronised. A message that frames correctly
  but fails to parse is answered and the connection kept.
- Keep-alive (RFC 5626 §3.5.1): a double-CRLF "ping" on a stream is answered by a single CRLF
  "pong".
- Connections (RFC 3261 §18.2.2, §18.3): every stream has an int id that `Peer.connection`
  carries, so a response leaves on the connection its request came in on. Without a live
  connection, `send` reuses one to the same (host, port) or opens one, queueing a bounded number
  of bytes until it is up; failures are counted, logged and reported to `on_send_failed`.
- Bounds: connections in total and per source IP, bytes buffered per connection (one message),
  bytes queued while connecting and unsent on a slow reader, a deadline for the first valid
  message on an inbound connection (slowloris guard) and an idle timeout.

TLS (RFC 3261 §26.2, RFC 5630) is the stream code with an `ssl.SSLContext`: the place is
`SipTransport._start_stream_server` (`ssl=` of `create_server`) and `SipTransport._connect`
(`ssl=`/`server_hostname=` of `create_connection`); `_StreamConnection` is unchanged. It is not
implemented yet and asking for `Transport.TLS` raises `ValueError`.

Per-packet problems are logged rate-limited (one line per reason per `log_interval_s`), never
per packet, so a flood cannot fill the journal.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, cast

from firmware.clock import Clock
from firmware.sip.errors import SipParseError
from firmware.sip.message import Limits, Request, Response, error_response_bytes, parse_message
from firmware.sip.peer import Peer, Transport
from firmware.sip.status import SipStatus

log = logging.getLogger(__name__)

Receiver = Callable[[Request | Response, Peer, float], None]
"""Called with each parsed message, where it came from and `now` (Clock seconds)."""

SendFailed = Callable[[Peer], None]
"""Called (from the loop, never from inside `send`) when bytes for `peer` could not be sent."""

_PING = b"\r\n\r\n"  # RFC 5626 §3.5.1: a client's keep-alive ping on a stream
_PONG = b"\r\n"  # … and the server's pong
_CRLF_BYTES = frozenset(b"\r\n")
_MAX_UDP_PAYLOAD = 65_507  # IPv4: 65 535 − 8 (UDP) − 20 (IP)
_MAX_COUNTER_KEYS = 64  # distinct drop reasons kept; others are summed under "other"

# RFC 3261 §20.14, §7.3.3: Content-Length or its compact form "l", on its own header line.
_CONTENT_LENGTH = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class TransportSettings:
    """Bounds and timers of the transport; the defaults suit an office PBX of ~100 phones."""

    max_connections: int = 1024
    """Open TCP connections in total, inbound and outbound."""
    max_connections_per_ip: int = 32
    """Inbound TCP connections from one source IP address."""
    first_message_timeout_s: float = 10.0
    """An inbound connection must deliver one valid message within this many seconds of
    connecting, or it is closed (slowloris guard)."""
    idle_timeout_s: float | None = 3700.0
    """A connection with no bytes either way for this long is closed; longer than the usual
    3600 s re-registration interval. None keeps idle connections open."""
    connect_timeout_s: float = 10.0
    """Seconds an outbound TCP connect may take before `on_send_failed` is called."""
    max_pending_bytes: int = 262_144
    """Bytes queued for an outbound connection that is still connecting."""
    max_write_buffer_bytes: int = 1_048_576
    """Unsent bytes a slow reader may hold in our buffer before its connection is closed."""
    udp_receive_buffer_bytes: int = 1_048_576
    """SO_RCVBUF asked for the UDP socket (best effort) to absorb bursts at 400 calls/s."""
    log_interval_s: float = 10.0
    """At most one log line per problem reason in this many seconds."""


@dataclass(frozen=True, slots=True)
class TransportStats:
    """A snapshot of the transport's counters (`SipTransport.stats()`)."""

    received: int
    """Messages parsed and handed to the receiver."""
    sent: int
    """`send` calls whose bytes were written or queued."""
    answered: int
    """Unparsable messages answered with an error response."""
    keepalives: int
    """CRLF keep-alives seen (ignored on UDP, answered on streams)."""
    drops: dict[str, int] = field(default_factory=dict)
    """Messages, connections or sends dropped, by reason."""
    connections: int = 0
    """Stream connections open now (including ones still connecting)."""
    connections_accepted: int = 0
    connections_opened: int = 0


class RateLimitedLog:
    """At most one log line per reason per `interval_s`; the next line says how many were
    suppressed. Keys are bounded: past `max_reasons` distinct reasons the table is reset."""

    def __init__(
        self, logger: logging.Logger, clock: Clock, interval_s: float, max_reasons: int = 256
    ) -> None:
        self._logger = logger
        self._clock = clock
        self._interval_s = interval_s
        self._max_reasons = max_reasons
        self._last: dict[str, tuple[float, int]] = {}  # reason -> (time logged, suppressed)

    def log(self, level: int, reason: str, msg: str, *args: object) -> None:
        """Log `msg % args` at `level` unless `reason` was logged less than `interval_s` ago."""
        if not self._logger.isEnabledFor(level):
            return
        now = self._clock.now()
        last = self._last.get(reason)
        if last is not None and now - last[0] < self._interval_s:
            self._last[reason] = (last[0], last[1] + 1)
            return
        if last is None and len(self._last) >= self._max_reasons:
            self._last.clear()
        suppressed = last[1] if last is not None else 0
        self._last[reason] = (now, 0)
        if suppressed:
            self._logger.log(level, msg + " (%d similar suppressed)", *args, suppressed)
        else:
            self._logger.log(level, msg, *args)


def _no_receiver(message: Request | Response, peer: Peer, now: float) -> None:
    log.debug("no receiver bound; dropping %s from %s", type(message).__name__, peer)


class SipTransport:
    """UDP and TCP SIP transport on one listen address and (when possible) one port.

    Use as `async with SipTransport(...) as transport:` or call `start()` and `close()`.
    `receiver` is called synchronously from the loop with every parsed message; it must not
    block. It may be bound after construction with `set_receiver` (the stack does that).
    """

    def __init__(
        self,
        *,
        listen_host: str,
        port: int,
        transports: Iterable[Transport],
        limits: Limits,
        clock: Clock,
        receiver: Receiver | None = None,
        settings: TransportSettings | None = None,
        on_send_failed: SendFailed | None = None,
        on_connection_closed: SendFailed | None = None,
        advertised_host: str | None = None,
    ) -> None:
        """`port` 0 binds an ephemeral port (tests); `local_address` tells which one.
        `advertised_host` is the address put in Via/Contact when `listen_host` is a wildcard.
        `on_send_failed(peer)` and `on_connection_closed(peer)` are called later from the loop
        (never inside `send`) when bytes for `peer` could not go out, and when a stream
        connection (its `peer.connection`) has closed.

        Raises `ValueError` for TLS (not implemented yet) or an empty set of transports.
        """
        self._enabled = frozenset(transports)
        if Transport.TLS in self._enabled:
            raise ValueError("SIP over TLS is not implemented yet (see module docstring)")
        if not self._enabled:
            raise ValueError("at least one transport must be enabled")
        self._listen_host = listen_host
        self._port = port
        self._advertised_host = advertised_host or listen_host
        self._limits = limits
        self._clock = clock
        self._receiver: Receiver = receiver or _no_receiver
        self._settings = settings or TransportSettings()
        self._on_send_failed = on_send_failed
        self._on_connection_closed = on_connection_closed
        self._ratelog = RateLimitedLog(log, clock, self._settings.log_interval_s)

        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._bound: dict[Transport, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

        self._connections: dict[int, _StreamConnection] = {}
        self._by_address: dict[tuple[str, int], _StreamConnection] = {}
        self._per_ip: dict[str, int] = {}
        self._next_connection_id = 1
        self._tasks: set[asyncio.Task[None]] = set()  # outbound connects, owned and awaited

        self._received = 0
        self._sent = 0
        self._answered = 0
        self._keepalives = 0
        self._accepted = 0
        self._opened = 0
        self._drops: Counter[str] = Counter()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the enabled transports. Raises `OSError` when the address cannot be bound."""
        self._loop = asyncio.get_running_loop()
        attempts = 8 if self._port == 0 else 1
        for attempt in range(attempts):
            try:
                await self._bind(self._port)
                return
            except OSError as exc:
                # An ephemeral UDP port may be taken for TCP: try another pair.
                await self._unbind()
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise

    async def _bind(self, port: int) -> None:
        assert self._loop is not None  # set by start(); not peer input
        if Transport.UDP in self._enabled:
            udp, _ = await self._loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self._listen_host, port)
            )
            self._udp = udp
            sock = udp.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_RCVBUF, self._settings.udp_receive_buffer_bytes
                    )
                except OSError as exc:  # best effort: the kernel may cap it
                    log.debug("SO_RCVBUF not set: %s", exc)
            port = udp.get_extra_info("sockname")[1]
            self._bound[Transport.UDP] = port
        if Transport.TCP in self._enabled:
            await self._start_stream_server(Transport.TCP, port)

    async def _start_stream_server(self, transport: Transport, port: int) -> None:
        assert self._loop is not None
        # TLS goes here: the same factory with `ssl=ssl_context` (and `ssl_handshake_timeout`).
        server = await self._loop.create_server(
            lambda: _StreamConnection(self, self._new_connection_id(), transport, None),
            host=self._listen_host,
            port=port,
            reuse_address=True,
        )
        self._server = server
        self._bound[transport] = server.sockets[0].getsockname()[1]

    async def _unbind(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._server is not None:
            self._server.close()
            self._server = None
        self._bound.clear()

    async def close(self) -> None:
        """Stop listening, close every connection and await the connect tasks. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for conn in list(self._connections.values()):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Aborted connections report connection_lost later; forget them now (idempotent).
        self._connections.clear()
        self._by_address.clear()
        self._per_ip.clear()
        server = self._server
        await self._unbind()
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- public API ----------------------------------------------------------------------------

    def set_receiver(self, receiver: Receiver) -> None:
        """Bind where parsed messages go (replaces the constructor's `receiver`)."""
        self._receiver = receiver

    def local_address(self, transport: Transport) -> tuple[str, int]:
        """(host, port) to put in Via sent-by and Contact for `transport`.

        Raises `ValueError` when `transport` is not enabled or the transport is not started.
        """
        port = self._bound.get(transport)
        if port is None:
            raise ValueError(f"{transport} is not listening")
        return self._advertised_host, port

    def send(self, data: bytes, peer: Peer) -> None:
        """Send one serialized message to `peer`. Never raises for network reasons.

        UDP: one `sendto`. TCP: on `peer.connection` if it is open, else on an open connection
        to (host, port), else on a new connection opened in the background (bytes are queued,
        bounded). A failure is counted, logged rate-limited and, for connects, reported to
        `on_send_failed(peer)` from the loop. For UDP, `peer.host` must be an IP literal:
        name resolution (RFC 3263) is the caller's job and must not block the loop here.
        """
        transport = peer.transport
        if transport is Transport.UDP:
            udp = self._udp
            if udp is None or udp.is_closing():
                self._drop("udp not listening", peer)
                return
            if len(data) > _MAX_UDP_PAYLOAD:
                # RFC 3261 §18.1.1 wants TCP for large requests; the sender chooses the peer.
                self._drop("datagram too large to send", peer)
                self._report_failure(peer)
                return
            try:
                udp.sendto(data, peer.address)
            except OSError as exc:
                self._drop("udp send error", peer, exc)
                return
            self._sent += 1
            return
        if transport not in self._enabled:
            self._drop(f"{transport.lower()} not enabled", peer)
            self._report_failure(peer)
            return
        conn: _StreamConnection | None = None
        if peer.connection is not None:
            conn = self._connections.get(peer.connection)
        if conn is None or conn.closing:
            conn = self._by_address.get(peer.address)
        if conn is None or conn.closing:
            conn = self._connect(peer)
            if conn is None:
                return
        if conn.write(data):
            self._sent += 1

    def stats(self) -> TransportStats:
        """A snapshot of the counters."""
        return TransportStats(
            received=self._received,
            sent=self._sent,
            answered=self._answered,
            keepalives=self._keepalives,
            drops=dict(self._drops),
            connections=len(self._connections),
            connections_accepted=self._accepted,
            connections_opened=self._opened,
        )

    # -- internals shared with the protocols ---------------------------------------------------

    def _new_connection_id(self) -> int:
        cid = self._next_connection_id
        self._next_connection_id += 1
        return cid

    def _drop(self, reason: str, peer: Peer | str, exc: object = None) -> None:
        drops = self._drops
        if reason not in drops and len(drops) >= _MAX_COUNTER_KEYS:
            reason = "other"
        drops[reason] += 1
        if exc is None:
            self._ratelog.log(logging.INFO, reason, "SIP drop (%s) from/to %s", reason, peer)
        else:
            self._ratelog.log(
                logging.INFO, reason, "SIP drop (%s) from/to %s: %s", reason, peer, exc
            )

    def _report_failure(self, peer: Peer) -> None:
        callback = self._on_send_failed
        if callback is not None and self._loop is not None and not self._closed:
            # Deferred: `send` is called from inside the stack's flush; never re-enter it.
            self._loop.call_soon(callback, peer)

    def _reject_udp(self, data: bytes, exc: SipParseError, addr: tuple[str, int]) -> None:
        """A datagram that did not parse: answer if possible, else drop (style §4)."""
        if not data.strip(b"\r\n\t "):
            self._keepalives += 1  # RFC 5626 §4.4.1 CRLF keep-alive on UDP: ignore
            return
        self._drop(exc.reason, f"udp:{addr[0]}:{addr[1]}")
        answer = error_response_bytes(data, exc)
        if answer is not None and self._udp is not None:
            try:
                self._udp.sendto(answer, addr)
            except OSError as send_exc:
                self._drop("udp send error", f"udp:{addr[0]}:{addr[1]}", send_exc)
                return
            self._answered += 1

    def _admit(self, conn: _StreamConnection, ip: str) -> bool:
        """Count an inbound connection against the limits; False if it must be refused."""
        if self._closed:
            return False
        if len(self._connections) >= self._settings.max_connections:
            self._drop("too many connections", ip)
            return False
        if self._per_ip.get(ip, 0) >= self._settings.max_connections_per_ip:
            self._drop("too many connections from one address", ip)
            return False
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        self._register(conn)
        self._accepted += 1
        return True

    def _register(self, conn: _StreamConnection) -> None:
        self._connections[conn.id] = conn
        assert conn.peer is not None
        self._by_address.setdefault(conn.peer.address, conn)

    def _forget(self, conn: _StreamConnection) -> None:
        if self._connections.pop(conn.id, None) is None:
            return
        peer = conn.peer
        assert peer is not None
        if self._by_address.get(peer.address) is conn:
            del self._by_address[peer.address]
        if conn.inbound:
            left = self._per_ip.get(peer.host, 1) - 1
            if left > 0:
                self._per_ip[peer.host] = left
            else:
                self._per_ip.pop(peer.host, None)
        callback = self._on_connection_closed
        if callback is not None and self._loop is not None and not self._closed:
            # Deferred like `on_send_failed`: the registrar forgets contacts learnt over it.
            self._loop.call_soon(callback, peer)

    def _connect(self, peer: Peer) -> _StreamConnection | None:
        """Start an outbound connection to `peer` and return it (still connecting), or None."""
        loop = self._loop
        if loop is None or self._closed:
            self._drop("transport not started", peer)
            return None
        if len(self._connections) >= self._settings.max_connections:
            self._drop("too many connections", peer)
            self._report_failure(peer)
            return None
        cid = self._new_connection_id()
        conn = _StreamConnection(
            self, cid, peer.transport, Peer(peer.transport, peer.host, peer.port, cid)
        )
        self._register(conn)
        self._opened += 1
        task = loop.create_task(self._open(conn, peer), name=f"sip-connect-{peer}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return conn

    async def _open(self, conn: _StreamConnection, requested: Peer) -> None:
        assert self._loop is not None
        try:
            async with asyncio.timeout(self._settings.connect_timeout_s):
                # TLS goes here: `ssl=ssl_context, server_hostname=requested.host`.
                await self._loop.create_connection(lambda: conn, requested.host, requested.port)
        except (OSError, TimeoutError) as exc:
            reason = "connect timeout" if isinstance(exc, TimeoutError) else "connect failed"
            self._drop(reason, requested, exc)
            conn.failed()
            self._report_failure(requested)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP connect task failed", exc_info=task.exception())


class _UdpProtocol(asyncio.DatagramProtocol):
    """The UDP receive path: kept lean, it runs once per datagram at 400 calls/s."""

    def __init__(self, owner: SipTransport) -> None:
        self._owner = owner
        self._limits = owner._limits
        self._max_bytes = owner._limits.max_message_bytes
        self._clock = owner._clock

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        owner = self._owner
        if len(data) > self._max_bytes:
            owner._drop("datagram too large", f"udp:{addr[0]}:{addr[1]}")
            return
        try:
            message = parse_message(data, self._limits)
        except SipParseError as exc:
            owner._reject_udp(data, exc, addr)
            return
        owner._received += 1
        owner._receiver(message, Peer(Transport.UDP, addr[0], addr[1]), self._clock.now())

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable …) surface here on the next socket call: count them.
        self._owner._drop("udp socket error", "udp", exc)


class _StreamConnection(asyncio.Protocol):
    """One TCP connection: framing by Content-Length (RFC 3261 §18.3), keep-alive pong,
    bounded buffers and the idle/first-message timer."""

    def __init__(
        self, owner: SipTransport, cid: int, transport: Transport, peer: Peer | None
    ) -> None:
        self._owner = owner
        self.id = cid
        self.inbound = peer is None
        self.peer = peer  # known at once for outbound; set in connection_made for inbound
        self.closing = False
        self._kind = transport
        self._limits = owner._limits
        self._settings = owner._settings
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._scan_from = 0  # where to resume looking for the end of the head
        self._need = 0  # total bytes of the message being framed, once its head is read
        self._pending = bytearray()  # outbound bytes queued while connecting
        self._valid = False  # has delivered a message that parsed
        self._timer: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._last_activity = 0.0

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream protocol is always given a stream transport, but uvloop's TCPTransport does
        # not subclass asyncio.Transport, so an isinstance check would refuse every connection.
        self._transport = cast(asyncio.Transport, transport)
        owner = self._owner
        if self.inbound:
            name = transport.get_extra_info("peername")
            self.peer = Peer(self._kind, name[0], name[1], self.id)
            if not owner._admit(self, name[0]):
                self.closing = True
                self._transport.abort()
                return
        else:
            self._valid = True  # we chose to connect; the first-message guard is for strangers
        loop = asyncio.get_running_loop()
        self._started = self._last_activity = loop.time()
        self._arm(loop)
        if self._pending:
            pending, self._pending = bytes(self._pending), bytearray()
            self.write(pending)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buf.clear()
        self._pending.clear()
        self._owner._forget(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self._last_activity = asyncio.get_running_loop().time()
        buf = self._buf
        buf += data
        if self._need and len(buf) < self._need:
            return  # the body of the current message is still arriving
        self._frame()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    # -- framing -------------------------------------------------------------------------------

    def _frame(self) -> None:
        buf = self._buf
        owner = self._owner
        limits = self._limits
        while buf and not self.closing:
            if not self._need:
                if buf[0] in _CRLF_BYTES:
                    if buf.startswith(_PING):
                        del buf[:4]
                        owner._keepalives += 1
                        self.write(_PONG)
                        continue
                    if len(buf) < 4 and _PING.startswith(buf):
                        return  # maybe the rest of a ping
                    del buf[:1]  # RFC 3261 §7.5: CRLFs before a start line are ignored
                    self._scan_from = 0
                    continue
                if not self._read_head():
                    if len(buf) > limits.max_message_bytes:
                        self._framing_error(SipStatus.MESSAGE_TOO_LARGE, "message too large")
                    return
            if len(buf) < self._need:
                return
            need = self._need
            data = bytes(buf[:need])
            del buf[:need]
            self._need = 0
            self._scan_from = 0
            try:
                message = parse_message(data, limits)
            except SipParseError as exc:
                # Framed correctly: the stream is still in step, so answer and keep it.
                owner._drop(exc.reason, self.peer or "tcp")
                self._answer(data, exc)
                continue
            if not self._valid:
                self._first_valid_message()
            owner._received += 1
            assert self.peer is not None
            owner._receiver(message, self.peer, owner._clock.now())

    def _read_head(self) -> bool:
        """Find the end of the head and the Content-Length; set `_need`. False: need more
        bytes (or the connection was closed for a framing error)."""
        buf = self._buf
        start = self._scan_from
        end = buf.find(b"\r\n\r\n", start)
        lf = buf.find(b"\n\n", start, end if end >= 0 else len(buf))  # LF-only phones
        if lf >= 0:
            head_end, body_start = lf, lf + 2
        elif end >= 0:
            head_end, body_start = end, end + 4
        else:
            self._scan_from = max(0, len(buf) - 3)
            return False
        head = bytes(buf[:head_end])
        values = {v.strip() for v in _CONTENT_LENGTH.findall(head)}
        if not values:
            # RFC 3261 §18.3: Content-Length is mandatory on a stream; we cannot find the end.
            self._framing_error(SipStatus.BAD_REQUEST, "missing Content-Length", head)
            return False
        if len(values) > 1:
            self._framing_error(SipStatus.BAD_REQUEST, "conflicting Content-Length", head)
            return False
        (value,) = values
        if not (value.isascii() and value.isdigit()) or len(value) > 9:
            self._framing_error(SipStatus.BAD_REQUEST, "malformed Content-Length", head)
            return False
        length = int(value)
        if length > self._limits.max_body_bytes:
            self._framing_error(SipStatus.REQUEST_ENTITY_TOO_LARGE, "body too large", head)
            return False
        total = body_start + length
        if total > self._limits.max_message_bytes:
            self._framing_error(SipStatus.MESSAGE_TOO_LARGE, "message too large", head)
            return False
        self._need = total
        return True

    def _framing_error(self, status: SipStatus, reason: str, head: bytes = b"") -> None:
        """The stream is out of step: answer if the head allows, then close (RFC 3261 §18.3)."""
        self._owner._drop(reason, self.peer or "tcp")
        if head:
            self._answer(head + b"\r\n\r\n", SipParseError(status, reason))
        self.close()

    def _answer(self, data: bytes, exc: SipParseError) -> None:
        answer = error_response_bytes(data, exc)
        if answer is not None:
            self.write(answer)
            self._owner._answered += 1

    # -- writing and closing -------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Write or queue `data`; False (and counted) if it was dropped."""
        if self.closing:
            self._owner._drop("connection closing", self.peer or "tcp")
            return False
        transport = self._transport
        if transport is None:
            if len(self._pending) + len(data) > self._settings.max_pending_bytes:
                self._owner._drop("connect queue full", self.peer or "tcp")
                return False
            self._pending += data
            return True
        transport.write(data)
        self._last_activity = asyncio.get_running_loop().time()
        if transport.get_write_buffer_size() > self._settings.max_write_buffer_bytes:
            self._owner._drop("write buffer full", self.peer or "tcp")
            self.abort()
            return False
        return True

    def close(self) -> None:
        """Close after the buffered writes (an error answer) have left."""
        self.closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self.closing = True
        if self._transport is not None:
            self._transport.abort()

    def failed(self) -> None:
        """The outbound connect failed: forget the connection and its queued bytes."""
        self.closing = True
        self._pending.clear()
        self._owner._forget(self)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        settings = self._settings
        if not self._valid:
            when = self._started + settings.first_message_timeout_s
        elif settings.idle_timeout_s is not None:
            when = self._last_activity + settings.idle_timeout_s
        else:
            self._timer = None
            return
        self._timer = loop.call_at(when, self._on_timer)

    def _first_valid_message(self) -> None:
        # Once per connection: swap the first-message deadline for the idle deadline.
        self._valid = True
        if self._timer is not None:
            self._timer.cancel()
        self._arm(asyncio.get_running_loop())

    def _on_timer(self) -> None:
        # One timer per connection, re-armed only when it fires: no churn per message.
        self._timer = None
        if self.closing:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        settings = self._settings
        if not self._valid and now >= self._started + settings.first_message_timeout_s:
            self._owner._drop("no valid message in time", self.peer or "tcp")
            self.abort()
            return
        idle = settings.idle_timeout_s
        if self._valid and idle is not None and now >= self._last_activity + idle:
            self._owner._drop("idle timeout", self.peer or "tcp")
            self.close()
            return
        self._arm(loop)
