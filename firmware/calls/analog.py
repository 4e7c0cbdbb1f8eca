"""Analog line behaviour users know, as one pure state machine per line (FXS port or DECT handset).

Sans-I/O (STYLE rule 1): the line adapter feeds `handle(event, now)` with what the port reports
(`hal.events` `OffHook`, `OnHook`, `HookFlash`, `PulseDigit`; for DECT `HandsetOffHook`,
`HandsetOnHook`, `KeypadPressed` with "R" for the recall key), DTMF digits from the media layer
(`firmware.media.dsp.dtmf.DigitDetected`) and what the call controller says (`Routed`,
`Ringing`, `Answered`, `Busy`, `Congestion`, `Confirmed`, `FarEndHungUp`, `IncomingCall`,
`CallWaiting`, `MessageWaiting`); it calls `handle_timers(now)` at `next_deadline()` and drains
`commands()`: port commands (`PlayTone`, `StopTone`, `Ring`, `StopRinging`, `SetLamp`,
`Display`) and call commands for the controller (`Dial`, `Answer`, `Connect`, `Hold`,
`Transfer`, `Conference`, `Release`). Nothing here sleeps, reads a clock or touches a port.

What a user gets
  * Lift → dial tone (stutter dial tone while a message waits); the first digit stops it. DTMF,
    pulse and DECT keypad digits all feed the dial plan's `DigitCollector`; when it says the
    number is complete the line sends `Dial(call, number)`, an invalid one gets congestion.
  * Ringback, then talk; far-end busy → busy tone; congestion → congestion tone. Whenever the
    line is off-hook with nothing to do — dial tone with no digit, busy or congestion after a
    failure, busy after the far end hung up — a tone runs out into the howler and then the line
    parks (silent, ignored until it goes on-hook): a handset left off the cradle stops
    sounding and stops holding resources.
  * Ringing with a cadence per kind (`RingKind`: NORMAL for external calls, INTERNAL, DOOR,
    DISTINCTIVE_n) and caller ID with name (`Ring.caller_id`, sent by the port as FSK/DTMF
    frames from `firmware.media.dsp.callerid`).
  * Message waiting: `SetLamp` at once, stutter dial tone on the next lift.
  * Register recall (hook flash, the R key) — the R-code scheme of ETSI-area exchanges and of
    the Russian ДВО services as Russian installers know it from Eltex TAU and exchange manuals
    ("R 0 … R 4"), with Panasonic/North-American plain-flash habits kept working:
      - in a call, R puts the caller on hold and gives dial tone: dial a second party
        (consultation); R again, before or while the second party rings, returns to the held
        caller; a failed consultation (busy, congestion) returns by R or by itself;
      - hang up with one call held and another answered or ringing (or still being routed,
        which is the usual blind transfer: R, number, hang up) → `Transfer(held, active)`;
      - with two calls (held + talking), R gives dial tone for a code:
          R 0 release the held call, back to the talking one;
          R 1 release the talking call, back to the held one;
          R 2 swap (the talking one goes on hold, the held one comes back);
          R 3 three-way conference;
          R 4 transfer (join the two and leave), the same as hanging up;
          R again, or a digit that is no code: back to the talking call;
          no code within `recall_code_timeout_s` (3 s): swap, as a plain flash toggles on
          Panasonic systems and North-American lines;
      - call waiting: a second caller gets the call-waiting tone in the conversation; R then
        R 0 rejects (the caller hears busy), R 1 ends the current call and answers, R 2 — or a
        plain flash, after the same 3 s — holds the current call and answers, R 3 answers into
        a three-way conference; hanging up ends the current call and the waiting one rings;
      - in a conference R splits it again (talk to the party added last, the other held); the
        initiator hanging up leaves the other two connected (`Transfer`), as in the North
        American "three-way calling with transfer" and not as Eltex, which clears both — the
        controller may still refuse the join by class of service and release both;
      - hang up with a call held and nobody to transfer to → the phone rings back at once with
        the recall ring (`recall_ring`) and caller ID of the held party; lifting retrieves it;
        no answer within `recall_ring_timeout_s` releases it.
    When the talking party of a consultation hangs up the line goes straight back to the held
    one (as Centrex does after its disconnect timing); when the held one hangs up the
    consultation simply continues as an ordinary call.
  * DECT handsets run the same machine (`LineKind.DECT`) and also get `Display` text for each
    state: who calls, who is held, the digits dialled.

States and transitions are data: `_TRANSITIONS` maps (state, signal) to (next state, actions).
A raw input becomes a `Signal` first: digits in a dialling state go through the collector
(DIGIT / COMPLETE / INVALID), digits after R become R-codes, controller events count only for a
call the line holds and name the slot it is in (ACTIVE_GONE, HELD_GONE, …). Any (state, signal)
absent from the table is ignored, except offers of a new call, which are refused busy. Entering
a state sets its tone (`_TONES`) and ringing (`_RINGING_STATES`); `_SLOTS` lists which calls a
state holds, which the tests check after every step.

    state            holds            tone         main ways out
    idle             —                —            lift→dialtone, offer→ringing
    ringing          ringing          (rings)      lift→connected (Answer), caller gone→idle
    recall_ringing   held             (rings)      lift→connected (Connect held), timeout→idle
    dialtone         —                dial/stutter digit→dialling|calling, 30 s→howler
    dialling         —                —            complete→calling (Dial), invalid→congestion
    calling          active           —            ringing→ringback, answered→connected
    ringback         active           ringback     answered→connected, busy→busy
    connected        active           —            R→hold_dialtone, waiting→call_waiting
    busy/congestion  —                busy/cong.   30 s→howler, R→dialtone
    confirmed        —                confirmation 30 s→howler, R→dialtone
    howler           —                howler       60 s→parked
    parked           —                —            on-hook→idle
    call_waiting     active, waiting  call waiting R→waiting_recall, on-hook→ringing
    waiting_recall   held, waiting    dial         R0/R1/R2/R3, 3 s→two_calls
    waiting_alone    waiting          call waiting R→connected (Answer), on-hook→ringing
    hold_dialtone    held             dial         digit→hold_dialling, R/30 s→connected
    hold_dialling    held             —            complete→hold_calling, R→connected
    hold_calling     held, active     —            ringing→hold_ringback, on-hook→Transfer
    hold_ringback    held, active     ringback     answered→two_calls, on-hook→Transfer
    hold_busy/-cong. held             busy/cong.   R or 10 s→connected, on-hook→recall
    two_calls        held, active     —            R→two_calls_recall, on-hook→Transfer
    two_calls_recall held, active     dial         R0/R1/R2/R3/R4, 3 s→two_calls (swap)
    conference       held, active     —            R→two_calls (split), on-hook→Transfer
    out_of_service   —                —            alarm cleared→idle
Every state goes out of service on `PortAlarm`, releasing its calls (cause UNAVAILABLE).

Timing (`LineSettings`, seconds, all per line; house defaults, sources as noted):
  * dial tone without a digit: 30 s, then howler. Asterisk chan_dahdi waits 16 s for the
    first digit, some line gateways 10–15 s; 30 s (the issue's figure) leaves a rotary or
    elderly user time to find a number. The dial plan's own deadlines
    (`DigitCollector.next_deadline`: first digit, inter-digit, "number complete"; chan_dahdi
    uses 16, 8 and 3 s) apply in every dialling state, whichever comes first: a first-digit
    timeout that the plan judges `Invalid` gives congestion (then howler), a `Complete` one
    dials a hotline. When the collector names no deadline after a digit, the line gives up
    after `interdigit_fallback_s` (15 s).
  * busy, congestion or confirmation tone: 30 s, then howler for 60 s, then park (an Asterisk-
    family line gateway plays reorder 40 s before its off-hook warning; BT lines play howler
    after about a minute of permanent loop).
  * R-code window: 3 s (a European ATA gives 2 s; 3 s suits a rotary user dialling the code).
  * call waiting: the tone's cadence (RU 0.2 s every 5.2 s, US 0.3 s every 10 s) lives in the
    country's tone plan (`firmware.media.dsp.tones`), so `PlayTone(CALL_WAITING)` is sent
    once and the plan repeats it; the line only bounds the wait: 30 s, then the waiting call
    is released with cause NO_ANSWER so the controller can forward it.
  * failed consultation (busy/congestion while a call is held): 10 s, then back to the held
    call. Hold recall ringing: 60 s (Panasonic's default hold-recall time), then the held call
    is released.
Flash, pulse and hang-up timing (80–300 ms flash window, 10 pps) is the port's: see
`hal.linesignal.HookTiming`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Protocol

from firmware.calls.events import CallId, Cause
from firmware.media.dsp.callerid import CallerId
from firmware.media.dsp.dtmf import DigitDetected
from firmware.media.dsp.tones import RingKind, ToneKind
from hal.events import (
    HandsetOffHook,
    HandsetOnHook,
    HookFlash,
    KeypadPressed,
    OffHook,
    OnHook,
    PortAlarm,
    PortAlarmCleared,
    PulseDigit,
)

log = logging.getLogger(__name__)

# --- the dial plan's side: digit collection --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Complete:
    """The digits so far make a number the controller can route: `number` (possibly
    rewritten by the dial plan, e.g. without a trunk access code)."""

    number: str


@dataclass(frozen=True, slots=True)
class Incomplete:
    """More digits may follow; wait for them or for `next_deadline()`."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """No number starts like this (or dialling stopped short): the caller gets congestion."""

    reason: str = ""


Collected = Complete | Incomplete | Invalid


class DigitCollector(Protocol):
    """Overlap dialling for one attempt, provided by the dial plan (`calls/dialplan.py`).

    The line makes a fresh collector for every dial tone through its factory, called with the
    `now` of the dial tone (so the collector may arm a first-digit deadline), feeds it each
    digit ("0"–"9", "*", "#", "A"–"D") and stops feeding it once it returned `Complete` or
    `Invalid`. Pure as the line: time only arrives as `now`, seconds on the board clock.
    """

    def feed(self, digit: str, now: float) -> Collected:
        """Take one more digit dialled at `now`."""
        ...

    def next_deadline(self) -> float | None:
        """When the digits so far should be judged without more: first-digit timeout (before
        any digit), inter-digit timeout, or a shorter one when they already make a number;
        None when the collector has none (the line then applies its own fallbacks)."""
        ...

    def expire(self, now: float) -> Collected:
        """Judge the digits so far, at or after `next_deadline()` (or at the line's fallback
        when it named none): `Complete` (a shorter number is meant, or a hotline number with
        nothing dialled), `Invalid`, or `Incomplete` with a later `next_deadline()` — an
        `Incomplete` without a later deadline is taken as `Invalid`."""
        ...


# --- inputs from the controller --------------------------------------------------------------
# (The port's inputs are the `hal.events` classes; DTMF is `DigitDetected` from the media
# layer. These are instructions to one line, not the bus events of `calls/events.py`.)


@dataclass(frozen=True, slots=True)
class Routed:
    """The dialled number resolved; the controller is setting up `call` (no alerting yet)."""

    call: CallId


@dataclass(frozen=True, slots=True)
class Ringing:
    """The far end of `call` is alerting: the line plays ringback."""

    call: CallId


@dataclass(frozen=True, slots=True)
class Answered:
    """The far end of `call` answered."""

    call: CallId


@dataclass(frozen=True, slots=True)
class Busy:
    """The far end of `call` is busy; the controller has ended the call."""

    call: CallId


@dataclass(frozen=True, slots=True)
class Congestion:
    """`call` failed (no route, no free trunk, unknown number); the controller ended it."""

    call: CallId


@dataclass(frozen=True, slots=True)
class Confirmed:
    """`call` was a feature code that took effect (forwarding set, mode switched); the
    controller ended it and the user hears the confirmation tone."""

    call: CallId


@dataclass(frozen=True, slots=True)
class FarEndHungUp:
    """The other side of `call` left (hung up, gave up ringing or waiting)."""

    call: CallId


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """Offer `call` to an idle line: ring with `ring_kind` and show `caller_id`."""

    call: CallId
    caller_id: CallerId = field(default_factory=CallerId)
    ring_kind: RingKind = RingKind.NORMAL


@dataclass(frozen=True, slots=True)
class CallWaiting:
    """Offer `call` to a line that is in a call: call-waiting tone (refused busy otherwise)."""

    call: CallId
    caller_id: CallerId = field(default_factory=CallerId)
    ring_kind: RingKind = RingKind.NORMAL
    """How it rings if the user hangs up and lets it ring."""


@dataclass(frozen=True, slots=True)
class MessageWaiting:
    """The user's mailbox has (`on`) or no longer has new messages; `count` when known."""

    on: bool
    count: int | None = None


ControllerInput = (Routed | Ringing | Answered | Busy | Congestion | Confirmed | FarEndHungUp
                   | IncomingCall | CallWaiting | MessageWaiting)
PortInput = (OffHook | OnHook | HookFlash | PulseDigit | HandsetOffHook | HandsetOnHook
             | KeypadPressed | PortAlarm | PortAlarmCleared)
LineInput = PortInput | DigitDetected | ControllerInput


# --- outputs -----------------------------------------------------------------------------------


class LineTone(StrEnum):
    """Tones the line asks for: the media layer's `ToneKind` plus the howler."""

    DIAL = "dial"
    STUTTER_DIAL = "stutter_dial"
    RINGBACK = "ringback"
    BUSY = "busy"
    CONGESTION = "congestion"
    CALL_WAITING = "call_waiting"
    CONFIRMATION = "confirmation"
    HOWLER = "howler"
    """Receiver-off-hook tone: loud, meant to be heard from across the room (ITU-T E.180
    Supp. 2 lists national "howler" tones). `firmware.media.dsp.tones` has no plan for it yet."""

    @property
    def tone_kind(self) -> ToneKind | None:
        """The tone plan entry that plays this tone; None for HOWLER (no plan yet)."""
        return None if self is LineTone.HOWLER else ToneKind(self.value)


@dataclass(frozen=True, slots=True)
class PlayTone:
    """Play `tone` to the user, replacing any tone playing (mixed into the conversation for
    CALL_WAITING, alone otherwise). The country's plan gives its cadence and repetition."""

    tone: LineTone


@dataclass(frozen=True, slots=True)
class StopTone:
    """Stop the tone; the user hears the call again (or silence)."""


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring with the cadence of `kind` in the country's plan, sending `caller_id` (FXS: FSK or
    DTMF frames at the port's caller-ID timing; DECT: CLIP/CNAP to the handset)."""

    kind: RingKind
    caller_id: CallerId | None = None


@dataclass(frozen=True, slots=True)
class StopRinging:
    """Stop ringing (harmless if the ring trip already stopped it)."""


@dataclass(frozen=True, slots=True)
class SetLamp:
    """Light or clear the message-waiting indicator (FXS: lamp or FSK VMWI; DECT: MWI)."""

    on: bool
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Display:
    """DECT only: show `text` on the handset (empty clears it)."""

    text: str


@dataclass(frozen=True, slots=True)
class Dial:
    """Route `number` as new call `call` (the line names its calls `device:n`)."""

    call: CallId
    number: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The user took offered `call` (it was ringing or waiting): answer it and connect."""

    call: CallId


@dataclass(frozen=True, slots=True)
class Connect:
    """The line's audio joins `call` alone: after an outgoing call is answered, on retrieving
    a held call, on a swap, and when a conference shrinks to two."""

    call: CallId


@dataclass(frozen=True, slots=True)
class Hold:
    """Put `call` on hold (music on hold to its far end)."""

    call: CallId


@dataclass(frozen=True, slots=True)
class Transfer:
    """Join the far ends of `held` and `active` and take this line out of both (the active one
    may still be ringing or being routed: a blind transfer)."""

    held: CallId
    active: CallId


@dataclass(frozen=True, slots=True)
class Conference:
    """Mix the line with the far ends of `a` and `b` (three-way)."""

    a: CallId
    b: CallId


@dataclass(frozen=True, slots=True)
class Release:
    """This line leaves `call`: hang-up, cancel, refusal of an offer (cause BUSY), or a
    timeout (NO_ANSWER)."""

    call: CallId
    cause: Cause = Cause.NORMAL


PortCommand = PlayTone | StopTone | Ring | StopRinging | SetLamp | Display
CallCommand = Dial | Answer | Connect | Hold | Transfer | Conference | Release
Command = PortCommand | CallCommand


# --- settings ------------------------------------------------------------------------------------


class LineKind(StrEnum):
    """What sits on the line."""

    ANALOG = "analog"
    """An analog phone on an FXS port."""
    DECT = "dect"
    """A DECT handset: the same behaviour plus display text."""


@dataclass(frozen=True, slots=True)
class LineSettings:
    """Per-line behaviour; see the module docstring for where each default comes from."""

    dial_tone_timeout_s: float = field(default=30.0, metadata={"min": 5.0, "max": 120.0})
    """Dial tone with no digit (also the consultation dial tone) lasts this long."""
    interdigit_fallback_s: float = field(default=15.0, metadata={"min": 2.0, "max": 60.0})
    """Dialling stops short after this when the dial plan names no deadline."""
    tone_timeout_s: float = field(default=30.0, metadata={"min": 5.0, "max": 120.0})
    """Busy, congestion and confirmation tones last this long before the howler."""
    howler_s: float = field(default=60.0, metadata={"min": 5.0, "max": 300.0})
    """Howler lasts this long; then the line parks until it goes on-hook."""
    recall_code_timeout_s: float = field(default=3.0, metadata={"min": 1.0, "max": 10.0})
    """After R with two calls, wait this long for a code digit; none means R 2 (swap)."""
    call_waiting_timeout_s: float = field(default=30.0, metadata={"min": 5.0, "max": 120.0})
    """A waiting call not taken within this is released (NO_ANSWER)."""
    consult_failed_timeout_s: float = field(default=10.0, metadata={"min": 2.0, "max": 60.0})
    """Busy/congestion in a consultation lasts this long, then the held call comes back."""
    recall_ring_timeout_s: float = field(default=60.0, metadata={"min": 10.0, "max": 300.0})
    """The phone rings back with a held call this long, then releases it."""
    call_waiting: bool = True
    """Offer a second call with the call-waiting tone; off: refuse it busy."""
    recall_ring: RingKind = RingKind.DISTINCTIVE_1
    """How the phone rings when a held call calls back."""


# --- the state table -----------------------------------------------------------------------------


class State(StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    RECALL_RINGING = "recall_ringing"
    OUT_OF_SERVICE = "out_of_service"
    DIALTONE = "dialtone"
    DIALLING = "dialling"
    CALLING = "calling"
    RINGBACK = "ringback"
    CONNECTED = "connected"
    BUSY = "busy"
    CONGESTION = "congestion"
    CONFIRMED = "confirmed"
    HOWLER = "howler"
    PARKED = "parked"
    CALL_WAITING = "call_waiting"
    WAITING_RECALL = "waiting_recall"
    WAITING_ALONE = "waiting_alone"
    HOLD_DIALTONE = "hold_dialtone"
    HOLD_DIALLING = "hold_dialling"
    HOLD_CALLING = "hold_calling"
    HOLD_RINGBACK = "hold_ringback"
    HOLD_BUSY = "hold_busy"
    HOLD_CONGESTION = "hold_congestion"
    TWO_CALLS = "two_calls"
    TWO_CALLS_RECALL = "two_calls_recall"
    CONFERENCE = "conference"


class Signal(Enum):
    """What an input means to the table, once classified in the current state."""

    OFF_HOOK = "off_hook"
    ON_HOOK = "on_hook"
    FLASH = "flash"
    DIGIT = "digit"                  # a digit the collector took: the number goes on
    COMPLETE = "complete"            # … and the number is complete
    INVALID = "invalid"              # … or cannot be a number
    R0 = "r0"                        # a digit right after R with two calls
    R1 = "r1"
    R2 = "r2"
    R3 = "r3"
    R4 = "r4"
    R_OTHER = "r_other"
    ROUTED = "routed"
    RINGING = "ringing"
    ANSWERED = "answered"
    BUSY = "busy"
    CONGESTION = "congestion"
    CONFIRMED = "confirmed"
    ACTIVE_GONE = "active_gone"      # far end of the call in each slot left
    HELD_GONE = "held_gone"
    WAITING_GONE = "waiting_gone"
    RINGING_GONE = "ringing_gone"
    INCOMING = "incoming"
    WAITING = "waiting"
    TIMEOUT = "timeout"
    ALARM = "alarm"
    ALARM_CLEARED = "alarm_cleared"


class Act(Enum):
    """Actions of a transition, run in order between leaving and entering a state."""

    NEW_COLLECTOR = "new_collector"      # fresh DigitCollector, digits cleared
    DIAL = "dial"                        # Dial(new call, number); it becomes active
    TAKE_INCOMING = "take_incoming"      # the offered call becomes the ringing one
    TAKE_WAITING = "take_waiting"        # the offered call becomes the waiting one
    ANSWER_RINGING = "answer_ringing"    # Answer(ringing); it becomes active
    ANSWER_WAITING = "answer_waiting"    # Answer(waiting); it becomes active
    WAITING_TO_RINGING = "waiting_to_ringing"
    HOLD_ACTIVE = "hold_active"          # Hold(active); it becomes held
    HOLD_IN_PLACE = "hold_in_place"      # Hold(active) during an R-code window; stays active
    CONNECT_ACTIVE = "connect_active"    # Connect(active)
    RETRIEVE_HELD = "retrieve_held"      # Connect(held); it becomes active
    SWAP = "swap"                        # Connect(held); held and active trade places
    SPLIT = "split"                      # Hold(held), Connect(active): conference → two calls
    TRANSFER = "transfer"                # Transfer(held, active); both leave the line
    CONFERENCE = "conference"            # Conference(held, active)
    RELEASE_ACTIVE = "release_active"    # Release(active)
    RELEASE_HELD = "release_held"        # Release(held)
    REJECT_WAITING = "reject_waiting"    # Release(waiting, BUSY)
    EXPIRE_WAITING = "expire_waiting"    # Release(waiting, NO_ANSWER)
    EXPIRE_HELD = "expire_held"          # Release(held, NO_ANSWER)
    RELEASE_ALL = "release_all"          # Release(every call, UNAVAILABLE)
    DROP_ACTIVE = "drop_active"          # forget a call the controller ended
    DROP_HELD = "drop_held"
    DROP_WAITING = "drop_waiting"
    DROP_RINGING = "drop_ringing"


class Slot(StrEnum):
    """The calls a line can hold at once."""

    ACTIVE = "active"      # talking, or dialled and not yet answered
    HELD = "held"
    WAITING = "waiting"    # offered with the call-waiting tone
    RINGING = "ringing"    # offered to the on-hook phone


S, G, A = State, Signal, Act  # short names for the tables below
Step = tuple[State, tuple[Act, ...]]

_AFTER_HANG_UP: dict[Signal, Step] = {G.ON_HOOK: (S.IDLE, ())}
_RESTART: dict[Signal, Step] = {G.FLASH: (S.DIALTONE, (A.NEW_COLLECTOR,))}
_DIAL_ON = {
    G.DIGIT: (S.DIALLING, ()),
    G.COMPLETE: (S.CALLING, (A.DIAL,)),
    G.INVALID: (S.CONGESTION, ()),
}
_CONSULT_DIAL_ON = {
    G.DIGIT: (S.HOLD_DIALLING, ()),
    G.COMPLETE: (S.HOLD_CALLING, (A.DIAL,)),
    G.INVALID: (S.HOLD_CONGESTION, ()),
}
_OUTGOING = {
    G.ON_HOOK: (S.IDLE, (A.RELEASE_ACTIVE,)),
    G.FLASH: (S.DIALTONE, (A.RELEASE_ACTIVE, A.NEW_COLLECTOR)),
    G.ANSWERED: (S.CONNECTED, (A.CONNECT_ACTIVE,)),
    G.BUSY: (S.BUSY, (A.DROP_ACTIVE,)),
    G.CONGESTION: (S.CONGESTION, (A.DROP_ACTIVE,)),
    G.CONFIRMED: (S.CONFIRMED, (A.DROP_ACTIVE,)),
    G.ACTIVE_GONE: (S.BUSY, (A.DROP_ACTIVE,)),
}
_CONSULTING = {  # held + a second call being set up
    G.ON_HOOK: (S.IDLE, (A.TRANSFER,)),
    G.FLASH: (S.CONNECTED, (A.RELEASE_ACTIVE, A.RETRIEVE_HELD)),
    G.ANSWERED: (S.TWO_CALLS, (A.CONNECT_ACTIVE,)),
    G.BUSY: (S.HOLD_BUSY, (A.DROP_ACTIVE,)),
    G.CONGESTION: (S.HOLD_CONGESTION, (A.DROP_ACTIVE,)),
    G.CONFIRMED: (S.CONNECTED, (A.DROP_ACTIVE, A.RETRIEVE_HELD)),
    G.ACTIVE_GONE: (S.HOLD_BUSY, (A.DROP_ACTIVE,)),
}
_CONSULT_FAILED = {
    G.ON_HOOK: (S.RECALL_RINGING, ()),
    G.FLASH: (S.CONNECTED, (A.RETRIEVE_HELD,)),
    G.TIMEOUT: (S.CONNECTED, (A.RETRIEVE_HELD,)),
}
_TWO_PARTIES_GONE = {  # either far end leaves a pair: talk to the other one
    G.ACTIVE_GONE: (S.CONNECTED, (A.DROP_ACTIVE, A.RETRIEVE_HELD)),
    G.HELD_GONE: (S.CONNECTED, (A.DROP_HELD, A.CONNECT_ACTIVE)),
}

_TABLE: dict[State, dict[Signal, Step]] = {
    S.IDLE: {
        G.OFF_HOOK: (S.DIALTONE, (A.NEW_COLLECTOR,)),
        G.INCOMING: (S.RINGING, (A.TAKE_INCOMING,)),
        G.WAITING: (S.RINGING, (A.TAKE_INCOMING,)),  # the controller thought we were busy
    },
    S.RINGING: {
        G.OFF_HOOK: (S.CONNECTED, (A.ANSWER_RINGING,)),
        G.RINGING_GONE: (S.IDLE, (A.DROP_RINGING,)),
    },
    S.RECALL_RINGING: {
        G.OFF_HOOK: (S.CONNECTED, (A.RETRIEVE_HELD,)),
        G.HELD_GONE: (S.IDLE, (A.DROP_HELD,)),
        G.TIMEOUT: (S.IDLE, (A.EXPIRE_HELD,)),
    },
    S.OUT_OF_SERVICE: {
        G.ALARM_CLEARED: (S.IDLE, ()),
    },
    S.DIALTONE: {**_AFTER_HANG_UP, **_RESTART, **_DIAL_ON, G.TIMEOUT: (S.HOWLER, ())},
    S.DIALLING: {**_AFTER_HANG_UP, **_RESTART, **_DIAL_ON},
    S.CALLING: {**_OUTGOING, G.ROUTED: (S.CALLING, ()), G.RINGING: (S.RINGBACK, ())},
    S.RINGBACK: {**_OUTGOING},
    S.CONNECTED: {
        G.ON_HOOK: (S.IDLE, (A.RELEASE_ACTIVE,)),
        G.FLASH: (S.HOLD_DIALTONE, (A.HOLD_ACTIVE, A.NEW_COLLECTOR)),
        G.ACTIVE_GONE: (S.BUSY, (A.DROP_ACTIVE,)),
        G.WAITING: (S.CALL_WAITING, (A.TAKE_WAITING,)),
    },
    S.BUSY: {**_AFTER_HANG_UP, **_RESTART, G.TIMEOUT: (S.HOWLER, ())},
    S.CONGESTION: {**_AFTER_HANG_UP, **_RESTART, G.TIMEOUT: (S.HOWLER, ())},
    S.CONFIRMED: {**_AFTER_HANG_UP, **_RESTART, G.TIMEOUT: (S.HOWLER, ())},
    S.HOWLER: {**_AFTER_HANG_UP, **_RESTART, G.TIMEOUT: (S.PARKED, ())},
    S.PARKED: {**_AFTER_HANG_UP, **_RESTART},
    S.CALL_WAITING: {
        G.ON_HOOK: (S.RINGING, (A.RELEASE_ACTIVE, A.WAITING_TO_RINGING)),
        G.FLASH: (S.WAITING_RECALL, (A.HOLD_ACTIVE,)),
        G.ACTIVE_GONE: (S.WAITING_ALONE, (A.DROP_ACTIVE,)),
        G.WAITING_GONE: (S.CONNECTED, (A.DROP_WAITING,)),
        G.TIMEOUT: (S.CONNECTED, (A.EXPIRE_WAITING,)),
    },
    S.WAITING_RECALL: {
        G.R0: (S.CONNECTED, (A.REJECT_WAITING, A.RETRIEVE_HELD)),
        G.R1: (S.CONNECTED, (A.RELEASE_HELD, A.ANSWER_WAITING)),
        G.R2: (S.TWO_CALLS, (A.ANSWER_WAITING,)),
        G.TIMEOUT: (S.TWO_CALLS, (A.ANSWER_WAITING,)),
        G.R3: (S.CONFERENCE, (A.ANSWER_WAITING, A.CONFERENCE)),
        G.R4: (S.CALL_WAITING, (A.RETRIEVE_HELD,)),
        G.R_OTHER: (S.CALL_WAITING, (A.RETRIEVE_HELD,)),
        G.FLASH: (S.CALL_WAITING, (A.RETRIEVE_HELD,)),
        G.ON_HOOK: (S.RINGING, (A.RELEASE_HELD, A.WAITING_TO_RINGING)),
        G.HELD_GONE: (S.WAITING_ALONE, (A.DROP_HELD,)),
        G.WAITING_GONE: (S.CONNECTED, (A.DROP_WAITING, A.RETRIEVE_HELD)),
    },
    S.WAITING_ALONE: {
        G.ON_HOOK: (S.RINGING, (A.WAITING_TO_RINGING,)),
        G.FLASH: (S.CONNECTED, (A.ANSWER_WAITING,)),
        G.WAITING_GONE: (S.BUSY, (A.DROP_WAITING,)),
        G.TIMEOUT: (S.BUSY, (A.EXPIRE_WAITING,)),
    },
    S.HOLD_DIALTONE: {
        G.ON_HOOK: (S.RECALL_RINGING, ()),
        G.FLASH: (S.CONNECTED, (A.RETRIEVE_HELD,)),
        G.TIMEOUT: (S.CONNECTED, (A.RETRIEVE_HELD,)),
        G.HELD_GONE: (S.DIALTONE, (A.DROP_HELD,)),
        **_CONSULT_DIAL_ON,
    },
    S.HOLD_DIALLING: {
        G.ON_HOOK: (S.RECALL_RINGING, ()),
        G.FLASH: (S.CONNECTED, (A.RETRIEVE_HELD,)),
        G.HELD_GONE: (S.DIALLING, (A.DROP_HELD,)),
        **_CONSULT_DIAL_ON,
    },
    S.HOLD_CALLING: {
        **_CONSULTING,
        G.ROUTED: (S.HOLD_CALLING, ()),
        G.RINGING: (S.HOLD_RINGBACK, ()),
        G.HELD_GONE: (S.CALLING, (A.DROP_HELD,)),
    },
    S.HOLD_RINGBACK: {**_CONSULTING, G.HELD_GONE: (S.RINGBACK, (A.DROP_HELD,))},
    S.HOLD_BUSY: {**_CONSULT_FAILED, G.HELD_GONE: (S.BUSY, (A.DROP_HELD,))},
    S.HOLD_CONGESTION: {**_CONSULT_FAILED, G.HELD_GONE: (S.CONGESTION, (A.DROP_HELD,))},
    S.TWO_CALLS: {
        G.ON_HOOK: (S.IDLE, (A.TRANSFER,)),
        G.FLASH: (S.TWO_CALLS_RECALL, (A.HOLD_IN_PLACE,)),
        **_TWO_PARTIES_GONE,
    },
    S.TWO_CALLS_RECALL: {
        G.R0: (S.CONNECTED, (A.RELEASE_HELD, A.CONNECT_ACTIVE)),
        G.R1: (S.CONNECTED, (A.RELEASE_ACTIVE, A.RETRIEVE_HELD)),
        G.R2: (S.TWO_CALLS, (A.SWAP,)),
        G.TIMEOUT: (S.TWO_CALLS, (A.SWAP,)),
        G.R3: (S.CONFERENCE, (A.CONFERENCE,)),
        G.R4: (S.IDLE, (A.TRANSFER,)),
        G.ON_HOOK: (S.IDLE, (A.TRANSFER,)),
        G.R_OTHER: (S.TWO_CALLS, (A.CONNECT_ACTIVE,)),
        G.FLASH: (S.TWO_CALLS, (A.CONNECT_ACTIVE,)),
        **_TWO_PARTIES_GONE,
    },
    S.CONFERENCE: {
        G.ON_HOOK: (S.IDLE, (A.TRANSFER,)),
        G.FLASH: (S.TWO_CALLS, (A.SPLIT,)),
        **_TWO_PARTIES_GONE,
    },
}

_TRANSITIONS: Mapping[tuple[State, Signal], Step] = MappingProxyType({
    **{(state, signal): step for state, row in _TABLE.items() for signal, step in row.items()},
    **{(state, G.ALARM): (S.OUT_OF_SERVICE, (A.RELEASE_ALL,))
       for state in State if state is not S.OUT_OF_SERVICE},
})
"""(state, signal) → (next state, actions). Absent pairs leave the line as it is."""

_SLOTS: Mapping[State, frozenset[Slot]] = MappingProxyType({
    **{state: frozenset() for state in State},
    S.RINGING: frozenset({Slot.RINGING}),
    S.RECALL_RINGING: frozenset({Slot.HELD}),
    S.CALLING: frozenset({Slot.ACTIVE}),
    S.RINGBACK: frozenset({Slot.ACTIVE}),
    S.CONNECTED: frozenset({Slot.ACTIVE}),
    S.CALL_WAITING: frozenset({Slot.ACTIVE, Slot.WAITING}),
    S.WAITING_RECALL: frozenset({Slot.HELD, Slot.WAITING}),
    S.WAITING_ALONE: frozenset({Slot.WAITING}),
    S.HOLD_DIALTONE: frozenset({Slot.HELD}),
    S.HOLD_DIALLING: frozenset({Slot.HELD}),
    S.HOLD_CALLING: frozenset({Slot.HELD, Slot.ACTIVE}),
    S.HOLD_RINGBACK: frozenset({Slot.HELD, Slot.ACTIVE}),
    S.HOLD_BUSY: frozenset({Slot.HELD}),
    S.HOLD_CONGESTION: frozenset({Slot.HELD}),
    S.TWO_CALLS: frozenset({Slot.HELD, Slot.ACTIVE}),
    S.TWO_CALLS_RECALL: frozenset({Slot.HELD, Slot.ACTIVE}),
    S.CONFERENCE: frozenset({Slot.HELD, Slot.ACTIVE}),
})
"""Which calls each state holds; every other slot is empty."""

_TONES: Mapping[State, LineTone] = MappingProxyType({
    S.DIALTONE: LineTone.DIAL,            # STUTTER_DIAL while a message waits
    S.HOLD_DIALTONE: LineTone.DIAL,
    S.WAITING_RECALL: LineTone.DIAL,      # R: "send your code"
    S.TWO_CALLS_RECALL: LineTone.DIAL,
    S.RINGBACK: LineTone.RINGBACK,
    S.HOLD_RINGBACK: LineTone.RINGBACK,
    S.BUSY: LineTone.BUSY,
    S.HOLD_BUSY: LineTone.BUSY,
    S.CONGESTION: LineTone.CONGESTION,
    S.HOLD_CONGESTION: LineTone.CONGESTION,
    S.CONFIRMED: LineTone.CONFIRMATION,
    S.HOWLER: LineTone.HOWLER,
    S.CALL_WAITING: LineTone.CALL_WAITING,
    S.WAITING_ALONE: LineTone.CALL_WAITING,
})
"""The tone each state plays; states not listed are silent (or carry the conversation)."""

_RINGING_STATES = frozenset({S.RINGING, S.RECALL_RINGING})
ON_HOOK_STATES = frozenset({S.IDLE, S.RINGING, S.RECALL_RINGING, S.OUT_OF_SERVICE})
"""States in which the phone is on-hook (or the port is out of service)."""
_DIALLING_STATES = frozenset({S.DIALTONE, S.DIALLING, S.HOLD_DIALTONE, S.HOLD_DIALLING})
_CODE_STATES = frozenset({S.WAITING_RECALL, S.TWO_CALLS_RECALL})
_R_CODES: Mapping[str, Signal] = MappingProxyType(
    {"0": G.R0, "1": G.R1, "2": G.R2, "3": G.R3, "4": G.R4})

_TIMEOUTS: Mapping[State, Callable[[LineSettings], float]] = MappingProxyType({
    S.DIALTONE: lambda s: s.dial_tone_timeout_s,
    S.HOLD_DIALTONE: lambda s: s.dial_tone_timeout_s,
    S.BUSY: lambda s: s.tone_timeout_s,
    S.CONGESTION: lambda s: s.tone_timeout_s,
    S.CONFIRMED: lambda s: s.tone_timeout_s,
    S.HOWLER: lambda s: s.howler_s,
    S.HOLD_BUSY: lambda s: s.consult_failed_timeout_s,
    S.HOLD_CONGESTION: lambda s: s.consult_failed_timeout_s,
    S.RECALL_RINGING: lambda s: s.recall_ring_timeout_s,
    S.WAITING_RECALL: lambda s: s.recall_code_timeout_s,
    S.TWO_CALLS_RECALL: lambda s: s.recall_code_timeout_s,
})
"""States that time out `TIMEOUT` after a settings value, counted from entering them.
CALL_WAITING and WAITING_ALONE count from the offer; the dialling states also follow the
collector's deadline (and the fallback once a digit was dialled)."""
_WAITING_TIMED = frozenset({S.CALL_WAITING, S.WAITING_ALONE})


@dataclass(frozen=True, slots=True)
class _Party:
    """What the line knows of the far end of one of its calls."""

    caller_id: CallerId
    ring_kind: RingKind = RingKind.NORMAL


class AnalogLine:
    """One phone line's behaviour (see the module docstring). Pure: `now` is the board clock in
    seconds, passed with every input; outputs are drained with `commands()`.

    `collector_factory(now)` makes the dial plan's `DigitCollector` for each dial tone. `device`
    names the line in logs and in the ids of the calls it dials (`"fxs1:1"`, `"fxs1:2"`, …),
    which the controller adopts. The caller's duties: feed every input of this line in order;
    call `handle_timers(now)` when `next_deadline()` is reached (early calls are harmless);
    execute the commands in order. Inputs that make no sense in the current state are ignored
    (logged at DEBUG), offers of a new call the line cannot take are refused with
    `Release(call, BUSY)`; nothing raises.
    """

    def __init__(self, device: str, collector_factory: Callable[[float], DigitCollector], *,
                 kind: LineKind = LineKind.ANALOG, settings: LineSettings | None = None,
                 now: float = 0.0) -> None:
        self.device = device
        self.kind = kind
        self.settings = settings if settings is not None else LineSettings()
        self._new_collector = collector_factory
        self._collector: DigitCollector | None = None
        self._state = State.IDLE
        self._entered_at = now
        self._slots: dict[Slot, CallId] = {}
        self._parties: dict[CallId, _Party] = {}
        self._waiting_since = now
        self._digits = ""
        self._number = ""
        self._digit_at = now
        self._mwi = False
        self._mwi_count: int | None = None
        self._tone: LineTone | None = None
        self._ring: CallId | None = None
        self._display: str | None = None
        self._serial = 0
        self._out: list[Command] = []
        if kind is LineKind.DECT:
            self._display = self.display_text()

    # --- observation ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def calls(self) -> Mapping[Slot, CallId]:
        """The calls the line holds now, by slot."""
        return MappingProxyType(dict(self._slots))

    @property
    def tone(self) -> LineTone | None:
        """The tone the line last asked for and has not stopped."""
        return self._tone

    @property
    def message_waiting(self) -> bool:
        return self._mwi

    @property
    def digits(self) -> str:
        """Digits dialled since the last dial tone."""
        return self._digits

    def commands(self) -> list[Command]:
        """The commands produced since the last call, oldest first."""
        out, self._out = self._out, []
        return out

    # --- input ---------------------------------------------------------------------------------

    def handle(self, event: LineInput, now: float) -> None:
        """Take one input that happened (or was reported) at `now`."""
        match event:
            case OffHook() | HandsetOffHook():
                self._fire(G.OFF_HOOK, event, now)
            case OnHook() | HandsetOnHook():
                self._fire(G.ON_HOOK, event, now)
            case HookFlash():
                self._fire(G.FLASH, event, now)
            case PulseDigit(digit=digit) | DigitDetected(digit=digit):
                self._digit(digit, event, now)
            case KeypadPressed(keys=keys):
                for key in keys:
                    if key in "Rr":
                        self._fire(G.FLASH, event, now)
                    else:
                        self._digit(key.upper(), event, now)
            case PortAlarm():
                self._fire(G.ALARM, event, now)
            case PortAlarmCleared():
                self._fire(G.ALARM_CLEARED, event, now)
            case MessageWaiting(on=on, count=count):
                self._mwi, self._mwi_count = on, count
                self._out.append(SetLamp(on, count))
            case IncomingCall(call=call) | CallWaiting(call=call):
                self._offer(event, call, now)
            case FarEndHungUp(call=call):
                slot = self._slot_of(call)
                if slot is None:
                    log.debug("%s: far end of unknown call %r left", self.device, call)
                else:
                    self._fire(_GONE[slot], event, now)
            case (Routed(call=call) | Ringing(call=call) | Answered(call=call) | Busy(call=call)
                  | Congestion(call=call) | Confirmed(call=call)):
                if call != self._slots.get(Slot.ACTIVE):
                    log.debug("%s: %s for call %r, not the one dialled", self.device,
                              type(event).__name__, call)
                else:
                    self._fire(_PROGRESS[type(event)], event, now)
        self._refresh_display()

    def next_deadline(self) -> float | None:
        """When `handle_timers` has something to do, or None."""
        own = self._own_deadline()
        named = self._named_deadline()
        if own is None or named is None:
            return own if named is None else named
        return min(own, named)

    def handle_timers(self, now: float) -> None:
        """Act on a deadline that `now` has reached; nothing before it."""
        named = self._named_deadline()
        if self._collector is not None and named is not None and now >= named:
            result = self._collector.expire(now)
            if isinstance(result, Incomplete):
                later = self._collector.next_deadline()
                if later is None or later <= now:  # neither an answer nor a new deadline
                    result = Invalid("collector gave no answer at its deadline")
            if not isinstance(result, Incomplete):
                self._collected(result, None, now)
                self._refresh_display()
                return
        own = self._own_deadline()
        if own is None or now < own:
            return
        if self._state in (S.DIALLING, S.HOLD_DIALLING):  # the fallback: the plan named none
            result = (self._collector.expire(now) if self._collector is not None
                      else Invalid("no collector"))
            if isinstance(result, Incomplete):
                result = Invalid("dialling stopped")
            self._collected(result, None, now)
        else:
            self._fire(G.TIMEOUT, None, now)
        self._refresh_display()

    def _named_deadline(self) -> float | None:
        """The dial plan's deadline, in the states that dial."""
        if self._collector is None or self._state not in _DIALLING_STATES:
            return None
        return self._collector.next_deadline()

    def _own_deadline(self) -> float | None:
        """The line's own timer in the current state."""
        state = self._state
        if state in (S.DIALLING, S.HOLD_DIALLING):
            if self._named_deadline() is not None:
                return None
            return self._digit_at + self.settings.interdigit_fallback_s
        if state in _WAITING_TIMED:
            return self._waiting_since + self.settings.call_waiting_timeout_s
        timeout = _TIMEOUTS.get(state)
        return None if timeout is None else self._entered_at + timeout(self.settings)

    # --- classification ------------------------------------------------------------------------

    def _digit(self, digit: str, event: LineInput, now: float) -> None:
        if self._state in _DIALLING_STATES:
            if self._collector is None:  # unreachable: entering dial tone makes one
                self._collector = self._new_collector(now)
            self._digits += digit
            self._digit_at = now
            self._collected(self._collector.feed(digit, now), event, now)
        elif self._state in _CODE_STATES:
            self._fire(_R_CODES.get(digit, G.R_OTHER), event, now)
        # Other states: DTMF travels in the media path; pulses mean nothing in a call.

    def _collected(self, result: Collected, event: LineInput | None, now: float) -> None:
        if isinstance(result, Complete):
            self._number = result.number
            self._fire(G.COMPLETE, event, now)
        elif isinstance(result, Invalid):
            log.debug("%s: dialled %r is no number: %s", self.device, self._digits,
                      result.reason)
            self._fire(G.INVALID, event, now)
        else:
            self._fire(G.DIGIT, event, now)

    def _offer(self, event: IncomingCall | CallWaiting, call: CallId, now: float) -> None:
        if self._slot_of(call) is not None:
            return  # repeated offer
        signal = G.INCOMING if isinstance(event, IncomingCall) else G.WAITING
        if signal is G.WAITING and not self.settings.call_waiting and self._state is not S.IDLE:
            step = None
        else:
            step = _TRANSITIONS.get((self._state, signal))
        if step is None:
            cause = Cause.UNAVAILABLE if self._state is S.OUT_OF_SERVICE else Cause.BUSY
            self._out.append(Release(call, cause))
            return
        self._fire(signal, event, now)

    # --- transitions ---------------------------------------------------------------------------

    def _fire(self, signal: Signal, event: LineInput | None, now: float) -> None:
        step = _TRANSITIONS.get((self._state, signal))
        if step is None:
            log.debug("%s: %s ignored in %s", self.device, signal.name, self._state.value)
            return
        new, acts = step
        log.debug("%s: %s --%s--> %s", self.device, self._state.value, signal.name, new.value)
        want_tone = self._tone_for(new)
        if self._tone is not None and want_tone is None:
            self._out.append(StopTone())
            self._tone = None
        if self._ring is not None and new not in _RINGING_STATES:
            self._out.append(StopRinging())
            self._ring = None
        for act in acts:
            self._act(act, event, now)
        self._state = new
        self._entered_at = now
        if new not in _DIALLING_STATES:
            self._collector = None
        if want_tone is not None and want_tone is not self._tone:
            self._out.append(PlayTone(want_tone))
            self._tone = want_tone
        if new in _RINGING_STATES:
            self._start_ringing(new)
        for call in [c for c in self._parties if c not in self._slots.values()]:
            del self._parties[call]

    def _tone_for(self, state: State) -> LineTone | None:
        if state is S.DIALTONE and self._mwi:
            return LineTone.STUTTER_DIAL
        return _TONES.get(state)

    def _start_ringing(self, state: State) -> None:
        slot = Slot.RINGING if state is S.RINGING else Slot.HELD
        call = self._slots[slot]
        if self._ring == call:
            return
        party = self._parties.get(call)
        kind = (self.settings.recall_ring if state is S.RECALL_RINGING
                else party.ring_kind if party else RingKind.NORMAL)
        self._out.append(Ring(kind, party.caller_id if party else None))
        self._ring = call

    def _act(self, act: Act, event: LineInput | None, now: float) -> None:
        out = self._out
        slots = self._slots
        match act:
            case A.NEW_COLLECTOR:
                self._collector = self._new_collector(now)
                self._digits = ""
                self._digit_at = now
            case A.DIAL:
                self._serial += 1
                call = CallId(f"{self.device}:{self._serial}")
                slots[Slot.ACTIVE] = call
                self._parties[call] = _Party(CallerId(number=self._number))
                out.append(Dial(call, self._number))
            case A.TAKE_INCOMING | A.TAKE_WAITING:
                if isinstance(event, IncomingCall | CallWaiting):
                    slot = Slot.RINGING if act is A.TAKE_INCOMING else Slot.WAITING
                    slots[slot] = event.call
                    self._parties[event.call] = _Party(event.caller_id, event.ring_kind)
                    self._waiting_since = now
            case A.ANSWER_RINGING:
                slots[Slot.ACTIVE] = call = slots.pop(Slot.RINGING)
                out.append(Answer(call))
            case A.ANSWER_WAITING:
                slots[Slot.ACTIVE] = call = slots.pop(Slot.WAITING)
                out.append(Answer(call))
            case A.WAITING_TO_RINGING:
                slots[Slot.RINGING] = slots.pop(Slot.WAITING)
            case A.HOLD_ACTIVE:
                slots[Slot.HELD] = call = slots.pop(Slot.ACTIVE)
                out.append(Hold(call))
            case A.HOLD_IN_PLACE:
                out.append(Hold(slots[Slot.ACTIVE]))
            case A.CONNECT_ACTIVE:
                out.append(Connect(slots[Slot.ACTIVE]))
            case A.RETRIEVE_HELD:
                slots[Slot.ACTIVE] = call = slots.pop(Slot.HELD)
                out.append(Connect(call))
            case A.SWAP:
                held, active = slots[Slot.HELD], slots[Slot.ACTIVE]
                out.append(Connect(held))
                slots[Slot.ACTIVE], slots[Slot.HELD] = held, active
            case A.SPLIT:
                out.append(Hold(slots[Slot.HELD]))
                out.append(Connect(slots[Slot.ACTIVE]))
            case A.TRANSFER:
                out.append(Transfer(slots.pop(Slot.HELD), slots.pop(Slot.ACTIVE)))
            case A.CONFERENCE:
                out.append(Conference(slots[Slot.HELD], slots[Slot.ACTIVE]))
            case A.RELEASE_ACTIVE:
                out.append(Release(slots.pop(Slot.ACTIVE)))
            case A.RELEASE_HELD:
                out.append(Release(slots.pop(Slot.HELD)))
            case A.REJECT_WAITING:
                out.append(Release(slots.pop(Slot.WAITING), Cause.BUSY))
            case A.EXPIRE_WAITING:
                out.append(Release(slots.pop(Slot.WAITING), Cause.NO_ANSWER))
            case A.EXPIRE_HELD:
                out.append(Release(slots.pop(Slot.HELD), Cause.NO_ANSWER))
            case A.RELEASE_ALL:
                for slot in Slot:
                    if slot in slots:
                        out.append(Release(slots.pop(slot), Cause.UNAVAILABLE))
            case A.DROP_ACTIVE:
                slots.pop(Slot.ACTIVE, None)
            case A.DROP_HELD:
                slots.pop(Slot.HELD, None)
            case A.DROP_WAITING:
                slots.pop(Slot.WAITING, None)
            case A.DROP_RINGING:
                slots.pop(Slot.RINGING, None)

    def _slot_of(self, call: CallId) -> Slot | None:
        for slot, held in self._slots.items():
            if held == call:
                return slot
        return None

    # --- DECT display --------------------------------------------------------------------------

    def _label(self, slot: Slot) -> str:
        call = self._slots.get(slot)
        party = self._parties.get(call) if call is not None else None
        if party is None:
            return ""
        cid = party.caller_id
        if cid.name and cid.number:
            return f"{cid.name} {cid.number}"
        return cid.name or cid.number or "Unknown"

    def display_text(self) -> str:
        """What a DECT handset on this line shows now (English; the DECT leg may translate)."""
        label = self._label
        match self._state:
            case S.IDLE:
                return "New messages" if self._mwi else ""
            case S.OUT_OF_SERVICE:
                return "Out of service"
            case S.RINGING:
                party = self._parties.get(self._slots[Slot.RINGING])
                prefix = "Door: " if party and party.ring_kind is RingKind.DOOR else ""
                return prefix + label(Slot.RINGING)
            case S.RECALL_RINGING:
                return f"Recall {label(Slot.HELD)}"
            case S.DIALTONE:
                return "Dial (new messages)" if self._mwi else "Dial"
            case S.DIALLING:
                return self._digits
            case S.CALLING:
                return f"Calling {label(Slot.ACTIVE)}"
            case S.RINGBACK:
                return f"Ringing {label(Slot.ACTIVE)}"
            case S.CONNECTED:
                return label(Slot.ACTIVE)
            case S.BUSY:
                return "Busy"
            case S.CONGESTION:
                return "Not available"
            case S.CONFIRMED:
                return "Done"
            case S.HOWLER | S.PARKED:
                return "Please hang up"
            case S.CALL_WAITING:
                return f"{label(Slot.ACTIVE)} | waiting {label(Slot.WAITING)}"
            case S.WAITING_RECALL:
                return f"Waiting {label(Slot.WAITING)} | R0 R1 R2 R3"
            case S.WAITING_ALONE:
                return f"Waiting {label(Slot.WAITING)}"
            case S.HOLD_DIALTONE:
                return f"Hold {label(Slot.HELD)} | dial"
            case S.HOLD_DIALLING:
                return f"Hold {label(Slot.HELD)} | {self._digits}"
            case S.HOLD_CALLING | S.HOLD_RINGBACK:
                return f"Hold {label(Slot.HELD)} | calling {label(Slot.ACTIVE)}"
            case S.HOLD_BUSY:
                return f"Hold {label(Slot.HELD)} | busy"
            case S.HOLD_CONGESTION:
                return f"Hold {label(Slot.HELD)} | not available"
            case S.TWO_CALLS:
                return f"{label(Slot.ACTIVE)} | hold {label(Slot.HELD)}"
            case S.TWO_CALLS_RECALL:
                return f"{label(Slot.ACTIVE)} | hold {label(Slot.HELD)} | R0-R4"
            case S.CONFERENCE:
                return f"Conference {label(Slot.HELD)} + {label(Slot.ACTIVE)}"

    def _refresh_display(self) -> None:
        if self.kind is not LineKind.DECT:
            return
        text = self.display_text()
        if text != self._display:
            self._display = text
            self._out.append(Display(text))


_GONE: Mapping[Slot, Signal] = MappingProxyType({
    Slot.ACTIVE: G.ACTIVE_GONE, Slot.HELD: G.HELD_GONE,
    Slot.WAITING: G.WAITING_GONE, Slot.RINGING: G.RINGING_GONE,
})
_PROGRESS: Mapping[type[object], Signal] = MappingProxyType({
    Routed: G.ROUTED, Ringing: G.RINGING, Answered: G.ANSWERED, Busy: G.BUSY,
    Congestion: G.CONGESTION, Confirmed: G.CONFIRMED,
})
