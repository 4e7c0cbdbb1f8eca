"""SIP transactions: the four state machines of RFC 3261 §17 as amended by RFC 6026, and the
`TransactionLayer` facade that the transport adapter drives.

Pure (sans-I/O, like aioquic/h11): the caller passes `now` (monotonic seconds) in, drains bytes
with `outgoing()` and events with `next_event()`, and arms one timer at `next_deadline()`.

What is implemented, by section:

- Client INVITE (§17.1.1, Fig. 5; RFC 6026 §8.4 Accepted state and Timer M): Timer A from T1
  doubling without cap, Timer B = 64·T1 in Calling, Timer D = 32 s (0 on reliable transports),
  Timer M = 64·T1, and the ACK for a non-2xx final built from the INVITE (§17.1.1.3).
- Client non-INVITE (§17.1.2, Fig. 6): Timer E from T1 doubling to T2 (T2 flat in Proceeding),
  Timer F = 64·T1, Timer K = T4 (0 on reliable transports).
- Server INVITE (§17.2.1, Fig. 7; RFC 6026 §8.5 Accepted state and Timer L): 100 Trying sent at
  once, Timer G from T1 doubling to T2, Timer H = 64·T1, Timer I = T4 (0 on reliable), and —
  for the TU's convenience — the 2xx retransmission of §13.3.1.4 (T1 doubling to T2 until the
  ACK with the same Call-ID and CSeq number, or 64·T1 → `AckTimedOut`).
- Server non-INVITE (§17.2.2, Fig. 8): Timer J = 64·T1 (0 on reliable).
- Matching (§17.1.3, §17.2.3): responses by top Via branch + CSeq method; requests by top Via
  branch + sent-by + method (ACK → INVITE). Requests without the magic cookie (RFC 2543) are
  matched by Call-ID, From tag, CSeq number and sent-by (a simplification of §17.2.3).
- CANCEL (§9.2): answered 200 by the layer when it matches an INVITE server transaction (and
  `CancelReceived` given to the TU while that is still Proceeding), 481 when nothing matches.
- Response routing (§18.2.2, RFC 3581 §4): `received`/`rport` are written into the top Via of
  every incoming request before the TU sees it; responses leave on the same stream, or on UDP
  for the Via's response address.

Deviations, each to bound what a silent peer or TU can make us hold: a client INVITE in
Proceeding ends after `TIMER_C_S` (180 s, as a proxy's Timer C, §16.6 item 11) without a final
response (`TransactionTimedOut`); a server INVITE whose TU gives no final response within
`TIMER_C_S` is answered 408 by the layer, and a server non-INVITE left unanswered for 64·T1
(the client's Timer F has fired by then) is dropped; both give `ResponseOverdue`.

Limits: `max_transactions` live transactions; beyond it new requests get 503 with Retry-After
(stateless, counted). Timers live in one heap of (deadline, seq, transaction) with lazy deletion:
O(log n) per change, `next_deadline` O(1) amortised; stale entries are compacted once they
outnumber live ones two to one. Measured over 10 000 transactions (x86-64 shared with other jobs,
CPython 3.11): a server non-INVITE (receive, respond, expire) costs ≈ 35 µs in the layer; a whole
UDP INVITE/100/180/200/ACK/BYE/200 call through two layers ≈ 70 µs per transaction with the TU's
message building, ≈ 105 µs with parsing — 400 calls/s (1 600 transactions/s) is ≈ 17 % of a core.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import NamedTuple

from firmware.sip.errors import SipParseError
from firmware.sip.headers import BRANCH_MAGIC, Via, parse_name_addr, parse_via
from firmware.sip.ids import new_tag
from firmware.sip.message import Headers, Request, Response, make_response
from firmware.sip.peer import Peer, Transport
from firmware.sip.status import SipStatus
from firmware.sip.uri import Params

TIMER_T1_S = 0.5
"""RTT estimate (§17.1.1.1)."""
TIMER_T2_S = 4.0
"""Maximum retransmit interval for non-INVITE requests and INVITE responses (§17.1.2.2)."""
TIMER_T4_S = 5.0
"""Maximum duration a message remains in the network (§17.1.2.2)."""
TIMER_D_S = 32.0
"""Wait time for response retransmits on UDP (§17.1.1.2: at least 32 s)."""
TIMER_C_S = 180.0
"""Guard on an INVITE that never gets a final response (§16.6 item 11: more than 3 minutes)."""
MAX_TRANSACTIONS = 65536
"""Live transactions before new requests get 503. A finished call keeps about 101
transaction-seconds alive (Timers J, K, L, M hold its INVITEs and BYEs for 32 s and 5 s), so
400 calls/s needs ≈ 40 000; the margin absorbs bursts."""
OVERLOAD_RETRY_AFTER_S = 5
"""Retry-After on the 503 we answer when `max_transactions` is reached."""


class ClientTransactionId(NamedTuple):
    """A client transaction: our top Via branch and the CSeq method (§17.1.3)."""

    branch: str
    method: str


class ServerTransactionId(NamedTuple):
    """A server transaction: top Via branch, sent-by (`host:port`) and method, with ACK counted
    as INVITE (§17.2.3)."""

    branch: str
    sent_by: str
    method: str


class State(StrEnum):
    """Transaction states (RFC 3261 Figs. 5–8, RFC 6026 Figs. 3 and 5)."""

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


class Input(Enum):
    """What can happen to a transaction: a message in or out, or a timer firing."""

    RECV_1XX = "recv 1xx"
    RECV_2XX = "recv 2xx"
    RECV_NON2XX = "recv 300-699"
    RECV_REQUEST = "recv request retransmission"
    RECV_ACK = "recv ACK"
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_NON2XX = "send 300-699"
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_C = "Timer C"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_2XX = "2xx retransmit"
    TIMER_TU = "TU gave no final response"


_S = State
_I = Input

# RFC 3261 Fig. 5 with RFC 6026 Fig. 3. Pairs not listed are ignored (absorbed).
_CLIENT_INVITE: dict[tuple[State, Input], State] = {
    (_S.CALLING, _I.TIMER_A): _S.CALLING,
    (_S.CALLING, _I.TIMER_B): _S.TERMINATED,
    (_S.CALLING, _I.RECV_1XX): _S.PROCEEDING,
    (_S.CALLING, _I.RECV_2XX): _S.ACCEPTED,
    (_S.CALLING, _I.RECV_NON2XX): _S.COMPLETED,
    (_S.PROCEEDING, _I.RECV_1XX): _S.PROCEEDING,
    (_S.PROCEEDING, _I.RECV_2XX): _S.ACCEPTED,
    (_S.PROCEEDING, _I.RECV_NON2XX): _S.COMPLETED,
    (_S.PROCEEDING, _I.TIMER_C): _S.TERMINATED,
    (_S.COMPLETED, _I.RECV_NON2XX): _S.COMPLETED,
    (_S.COMPLETED, _I.TIMER_D): _S.TERMINATED,
    (_S.ACCEPTED, _I.RECV_2XX): _S.ACCEPTED,
    (_S.ACCEPTED, _I.TIMER_M): _S.TERMINATED,
}

# RFC 3261 Fig. 6.
_CLIENT_NON_INVITE: dict[tuple[State, Input], State] = {
    (_S.TRYING, _I.TIMER_E): _S.TRYING,
    (_S.TRYING, _I.TIMER_F): _S.TERMINATED,
    (_S.TRYING, _I.RECV_1XX): _S.PROCEEDING,
    (_S.TRYING, _I.RECV_2XX): _S.COMPLETED,
    (_S.TRYING, _I.RECV_NON2XX): _S.COMPLETED,
    (_S.PROCEEDING, _I.TIMER_E): _S.PROCEEDING,
    (_S.PROCEEDING, _I.TIMER_F): _S.TERMINATED,
    (_S.PROCEEDING, _I.RECV_1XX): _S.PROCEEDING,
    (_S.PROCEEDING, _I.RECV_2XX): _S.COMPLETED,
    (_S.PROCEEDING, _I.RECV_NON2XX): _S.COMPLETED,
    (_S.COMPLETED, _I.TIMER_K): _S.TERMINATED,
}

# RFC 3261 Fig. 7 with RFC 6026 Fig. 5, plus the §13.3.1.4 2xx retransmission in Accepted.
_SERVER_INVITE: dict[tuple[State, Input], State] = {
    (_S.PROCEEDING, _I.RECV_REQUEST): _S.PROCEEDING,
    (_S.PROCEEDING, _I.SEND_1XX): _S.PROCEEDING,
    (_S.PROCEEDING, _I.SEND_2XX): _S.ACCEPTED,
    (_S.PROCEEDING, _I.SEND_NON2XX): _S.COMPLETED,
    (_S.PROCEEDING, _I.TIMER_TU): _S.COMPLETED,
    (_S.COMPLETED, _I.RECV_REQUEST): _S.COMPLETED,
    (_S.COMPLETED, _I.TIMER_G): _S.COMPLETED,
    (_S.COMPLETED, _I.RECV_ACK): _S.CONFIRMED,
    (_S.COMPLETED, _I.TIMER_H): _S.TERMINATED,
    (_S.CONFIRMED, _I.RECV_ACK): _S.CONFIRMED,
    (_S.CONFIRMED, _I.TIMER_I): _S.TERMINATED,
    (_S.ACCEPTED, _I.RECV_REQUEST): _S.ACCEPTED,
    (_S.ACCEPTED, _I.SEND_2XX): _S.ACCEPTED,
    (_S.ACCEPTED, _I.RECV_ACK): _S.ACCEPTED,
    (_S.ACCEPTED, _I.TIMER_2XX): _S.ACCEPTED,
    (_S.ACCEPTED, _I.TIMER_L): _S.TERMINATED,
}

# RFC 3261 Fig. 8.
_SERVER_NON_INVITE: dict[tuple[State, Input], State] = {
    (_S.TRYING, _I.RECV_REQUEST): _S.TRYING,
    (_S.TRYING, _I.SEND_1XX): _S.PROCEEDING,
    (_S.TRYING, _I.SEND_2XX): _S.COMPLETED,
    (_S.TRYING, _I.SEND_NON2XX): _S.COMPLETED,
    (_S.TRYING, _I.TIMER_TU): _S.TERMINATED,
    (_S.PROCEEDING, _I.RECV_REQUEST): _S.PROCEEDING,
    (_S.PROCEEDING, _I.SEND_1XX): _S.PROCEEDING,
    (_S.PROCEEDING, _I.SEND_2XX): _S.COMPLETED,
    (_S.PROCEEDING, _I.SEND_NON2XX): _S.COMPLETED,
    (_S.PROCEEDING, _I.TIMER_TU): _S.TERMINATED,
    (_S.COMPLETED, _I.RECV_REQUEST): _S.COMPLETED,
    (_S.COMPLETED, _I.TIMER_J): _S.TERMINATED,
}


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request (not ACK, not CANCEL). Answer it with `send_response(tx, …)`; its top Via
    already carries `received`/`rport`, so `make_response(request, …)` routes correctly."""

    request: Request
    source: Peer
    tx: ServerTransactionId


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK for a 2xx (it has no transaction, §17.1.1.3); 2xx retransmission has stopped."""

    request: Request
    source: Peer


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL matched `invite_tx` while it was Proceeding; the layer answered the CANCEL 200.
    The TU should answer the INVITE 487 (§9.2)."""

    cancel: Request
    source: Peer
    invite_tx: ServerTransactionId


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for one of our client transactions: every 1xx and final, and 2xx
    retransmissions in Accepted (the TU re-sends its ACK, §13.2.2.4)."""

    response: Response
    tx: ClientTransactionId


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """No final response (Timer B or F; Timer C in Proceeding). Treat as 408 (§8.1.3.1)."""

    tx: ClientTransactionId
    request: Request


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """A final response to an INVITE was never ACKed (Timer H, or 64·T1 for a 2xx, §13.3.1.4).
    For a 2xx the TU should send BYE."""

    tx: ServerTransactionId


@dataclass(frozen=True, slots=True)
class ResponseOverdue:
    """The TU gave no final response in time: an INVITE after `TIMER_C_S` (the layer answered
    408), a non-INVITE after 64·T1 (dropped; the client has given up)."""

    tx: ServerTransactionId


TransactionEvent = (
    RequestReceived
    | AckReceived
    | CancelReceived
    | ResponseReceived
    | TransactionTimedOut
    | AckTimedOut
    | ResponseOverdue
)


# --- keys and helpers -----------------------------------------------------------------------


def _top_via(headers: Headers) -> Via:
    text = headers.get("Via")
    if text is None:
        raise SipParseError(SipStatus.BAD_REQUEST, "missing Via")
    return parse_via(text)


def _branch_of(via_text: str | None) -> str | None:
    """The branch of a response's top Via (§17.1.3), without building a `Via`.

    Only our own random branches can match a client transaction, so the fast path needs no
    full grammar check; anything unusual (`; branch = x`, upper case) goes to `parse_via`.
    """
    if via_text is None:
        raise SipParseError(SipStatus.BAD_REQUEST, "missing Via")
    i = via_text.find(";branch=")
    if i < 0:
        return parse_via(via_text).branch
    start = i + 8
    end = via_text.find(";", start)
    return via_text[start:].strip() if end < 0 else via_text[start:end].strip()


def _sent_by(via: Via) -> str:
    port = via.port or (5061 if via.transport == "TLS" else 5060)
    return f"{via.host.lower()}:{port}"


def _server_key(request: Request, via: Via, method: str) -> ServerTransactionId:
    """§17.2.3; ACK counts as INVITE so that it finds the INVITE's transaction."""
    if method == "ACK":
        method = "INVITE"
    branch = via.branch
    if branch is None or not branch.startswith(BRANCH_MAGIC):
        # RFC 2543 peer: the branch is not unique, so match on the dialog-ish fields instead.
        from_tag = parse_name_addr(request.headers.get("From") or "").tag or ""
        branch = f"2543:{request.call_id}:{from_tag}:{request.cseq[0]}:{branch or ''}"
    return ServerTransactionId(branch, _sent_by(via), method)


def client_transaction_id(request: Request) -> ClientTransactionId:
    """The id `send_request` gives `request` (top Via branch, CSeq method)."""
    via = _top_via(request.headers)
    if not via.branch:
        raise ValueError("a client request needs a top Via with a branch")
    return ClientTransactionId(via.branch, request.cseq[1])


def server_transaction_id(request: Request) -> ServerTransactionId:
    """The id a received request is matched by (§17.2.3)."""
    return _server_key(request, _top_via(request.headers), request.method)


def make_ack(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response (§17.1.1.3): Request-URI, Call-ID, From, Route and
    top Via of the INVITE, To of the response, CSeq number of the INVITE."""
    h = invite.headers
    items = [("Via", h.get("Via") or "")]
    items.append(("Max-Forwards", h.get("Max-Forwards") or "70"))
    items.extend(("Route", r) for r in h.get_all("Route"))
    items.append(("From", h.get("From") or ""))
    items.append(("To", response.headers.get("To") or ""))
    items.append(("Call-ID", h.get("Call-ID") or ""))
    items.append(("CSeq", f"{invite.cseq[0]} ACK"))
    return Request("ACK", invite.uri, Headers(items))


def make_cancel(invite: Request) -> Request:
    """The CANCEL for `invite` (§9.1): same Request-URI, Call-ID, From, To, CSeq number, Route
    and top Via (so it reaches the same server transaction). Send it only after a provisional
    response has arrived (§9.1), with `send_request`."""
    h = invite.headers
    items = [("Via", h.get("Via") or "")]
    items.append(("Max-Forwards", h.get("Max-Forwards") or "70"))
    items.extend(("Route", r) for r in h.get_all("Route"))
    items.append(("From", h.get("From") or ""))
    items.append(("To", h.get("To") or ""))
    items.append(("Call-ID", h.get("Call-ID") or ""))
    items.append(("CSeq", f"{invite.cseq[0]} CANCEL"))
    return Request("CANCEL", invite.uri, Headers(items))


def _response_input(status: int, recv: bool) -> Input:
    if status < 200:
        return Input.RECV_1XX if recv else Input.SEND_1XX
    if status < 300:
        return Input.RECV_2XX if recv else Input.SEND_2XX
    return Input.RECV_NON2XX if recv else Input.SEND_NON2XX


@dataclass(frozen=True, slots=True)
class Timers:
    """Timer base values (§17.1.1.1): T1, T2, T4 in seconds."""

    t1_s: float = TIMER_T1_S
    t2_s: float = TIMER_T2_S
    t4_s: float = TIMER_T4_S


DEFAULT_TIMERS = Timers()
_INF = float("inf")


# --- the state machines ---------------------------------------------------------------------


class _Transaction:
    """Shared machinery: one retransmit timer and one end timer, bytes out and events out.

    A transaction holds at most two running timers: the retransmission one (A, E, G or the 2xx
    one) and one that ends a state (B, C, D, F, H, I, J, K, L, M or the TU guard). Keeping them
    in two slots makes `deadline` a `min` of two numbers.
    """

    __slots__ = (
        "state", "request", "reliable", "timers", "peer", "_table",
        "_out", "_events", "_last", "_retx_at", "_retx_interval", "_retx_cap", "_retx_input",
        "_end_at", "_end_input", "_heap_seq", "_heap_at",
    )

    def __init__(
        self, request: Request, state: State, table: dict[tuple[State, Input], State],
        reliable: bool, timers: Timers, peer: Peer | None,
    ) -> None:
        self.state = state
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.peer = peer
        self._table = table
        self._out: list[bytes] = []
        self._events: list[TransactionEvent] = []
        self._last: bytes | None = None  # what a retransmission (of ours) re-sends
        self._retx_at: float | None = None
        self._retx_interval = 0.0
        self._retx_cap = _INF
        self._retx_input = Input.TIMER_A
        self._end_at: float | None = None
        self._end_input = Input.TIMER_B
        self._heap_seq = -1  # which heap entry of the layer is current (lazy deletion)
        self._heap_at = 0.0  # and its deadline

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def next_deadline(self) -> float | None:
        """When `handle_timers` must next be called, or None."""
        r, e = self._retx_at, self._end_at
        if r is None:
            return e
        if e is None or r < e:
            return r
        return e

    def outgoing(self) -> list[bytes]:
        """Drain the datagrams/stream writes this transaction wants sent to its peer."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> TransactionEvent | None:
        """Drain one event for the TU."""
        return self._events.pop(0) if self._events else None

    def handle_timers(self, now: float) -> None:
        """Fire every timer due at `now`. Afterwards `next_deadline()` is None or later."""
        end = self._end_at
        if end is not None and end <= now:
            self._end_at = None
            self._apply(self._end_input, now, None)
            if self.state is State.TERMINATED:
                return
        retx = self._retx_at
        if retx is not None and retx <= now and not self._apply(self._retx_input, now, None):
            # Every state stops the timers it does not own; should one slip through, a due
            # timer the table ignores must not stay in the past (the layer would spin on it).
            self._retx_at = None

    # The per-class transition actions.
    def _act(self, inp: Input, old: State, now: float, message: Response | None) -> None:
        raise NotImplementedError

    def _apply(self, inp: Input, now: float, message: Response | None) -> bool:
        new = self._table.get((self.state, inp))
        if new is None:
            return False
        old = self.state
        self.state = new
        if new is State.TERMINATED:
            self._retx_at = self._end_at = None
        self._act(inp, old, now, message)
        return True

    def _start_retx(self, at: float, interval: float, cap: float, inp: Input) -> None:
        self._retx_at = at
        self._retx_interval = interval
        self._retx_cap = cap
        self._retx_input = inp

    def _retransmit(self, now: float) -> None:
        """Re-send `_last` and reschedule with the doubled (capped) interval."""
        if self._last is not None:
            self._out.append(self._last)
        interval = min(self._retx_interval * 2.0, self._retx_cap)
        due = (self._retx_at or now) + interval
        # When the caller was late, do not burst: the next one is a whole interval from now.
        self._retx_at = due if due > now else now + interval
        self._retx_interval = interval

    def _end(self, at: float, inp: Input) -> None:
        self._end_at = at
        self._end_input = inp


class ClientInviteTransaction(_Transaction):
    """RFC 3261 §17.1.1 with RFC 6026 §8.4. Created in Calling; the INVITE is sent at once."""

    __slots__ = ("key", "_ack")

    def __init__(
        self, invite: Request, now: float, *, reliable: bool = False,
        timers: Timers = DEFAULT_TIMERS, peer: Peer | None = None,
        key: ClientTransactionId | None = None,
    ) -> None:
        super().__init__(invite, State.CALLING, _CLIENT_INVITE, reliable, timers, peer)
        self.key = key or client_transaction_id(invite)
        self._ack: bytes | None = None
        self._last = invite.to_bytes()
        self._out.append(self._last)
        t1 = timers.t1_s
        if not reliable:
            self._start_retx(now + t1, t1, _INF, Input.TIMER_A)  # §17.1.1.2: A doubles, no cap
        self._end(now + 64 * t1, Input.TIMER_B)

    def receive(self, response: Response, now: float) -> bool:
        """Feed a response matched to this transaction. False when it was absorbed."""
        return self._apply(_response_input(response.status, True), now, response)

    def _act(self, inp: Input, old: State, now: float, message: Response | None) -> None:
        if inp is Input.TIMER_A:
            self._retransmit(now)
        elif inp is Input.TIMER_B or inp is Input.TIMER_C:
            self._events.append(TransactionTimedOut(self.key, self.request))
        elif message is None:
            return  # Timers D and M: nothing to do but end
        elif inp is Input.RECV_1XX:
            self._retx_at = None  # §17.1.1.2: no retransmission in Proceeding
            self._end(now + TIMER_C_S, Input.TIMER_C)  # restarted by each 1xx, like §16.7
            self._events.append(ResponseReceived(message, self.key))
        elif inp is Input.RECV_2XX:
            if old is not State.ACCEPTED:
                self._retx_at = None
                self._end(now + 64 * self.timers.t1_s, Input.TIMER_M)  # RFC 6026 §8.4
            self._events.append(ResponseReceived(message, self.key))
        elif inp is Input.RECV_NON2XX:
            if old is State.COMPLETED:
                # §17.1.1.2: a retransmitted final is answered by the same ACK, not passed up.
                if self._ack is not None:
                    self._out.append(self._ack)
                return
            self._retx_at = None
            self._ack = make_ack(self.request, message).to_bytes()
            self._out.append(self._ack)
            self._events.append(ResponseReceived(message, self.key))
            if self.reliable:
                self._apply(Input.TIMER_D, now, None)  # Timer D = 0 on reliable transports
            else:
                self._end(now + TIMER_D_S, Input.TIMER_D)


class ClientNonInviteTransaction(_Transaction):
    """RFC 3261 §17.1.2. Created in Trying; the request is sent at once."""

    __slots__ = ("key",)

    def __init__(
        self, request: Request, now: float, *, reliable: bool = False,
        timers: Timers = DEFAULT_TIMERS, peer: Peer | None = None,
        key: ClientTransactionId | None = None,
    ) -> None:
        super().__init__(request, State.TRYING, _CLIENT_NON_INVITE, reliable, timers, peer)
        self.key = key or client_transaction_id(request)
        self._last = request.to_bytes()
        self._out.append(self._last)
        t1 = timers.t1_s
        if not reliable:
            self._start_retx(now + t1, t1, timers.t2_s, Input.TIMER_E)  # §17.1.2.2
        self._end(now + 64 * t1, Input.TIMER_F)

    def receive(self, response: Response, now: float) -> bool:
        """Feed a response matched to this transaction. False when it was absorbed."""
        return self._apply(_response_input(response.status, True), now, response)

    def _act(self, inp: Input, old: State, now: float, message: Response | None) -> None:
        if inp is Input.TIMER_E:
            if old is State.PROCEEDING:
                self._retx_interval = self._retx_cap  # §17.1.2.2: T2 flat in Proceeding
            self._retransmit(now)
        elif inp is Input.TIMER_F:
            self._events.append(TransactionTimedOut(self.key, self.request))
        elif message is not None:
            self._events.append(ResponseReceived(message, self.key))
            if inp is not Input.RECV_1XX:
                self._retx_at = None
                if self.reliable:
                    self._apply(Input.TIMER_K, now, None)  # Timer K = 0 on reliable
                else:
                    self._end(now + self.timers.t4_s, Input.TIMER_K)


class ServerInviteTransaction(_Transaction):
    """RFC 3261 §17.2.1 with RFC 6026 §8.5 and the 2xx retransmission of §13.3.1.4.

    Created in Proceeding; a 100 Trying is sent at once (§17.2.1: we cannot promise the TU
    answers within 200 ms). `acked` says whether an ACK for the 2xx has arrived."""

    __slots__ = ("key", "final", "acked", "last_response")

    def __init__(
        self, invite: Request, now: float, *, reliable: bool = False,
        timers: Timers = DEFAULT_TIMERS, peer: Peer | None = None,
        key: ServerTransactionId | None = None,
    ) -> None:
        super().__init__(invite, State.PROCEEDING, _SERVER_INVITE, reliable, timers, peer)
        self.key = key or server_transaction_id(invite)
        self.final: Response | None = None
        self.acked = False
        ts = invite.headers.get("Timestamp")
        trying = make_response(invite, 100, extra=(("Timestamp", ts),) if ts else ())
        self.last_response: Response = trying
        self._last = trying.to_bytes()
        self._out.append(self._last)
        self._end(now + TIMER_C_S, Input.TIMER_TU)

    def send(self, response: Response, now: float) -> bool:
        """The TU's response. False (and nothing sent) when the state does not allow it."""
        return self._apply(_response_input(response.status, False), now, response)

    def receive_retransmission(self, now: float) -> bool:
        """The INVITE arrived again: re-send the last response (absorbed in Accepted)."""
        return self._apply(Input.RECV_REQUEST, now, None)

    def receive_ack(self, now: float) -> bool:
        """An ACK: for the non-2xx in Completed, or for the 2xx in Accepted."""
        return self._apply(Input.RECV_ACK, now, None)

    def _act(self, inp: Input, old: State, now: float, message: Response | None) -> None:
        t1 = self.timers.t1_s
        if inp is Input.RECV_REQUEST:
            if old is not State.ACCEPTED and self._last is not None:
                self._out.append(self._last)  # RFC 6026 §8.5: absorbed in Accepted
        elif inp is Input.TIMER_G or inp is Input.TIMER_2XX:
            self._retransmit(now)
        elif inp is Input.RECV_ACK:
            if old is State.ACCEPTED:
                self.acked = True
                self._retx_at = None  # §13.3.1.4: the ACK stops 2xx retransmission
            elif old is State.COMPLETED:
                self._retx_at = None
                if self.reliable:
                    self._apply(Input.TIMER_I, now, None)  # Timer I = 0 on reliable
                else:
                    self._end(now + self.timers.t4_s, Input.TIMER_I)
        elif inp is Input.TIMER_H:
            self._events.append(AckTimedOut(self.key))
        elif inp is Input.TIMER_L:
            if not self.acked:
                self._events.append(AckTimedOut(self.key))
        elif inp is Input.TIMER_TU:
            self._events.append(ResponseOverdue(self.key))
            self._send_non2xx(make_response(self.request, 408, to_tag=new_tag()), now)
        elif message is not None:
            data = message.to_bytes()
            self._out.append(data)
            self.last_response = message
            if inp is Input.SEND_1XX:
                self._last = data
            elif inp is Input.SEND_2XX:
                self._last = data
                if old is not State.ACCEPTED:
                    self.final = message
                    self._end(now + 64 * t1, Input.TIMER_L)  # RFC 6026 §8.5
                    if not self.reliable:
                        self._start_retx(now + t1, t1, self.timers.t2_s, Input.TIMER_2XX)
            else:
                self.final = message
                self._last = data
                self._start_final(now)

    def _send_non2xx(self, response: Response, now: float) -> None:
        self.final = self.last_response = response
        self._last = response.to_bytes()
        self._out.append(self._last)
        self._start_final(now)

    def _start_final(self, now: float) -> None:
        t1 = self.timers.t1_s
        if not self.reliable:
            self._start_retx(now + t1, t1, self.timers.t2_s, Input.TIMER_G)  # §17.2.1
        self._end(now + 64 * t1, Input.TIMER_H)


class ServerNonInviteTransaction(_Transaction):
    """RFC 3261 §17.2.2. Created in Trying; nothing is sent until the TU responds."""

    __slots__ = ("key", "final")

    def __init__(
        self, request: Request, now: float, *, reliable: bool = False,
        timers: Timers = DEFAULT_TIMERS, peer: Peer | None = None,
        key: ServerTransactionId | None = None,
    ) -> None:
        super().__init__(request, State.TRYING, _SERVER_NON_INVITE, reliable, timers, peer)
        self.key = key or server_transaction_id(request)
        self.final: Response | None = None
        self._end(now + 64 * timers.t1_s, Input.TIMER_TU)

    def send(self, response: Response, now: float) -> bool:
        """The TU's response. False (and nothing sent) when the state does not allow it."""
        return self._apply(_response_input(response.status, False), now, response)

    def receive_retransmission(self, now: float) -> bool:
        """The request arrived again: re-send the last response, if any (§17.2.2)."""
        return self._apply(Input.RECV_REQUEST, now, None)

    def _act(self, inp: Input, old: State, now: float, message: Response | None) -> None:
        if inp is Input.RECV_REQUEST:
            if self._last is not None:
                self._out.append(self._last)
        elif inp is Input.TIMER_TU:
            self._events.append(ResponseOverdue(self.key))
        elif message is not None:
            self._last = message.to_bytes()
            self._out.append(self._last)
            if inp is not Input.SEND_1XX:
                self.final = message
                self._end_at = None
                if self.reliable:
                    self._apply(Input.TIMER_J, now, None)  # Timer J = 0 on reliable
                else:
                    self._end(now + 64 * self.timers.t1_s, Input.TIMER_J)


ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction
ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction
AnyTransaction = ClientTransaction | ServerTransaction


# --- the facade -----------------------------------------------------------------------------


class TransactionLayer:
    """Every transaction of one SIP endpoint, and the timer heap that drives them.

    The adapter calls `receive` for each parsed message and `handle_timers` when the deadline
    passes, then drains `outgoing()` and arms a timer for `next_deadline()`. The TU drains
    `next_event()` and calls `send_request`, `send_response` and `send_stateless`.
    """

    def __init__(
        self, *, t1_s: float = TIMER_T1_S, t2_s: float = TIMER_T2_S, t4_s: float = TIMER_T4_S,
        max_transactions: int = MAX_TRANSACTIONS,
    ) -> None:
        self._timers = Timers(t1_s, t2_s, t4_s)
        self._max = max_transactions
        self._clients: dict[ClientTransactionId, ClientTransaction] = {}
        self._servers: dict[ServerTransactionId, ServerTransaction] = {}
        # §13.3.1.4: ACKs for 2xx have their own branch, so they are found by Call-ID + CSeq.
        self._awaiting_ack: dict[tuple[str, int], ServerInviteTransaction] = {}
        self._heap: list[tuple[float, int, AnyTransaction]] = []
        self._seq = 0
        self._out: list[tuple[bytes, Peer]] = []
        self._events: deque[TransactionEvent] = deque()
        self._drops: Counter[str] = Counter()

    # -- input from the network

    def receive(self, message: Request | Response, source: Peer, now: float) -> None:
        """A parsed message from `source`.

        Raises `SipParseError` (400) for a request whose top Via or CSeq we cannot read; the
        caller answers it as it answers any parse error. A response we cannot match is dropped
        and counted (`stats()["drop.stray_response"]`).
        """
        if isinstance(message, Response):
            self._receive_response(message, now)
        else:
            self._receive_request(message, source, now)

    def _receive_response(self, response: Response, now: float) -> None:
        try:
            branch = _branch_of(response.headers.get("Via"))
            method = response.cseq[1]
        except SipParseError:
            self._drops["malformed_response"] += 1
            return
        tx = self._clients.get(ClientTransactionId(branch, method)) if branch else None
        if tx is None:
            self._drops["stray_response"] += 1  # §17.1.3: no match → the core may drop it
            return
        tx.receive(response, now)
        self._collect(tx)

    def _receive_request(self, request: Request, source: Peer, now: float) -> None:
        via = _top_via(request.headers)
        number, method = request.cseq
        if method != request.method:
            raise SipParseError(SipStatus.BAD_REQUEST, "CSeq method does not match request")
        via = self._stamp_via(request, via, source)
        key = _server_key(request, via, method)
        tx = self._servers.get(key)
        if method == "ACK":
            self._receive_ack(request, source, tx, number, now)
            return
        if tx is not None:
            tx.receive_retransmission(now)  # §17.2.1/§17.2.2: absorbed, last response again
            self._collect(tx)
            return
        dest = self._response_peer(via, source)
        invite_tx: ServerTransaction | None = None
        if method == "CANCEL":
            invite_tx = self._servers.get(ServerTransactionId(key.branch, key.sent_by, "INVITE"))
        # A CANCEL for a call we hold is always served: it ends work rather than adding it.
        # So is a BYE, up to a quarter more than the limit: refusing it would leave the call up
        # (and its users busy) with nothing else to end it, yet a flood of BYEs stays bounded.
        limit = self._max + self._max // 4 if method == "BYE" else self._max
        if invite_tx is None and len(self._clients) + len(self._servers) >= limit:
            self._drops["overload"] += 1
            busy = make_response(request, 503, to_tag=new_tag(),
                                 extra=(("Retry-After", str(OVERLOAD_RETRY_AFTER_S)),))
            self._out.append((busy.to_bytes(), dest))
            return
        reliable = source.transport.reliable
        if method == "CANCEL":
            self._receive_cancel(request, source, invite_tx, key, dest, now)
            return
        new: ServerTransaction
        if method == "INVITE":
            new = ServerInviteTransaction(request, now, reliable=reliable, timers=self._timers,
                                          peer=dest, key=key)
        else:
            new = ServerNonInviteTransaction(request, now, reliable=reliable,
                                             timers=self._timers, peer=dest, key=key)
        self._servers[key] = new
        self._events.append(RequestReceived(request, source, key))
        self._collect(new)

    def _receive_ack(
        self, ack: Request, source: Peer, tx: ServerTransaction | None, number: int, now: float,
    ) -> None:
        if isinstance(tx, ServerInviteTransaction) and tx.state is not State.ACCEPTED:
            tx.receive_ack(now)  # the ACK for our non-2xx final (§17.2.1): absorbed
            self._collect(tx)
            return
        # An ACK for a 2xx (§17.1.1.3: its own transaction, normally with its own branch).
        waiting = self._awaiting_ack.pop((ack.call_id, number), None)
        if waiting is not None:
            waiting.receive_ack(now)
            self._collect(waiting)
        self._events.append(AckReceived(ack, source))

    def _receive_cancel(
        self, cancel: Request, source: Peer, invite_tx: ServerTransaction | None,
        key: ServerTransactionId, dest: Peer, now: float,
    ) -> None:
        """§9.2: the layer answers the CANCEL itself; the TU answers the INVITE 487."""
        tx = ServerNonInviteTransaction(cancel, now, reliable=source.transport.reliable,
                                        timers=self._timers, peer=dest, key=key)
        self._servers[key] = tx
        if isinstance(invite_tx, ServerInviteTransaction):
            # §9.2: the To tag of the 200 SHOULD equal the one on the INVITE's responses.
            tag = _to_tag_of(invite_tx.last_response) or new_tag()
            tx.send(make_response(cancel, 200, to_tag=tag), now)
            if invite_tx.state is State.PROCEEDING:
                self._events.append(CancelReceived(cancel, source, invite_tx.key))
        else:
            self._drops["cancel_unmatched"] += 1
            tx.send(make_response(cancel, 481, to_tag=new_tag()), now)
        self._collect(tx)

    def _stamp_via(self, request: Request, via: Via, source: Peer) -> Via:
        """RFC 3261 §18.2.1 and RFC 3581 §4: record where the request really came from."""
        host = source.host
        if via.has_rport:
            if via.rport == source.port and via.received == host:
                return via  # already stamped (a request we handle twice)
            # RFC 3581 §4: received is added even when it equals the sent-by host.
            stamp: Params = (("received", host), ("rport", str(source.port)))
        elif via.received is not None:
            if via.received == host:
                return via
            # A received= the peer wrote itself would let it aim our responses elsewhere.
            stamp = (("received", host),)
        elif via.host.strip("[]") != host:
            stamp = (("received", host),)
        else:
            return via
        # One Via built directly: `with_param` twice costs two dataclass replaces (hot path).
        kept = tuple(p for p in via.params if p[0] != "received" and p[0] != "rport")
        via = Via(via.transport, via.host, via.port, kept + stamp)
        headers = request.headers
        headers.remove_first("Via")
        headers.add("Via", str(via), first=True)
        return via

    @staticmethod
    def _response_peer(via: Via, source: Peer) -> Peer:
        """§18.2.2: streams answer on the same connection; UDP to received/rport/sent-by."""
        if source.transport.reliable:
            return source
        host, port = via.response_address()
        if host == source.host and port == source.port:
            return source
        return Peer(Transport.UDP, host, port)

    # -- input from the TU

    def send_request(self, request: Request, dest: Peer, now: float) -> ClientTransactionId:
        """Start a client transaction and send `request` to `dest`.

        The request carries our top Via with a fresh branch (a CANCEL reuses its INVITE's,
        §9.1 — `make_cancel` builds one). Raises `ValueError` for an ACK (use
        `send_stateless`) or a branch already in use for this method.
        """
        if request.method == "ACK":
            raise ValueError("ACK has no client transaction; use send_stateless")
        key = client_transaction_id(request)
        if key in self._clients:
            raise ValueError(f"branch {key.branch!r} already in use for {key.method}")
        reliable = dest.transport.reliable
        tx: ClientTransaction
        if request.method == "INVITE":
            tx = ClientInviteTransaction(request, now, reliable=reliable, timers=self._timers,
                                         peer=dest, key=key)
        else:
            tx = ClientNonInviteTransaction(request, now, reliable=reliable,
                                            timers=self._timers, peer=dest, key=key)
        self._clients[key] = tx
        self._collect(tx)
        return key

    def send_response(self, tx: ServerTransactionId, response: Response, now: float) -> None:
        """Send the TU's response on server transaction `tx` (to the Via's response address).

        A response the transaction no longer accepts (it ended, or already sent a final) is
        dropped and counted as `late_response`; a 2xx to an INVITE is retransmitted on UDP until
        its ACK arrives (§13.3.1.4).
        """
        server = self._servers.get(tx)
        if server is None or not server.send(response, now):
            self._drops["late_response"] += 1
            return
        if (isinstance(server, ServerInviteTransaction) and server.final is response
                and 200 <= response.status < 300):
            number = server.request.cseq[0]
            self._awaiting_ack[(server.request.call_id, number)] = server
        self._collect(server)

    def send_stateless(self, message: Request | Response, dest: Peer) -> None:
        """Send without a transaction: the ACK for a 2xx (§13.2.2.4), stateless replies."""
        self._out.append((message.to_bytes(), dest))

    # -- time

    def transport_failed(self, peer: Peer, now: float) -> None:
        """Nothing can be sent to `peer` (its TCP connection failed or closed; RFC 3261
        §17.1.4). Every client transaction still waiting for a response from there ends now,
        as if Timer B/F had fired (`TransactionTimedOut`), instead of waiting 32 s."""
        for tx in list(self._clients.values()):
            target = tx.peer
            if (target is None or target.transport is not peer.transport
                    or target.address != peer.address
                    or tx.state not in (State.CALLING, State.TRYING, State.PROCEEDING)):
                continue
            tx.state = State.TERMINATED
            tx._events.append(TransactionTimedOut(tx.key, tx.request))
            self._collect(tx)

    def handle_timers(self, now: float) -> None:
        """Fire every timer due at `now`; afterwards `next_deadline()` is None or > now."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, tx = heapq.heappop(heap)
            if seq != tx._heap_seq:
                continue  # stale entry (lazy deletion)
            tx._heap_seq = -1
            tx.handle_timers(now)
            self._collect(tx)

    def next_deadline(self) -> float | None:
        """The earliest time `handle_timers` has work, or None. O(1) amortised."""
        heap = self._heap
        while heap and heap[0][1] != heap[0][2]._heap_seq:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- output

    def outgoing(self) -> list[tuple[bytes, Peer]]:
        """Drain what to send, in order, with where to send it."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> TransactionEvent | None:
        """Drain one event for the TU, or None."""
        return self._events.popleft() if self._events else None

    def stats(self) -> dict[str, int]:
        """Live transactions by kind and drops by reason (`drop.<reason>`)."""
        out = {
            "client_invite": 0, "client_non_invite": 0,
            "server_invite": 0, "server_non_invite": 0,
        }
        for c in self._clients.values():
            out["client_invite" if isinstance(c, ClientInviteTransaction)
                else "client_non_invite"] += 1
        for s in self._servers.values():
            out["server_invite" if isinstance(s, ServerInviteTransaction)
                else "server_non_invite"] += 1
        out["transactions"] = len(self._clients) + len(self._servers)
        out["awaiting_ack"] = len(self._awaiting_ack)
        out["timer_heap"] = len(self._heap)
        for reason, count in self._drops.items():
            out[f"drop.{reason}"] = count
        return out

    def __len__(self) -> int:
        """Live transactions."""
        return len(self._clients) + len(self._servers)

    # -- internals

    def _collect(self, tx: AnyTransaction) -> None:
        """Move a transaction's output into ours; forget it once terminated; re-arm its timer."""
        if tx._out:
            peer = tx.peer
            assert peer is not None  # the layer always gives one
            for data in tx._out:
                self._out.append((data, peer))
            tx._out.clear()
        if tx._events:
            self._events.extend(tx._events)
            tx._events.clear()
        if tx.state is State.TERMINATED:
            tx._heap_seq = -1
            if isinstance(tx, ClientInviteTransaction | ClientNonInviteTransaction):
                self._clients.pop(tx.key, None)
            else:
                self._servers.pop(tx.key, None)
                if isinstance(tx, ServerInviteTransaction):
                    ack_key = (tx.request.call_id, tx.request.cseq[0])
                    if self._awaiting_ack.get(ack_key) is tx:
                        del self._awaiting_ack[ack_key]
            return
        deadline = tx.next_deadline()
        heap = self._heap
        if deadline is None:
            tx._heap_seq = -1
            return
        if tx._heap_seq >= 0 and tx._heap_at == deadline:
            return  # the entry already in the heap is still right
        self._seq += 1
        tx._heap_seq = self._seq
        tx._heap_at = deadline
        heapq.heappush(heap, (deadline, self._seq, tx))
        if len(heap) > 2 * (len(self._clients) + len(self._servers)) + 1024:
            self._compact()

    def _compact(self) -> None:
        """Drop stale heap entries, so a burst of re-arms cannot grow the heap without bound."""
        self._heap = [e for e in self._heap if e[1] == e[2]._heap_seq]
        heapq.heapify(self._heap)


def _to_tag_of(response: Response) -> str | None:
    try:
        return parse_name_addr(response.headers.get("To") or "").tag
    except SipParseError:
        return None


__all__ = [
    "DEFAULT_TIMERS",
    "TIMER_C_S",
    "TIMER_D_S",
    "TIMER_T1_S",
    "TIMER_T2_S",
    "TIMER_T4_S",
    "AckReceived",
    "AckTimedOut",
    "CancelReceived",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransactionId",
    "Input",
    "RequestReceived",
    "ResponseOverdue",
    "ResponseReceived",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "ServerTransactionId",
    "State",
    "Timers",
    "TransactionEvent",
    "TransactionLayer",
    "TransactionTimedOut",
    "client_transaction_id",
    "make_ack",
    "make_cancel",
    "server_transaction_id",
]
