"""Installer programming from any phone (issue 5 item 10): the `*0` voice-prompt session.

Hybrid office PBXs (Panasonic KX-TDA/NS "system programming from a PT", Samsung OfficeServ
"MMC from a phone") let an installer change the box from an authorised handset before web pages
existed; this is the same on an analog or DECT phone. Architecture only — no code was copied.

Entry and PIN
- Only a user the lead marks `authorised` (installer/admin) gets in, and only while an installer
  PIN is configured (`ProgrammingSettings.pin`, 4–12 digits; empty: the mode is off). Others
  hear "not available on this phone", then the call ends.
- The PIN is keyed and ended with `#` (`*` clears what was keyed). Comparison is constant time:
  SHA-256 of both, then `hmac.compare_digest`, so neither content nor length leaks.
- `max_attempts` (3) wrong PINs end the call. Failures count per phone in `ProgrammingGuard`
  across calls within `failure_window_s` (1 h): hanging up does not reset them. The third locks
  that phone for `lockout_s` (15 min): a `ProgrammingLocked` event, then "locked" and the call
  ends; during the lock-out the right PIN is not even asked for. A right PIN clears the
  phone's count (there is one installer PIN, so a fraudster has no good PIN to launder with).

Main menu: 1 operating mode, 2 forwarding, 3 greetings, 4 door relay test, 5 the box's IP
address, `*` or 9 repeat, `#` goodbye and hang-up.
- 1 → 1 day, 2 night, 3 lunch, 4 holiday, 0 back to the schedule → `SetMode`.
- 2 → extension digits `#` → 1 always, 2 busy, 3 no answer (then target digits `#` →
  `SetForward`), 0 cancel every forward of that extension → `CancelForward`.
- 3 → 1 day, 2 night, 3 lunch, 4 holiday greeting of the auto-attendant → prompt, beep,
  `RecordGreeting` (at most `greeting_max_s`, 120 s); `#` → `StopRecording`; the channel reports
  the length → 1 keep (`KeepGreeting`), 2 record again, 3 listen (`PlayTake`); `*`/9 back and
  `#` end both drop the take (`DiscardGreeting`). A take under `greeting_min_s` (1 s) is dropped
  at once with "nothing was recorded".
- 4 → door digit 1–8 → `TestDoor`.
- 5 → `SayAddress`; the lead answers `on_address("192.168.1.20")` and the session says it digit
  by digit with "dot" (`number.1 number.9 number.2 prog.dot …`), as installers read it out.
  Anything that is not a dotted IPv4 address gives "the system has no network address".
- In every sub-menu `*` and 9 go back to the main menu and `#` ends the call; while keying
  an extension or a target 9 is a digit, `#` ends the entry and `*` goes back.

Changes: `SetMode`, `SetForward`, `CancelForward`, `KeepGreeting` and `TestDoor` wait for the
lead's `on_result(Outcome, …)`; the session says "done" or "not accepted" and goes back to the
main menu. Every accepted change is a `ProgrammingChange(what, by, detail)` event among the
actions (for the log and the bus); a result that does not come within `result_timeout_s`
(10 s) is taken as refused.

Never silence, never an endless loop (all numbers are settings):
- no key for `input_timeout_s` (10 s) after a prompt → the prompt again; the `max_timeouts`-th
  (3rd) in a row → goodbye and hang-up;
- an invalid key → "That is not a valid option." and the prompt again; `max_invalid` (5) in a
  row → goodbye;
- a prompt whose end is never reported is taken as ended after `prompt_max_s` (60 s); a
  recording that never reports its end is dropped `_RECORDING_GRACE_S` after its limit;
- the whole session ends after `session_max_s` (30 min) whatever is keyed; goodbye is cut after
  `_CLOSING_MAX_S` (10 s). So every session reaches `Hangup` by `session_max_s` + 10 s.

Pure (style rule 1): `now` is the board's monotonic clock in seconds. The lead runs the session
on an application channel: it performs the actions in order, reports `on_prompt_finished` once
the last playback asked for has ended (prompts and beep alike), calls `handle_timers(now)` at
`next_deadline()`, and routes events (`ProgrammingChange`, `ProgrammingLocked`,
`ProgrammingEntered`, `ProgrammingWrongPin`) to the bus.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections import deque
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from firmware.config.schema import setting
from firmware.features.forwarding import ForwardKind
from firmware.features.menu import PlayPrompt, StopPrompt
from firmware.features.voicemail import Hangup, PlayBeep, StopRecording
from firmware.schedule import StandardMode

log = logging.getLogger(__name__)

MIN_PIN_DIGITS = 4
MAX_PIN_DIGITS = 12
MAX_ENTRY_DIGITS = 32
"""Longest extension or forwarding target keyed (an outside number with its access code)."""
_CLOSING_MAX_S = 10.0
_RECORDING_GRACE_S = 5.0

# Prompt ids (all in firmware/media/prompt_catalog.py, EN and RU).
PROMPT_ENTER_PIN = "prog.enter_pin"
PROMPT_PIN_WRONG = "prog.pin_wrong"
PROMPT_LOCKED = "prog.locked"
PROMPT_NOT_ALLOWED = "prog.not_allowed"
PROMPT_MAIN = "prog.main_menu"
PROMPT_MODE = "prog.mode_menu"
PROMPT_EXTENSION = "prog.enter_extension"
PROMPT_FORWARD = "prog.forward_menu"
PROMPT_TARGET = "prog.enter_target"
PROMPT_GREETING = "prog.greeting_menu"
PROMPT_RECORD = "prog.record_after_tone"
PROMPT_REVIEW = "prog.greeting_review"
PROMPT_TOO_SHORT = "prog.nothing_recorded"
PROMPT_DOOR = "prog.enter_door"
PROMPT_ADDRESS_IS = "prog.address_is"
PROMPT_NO_ADDRESS = "prog.no_address"
PROMPT_DOT = "prog.dot"
PROMPT_DONE = "prog.done"
PROMPT_REFUSED = "prog.refused"
PROMPT_INVALID = "invalid_option"
PROMPT_GOODBYE = "goodbye"

_MODE_KEYS: dict[str, StandardMode | None] = {
    "1": StandardMode.DAY, "2": StandardMode.NIGHT, "3": StandardMode.LUNCH,
    "4": StandardMode.HOLIDAY, "0": None,
}  # fmt: skip
"""The `*4` feature code's digits (firmware/config/schema.py `FeatureCodeSettings.mode`)."""
_FORWARD_KEYS = {"1": ForwardKind.ALWAYS, "2": ForwardKind.BUSY, "3": ForwardKind.NO_ANSWER}
_GREETING_KEYS = {"1": 0, "2": 1, "3": 2, "4": 3}
"""Greeting key → index in `ProgrammingSettings.greeting_ids` (day, night, lunch, holiday)."""
_DOOR_KEYS = frozenset("12345678")
_BACK_KEYS = frozenset("*9")
_DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class ProgrammingSettings:
    """Installer mode on the phones (the lead builds it from the configuration)."""

    pin: str = ""
    """Installer PIN, 4–12 digits; empty: installer mode is off."""
    max_attempts: int = field(default=3, metadata=setting(
        "Wrong installer PINs from one phone within `failure_window_s` that lock it out.",
        minimum=1, maximum=10))
    failure_window_s: float = field(default=3600.0, metadata=setting(
        "Window in which a phone's wrong PINs count.", unit="s", minimum=60.0,
        maximum=86400.0))
    lockout_s: float = field(default=900.0, metadata=setting(
        "How long a phone stays locked out of installer mode.", unit="s", minimum=60.0,
        maximum=86400.0))
    input_timeout_s: float = field(default=10.0, metadata=setting(
        "Wait for a key after a prompt before saying it again.", unit="s", minimum=3.0,
        maximum=60.0))
    max_timeouts: int = field(default=3, metadata=setting(
        "Timeouts in a row that end the session.", minimum=1, maximum=10))
    max_invalid: int = field(default=5, metadata=setting(
        "Invalid keys in a row that end the session.", minimum=1, maximum=20))
    result_timeout_s: float = field(default=10.0, metadata=setting(
        "Wait for a change to be confirmed before saying it was not accepted.", unit="s",
        minimum=1.0, maximum=60.0))
    greeting_min_s: float = field(default=1.0, metadata=setting(
        "Shorter takes are dropped.", unit="s", minimum=0.0, maximum=10.0))
    greeting_max_s: float = field(default=120.0, metadata=setting(
        "Longest greeting recorded.", unit="s", minimum=5.0, maximum=600.0))
    prompt_max_s: float = field(default=60.0, metadata=setting(
        "A prompt whose end is not reported by then is taken as ended.", unit="s",
        minimum=5.0, maximum=600.0))
    session_max_s: float = field(default=1800.0, metadata=setting(
        "Longest installer session.", unit="s", minimum=60.0, maximum=14400.0))
    greeting_ids: tuple[str, str, str, str] = (
        "aa.greeting.day", "aa.greeting.night", "aa.greeting.lunch", "aa.greeting.holiday")
    """Prompt ids of the auto-attendant greetings keys 1-4 record: day, night, lunch, holiday
    (catalog ids, so `firmware.media.prompts.install_upload` accepts the kept take)."""

    def problems(self) -> list[str]:
        """Configuration mistakes; the validator adds the path."""
        found: list[str] = []
        if self.pin and not (set(self.pin) <= _DIGITS
                             and MIN_PIN_DIGITS <= len(self.pin) <= MAX_PIN_DIGITS):
            found.append(f"the installer PIN must be {MIN_PIN_DIGITS}-{MAX_PIN_DIGITS} digits")
        if len(set(self.greeting_ids)) != len(self.greeting_ids):
            found.append("two greeting keys record the same prompt id")
        return found


# --- outputs: commands (the lead performs them) ------------------------------------------------


class Outcome(StrEnum):
    """What the lead reports for a change."""

    DONE = "done"
    REFUSED = "refused"


class ChangeKind(StrEnum):
    """What an installer changed (`ProgrammingChange.what`)."""

    MODE = "mode"
    FORWARD = "forward"
    FORWARD_CANCEL = "forward_cancel"
    GREETING = "greeting"
    DOOR_TEST = "door_test"


@dataclass(frozen=True, slots=True)
class SetMode:
    """Switch the operating mode; `mode` None: back to the schedule. Answer with `on_result`."""

    mode: StandardMode | None


@dataclass(frozen=True, slots=True)
class SetForward:
    """Forward `extension`'s calls of `kind` to `target` (digits as keyed, with any access
    code). The lead applies the extension's class of service. Answer with `on_result`."""

    extension: str
    kind: ForwardKind
    target: str


@dataclass(frozen=True, slots=True)
class CancelForward:
    """Cancel every forward of `extension` (as `#21#` does). Answer with `on_result`."""

    extension: str


@dataclass(frozen=True, slots=True)
class RecordGreeting:
    """Beep done: record the caller into a take for `greeting_id` until `StopRecording` or
    `max_duration_s`, then call `on_recording_finished(duration_s)`."""

    greeting_id: str
    max_duration_s: float


@dataclass(frozen=True, slots=True)
class PlayTake:
    """Play the take just recorded for `greeting_id`, then call `on_prompt_finished`."""

    greeting_id: str


@dataclass(frozen=True, slots=True)
class KeepGreeting:
    """Make the take the greeting `greeting_id` (atomically). Answer with `on_result`."""

    greeting_id: str


@dataclass(frozen=True, slots=True)
class DiscardGreeting:
    """Drop the take of `greeting_id`; the old greeting stays. No answer expected."""

    greeting_id: str


@dataclass(frozen=True, slots=True)
class TestDoor:
    """Pulse door `door`'s relay (1-based), logged as opened by the installer. Answer with
    `on_result` (refused: no such door or its relay failed)."""

    __test__ = False  # not a pytest class, whatever its name
    door: int


@dataclass(frozen=True, slots=True)
class SayAddress:
    """Tell the session the box's IPv4 address: answer with `on_address("192.168.1.20")`."""


# --- outputs: events (the lead puts them on the bus) ------------------------------------------


@dataclass(frozen=True, slots=True)
class ProgrammingEntered:
    """An installer passed the PIN on `phone`."""

    phone: str
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class ProgrammingWrongPin:
    """A wrong installer PIN; `attempt` counts this call's tries."""

    phone: str
    by: str
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class ProgrammingLocked:
    """Alert: `phone` may not enter installer mode until `until` (monotonic s)."""

    phone: str
    by: str
    failures: int
    until: float
    at: float


@dataclass(frozen=True, slots=True)
class ProgrammingChange:
    """An accepted change: `ProgrammingChange(ChangeKind.MODE, "alice", "night", …)`."""

    what: ChangeKind
    by: str
    detail: str
    phone: str
    at: float


ProgrammingEvent = ProgrammingEntered | ProgrammingWrongPin | ProgrammingLocked | ProgrammingChange
ProgrammingAction = (PlayPrompt | StopPrompt | PlayBeep | PlayTake | RecordGreeting
                     | StopRecording | DiscardGreeting | KeepGreeting | SetMode | SetForward
                     | CancelForward | TestDoor | SayAddress | Hangup | ProgrammingEvent)
Change = SetMode | SetForward | CancelForward | KeepGreeting | TestDoor


def address_prompts(address: str) -> list[str]:
    """Prompt ids saying a dotted IPv4 address digit by digit: "10.0.0.1" → number.1 number.0
    prog.dot number.0 prog.dot number.0 prog.dot number.1. Anything else → "no address"."""
    try:
        parsed = ipaddress.IPv4Address(address.strip())
    except ValueError:
        return [PROMPT_NO_ADDRESS]
    ids = [PROMPT_ADDRESS_IS]
    for i, octet in enumerate(str(parsed).split(".")):
        if i:
            ids.append(PROMPT_DOT)
        ids += [f"number.{c}" for c in octet]
    return ids


# --- the guard across calls --------------------------------------------------------------------


class ProgrammingGuard:
    """Counts wrong installer PINs per phone across calls and locks a phone out.

    In memory: a reboot unlocks, which takes longer than the lock-out allows guesses.
    """

    def __init__(self, settings: ProgrammingSettings) -> None:
        self.settings = settings
        self._failures: dict[str, deque[float]] = {}
        self._locks: dict[str, float] = {}

    def locked_until(self, phone: str, now: float) -> float | None:
        """End of `phone`'s lock-out, or None when it may try."""
        until = self._locks.get(phone)
        if until is not None and until <= now:
            del self._locks[phone]
            until = None
        return until

    def unlock(self, phone: str) -> None:
        """An administrator lifts `phone`'s lock and its count."""
        self._locks.pop(phone, None)
        self._failures.pop(phone, None)

    def check(self, entered: str) -> bool:
        """Constant time in the content and length of both PINs; False while no PIN is set."""
        configured = self.settings.pin
        same = hmac.compare_digest(hashlib.sha256(configured.encode()).digest(),
                                   hashlib.sha256(entered.encode()).digest())
        return same and bool(configured)

    def success(self, phone: str) -> None:
        self._failures.pop(phone, None)

    def failure(self, phone: str, now: float) -> tuple[int, float | None]:
        """Count a wrong PIN: (failures within the window, lock end if this locked it)."""
        s = self.settings
        times = self._failures.setdefault(phone, deque())
        while times and times[0] <= now - s.failure_window_s:
            times.popleft()
        times.append(now)
        count = len(times)
        if count < s.max_attempts:
            return count, None
        until = now + s.lockout_s
        self._locks[phone] = until
        del self._failures[phone]
        return count, until


# --- one session -------------------------------------------------------------------------------


class State(Enum):
    """Where the installer is."""

    PIN = "pin"
    MAIN = "main"
    MODE = "mode"
    FORWARD_EXTENSION = "forward_extension"
    FORWARD_KIND = "forward_kind"
    FORWARD_TARGET = "forward_target"
    GREETING = "greeting"
    GREETING_BEEP = "greeting_beep"
    RECORDING = "recording"
    STOPPING = "stopping"
    """Asked the channel to stop recording; waiting for its length."""
    REVIEW = "review"
    LISTENING = "listening"
    DOOR = "door"
    WAIT_RESULT = "wait_result"
    WAIT_ADDRESS = "wait_address"
    CLOSING = "closing"
    DONE = "done"


_PROMPTS = {
    State.PIN: PROMPT_ENTER_PIN, State.MAIN: PROMPT_MAIN, State.MODE: PROMPT_MODE,
    State.FORWARD_EXTENSION: PROMPT_EXTENSION, State.FORWARD_KIND: PROMPT_FORWARD,
    State.FORWARD_TARGET: PROMPT_TARGET, State.GREETING: PROMPT_GREETING,
    State.REVIEW: PROMPT_REVIEW, State.DOOR: PROMPT_DOOR,
}  # fmt: skip
"""States that wait for keys, and the prompt that asks for them."""
_ENTRY_STATES = frozenset({State.PIN, State.FORWARD_EXTENSION, State.FORWARD_TARGET})


class ProgrammingSession:
    """One installer on one phone. Every method returns the actions to perform, in order."""

    def __init__(self, guard: ProgrammingGuard, phone: str, user: str, authorised: bool,
                 now: float) -> None:
        """`phone`: the device id (lock-out key); `user`: who is calling (`by` of events);
        `authorised`: the user may program (installer or admin)."""
        self.guard, self.settings = guard, guard.settings
        self.phone, self.user, self.authorised = phone, user, authorised
        self.state = State.PIN
        self._started = now
        self._end_by = now + self.settings.session_max_s
        self._deadline: float | None = None
        self._playing = False
        self._digits = ""
        self._attempts = 0
        self._timeouts = 0
        self._invalid = 0
        self._extension = ""
        self._kind: ForwardKind | None = None
        self._greeting: int | None = None
        self._take = False  # a take of `_greeting_id` exists and is not yet kept or dropped
        self._pending: Change | None = None

    # -- API --

    def start(self) -> list[ProgrammingAction]:
        """Ask for the PIN, or refuse (not authorised, mode off, phone locked) and hang up."""
        now = self._started
        if not self.authorised or not self.settings.pin:
            log.info("programming: %r on %r refused (authorised=%s, pin set=%s)", self.user,
                     self.phone, self.authorised, bool(self.settings.pin))
            return self._close(now, PROMPT_NOT_ALLOWED)
        if self.guard.locked_until(self.phone, now) is not None:
            log.warning("programming: %r on locked phone %r refused", self.user, self.phone)
            return self._close(now, PROMPT_LOCKED)
        return self._ask(State.PIN, now)

    def next_deadline(self) -> float | None:
        """When `handle_timers` must run next; None once done."""
        if self.state is State.DONE:
            return None
        if self.state is State.CLOSING:
            return self._deadline
        return min(self._end_by, self._deadline) if self._deadline is not None else self._end_by

    def on_prompt_finished(self, now: float) -> list[ProgrammingAction]:
        """The last playback asked for (prompts, beep, take) has ended."""
        if not self._playing:
            return []
        self._playing = False
        self._deadline = None
        if self.state is State.CLOSING:
            return self._hang_up()
        if self.state is State.GREETING_BEEP:
            assert self._greeting is not None  # set when entering GREETING_BEEP
            self.state = State.RECORDING
            self._take = True
            self._deadline = now + self.settings.greeting_max_s + _RECORDING_GRACE_S
            return [RecordGreeting(self._greeting_id, self.settings.greeting_max_s)]
        if self.state is State.LISTENING:
            return self._ask(State.REVIEW, now)
        if self.state in _PROMPTS:
            self._deadline = now + self.settings.input_timeout_s
        return []

    def on_digit(self, digit: str, now: float) -> list[ProgrammingAction]:
        """A DTMF key; barge-in stops the prompt playing."""
        if len(digit) != 1 or digit not in "0123456789*#":
            return []
        state = self.state
        if state is State.RECORDING:
            return self._stop_recording(now) if digit == "#" else []
        if state not in _PROMPTS and state is not State.LISTENING:
            return []  # beep, waiting for the channel or the lead, closing, done
        out: list[ProgrammingAction] = []
        if self._playing:
            self._playing = False
            out.append(StopPrompt())
        self._timeouts = 0
        self._deadline = now + self.settings.input_timeout_s
        if state is State.LISTENING:
            return out + self._ask(State.REVIEW, now)
        if state in _ENTRY_STATES:
            return out + self._entry_key(digit, now)
        return out + self._menu_key(digit, now)

    def on_recording_finished(self, duration_s: float, now: float) -> list[ProgrammingAction]:
        """The channel stopped recording the take (key, limit or fault); `duration_s` long."""
        if self.state not in (State.RECORDING, State.STOPPING):
            return []
        if duration_s < self.settings.greeting_min_s:
            return [*self._drop_take(), *self._ask(State.GREETING, now, PROMPT_TOO_SHORT)]
        return self._ask(State.REVIEW, now)

    def on_result(self, outcome: Outcome, now: float, reason: str = "") -> list[ProgrammingAction]:
        """The lead's answer to the change asked for last; ignored when none is pending."""
        change, self._pending = self._pending, None
        if self.state is not State.WAIT_RESULT or change is None:
            return []
        out: list[ProgrammingAction] = []
        if outcome is Outcome.DONE:
            what, detail = _describe(change)
            log.info("programming: %r on %r: %s %s", self.user, self.phone, what.value, detail)
            out.append(ProgrammingChange(what, self.user, detail, self.phone, now))
            if isinstance(change, KeepGreeting):
                self._take = False
            said = PROMPT_DONE
        else:
            log.info("programming: %r on %r: %r refused: %s", self.user, self.phone, change,
                     reason)
            said = PROMPT_REFUSED
        if isinstance(change, KeepGreeting) and self._take:
            out += self._drop_take()  # not kept: the old greeting stays
        return out + self._ask(State.MAIN, now, said)

    def on_address(self, address: str, now: float) -> list[ProgrammingAction]:
        """The lead's answer to `SayAddress`."""
        if self.state is not State.WAIT_ADDRESS:
            return []
        return self._ask(State.MAIN, now, *address_prompts(address))

    def on_hangup(self, now: float) -> list[ProgrammingAction]:
        """The installer hung up: an unkept take is dropped; nothing else is undone."""
        if self.state is State.DONE:
            return []
        out: list[ProgrammingAction] = []
        if self.state is State.RECORDING:
            out.append(StopRecording())
        out += self._drop_take()
        self.state, self._deadline, self._playing = State.DONE, None, False
        log.debug("programming: %r hung up on %r at %.1f", self.user, self.phone, now)
        return out

    def handle_timers(self, now: float) -> list[ProgrammingAction]:
        """Run whatever fell due at `now`."""
        if self.state is State.DONE:
            return []
        if self.state is State.CLOSING:
            if self._deadline is not None and now >= self._deadline:
                return [*self._stop_playing(), *self._hang_up()]
            return []
        if now >= self._end_by:
            log.info("programming: %r on %r: session limit reached", self.user, self.phone)
            out: list[ProgrammingAction] = [*self._stop_playing()]
            if self.state is State.RECORDING:
                out.append(StopRecording())
            return [*out, *self._drop_take(), *self._close(now)]
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        if self._playing:  # the channel never said the prompt ended: act as if it had
            log.warning("programming: prompt end not reported on %r", self.phone)
            return self.on_prompt_finished(now)
        if self.state is State.RECORDING:
            return self._stop_recording(now)
        if self.state is State.STOPPING:
            log.warning("programming: recording end not reported on %r", self.phone)
            return [*self._drop_take(), *self._ask(State.GREETING, now, PROMPT_TOO_SHORT)]
        if self.state is State.WAIT_RESULT:
            log.warning("programming: no result for %r on %r", self._pending, self.phone)
            return self.on_result(Outcome.REFUSED, now, "no answer")
        if self.state is State.WAIT_ADDRESS:
            return self.on_address("", now)
        self._timeouts += 1
        if self._timeouts >= self.settings.max_timeouts:
            return [*self._drop_take(), *self._close(now)]
        self._digits = ""
        return self._ask(self.state, now)

    # -- keys --

    def _entry_key(self, digit: str, now: float) -> list[ProgrammingAction]:
        if digit == "*":
            self._digits = ""
            if self.state is State.PIN:
                return []  # clear what was keyed, as the docstring says
            return self._ask(State.MAIN, now)
        if digit != "#":
            limit = MAX_PIN_DIGITS if self.state is State.PIN else MAX_ENTRY_DIGITS
            self._digits = (self._digits + digit)[-limit:]
            return []
        entered, self._digits = self._digits, ""
        if self.state is State.PIN:
            return self._pin_entered(entered, now)
        if not entered:
            return self._invalid_key(now)
        self._invalid = 0
        if self.state is State.FORWARD_EXTENSION:
            self._extension = entered
            return self._ask(State.FORWARD_KIND, now)
        assert self._kind is not None  # FORWARD_TARGET follows FORWARD_KIND
        return self._change(SetForward(self._extension, self._kind, entered), now)

    def _menu_key(self, digit: str, now: float) -> list[ProgrammingAction]:
        state = self.state
        if digit == "#":
            return [*self._drop_take(), *self._close(now)]
        if digit in _BACK_KEYS:
            self._invalid = 0
            return [*self._drop_take(), *self._ask(State.MAIN, now)]
        if state is State.MAIN:
            target = {"1": State.MODE, "2": State.FORWARD_EXTENSION, "3": State.GREETING,
                      "4": State.DOOR}.get(digit)  # fmt: skip
            if target is not None:
                self._invalid = 0
                return self._ask(target, now)
            if digit == "5":
                self._invalid = 0
                self.state = State.WAIT_ADDRESS
                self._deadline = now + self.settings.result_timeout_s
                return [SayAddress()]
        elif state is State.MODE and digit in _MODE_KEYS:
            return self._change(SetMode(_MODE_KEYS[digit]), now)
        elif state is State.FORWARD_KIND:
            if digit == "0":
                return self._change(CancelForward(self._extension), now)
            if digit in _FORWARD_KEYS:
                self._kind = _FORWARD_KEYS[digit]
                self._invalid = 0
                return self._ask(State.FORWARD_TARGET, now)
        elif state is State.GREETING and digit in _GREETING_KEYS:
            self._greeting = _GREETING_KEYS[digit]
            return self._record(now)
        elif state is State.REVIEW:
            if digit == "1":
                return self._change(KeepGreeting(self._greeting_id), now)
            if digit == "2":
                return [*self._drop_take(), *self._record(now)]
            if digit == "3":
                self._invalid = 0
                self.state, self._playing = State.LISTENING, True
                self._deadline = now + self.settings.prompt_max_s
                return [PlayTake(self._greeting_id)]
        elif state is State.DOOR and digit in _DOOR_KEYS:
            return self._change(TestDoor(int(digit)), now)
        return self._invalid_key(now)

    def _pin_entered(self, entered: str, now: float) -> list[ProgrammingAction]:
        if self.guard.locked_until(self.phone, now) is not None:
            return self._close(now, PROMPT_LOCKED)  # another call locked it meanwhile
        if self.guard.check(entered):
            self.guard.success(self.phone)
            log.info("programming: %r entered installer mode on %r", self.user, self.phone)
            entered_event = ProgrammingEntered(self.phone, self.user, now)
            return [entered_event, *self._ask(State.MAIN, now)]
        self._attempts += 1
        failures, until = self.guard.failure(self.phone, now)
        log.warning("programming: wrong installer PIN from %r on %r (%d)", self.user,
                    self.phone, failures)
        out: list[ProgrammingAction] = [
            ProgrammingWrongPin(self.phone, self.user, self._attempts, now)]
        if until is not None:
            log.warning("programming: phone %r locked until %.0f s", self.phone, until)
            out.append(ProgrammingLocked(self.phone, self.user, failures, until, now))
            return out + self._close(now, PROMPT_PIN_WRONG, PROMPT_LOCKED)
        if self._attempts >= self.settings.max_attempts:
            return out + self._close(now, PROMPT_PIN_WRONG)
        return out + self._ask(State.PIN, now, PROMPT_PIN_WRONG)

    # -- helpers --

    @property
    def _greeting_id(self) -> str:
        assert self._greeting is not None  # only used once a greeting key was pressed
        return self.settings.greeting_ids[self._greeting]

    def _ask(self, state: State, now: float, *before: str) -> list[ProgrammingAction]:
        """Say `before`, then the prompt of `state`, and wait for keys after it."""
        self.state, self._playing, self._digits = state, True, ""
        self._deadline = now + self.settings.prompt_max_s
        return [PlayPrompt((*before, _PROMPTS[state]))]

    def _close(self, now: float, *before: str) -> list[ProgrammingAction]:
        self.state, self._playing = State.CLOSING, True
        self._deadline = now + _CLOSING_MAX_S
        return [PlayPrompt((*before, PROMPT_GOODBYE))]

    def _hang_up(self) -> list[ProgrammingAction]:
        self.state, self._deadline, self._playing = State.DONE, None, False
        return [Hangup()]

    def _stop_playing(self) -> list[ProgrammingAction]:
        if self._playing:
            self._playing = False
            return [StopPrompt()]
        return []

    def _invalid_key(self, now: float) -> list[ProgrammingAction]:
        self._invalid += 1
        if self._invalid >= self.settings.max_invalid:
            return [*self._drop_take(), *self._close(now, PROMPT_INVALID)]
        return self._ask(self.state, now, PROMPT_INVALID)

    def _change(self, change: Change, now: float) -> list[ProgrammingAction]:
        self._invalid = 0
        self._pending = change
        self.state, self._playing = State.WAIT_RESULT, False
        self._deadline = now + self.settings.result_timeout_s
        return [change]

    def _record(self, now: float) -> list[ProgrammingAction]:
        self._invalid = 0
        self.state, self._playing = State.GREETING_BEEP, True
        self._deadline = now + self.settings.prompt_max_s
        return [PlayPrompt((PROMPT_RECORD,)), PlayBeep()]

    def _stop_recording(self, now: float) -> list[ProgrammingAction]:
        self.state = State.STOPPING
        self._deadline = now + _RECORDING_GRACE_S
        return [StopRecording()]

    def _drop_take(self) -> list[ProgrammingAction]:
        if not self._take:
            return []
        self._take = False
        return [DiscardGreeting(self._greeting_id)]


def _describe(change: Change) -> tuple[ChangeKind, str]:
    if isinstance(change, SetMode):
        return ChangeKind.MODE, change.mode.value if change.mode is not None else "schedule"
    if isinstance(change, SetForward):
        return ChangeKind.FORWARD, f"{change.extension} {change.kind.value} {change.target}"
    if isinstance(change, CancelForward):
        return ChangeKind.FORWARD_CANCEL, change.extension
    if isinstance(change, KeepGreeting):
        return ChangeKind.GREETING, change.greeting_id
    return ChangeKind.DOOR_TEST, str(change.door)

