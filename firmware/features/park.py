"""Call park: put a call in a numbered slot, retrieve it from any phone, ring the parker back.

What installers expect (Panasonic KX-TDA/NS "Call Park", Asterisk features.conf `[parkinglot]`
with `parkpos`, `parkingtime` and `comebacktoorigin`, architecture only): a user parks a call
with a feature code, either in a slot they name or in the first free one (Asterisk's
`findslot=first`), announces the slot (paging "call for Anna on 71"), and anyone retrieves it by
dialling the retrieve code and the slot. A slot holds one call; parking into an occupied slot is
refused with the reason, never silently overwriting. A call left parked for `timeout_s` (60 s
default, as Panasonic's hold/park recall and within Asterisk's 45 s habit) leaves its slot and
rings the phone that parked it (`ParkTimedOut.return_to`). A parked caller who hangs up frees the
slot at once. Busy-lamp fields watch `occupied()` and the events.

Pure: no I/O; `now` is the board's monotonic clock in seconds. The controller holds the parked
leg on music, pages, and acts on `ParkTimedOut` by ringing `return_to`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from firmware.calls.events import CallId

log = logging.getLogger(__name__)

DEFAULT_PARK_TIMEOUT_S = 60.0
MIN_PARK_TIMEOUT_S = 10.0
MAX_PARK_TIMEOUT_S = 3600.0


class ParkRefusalReason(StrEnum):
    """Why a park or retrieve request was refused; the controller plays the matching prompt."""

    SLOT_OCCUPIED = "slot_occupied"
    NO_FREE_SLOT = "no_free_slot"
    NO_SUCH_SLOT = "no_such_slot"
    ALREADY_PARKED = "already_parked"
    SLOT_EMPTY = "slot_empty"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: ParkRefusalReason
    slot: int | None = None


@dataclass(frozen=True, slots=True)
class Parked:
    """A call now waits in `slot`; also queued as an event for busy-lamp fields."""

    call: CallId
    slot: int
    by_device: str
    at: float
    deadline: float
    """When it rings the parker back (board clock, seconds)."""


ParkResult = Parked | Refusal


@dataclass(frozen=True, slots=True)
class Retrieved:
    call: CallId
    slot: int
    by_device: str
    at: float


@dataclass(frozen=True, slots=True)
class ParkAbandoned:
    """The parked caller hung up; the slot is free."""

    call: CallId
    slot: int
    at: float | None


@dataclass(frozen=True, slots=True)
class ParkTimedOut:
    """Nobody retrieved the call in time: it left its slot and must ring `return_to`."""

    call: CallId
    slot: int
    return_to: str
    """The device that parked it."""
    at: float


ParkEvent = Parked | Retrieved | ParkAbandoned | ParkTimedOut


@dataclass(frozen=True, slots=True)
class _Entry:
    call: CallId
    by_device: str
    deadline: float


class ParkingLot:
    """Numbered park slots. One call per slot, one slot per call."""

    def __init__(self, slots: Iterable[int], timeout_s: float = DEFAULT_PARK_TIMEOUT_S) -> None:
        ordered = tuple(dict.fromkeys(slots))
        if not ordered:
            raise ValueError("a parking lot needs at least one slot")
        if not MIN_PARK_TIMEOUT_S <= timeout_s <= MAX_PARK_TIMEOUT_S:
            raise ValueError(f"park timeout must be {MIN_PARK_TIMEOUT_S:g}-"
                             f"{MAX_PARK_TIMEOUT_S:g} s, not {timeout_s:g}")
        self._slots = ordered
        self._timeout_s = timeout_s
        self._parked: dict[int, _Entry] = {}
        self._events: deque[ParkEvent] = deque()

    @property
    def slots(self) -> tuple[int, ...]:
        return self._slots

    # -- inputs --

    def park(self, call: CallId, by_device: str, now: float,
             slot: int | None = None) -> ParkResult:
        """Park `call` in `slot`, or in the first free slot when None."""
        self.handle_timers(now)
        if self.slot_of(call) is not None:
            return Refusal(ParkRefusalReason.ALREADY_PARKED, self.slot_of(call))
        if slot is None:
            free = next((s for s in self._slots if s not in self._parked), None)
            if free is None:
                return Refusal(ParkRefusalReason.NO_FREE_SLOT)
            slot = free
        elif slot not in self._slots:
            return Refusal(ParkRefusalReason.NO_SUCH_SLOT, slot)
        elif slot in self._parked:
            return Refusal(ParkRefusalReason.SLOT_OCCUPIED, slot)
        entry = _Entry(call, by_device, now + self._timeout_s)
        self._parked[slot] = entry
        parked = Parked(call, slot, by_device, now, entry.deadline)
        self._events.append(parked)
        log.info("call %s parked in slot %d by %r", call, slot, by_device)
        return parked

    def retrieve(self, slot: int, by_device: str, now: float) -> CallId | Refusal:
        """Take the call out of `slot` for `by_device` (any phone may)."""
        self.handle_timers(now)
        if slot not in self._slots:
            return Refusal(ParkRefusalReason.NO_SUCH_SLOT, slot)
        entry = self._parked.pop(slot, None)
        if entry is None:
            return Refusal(ParkRefusalReason.SLOT_EMPTY, slot)
        self._events.append(Retrieved(entry.call, slot, by_device, now))
        log.info("call %s retrieved from slot %d by %r", entry.call, slot, by_device)
        return entry.call

    def abandon(self, call: CallId, now: float | None = None) -> int | None:
        """The parked caller hung up: free its slot (returned; None if it was not parked)."""
        slot = self.slot_of(call)
        if slot is None:
            return None
        del self._parked[slot]
        self._events.append(ParkAbandoned(call, slot, now))
        return slot

    def handle_timers(self, now: float) -> None:
        """Time out every call whose deadline passed (earliest first)."""
        due = sorted((e.deadline, s) for s, e in self._parked.items() if e.deadline <= now)
        for _, slot in due:
            entry = self._parked.pop(slot)
            self._events.append(ParkTimedOut(entry.call, slot, entry.by_device, now))
            log.info("call %s timed out in slot %d, returning to %r", entry.call, slot,
                     entry.by_device)

    # -- outputs --

    def next_deadline(self) -> float | None:
        return min((e.deadline for e in self._parked.values()), default=None)

    def next_event(self) -> ParkEvent | None:
        return self._events.popleft() if self._events else None

    def occupied(self) -> Mapping[int, CallId]:
        """Slot → parked call, for busy-lamp fields (a snapshot)."""
        return MappingProxyType({s: e.call for s, e in self._parked.items()})

    def slot_of(self, call: CallId) -> int | None:
        return next((s for s, e in self._parked.items() if e.call == call), None)
