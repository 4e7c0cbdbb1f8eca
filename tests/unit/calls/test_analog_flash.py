"""Rehearsal of the register-recall (hook flash, R key) services on one analog line:
consultation hold, transfer on hang-up, R-codes (R0 … R4, plain flash swaps), three-way
conference, call waiting and the recall ring."""

from __future__ import annotations

from firmware.calls.analog import (
    Answer,
    Answered,
    Busy,
    Conference,
    Congestion,
    Connect,
    Dial,
    Hold,
    LineSettings,
    LineTone,
    PlayTone,
    Release,
    Ring,
    Ringing,
    State,
    StopRinging,
    StopTone,
    Transfer,
)
from firmware.calls.events import CallId, Cause
from firmware.media.dsp.callerid import CallerId
from firmware.media.dsp.tones import RingKind

from .test_analog_support import Phone

CITY = CallId("fxo1:call-7")           # a city caller the user answered
CONSULT = CallId("fxs1:1")             # the first call the line dials
WAITING = CallId("sip:call-9")


def talking_to_city(phone: Phone) -> None:
    phone.ring_in(CITY, 0.0, number="84951234567", name="Ivanov")
    phone.lift(2.0)


def consulting(phone: Phone, answered: bool = True) -> None:
    """City caller on hold at 10 s, 202 dialled at 11–13 s, ringing at 14 s (answered at 18 s)."""
    talking_to_city(phone)
    assert phone.flash(10.0) == [Hold(CITY), PlayTone(LineTone.DIAL)]
    assert phone.line.state is State.HOLD_DIALTONE
    assert phone.dial("202", 11.0) == [StopTone(), Dial(CONSULT, "202")]
    assert phone.feed(Ringing(CONSULT), 14.0) == [PlayTone(LineTone.RINGBACK)]
    if answered:
        assert phone.feed(Answered(CONSULT), 18.0) == [StopTone(), Connect(CONSULT)]
        assert phone.line.state is State.TWO_CALLS


# --- consultation and transfer --------------------------------------------------------------------


def test_hang_up_after_the_consulted_party_answers_transfers_the_caller() -> None:
    phone = Phone.on_line()
    consulting(phone)
    assert phone.hang_up(25.0) == [Transfer(held=CITY, active=CONSULT)]
    assert phone.line.state is State.IDLE and not phone.line.calls


def test_hang_up_while_the_consulted_party_rings_transfers_blind() -> None:
    phone = Phone.on_line()
    consulting(phone, answered=False)
    assert phone.hang_up(15.0) == [StopTone(), Transfer(held=CITY, active=CONSULT)]


def test_hang_up_right_after_dialling_transfers_blind() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    phone.dial("202", 11.0)
    assert phone.hang_up(13.5) == [Transfer(held=CITY, active=CONSULT)]


def test_flash_while_the_consulted_party_rings_returns_to_the_held_caller() -> None:
    phone = Phone.on_line()
    consulting(phone, answered=False)
    assert phone.flash(16.0) == [StopTone(), Release(CONSULT), Connect(CITY)]
    assert phone.line.state is State.CONNECTED
    assert phone.line.calls == {"active": CITY}


def test_flash_on_the_consultation_dial_tone_returns_to_the_held_caller() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    assert phone.flash(12.0) == [StopTone(), Connect(CITY)]


def test_flash_while_dialling_the_consultation_returns_to_the_held_caller() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    phone.dial("20", 11.0)
    assert phone.flash(13.0) == [Connect(CITY)]


def test_consultation_dial_tone_left_alone_returns_to_the_held_caller() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    assert phone.advance(39.9) == []
    assert phone.advance(40.0) == [StopTone(), Connect(CITY)]


def test_busy_consultation_returns_to_the_held_caller_by_flash() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    phone.dial("202", 11.0)
    assert phone.feed(Busy(CONSULT), 13.2) == [PlayTone(LineTone.BUSY)]
    assert phone.line.state is State.HOLD_BUSY
    assert phone.flash(15.0) == [StopTone(), Connect(CITY)]


def test_busy_consultation_returns_to_the_held_caller_by_itself() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    phone.dial("202", 11.0)
    phone.feed(Congestion(CONSULT), 13.2)
    assert phone.advance(23.1) == []
    assert phone.advance(23.2) == [StopTone(), Connect(CITY)]


def test_consulted_party_hanging_up_brings_back_the_held_caller() -> None:
    phone = Phone.on_line()
    consulting(phone)
    assert phone.far_end_leaves(CONSULT, 30.0) == [Connect(CITY)]
    assert phone.line.state is State.CONNECTED
    assert phone.line.calls == {"active": CITY}


def test_held_caller_hanging_up_leaves_the_consultation_as_an_ordinary_call() -> None:
    phone = Phone.on_line()
    consulting(phone, answered=False)
    assert phone.far_end_leaves(CITY, 15.0) == []
    assert phone.line.state is State.RINGBACK
    assert phone.feed(Answered(CONSULT), 18.0) == [StopTone(), Connect(CONSULT)]
    assert phone.hang_up(30.0) == [Release(CONSULT)]


# --- recall ring ----------------------------------------------------------------------------------


def test_hang_up_with_a_held_call_rings_back_with_the_recall_ring() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    assert phone.hang_up(12.0) == [
        StopTone(), Ring(RingKind.DISTINCTIVE_1, CallerId("84951234567", "Ivanov"))]
    assert phone.line.state is State.RECALL_RINGING
    assert phone.lift(15.0) == [StopRinging(), Connect(CITY)]
    assert phone.line.state is State.CONNECTED


def test_hang_up_after_a_busy_consultation_rings_back_with_the_held_call() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    phone.dial("202", 11.0)
    phone.feed(Busy(CONSULT), 13.2)
    commands = phone.hang_up(14.0)
    assert commands[0] == StopTone() and isinstance(commands[1], Ring)


def test_unanswered_recall_releases_the_held_call() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    phone.hang_up(12.0)
    assert phone.advance(71.9) == []
    assert phone.advance(72.0) == [StopRinging(), Release(CITY, Cause.NO_ANSWER)]
    assert phone.line.state is State.IDLE


def test_held_caller_giving_up_during_the_recall_stops_ringing() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.flash(10.0)
    phone.hang_up(12.0)
    assert phone.far_end_leaves(CITY, 20.0) == [StopRinging()]


def test_recall_ring_kind_is_a_line_setting() -> None:
    phone = Phone.on_line(settings=LineSettings(recall_ring=RingKind.INTERNAL))
    talking_to_city(phone)
    phone.flash(10.0)
    assert phone.hang_up(12.0)[-1].kind is RingKind.INTERNAL  # type: ignore[union-attr]


# --- R codes with two calls -----------------------------------------------------------------------


def test_r2_swaps_between_the_two_calls_and_back() -> None:
    phone = Phone.on_line()
    consulting(phone)
    assert phone.flash(20.0) == [Hold(CONSULT), PlayTone(LineTone.DIAL)]
    assert phone.dial("2", 21.0) == [StopTone(), Connect(CITY)]
    assert phone.line.calls == {"active": CITY, "held": CONSULT}
    assert phone.flash(30.0) == [Hold(CITY), PlayTone(LineTone.DIAL)]
    assert phone.dial("2", 31.0) == [StopTone(), Connect(CONSULT)]
    assert phone.line.calls == {"active": CONSULT, "held": CITY}


def test_plain_flash_swaps_once_the_code_window_closes() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    assert phone.advance(22.9) == []
    assert phone.advance(23.0) == [StopTone(), Connect(CITY)]
    assert phone.line.state is State.TWO_CALLS


def test_rotary_phone_sends_r_codes_by_pulses() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    assert phone.dial("3", 21.0, pulse=True) == [StopTone(), Conference(CITY, CONSULT)]


def test_r3_makes_a_three_way_conference() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    assert phone.dial("3", 21.0) == [StopTone(), Conference(CITY, CONSULT)]
    assert phone.line.state is State.CONFERENCE


def test_leaving_the_conference_leaves_the_other_two_talking() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    phone.dial("3", 21.0)
    assert phone.hang_up(40.0) == [Transfer(held=CITY, active=CONSULT)]


def test_flash_in_a_conference_splits_it_again() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    phone.dial("3", 21.0)
    assert phone.flash(30.0) == [Hold(CITY), Connect(CONSULT)]
    assert phone.line.state is State.TWO_CALLS


def test_conference_party_hanging_up_leaves_a_two_party_call() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    phone.dial("3", 21.0)
    assert phone.far_end_leaves(CITY, 30.0) == [Connect(CONSULT)]
    assert phone.line.state is State.CONNECTED


def test_r1_releases_the_talking_party_and_returns_to_the_held_one() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    assert phone.dial("1", 21.0) == [StopTone(), Release(CONSULT), Connect(CITY)]
    assert phone.line.calls == {"active": CITY}


def test_r0_releases_the_held_party_and_returns_to_the_talking_one() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    assert phone.dial("0", 21.0) == [StopTone(), Release(CITY), Connect(CONSULT)]
    assert phone.line.calls == {"active": CONSULT}


def test_r4_transfers() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    assert phone.dial("4", 21.0) == [StopTone(), Transfer(held=CITY, active=CONSULT)]


def test_second_flash_or_unknown_code_returns_to_the_talking_party() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    assert phone.flash(21.0) == [StopTone(), Connect(CONSULT)]
    phone.flash(22.0)
    assert phone.dial("7", 23.0) == [StopTone(), Connect(CONSULT)]
    assert phone.line.calls == {"active": CONSULT, "held": CITY}


def test_hang_up_during_the_code_window_transfers() -> None:
    phone = Phone.on_line()
    consulting(phone)
    phone.flash(20.0)
    assert phone.hang_up(21.0) == [StopTone(), Transfer(held=CITY, active=CONSULT)]


# --- call waiting ---------------------------------------------------------------------------------


def test_second_caller_gets_the_call_waiting_tone_in_the_conversation() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    assert phone.wait_in(WAITING, 10.0) == [PlayTone(LineTone.CALL_WAITING)]
    assert phone.line.state is State.CALL_WAITING


def test_flash_r2_answers_the_waiting_call_holding_the_first() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    assert phone.flash(12.0) == [Hold(CITY), PlayTone(LineTone.DIAL)]
    assert phone.dial("2", 12.5) == [StopTone(), Answer(WAITING)]
    assert phone.line.calls == {"active": WAITING, "held": CITY}
    assert phone.line.state is State.TWO_CALLS


def test_plain_flash_answers_the_waiting_call_when_the_code_window_closes() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    phone.flash(12.0)
    assert phone.advance(15.0) == [StopTone(), Answer(WAITING)]
    assert phone.line.calls == {"active": WAITING, "held": CITY}


def test_r0_rejects_the_waiting_caller_busy() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    phone.flash(12.0)
    assert phone.dial("0", 12.5) == [StopTone(), Release(WAITING, Cause.BUSY), Connect(CITY)]
    assert phone.line.state is State.CONNECTED


def test_r1_ends_the_current_call_and_answers_the_waiting_one() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    phone.flash(12.0)
    assert phone.dial("1", 12.5) == [StopTone(), Release(CITY), Answer(WAITING)]
    assert phone.line.calls == {"active": WAITING}


def test_r3_answers_the_waiting_call_into_a_conference() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    phone.flash(12.0)
    assert phone.dial("3", 12.5) == [StopTone(), Answer(WAITING), Conference(CITY, WAITING)]


def test_second_flash_goes_back_to_the_first_call_with_the_tone_still_waiting() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    phone.flash(12.0)
    assert phone.flash(13.0) == [Connect(CITY), PlayTone(LineTone.CALL_WAITING)]


def test_hang_up_during_call_waiting_ends_the_call_and_the_waiting_one_rings() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0, number="205", name="Petrova")
    assert phone.hang_up(14.0) == [
        StopTone(), Release(CITY), Ring(RingKind.NORMAL, CallerId("205", "Petrova"))]
    assert phone.lift(16.0) == [StopRinging(), Answer(WAITING)]


def test_waiting_caller_giving_up_stops_the_call_waiting_tone() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    assert phone.far_end_leaves(WAITING, 15.0) == [StopTone()]
    assert phone.line.state is State.CONNECTED


def test_waiting_call_not_taken_is_released_for_forwarding() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    assert phone.advance(39.9) == []
    assert phone.advance(40.0) == [StopTone(), Release(WAITING, Cause.NO_ANSWER)]
    assert phone.line.state is State.CONNECTED


def test_first_caller_hanging_up_leaves_the_waiting_call_to_take_by_flash() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    assert phone.far_end_leaves(CITY, 12.0) == []          # call-waiting tone goes on
    assert phone.line.state is State.WAITING_ALONE
    assert phone.flash(13.0) == [StopTone(), Answer(WAITING)]


def test_call_waiting_switched_off_refuses_the_second_caller_busy() -> None:
    phone = Phone.on_line(settings=LineSettings(call_waiting=False))
    talking_to_city(phone)
    assert phone.wait_in(WAITING, 10.0) == [Release(WAITING, Cause.BUSY)]
    assert phone.line.state is State.CONNECTED


def test_third_caller_during_call_waiting_is_refused_busy() -> None:
    phone = Phone.on_line()
    talking_to_city(phone)
    phone.wait_in(WAITING, 10.0)
    assert phone.wait_in("sip:other", 11.0) == [Release(CallId("sip:other"), Cause.BUSY)]
