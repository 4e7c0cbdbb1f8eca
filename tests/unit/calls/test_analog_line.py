"""An installer's rehearsal of one analog line: dial tone, dialling, progress tones, ringing,
message waiting, howler and park — on the pure machine, with chosen times."""

from __future__ import annotations

import pytest

from firmware.calls.analog import (
    AnalogLine,
    Answer,
    Answered,
    Busy,
    CallWaiting,
    Collected,
    Complete,
    Confirmed,
    Congestion,
    Connect,
    Dial,
    Incomplete,
    Invalid,
    LineSettings,
    LineTone,
    MessageWaiting,
    PlayTone,
    Release,
    Ring,
    Ringing,
    Routed,
    SetLamp,
    State,
    StopRinging,
    StopTone,
)
from firmware.calls.events import CallId, Cause
from firmware.media.dsp.callerid import CallerId
from firmware.media.dsp.tones import RingKind
from hal.events import OffHook, PortAlarm, PortAlarmCleared

from .test_analog_support import DEVICE, Phone

C1 = CallId("fxs1:1")


def dialled_and_answered(phone: Phone, at: float = 0.0) -> CallId:
    """Lift at `at`, dial 201, far end rings and answers: returns the call."""
    phone.lift(at)
    (dial,) = [c for c in phone.dial("201", at + 1) if isinstance(c, Dial)]
    phone.feed(Ringing(dial.call), at + 4)
    phone.feed(Answered(dial.call), at + 8)
    return dial.call


# --- dial tone and dialling ----------------------------------------------------------------------


def test_lifting_the_handset_gives_dial_tone() -> None:
    phone = Phone.on_line()
    assert phone.lift(0.0) == [PlayTone(LineTone.DIAL)]
    assert phone.line.state is State.DIALTONE


def test_first_digit_stops_dial_tone_and_later_digits_are_silent() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    assert phone.dial("2", 1.0) == [StopTone()]
    assert phone.dial("0", 2.0) == []
    assert phone.line.state is State.DIALLING
    assert phone.line.digits == "20"


def test_complete_dtmf_number_is_handed_to_the_controller() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    assert phone.dial("201", 1.0)[-1] == Dial(C1, "201")
    assert phone.line.state is State.CALLING
    assert phone.collectors[0].fed == [("2", 1.0), ("0", 2.0), ("1", 3.0)]


def test_rotary_phone_dials_with_pulses() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    assert phone.dial("250", 1.0, pulse=True) == [StopTone(), Dial(C1, "250")]


def test_each_lift_starts_a_fresh_number() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("20", 1.0)
    phone.hang_up(3.0)
    phone.lift(4.0)
    assert phone.dial("305", 5.0)[-1] == Dial(C1, "305")
    assert len(phone.collectors) == 2


def test_number_that_does_not_exist_gets_congestion() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    assert phone.dial("0", 1.0) == [PlayTone(LineTone.CONGESTION)]
    assert phone.line.state is State.CONGESTION


def test_dialling_stopped_short_gets_congestion_at_the_dial_plans_deadline() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("20", 1.0)                       # last digit at 2.0; plan waits 5 s
    assert phone.line.next_deadline() == 7.0
    assert phone.advance(6.99) == []
    assert phone.advance(7.0) == [PlayTone(LineTone.CONGESTION)]


def test_dial_plan_may_complete_a_shorter_number_when_time_runs_out() -> None:
    phone = Phone.on_line(length=4, shortest=2)
    phone.lift(0.0)
    phone.dial("20", 1.0)
    assert phone.advance(7.0) == [Dial(C1, "20")]


def test_dialling_gives_up_after_fallback_when_the_plan_names_no_deadline() -> None:
    phone = Phone.on_line(interdigit_s=None)
    phone.lift(0.0)
    phone.dial("2", 1.0)
    assert phone.line.next_deadline() == 1.0 + LineSettings().interdigit_fallback_s
    assert phone.advance(15.9) == []
    assert phone.advance(16.0) == [PlayTone(LineTone.CONGESTION)]


def test_dial_plans_first_digit_timeout_gives_congestion_then_howler() -> None:
    phone = Phone.on_line(first_digit_s=10.0)
    phone.lift(0.0)
    assert phone.collectors[0].started_at == 0.0
    assert phone.advance(9.9) == []
    assert phone.advance(10.0) == [PlayTone(LineTone.CONGESTION)]
    assert phone.advance(40.0) == [PlayTone(LineTone.HOWLER)]


def test_line_howls_first_when_the_dial_plans_first_digit_timeout_is_longer() -> None:
    phone = Phone.on_line(first_digit_s=45.0)
    phone.lift(0.0)
    assert phone.advance(30.0) == [PlayTone(LineTone.HOWLER)]


def test_hotline_dials_by_itself_when_nothing_is_dialled() -> None:
    class Hotline:
        def __init__(self, now: float) -> None:
            self.deadline: float | None = now + 4.0

        def feed(self, digit: str, now: float) -> Collected:
            self.deadline = None
            return Invalid("a hotline takes no digits")

        def next_deadline(self) -> float | None:
            return self.deadline

        def expire(self, now: float) -> Collected:
            return Complete("100")

    line = AnalogLine(DEVICE, Hotline)
    line.handle(OffHook(DEVICE, 0.0), 0.0)
    assert line.next_deadline() == 4.0
    line.handle_timers(4.0)
    assert line.commands() == [PlayTone(LineTone.DIAL), StopTone(), Dial(C1, "100")]


def test_collector_without_answer_or_new_deadline_counts_as_invalid() -> None:
    class Stuck:
        def __init__(self, now: float) -> None:
            self.now = now

        def feed(self, digit: str, now: float) -> Collected:
            return Incomplete()

        def next_deadline(self) -> float | None:
            return self.now + 1.0

        def expire(self, now: float) -> Collected:
            return Incomplete()

    line = AnalogLine(DEVICE, Stuck)
    line.handle(OffHook(DEVICE, 0.0), 0.0)
    line.handle_timers(1.0)
    assert line.commands() == [PlayTone(LineTone.DIAL), PlayTone(LineTone.CONGESTION)]
    assert line.next_deadline() == 31.0


# --- call progress --------------------------------------------------------------------------------


def test_far_end_ringing_plays_ringback_and_answer_connects() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("201", 1.0)
    assert phone.feed(Routed(C1), 3.1) == []
    assert phone.feed(Ringing(C1), 3.5) == [PlayTone(LineTone.RINGBACK)]
    assert phone.feed(Answered(C1), 9.0) == [StopTone(), Connect(C1)]
    assert phone.line.state is State.CONNECTED


def test_hang_up_releases_the_call() -> None:
    phone = Phone.on_line()
    call = dialled_and_answered(phone)
    assert phone.hang_up(60.0) == [Release(call)]
    assert phone.line.state is State.IDLE and not phone.line.calls


def test_hang_up_while_far_end_rings_cancels_the_call() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("201", 1.0)
    phone.feed(Ringing(C1), 3.5)
    assert phone.hang_up(6.0) == [StopTone(), Release(C1)]


def test_progress_for_another_call_is_ignored() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("201", 1.0)
    assert phone.feed(Answered(CallId("fxs9:1")), 4.0) == []
    assert phone.line.state is State.CALLING


def test_busy_far_end_gives_busy_then_howler_then_the_line_parks() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("201", 1.0)
    assert phone.feed(Busy(C1), 3.2) == [PlayTone(LineTone.BUSY)]
    assert phone.advance(33.1) == []
    assert phone.advance(33.2) == [PlayTone(LineTone.HOWLER)]
    assert phone.advance(93.1) == []
    assert phone.advance(93.2) == [StopTone()]
    assert phone.line.state is State.PARKED
    assert phone.line.next_deadline() is None
    assert phone.dial("201", 100.0) == []          # a parked line takes no digits
    assert phone.hang_up(200.0) == []
    assert phone.lift(201.0) == [PlayTone(LineTone.DIAL)]


def test_congestion_from_the_controller_gives_congestion_tone() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("901", 1.0)
    assert phone.feed(Congestion(C1), 3.5) == [PlayTone(LineTone.CONGESTION)]
    assert phone.advance(33.5) == [PlayTone(LineTone.HOWLER)]


def test_feature_code_plays_confirmation() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("721", 1.0)                      # a feature code of this test dial plan
    assert phone.feed(Confirmed(C1), 3.2) == [PlayTone(LineTone.CONFIRMATION)]
    assert phone.line.calls == {}
    assert phone.hang_up(5.0) == [StopTone()]


def test_flash_with_no_call_gives_a_fresh_dial_tone() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("201", 1.0)
    phone.feed(Busy(C1), 3.2)
    assert phone.flash(5.0) == [PlayTone(LineTone.DIAL)]
    assert phone.dial("202", 6.0)[-1] == Dial(CallId("fxs1:2"), "202")


def test_flash_while_far_end_rings_cancels_and_gives_dial_tone() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("201", 1.0)
    phone.feed(Ringing(C1), 3.5)
    assert phone.flash(6.0) == [Release(C1), PlayTone(LineTone.DIAL)]


# --- abandoned off-hook ---------------------------------------------------------------------------


def test_handset_left_off_hook_howls_after_30_s_then_parks() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    assert phone.advance(29.9) == []
    assert phone.advance(30.0) == [PlayTone(LineTone.HOWLER)]
    assert phone.advance(89.9) == []
    assert phone.advance(90.0) == [StopTone()]
    assert phone.line.state is State.PARKED


def test_staying_off_hook_after_the_far_end_hangs_up_gives_busy_then_howler() -> None:
    phone = Phone.on_line()
    call = dialled_and_answered(phone)
    assert phone.far_end_leaves(call, 50.0) == [PlayTone(LineTone.BUSY)]
    assert phone.line.calls == {}
    assert phone.advance(80.0) == [PlayTone(LineTone.HOWLER)]
    assert phone.advance(140.0) == [StopTone()]
    assert phone.hang_up(150.0) == []                # the call was already over
    assert phone.line.state is State.IDLE


def test_timings_follow_the_lines_settings() -> None:
    phone = Phone.on_line(settings=LineSettings(dial_tone_timeout_s=10.0, howler_s=5.0))
    phone.lift(0.0)
    assert phone.advance(10.0) == [PlayTone(LineTone.HOWLER)]
    assert phone.advance(15.0) == [StopTone()]


# --- ringing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [RingKind.NORMAL, RingKind.INTERNAL, RingKind.DOOR,
                                  RingKind.DISTINCTIVE_2])
def test_incoming_call_rings_with_its_kind_and_caller_id_with_name(kind: RingKind) -> None:
    phone = Phone.on_line()
    ring = phone.ring_in("sip:7", 0.0, number="84951234567", name="Ivanov", kind=kind)
    assert ring == [Ring(kind, CallerId("84951234567", "Ivanov"))]
    assert phone.line.state is State.RINGING
    assert phone.lift(4.0) == [StopRinging(), Answer(CallId("sip:7"))]
    assert phone.line.state is State.CONNECTED


def test_caller_giving_up_stops_ringing() -> None:
    phone = Phone.on_line()
    phone.ring_in("sip:7", 0.0)
    assert phone.far_end_leaves("sip:7", 9.0) == [StopRinging()]
    assert phone.line.state is State.IDLE
    assert phone.lift(20.0) == [PlayTone(LineTone.DIAL)]


def test_second_offer_to_a_ringing_line_is_refused_busy() -> None:
    phone = Phone.on_line()
    phone.ring_in("sip:7", 0.0)
    assert phone.ring_in("sip:8", 1.0) == [Release(CallId("sip:8"), Cause.BUSY)]
    assert phone.ring_in("sip:7", 1.5) == []          # the same offer again: still ringing


def test_offer_while_dialling_is_refused_busy() -> None:
    phone = Phone.on_line()
    phone.lift(0.0)
    phone.dial("2", 1.0)
    assert phone.ring_in("sip:8", 1.5) == [Release(CallId("sip:8"), Cause.BUSY)]
    assert phone.feed(CallWaiting(CallId("sip:9")), 1.6) == [
        Release(CallId("sip:9"), Cause.BUSY)]


def test_call_waiting_offer_to_an_idle_line_just_rings() -> None:
    phone = Phone.on_line()
    assert phone.wait_in("sip:9", 0.0) == [Ring(RingKind.NORMAL, CallerId("205", "Petrova"))]


# --- message waiting ------------------------------------------------------------------------------


def test_waiting_message_lights_the_lamp_and_stutters_the_dial_tone() -> None:
    phone = Phone.on_line()
    assert phone.feed(MessageWaiting(True, 2), 0.0) == [SetLamp(True, 2)]
    assert phone.lift(1.0) == [PlayTone(LineTone.STUTTER_DIAL)]
    phone.hang_up(2.0)
    assert phone.feed(MessageWaiting(False), 3.0) == [SetLamp(False)]
    assert phone.lift(4.0) == [PlayTone(LineTone.DIAL)]


def test_lamp_changes_during_a_call_without_disturbing_it() -> None:
    phone = Phone.on_line()
    dialled_and_answered(phone)
    assert phone.feed(MessageWaiting(True), 20.0) == [SetLamp(True)]
    assert phone.line.state is State.CONNECTED


# --- the port -------------------------------------------------------------------------------------


def test_port_alarm_releases_calls_and_refuses_offers_until_cleared() -> None:
    phone = Phone.on_line()
    call = dialled_and_answered(phone)
    assert phone.feed(PortAlarm(DEVICE, 20.0, "no answer on SPI"), 20.0) == [
        Release(call, Cause.UNAVAILABLE)]
    assert phone.ring_in("sip:7", 21.0) == [Release(CallId("sip:7"), Cause.UNAVAILABLE)]
    assert phone.lift(22.0) == []
    phone.feed(PortAlarmCleared(DEVICE, 30.0), 30.0)
    assert phone.ring_in("sip:8", 31.0)[0] == Ring(RingKind.NORMAL,
                                                   CallerId("84951234567", "Ivanov"))


def test_port_alarm_while_ringing_stops_ringing() -> None:
    phone = Phone.on_line()
    phone.ring_in("sip:7", 0.0)
    assert phone.feed(PortAlarm(DEVICE, 1.0, "foreign voltage"), 1.0) == [
        StopRinging(), Release(CallId("sip:7"), Cause.UNAVAILABLE)]
