"""SipStack: the adapter between a (fake) transaction layer, a transport and a TU.

The fake layer has the shape of `firmware.sip.transaction.TransactionLayer`. Timer tests drive a
`ManualClock` and a recording loop, so nothing waits on wall time; one end-to-end test runs the
real transport on loopback and the real loop timer with a short deadline.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest

from firmware.clock import ManualClock, MonotonicClock
from firmware.sip.errors import SipParseError
from firmware.sip.message import Limits, Request, Response, make_response, parse_message
from firmware.sip.peer import Peer, Transport
from firmware.sip.stack import SipStack, TransactionStack
from firmware.sip.status import SipStatus
from firmware.sip.transaction import RequestReceived as RealRequestReceived
from firmware.sip.transaction import TransactionEvent, TransactionLayer
from firmware.sip.transport import SipTransport

ALICE = Peer(Transport.UDP, "192.0.2.10", 5060)


def options(call_id: str, method: str = "OPTIONS") -> Request:
    message = parse_message(
        (
            f"{method} sip:pbx@192.0.2.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{call_id}\r\n"
            "From: <sip:alice@example.com>;tag=a1\r\n"
            "To: <sip:pbx@example.com>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: 1 {method}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode(),
        Limits(),
    )
    assert isinstance(message, Request)
    return message


# -- fakes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestReceived:
    request: Request
    source: Peer
    tx: int


@dataclass(frozen=True)
class TransactionTimedOut:
    tx: int


class FakeLayer:
    """Shape of TransactionLayer: every request becomes one server tx and one event; a
    deadline can be scheduled by hand; `log` records the order of everything."""

    def __init__(self, log: list[str], clock: ManualClock | MonotonicClock) -> None:
        self.log = log
        self.clock = clock
        self.out: list[tuple[bytes, Peer]] = []
        self.events: deque[RequestReceived | TransactionTimedOut] = deque()
        self.sources: dict[int, Peer] = {}
        self.deadlines: list[float] = []
        self.timer_calls: list[float] = []
        self.timer_ran = asyncio.Event()
        self.next_tx = 1
        self.extra_on_receive: list[bytes] = []

    def receive(self, message: Request | Response, source: Peer, now: float) -> None:
        assert isinstance(message, Request)
        self.log.append(f"layer.receive {message.call_id}")
        if message.call_id.startswith("unreadable"):
            raise SipParseError(SipStatus.BAD_REQUEST, "malformed Via")
        tx = self.next_tx
        self.next_tx += 1
        self.sources[tx] = source
        for data in self.extra_on_receive:
            self.out.append((data, source))
        self.events.append(RequestReceived(message, source, tx))

    def send_request(self, request: Request, dest: Peer, now: float) -> int:
        self.log.append(f"layer.send_request {request.call_id}")
        self.out.append((bytes(request), dest))
        tx = self.next_tx
        self.next_tx += 1
        return tx

    def send_response(self, tx: int, response: Response, now: float) -> None:
        self.log.append(f"layer.send_response {response.status}")
        self.out.append((bytes(response), self.sources[tx]))

    def send_stateless(self, message: Request | Response, dest: Peer) -> None:
        self.out.append((bytes(message), dest))

    def handle_timers(self, now: float) -> None:
        self.timer_calls.append(now)
        self.timer_ran.set()
        due = [d for d in self.deadlines if d <= now]
        self.deadlines = [d for d in self.deadlines if d > now]
        for _ in due:
            self.events.append(TransactionTimedOut(0))

    def next_deadline(self) -> float | None:
        return min(self.deadlines, default=None)

    def outgoing(self) -> list[tuple[bytes, Peer]]:
        out, self.out = self.out, []
        return out

    def next_event(self) -> RequestReceived | TransactionTimedOut | None:
        return self.events.popleft() if self.events else None


class FakeTransport:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.sent: list[tuple[bytes, Peer]] = []
        self.receiver: Callable[[Request | Response, Peer, float], None] | None = None

    def send(self, data: bytes, peer: Peer) -> None:
        self.log.append("send " + data.split(b"\r\n", 1)[0].decode())
        self.sent.append((data, peer))

    def local_address(self, transport: Transport) -> tuple[str, int]:
        return ("192.0.2.1", 5060)

    def set_receiver(self, receiver: Callable[[Request | Response, Peer, float], None]) -> None:
        self.receiver = receiver


class Tu:
    """Answers every request with 200 from inside handle(), as the B2BUA would."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.stack: SipStack[Any, int, int] | None = None
        self.fail_on: set[str] = set()
        self.answer = True
        self.handled: list[object] = []
        self.timed_out = asyncio.Event()

    def handle(self, event: RequestReceived | TransactionTimedOut) -> None:
        self.handled.append(event)
        if isinstance(event, RequestReceived):
            self.log.append(f"tu.handle {event.request.call_id}")
            if event.request.call_id in self.fail_on:
                raise RuntimeError("TU bug")
            if self.answer and self.stack is not None:
                self.stack.send_response(event.tx, make_response(event.request, 200))
        else:
            self.log.append("tu.handle timeout")
            self.timed_out.set()


class FakeHandle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self._when = when
        self.callback = callback
        self._cancelled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class RecordingLoop:
    """Just `time()` and `call_at()` of an event loop, on the ManualClock's scale."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.armed: list[FakeHandle] = []

    def time(self) -> float:
        return self.clock.now()

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle(when, callback)
        self.armed.append(handle)
        return handle

    def fire_due(self) -> int:
        """Run every live timer whose time has come; how many ran."""
        due = [h for h in self.armed if not h.cancelled() and h.when() <= self.clock.now()]
        self.armed = [h for h in self.armed if h not in due and not h.cancelled()]
        for handle in due:
            handle.callback()
        return len(due)

    @property
    def live(self) -> list[FakeHandle]:
        return [h for h in self.armed if not h.cancelled()]


@dataclass
class Rig:
    log: list[str]
    clock: ManualClock
    loop: RecordingLoop
    layer: FakeLayer
    transport: FakeTransport
    tu: Tu
    stack: SipStack[Any, int, int]

    def deliver(self, call_id: str) -> None:
        assert self.transport.receiver is not None
        self.transport.receiver(options(call_id), ALICE, self.clock.now())


@pytest.fixture
def rig() -> Rig:
    log: list[str] = []
    clock = ManualClock(100.0)
    loop = RecordingLoop(clock)
    layer = FakeLayer(log, clock)
    transport = FakeTransport(log)
    tu = Tu(log)
    stack: SipStack[Any, int, int] = SipStack(
        layer, transport, clock, tu, loop=cast(asyncio.AbstractEventLoop, loop)
    )
    tu.stack = stack
    return Rig(log, clock, loop, layer, transport, tu, stack)


# -- flush -------------------------------------------------------------------------------------


def test_stack_binds_itself_as_the_transport_receiver(rig: Rig) -> None:
    assert rig.transport.receiver == rig.stack.receive


def test_flush_sends_queued_bytes_before_events_and_tu_answers_in_order(rig: Rig) -> None:
    rig.layer.extra_on_receive = [b"SIP/2.0 100 Trying\r\n\r\n"]
    rig.deliver("c1")
    assert rig.log == [
        "layer.receive c1",
        "send SIP/2.0 100 Trying",  # what the layer queued leaves before the TU runs
        "tu.handle c1",
        "layer.send_response 200",  # re-entrant: the TU answered from inside handle()
        "send SIP/2.0 200 OK",
    ]
    assert rig.transport.sent[-1][1] == ALICE


def test_tu_answer_leaves_before_the_next_event_is_dispatched(rig: Rig) -> None:
    rig.layer.events.extend(
        [RequestReceived(options("e1"), ALICE, 1), RequestReceived(options("e2"), ALICE, 1)]
    )
    rig.layer.sources[1] = ALICE
    rig.stack.flush()
    assert rig.log == [
        "tu.handle e1",
        "layer.send_response 200",
        "send SIP/2.0 200 OK",
        "tu.handle e2",
        "layer.send_response 200",
        "send SIP/2.0 200 OK",
    ]


def test_send_request_from_outside_an_event_flushes_at_once(rig: Rig) -> None:
    tx = rig.stack.send_request(options("out"), ALICE)
    assert tx == 1
    assert rig.log == ["layer.send_request out", "send OPTIONS sip:pbx@192.0.2.1 SIP/2.0"]
    assert rig.stack.local_address(Transport.UDP) == ("192.0.2.1", 5060)


def test_tu_exception_is_logged_with_call_id_and_the_stack_carries_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.tu.fail_on = {"boom"}
    rig.layer.events.extend(
        [RequestReceived(options("boom"), ALICE, 1), RequestReceived(options("fine"), ALICE, 1)]
    )
    rig.layer.sources[1] = ALICE
    with caplog.at_level(logging.ERROR, logger="firmware.sip.stack"):
        rig.stack.flush()
    assert "tu.handle fine" in rig.log and rig.log[-1] == "send SIP/2.0 200 OK"
    assert len(caplog.records) == 1
    assert "'boom'" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is not None
    assert rig.stack.stats().tu_errors == 1
    rig.deliver("later")  # and the next message is handled normally
    assert rig.log[-1] == "send SIP/2.0 200 OK"


def test_base_exceptions_from_the_tu_are_not_swallowed(rig: Rig) -> None:
    def cancelled(event: object) -> None:
        raise asyncio.CancelledError

    rig.tu.handle = cancelled  # type: ignore[method-assign]
    rig.layer.events.append(TransactionTimedOut(1))
    with pytest.raises(asyncio.CancelledError):
        rig.stack.flush()
    rig.layer.events.append(TransactionTimedOut(2))
    rig.tu.handle = Tu(rig.log).handle  # type: ignore[method-assign]
    rig.stack.flush()  # the flushing guard was released
    assert rig.log[-1] == "tu.handle timeout"


def test_request_the_layer_refuses_is_answered_and_counted(rig: Rig) -> None:
    rig.deliver("unreadable-1")
    data, peer = rig.transport.sent[-1]
    assert data.startswith(b"SIP/2.0 400 Bad Request (malformed Via)") and peer == ALICE
    assert b"Call-ID: unreadable-1" in data
    assert rig.stack.stats().refused == {"malformed Via": 1}
    assert rig.tu.handled == []


def test_ack_the_layer_refuses_is_dropped_unanswered(rig: Rig) -> None:
    assert rig.transport.receiver is not None
    rig.transport.receiver(options("unreadable-ack", "ACK"), ALICE, rig.clock.now())
    assert rig.transport.sent == []
    assert rig.stack.stats().refused == {"malformed Via": 1}


# -- the one timer -----------------------------------------------------------------------------


def test_timer_is_armed_at_the_deadline_and_runs_handle_timers(rig: Rig) -> None:
    rig.tu.answer = False
    rig.layer.deadlines = [100.5]
    rig.deliver("c1")
    assert [h.when() for h in rig.loop.live] == [100.5]
    rig.clock.advance(0.4)
    assert rig.loop.fire_due() == 0
    rig.clock.advance(0.1)
    assert rig.loop.fire_due() == 1
    assert rig.layer.timer_calls == [pytest.approx(100.5)]
    assert rig.log[-1] == "tu.handle timeout"
    assert rig.loop.live == []  # no deadline left: nothing armed


def test_later_deadline_does_not_churn_the_timer(rig: Rig) -> None:
    rig.tu.answer = False
    rig.layer.deadlines = [101.0]
    rig.deliver("c1")
    first = rig.loop.live
    rig.layer.deadlines.append(105.0)
    rig.deliver("c2")
    rig.deliver("c3")
    assert rig.loop.live == first and len(rig.loop.armed) == 1


def test_earlier_deadline_replaces_the_timer(rig: Rig) -> None:
    rig.tu.answer = False
    rig.layer.deadlines = [101.0]
    rig.deliver("c1")
    rig.layer.deadlines.append(100.2)
    rig.deliver("c2")
    assert [h.when() for h in rig.loop.live] == [100.2]
    rig.clock.advance(0.2)
    rig.loop.fire_due()
    # Fired for 100.2; rearmed for the remaining 101.0.
    assert [h.when() for h in rig.loop.live] == [101.0]
    rig.clock.advance(0.8)
    rig.loop.fire_due()
    assert (
        rig.layer.timer_calls == [pytest.approx(100.2), pytest.approx(101.0)]
        and rig.loop.live == []
    )


def test_nested_flush_arms_the_timer_once(rig: Rig) -> None:
    def answer_and_schedule(event: object) -> None:
        rig.layer.deadlines.append(100.3)
        rig.stack.send_request(options("nested"), ALICE)

    rig.tu.handle = answer_and_schedule  # type: ignore[method-assign]
    rig.layer.events.append(TransactionTimedOut(1))
    rig.stack.flush()
    assert len(rig.loop.armed) == 1 and rig.loop.armed[0].when() == 100.3


def test_close_cancels_the_timer(rig: Rig) -> None:
    rig.tu.answer = False
    rig.layer.deadlines = [101.0]
    rig.deliver("c1")
    rig.stack.close()
    assert rig.loop.live == []
    rig.deliver("c2")
    assert rig.loop.live == []


# -- end to end on the real loop and sockets -----------------------------------------------------


async def test_stack_over_real_udp_answers_and_fires_a_real_timer() -> None:
    log: list[str] = []
    clock = MonotonicClock()
    layer = FakeLayer(log, clock)
    tu = Tu(log)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        async with SipTransport(
            listen_host="127.0.0.1",
            port=0,
            transports=(Transport.UDP,),
            limits=Limits(),
            clock=clock,
        ) as transport:
            stack: SipStack[Any, int, int] = SipStack(layer, transport, clock, tu)
            tu.stack = stack
            deadline = clock.now() + 0.05
            layer.deadlines = [deadline]
            client.sendto(bytes(options("real")), transport.local_address(Transport.UDP))
            async with asyncio.timeout(3.0):
                answer = await loop.sock_recv(client, 65_535)
            assert answer.startswith(b"SIP/2.0 200 OK") and b"Call-ID: real" in answer
            async with asyncio.timeout(3.0):
                await tu.timed_out.wait()
            assert layer.timer_calls[-1] >= deadline
            assert log[-1] == "tu.handle timeout"
            stats = stack.stats()
            assert stats.received == 1 and stats.timer_wakeups >= 1
            stack.close()
    finally:
        client.close()


class RealTu:
    """Answers every request 200 through the stack, as the B2BUA does."""

    def __init__(self) -> None:
        self.stack: TransactionStack | None = None
        self.requests = 0

    def handle(self, event: TransactionEvent) -> None:
        if isinstance(event, RealRequestReceived) and self.stack is not None:
            self.requests += 1
            self.stack.send_response(event.tx, make_response(event.request, 200, to_tag="t1"))


async def test_stack_with_the_real_transaction_layer_absorbs_a_retransmission() -> None:
    clock = MonotonicClock()
    tu = RealTu()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    # RFC 3581 rport: the layer answers to the source address, not the Via's port 9.
    request = bytes(options("real-layer")).replace(b"192.0.2.10:5060;", b"127.0.0.1:9;rport;")
    try:
        async with SipTransport(
            listen_host="127.0.0.1",
            port=0,
            transports=(Transport.UDP,),
            limits=Limits(),
            clock=clock,
        ) as transport:
            stack = TransactionStack(TransactionLayer(), transport, clock, tu)
            tu.stack = stack
            for _ in range(2):  # the second is a retransmission: same branch
                client.sendto(request, transport.local_address(Transport.UDP))
                async with asyncio.timeout(3.0):
                    answer = await loop.sock_recv(client, 65_535)
                assert answer.startswith(b"SIP/2.0 200 OK") and b"Call-ID: real-layer" in answer
            assert tu.requests == 1  # RFC 3261 §17.2.2: the layer answered the retransmission
            stack.close()
    finally:
        client.close()
