"""The host side of the DECT module link: requests matched to confirms, with timeouts and
retransmission, and indications checked for loss (docs/dect-uart.md §2.3, §6).

Stop-and-wait: one request is outstanding at a time, later ones queue in order. A confirm
matches when its SEQ *and* CMD equal the outstanding request's; anything else is stray (a
late confirm of a request already given up) and is counted, never delivered. A request
unanswered for `timeout_s` is sent again, byte for byte with the same SEQ — the module answers
a repeated SEQ from its cache without executing the request twice — up to `retries` times;
then it fails with `RequestTimedOut` and the caller decides that the module is silent.

Indications carry the module's own SEQ counter; a jump means indications were lost on the
wire (a CRC error), which `IndicationReceived.lost` reports so the caller can re-read state.

Pure: bytes and `now` in, bytes, events and the next deadline out (aioquic's shape).
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

from drivers.dect.frames import (
    GAP_TIMEOUT_S,
    Frame,
    FrameDecoder,
    FrameError,
    FrameErrorReason,
    FrameKind,
    encode,
)
from drivers.dect.messages import Indication

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 0.3
"""The module confirms within 50 ms (docs §6); 0.3 s leaves room for indications queued
ahead of the confirm at 115 200 baud."""
REQUEST_RETRIES = 2
"""Retransmissions before giving up: a silent module is declared after 3 × 0.3 s."""
MAX_QUEUED_REQUESTS = 32
"""Requests waiting behind the outstanding one; more means the module stalls the box."""


@dataclass(frozen=True, slots=True)
class Confirmed:
    """Request `request` was answered: `status` and the payload after it."""

    request: int
    command: int
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    """Request `request` got no confirm after its retransmissions."""

    request: int
    command: int


@dataclass(frozen=True, slots=True)
class IndicationReceived:
    """An indication; `lost` indications were missed just before it (SEQ gap)."""

    code: int
    payload: bytes
    lost: int


LinkEvent = Confirmed | RequestTimedOut | IndicationReceived


@dataclass(slots=True)
class _Request:
    handle: int
    frame: Frame
    sent_at: float = 0.0
    attempts: int = 0


class DectLink:
    """One UART link to a module. `request()` queues; `outgoing()` hands the bytes to write;
    `receive()` takes what the UART read; `next_event()` returns what happened."""

    def __init__(self, timeout_s: float = REQUEST_TIMEOUT_S, retries: int = REQUEST_RETRIES,
                 gap_timeout_s: float = GAP_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.retries = retries
        self._decoder = FrameDecoder(gap_timeout_s)
        self._seq = 0
        self._handles = 0
        self._current: _Request | None = None
        self._queue: collections.deque[_Request] = collections.deque()
        self._out: list[bytes] = []
        self._events: collections.deque[LinkEvent] = collections.deque()
        self._indication_seq: int | None = None
        self.last_received_at: float | None = None
        """When the last good frame arrived (liveness)."""
        self.frame_errors: collections.Counter[FrameErrorReason] = collections.Counter()
        self.stray_confirms = 0
        self.unexpected_frames = 0
        self.retransmissions = 0
        self.indications_lost = 0

    # --- host side -------------------------------------------------------------------------

    def request(self, command: int, payload: bytes, now: float) -> int:
        """Queue a request; returns its handle (for the Confirmed/RequestTimedOut event).
        Raises OverflowError when MAX_QUEUED_REQUESTS already wait."""
        if len(self._queue) >= MAX_QUEUED_REQUESTS:
            raise OverflowError(f"{len(self._queue)} requests already queued")
        self._handles += 1
        self._seq = (self._seq + 1) & 0xFF
        frame = Frame(FrameKind.REQUEST, self._seq, command, payload)
        self._queue.append(_Request(self._handles, frame))
        self._send_next(now)
        return self._handles

    def outgoing(self) -> list[bytes]:
        """Bytes to write to the UART, in order (taken)."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> LinkEvent | None:
        return self._events.popleft() if self._events else None

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self._decoder.next_deadline(),
                                 self._current.sent_at + self.timeout_s
                                 if self._current is not None else None) if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timers(self, now: float) -> None:
        self._decoder.handle_timers(now)
        self._drain_decoder(now)
        current = self._current
        if current is not None and now >= current.sent_at + self.timeout_s:
            if current.attempts <= self.retries:
                self.retransmissions += 1
                log.debug("retransmitting seq %d (attempt %d)", current.frame.seq,
                          current.attempts + 1)
                self._transmit(current, now)
            else:
                self._current = None
                self._events.append(RequestTimedOut(current.handle, current.frame.command))
                self._send_next(now)

    def abort(self) -> list[int]:
        """Drop every outstanding and queued request, undelivered events and undecided bytes
        (the link is being reset); returns the requests' handles. The next indication's SEQ
        starts a new count."""
        handles = [r.handle for r in ([self._current] if self._current else [])]
        handles += [r.handle for r in self._queue]
        self._current = None
        self._queue.clear()
        self._out.clear()
        self._events.clear()
        self._decoder.reset()
        self._indication_seq = None
        return handles

    @property
    def busy(self) -> bool:
        """A request is outstanding or queued."""
        return self._current is not None or bool(self._queue)

    # --- module side -----------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Bytes read from the UART at `now`."""
        self._decoder.feed(data, now)
        self._drain_decoder(now)

    # --- internals -------------------------------------------------------------------------

    def _drain_decoder(self, now: float) -> None:
        while (item := self._decoder.next_item()) is not None:
            if isinstance(item, FrameError):
                self.frame_errors[item.reason] += 1
                log.debug("dropped %d bytes: %s", item.dropped, item.reason)
            else:
                self.last_received_at = now
                self._frame(item, now)

    def _frame(self, frame: Frame, now: float) -> None:
        if frame.kind is FrameKind.INDICATION:
            lost = 0
            # A module that (re)booted counts afresh: SYS_READY carries SEQ 0 (docs §2.3).
            if self._indication_seq is not None and frame.command != Indication.SYS_READY:
                lost = (frame.seq - self._indication_seq - 1) & 0xFF
            self._indication_seq = frame.seq
            self.indications_lost += lost
            self._events.append(IndicationReceived(frame.command, frame.payload, lost))
        elif frame.kind is FrameKind.CONFIRM:
            current = self._current
            if (current is None or frame.seq != current.frame.seq
                    or frame.command != current.frame.command or not frame.payload):
                self.stray_confirms += 1
                log.debug("stray confirm seq %d cmd 0x%02X", frame.seq, frame.command)
                return
            self._current = None
            self._events.append(Confirmed(current.handle, frame.command, frame.payload[0],
                                          frame.payload[1:]))
            self._send_next(now)
        else:  # a module never sends requests: a loop-back or a crossed cable
            self.unexpected_frames += 1

    def _send_next(self, now: float) -> None:
        if self._current is None and self._queue:
            self._current = self._queue.popleft()
            self._transmit(self._current, now)

    def _transmit(self, request: _Request, now: float) -> None:
        request.attempts += 1
        request.sent_at = now
        self._out.append(encode(request.frame))
