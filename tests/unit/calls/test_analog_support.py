"""Rehearsal kit for the analog line tests: a fixed-length dial plan and a phone on the pure line.

`FixedLengthCollector` stands in for `calls/dialplan.py`: numbers are `length` digits, numbers
starting with "0" do not exist, each digit must follow the last within `interdigit_s` (and the
first the dial tone within `first_digit_s`, when set), and with `shortest` set a shorter number
(≥ `shortest` digits, possibly none: a hotline) is complete when the time runs out.
`Phone` drives an `AnalogLine` as an installer would drive a phone on the simulated board, with
explicit times, and returns the commands each step produced.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.calls.analog import (
    AnalogLine,
    CallWaiting,
    Collected,
    Command,
    Complete,
    FarEndHungUp,
    IncomingCall,
    Incomplete,
    Invalid,
    LineInput,
    LineKind,
    LineSettings,
)
from firmware.calls.events import CallId
from firmware.media.dsp.callerid import CallerId
from firmware.media.dsp.dtmf import DigitDetected
from firmware.media.dsp.tones import RingKind
from hal.events import HookFlash, OffHook, OnHook, PulseDigit

DEVICE = "fxs1"


class FixedLengthCollector:
    """The trivial dial plan of these tests (see the module docstring)."""

    def __init__(self, length: int = 3, interdigit_s: float | None = 5.0,
                 shortest: int | None = None, now: float = 0.0,
                 first_digit_s: float | None = None) -> None:
        self.length = length
        self.interdigit_s = interdigit_s
        self.shortest = shortest
        self.digits = ""
        self.last_at: float | None = None
        self.started_at = now
        self.first_digit_s = first_digit_s
        self.fed: list[tuple[str, float]] = []

    def feed(self, digit: str, now: float) -> Collected:
        self.fed.append((digit, now))
        self.digits += digit
        self.last_at = now
        if self.digits.startswith("0") or not digit.isdigit():
            return Invalid("no such number")
        if len(self.digits) >= self.length:
            return Complete(self.digits)
        return Incomplete()

    def next_deadline(self) -> float | None:
        if self.last_at is None:
            if self.first_digit_s is None:
                return None
            return self.started_at + self.first_digit_s
        if self.interdigit_s is None:
            return None
        return self.last_at + self.interdigit_s

    def expire(self, now: float) -> Collected:
        if self.shortest is not None and len(self.digits) >= self.shortest:
            return Complete(self.digits)
        return Invalid("dialling stopped short")


@dataclass
class Phone:
    """A phone on an `AnalogLine`; every method returns the commands its step produced."""

    line: AnalogLine
    collectors: list[FixedLengthCollector]

    @classmethod
    def on_line(cls, kind: LineKind = LineKind.ANALOG, settings: LineSettings | None = None,
                length: int = 3, interdigit_s: float | None = 5.0,
                shortest: int | None = None, first_digit_s: float | None = None) -> Phone:
        collectors: list[FixedLengthCollector] = []

        def factory(now: float) -> FixedLengthCollector:
            collectors.append(
                FixedLengthCollector(length, interdigit_s, shortest, now, first_digit_s))
            return collectors[-1]

        return cls(AnalogLine(DEVICE, factory, kind=kind, settings=settings), collectors)

    def feed(self, event: LineInput, at: float) -> list[Command]:
        self.line.handle(event, at)
        return self.line.commands()

    def lift(self, at: float) -> list[Command]:
        return self.feed(OffHook(DEVICE, at), at)

    def hang_up(self, at: float) -> list[Command]:
        return self.feed(OnHook(DEVICE, at), at)

    def flash(self, at: float) -> list[Command]:
        return self.feed(HookFlash(DEVICE, at, 100), at)

    def dial(self, digits: str, at: float, pulse: bool = False,
             step_s: float = 1.0) -> list[Command]:
        """Dial `digits` from `at`, one every `step_s`, by DTMF or by rotary dial."""
        out: list[Command] = []
        for i, digit in enumerate(digits):
            now = at + i * step_s
            if pulse:
                pulses = 10 if digit == "0" else int(digit)
                out += self.feed(PulseDigit(DEVICE, now, digit, pulses), now)
            else:
                out += self.feed(DigitDetected(digit, 0, int(now * 8000), 80), now)
        return out

    def advance(self, to: float) -> list[Command]:
        """Run every timer due up to `to`, in order, as the line adapter would."""
        out: list[Command] = []
        for _ in range(100):
            deadline = self.line.next_deadline()
            if deadline is None or deadline > to:
                break
            self.line.handle_timers(deadline)
            out += self.line.commands()
        return out

    def ring_in(self, call: str, at: float, number: str | None = "84951234567",
                name: str | None = "Ivanov", kind: RingKind = RingKind.NORMAL) -> list[Command]:
        return self.feed(IncomingCall(CallId(call), CallerId(number, name), kind), at)

    def wait_in(self, call: str, at: float, number: str | None = "205",
                name: str | None = "Petrova") -> list[Command]:
        return self.feed(CallWaiting(CallId(call), CallerId(number, name)), at)

    def far_end_leaves(self, call: CallId | str, at: float) -> list[Command]:
        return self.feed(FarEndHungUp(CallId(call)), at)


def test_fixed_length_collector_is_the_dial_plan_the_tests_assume() -> None:
    c = FixedLengthCollector(length=3, interdigit_s=5.0, shortest=2)
    assert c.next_deadline() is None
    assert c.feed("2", 1.0) == Incomplete()
    assert c.next_deadline() == 6.0
    assert c.feed("0", 2.0) == Incomplete()
    assert c.expire(7.0) == Complete("20")
    assert c.feed("1", 3.0) == Complete("201")
    assert FixedLengthCollector().feed("0", 0.0) == Invalid("no such number")
    assert FixedLengthCollector().expire(9.0) == Invalid("dialling stopped short")
