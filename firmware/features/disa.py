"""DISA (direct inward system access): an outside caller dials an extension from the greeting, or
a PIN to get the box's internal dial tone — the classic toll-fraud hole, so guarded by default.

What installers expect (Panasonic KX-TDA/NS DISA with its "DISA security" modes and user PINs,
Yeastar's DISA with password and allowed caller IDs, Asterisk's DISA application with a
password and a context; architecture only):

- DISA is **off** until enabled; when on it may be limited to time windows per weekday (local
  wall time, the datetime the caller passes in) and to a caller-ID allow-list (`+7495*`
  patterns, fnmatch-style; with a list, a withheld number is refused);
- from the greeting the caller dials an extension ("dial the extension you want", allowed
  without a PIN while `extensions_without_pin`) or `*` and a PIN ended by `#` or a pause; a
  right PIN gives internal dial tone with the class of service of the PIN's owner
  (`Authorised.subject`; the controller then dials with `cos.Action.DISA` and that subject);
- a wrong PIN is told and retried, `max_attempts` (3) per call, then the call is hung up;
- failures lock DISA out per caller ID (3 in 1 h → 1 h) and for everyone (10 in 10 min →
  30 min); while locked a caller hears a refusal message at once, never a dial tone, even
  with the right PIN. Withheld callers share one lock-out bucket. Success resets nothing:
  failures age out of their window, so a fraudster cannot launder them with one good PIN;
- PINs are compared in constant time (`hmac.compare_digest`, every PIN compared every time);
- every failure (`WrongPin`, `LockedOut`, `Refused`) is an event the controller logs and
  alerts on; `DisaGuard.next_event()` adds `DisaLocked` alerts when a lock begins.

Pure: no I/O; `now` is the board's monotonic clock in seconds, `at` an aware local datetime.
"""

from __future__ import annotations

import fnmatch
import hmac
import logging
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum

from firmware.calls.cos import Subject, SubjectKind
from firmware.calls.events import CallId
from firmware.config.schema import setting
from firmware.schedule import Weekday

log = logging.getLogger(__name__)

SHARED_SUBJECT = Subject(SubjectKind.DISA, "shared")
"""Whose class of service calls made with the shared PIN get."""
ANONYMOUS = "anonymous"
"""The lock-out key of callers who withhold their number."""
PIN_DIGITS = frozenset("0123456789")
MIN_PIN_DIGITS = 4
MAX_PIN_DIGITS = 12


class DisaRefusal(StrEnum):
    DISABLED = "disabled"
    OUTSIDE_HOURS = "outside_hours"
    CALLER_NOT_ALLOWED = "caller_not_allowed"
    LOCKED_OUT = "locked_out"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    NO_INPUT = "no_input"
    INVALID_NUMBER = "invalid_number"


class LockScope(StrEnum):
    CALLER = "caller"
    GLOBAL = "global"


class DisaState(StrEnum):
    GREETING = "greeting"
    EXTENSION = "extension"
    PIN = "pin"
    AUTHORISED = "authorised"
    DIALLING = "dialling"
    """Handed an extension to the controller."""
    ENDED = "ended"
    """Refused or locked out: the controller plays the message and hangs up."""


@dataclass(frozen=True, slots=True)
class DisaWindow:
    """DISA answers from `start` to `end` local time on `days`; `end <= start` crosses
    midnight into the next day."""

    days: frozenset[Weekday]
    start: time
    end: time

    def contains(self, at: datetime) -> bool:
        t, day = at.time().replace(tzinfo=None), Weekday(at.weekday())
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        yesterday = Weekday((at.weekday() - 1) % 7)
        return (day in self.days and t >= self.start) or (yesterday in self.days
                                                          and t < self.end)


@dataclass(frozen=True, slots=True)
class DisaPin:
    """A user's PIN; calls made with it get `subject`'s class of service."""

    subject: Subject
    pin: str


@dataclass(frozen=True, slots=True)
class DisaSettings:
    enabled: bool = False
    """Off until an installer turns it on (fraud guardrail)."""
    windows: tuple[DisaWindow, ...] = ()
    """When DISA answers; empty: at any time."""
    caller_allow: tuple[str, ...] = ()
    """Caller-ID patterns (`+7495*`, `?` one digit); empty: any caller."""
    pins: tuple[DisaPin, ...] = ()
    shared_pin: str = ""
    """One PIN for everyone (class of service of `SHARED_SUBJECT`); empty: none."""
    extensions_without_pin: bool = True
    max_attempts: int = field(default=3, metadata=setting(
        "Wrong PINs per call before hanging up.",
        minimum=1, maximum=5))
    caller_lockout_failures: int = field(default=3, metadata=setting(
        "Wrong PINs from one caller ID within `caller_window_s` that lock it out.",
        minimum=1, maximum=20))
    caller_window_s: float = field(default=3600.0, metadata=setting(
        "Window in which a caller's failures count.",
        unit="s", minimum=60.0, maximum=86400.0))
    caller_lockout_s: float = field(default=3600.0, metadata=setting(
        "How long a caller ID stays locked out.",
        unit="s", minimum=60.0, maximum=604800.0))
    global_lockout_failures: int = field(default=10, metadata=setting(
        "Wrong PINs from all callers within `global_window_s` that lock DISA for everyone.",
        minimum=1, maximum=200))
    global_window_s: float = field(default=600.0, metadata=setting(
        "Window in which all callers' failures count.",
        unit="s", minimum=60.0, maximum=86400.0))
    global_lockout_s: float = field(default=1800.0, metadata=setting(
        "How long DISA stays locked for everyone.",
        unit="s", minimum=60.0, maximum=604800.0))
    first_digit_s: float = field(default=10.0, metadata=setting(
        "Wait for the first digit after the greeting or a prompt.",
        unit="s", minimum=3.0, maximum=60.0))
    inter_digit_s: float = field(default=5.0, metadata=setting(
        "Wait between digits; a pause ends an extension or a PIN.",
        unit="s", minimum=2.0, maximum=20.0))
    no_input_extension: str = ""
    """Extension dialled when the caller dials nothing (the operator); empty: hang up."""

    def problems(self) -> list[str]:
        """Configuration mistakes; the validator adds the path."""
        found: list[str] = []
        pins = [p.pin for p in self.pins] + ([self.shared_pin] if self.shared_pin else [])
        for pin in pins:
            if not (set(pin) <= PIN_DIGITS and MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS):
                found.append(f"a DISA PIN must be {MIN_PIN_DIGITS}-{MAX_PIN_DIGITS} digits")
        if len(set(pins)) != len(pins):
            found.append("two DISA PINs are the same: a PIN must name one owner")
        if self.enabled and not pins and not self.extensions_without_pin:
            found.append("DISA is enabled but has no PIN and no extension dialling")
        return found


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialExtension:
    call: CallId
    number: str
    at: float


@dataclass(frozen=True, slots=True)
class Authorised:
    """Give internal dial tone; the caller's calls get `subject`'s class of service."""

    call: CallId
    caller: str
    subject: Subject
    at: float


@dataclass(frozen=True, slots=True)
class WrongPin:
    """Prompt again (unless a LockedOut or Refused follows)."""

    call: CallId
    caller: str
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class LockedOut:
    call: CallId
    caller: str
    scope: LockScope
    until: float
    at: float


@dataclass(frozen=True, slots=True)
class Refused:
    call: CallId
    caller: str
    reason: DisaRefusal
    at: float


DisaEvent = DialExtension | Authorised | WrongPin | LockedOut | Refused


@dataclass(frozen=True, slots=True)
class DisaLocked:
    """Alert: DISA is locked for `caller` (scope CALLER) or for everyone (GLOBAL)."""

    scope: LockScope
    caller: str | None
    failures: int
    at: float
    until: float


# --- the guard across calls ---------------------------------------------------------------------


class DisaGuard:
    """Counts failures across calls and locks callers or all of DISA; starts sessions."""

    def __init__(self, settings: DisaSettings) -> None:
        self.settings = settings
        self._failures: dict[str, deque[float]] = {}
        self._global: deque[float] = deque()
        self._caller_locks: dict[str, float] = {}
        self._global_lock: float | None = None
        self._alerts: deque[DisaLocked] = deque()

    def start(self, call: CallId, caller: str | None, at: datetime, now: float,
              extensions: Collection[str] = ()) -> DisaSession:
        """A call reached DISA. `caller` is the caller ID (None/empty: withheld);
        `extensions` the internal numbers dialable from the greeting. Read the session's
        first event: a refusal or lock-out arrives at once."""
        session = DisaSession(self, call, caller or "", extensions, now)
        s = self.settings
        reason: DisaRefusal | None = None
        if not s.enabled:
            reason = DisaRefusal.DISABLED
        elif s.windows and not any(w.contains(at) for w in s.windows):
            reason = DisaRefusal.OUTSIDE_HOURS
        elif s.caller_allow and not (caller and any(fnmatch.fnmatchcase(caller, p)
                                                    for p in s.caller_allow)):
            reason = DisaRefusal.CALLER_NOT_ALLOWED
        if reason is not None:
            session._refuse(reason, now)
        else:
            session._check_lock(now)
        return session

    def locked_until(self, caller: str | None, now: float) -> tuple[LockScope, float] | None:
        self.handle_timers(now)
        if self._global_lock is not None:
            return LockScope.GLOBAL, self._global_lock
        until = self._caller_locks.get(caller or ANONYMOUS)
        return (LockScope.CALLER, until) if until is not None else None

    def unlock(self, caller: str | None = None) -> None:
        """An administrator lifts the caller's lock (None: the global one) and its count."""
        if caller is None:
            self._global_lock = None
            self._global.clear()
        else:
            self._caller_locks.pop(caller or ANONYMOUS, None)
            self._failures.pop(caller or ANONYMOUS, None)

    def handle_timers(self, now: float) -> None:
        if self._global_lock is not None and self._global_lock <= now:
            self._global_lock = None
        for key, until in list(self._caller_locks.items()):
            if until <= now:
                del self._caller_locks[key]
        s = self.settings
        _expire(self._global, now - s.global_window_s)
        for key, times in list(self._failures.items()):
            _expire(times, now - s.caller_window_s)
            if not times:
                del self._failures[key]

    def next_deadline(self) -> float | None:
        ends = list(self._caller_locks.values())
        if self._global_lock is not None:
            ends.append(self._global_lock)
        return min(ends, default=None)

    def next_event(self) -> DisaLocked | None:
        return self._alerts.popleft() if self._alerts else None

    def _failure(self, caller: str, now: float) -> None:
        self.handle_timers(now)
        s, key = self.settings, caller or ANONYMOUS
        times = self._failures.setdefault(key, deque())
        times.append(now)
        self._global.append(now)
        if len(times) >= s.caller_lockout_failures and key not in self._caller_locks:
            until = now + s.caller_lockout_s
            self._caller_locks[key] = until
            self._alerts.append(DisaLocked(LockScope.CALLER, key, len(times), now, until))
            log.warning("DISA locked for caller %r until %.0f s after %d failures", key, until,
                        len(times))
            times.clear()
        if len(self._global) >= s.global_lockout_failures and self._global_lock is None:
            self._global_lock = now + s.global_lockout_s
            self._alerts.append(DisaLocked(LockScope.GLOBAL, None, len(self._global), now,
                                           self._global_lock))
            log.warning("DISA locked for everyone until %.0f s after %d failures",
                        self._global_lock, len(self._global))
            self._global.clear()

    def _owner(self, pin: str) -> Subject | None:
        """Constant time in the PIN's content: every configured PIN is compared."""
        found: Subject | None = None
        entered = pin.encode()
        candidates = [(p.pin, p.subject) for p in self.settings.pins]
        if self.settings.shared_pin:
            candidates.append((self.settings.shared_pin, SHARED_SUBJECT))
        for configured, subject in candidates:
            if hmac.compare_digest(configured.encode(), entered) and found is None:
                found = subject
        return found


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()


# --- one call -----------------------------------------------------------------------------------


class DisaSession:
    """One inbound call in DISA. Feed `digit()` and `handle_timers()`; read `next_event()`."""

    def __init__(self, guard: DisaGuard, call: CallId, caller: str,
                 extensions: Collection[str], now: float) -> None:
        self._guard = guard
        self.call = call
        self.caller = caller
        self._extensions = frozenset(extensions)
        self._prefixes = frozenset(n[:i] for n in self._extensions for i in range(1, len(n)))
        self.state = DisaState.GREETING
        self._digits = ""
        self._attempts = 0
        self._deadline: float | None = now + guard.settings.first_digit_s
        self._events: deque[DisaEvent] = deque()

    @property
    def attempts(self) -> int:
        return self._attempts

    def digit(self, digit: str, now: float) -> None:
        """A DTMF digit from the caller."""
        self.handle_timers(now)
        s = self._guard.settings
        if self.state is DisaState.GREETING:
            if digit == "*":
                self._enter(DisaState.PIN, now)
                return
            if digit == "#":
                return
            self._enter(DisaState.EXTENSION if s.extensions_without_pin else DisaState.PIN, now)
        if self.state is DisaState.EXTENSION:
            self._digits += digit
            self._deadline = now + s.inter_digit_s
            if self._digits in self._extensions and self._digits not in self._prefixes:
                self._dial(self._digits, now)
            elif self._digits not in self._extensions and self._digits not in self._prefixes:
                self._refuse(DisaRefusal.INVALID_NUMBER, now)
        elif self.state is DisaState.PIN:
            if digit == "#":
                self._submit(now)
                return
            self._digits += digit
            self._deadline = now + s.inter_digit_s
            if len(self._digits) >= MAX_PIN_DIGITS:
                self._submit(now)

    def handle_timers(self, now: float) -> None:
        if self._deadline is None or now < self._deadline:
            return
        s = self._guard.settings
        if self.state is DisaState.GREETING:
            if s.no_input_extension:
                self._dial(s.no_input_extension, now)
            else:
                self._refuse(DisaRefusal.NO_INPUT, now)
        elif self.state is DisaState.EXTENSION:
            if self._digits in self._extensions:
                self._dial(self._digits, now)
            else:
                self._refuse(DisaRefusal.INVALID_NUMBER, now)
        elif self.state is DisaState.PIN:
            if self._digits:
                self._submit(now)
            else:
                self._refuse(DisaRefusal.NO_INPUT, now)

    def next_deadline(self) -> float | None:
        return self._deadline

    def next_event(self) -> DisaEvent | None:
        return self._events.popleft() if self._events else None

    # -- internals --

    def _enter(self, state: DisaState, now: float) -> None:
        self.state, self._digits = state, ""
        self._deadline = now + self._guard.settings.first_digit_s

    def _submit(self, now: float) -> None:
        pin, self._digits = self._digits, ""
        if self._check_lock(now):
            return
        owner = self._guard._owner(pin)
        if owner is not None:
            self.state, self._deadline = DisaState.AUTHORISED, None
            self._events.append(Authorised(self.call, self.caller, owner, now))
            log.info("DISA call %s from %r authorised as %s", self.call, self.caller, owner)
            return
        self._attempts += 1
        self._events.append(WrongPin(self.call, self.caller, self._attempts, now))
        log.warning("DISA call %s from %r: wrong PIN (attempt %d)", self.call, self.caller,
                    self._attempts)
        self._guard._failure(self.caller, now)
        if self._check_lock(now):
            return
        if self._attempts >= self._guard.settings.max_attempts:
            self._refuse(DisaRefusal.TOO_MANY_ATTEMPTS, now)
            return
        self._deadline = now + self._guard.settings.first_digit_s

    def _check_lock(self, now: float) -> bool:
        lock = self._guard.locked_until(self.caller, now)
        if lock is None:
            return False
        scope, until = lock
        self.state, self._deadline = DisaState.ENDED, None
        self._events.append(LockedOut(self.call, self.caller, scope, until, now))
        log.warning("DISA call %s from %r refused: locked (%s) until %.0f s", self.call,
                    self.caller, scope.value, until)
        return True

    def _dial(self, number: str, now: float) -> None:
        self.state, self._deadline = DisaState.DIALLING, None
        self._events.append(DialExtension(self.call, number, now))

    def _refuse(self, reason: DisaRefusal, now: float) -> None:
        self.state, self._deadline = DisaState.ENDED, None
        self._events.append(Refused(self.call, self.caller, reason, now))
        log.warning("DISA call %s from %r refused: %s", self.call, self.caller, reason.value)
