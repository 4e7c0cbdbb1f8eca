"""Class of service and the toll guard: who may call what, and how much before calls lock.

A class of service names the number classes (calls.numbers: local, long distance, mobile,
international, premium, …) and trunk groups its holders may use, and their limits on calls and
cost per hour and per day. Fraud guardrails are on by default (the classic PBX toll-fraud
routes, CFCA and ITU-T E.408 §9: international and premium numbers, forwarding and DISA used as
call-through, a hacked phone dialling all night):

- the default class allows internal, local, long-distance, mobile, toll-free and service
  numbers; international, premium, shared-cost and unknown numbers are denied until a class
  enables them;
- emergency numbers are always allowed and never counted, whatever the class or lock;
- external calls are limited per extension (30 per hour, 200 per day by default) and, when
  configured, per route (trunk group) and in cost; reaching a limit locks that extension's or
  route's external calls until the period ends (or an administrator unlocks) and emits a
  `Locked` alert naming the calls in progress.

The same decision serves a call, a forward, follow-me, a transfer and DISA: a request names the
originating party and every party whose forward, follow-me or transfer sent the call on, and
each one's class of service must allow the destination. A phone restricted to internal calls
that calls an extension forwarded abroad is refused (its class applies to the forwarded
destination); an external caller forwarded out by an extension needs the inbound trunk's class
and the extension's. Forwarding and follow-me to an emergency number are refused: a
redirection must not send every caller to the emergency services.

`decide` is a pure function of the policy; `TollGuard` adds the counting, sans-I/O: it is told
call starts, answers and ends with `now` and cost estimates, answers with a `Decision`, queues
`Locked`/`Unlocked` events and gives the next deadline (a lock's end, the moment a running
call's cost reaches a limit).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from firmware.calls.dialplan import (
    DepartmentTarget,
    EmergencyTarget,
    ExtensionTarget,
    ExternalTarget,
    Target,
)
from firmware.calls.events import CallId
from firmware.calls.numbers import NumberClass

HOUR_S = 3600.0
DAY_S = 86400.0


class Action(StrEnum):
    """How the call reaches its destination; decides only where emergency numbers may go."""

    CALL = "call"
    FORWARD = "forward"
    FOLLOW_ME = "follow_me"
    TRANSFER = "transfer"
    DISA = "disa"


class SubjectKind(StrEnum):
    EXTENSION = "extension"
    """A phone's extension number."""
    INBOUND = "inbound"
    """Callers arriving on a trunk group (the `id`): their class applies when they are
    forwarded or transferred out again."""
    DISA = "disa"
    """A DISA profile (the PIN's owner): the class of calls placed through DISA."""
    ROUTE = "route"
    """A trunk group used outbound: has limits, no class."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a class of service or a limit belongs to."""

    kind: SubjectKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value} {self.id}"


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on external (trunk) calls; None: no cap. Emergency calls never count."""

    calls_per_hour: int | None = None
    calls_per_day: int | None = None
    cost_per_hour_minor: int | None = None
    """In minor currency units (kopecks, cents), as the cost estimates given to TollGuard."""
    cost_per_day_minor: int | None = None


STANDARD_CLASSES = frozenset(
    {
        NumberClass.INTERNAL,
        NumberClass.EMERGENCY,
        NumberClass.LOCAL,
        NumberClass.LONG_DISTANCE,
        NumberClass.MOBILE,
        NumberClass.TOLL_FREE,
        NumberClass.SERVICE,
    }
)
"""What a phone may call out of the box."""

GUARDED_CLASSES = frozenset(
    {
        NumberClass.INTERNATIONAL,
        NumberClass.PREMIUM,
        NumberClass.SHARED_COST,
        NumberClass.UNKNOWN,
    }
)
"""Denied until a class of service enables them."""

DEFAULT_LIMITS = Limits(calls_per_hour=30, calls_per_day=200)
"""An office phone rarely places more than a call every two minutes for an hour; a hacked one
dialling premium or international numbers does, and stops here."""


@dataclass(frozen=True, slots=True)
class ClassOfService:
    name: str = "standard"
    number_classes: frozenset[NumberClass] = STANDARD_CLASSES
    trunk_groups: frozenset[str] | None = None
    """Trunk groups its holders may use; None: every group."""
    limits: Limits = DEFAULT_LIMITS
    """Limits per holder (each extension counts on its own)."""


STANDARD = ClassOfService()
INTERNAL_ONLY = ClassOfService(
    "internal_only",
    frozenset({NumberClass.INTERNAL, NumberClass.EMERGENCY}),
    frozenset(),
    Limits(),
)
"""Also what a subject gets whose assigned class does not exist: fail closed."""


@dataclass(frozen=True, slots=True)
class CosPolicy:
    """Classes of service, who holds which, and route limits: one configuration revision."""

    classes: tuple[ClassOfService, ...] = (STANDARD, INTERNAL_ONLY)
    assignments: Mapping[Subject, str] = field(default_factory=dict)
    """Subject → class name; subjects not listed hold `default_class`."""
    default_class: str = "standard"
    route_limits: Mapping[str, Limits] = field(default_factory=dict)
    """Trunk group → limits on all outbound calls over it, whoever places them."""
    _by_name: Mapping[str, ClassOfService] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, ClassOfService] = {}
        for cos in self.classes:
            by_name.setdefault(cos.name, cos)
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))

    def cos_for(self, subject: Subject) -> ClassOfService:
        name = self.assignments.get(subject, self.default_class)
        return self._by_name.get(name, INTERNAL_ONLY)

    def limits_for(self, subject: Subject) -> Limits:
        if subject.kind is SubjectKind.ROUTE:
            return self.route_limits.get(subject.id, Limits())
        return self.cos_for(subject).limits

    def problems(self, trunk_groups: frozenset[str] | None = None) -> list[str]:
        """Configuration mistakes as messages: unknown class names, unknown trunk groups (when
        `trunk_groups` is given), negative limits. The config validator adds the path."""
        found: list[str] = []
        names = set(self._by_name)
        if self.default_class not in names:
            found.append(f"default class of service {self.default_class!r} does not exist")
        for subject, name in self.assignments.items():
            if name not in names:
                found.append(f"{subject} has class of service {name!r}, which does not exist")
        for cos in self.classes:
            unknown = (cos.trunk_groups or frozenset()) - (trunk_groups or frozenset())
            if trunk_groups is not None and unknown:
                found.append(f"class of service {cos.name!r} names unknown trunk groups "
                             f"{', '.join(sorted(unknown))}")
        limits = [(f"class of service {c.name!r}", c.limits) for c in self.classes]
        limits += [(f"route {g!r}", lim) for g, lim in self.route_limits.items()]
        for owner, lim in limits:
            for value in (lim.calls_per_hour, lim.calls_per_day, lim.cost_per_hour_minor,
                          lim.cost_per_day_minor):
                if value is not None and value < 1:
                    found.append(f"{owner}: limits must be at least 1 (or none)")
                    break
        return found


# --- requests and decisions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a call would go, as class of service sees it."""

    number_class: NumberClass
    trunk_group: str | None = None
    """None: inside the box."""
    number: str = ""
    """For messages and logs."""


def destination_of(target: Target) -> Destination:
    """The destination of a dial-plan target. A feature code is internal: the feature asks
    again for its own destination (a forward's number) with the matching action."""
    if isinstance(target, ExternalTarget):
        number = target.number
        return Destination(number.number_class, target.trunk_group, number.e164 or number.dialled)
    if isinstance(target, EmergencyTarget):
        return Destination(NumberClass.EMERGENCY, target.trunk_group, target.number)
    if isinstance(target, ExtensionTarget | DepartmentTarget):
        return Destination(NumberClass.INTERNAL, None, target.number)
    return Destination(NumberClass.INTERNAL, None, target.code)


@dataclass(frozen=True, slots=True)
class CallRequest:
    action: Action
    originator: Subject
    """Who placed the call: an extension, inbound callers of a trunk group, a DISA profile."""
    destination: Destination
    redirected_by: tuple[Subject, ...] = ()
    """Everyone whose forward, follow-me or transfer sent the call here, in order."""

    @property
    def parties(self) -> tuple[Subject, ...]:
        return (self.originator, *self.redirected_by)


class DenyReason(StrEnum):
    NUMBER_CLASS = "number_class"
    TRUNK_GROUP = "trunk_group"
    LOCKED = "locked"
    EMERGENCY_REDIRECT = "emergency_redirect"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: DenyReason | None = None
    subject: Subject | None = None
    """Whose class or lock refused."""
    detail: str = ""
    """For logs, the web page and the call record: "extension 201 may not call
    international numbers"."""


ALLOWED = Decision(True)

_REDIRECTS = frozenset({Action.FORWARD, Action.FOLLOW_ME})


def decide(policy: CosPolicy, request: CallRequest) -> Decision:
    """Whether every party's class of service allows the destination (no limits here)."""
    dest = request.destination
    if dest.number_class is NumberClass.EMERGENCY:
        if request.action in _REDIRECTS:
            who = request.redirected_by[-1] if request.redirected_by else request.originator
            return Decision(False, DenyReason.EMERGENCY_REDIRECT, who,
                            f"{who} may not {request.action.value.replace('_', '-')} to "
                            f"emergency number {dest.number}")
        return ALLOWED
    for party in request.parties:
        cos = policy.cos_for(party)
        if dest.number_class not in cos.number_classes:
            return Decision(False, DenyReason.NUMBER_CLASS, party,
                            f"{party} (class of service {cos.name}) may not reach "
                            f"{dest.number_class.value.replace('_', ' ')} numbers")
        group = dest.trunk_group
        if group is not None and cos.trunk_groups is not None and group not in cos.trunk_groups:
            return Decision(False, DenyReason.TRUNK_GROUP, party,
                            f"{party} (class of service {cos.name}) may not use trunk group "
                            f"{group}")
    return ALLOWED


# --- the toll guard -----------------------------------------------------------------------------


class LimitKind(StrEnum):
    CALLS_PER_HOUR = "calls_per_hour"
    CALLS_PER_DAY = "calls_per_day"
    COST_PER_HOUR = "cost_per_hour"
    COST_PER_DAY = "cost_per_day"


@dataclass(frozen=True, slots=True)
class Locked:
    """Alert: `subject`'s external calls are refused until `until` (board clock, seconds)."""

    subject: Subject
    limit: LimitKind
    used: float
    """Calls placed, or cost in minor units, in the period when the limit was reached."""
    allowed: int
    at: float
    until: float
    calls: tuple[CallId, ...]
    """External calls of the subject still in progress: the controller may end them."""


@dataclass(frozen=True, slots=True)
class Unlocked:
    subject: Subject
    at: float
    by_admin: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """A subject's external calls and cost in the current hour and day."""

    calls_hour: int
    calls_day: int
    cost_hour_minor: float
    cost_day_minor: float
    locked_until: float | None


class _Window:
    """Counts in one fixed period (the hour or day that `now` falls in, from `origin`)."""

    __slots__ = ("period_s", "origin", "index", "calls", "cost", "tripped")

    def __init__(self, period_s: float, origin: float) -> None:
        self.period_s = period_s
        self.origin = origin
        self.index = -math.inf
        self.calls = 0
        self.cost = 0.0
        self.tripped: set[LimitKind] = set()

    def roll(self, now: float) -> None:
        index = math.floor((now - self.origin) / self.period_s)
        if index != self.index:
            self.index, self.calls, self.cost = index, 0, 0.0
            self.tripped = set()

    @property
    def start(self) -> float:
        return self.origin + self.index * self.period_s

    @property
    def end(self) -> float:
        return self.start + self.period_s


class _Usage:
    __slots__ = ("hour", "day")

    def __init__(self, origin: float) -> None:
        self.hour = _Window(HOUR_S, origin)
        self.day = _Window(DAY_S, origin)


@dataclass(slots=True)
class _Active:
    subjects: tuple[Subject, ...]
    rate_per_s: float
    answered_at: float | None = None
    booked_until: float = 0.0
    cost: float = 0.0
    """Cost booked so far (setup + accrued), minor units."""


class TollGuard:
    """Class of service plus limits, with locks. Sans-I/O: every call passes `now`.

    Periods are fixed: hours and days counted from `period_origin` (pass the board-clock time
    of the last local midnight so that days end at midnight; daylight-saving shifts move the
    boundary by an hour for a day). Cost accrues while a call is answered at the rate given at
    its start (minor units per minute) on top of its setup cost; `call_ended` may replace the
    estimate by the real cost. Only external calls count; emergency calls neither count nor
    are ever refused.
    """

    def __init__(self, policy: CosPolicy, *, period_origin: float = 0.0) -> None:
        self.policy = policy
        """Replace it when a configuration revision is applied; counts and locks stay."""
        self._origin = period_origin
        self._usage: dict[Subject, _Usage] = {}
        self._locks: dict[Subject, tuple[float, LimitKind]] = {}
        self._active: dict[CallId, _Active] = {}
        self._events: deque[Locked | Unlocked] = deque()

    # -- inputs --

    def authorise(self, request: CallRequest, now: float) -> Decision:
        """Allow or deny with the reason; records nothing (ask again at `call_started`)."""
        self.handle_timers(now)
        decision = decide(self.policy, request)
        dest = request.destination
        if not decision.allowed or dest.trunk_group is None:
            return decision
        if dest.number_class is NumberClass.EMERGENCY:
            return decision
        for subject in self._counted(request):
            lock = self._locks.get(subject)
            if lock is not None:
                until, limit = lock
                return Decision(False, DenyReason.LOCKED, subject,
                                f"{subject} is locked for external calls until {until:.0f} s "
                                f"({limit.value.replace('_', ' ')} reached)")
        return decision

    def call_started(
        self,
        call: CallId,
        request: CallRequest,
        now: float,
        *,
        rate_minor_per_min: float = 0.0,
        setup_cost_minor: float = 0.0,
    ) -> Decision:
        """Authorise and, when allowed and external, count the call. The call that reaches a
        limit is allowed; the lock refuses the next ones."""
        decision = self.authorise(request, now)
        dest = request.destination
        if not decision.allowed or dest.trunk_group is None:
            return decision
        if dest.number_class is NumberClass.EMERGENCY:
            return decision
        subjects = self._counted(request)
        self._active[call] = _Active(subjects, max(rate_minor_per_min, 0.0) / 60.0,
                                     booked_until=now, cost=max(setup_cost_minor, 0.0))
        for subject in subjects:
            usage = self._usage_of(subject, now)
            for window in (usage.hour, usage.day):
                window.calls += 1
                window.cost += max(setup_cost_minor, 0.0)
            self._check(subject, now)
        return decision

    def call_answered(self, call: CallId, now: float) -> None:
        """Cost starts to accrue at the call's rate."""
        self.handle_timers(now)
        active = self._active.get(call)
        if active is not None and active.answered_at is None:
            active.answered_at = now
            active.booked_until = now

    def call_ended(self, call: CallId, now: float, cost_minor: float | None = None) -> None:
        """The call is over; `cost_minor`, when known, replaces the estimate (the difference
        is booked now)."""
        self.handle_timers(now)
        active = self._active.pop(call, None)
        if active is None or cost_minor is None:
            return
        delta = cost_minor - active.cost
        for subject in active.subjects:
            usage = self._usage_of(subject, now)
            for window in (usage.hour, usage.day):
                window.cost = max(window.cost + delta, 0.0)
            self._check(subject, now)

    def unlock(self, subject: Subject, now: float) -> None:
        """An administrator lifts a lock: the subject starts the current periods afresh."""
        self.handle_timers(now)
        if self._locks.pop(subject, None) is None:
            return
        self._usage.pop(subject, None)
        self._events.append(Unlocked(subject, now, by_admin=True))

    def handle_timers(self, now: float) -> None:
        """Book running calls' cost up to `now`, lock what reached a limit, unlock what
        expired. Safe to call at any time."""
        self._accrue(now)
        for subject, (until, _) in list(self._locks.items()):
            if until <= now:
                del self._locks[subject]
                self._events.append(Unlocked(subject, now))

    # -- outputs --

    def next_event(self) -> Locked | Unlocked | None:
        return self._events.popleft() if self._events else None

    def next_deadline(self) -> float | None:
        """The earliest lock end, or moment a running call's cost reaches a limit or crosses
        a period boundary."""
        deadlines = [until for until, _ in self._locks.values()]
        rates: dict[Subject, float] = {}
        booked = 0.0
        for active in self._active.values():
            if active.answered_at is None or active.rate_per_s <= 0:
                continue
            booked = max(booked, active.booked_until)
            for subject in active.subjects:
                rates[subject] = rates.get(subject, 0.0) + active.rate_per_s
        for subject, rate in rates.items():
            usage = self._usage.get(subject)
            if usage is None:
                continue
            limits = self.policy.limits_for(subject)
            pairs = ((usage.hour, limits.cost_per_hour_minor, LimitKind.COST_PER_HOUR),
                     (usage.day, limits.cost_per_day_minor, LimitKind.COST_PER_DAY))
            for window, cap, kind in pairs:
                deadlines.append(window.end)
                if cap is not None and kind not in window.tripped:
                    deadlines.append(booked + max(cap - window.cost, 0.0) / rate)
        return min(deadlines) if deadlines else None

    def is_locked(self, subject: Subject) -> bool:
        return subject in self._locks

    def usage(self, subject: Subject, now: float) -> Usage:
        self.handle_timers(now)
        usage = self._usage_of(subject, now)
        lock = self._locks.get(subject)
        return Usage(usage.hour.calls, usage.day.calls, usage.hour.cost, usage.day.cost,
                     lock[0] if lock else None)

    # -- internals --

    def _counted(self, request: CallRequest) -> tuple[Subject, ...]:
        """Who pays: every party, and the route."""
        route = request.destination.trunk_group
        parties = tuple(dict.fromkeys(request.parties))
        return (*parties, Subject(SubjectKind.ROUTE, route)) if route else parties

    def _usage_of(self, subject: Subject, now: float) -> _Usage:
        usage = self._usage.get(subject)
        if usage is None:
            usage = self._usage[subject] = _Usage(self._origin)
        usage.hour.roll(now)
        usage.day.roll(now)
        return usage

    def _accrue(self, now: float) -> None:
        """Book each answered call's cost from its last booking to `now` into its subjects'
        current hour and day; a share that fell in a past period belongs to that period."""
        touched: set[Subject] = set()
        for active in self._active.values():
            if active.answered_at is None or now <= active.booked_until:
                continue
            since, active.booked_until = active.booked_until, now
            active.cost += active.rate_per_s * (now - since)
            if active.rate_per_s <= 0:
                continue
            for subject in active.subjects:
                usage = self._usage_of(subject, now)
                for window in (usage.hour, usage.day):
                    window.cost += active.rate_per_s * (now - max(since, window.start))
                touched.add(subject)
        for subject in touched:
            self._check(subject, now)

    def _check(self, subject: Subject, now: float) -> None:
        usage = self._usage_of(subject, now)
        limits = self.policy.limits_for(subject)
        checks = (
            (usage.hour, LimitKind.CALLS_PER_HOUR, usage.hour.calls, limits.calls_per_hour),
            (usage.day, LimitKind.CALLS_PER_DAY, usage.day.calls, limits.calls_per_day),
            (usage.hour, LimitKind.COST_PER_HOUR, usage.hour.cost, limits.cost_per_hour_minor),
            (usage.day, LimitKind.COST_PER_DAY, usage.day.cost, limits.cost_per_day_minor),
        )
        for window, kind, used, cap in checks:
            # A float tolerance: a deadline computed for the exact crossing may land a few
            # ULPs short of it.
            if cap is None or kind in window.tripped or used < cap - 1e-6:
                continue
            window.tripped.add(kind)
            current = self._locks.get(subject)
            if current is not None and current[0] >= window.end:
                continue
            self._locks[subject] = (window.end, kind)
            calls = tuple(c for c, a in self._active.items() if subject in a.subjects)
            self._events.append(Locked(subject, kind, used, cap, now, window.end, calls))
