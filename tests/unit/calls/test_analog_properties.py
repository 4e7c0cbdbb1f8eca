"""Property test: any sequence of inputs, in any state, at any time.

Invariants, checked after every input and every timer:
  * nothing raises;
  * the port never plays a tone while it rings; it rings only in a ringing state (phone
    on-hook) and plays a tone only when the state has one and the phone is off-hook — judged
    from the commands emitted, not from the line's own bookkeeping;
  * the line holds exactly the calls its state says (`_SLOTS`);
  * no call is left behind: once the line is idle, every call it dialled, answered, held or
    connected has been released, transferred, or ended by the far side;
  * timers make progress: right after `handle_timers(deadline)` the next deadline is later.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.calls import analog
from firmware.calls.analog import (
    AnalogLine,
    Answer,
    Answered,
    Busy,
    CallWaiting,
    Command,
    Conference,
    Confirmed,
    Congestion,
    Connect,
    Dial,
    FarEndHungUp,
    Hold,
    IncomingCall,
    LineInput,
    LineKind,
    MessageWaiting,
    PlayTone,
    Release,
    Ring,
    Ringing,
    Routed,
    State,
    StopRinging,
    StopTone,
    Transfer,
)
from firmware.calls.events import CallId
from firmware.media.dsp.callerid import CallerId
from firmware.media.dsp.dtmf import DigitDetected
from firmware.media.dsp.tones import RingKind
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

from .test_analog_support import DEVICE, FixedLengthCollector

PROGRESS: tuple[Callable[[CallId], LineInput], ...] = (
    Routed, Ringing, Answered, Busy, Congestion, Confirmed, FarEndHungUp)
ENDING_INPUTS = (Busy, Congestion, Confirmed, FarEndHungUp)
KINDS = (
    "lift", "hang", "flash", "pulse", "dtmf", "keypad", "talk", "end", "mwi", "alarm",
    "cleared", "progress", "progress", "progress", "incoming", "waiting", "tick",
)


class Watcher:
    """Follows the commands as the port and controller would see them, and checks."""

    def __init__(self, line: AnalogLine) -> None:
        self.line = line
        self.tone = False
        self.ringing = False
        self.opened: set[CallId] = set()
        self.closed: set[CallId] = set()

    def saw_input(self, event: LineInput) -> None:
        if isinstance(event, ENDING_INPUTS):
            self.closed.add(event.call)

    def check(self) -> None:
        for command in self.line.commands():
            self.apply(command)
            assert not (self.tone and self.ringing), "tone while ringing"
        state = self.line.state
        if self.ringing:
            assert state in (State.RINGING, State.RECALL_RINGING), state
        if self.tone:
            assert state not in analog.ON_HOOK_STATES, state
        has_tone = state in analog._TONES or state is State.DIALTONE
        assert self.tone == has_tone, (state, self.tone)
        assert self.ringing == (state in (State.RINGING, State.RECALL_RINGING)), state
        assert set(self.line.calls) == set(analog._SLOTS[state]), (state, self.line.calls)
        if state is State.IDLE:
            assert self.opened <= self.closed, self.opened - self.closed

    def apply(self, command: Command) -> None:
        match command:
            case PlayTone():
                self.tone = True
            case StopTone():
                self.tone = False
            case Ring():
                self.ringing = True
            case StopRinging():
                self.ringing = False
            case Release(call=call):
                self.closed.add(call)
            case Transfer(held=held, active=active):
                self.closed |= {held, active}
            case Dial(call=call) | Answer(call=call) | Hold(call=call) | Connect(call=call):
                self.opened.add(call)
            case Conference(a=a, b=b):
                self.opened |= {a, b}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(),
       kind=st.sampled_from(LineKind),
       length=st.integers(1, 4),
       interdigit_s=st.sampled_from([None, 2.0, 5.0]),
       shortest=st.sampled_from([None, 0, 1, 2]),
       first_s=st.sampled_from([None, 10.0]))
def test_any_input_sequence_keeps_the_line_sane(
        data: st.DataObject, kind: LineKind, length: int, interdigit_s: float | None,
        shortest: int | None, first_s: float | None) -> None:
    line = AnalogLine(
        DEVICE, lambda now: FixedLengthCollector(length, interdigit_s, shortest, now, first_s),
        kind=kind)
    watcher = Watcher(line)
    now = 0.0
    serial = 0
    for _ in range(data.draw(st.integers(1, 60), label="steps")):
        now += data.draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.9, 3.0, 9.0, 29.0, 61.0]))
        if data.draw(st.booleans(), label="run due timers first"):
            while (deadline := line.next_deadline()) is not None and deadline <= now:
                line.handle_timers(deadline)
                watcher.check()
                later = line.next_deadline()
                assert later is None or later > deadline
        what = data.draw(st.sampled_from(KINDS))
        event: LineInput
        match what:
            case "tick":
                deadline = line.next_deadline()
                if deadline is None:
                    continue
                now = max(now, deadline)
                line.handle_timers(now)
                watcher.check()
                later = line.next_deadline()
                assert later is None or later > deadline
                continue
            case "lift":
                event = OffHook(DEVICE, now)
            case "hang":
                event = OnHook(DEVICE, now)
            case "flash":
                event = HookFlash(DEVICE, now, 100)
            case "pulse":
                digit = data.draw(st.sampled_from("0123456789"))
                event = PulseDigit(DEVICE, now, digit, 10 if digit == "0" else int(digit))
            case "dtmf":
                event = DigitDetected(data.draw(st.sampled_from("0123456789*#AD")), 0, 0, 80)
            case "keypad":
                event = KeypadPressed(DEVICE, now, 1,
                                      data.draw(st.text("0123456789R*#", min_size=1,
                                                        max_size=4)))
            case "talk":
                event = HandsetOffHook(DEVICE, now, 1)
            case "end":
                event = HandsetOnHook(DEVICE, now, 1)
            case "mwi":
                event = MessageWaiting(data.draw(st.booleans()))
            case "alarm":
                event = PortAlarm(DEVICE, now, "test")
            case "cleared":
                event = PortAlarmCleared(DEVICE, now)
            case "progress":
                known = sorted(line.calls.values())
                call = data.draw(st.sampled_from([*known, CallId("stranger")]))
                event = data.draw(st.sampled_from(PROGRESS))(call)
            case "incoming" | "waiting":
                serial += 1
                offer = IncomingCall if what == "incoming" else CallWaiting
                event = offer(CallId(f"in:{serial}"), CallerId("205", None),
                              data.draw(st.sampled_from(RingKind)))
            case _:
                raise AssertionError(what)
        watcher.saw_input(event)
        line.handle(event, now)
        watcher.check()
