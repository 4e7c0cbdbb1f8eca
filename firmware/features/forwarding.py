"""Call diversion per user: do-not-disturb, forward always / busy / no answer, follow-me.

What installers expect (Panasonic KX-TDA/NS "FWD/DND" set by feature code, Yeastar's
always / no answer / busy forwarding and follow-me, Asterisk's diversion from a dial plan;
architecture only):

- do-not-disturb wins over everything: the caller is treated as if the user were busy (the
  controller offers voicemail or busy tone);
- forward always applies when the call arrives; otherwise follow-me, when set, rings its
  numbers in turn (`follow_me_step_s` each); forward on busy when the user's phones are busy;
  forward on no answer after `no_answer_s` (15 s default, 5–120 s) of ringing; when the phones
  are not registered, the not-reachable target, or else the no-answer one;
- a target is an extension, a department or an external number with its trunk access code
  (`98916…`), as the user dialled it after the feature code;
- a forward cannot escape class of service: each target is decided by `cos.decide` with the
  caller as originator and every forwarding user in `redirected_by` (a phone restricted to
  internal calls forwarding to an international number is refused at `set` and again at
  every diversion, since the policy may change); forwards to emergency numbers are refused;
- loops end: A→B→A is refused (B rings instead of forwarding back), and a call is diverted at
  most `max_hops` (3) times;
- the state survives restarts through `to_json()` / `from_json()` (versioned; the controller
  stores it with temp file + fsync + rename); a damaged document raises ValueError saying what
  and where.

Refused diversions are facts: `next_event()` gives `DiversionRefused` for the log and alerts.
Pure: no I/O; `now` is the board's monotonic clock in seconds.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from firmware.calls.cos import (
    Action,
    CallRequest,
    CosPolicy,
    Destination,
    Subject,
    decide,
    destination_of,
)
from firmware.calls.dialplan import DepartmentTarget, ExtensionTarget, FeatureTarget, Target
from firmware.calls.events import CallId
from firmware.config.schema import setting

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_HOPS = 3
MAX_FOLLOW_ME = 5
MIN_NO_ANSWER_S = 5.0
MAX_NO_ANSWER_S = 120.0


class DiversionReason(StrEnum):
    """Why the controller asks where a call goes."""

    ALWAYS = "always"
    """The call just arrived for the user."""
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    NOT_REACHABLE = "not_reachable"


class ForwardKind(StrEnum):
    """What a user can set with a feature code."""

    DND = "dnd"
    ALWAYS = "always"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    NOT_REACHABLE = "not_reachable"
    FOLLOW_ME = "follow_me"


class ForwardRefusal(StrEnum):
    LOOP = "loop"
    MAX_HOPS = "max_hops"
    CLASS_OF_SERVICE = "class_of_service"
    UNKNOWN_NUMBER = "unknown_number"
    SELF = "self"
    TOO_MANY_NUMBERS = "too_many_numbers"


@dataclass(frozen=True, slots=True)
class UserForwarding:
    """One user's diversion settings; empty strings: not set."""

    dnd: bool = False
    always: str = ""
    busy: str = ""
    no_answer: str = ""
    no_answer_s: float = field(default=15.0, metadata=setting(
        "Seconds the user's phones ring before forward on no answer.", unit="s",
        minimum=MIN_NO_ANSWER_S, maximum=MAX_NO_ANSWER_S))
    not_reachable: str = ""
    follow_me: tuple[str, ...] = ()
    follow_me_step_s: float = field(default=20.0, metadata=setting(
        "Seconds each follow-me number rings before the next.", unit="s", minimum=5.0,
        maximum=120.0))


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: ForwardRefusal
    number: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DivertTarget:
    number: str
    """As the user set it (what the controller dials)."""
    user: str | None
    """The user an extension target belongs to (the next hop's `divert`); None otherwise."""
    request: CallRequest
    """For `TollGuard.call_started` when the diverted leg goes out."""


@dataclass(frozen=True, slots=True)
class Diversion:
    user: str
    reason: DiversionReason
    kind: ForwardKind
    targets: tuple[DivertTarget, ...]
    """In turn (follow-me) or one; empty for DND (treat the user as busy)."""
    step_s: float | None
    """Follow-me: how long each target rings."""
    chain: tuple[str, ...]
    """Users who diverted this call so far, this one last: pass it to the next `divert`."""


@dataclass(frozen=True, slots=True)
class DiversionRefused:
    user: str
    kind: ForwardKind
    refusal: Refusal
    at: float


@dataclass(frozen=True, slots=True)
class NoAnswerDiverted:
    """`user`'s phones rang `no_answer_s` unanswered: stop them and follow `diversion`."""

    call: CallId
    diversion: Diversion
    at: float


ForwardingEvent = DiversionRefused | NoAnswerDiverted


@dataclass(slots=True)
class _Ringing:
    user: str
    deadline: float
    caller: Subject | None
    chain: tuple[str, ...]


Resolver = Callable[[str], Target | None]
"""A number as dialled → its dial-plan target; None when it is not a whole, valid number."""


class ForwardingTable:
    """Every user's diversion state and the decisions made from it."""

    def __init__(self, policy: CosPolicy, resolve: Resolver,
                 subject_of: Callable[[str], Subject], *, max_hops: int = MAX_HOPS) -> None:
        self.policy = policy
        """Replace when a configuration revision is applied."""
        self._resolve = resolve
        self._subject_of = subject_of
        self._max_hops = max_hops
        self._users: dict[str, UserForwarding] = {}
        self._ringing: dict[CallId, _Ringing] = {}
        self._events: deque[ForwardingEvent] = deque()

    # -- settings (feature codes, web, programming from a phone) --

    def state(self, user: str) -> UserForwarding:
        return self._users.get(user, UserForwarding())

    def set(self, user: str, kind: ForwardKind, target: str | tuple[str, ...] = "",
            *, no_answer_s: float | None = None) -> Refusal | None:
        """Turn a diversion on; None when done, else why not (nothing changes then)."""
        current = self.state(user)
        if kind is ForwardKind.DND:
            self._users[user] = replace(current, dnd=True)
            return None
        numbers = (target,) if isinstance(target, str) else tuple(target)
        if kind is ForwardKind.FOLLOW_ME and len(numbers) > MAX_FOLLOW_ME:
            return Refusal(ForwardRefusal.TOO_MANY_NUMBERS, ",".join(numbers),
                           f"follow-me takes at most {MAX_FOLLOW_ME} numbers")
        action = Action.FOLLOW_ME if kind is ForwardKind.FOLLOW_ME else Action.FORWARD
        for number in numbers:
            checked = self._check(user, number, action, None, ())
            if isinstance(checked, Refusal):
                return checked
        if kind is ForwardKind.FOLLOW_ME:
            self._users[user] = replace(current, follow_me=numbers)
            return None
        if len(numbers) != 1:
            return Refusal(ForwardRefusal.UNKNOWN_NUMBER, ",".join(numbers),
                           "a forward takes one number")
        changes: dict[str, Any] = {kind.value: numbers[0]}
        if no_answer_s is not None:
            if not MIN_NO_ANSWER_S <= no_answer_s <= MAX_NO_ANSWER_S:
                raise ValueError(f"no_answer_s must be {MIN_NO_ANSWER_S:g}-"
                                 f"{MAX_NO_ANSWER_S:g} s, not {no_answer_s:g}")
            changes["no_answer_s"] = no_answer_s
        self._users[user] = replace(current, **changes)
        return None

    def cancel(self, user: str, kind: ForwardKind | None = None) -> None:
        """Turn one diversion off; None: all of them (the classic `#` cancel-all code)."""
        current = self.state(user)
        if kind is None:
            self._users.pop(user, None)
            return
        if kind is ForwardKind.DND:
            updated = replace(current, dnd=False)
        elif kind is ForwardKind.FOLLOW_ME:
            updated = replace(current, follow_me=())
        else:
            cleared: dict[str, Any] = {kind.value: ""}
            updated = replace(current, **cleared)
        if updated == UserForwarding():
            self._users.pop(user, None)
        else:
            self._users[user] = updated

    # -- decisions --

    def divert(self, user: str, reason: DiversionReason, now: float, *,
               caller: Subject | None = None, chain: tuple[str, ...] = ()) -> Diversion | None:
        """Where a call for `user` goes instead, or None to ring (or give busy to) the user.

        `caller` is the originator's subject (an extension, or inbound callers of a trunk
        group); None: the user's own subject stands in. `chain` is the previous diversion's
        `Diversion.chain` when this call was already diverted to `user`.
        """
        st = self.state(user)
        if st.dnd:
            return Diversion(user, reason, ForwardKind.DND, (), None, (*chain, user))
        kind, numbers = self._configured(st, reason)
        if kind is None:
            return None
        action = Action.FOLLOW_ME if kind is ForwardKind.FOLLOW_ME else Action.FORWARD
        if len(chain) + 1 > self._max_hops:
            self._refused(user, kind, Refusal(ForwardRefusal.MAX_HOPS, numbers[0],
                                              f"already diverted {len(chain)} times"), now)
            return None
        targets: list[DivertTarget] = []
        for number in numbers:
            checked = self._check(user, number, action, caller, chain)
            if isinstance(checked, Refusal):
                self._refused(user, kind, checked, now)
            else:
                targets.append(checked)
        if not targets:
            return None
        step = st.follow_me_step_s if kind is ForwardKind.FOLLOW_ME else None
        return Diversion(user, reason, kind, tuple(targets), step, (*chain, user))

    def no_answer_s(self, user: str) -> float | None:
        """How long `user`'s phones ring before no-answer forwarding; None: not set."""
        st = self.state(user)
        return st.no_answer_s if st.no_answer and not st.dnd else None

    def ringing(self, call: CallId, user: str, now: float, *, caller: Subject | None = None,
                chain: tuple[str, ...] = ()) -> None:
        """`user`'s phones started ringing for `call`: arm the no-answer timer if set."""
        after = self.no_answer_s(user)
        if after is not None:
            self._ringing[call] = _Ringing(user, now + after, caller, chain)

    def stopped(self, call: CallId) -> None:
        """Answered, cancelled or diverted otherwise: disarm."""
        self._ringing.pop(call, None)

    def handle_timers(self, now: float) -> None:
        for call, ring in sorted(self._ringing.items(), key=lambda kv: kv[1].deadline):
            if ring.deadline > now:
                continue
            del self._ringing[call]
            diversion = self.divert(ring.user, DiversionReason.NO_ANSWER, now,
                                    caller=ring.caller, chain=ring.chain)
            if diversion is not None:
                self._events.append(NoAnswerDiverted(call, diversion, now))

    def next_deadline(self) -> float | None:
        return min((r.deadline for r in self._ringing.values()), default=None)

    def next_event(self) -> ForwardingEvent | None:
        return self._events.popleft() if self._events else None

    # -- persistence --

    def to_json(self) -> str:
        users = {u: _user_to_dict(s) for u, s in sorted(self._users.items())}
        return json.dumps({"version": FORMAT_VERSION, "users": users}, sort_keys=True)

    def load_json(self, text: str) -> None:
        """Replace every user's state with the document's; ValueError leaves it unchanged."""
        self._users = from_json(text)

    # -- internals --

    def _configured(self, st: UserForwarding,
                    reason: DiversionReason) -> tuple[ForwardKind | None, tuple[str, ...]]:
        if reason is DiversionReason.ALWAYS:
            if st.always:
                return ForwardKind.ALWAYS, (st.always,)
            if st.follow_me:
                return ForwardKind.FOLLOW_ME, st.follow_me
        elif reason is DiversionReason.BUSY and st.busy:
            return ForwardKind.BUSY, (st.busy,)
        elif reason is DiversionReason.NO_ANSWER and st.no_answer:
            return ForwardKind.NO_ANSWER, (st.no_answer,)
        elif reason is DiversionReason.NOT_REACHABLE:
            if st.not_reachable:
                return ForwardKind.NOT_REACHABLE, (st.not_reachable,)
            if st.no_answer:
                return ForwardKind.NO_ANSWER, (st.no_answer,)
        return None, ()

    def _check(self, user: str, number: str, action: Action, caller: Subject | None,
               chain: tuple[str, ...]) -> DivertTarget | Refusal:
        target = self._resolve(number)
        if target is None or isinstance(target, FeatureTarget):
            return Refusal(ForwardRefusal.UNKNOWN_NUMBER, number,
                           f"{number!r} is not a number that can be called")
        to_user = target.user if isinstance(target, ExtensionTarget) else None
        if to_user == user:
            return Refusal(ForwardRefusal.SELF, number, "a user cannot forward to themself")
        if to_user is not None and to_user in chain:
            return Refusal(ForwardRefusal.LOOP, number,
                           f"{' → '.join((*chain, user, to_user))} is a loop")
        own = self._subject_of(user)
        redirected = (*(self._subject_of(u) for u in chain), own)
        dest: Destination = destination_of(target)
        request = CallRequest(action, caller or own, dest, redirected)
        decision = decide(self.policy, request)
        if not decision.allowed:
            return Refusal(ForwardRefusal.CLASS_OF_SERVICE, number, decision.detail)
        if isinstance(target, DepartmentTarget):
            to_user = None
        return DivertTarget(number, to_user, request)

    def _refused(self, user: str, kind: ForwardKind, refusal: Refusal, now: float) -> None:
        self._events.append(DiversionRefused(user, kind, refusal, now))
        log.warning("diversion of %r (%s) to %r refused: %s %s", user, kind.value,
                    refusal.number, refusal.reason.value, refusal.detail)


# --- the stored document ------------------------------------------------------------------------


def _user_to_dict(st: UserForwarding) -> dict[str, Any]:
    return {
        "dnd": st.dnd, "always": st.always, "busy": st.busy, "no_answer": st.no_answer,
        "no_answer_s": st.no_answer_s, "not_reachable": st.not_reachable,
        "follow_me": list(st.follow_me), "follow_me_step_s": st.follow_me_step_s,
    }


_FIELD_TYPES: Mapping[str, type] = {
    "dnd": bool, "always": str, "busy": str, "no_answer": str, "no_answer_s": float,
    "not_reachable": str, "follow_me": list, "follow_me_step_s": float,
}


def from_json(text: str) -> dict[str, UserForwarding]:
    """Parse a `to_json` document. Raises ValueError naming what is wrong and where."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"forwarding state is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError("forwarding state: expected an object at the top level")
    version = doc.get("version")
    if version != FORMAT_VERSION:
        raise ValueError(f"forwarding state: version {version!r} is not supported "
                         f"(this firmware reads version {FORMAT_VERSION})")
    users = doc.get("users")
    if not isinstance(users, dict):
        raise ValueError("forwarding state: 'users' must be an object")
    result: dict[str, UserForwarding] = {}
    for user, raw in users.items():
        where = f"users.{user}"
        if not isinstance(raw, dict):
            raise ValueError(f"forwarding state: {where} must be an object")
        unknown = set(raw) - set(_FIELD_TYPES)
        if unknown:
            raise ValueError(f"forwarding state: {where} has unknown keys "
                             f"{', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            expected = _FIELD_TYPES[key]
            ok = (isinstance(value, int | float) and not isinstance(value, bool)
                  if expected is float else isinstance(value, expected))
            if not ok:
                raise ValueError(f"forwarding state: {where}.{key} must be "
                                 f"{expected.__name__}, not {type(value).__name__}")
            if key == "follow_me":
                if not all(isinstance(n, str) for n in value) or len(value) > MAX_FOLLOW_ME:
                    raise ValueError(f"forwarding state: {where}.follow_me must be at most "
                                     f"{MAX_FOLLOW_ME} strings")
                value = tuple(value)
            if key == "no_answer_s" and not MIN_NO_ANSWER_S <= value <= MAX_NO_ANSWER_S:
                raise ValueError(f"forwarding state: {where}.no_answer_s must be "
                                 f"{MIN_NO_ANSWER_S:g}-{MAX_NO_ANSWER_S:g}")
            values[key] = float(value) if expected is float else value
        result[user] = UserForwarding(**values)
    return result
