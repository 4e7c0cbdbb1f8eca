"""Installer programming session (`*0`): PIN and lock-out, every menu path, timeouts, invalid
keys, the IP address read out, and that every session ends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.features.forwarding import ForwardKind
from firmware.features.menu import PlayPrompt, StopPrompt
from firmware.features.programming import (
    CancelForward,
    ChangeKind,
    DiscardGreeting,
    KeepGreeting,
    Outcome,
    PlayTake,
    ProgrammingAction,
    ProgrammingChange,
    ProgrammingEntered,
    ProgrammingGuard,
    ProgrammingLocked,
    ProgrammingSession,
    ProgrammingSettings,
    ProgrammingWrongPin,
    RecordGreeting,
    SayAddress,
    SetForward,
    SetMode,
    State,
    TestDoor,
    address_prompts,
)
from firmware.features.voicemail import Hangup, PlayBeep, StopRecording
from firmware.media.prompt_catalog import CATALOG, Language, render
from firmware.schedule import StandardMode

PIN = "4321"
SETTINGS = ProgrammingSettings(pin=PIN)


def session(now: float = 0.0, guard: ProgrammingGuard | None = None, phone: str = "fxs-1",
            authorised: bool = True) -> ProgrammingSession:
    return ProgrammingSession(guard or ProgrammingGuard(SETTINGS), phone, "ivan", authorised,
                              now)


def said(actions: list[ProgrammingAction]) -> list[str]:
    return [p for a in actions if isinstance(a, PlayPrompt) for p in a.prompt_ids]


def keys(s: ProgrammingSession, digits: str, now: float) -> list[ProgrammingAction]:
    out: list[ProgrammingAction] = []
    for d in digits:
        out += s.on_digit(d, now)
    return out


def logged_in(now: float = 0.0) -> ProgrammingSession:
    s = session(now)
    assert said(s.start()) == ["prog.enter_pin"]
    s.on_prompt_finished(now + 1)
    out = keys(s, PIN + "#", now + 2)
    assert ProgrammingEntered("fxs-1", "ivan", now + 2) in out
    assert said(out) == ["prog.main_menu"]
    s.on_prompt_finished(now + 3)
    return s


# --- entry and PIN ----------------------------------------------------------------------------


def test_right_pin_enters_the_main_menu() -> None:
    s = logged_in()
    assert s.state is State.MAIN
    assert s.next_deadline() == 3 + SETTINGS.input_timeout_s


def test_unauthorised_phone_hears_refusal_and_is_hung_up() -> None:
    s = session(authorised=False)
    assert said(s.start()) == ["prog.not_allowed", "goodbye"]
    assert s.on_prompt_finished(2.0) == [Hangup()]
    assert s.state is State.DONE and s.next_deadline() is None


def test_no_installer_pin_configured_means_the_mode_is_off() -> None:
    s = ProgrammingSession(ProgrammingGuard(ProgrammingSettings(pin="")), "fxs-1", "ivan",
                           True, 0.0)
    assert said(s.start()) == ["prog.not_allowed", "goodbye"]
    assert not s.guard.check("")


def test_wrong_pin_is_told_and_asked_again() -> None:
    s = session()
    s.start()
    s.on_prompt_finished(1.0)
    out = keys(s, "1111#", 2.0)
    assert ProgrammingWrongPin("fxs-1", "ivan", 1, 2.0) in out
    assert said(out) == ["prog.pin_wrong", "prog.enter_pin"]
    s.on_prompt_finished(3.0)
    assert ProgrammingEntered("fxs-1", "ivan", 4.0) in keys(s, PIN + "#", 4.0)


def test_star_clears_a_mistyped_pin() -> None:
    s = session()
    s.start()
    s.on_prompt_finished(1.0)
    out = keys(s, "99*" + PIN + "#", 2.0)
    assert s.state is State.MAIN and any(isinstance(a, ProgrammingEntered) for a in out)


def test_pin_prefix_or_extension_is_wrong() -> None:
    s = session()
    s.start()
    assert any(isinstance(a, ProgrammingWrongPin) for a in keys(s, PIN[:3] + "#", 1.0))
    assert any(isinstance(a, ProgrammingWrongPin) for a in keys(s, PIN + "0#", 2.0))


def test_three_wrong_pins_lock_the_phone_and_end_the_call() -> None:
    guard = ProgrammingGuard(SETTINGS)
    s = session(guard=guard)
    s.start()
    keys(s, "0000#", 1.0)
    keys(s, "0001#", 2.0)
    out = keys(s, "0002#", 3.0)
    locked = [a for a in out if isinstance(a, ProgrammingLocked)]
    assert locked == [ProgrammingLocked("fxs-1", "ivan", 3, 3.0 + SETTINGS.lockout_s, 3.0)]
    assert said(out) == ["prog.pin_wrong", "prog.locked", "goodbye"]
    assert s.on_prompt_finished(5.0) == [Hangup()]
    # A new call from the same phone is refused, even before the PIN; another phone is not.
    again = session(10.0, guard)
    assert said(again.start()) == ["prog.locked", "goodbye"]
    assert said(session(10.0, guard, phone="dect-2").start()) == ["prog.enter_pin"]
    # The lock ends after lockout_s.
    later = session(3.0 + SETTINGS.lockout_s + 1, guard)
    assert said(later.start()) == ["prog.enter_pin"]


def test_hanging_up_between_tries_does_not_reset_the_count() -> None:
    guard = ProgrammingGuard(SETTINGS)
    first = session(guard=guard)
    first.start()
    keys(first, "0000#0001#", 1.0)
    first.on_hangup(2.0)
    second = session(5.0, guard)
    second.start()
    out = keys(second, "0002#", 6.0)
    assert any(isinstance(a, ProgrammingLocked) for a in out)


def test_failures_older_than_the_window_age_out() -> None:
    guard = ProgrammingGuard(SETTINGS)
    first = session(guard=guard)
    first.start()
    keys(first, "0000#0001#", 1.0)
    late = SETTINGS.failure_window_s + 10
    second = session(late, guard)
    second.start()
    out = keys(second, "0002#", late + 1)
    assert not any(isinstance(a, ProgrammingLocked) for a in out)
    assert said(out) == ["prog.pin_wrong", "prog.enter_pin"]


def test_pin_compare_does_not_short_circuit_on_length() -> None:
    guard = ProgrammingGuard(SETTINGS)
    assert guard.check(PIN)
    assert not guard.check(PIN * 2) and not guard.check("") and not guard.check(PIN[::-1])


# --- menu paths -------------------------------------------------------------------------------


def test_mode_night_is_set_and_logged_as_a_change() -> None:
    s = logged_in()
    assert said(keys(s, "1", 4.0)) == ["prog.mode_menu"]
    out = keys(s, "2", 5.0)
    assert out == [StopPrompt(), SetMode(StandardMode.NIGHT)]
    assert s.state is State.WAIT_RESULT
    out = s.on_result(Outcome.DONE, 5.5)
    assert ProgrammingChange(ChangeKind.MODE, "ivan", "night", "fxs-1", 5.5) in out
    assert said(out) == ["prog.done", "prog.main_menu"]


def test_mode_zero_returns_to_schedule() -> None:
    s = logged_in()
    keys(s, "1", 4.0)
    s.on_prompt_finished(5.0)
    assert keys(s, "0", 6.0) == [SetMode(None)]
    out = s.on_result(Outcome.DONE, 6.1)
    assert any(isinstance(a, ProgrammingChange) and a.detail == "schedule" for a in out)


def test_refused_change_is_said_and_not_logged() -> None:
    s = logged_in()
    keys(s, "14", 4.0)
    out = s.on_result(Outcome.REFUSED, 5.0, "mode switching disabled")
    assert not any(isinstance(a, ProgrammingChange) for a in out)
    assert said(out) == ["prog.refused", "prog.main_menu"]


def test_no_result_in_time_counts_as_refused_and_late_result_is_ignored() -> None:
    s = logged_in()
    keys(s, "13", 4.0)
    assert s.next_deadline() == 4.0 + SETTINGS.result_timeout_s
    out = s.handle_timers(4.0 + SETTINGS.result_timeout_s)
    assert said(out) == ["prog.refused", "prog.main_menu"]
    assert s.on_result(Outcome.DONE, 20.0) == []


def test_forward_always_for_an_extension() -> None:
    s = logged_in()
    assert said(keys(s, "2", 4.0)) == ["prog.enter_extension"]
    assert said(keys(s, "209#", 5.0)) == ["prog.forward_menu"]  # 9 is a digit here
    assert said(keys(s, "1", 6.0)) == ["prog.enter_target"]
    out = keys(s, "989161234567#", 7.0)
    assert out[-1] == SetForward("209", ForwardKind.ALWAYS, "989161234567")
    out = s.on_result(Outcome.DONE, 7.5)
    assert ProgrammingChange(ChangeKind.FORWARD, "ivan", "209 always 989161234567", "fxs-1",
                             7.5) in out


def test_forward_busy_and_no_answer_keys() -> None:
    for key, kind in (("2", ForwardKind.BUSY), ("3", ForwardKind.NO_ANSWER)):
        s = logged_in()
        out = keys(s, f"2201#{key}202#", 4.0)
        assert out[-1] == SetForward("201", kind, "202")


def test_forward_cancel() -> None:
    s = logged_in()
    out = keys(s, "2201#0", 4.0)
    assert out[-1] == CancelForward("201")
    out = s.on_result(Outcome.DONE, 5.0)
    assert any(isinstance(a, ProgrammingChange) and a.what is ChangeKind.FORWARD_CANCEL
               for a in out)


def test_star_during_digit_entry_goes_back_to_main() -> None:
    s = logged_in()
    out = keys(s, "220*", 4.0)
    assert said(out)[-1] == "prog.main_menu"
    assert s.state is State.MAIN
    assert said(keys(s, "#", 5.0)) == ["goodbye"]  # '#' in the main menu ends


def test_empty_extension_is_invalid() -> None:
    s = logged_in()
    keys(s, "2", 4.0)
    assert said(keys(s, "#", 5.0)) == ["invalid_option", "prog.enter_extension"]


def test_record_listen_and_keep_the_night_greeting() -> None:
    s = logged_in()
    assert said(keys(s, "3", 4.0)) == ["prog.greeting_menu"]
    out = keys(s, "2", 5.0)
    assert out == [StopPrompt(), PlayPrompt(("prog.record_after_tone",)), PlayBeep()]
    assert keys(s, "5", 5.5) == []  # keys during the beep do nothing
    assert s.on_prompt_finished(8.0) == [RecordGreeting("aa.greeting.night", 120.0)]
    assert s.on_digit("#", 20.0) == [StopRecording()]
    assert said(s.on_recording_finished(12.0, 20.1)) == ["prog.greeting_review"]
    s.on_prompt_finished(22.0)
    assert keys(s, "3", 23.0) == [PlayTake("aa.greeting.night")]
    assert said(s.on_prompt_finished(35.0)) == ["prog.greeting_review"]
    assert keys(s, "1", 36.0) == [StopPrompt(), KeepGreeting("aa.greeting.night")]
    out = s.on_result(Outcome.DONE, 36.2)
    assert ProgrammingChange(ChangeKind.GREETING, "ivan", "aa.greeting.night", "fxs-1",
                             36.2) in out
    assert not any(isinstance(a, DiscardGreeting) for a in out)


def test_re_record_discards_the_first_take() -> None:
    s = logged_in()
    keys(s, "31", 4.0)
    s.on_prompt_finished(6.0)
    s.on_recording_finished(5.0, 11.0)
    out = keys(s, "2", 12.0)
    assert DiscardGreeting("aa.greeting.day") in out and PlayBeep() in out


def test_too_short_take_is_dropped_and_greeting_menu_repeats() -> None:
    s = logged_in()
    keys(s, "34", 4.0)
    s.on_prompt_finished(6.0)
    out = s.on_recording_finished(0.3, 6.5)
    assert out[0] == DiscardGreeting("aa.greeting.holiday")
    assert said(out) == ["prog.nothing_recorded", "prog.greeting_menu"]


def test_leaving_review_without_keeping_drops_the_take() -> None:
    s = logged_in()
    keys(s, "33", 4.0)
    s.on_prompt_finished(6.0)
    s.on_recording_finished(5.0, 11.0)
    out = keys(s, "*", 12.0)
    assert DiscardGreeting("aa.greeting.lunch") in out and said(out) == ["prog.main_menu"]


def test_hanging_up_while_recording_drops_the_take() -> None:
    s = logged_in()
    keys(s, "31", 4.0)
    s.on_prompt_finished(6.0)
    assert s.on_hangup(7.0) == [StopRecording(), DiscardGreeting("aa.greeting.day")]
    assert s.handle_timers(1e6) == [] and s.next_deadline() is None


def test_recording_that_never_reports_its_end_is_stopped_and_dropped() -> None:
    s = logged_in()
    keys(s, "31", 4.0)
    s.on_prompt_finished(6.0)
    deadline = s.next_deadline()
    assert deadline is not None and deadline > 6.0 + SETTINGS.greeting_max_s
    assert s.handle_timers(deadline) == [StopRecording()]
    out = s.handle_timers(deadline + 10)
    assert out[0] == DiscardGreeting("aa.greeting.day")
    assert said(out) == ["prog.nothing_recorded", "prog.greeting_menu"]


def test_door_test_pulses_the_relay_and_says_done() -> None:
    s = logged_in()
    assert said(keys(s, "4", 4.0)) == ["prog.enter_door"]
    assert keys(s, "2", 5.0)[-1] == TestDoor(2)
    out = s.on_result(Outcome.DONE, 5.5)
    assert ProgrammingChange(ChangeKind.DOOR_TEST, "ivan", "2", "fxs-1", 5.5) in out
    assert said(out) == ["prog.done", "prog.main_menu"]


def test_ip_address_is_said_digit_by_digit_with_dots() -> None:
    s = logged_in()
    assert keys(s, "5", 4.0)[-1] == SayAddress()
    out = s.on_address("192.168.1.20", 4.1)
    assert said(out) == [
        "prog.address_is", "number.1", "number.9", "number.2", "prog.dot", "number.1",
        "number.6", "number.8", "prog.dot", "number.1", "prog.dot", "number.2", "number.0",
        "prog.main_menu",
    ]  # fmt: skip
    assert render(Language.EN, said(out)[:-1]) == (
        "The address of the system is one nine two dot one six eight dot one dot two zero")


def test_no_or_bad_address_is_said_as_such() -> None:
    for bad in ("", "fe80::1", "300.1.1.1", "10.0.0"):
        assert address_prompts(bad) == ["prog.no_address"]
    s = logged_in()
    keys(s, "5", 4.0)
    assert said(s.handle_timers(4.0 + SETTINGS.result_timeout_s)) == [
        "prog.no_address", "prog.main_menu"]


def test_hash_in_main_menu_says_goodbye_and_hangs_up() -> None:
    s = logged_in()
    assert said(keys(s, "#", 4.0)) == ["goodbye"]
    assert keys(s, "1", 4.5) == []
    assert s.on_prompt_finished(5.0) == [Hangup()]


def test_nine_goes_back_from_a_sub_menu() -> None:
    s = logged_in()
    keys(s, "1", 4.0)
    assert said(keys(s, "9", 5.0)) == ["prog.main_menu"] and s.state is State.MAIN


# --- timeouts and invalid keys ----------------------------------------------------------------


def test_silence_repeats_the_menu_then_ends_after_three_timeouts() -> None:
    s = logged_in()  # prompt ended at 3.0
    t = 3.0 + SETTINGS.input_timeout_s
    assert said(s.handle_timers(t - 0.01)) == []
    assert said(s.handle_timers(t)) == ["prog.main_menu"]
    s.on_prompt_finished(t + 5)
    t = t + 5 + SETTINGS.input_timeout_s
    assert said(s.handle_timers(t)) == ["prog.main_menu"]
    s.on_prompt_finished(t + 5)
    t = t + 5 + SETTINGS.input_timeout_s
    assert said(s.handle_timers(t)) == ["goodbye"]
    assert s.on_prompt_finished(t + 1) == [Hangup()]


def test_a_key_resets_the_timeout_count() -> None:
    s = logged_in()
    t = 3.0 + SETTINGS.input_timeout_s
    s.handle_timers(t)
    s.on_prompt_finished(t + 1)
    s.handle_timers(t + 1 + SETTINGS.input_timeout_s)
    s.on_prompt_finished(t + 2 + SETTINGS.input_timeout_s)
    keys(s, "*", t + 3 + SETTINGS.input_timeout_s)  # repeat: the installer is there
    s.on_prompt_finished(t + 4 + SETTINGS.input_timeout_s)
    out = s.handle_timers(t + 4 + 2 * SETTINGS.input_timeout_s)
    assert said(out) == ["prog.main_menu"]


def test_invalid_key_is_told_and_the_menu_repeats() -> None:
    s = logged_in()
    assert said(keys(s, "7", 4.0)) == ["invalid_option", "prog.main_menu"]
    keys(s, "1", 5.0)
    assert said(keys(s, "6", 6.0)) == ["invalid_option", "prog.mode_menu"]


def test_too_many_invalid_keys_end_the_session() -> None:
    s = logged_in()
    out = keys(s, "6" * SETTINGS.max_invalid, 4.0)
    assert said(out)[-2:] == ["invalid_option", "goodbye"] and s.state is State.CLOSING


def test_prompt_end_never_reported_still_starts_the_timeout() -> None:
    s = session()
    s.start()
    assert s.next_deadline() == SETTINGS.prompt_max_s
    assert s.handle_timers(SETTINGS.prompt_max_s) == []
    assert s.next_deadline() == SETTINGS.prompt_max_s + SETTINGS.input_timeout_s


def test_session_limit_ends_even_a_busy_installer() -> None:
    s = logged_in()
    t = 4.0
    while t < SETTINGS.session_max_s:
        keys(s, "*", t)
        s.on_prompt_finished(t + 1)
        t += 5
    out = s.handle_timers(SETTINGS.session_max_s)
    assert said(out) == ["goodbye"]
    assert s.handle_timers(SETTINGS.session_max_s + 10) == [StopPrompt(), Hangup()]


# --- prompts and settings ---------------------------------------------------------------------


def test_every_prompt_the_session_says_is_in_both_catalogs() -> None:
    ids = {p for p in CATALOG[Language.EN] if p.startswith("prog.")}
    assert len(ids) >= 19
    for language in Language:
        for p in [*ids, *SETTINGS.greeting_ids, "invalid_option", "goodbye",
                  *(f"number.{d}" for d in range(10))]:
            assert p in CATALOG[language], (language, p)


def test_settings_problems() -> None:
    assert ProgrammingSettings(pin="12").problems()
    assert ProgrammingSettings(pin="12a4").problems()
    assert not ProgrammingSettings(pin="123456").problems()
    assert ProgrammingSettings(greeting_ids=("a", "a", "b", "c")).problems()


# --- the session always ends ------------------------------------------------------------------

_STEP = st.one_of(
    st.tuples(st.just("digit"), st.sampled_from("0123456789*#")),
    st.tuples(st.just("wait"), st.floats(0.0, 40.0)),
    st.tuples(st.just("prompt_end"), st.just("")),
)


def _drive(s: ProgrammingSession, out: list[ProgrammingAction], now: float,
           cooperative: bool, outcome: Outcome) -> list[ProgrammingAction]:
    """Play the lead: answer what the session asked for (if cooperative)."""
    follow: list[ProgrammingAction] = []
    if not cooperative:
        return follow
    for action in out:
        if isinstance(action, SetMode | SetForward | CancelForward | KeepGreeting | TestDoor):
            follow += s.on_result(outcome, now)
        elif isinstance(action, SayAddress):
            follow += s.on_address("10.0.0.1", now)
        elif isinstance(action, StopRecording) and s.state is State.STOPPING:
            follow += s.on_recording_finished(3.0, now)
    return follow


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(_STEP, max_size=120), cooperative=st.booleans(),
       refuse=st.booleans())
def test_any_key_sequence_reaches_hangup_within_bound(
        steps: list[tuple[str, object]], cooperative: bool, refuse: bool) -> None:
    outcome = Outcome.REFUSED if refuse else Outcome.DONE
    s = session()
    now = 0.0
    actions: list[ProgrammingAction] = list(s.start())
    keys_given = PIN + "#"
    for d in keys_given[: len(steps) % 6]:  # sometimes log in, sometimes not
        actions += s.on_digit(d, now)
    for kind, value in steps:
        if kind == "digit":
            assert isinstance(value, str)
            out = s.on_digit(value, now)
        elif kind == "wait":
            assert isinstance(value, float)
            now += value
            out = s.handle_timers(now)
        else:
            out = s.on_prompt_finished(now)
        out += _drive(s, out, now, cooperative, outcome)
        actions += out
        if s.state is State.DONE:
            break
    # From now on nobody presses anything: the session must hang up by itself, at its deadlines.
    idle_from = now
    guard = 0
    while s.state is not State.DONE:
        deadline = s.next_deadline()
        assert deadline is not None, s.state
        assert deadline >= now - 1e-9
        now = deadline
        out = s.handle_timers(now)
        out += _drive(s, out, now, cooperative, outcome)
        actions += out
        guard += 1
        assert guard < 50, s.state
    # Worst idle path: a take recording to its limit, then three unreported prompts each
    # followed by an input timeout, then goodbye.
    idle_bound_s = (SETTINGS.greeting_max_s + 10.0 + SETTINGS.result_timeout_s
                    + SETTINGS.max_timeouts * (SETTINGS.prompt_max_s + SETTINGS.input_timeout_s)
                    + SETTINGS.prompt_max_s + 10.0)
    assert now <= min(SETTINGS.session_max_s + 10.0, idle_from + idle_bound_s) + 1e-6
    assert sum(isinstance(a, Hangup) for a in actions) == 1
    assert isinstance(actions[-1], Hangup) or s.state is State.DONE
    # A take is never left behind: each RecordGreeting ends kept or discarded.
    recorded = sum(isinstance(a, RecordGreeting) for a in actions)
    settled = sum(isinstance(a, DiscardGreeting) for a in actions) + sum(
        isinstance(a, ProgrammingChange) and a.what is ChangeKind.GREETING for a in actions)
    assert recorded == settled
