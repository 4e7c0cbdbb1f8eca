"""Call-control and device events published on the bus (style rule 3 and 4).

Every leg — SIP dialog today; FXS port, FXO line and DECT handset in later issues — is described
by the same events, so call records, busy-lamp fields and the web page never ask which kind of
leg they watch. Times are the board's monotonic clock in seconds; wall-clock time appears only
in records.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

CallId = NewType("CallId", str)
LegId = NewType("LegId", str)


class Cause(StrEnum):
    """Why a leg or call ended; maps onto SIP status and, later, Q.850 causes."""

    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    UNAVAILABLE = "unavailable"
    NOT_FOUND = "not_found"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    ANSWERED_ELSEWHERE = "answered_elsewhere"
    SHUTDOWN = "shutdown"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A caller asked for a destination."""

    call: CallId
    caller: str
    dialled: str
    at: float


@dataclass(frozen=True, slots=True)
class LegRinging:
    """A leg of the call is alerting (a phone rings)."""

    call: CallId
    leg: LegId
    device: str
    at: float


@dataclass(frozen=True, slots=True)
class Answered:
    """The called party took the call."""

    call: CallId
    leg: LegId
    device: str
    at: float


@dataclass(frozen=True, slots=True)
class CallHeld:
    """One side put the other on hold (`held` False: resumed)."""

    call: CallId
    leg: LegId
    held: bool
    at: float


@dataclass(frozen=True, slots=True)
class Transferred:
    """`by` joined the far end of `call` to the far end of `to_call` and left both; the two
    calls end together from now on."""

    call: CallId
    to_call: CallId
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class Diverted:
    """`user`'s forwarding (`kind`: always, busy, no_answer, not_reachable, follow_me) sent
    `call` on to `to` (a number as the user set it)."""

    call: CallId
    user: str
    kind: str
    to: str
    at: float


@dataclass(frozen=True, slots=True)
class Parked:
    """`by` parked `call` in `slot`; it waits there on music until retrieved or recalled."""

    call: CallId
    slot: str
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class Unparked:
    """`call` left park `slot`: taken by `by` (a device), recalled to the parker, or its
    caller hung up (`by` empty)."""

    call: CallId
    slot: str
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; `answered_at` is None for an unanswered call, which is never lost."""

    call: CallId
    caller: str
    dialled: str
    cause: Cause
    status: int
    started_at: float
    answered_at: float | None
    at: float
    answered_by: str | None = None
    rung: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Registered:
    """A device registered a new contact."""

    device: str
    contact: str
    source: str
    at: float


@dataclass(frozen=True, slots=True)
class Unregistered:
    """A device's contact went away (expired, removed or its connection closed)."""

    device: str
    contact: str
    at: float
