"""DISA: off by default, time windows, caller allow-list, extension dialling, PINs, attempts,
lock-outs per caller and global, timeouts, and the class of service of the PIN's owner."""

from __future__ import annotations

import hmac
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

import pytest

from firmware.calls.cos import Subject, SubjectKind
from firmware.calls.events import CallId
from firmware.features import disa as disa_module
from firmware.features.disa import (
    SHARED_SUBJECT,
    Authorised,
    DialExtension,
    DisaEvent,
    DisaGuard,
    DisaLocked,
    DisaPin,
    DisaRefusal,
    DisaSession,
    DisaSettings,
    DisaState,
    DisaWindow,
    LockedOut,
    LockScope,
    Refused,
    WrongPin,
)
from firmware.schedule import WORKDAYS, Weekday

MSK = timezone(timedelta(hours=3))
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=MSK)   # a Monday
ANNA = Subject(SubjectKind.EXTENSION, "201")
ROAD = Subject(SubjectKind.DISA, "road-warriors")
EXTS = ("201", "202", "2020", "300")
ON = DisaSettings(enabled=True, pins=(DisaPin(ANNA, "4711"), DisaPin(ROAD, "86420")),
                  shared_pin="13579")
CALLER = "+74951234567"


def events(session: DisaSession) -> list[DisaEvent]:
    out = []
    while (ev := session.next_event()) is not None:
        out.append(ev)
    return out


def start(guard: DisaGuard, call: str = "c1", caller: str | None = CALLER, now: float = 0.0,
          at: datetime = MONDAY_NOON) -> DisaSession:
    return guard.start(CallId(call), caller, at, now, EXTS)


def dial(session: DisaSession, digits: str, now: float) -> list[DisaEvent]:
    for i, d in enumerate(digits):
        session.digit(d, now + i * 0.2)
    return events(session)


def test_disa_is_off_by_default() -> None:
    session = start(DisaGuard(DisaSettings()))
    assert events(session) == [Refused(CallId("c1"), CALLER, DisaRefusal.DISABLED, 0.0)]
    assert session.state is DisaState.ENDED
    assert dial(session, "*4711#", 1.0) == []   # no dial tone however the caller tries


def test_caller_dials_an_extension_from_the_greeting_without_pin() -> None:
    session = start(DisaGuard(ON))
    assert dial(session, "300", 1.0) == [DialExtension(CallId("c1"), "300", 1.4)]
    assert session.state is DisaState.DIALLING


def test_extension_that_another_extends_waits_for_the_pause() -> None:
    session = start(DisaGuard(ON))
    assert dial(session, "202", 1.0) == []
    session.handle_timers(1.4 + ON.inter_digit_s)
    assert events(session) == [DialExtension(CallId("c1"), "202", 1.4 + ON.inter_digit_s)]


def test_unknown_extension_is_refused() -> None:
    session = start(DisaGuard(ON))
    assert dial(session, "5", 1.0) == [Refused(CallId("c1"), CALLER,
                                               DisaRefusal.INVALID_NUMBER, 1.0)]


def test_extension_dialling_can_be_turned_off_then_digits_are_a_pin() -> None:
    session = start(DisaGuard(replace(ON, extensions_without_pin=False)))
    assert dial(session, "4711#", 1.0) == [Authorised(CallId("c1"), CALLER, ANNA, 1.8)]


def test_star_and_pin_authorises_with_the_owners_class_of_service() -> None:
    for pin, subject in (("4711", ANNA), ("86420", ROAD), ("13579", SHARED_SUBJECT)):
        session = start(DisaGuard(ON))
        [ev] = dial(session, f"*{pin}#", 1.0)
        assert isinstance(ev, Authorised) and ev.subject == subject
        assert session.state is DisaState.AUTHORISED


def test_pin_is_submitted_after_the_inter_digit_pause() -> None:
    session = start(DisaGuard(ON))
    dial(session, "*4711", 1.0)
    session.handle_timers(1.8 + ON.inter_digit_s - 0.01)
    assert events(session) == []
    session.handle_timers(1.8 + ON.inter_digit_s)
    assert events(session) == [Authorised(CallId("c1"), CALLER, ANNA, 1.8 + ON.inter_digit_s)]


def test_prefix_or_extension_of_a_pin_is_wrong() -> None:
    for wrong in ("471", "47110", "4712"):
        session = start(DisaGuard(ON))
        [ev] = dial(session, f"*{wrong}#", 1.0)
        assert isinstance(ev, WrongPin) and ev.attempt == 1


def test_wrong_pin_retries_then_hangs_up_after_max_attempts() -> None:
    guard = DisaGuard(DisaSettings(enabled=True, pins=(DisaPin(ANNA, "4711"),),
                                   caller_lockout_failures=10))
    session = start(guard)
    assert dial(session, "*1111#", 1.0) == [WrongPin(CallId("c1"), CALLER, 1, 2.0)]
    assert session.state is DisaState.PIN
    assert dial(session, "2222#", 3.0) == [WrongPin(CallId("c1"), CALLER, 2, 3.8)]
    assert dial(session, "3333#", 5.0) == [
        WrongPin(CallId("c1"), CALLER, 3, 5.8),
        Refused(CallId("c1"), CALLER, DisaRefusal.TOO_MANY_ATTEMPTS, 5.8),
    ]
    assert session.state is DisaState.ENDED
    assert dial(session, "4711#", 7.0) == []


def test_three_wrong_pins_lock_the_caller_out_for_the_lockout_duration() -> None:
    guard = DisaGuard(ON)
    session = start(guard)
    dial(session, "*0000#", 1.0)
    dial(session, "0001#", 3.0)
    evs = dial(session, "0002#", 5.0)
    until = 5.8 + ON.caller_lockout_s
    assert evs == [WrongPin(CallId("c1"), CALLER, 3, 5.8),
                   LockedOut(CallId("c1"), CALLER, LockScope.CALLER, until, 5.8)]
    assert guard.next_event() == DisaLocked(LockScope.CALLER, CALLER, 3, 5.8, until)
    # A new call with the right PIN is refused at once, for the whole lock-out...
    again = start(guard, "c2", now=100.0)
    assert events(again) == [LockedOut(CallId("c2"), CALLER, LockScope.CALLER, until, 100.0)]
    assert dial(again, "*4711#", 101.0) == []
    late = start(guard, "c3", now=until - 1.0)
    assert isinstance(events(late)[0], LockedOut)
    # ... another caller is not locked, and the caller may try again once it ends.
    other = start(guard, "c4", caller="+74957654321", now=200.0)
    assert dial(other, "*4711#", 201.0)[0] == Authorised(CallId("c4"), "+74957654321", ANNA,
                                                         202.0)
    assert guard.next_deadline() == until
    after = start(guard, "c5", now=until)
    assert isinstance(dial(after, "*4711#", until + 1)[0], Authorised)


def test_failures_across_calls_count_towards_the_caller_lock() -> None:
    guard = DisaGuard(ON)
    for i, t in enumerate((0.0, 100.0)):
        s = start(guard, f"c{i}", now=t)
        dial(s, "*9999#", t + 1)
    s = start(guard, "c9", now=200.0)
    evs = dial(s, "*9999#", 201.0)
    assert isinstance(evs[-1], LockedOut) and evs[-1].scope is LockScope.CALLER


def test_failures_age_out_of_the_caller_window() -> None:
    guard = DisaGuard(ON)
    for i, t in enumerate((0.0, 10.0)):
        dial(start(guard, f"c{i}", now=t), "*9999#", t + 1)
    t = 10.0 + ON.caller_window_s + 100
    evs = dial(start(guard, "late", now=t), "*9999#", t + 1)
    assert evs == [WrongPin(CallId("late"), CALLER, 1, t + 2.0)]


def test_withheld_callers_share_one_lockout_bucket() -> None:
    guard = DisaGuard(ON)
    for i in range(3):
        dial(start(guard, f"c{i}", caller=None, now=i * 10.0), "*9999#", i * 10.0 + 1)
    evs = events(start(guard, "c9", caller="", now=50.0))
    assert isinstance(evs[0], LockedOut) and evs[0].caller == ""


def test_many_callers_failing_lock_disa_for_everyone() -> None:
    settings = DisaSettings(enabled=True, pins=(DisaPin(ANNA, "4711"),),
                            global_lockout_failures=4, global_window_s=600,
                            global_lockout_s=1800)
    guard = DisaGuard(settings)
    for i in range(4):
        dial(start(guard, f"c{i}", caller=f"+7495000000{i}", now=i * 10.0), "*9999#",
             i * 10.0 + 1)
    alerts = [guard.next_event(), guard.next_event()]
    assert alerts[0] is not None and alerts[0].scope is LockScope.GLOBAL
    assert alerts[0].until == pytest.approx(32.0 + 1800)
    fresh = start(guard, "new", caller="+74959999999", now=100.0)
    [ev] = events(fresh)
    assert isinstance(ev, LockedOut) and ev.scope is LockScope.GLOBAL


def test_time_windows_limit_disa() -> None:
    office_hours = DisaWindow(WORKDAYS, time(8, 0), time(20, 0))
    night = DisaWindow(frozenset({Weekday.FRIDAY}), time(22, 0), time(2, 0))
    guard = DisaGuard(replace(ON, windows=(office_hours, night)))

    def refusal(at: datetime) -> DisaRefusal | None:
        [*evs] = events(start(guard, at=at))
        return evs[0].reason if evs and isinstance(evs[0], Refused) else None

    assert refusal(MONDAY_NOON) is None
    assert refusal(MONDAY_NOON.replace(hour=20)) is DisaRefusal.OUTSIDE_HOURS
    assert refusal(MONDAY_NOON.replace(hour=7, minute=59)) is DisaRefusal.OUTSIDE_HOURS
    saturday = MONDAY_NOON + timedelta(days=5)
    assert refusal(saturday) is DisaRefusal.OUTSIDE_HOURS
    # Friday's 22:00-02:00 window reaches into Saturday night.
    assert refusal(saturday.replace(hour=1, minute=30)) is None
    assert refusal(saturday.replace(hour=2)) is DisaRefusal.OUTSIDE_HOURS
    assert refusal((saturday - timedelta(days=1)).replace(hour=23)) is None


def test_caller_allow_list_refuses_others_and_withheld() -> None:
    guard = DisaGuard(replace(ON, caller_allow=("+7495*", "+7916123456?")))
    assert events(start(guard, caller="+74951112233")) == []
    assert events(start(guard, caller="+79161234567")) == []
    for caller in ("+79161234", "+4420794600", None):
        [ev] = events(start(guard, caller=caller))
        assert isinstance(ev, Refused) and ev.reason is DisaRefusal.CALLER_NOT_ALLOWED


def test_no_input_hangs_up_or_goes_to_the_operator() -> None:
    session = start(DisaGuard(ON))
    assert session.next_deadline() == ON.first_digit_s
    session.handle_timers(ON.first_digit_s)
    assert events(session) == [Refused(CallId("c1"), CALLER, DisaRefusal.NO_INPUT,
                                       ON.first_digit_s)]
    session = start(DisaGuard(replace(ON, no_input_extension="200")))
    session.handle_timers(ON.first_digit_s)
    assert events(session) == [DialExtension(CallId("c1"), "200", ON.first_digit_s)]


def test_pins_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(disa_module.hmac, "compare_digest", spy)
    dial(start(DisaGuard(ON)), "*4711#", 1.0)
    # Every configured PIN is compared even though the first one matched.
    assert len(compared) == 3


def test_settings_problems_catch_weak_and_duplicate_pins() -> None:
    bad = DisaSettings(enabled=True, pins=(DisaPin(ANNA, "12"), DisaPin(ROAD, "4711")),
                       shared_pin="4711")
    problems = bad.problems()
    assert any("4-12 digits" in p for p in problems)
    assert any("same" in p for p in problems)
    assert ON.problems() == []


def test_lock_set_during_a_call_refuses_its_right_pin() -> None:
    guard = DisaGuard(ON)
    waiting = start(guard, "early", now=0.0)      # same caller, a second line
    waiting.digit("*", 1.0)
    attacker = start(guard, "c2", now=2.0)
    dial(attacker, "*0000#0001#0002#", 3.0)
    assert attacker.state is DisaState.ENDED
    [ev] = dial(waiting, "4711#", 8.0)
    assert isinstance(ev, LockedOut) and ev.scope is LockScope.CALLER
    assert waiting.state is DisaState.ENDED
