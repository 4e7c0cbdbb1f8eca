"""The state table is data: check it whole, against an independent model of what each action
does to the line's calls, rather than one path at a time."""

from __future__ import annotations

import dataclasses
from collections import deque

import pytest

from firmware.calls import analog
from firmware.calls.analog import Act, LineSettings, LineTone, Signal, Slot, State
from firmware.media.dsp.tones import ToneKind

A = Act
ACTIVE, HELD, WAITING, RINGING = Slot.ACTIVE, Slot.HELD, Slot.WAITING, Slot.RINGING

# What each action needs and leaves, written from the action's contract in the docstring.
#   act: (slots it needs, slots it needs empty, slots it removes, slots it adds)
EFFECTS: dict[Act, tuple[set[Slot], set[Slot], set[Slot], set[Slot]]] = {
    A.NEW_COLLECTOR: (set(), set(), set(), set()),
    A.DIAL: (set(), {ACTIVE}, set(), {ACTIVE}),
    A.TAKE_INCOMING: (set(), {RINGING}, set(), {RINGING}),
    A.TAKE_WAITING: (set(), {WAITING}, set(), {WAITING}),
    A.ANSWER_RINGING: ({RINGING}, {ACTIVE}, {RINGING}, {ACTIVE}),
    A.ANSWER_WAITING: ({WAITING}, {ACTIVE}, {WAITING}, {ACTIVE}),
    A.WAITING_TO_RINGING: ({WAITING}, {RINGING}, {WAITING}, {RINGING}),
    A.HOLD_ACTIVE: ({ACTIVE}, {HELD}, {ACTIVE}, {HELD}),
    A.HOLD_IN_PLACE: ({ACTIVE}, set(), set(), set()),
    A.CONNECT_ACTIVE: ({ACTIVE}, set(), set(), set()),
    A.RETRIEVE_HELD: ({HELD}, {ACTIVE}, {HELD}, {ACTIVE}),
    A.SWAP: ({ACTIVE, HELD}, set(), set(), set()),
    A.SPLIT: ({ACTIVE, HELD}, set(), set(), set()),
    A.CONFERENCE: ({ACTIVE, HELD}, set(), set(), set()),
    A.TRANSFER: ({ACTIVE, HELD}, set(), {ACTIVE, HELD}, set()),
    A.RELEASE_ACTIVE: ({ACTIVE}, set(), {ACTIVE}, set()),
    A.DROP_ACTIVE: ({ACTIVE}, set(), {ACTIVE}, set()),
    A.RELEASE_HELD: ({HELD}, set(), {HELD}, set()),
    A.EXPIRE_HELD: ({HELD}, set(), {HELD}, set()),
    A.DROP_HELD: ({HELD}, set(), {HELD}, set()),
    A.REJECT_WAITING: ({WAITING}, set(), {WAITING}, set()),
    A.EXPIRE_WAITING: ({WAITING}, set(), {WAITING}, set()),
    A.DROP_WAITING: ({WAITING}, set(), {WAITING}, set()),
    A.DROP_RINGING: ({RINGING}, set(), {RINGING}, set()),
    A.RELEASE_ALL: (set(), set(), set(Slot), set()),
}
ROWS = sorted(analog._TRANSITIONS.items(), key=lambda kv: (kv[0][0].value, kv[0][1].value))


def test_every_action_has_a_modelled_effect() -> None:
    assert set(EFFECTS) == set(Act)


@pytest.mark.parametrize(("key", "step"), ROWS, ids=[f"{s.value}-{g.value}" for (s, g), _ in ROWS])
def test_each_transition_leaves_the_calls_its_target_state_holds(
        key: tuple[State, Signal], step: tuple[State, tuple[Act, ...]]) -> None:
    (state, _signal), (target, acts) = key, step
    slots = set(analog._SLOTS[state])
    for act in acts:
        needs, needs_empty, removes, adds = EFFECTS[act]
        assert needs <= slots, f"{act.name} needs {needs} in {state.value}"
        assert not (needs_empty & slots), f"{act.name} needs {needs_empty} free in {state.value}"
        slots = (slots - removes) | adds
    assert slots == set(analog._SLOTS[target])


def test_every_state_is_reachable_from_idle() -> None:
    seen, queue = {State.IDLE}, deque([State.IDLE])
    while queue:
        state = queue.popleft()
        for (source, _), (target, _) in analog._TRANSITIONS.items():
            if source is state and target not in seen:
                seen.add(target)
                queue.append(target)
    assert seen == set(State)


@pytest.mark.parametrize("state", list(State))
def test_every_call_a_state_holds_can_end_from_the_far_side(state: State) -> None:
    for slot in analog._SLOTS[state]:
        assert (state, analog._GONE[slot]) in analog._TRANSITIONS


@pytest.mark.parametrize("state", sorted(set(State) - analog.ON_HOOK_STATES))
def test_every_off_hook_state_handles_hang_up_and_the_alarm(state: State) -> None:
    assert (state, Signal.ON_HOOK) in analog._TRANSITIONS
    assert analog._TRANSITIONS[(state, Signal.ALARM)][0] is State.OUT_OF_SERVICE


def test_on_hook_states_answer_a_lift_except_out_of_service() -> None:
    for state in analog.ON_HOOK_STATES - {State.OUT_OF_SERVICE}:
        assert (state, Signal.OFF_HOOK) in analog._TRANSITIONS


@pytest.mark.parametrize("state", list(State))
def test_a_state_times_out_exactly_when_it_has_a_timer(state: State) -> None:
    timed = state in analog._TIMEOUTS or state in analog._WAITING_TIMED
    assert ((state, Signal.TIMEOUT) in analog._TRANSITIONS) == timed


def test_no_tone_plays_in_an_on_hook_state() -> None:
    assert not (set(analog._TONES) & analog.ON_HOOK_STATES)


def test_r_code_states_take_every_code() -> None:
    for state in analog._CODE_STATES:
        for signal in (Signal.R0, Signal.R1, Signal.R2, Signal.R3, Signal.R4, Signal.R_OTHER,
                       Signal.FLASH, Signal.TIMEOUT, Signal.ON_HOOK):
            assert (state, signal) in analog._TRANSITIONS


def test_line_tones_are_the_tone_plans_kinds_plus_the_howler() -> None:
    assert {t.tone_kind for t in LineTone} - {None} == set(ToneKind)
    assert LineTone.HOWLER.tone_kind is None
    assert all(t.tone_kind is None or t.tone_kind.value == t.value for t in LineTone)


def test_setting_defaults_lie_within_their_bounds() -> None:
    defaults = LineSettings()
    for f in dataclasses.fields(LineSettings):
        if "min" in f.metadata:
            assert f.metadata["min"] <= getattr(defaults, f.name) <= f.metadata["max"], f.name
