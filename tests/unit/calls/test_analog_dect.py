"""A DECT handset runs the same line behaviour, driven by talk/end keys and the keypad (with R),
and gets display text for each state."""

from __future__ import annotations

from firmware.calls.analog import (
    Answer,
    Answered,
    Command,
    Dial,
    Display,
    Hold,
    LineKind,
    LineTone,
    MessageWaiting,
    PlayTone,
    Ring,
    Ringing,
    SetLamp,
    StopRinging,
    StopTone,
    Transfer,
)
from firmware.calls.events import CallId
from firmware.media.dsp.callerid import CallerId
from firmware.media.dsp.tones import RingKind
from hal.events import HandsetOffHook, HandsetOnHook, KeypadPressed

from .test_analog_support import Phone

BASE = "dect1"


def talk(phone: Phone, at: float) -> list[Command]:
    return phone.feed(HandsetOffHook(BASE, at, 3), at)


def end(phone: Phone, at: float) -> list[Command]:
    return phone.feed(HandsetOnHook(BASE, at, 3), at)


def keys(phone: Phone, typed: str, at: float) -> list[Command]:
    return phone.feed(KeypadPressed(BASE, at, 3, typed), at)


def shown(commands: list[Command]) -> list[str]:
    return [c.text for c in commands if isinstance(c, Display)]


def test_talk_key_gives_dial_tone_and_shows_dial() -> None:
    phone = Phone.on_line(kind=LineKind.DECT)
    assert talk(phone, 0.0) == [PlayTone(LineTone.DIAL), Display("Dial")]


def test_en_bloc_number_from_the_handset_is_dialled_and_shown() -> None:
    phone = Phone.on_line(kind=LineKind.DECT)
    talk(phone, 0.0)
    out = keys(phone, "201", 1.0)
    assert out[:2] == [StopTone(), Dial(CallId("fxs1:1"), "201")]
    assert shown(out) == ["Calling 201"]
    assert shown(phone.feed(Ringing(CallId("fxs1:1")), 2.0)) == ["Ringing 201"]
    assert shown(phone.feed(Answered(CallId("fxs1:1")), 5.0)) == ["201"]


def test_digits_typed_one_by_one_are_shown_as_typed() -> None:
    phone = Phone.on_line(kind=LineKind.DECT)
    talk(phone, 0.0)
    assert shown(keys(phone, "2", 1.0)) == ["2"]
    assert shown(keys(phone, "0", 1.5)) == ["20"]


def test_incoming_call_shows_the_callers_name_and_number() -> None:
    phone = Phone.on_line(kind=LineKind.DECT)
    out = phone.ring_in("sip:7", 0.0, number="84951234567", name="Ivanov")
    assert out == [Ring(RingKind.NORMAL, CallerId("84951234567", "Ivanov")),
                   Display("Ivanov 84951234567")]
    assert talk(phone, 3.0) == [StopRinging(), Answer(CallId("sip:7"))]  # same text


def test_door_station_call_says_door() -> None:
    phone = Phone.on_line(kind=LineKind.DECT)
    out = phone.ring_in("door:1", 0.0, number="100", name="Entrance", kind=RingKind.DOOR)
    assert shown(out) == ["Door: Entrance 100"]


def test_r_key_holds_the_call_and_hang_up_transfers() -> None:
    phone = Phone.on_line(kind=LineKind.DECT)
    phone.ring_in("sip:7", 0.0, number="84951234567", name=None)
    talk(phone, 1.0)
    out = keys(phone, "R", 5.0)
    assert out[:2] == [Hold(CallId("sip:7")), PlayTone(LineTone.DIAL)]
    assert shown(out) == ["Hold 84951234567 | dial"]
    keys(phone, "202", 6.0)
    phone.feed(Answered(CallId("fxs1:1")), 8.0)
    assert shown(keys(phone, "R", 9.0)) == ["202 | hold 84951234567 | R0-R4"]
    assert shown(keys(phone, "2", 9.5)) == ["84951234567 | hold 202"]
    assert end(phone, 12.0)[0] == Transfer(held=CallId("fxs1:1"), active=CallId("sip:7"))


def test_r_and_code_in_one_keypad_message() -> None:
    phone = Phone.on_line(kind=LineKind.DECT)
    phone.ring_in("sip:7", 0.0)
    talk(phone, 1.0)
    keys(phone, "R202", 5.0)
    phone.feed(Answered(CallId("fxs1:1")), 8.0)
    assert shown(keys(phone, "R3", 9.0)) == ["Conference Ivanov 84951234567 + 202"]


def test_message_waiting_is_shown_on_the_idle_handset() -> None:
    phone = Phone.on_line(kind=LineKind.DECT)
    assert phone.feed(MessageWaiting(True, 1), 0.0) == [SetLamp(True, 1),
                                                         Display("New messages")]
    assert talk(phone, 1.0) == [PlayTone(LineTone.STUTTER_DIAL), Display("Dial (new messages)")]


def test_analog_phone_gets_no_display_commands() -> None:
    phone = Phone.on_line(kind=LineKind.ANALOG)
    out = phone.ring_in("sip:7", 0.0) + phone.lift(1.0) + phone.hang_up(3.0)
    assert not shown(out)
