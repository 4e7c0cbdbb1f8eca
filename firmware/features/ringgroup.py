"""Departments (ring groups): which phones ring, when, and where the call goes when nobody answers.

Strategies (issue 6 item 2), with the installer's words:

- everyone — every available member rings at once until `max_ring_s`;
- in turn — one member at a time in the configured order for `step_s` (or the member's own
  `step_s`); the previous phone stops when the next one starts;
- increasingly — a member is added every `step_s`; the phones already ringing keep ringing;
- random, least recent, fewest calls — "in turn" with the order drawn by an injected
  `random.Random`, by the time each member last took a department call (never first), or by the
  number of department calls taken (fewest first); ties keep the configured order.

A member with a mobile number has it rung as an extra target once their phones have rung for
`mobile_after_s` without an answer; in turn, that member's turn is stretched to
`mobile_after_s + mobile_ring_s` so the mobile really rings. Busy, do-not-disturb and offline
members are skipped when the call starts; a member whose phone answers busy or declines during
the call drops out and, in turn, the next member starts at once. Every call ends in exactly one
`Connected` or one `Fallback` (another department, a queue, voicemail), never in silence: the
fallback comes when the strategy runs out, when nobody can ring, or at `max_ring_s` at the latest.

Pure: no I/O; `now` is the board's monotonic clock in seconds. Members are named by user id, never
by device; the call controller turns `Ring(Target)` into legs to the member's devices or mobile.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from firmware.config.schema import ID_HINT, ID_PATTERN, setting
from firmware.features.destination import Destination, DestinationKind

log = logging.getLogger(__name__)


class RingStrategy(StrEnum):
    """How a department's members are rung."""

    EVERYONE = "everyone"
    IN_TURN = "in_turn"
    INCREASINGLY = "increasingly"
    RANDOM = "random"
    LEAST_RECENT = "least_recent"
    FEWEST_CALLS = "fewest_calls"


_HUNTING = frozenset(
    {RingStrategy.IN_TURN, RingStrategy.RANDOM, RingStrategy.LEAST_RECENT,
     RingStrategy.FEWEST_CALLS}
)
"""Strategies that ring one member at a time; they differ only in the order."""


class Presence(StrEnum):
    """What the controller knows about a member when the call arrives."""

    AVAILABLE = "available"
    BUSY = "busy"
    DND = "dnd"
    OFFLINE = "offline"


class TargetKind(StrEnum):
    """Which of a member's targets rings."""

    PHONE = "phone"
    """Every device of the member (the controller forks to them)."""
    MOBILE = "mobile"
    """The member's mobile number, through a trunk."""


@dataclass(frozen=True, slots=True)
class Target:
    """One thing that rings: a member's phones, or their mobile (`number` set)."""

    member: str
    kind: TargetKind = TargetKind.PHONE
    number: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    """A department member: a user id and, optionally, a mobile rung after a delay."""

    user: str = field(
        metadata=setting("User id of the member.", minimum=1, maximum=32, pattern=ID_PATTERN,
                         pattern_hint=ID_HINT, example="alice")
    )
    mobile: str = field(
        default="",
        metadata=setting("Mobile number rung as an extra target after `mobile_after_s` "
                         "without an answer; empty: none.", maximum=32,
                         pattern=r"\+?[0-9]*", pattern_hint="digits, optionally after +",
                         example='"+79161234567"')
    )
    mobile_after_s: float = field(
        default=10.0,
        metadata=setting("Seconds the member's phones ring unanswered before the mobile is "
                         "added.", unit="s", minimum=0.0, maximum=300.0)
    )
    mobile_ring_s: float = field(
        default=20.0,
        metadata=setting("Seconds the mobile rings (in turn: the member's turn lasts at least "
                         "`mobile_after_s + mobile_ring_s`).", unit="s", minimum=5.0,
                         maximum=300.0)
    )
    step_s: float | None = field(
        default=None,
        metadata=setting("This member's turn in `in_turn`-like strategies; unset: the "
                         "department's `step_s`.", unit="s", minimum=5.0, maximum=300.0)
    )


def _default_fallback() -> Destination:
    return Destination(DestinationKind.VOICEMAIL, "")


@dataclass(frozen=True, slots=True)
class RingGroup:
    """A department: an extension, members in order, a strategy and a fallback."""

    id: str = field(
        metadata=setting("Department id, also its voicemail box.", minimum=1, maximum=32,
                         pattern=ID_PATTERN, pattern_hint=ID_HINT, example="sales")
    )
    members: tuple[Member, ...] = field(
        default=(),
        metadata=setting("Members in ring order.", maximum=64)
    )
    strategy: RingStrategy = field(
        default=RingStrategy.EVERYONE,
        metadata=setting("How members are rung: everyone, in_turn, increasingly, random, "
                         "least_recent or fewest_calls.")
    )
    step_s: float = field(
        default=15.0,
        metadata=setting("Seconds each step rings before the next member is tried (in turn) "
                         "or added (increasingly).", unit="s", minimum=5.0, maximum=120.0)
    )
    rounds: int = field(
        default=1,
        metadata=setting("How many times in-turn strategies go through the members.",
                         minimum=1, maximum=10)
    )
    max_ring_s: float = field(
        default=60.0,
        metadata=setting("Seconds the department rings in total before the fallback, "
                         "whatever the strategy (everyone rings this long).", unit="s",
                         minimum=5.0, maximum=600.0)
    )
    fallback: Destination = field(
        default_factory=_default_fallback,
        metadata=setting("Where an unanswered call goes: a department, a queue, voicemail "
                         "(empty target: this department's box), an employee or an external "
                         "number.")
    )
    extension: str = field(
        default="",
        metadata=setting("Internal number dialled to reach the department; unique among "
                         "extensions; empty: reached only through routes and menus.",
                         pattern=r"([0-9]{2,5})?", pattern_hint="2 to 5 digits",
                         example='"500"')
    )

    def fallback_destination(self) -> Destination:
        """The fallback with an empty voicemail target resolved to this department's box."""
        if self.fallback.kind is DestinationKind.VOICEMAIL and not self.fallback.target:
            return Destination(DestinationKind.VOICEMAIL, self.id)
        return self.fallback


@dataclass(frozen=True, slots=True)
class MemberStats:
    """A member's department history, for least recent and fewest calls."""

    calls: int = 0
    last_call_at: float | None = None


class RingGroupLedger:
    """Per-member history of one department; the controller records each `Connected`."""

    def __init__(self) -> None:
        self._stats: dict[str, MemberStats] = {}

    def record_answered(self, member: str, now: float) -> None:
        old = self._stats.get(member, MemberStats())
        self._stats[member] = MemberStats(calls=old.calls + 1, last_call_at=now)

    def stats(self) -> Mapping[str, MemberStats]:
        return dict(self._stats)


# Outputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ring:
    """Start ringing `target`."""

    target: Target


@dataclass(frozen=True, slots=True)
class StopRinging:
    """Stop ringing `target` (cancel its legs)."""

    target: Target


@dataclass(frozen=True, slots=True)
class Connected:
    """`member` took the call on `target`; every other target has been told to stop."""

    member: str
    target: Target


class FallbackReason(StrEnum):
    """Why a department gave the call to its fallback (for the call record)."""

    NOBODY_AVAILABLE = "nobody_available"
    """No member could ring when the call arrived (busy, DND, offline, or no members)."""
    EXHAUSTED = "exhausted"
    """Every member rang, declined or was busy."""
    TIMEOUT = "timeout"
    """`max_ring_s` passed."""


@dataclass(frozen=True, slots=True)
class Fallback:
    """Nobody answered: continue the call at `destination`."""

    destination: Destination
    reason: FallbackReason


RingCommand = Ring | StopRinging | Connected | Fallback


class _Timer(StrEnum):
    GIVE_UP = "give_up"
    STEP = "step"
    MOBILE = "mobile"


class RingGroupCall:
    """One inbound call hunting through one department.

    `presence` defaults every member to available; `stats` feeds least recent and fewest calls
    (see `RingGroupLedger`); `rng` draws the random order (inject a seeded one in tests).
    Events about unknown members, or after the call ended, return `[]` and never raise.
    """

    def __init__(
        self,
        group: RingGroup,
        now: float,
        *,
        presence: Mapping[str, Presence] | None = None,
        stats: Mapping[str, MemberStats] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._group = group
        self._started_at = now
        self._presence = presence or {}
        self._stats = stats or {}
        self._rng = rng or random.Random()
        self._members = {m.user: m for m in group.members}
        self._order: list[str] = []
        self._next = 0
        self._ringing: dict[str, float] = {}  # member -> when their phones started
        self._mobile_ringing: set[str] = set()
        self._mobile_done: set[str] = set()
        self._step_ends_at: float | None = None
        self._gives_up_at = now + group.max_ring_s
        self._started = False
        self._finished = False

    # -- queries ------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once the call was connected, fell back or was cancelled."""
        return self._finished

    def ringing(self) -> frozenset[Target]:
        """Targets ringing now."""
        out = {Target(m) for m in self._ringing}
        out |= {Target(m, TargetKind.MOBILE, self._members[m].mobile)
                for m in self._mobile_ringing}
        return frozenset(out)

    def next_deadline(self) -> float | None:
        """When `handle_timers` next has work, or None once finished."""
        due = self._next_timer()
        return None if due is None else due[0]

    # -- inputs -------------------------------------------------------------------------------

    def start(self) -> list[RingCommand]:
        """Ring the first step; a department nobody can answer falls back at once."""
        if self._started:
            return []
        self._started = True
        available = [
            m.user for m in self._group.members
            if self._presence.get(m.user, Presence.AVAILABLE) is Presence.AVAILABLE
        ]
        self._order = self._ordered(available)
        if not self._order:
            return self._fall_back(FallbackReason.NOBODY_AVAILABLE)
        out: list[RingCommand] = []
        strategy = self._group.strategy
        if strategy is RingStrategy.EVERYONE:
            for user in self._order:
                out += self._add(user, self._started_at)
            self._next = len(self._order)
        else:
            out += self._advance(self._started_at)
        return out

    def on_member_answered(
        self, member: str, now: float, kind: TargetKind = TargetKind.PHONE
    ) -> list[RingCommand]:
        """`member` answered on `kind`; only a target that is ringing can connect."""
        if self._finished or not self._is_ringing(member, kind):
            log.debug("department %s: ignored answer from %r (%s)", self._group.id, member, kind)
            return []
        target = self._target(member, kind)
        out: list[RingCommand] = [StopRinging(t) for t in sorted(self.ringing(), key=_key)
                                  if t != target]
        self._ringing.clear()
        self._mobile_ringing.clear()
        self._finished = True
        out.append(Connected(member, target))
        return out

    def on_member_busy(
        self, member: str, now: float, kind: TargetKind = TargetKind.PHONE
    ) -> list[RingCommand]:
        """A target answered busy. Phones busy: the member drops out; mobile busy: only it."""
        if self._finished or not self._is_ringing(member, kind):
            return []
        if kind is TargetKind.MOBILE:
            self._mobile_ringing.discard(member)
            if member in self._ringing:
                return []
        return self._drop_member(member, now, stop_reporter=kind)

    def on_member_declined(
        self, member: str, now: float, kind: TargetKind = TargetKind.PHONE
    ) -> list[RingCommand]:
        """The member refused the call on any target: all their targets stop."""
        if self._finished or not self._is_ringing(member, kind):
            return []
        return self._drop_member(member, now, stop_reporter=kind)

    def cancel(self, now: float) -> list[RingCommand]:
        """The caller hung up: stop everything; no fallback."""
        if self._finished:
            return []
        out: list[RingCommand] = [StopRinging(t) for t in sorted(self.ringing(), key=_key)]
        self._ringing.clear()
        self._mobile_ringing.clear()
        self._finished = True
        return out

    def handle_timers(self, now: float) -> list[RingCommand]:
        """Run every timer due at or before `now`, each at its own due time, in order."""
        out: list[RingCommand] = []
        while not self._finished:
            due = self._next_timer()
            if due is None or due[0] > now:
                break
            at, timer = due
            if timer is _Timer.GIVE_UP:
                out += self._fall_back(FallbackReason.TIMEOUT)
            elif timer is _Timer.STEP:
                out += self._step_over(at)
            else:
                for user in sorted(self._ringing):
                    if self._mobile_due(user) == at:
                        self._mobile_done.add(user)
                        self._mobile_ringing.add(user)
                        out.append(Ring(self._target(user, TargetKind.MOBILE)))
        return out

    # -- internals ----------------------------------------------------------------------------

    def _ordered(self, available: list[str]) -> list[str]:
        strategy = self._group.strategy
        if strategy is RingStrategy.RANDOM:
            order = list(available)
            self._rng.shuffle(order)
        elif strategy is RingStrategy.LEAST_RECENT:
            # Never-called members first (-inf), then the oldest last call; sort is stable.
            order = sorted(available, key=lambda u: _last(self._stats.get(u)))
        elif strategy is RingStrategy.FEWEST_CALLS:
            order = sorted(available, key=lambda u: self._stats.get(u, MemberStats()).calls)
        else:
            order = list(available)
        if strategy in _HUNTING:
            return order * self._group.rounds
        return order

    def _turn_s(self, user: str) -> float:
        member = self._members[user]
        step = member.step_s if member.step_s is not None else self._group.step_s
        if member.mobile and self._group.strategy in _HUNTING:
            step = max(step, member.mobile_after_s + member.mobile_ring_s)
        return step

    def _add(self, user: str, at: float) -> list[RingCommand]:
        self._ringing[user] = at
        self._mobile_done.discard(user)  # a later round rings the mobile again
        return [Ring(Target(user))]

    def _stop_member(self, user: str, skip: TargetKind | None = None) -> list[RingCommand]:
        out: list[RingCommand] = []
        if user in self._ringing:
            del self._ringing[user]
            if skip is not TargetKind.PHONE:
                out.append(StopRinging(Target(user)))
        if user in self._mobile_ringing:
            self._mobile_ringing.discard(user)
            if skip is not TargetKind.MOBILE:
                out.append(StopRinging(self._target(user, TargetKind.MOBILE)))
        return out

    def _advance(self, at: float) -> list[RingCommand]:
        """Start the next step at `at`, or fall back when the strategy has run out."""
        strategy = self._group.strategy
        out: list[RingCommand] = []
        while self._next < len(self._order):
            user = self._order[self._next]
            self._next += 1
            if strategy in _HUNTING:
                for previous in sorted(self._ringing):
                    out += self._stop_member(previous)
                self._step_ends_at = at + self._turn_s(user)
            else:  # INCREASINGLY: the last one added rings a whole turn before the fallback
                self._step_ends_at = at + (self._group.step_s if self._next < len(self._order)
                                           else self._turn_s(user))
            out += self._add(user, at)
            return out
        if strategy is RingStrategy.INCREASINGLY and self._ringing:
            self._step_ends_at = None  # the ones ringing go on until max_ring_s
            return out
        for previous in sorted(self._ringing):
            out += self._stop_member(previous)
        return out + self._fall_back(FallbackReason.EXHAUSTED)

    def _step_over(self, at: float) -> list[RingCommand]:
        self._step_ends_at = None
        if self._group.strategy is RingStrategy.INCREASINGLY and self._next >= len(self._order):
            out: list[RingCommand] = []
            for user in sorted(self._ringing):
                out += self._stop_member(user)
            return out + self._fall_back(FallbackReason.EXHAUSTED)
        return self._advance(at)

    def _drop_member(self, user: str, now: float, stop_reporter: TargetKind) -> list[RingCommand]:
        out = self._stop_member(user, skip=stop_reporter)
        self._mobile_done.add(user)
        if self._ringing or self._mobile_ringing:
            return out
        if self._group.strategy is RingStrategy.EVERYONE:
            return out + self._fall_back(FallbackReason.EXHAUSTED)
        return out + self._advance(now)

    def _fall_back(self, reason: FallbackReason) -> list[RingCommand]:
        out: list[RingCommand] = [StopRinging(t) for t in sorted(self.ringing(), key=_key)]
        self._ringing.clear()
        self._mobile_ringing.clear()
        self._finished = True
        destination = self._group.fallback_destination()
        log.debug("department %s: fallback to %s (%s)", self._group.id, destination, reason)
        out.append(Fallback(destination, reason))
        return out

    def _mobile_due(self, user: str) -> float | None:
        member = self._members[user]
        if not member.mobile or user in self._mobile_done or user not in self._ringing:
            return None
        return self._ringing[user] + member.mobile_after_s

    def _next_timer(self) -> tuple[float, _Timer] | None:
        if self._finished or not self._started:
            return None
        best: tuple[float, _Timer] = (self._gives_up_at, _Timer.GIVE_UP)
        if self._step_ends_at is not None and self._step_ends_at < best[0]:
            best = (self._step_ends_at, _Timer.STEP)
        for user in self._ringing:
            due = self._mobile_due(user)
            if due is not None and due < best[0]:
                best = (due, _Timer.MOBILE)
        return best

    def _is_ringing(self, user: str, kind: TargetKind) -> bool:
        if kind is TargetKind.MOBILE:
            return user in self._mobile_ringing
        return user in self._ringing

    def _target(self, user: str, kind: TargetKind) -> Target:
        if kind is TargetKind.MOBILE:
            return Target(user, TargetKind.MOBILE, self._members[user].mobile)
        return Target(user)


def _key(target: Target) -> tuple[str, str]:
    return (target.member, target.kind.value)


def _last(stats: MemberStats | None) -> float:
    if stats is None or stats.last_call_at is None:
        return float("-inf")
    return stats.last_call_at


def members_of(users: Iterable[str]) -> tuple[Member, ...]:
    """Members without mobiles, in order: shorthand for configuration code and tests."""
    return tuple(Member(u) for u in users)
