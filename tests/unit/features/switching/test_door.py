"""Door stations: the open code only from the answering party of an answered door call, digit
buffer timeout, bell with hold-off, web/panel opening, one pulse at a time, every request
recorded."""

from __future__ import annotations

import pytest

from firmware.calls.events import CallId
from firmware.features.door import (
    DEFAULT_OPEN_CODE,
    DoorOpened,
    DoorPanel,
    DoorSettings,
    OpenDoor,
    OpenMethod,
    RingDoor,
)

CALL = CallId("door-call")
FRONT = DoorSettings("front", station_device="fxs4", rings="600", relay="relay1",
                     bell_input="input1")
YARD = DoorSettings("yard", station_device="sip-door", rings="201", relay="relay2",
                    pulse_ms=1500, open_code="#9")


def panel() -> DoorPanel:
    return DoorPanel([FRONT, YARD])


def records(p: DoorPanel) -> list[DoorOpened]:
    out = []
    while (ev := p.next_event()) is not None:
        out.append(ev)
    return out


def answered_call(p: DoorPanel, station: str = "fxs4", by: str = "sip-202") -> None:
    assert p.call_started(CALL, station)
    p.answered(CALL, by)


def press(p: DoorPanel, keys: str, by: str, now: float) -> list[OpenDoor]:
    opened = []
    for i, k in enumerate(keys):
        result = p.digits(CALL, k, by, now + i * 0.3)
        if result is not None:
            opened.append(result)
    return opened


def test_default_open_code_is_star_one_and_pulse_three_seconds() -> None:
    assert DEFAULT_OPEN_CODE == "*1" and FRONT.open_code == "*1" and FRONT.pulse_ms == 3000


def test_answering_party_opens_with_the_code() -> None:
    p = panel()
    answered_call(p)
    assert press(p, "*1", "sip-202", 10.0) == [
        OpenDoor("front", "relay1", 3000, "sip-202", OpenMethod.DTMF, 10.3)]
    assert records(p) == [DoorOpened("front", "sip-202", OpenMethod.DTMF, 10.3)]
    assert p.pulses("front") == 1


def test_code_is_found_after_other_digits() -> None:
    p = panel()
    answered_call(p)
    assert len(press(p, "45*1", "sip-202", 10.0)) == 1


def test_code_before_answer_or_from_someone_else_does_nothing() -> None:
    p = panel()
    assert p.call_started(CALL, "fxs4")
    assert press(p, "*1", "sip-202", 1.0) == []          # still ringing
    p.answered(CALL, "sip-202")
    assert press(p, "*1", "fxs4", 2.0) == []             # the visitor keys it at the door
    assert press(p, "*1", "sip-203", 3.0) == []          # another phone in the call
    p.ended(CALL)
    assert press(p, "*1", "sip-202", 4.0) == []          # call over
    assert records(p) == [] and p.pulses("front") == 0


def test_non_door_call_is_not_a_door_call() -> None:
    p = panel()
    assert not p.call_started(CALL, "fxs1")
    p.answered(CALL, "sip-202")
    assert press(p, "*1", "sip-202", 1.0) == []


def test_slow_code_entry_starts_again() -> None:
    p = panel()
    answered_call(p)
    assert p.digits(CALL, "*", "sip-202", 10.0) is None
    assert p.digits(CALL, "1", "sip-202", 13.5) is None   # > 3 s later
    assert p.digits(CALL, "*", "sip-202", 14.0) is None
    assert p.digits(CALL, "1", "sip-202", 16.9) is not None


def test_each_door_has_its_own_code_relay_and_pulse() -> None:
    p = panel()
    answered_call(p, station="sip-door", by="sip-201")
    assert press(p, "*1", "sip-201", 1.0) == []
    assert press(p, "#9", "sip-201", 2.0) == [
        OpenDoor("yard", "relay2", 1500, "sip-201", OpenMethod.DTMF, 2.3)]


def test_opens_during_a_pulse_are_recorded_but_start_no_second_pulse() -> None:
    p = panel()
    answered_call(p)
    assert len(press(p, "*1", "sip-202", 10.0)) == 1     # pulse 10.3 .. 13.3
    assert p.next_deadline() == pytest.approx(13.3)
    assert press(p, "*1", "sip-202", 11.0) == []
    assert p.open_from_web("front", "admin", 12.0) is None
    assert p.next_deadline() == pytest.approx(13.3)       # not lengthened
    assert p.open_from_web("front", "admin", 13.3) is not None
    assert p.pulses("front") == 2 and p.requests("front") == 4
    assert [(r.by, r.method, r.pulse_started) for r in records(p)] == [
        ("sip-202", OpenMethod.DTMF, True), ("sip-202", OpenMethod.DTMF, False),
        ("admin", OpenMethod.WEB, False), ("admin", OpenMethod.WEB, True)]


def test_web_and_panel_openings_say_who_and_how() -> None:
    p = panel()
    assert p.open_from_web("yard", "olga", 5.0) == OpenDoor(
        "yard", "relay2", 1500, "olga", OpenMethod.WEB, 5.0)
    assert p.open_from_panel("front", 6.0) == OpenDoor(
        "front", "relay1", 3000, "panel", OpenMethod.PANEL, 6.0)
    assert records(p) == [DoorOpened("yard", "olga", OpenMethod.WEB, 5.0),
                          DoorOpened("front", "panel", OpenMethod.PANEL, 6.0)]
    with pytest.raises(KeyError):
        p.open_from_web("cellar", "olga", 7.0)


def test_bell_rings_the_doors_number_once_per_holdoff() -> None:
    p = panel()
    assert p.bell("input1", 0.0) == RingDoor("front", "600", 0.0)
    assert p.bell("input1", 0.05) is None    # contact chatter
    assert p.bell("input1", 4.9) is None
    assert p.bell("input1", 5.0) == RingDoor("front", "600", 5.0)
    assert p.bell("input2", 9.0) is None     # no door has it


def test_pulse_bounds_are_enforced() -> None:
    for bad in (99, 30_001):
        with pytest.raises(ValueError, match="pulse_ms"):
            DoorPanel([DoorSettings("d", "fxs4", "600", pulse_ms=bad)])
    DoorPanel([DoorSettings("d", "fxs4", "600", pulse_ms=100),
               DoorSettings("e", "fxs3", "600", pulse_ms=30_000)])
