"""Call detail records: one record per call with its legs, built from the bus events.

`CallRecorder` is a pure core (style rule 1): the service feeds it every call event with the
board's monotonic `now` and the wall-clock time `wall` sampled together, and it hands back a
finished `CallRecord` when a call's `CallEnded` arrives. The record is the call as the office
sees it: who called whom, every phone that rang (a leg) and how that leg ended, who answered,
each transfer, each department or queue the call waited in, the trunks it used and what they
cost (`records.tariff`), and the voice quality of each leg (`media.quality`, G.107 MOS).

Nothing is lost for want of an event: `CallEnded` alone (caller, dialled, start, answer,
`answered_by`, `rung`) makes a complete record, so a missed call always says whom it rang even
if the `LegRinging` events were dropped by a slow subscriber or the recorder started mid-call.

Times inside a record are seconds from the call's start (`started`, an aware datetime), so a
record never mixes the monotonic clock with wall-clock time. Definitions the reports rely on:

* ring_s: from the start to the first answer (or the end, unanswered);
* talk_s: from the first answer to the end — what the caller spent talking, across transfers;
  a leg's `talk_s` is its own part of it;
* a queue visit's wait: from joining to leaving (answered, abandoned, overflow, …).

Open calls are bounded (`max_open_calls`); beyond it the oldest is finished as it stands and
counted in `evicted`, so a controller that never ends a call cannot grow memory.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from firmware.calls.events import Answered, CallEnded, CallStarted, Cause, LegRinging
from firmware.calls.numbers import NumberClass
from firmware.media.quality import CallQuality
from firmware.records.facts import (
    Direction,
    GroupKind,
    LegEnded,
    QualityMeasured,
    QueueJoined,
    QueueLeft,
    QueueOutcome,
    TransferKind,
    Transferred,
    TrunkUsed,
)
from firmware.records.tariff import Charge, TariffTable

log = logging.getLogger(__name__)

RECORD_EVENTS: tuple[type[object], ...] = (
    CallStarted, LegRinging, Answered, CallEnded,
    LegEnded, Transferred, QueueJoined, QueueLeft, TrunkUsed, QualityMeasured,
)
"""Every event type the recorder consumes: subscribe to these."""


class Disposition(StrEnum):
    """How the call as a whole ended, as the reports count it."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    """Rang out: nobody answered before the ring timeout."""
    BUSY = "busy"
    CANCELLED = "cancelled"
    """The caller hung up before anyone answered (abandoned)."""
    FAILED = "failed"
    """Not found, unavailable, rejected, an internal error or a shutdown."""


_UNANSWERED: dict[Cause, Disposition] = {
    Cause.BUSY: Disposition.BUSY,
    Cause.NO_ANSWER: Disposition.NO_ANSWER,
    Cause.TIMEOUT: Disposition.NO_ANSWER,
    Cause.CANCELLED: Disposition.CANCELLED,
    Cause.NORMAL: Disposition.CANCELLED,
}


def disposition_of(cause: Cause, answered: bool) -> Disposition:
    """The disposition of a call that ended with `cause`."""
    if answered:
        return Disposition.ANSWERED
    return _UNANSWERED.get(cause, Disposition.FAILED)


class LegOutcome(StrEnum):
    """How one leg (a phone that rang) ended."""

    ANSWERED = "answered"
    """Answered, and talked until the call ended."""
    TRANSFERRED = "transferred"
    """Answered, then handed the call on or left it."""
    ANSWERED_ELSEWHERE = "answered_elsewhere"
    NOT_ANSWERED = "not_answered"
    """Stopped ringing without an answer anywhere (rang out, caller gave up, hunt moved on)."""


@dataclass(frozen=True, slots=True)
class LegRecord:
    """One phone the call rang; times are seconds from the call's start."""

    leg: str
    device: str
    rang_s: float
    answered_s: float | None
    ended_s: float
    outcome: LegOutcome
    quality: CallQuality | None = None

    @property
    def ring_s(self) -> float:
        return (self.ended_s if self.answered_s is None else self.answered_s) - self.rang_s

    @property
    def talk_s(self) -> float:
        return 0.0 if self.answered_s is None else max(self.ended_s - self.answered_s, 0.0)


@dataclass(frozen=True, slots=True)
class QueueVisit:
    """A department or queue the call waited in."""

    queue: str
    kind: GroupKind
    joined_s: float
    left_s: float
    outcome: QueueOutcome
    position: int = 0

    @property
    def wait_s(self) -> float:
        return max(self.left_s - self.joined_s, 0.0)


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A hand-over: `from_device` (empty when the leg was not a phone of ours) to `target`."""

    from_device: str
    target: str
    kind: TransferKind
    at_s: float


@dataclass(frozen=True, slots=True)
class TrunkRecord:
    """A trunk the call used; `talk_s` is the conversation while it was in use; `charge` is
    None for inbound use and for an outbound number no rate matches."""

    trunk: str
    direction: Direction
    number: str
    number_class: NumberClass | None
    at_s: float
    talk_s: float
    charge: Charge | None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call, finished."""

    call: str
    started: datetime
    """Wall-clock start, timezone-aware (the office's offset is kept for the hourly report)."""
    caller: str
    dialled: str
    direction: Direction
    disposition: Disposition
    cause: Cause
    status: int
    answered_by: str | None
    ring_s: float
    talk_s: float
    duration_s: float
    legs: tuple[LegRecord, ...] = ()
    queues: tuple[QueueVisit, ...] = ()
    transfers: tuple[TransferRecord, ...] = ()
    trunks: tuple[TrunkRecord, ...] = ()

    @property
    def answered(self) -> bool:
        return self.disposition is Disposition.ANSWERED

    @property
    def rung(self) -> tuple[str, ...]:
        """Devices rung, in the order they started ringing, each once."""
        return tuple(dict.fromkeys(leg.device for leg in self.legs))

    @property
    def external_number(self) -> str | None:
        return self.trunks[0].number if self.trunks else None

    @property
    def trunk(self) -> str | None:
        return self.trunks[0].trunk if self.trunks else None

    @property
    def queue_wait_s(self) -> float:
        return sum(v.wait_s for v in self.queues)

    @property
    def cost_minor(self) -> int | None:
        """Total cost of the priced trunk uses; None when no use was priced."""
        costs = [t.charge.cost_minor for t in self.trunks if t.charge is not None]
        return sum(costs) if costs else None

    @property
    def mos_min(self) -> float | None:
        """Worst leg MOS, None if no leg was measured."""
        values = [leg.quality.mos for leg in self.legs if leg.quality is not None]
        return min(values) if values else None


@dataclass(slots=True)
class _Leg:
    leg: str
    device: str
    rang_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    transferred: bool = False
    quality: CallQuality | None = None


@dataclass(slots=True)
class _Visit:
    queue: str
    kind: GroupKind
    joined_at: float
    position: int
    left_at: float | None = None
    outcome: QueueOutcome | None = None


@dataclass(slots=True)
class _Open:
    legs: dict[str, _Leg] = field(default_factory=dict)
    visits: list[_Visit] = field(default_factory=list)
    transfers: list[tuple[str, Transferred]] = field(default_factory=list)
    trunks: list[TrunkUsed] = field(default_factory=list)
    qualities: dict[str, CallQuality] = field(default_factory=dict)


class CallRecorder:
    """Joins call events into `CallRecord`s. Pure: no I/O, time passed in."""

    def __init__(self, tariffs: TariffTable | None = None, max_open_calls: int = 4096) -> None:
        self._tariffs = tariffs or TariffTable()
        self._max_open = max_open_calls
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self.evicted = 0

    @property
    def open_calls(self) -> int:
        return len(self._open)

    def handle(self, event: object, now: float, wall: datetime) -> CallRecord | None:
        """Take one event; return the call's record when `event` ended it.

        `now` (board monotonic seconds) and `wall` (aware datetime) are sampled together by the
        caller; they place the event's `at` on the wall clock. Events of other types are ignored.
        """
        if isinstance(event, CallEnded):
            state = self._open.pop(event.call, None) or _Open()
            return self._finish(event, state, now, wall)
        if isinstance(event, LegRinging):
            state = self._state(event.call)
            state.legs.setdefault(event.leg, _Leg(event.leg, event.device, event.at))
        elif isinstance(event, Answered):
            state = self._state(event.call)
            leg = state.legs.setdefault(event.leg, _Leg(event.leg, event.device, event.at))
            if leg.answered_at is None:
                leg.answered_at = event.at
        elif isinstance(event, LegEnded):
            known = self._state(event.call).legs.get(event.leg)
            if known is not None and known.ended_at is None:
                known.ended_at = event.at
        elif isinstance(event, Transferred):
            state = self._state(event.call)
            known = state.legs.get(event.leg)
            if known is not None:
                known.transferred = True
                if known.ended_at is None:
                    known.ended_at = event.at
            state.transfers.append(("" if known is None else known.device, event))
        elif isinstance(event, QueueJoined):
            self._state(event.call).visits.append(
                _Visit(event.queue, event.kind, event.at, event.position)
            )
        elif isinstance(event, QueueLeft):
            for visit in reversed(self._state(event.call).visits):
                if visit.queue == event.queue and visit.left_at is None:
                    visit.left_at, visit.outcome = event.at, event.outcome
                    break
        elif isinstance(event, TrunkUsed):
            self._state(event.call).trunks.append(event)
        elif isinstance(event, QualityMeasured):
            self._state(event.call).qualities[event.leg] = event.quality
        elif isinstance(event, CallStarted):
            self._state(event.call)
        return None

    def _state(self, call: str) -> _Open:
        state = self._open.get(call)
        if state is None:
            if len(self._open) >= self._max_open:
                old, _ = self._open.popitem(last=False)
                self.evicted += 1
                log.warning("%s: call record dropped, more than %d open calls", old, self._max_open)
            state = self._open[call] = _Open()
        return state

    def _finish(self, ended: CallEnded, state: _Open, now: float, wall: datetime) -> CallRecord:
        t0 = ended.started_at
        end = max(ended.at, t0)
        started = wall - timedelta(seconds=now - t0)
        answers = sorted(
            leg.answered_at for leg in state.legs.values() if leg.answered_at is not None
        )
        first_answer = ended.answered_at if ended.answered_at is not None else (
            answers[0] if answers else None
        )
        # Phones CallEnded names that no LegRinging showed (events lost): ringing from the start.
        # The answering phone, if no Answered event showed it, answered at `answered_at`.
        devices = {leg.device for leg in state.legs.values()}
        answerer = ended.answered_by if first_answer is not None and not answers else None
        for i, device in enumerate((*ended.rung, *(() if answerer is None else (answerer,)))):
            if device not in devices:
                devices.add(device)
                leg_id = f"{ended.call}/rung{i}"
                state.legs[leg_id] = _Leg(leg_id, device, t0)
        if answerer is not None and first_answer is not None:
            for leg in state.legs.values():
                if leg.device == answerer and leg.answered_at is None:
                    leg.answered_at = first_answer
                    answers = [first_answer]
                    break

        legs = tuple(self._leg_record(leg, state, answers, t0, end) for leg in state.legs.values())
        answered_by = ended.answered_by
        if answered_by is None and first_answer is not None:
            answered_by = next((lr.device for lr in sorted(
                (lr for lr in legs if lr.answered_s is not None),
                key=lambda lr: lr.answered_s or 0.0)), None)
        visits = tuple(self._visit_record(v, answers, t0, end) for v in state.visits)
        transfers = tuple(
            TransferRecord(device, t.target, t.kind, t.at - t0) for device, t in state.transfers
        )
        trunks = tuple(self._trunk_record(t, first_answer, t0, end) for t in state.trunks)
        direction = trunks[0].direction if trunks else Direction.INTERNAL
        answered = first_answer is not None
        return CallRecord(
            call=str(ended.call),
            started=started,
            caller=ended.caller,
            dialled=ended.dialled,
            direction=direction,
            disposition=disposition_of(ended.cause, answered),
            cause=ended.cause,
            status=ended.status,
            answered_by=answered_by,
            ring_s=(end if first_answer is None else first_answer) - t0,
            talk_s=0.0 if first_answer is None else max(end - first_answer, 0.0),
            duration_s=end - t0,
            legs=legs,
            queues=visits,
            transfers=transfers,
            trunks=trunks,
        )

    def _leg_record(
        self, leg: _Leg, state: _Open, answers: list[float], t0: float, end: float
    ) -> LegRecord:
        quality = state.qualities.get(leg.leg)
        if leg.answered_at is not None:
            ended_at = end if leg.ended_at is None else leg.ended_at
            left_early = leg.transferred or ended_at < end
            outcome = LegOutcome.TRANSFERRED if left_early else LegOutcome.ANSWERED
        else:
            # A ringing leg stops at its own LegEnded, else at the first answer after it began
            # ringing (another phone took the call), else at the end of the call.
            taken = next((a for a in answers if a >= leg.rang_at), None)
            if leg.ended_at is not None:
                ended_at = leg.ended_at
            else:
                ended_at = end if taken is None else taken
            outcome = (LegOutcome.ANSWERED_ELSEWHERE if taken is not None and taken <= ended_at
                       else LegOutcome.NOT_ANSWERED)
        return LegRecord(
            leg.leg, leg.device, leg.rang_at - t0,
            None if leg.answered_at is None else leg.answered_at - t0,
            min(ended_at, end) - t0, outcome, quality,
        )

    @staticmethod
    def _visit_record(visit: _Visit, answers: list[float], t0: float, end: float) -> QueueVisit:
        left_at, outcome = visit.left_at, visit.outcome
        if left_at is None or outcome is None:
            taken = next((a for a in answers if a >= visit.joined_at), None)
            if taken is not None:
                left_at, outcome = taken, QueueOutcome.ANSWERED
            else:
                left_at, outcome = end, QueueOutcome.ABANDONED
        return QueueVisit(
            visit.queue, visit.kind, visit.joined_at - t0, left_at - t0, outcome, visit.position
        )

    def _trunk_record(
        self, use: TrunkUsed, first_answer: float | None, t0: float, end: float
    ) -> TrunkRecord:
        talk_s = 0.0 if first_answer is None else max(end - max(first_answer, use.at), 0.0)
        charge = None
        if use.direction is Direction.OUTBOUND:
            charge = self._tariffs.price(use.trunk, use.number, use.number_class, talk_s)
        return TrunkRecord(
            use.trunk, use.direction, use.number, use.number_class, use.at - t0, talk_s, charge
        )
