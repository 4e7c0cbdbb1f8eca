"""The SIP stack adapter: binds the pure transaction layer (RFC 3261 §17) to the transport
(RFC 3261 §18) and to the event loop.

The transaction layer never does I/O: it takes messages and `now`, and yields bytes to send,
events for the transaction user (TU, RFC 3261 §8 and §16: here the B2BUA) and its next deadline
(timers A–K, RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2; Timer L/M, RFC 6026 §8.4, §8.7).
This module does the rest, in one place:

1. a received message goes to `layer.receive(message, source, now)`;
2. `flush()` sends every `layer.outgoing()` datagram/segment with `transport.send`, hands every
   `layer.next_event()` to `tu.handle`, and
3. keeps ONE loop timer at `layer.next_deadline()`, mapped from the injected `Clock` to the loop
   clock. The timer is replaced only when the deadline moved earlier; a later or vanished
   deadline lets the current timer fire early and harmlessly (`handle_timers` is idempotent),
   which costs one wake-up instead of a cancel and a heap push per message.

Outgoing bytes produced while the TU handles an event leave before the next event is handed
out, so a TU that answers from inside `handle()` sees its response on the wire in order.
`flush()` is re-entrant: a nested call (the TU calling `send_response` from `handle`) only
returns; the outer flush keeps draining until the layer has nothing left.

An exception raised by the TU for one event is logged once with the Call-ID and counted; the
stack carries on with the next event (style §4: one call's failure never stops the others).

The layer raises `SipParseError` for a request it cannot act on (unreadable top Via or CSeq);
the stack answers it like any parse error (RFC 3261 §8.2.6.1 via `make_response`, sent back to
the source address or connection) unless it is an ACK or a response, which are never answered
(RFC 3261 §17.1.1.3, §18.1.2), and counts it by reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from firmware.clock import Clock
from firmware.sip.errors import SipParseError
from firmware.sip.message import Request, Response, make_response
from firmware.sip.peer import Peer, Transport
from firmware.sip.transaction import ClientTransactionId, ServerTransactionId, TransactionEvent
from firmware.sip.transport import RateLimitedLog

log = logging.getLogger(__name__)

EventT = TypeVar("EventT")
ClientTxT = TypeVar("ClientTxT")
ServerTxT = TypeVar("ServerTxT")
_EventT_co = TypeVar("_EventT_co", covariant=True)
_EventT_contra = TypeVar("_EventT_contra", contravariant=True)
_ClientTxT_co = TypeVar("_ClientTxT_co", covariant=True)
_ServerTxT_contra = TypeVar("_ServerTxT_contra", contravariant=True)


class TransactionLayerPort(Protocol[_EventT_co, _ClientTxT_co, _ServerTxT_contra]):
    """What the stack needs of `firmware.sip.transaction.TransactionLayer` (pure, no I/O)."""

    def receive(self, message: Request | Response, source: Peer, now: float) -> None: ...
    def send_request(self, request: Request, dest: Peer, now: float) -> _ClientTxT_co: ...
    def send_response(self, tx: _ServerTxT_contra, response: Response, now: float) -> None: ...
    def send_stateless(self, message: Request | Response, dest: Peer) -> None: ...
    def transport_failed(self, peer: Peer, now: float) -> None: ...
    def handle_timers(self, now: float) -> None: ...
    def next_deadline(self) -> float | None: ...
    def outgoing(self) -> list[tuple[bytes, Peer]]: ...
    def next_event(self) -> _EventT_co | None: ...


class TransactionUser(Protocol[_EventT_contra]):
    """The TU (the B2BUA). `handle` runs on the loop and must not block."""

    def handle(self, event: _EventT_contra) -> None: ...


class StackTransport(Protocol):
    """What the stack needs of `firmware.sip.transport.SipTransport`."""

    def send(self, data: bytes, peer: Peer) -> None: ...
    def local_address(self, transport: Transport) -> tuple[str, int]: ...
    def set_receiver(self, receiver: Callable[[Request | Response, Peer, float], None]) -> None: ...


@dataclass(frozen=True, slots=True)
class StackStats:
    """Counters of the adapter (the transport and the layer keep their own)."""

    received: int
    """Messages handed to `layer.receive`."""
    sent: int
    """Items of `layer.outgoing()` passed to `transport.send`."""
    events: int
    """Events dispatched to the TU."""
    tu_errors: int
    """Events whose `tu.handle` raised."""
    timer_wakeups: int
    """Loop timer callbacks run."""
    refused: dict[str, int]
    """Messages the layer refused with `SipParseError`, by reason (answered when a request)."""


_MAX_REFUSAL_REASONS = 32


def _call_id_of(event: object) -> str | None:
    """The Call-ID of the message an event carries, for the log line (events are duck-typed:
    RequestReceived.request, CancelReceived.cancel, ResponseReceived.response, …)."""
    for name in ("request", "response", "cancel"):
        message = getattr(event, name, None)
        if isinstance(message, Request | Response):
            return message.call_id
    return None


class SipStack(Generic[EventT, ClientTxT, ServerTxT]):
    """Moves bytes, events and one timer between a `TransactionLayer`, a transport and a TU.

    The constructor binds `self.receive` as the transport's receiver. All methods run on the
    event loop thread. `close()` cancels the timer; the caller closes the transport.

    mypy cannot infer the type arguments from `TransactionLayer.next_event() -> Event | None`
    (a union inside an optional); construct it as `TransactionStack(layer, transport, clock,
    tu)` or annotate the variable with `TransactionStack`.
    """

    def __init__(
        self,
        layer: TransactionLayerPort[EventT, ClientTxT, ServerTxT],
        transport: StackTransport,
        clock: Clock,
        tu: TransactionUser[EventT],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._layer = layer
        self._transport = transport
        self._clock = clock
        self._tu = tu
        self._loop = loop
        self._flushing = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline = 0.0  # Clock seconds the armed timer stands for
        self._closed = False
        self._received = 0
        self._sent = 0
        self._events = 0
        self._tu_errors = 0
        self._timer_wakeups = 0
        self._refused: dict[str, int] = {}
        self._ratelog = RateLimitedLog(log, clock, 10.0)
        transport.set_receiver(self.receive)

    # -- inbound -------------------------------------------------------------------------------

    def receive(self, message: Request | Response, source: Peer, now: float) -> None:
        """The transport's receiver: one parsed message from `source` at Clock time `now`."""
        self._received += 1
        try:
            self._layer.receive(message, source, now)
        except SipParseError as exc:
            self._refuse(message, source, exc)
        self.flush()

    def _refuse(self, message: Request | Response, source: Peer, exc: SipParseError) -> None:
        reason = exc.reason
        refused = self._refused
        if reason not in refused and len(refused) >= _MAX_REFUSAL_REASONS:
            reason = "other"
        refused[reason] = refused.get(reason, 0) + 1
        self._ratelog.log(
            logging.INFO,
            reason,
            "SIP refused (%s) from %s, call %r",
            reason,
            source,
            message.call_id,
        )
        if isinstance(message, Request) and message.method != "ACK":
            phrase = f"{exc.status.phrase} ({exc.reason})"
            response = make_response(message, int(exc.status), phrase)
            self._transport.send(response.to_bytes(), source)

    # -- the TU's calls ------------------------------------------------------------------------

    def send_request(self, request: Request, dest: Peer) -> ClientTxT:
        """Start a client transaction (RFC 3261 §17.1) for `request` to `dest`; its id comes
        back on `ResponseReceived`/`TransactionTimedOut`."""
        tx = self._layer.send_request(request, dest, self._clock.now())
        self.flush()
        return tx

    def send_response(self, tx: ServerTxT, response: Response) -> None:
        """Answer server transaction `tx` (RFC 3261 §17.2)."""
        self._layer.send_response(tx, response, self._clock.now())
        self.flush()

    def send_stateless(self, message: Request | Response, dest: Peer) -> None:
        """Send outside any transaction (ACK for a 2xx, RFC 3261 §13.2.2.4; stateless replies)."""
        self._layer.send_stateless(message, dest)
        self.flush()

    def transport_failed(self, peer: Peer) -> None:
        """The transport could not deliver to `peer`: its pending requests fail now."""
        self._layer.transport_failed(peer, self._clock.now())
        self.flush()

    def local_address(self, transport: Transport) -> tuple[str, int]:
        """(host, port) for Via sent-by and Contact on `transport`."""
        return self._transport.local_address(transport)

    # -- the pump ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send what the layer has queued, dispatch its events, rearm the timer. Re-entrant."""
        if self._flushing:
            return  # the outer flush drains whatever the nested call produced
        self._flushing = True
        layer = self._layer
        send = self._transport.send
        try:
            while True:
                for data, dest in layer.outgoing():
                    send(data, dest)
                    self._sent += 1
                event = layer.next_event()
                if event is None:
                    break
                self._dispatch(event)
        finally:
            self._flushing = False
        self._rearm()

    def _dispatch(self, event: EventT) -> None:
        self._events += 1
        try:
            self._tu.handle(event)
        except Exception:
            # Deliberately broad (style §4): a TU bug on one call must not stop the stack or
            # the other calls. BaseException (CancelledError, KeyboardInterrupt) still passes.
            self._tu_errors += 1
            log.exception(
                "TU failed handling %s (call %r)", type(event).__name__, _call_id_of(event)
            )

    def _rearm(self) -> None:
        if self._closed:
            return
        deadline = self._layer.next_deadline()
        if deadline is None:
            return  # an armed timer may fire early; handle_timers then does nothing
        if self._timer is not None and deadline >= self._timer_deadline:
            return  # no churn: the current timer fires first and rearms for the rest
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer_deadline = deadline
        when = loop.time() + (deadline - self._clock.now())
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_wakeups += 1
        self._layer.handle_timers(self._clock.now())
        self.flush()

    def handle_timers(self) -> None:
        """Run the layer's timers at the Clock's `now` and flush. For a `ManualClock` driven
        loop (tests, simulation) that advances time without the loop's timer."""
        self._layer.handle_timers(self._clock.now())
        self.flush()

    def close(self) -> None:
        """Cancel the timer; further deadlines are not armed. Idempotent."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def stats(self) -> StackStats:
        return StackStats(
            received=self._received,
            sent=self._sent,
            events=self._events,
            tu_errors=self._tu_errors,
            timer_wakeups=self._timer_wakeups,
            refused=dict(self._refused),
        )


TransactionStack = SipStack[TransactionEvent, ClientTransactionId, ServerTransactionId]
"""The stack over `firmware.sip.transaction.TransactionLayer`; what the B2BUA holds."""
