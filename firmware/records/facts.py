"""Call facts the call records need beyond the core call events (firmware.calls.events).

The controller, queues and bridges publish these on the bus as they happen; the call recorder
(`firmware.records.cdr`) joins them with `CallStarted`, `LegRinging`, `Answered` and `CallEnded`
into one record per call. Like every bus event they are immutable and carry the board's
monotonic time `at` in seconds; none of them is required: a call seen only through its
`CallEnded` still gets a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from firmware.calls.events import CallId, Cause, LegId
from firmware.calls.numbers import NumberClass
from firmware.media.quality import CallQuality


class Direction(StrEnum):
    """Which way a call crossed the box's edge; a call that used no trunk is internal."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class TransferKind(StrEnum):
    """How the call was handed on."""

    BLIND = "blind"
    """The transferring party hung up before the target answered."""
    ATTENDED = "attended"
    """The transferring party spoke to the target first."""


class GroupKind(StrEnum):
    """What kind of group a call waited in: both are reported per group."""

    DEPARTMENT = "department"
    """A ring group: the wait is the ringing before someone answers."""
    QUEUE = "queue"
    """An ACD queue: the wait is time in line (music on hold) and ringing the agent."""


class QueueOutcome(StrEnum):
    """How a call left a department or queue."""

    ANSWERED = "answered"
    """An employee of the group answered."""
    ABANDONED = "abandoned"
    """The caller hung up while waiting."""
    OVERFLOW = "overflow"
    """Maximum wait or length reached, or the strategy ran out: the call went to the
    group's fallback (another group, voicemail)."""
    VOICEMAIL = "voicemail"
    """The caller pressed the key to leave a message."""
    CALLBACK = "callback"
    """The caller asked to be called back (keeps the place in line)."""


@dataclass(frozen=True, slots=True)
class TrunkUsed:
    """The call entered or left the box through a trunk (FXO line, SIP trunk, peer box)."""

    call: CallId
    trunk: str
    direction: Direction
    number: str
    """The external party: the caller's number for inbound, the number dialled out for
    outbound, as E.164 when known (it prices the call against the tariff's prefixes)."""
    at: float
    number_class: NumberClass | None = None
    """The class `calls.numbers.classify` gave the external number, for class-priced rates."""


@dataclass(frozen=True, slots=True)
class LegEnded:
    """One leg stopped before the call ended: a phone stopped ringing (in-turn hunting, a queue
    agent not answering) or a party left a call that goes on (after a transfer). Without it a
    ringing leg is taken to stop when another leg answers or the call ends."""

    call: CallId
    leg: LegId
    cause: Cause
    at: float


@dataclass(frozen=True, slots=True)
class Transferred:
    """`leg` handed the call on to `target` (an extension, a group, an external number)."""

    call: CallId
    leg: LegId
    target: str
    kind: TransferKind
    at: float


@dataclass(frozen=True, slots=True)
class QueueJoined:
    """The call entered a department (ring group) or an ACD queue."""

    call: CallId
    queue: str
    at: float
    kind: GroupKind = GroupKind.QUEUE
    position: int = 0
    """1-based place in line on entry; 0 for a department (no line)."""


@dataclass(frozen=True, slots=True)
class QueueLeft:
    """The call left a department or queue; without this event the recorder infers the
    outcome (answered when the call was answered, else abandoned at its end)."""

    call: CallId
    queue: str
    outcome: QueueOutcome
    at: float


@dataclass(frozen=True, slots=True)
class QualityMeasured:
    """Voice quality of a leg's received stream, published when the leg's media stops (the
    last one for a leg wins)."""

    call: CallId
    leg: LegId
    quality: CallQuality
    at: float
