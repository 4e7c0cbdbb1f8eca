"""Call diversion: DND, always/busy/no-answer/not-reachable, follow-me, class of service on the
target (no escape through a forward), loops and hop limit, no-answer timer, JSON round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.calls.cos import (
    INTERNAL_ONLY,
    STANDARD,
    Action,
    ClassOfService,
    CosPolicy,
    Subject,
    SubjectKind,
)
from firmware.calls.dialplan import (
    Department,
    DialPlan,
    Extension,
    MatchState,
    Target,
    TrunkAccess,
)
from firmware.calls.events import CallId
from firmware.calls.numbers import NumberClass, NumberingContext
from firmware.features.forwarding import (
    DiversionReason,
    DiversionRefused,
    ForwardingTable,
    ForwardKind,
    ForwardRefusal,
    NoAnswerDiverted,
    Refusal,
    UserForwarding,
    from_json,
)

PLAN = DialPlan(
    numbering=NumberingContext("RU", "495"),
    extensions=(Extension("200", "boss"), Extension("201", "alice"), Extension("202", "bob"),
                Extension("203", "carol"), Extension("204", "dave"), Extension("299", "lobby")),
    departments=(Department("600", "sales"),),
    trunk_access=(TrunkAccess("9", "city"),),
)
EXT = {e.user: e.number for e in PLAN.extensions}
WORLD = ClassOfService("world", STANDARD.number_classes | {NumberClass.INTERNATIONAL})


def subject(user: str) -> Subject:
    return Subject(SubjectKind.EXTENSION, EXT[user])


POLICY = CosPolicy(classes=(STANDARD, INTERNAL_ONLY, WORLD),
                   assignments={subject("lobby"): "internal_only", subject("boss"): "world"})
INTERNATIONAL = "9810442079460958"   # 9, then 8-10 44 20 7946 0958 (London)
MOBILE = "989161234567"


def resolve(number: str) -> Target | None:
    match = PLAN.resolve(number)
    return match.target if match.state is MatchState.COMPLETE else None


def table() -> ForwardingTable:
    return ForwardingTable(POLICY, resolve, subject)


def events(t: ForwardingTable) -> list[object]:
    out = []
    while (ev := t.next_event()) is not None:
        out.append(ev)
    return out


def test_no_settings_means_no_diversion() -> None:
    t = table()
    for reason in DiversionReason:
        assert t.divert("alice", reason, 0.0) is None


def test_dnd_wins_over_forwards() -> None:
    t = table()
    t.set("alice", ForwardKind.ALWAYS, "202")
    t.set("alice", ForwardKind.DND)
    d = t.divert("alice", DiversionReason.ALWAYS, 0.0)
    assert d is not None and d.kind is ForwardKind.DND and d.targets == ()
    assert t.no_answer_s("alice") is None
    t.cancel("alice", ForwardKind.DND)
    d = t.divert("alice", DiversionReason.ALWAYS, 0.0)
    assert d is not None and d.kind is ForwardKind.ALWAYS and d.targets[0].user == "bob"


def test_each_reason_uses_its_own_target() -> None:
    t = table()
    assert t.set("alice", ForwardKind.BUSY, "202") is None
    assert t.set("alice", ForwardKind.NO_ANSWER, "600") is None
    assert t.divert("alice", DiversionReason.ALWAYS, 0.0) is None
    busy = t.divert("alice", DiversionReason.BUSY, 0.0)
    assert busy is not None and [x.number for x in busy.targets] == ["202"]
    noans = t.divert("alice", DiversionReason.NO_ANSWER, 0.0)
    assert noans is not None and noans.targets[0].number == "600"
    assert noans.targets[0].user is None                       # a department
    # Not reachable falls back to the no-answer target, until its own is set.
    unreach = t.divert("alice", DiversionReason.NOT_REACHABLE, 0.0)
    assert unreach is not None and unreach.targets[0].number == "600"
    t.set("alice", ForwardKind.NOT_REACHABLE, MOBILE)
    unreach = t.divert("alice", DiversionReason.NOT_REACHABLE, 0.0)
    assert unreach is not None and unreach.targets[0].number == MOBILE
    assert unreach.targets[0].request.destination.number_class is NumberClass.MOBILE


def test_forward_to_a_mobile_through_a_trunk_carries_the_cos_request() -> None:
    t = table()
    t.set("alice", ForwardKind.ALWAYS, MOBILE)
    caller = Subject(SubjectKind.INBOUND, "city")
    d = t.divert("alice", DiversionReason.ALWAYS, 0.0, caller=caller)
    assert d is not None
    request = d.targets[0].request
    assert request.action is Action.FORWARD
    assert request.originator == caller and request.redirected_by == (subject("alice"),)
    assert request.destination.trunk_group == "city"


def test_restricted_user_cannot_set_a_forward_abroad() -> None:
    t = table()
    refusal = t.set("alice", ForwardKind.ALWAYS, INTERNATIONAL)
    assert refusal is not None and refusal.reason is ForwardRefusal.CLASS_OF_SERVICE
    assert t.state("alice") == UserForwarding()
    lobby = t.set("lobby", ForwardKind.ALWAYS, MOBILE)          # internal only
    assert lobby is not None and lobby.reason is ForwardRefusal.CLASS_OF_SERVICE
    assert t.set("boss", ForwardKind.ALWAYS, INTERNATIONAL) is None


def test_a_forward_stored_before_a_restriction_is_refused_when_used() -> None:
    t = table()
    assert t.set("alice", ForwardKind.ALWAYS, MOBILE) is None
    t.policy = CosPolicy(classes=(STANDARD, INTERNAL_ONLY),
                         assignments={subject("alice"): "internal_only"})
    assert t.divert("alice", DiversionReason.ALWAYS, 3.0) is None     # rings alice instead
    [ev] = events(t)
    assert isinstance(ev, DiversionRefused)
    assert ev.refusal.reason is ForwardRefusal.CLASS_OF_SERVICE and ev.at == 3.0


def test_restricted_caller_cannot_escape_through_anothers_forward() -> None:
    t = table()
    t.set("boss", ForwardKind.ALWAYS, INTERNATIONAL)
    assert t.divert("boss", DiversionReason.ALWAYS, 0.0, caller=subject("boss")) is not None
    assert t.divert("boss", DiversionReason.ALWAYS, 0.0, caller=subject("lobby")) is None
    [ev] = events(t)
    assert isinstance(ev, DiversionRefused) and "299" in ev.refusal.detail


def test_forward_to_emergency_number_is_refused() -> None:
    t = table()
    refusal = t.set("alice", ForwardKind.ALWAYS, "9112")
    assert refusal is not None and refusal.reason is ForwardRefusal.CLASS_OF_SERVICE


def test_unknown_numbers_and_self_forward_are_refused() -> None:
    t = table()
    assert t.set("alice", ForwardKind.ALWAYS, "777") == Refusal(
        ForwardRefusal.UNKNOWN_NUMBER, "777", "'777' is not a number that can be called")
    self_fwd = t.set("alice", ForwardKind.BUSY, "201")
    assert self_fwd is not None and self_fwd.reason is ForwardRefusal.SELF


def test_loop_a_to_b_to_a_is_refused_and_b_rings() -> None:
    t = table()
    t.set("alice", ForwardKind.ALWAYS, "202")
    t.set("bob", ForwardKind.ALWAYS, "201")
    first = t.divert("alice", DiversionReason.ALWAYS, 0.0)
    assert first is not None and first.chain == ("alice",) and first.targets[0].user == "bob"
    assert t.divert("bob", DiversionReason.ALWAYS, 0.0, chain=first.chain) is None
    [ev] = events(t)
    assert isinstance(ev, DiversionRefused) and ev.refusal.reason is ForwardRefusal.LOOP


def test_at_most_three_hops() -> None:
    t = table()
    t.set("alice", ForwardKind.ALWAYS, "202")
    t.set("bob", ForwardKind.ALWAYS, "203")
    t.set("carol", ForwardKind.ALWAYS, "204")
    t.set("dave", ForwardKind.ALWAYS, "200")
    chain: tuple[str, ...] = ()
    user: str | None = "alice"
    hops = 0
    while user is not None:
        d = t.divert(user, DiversionReason.ALWAYS, 0.0, chain=chain)
        if d is None:
            break
        hops += 1
        chain, user = d.chain, d.targets[0].user
    assert hops == 3 and user == "dave"
    [ev] = events(t)
    assert isinstance(ev, DiversionRefused) and ev.refusal.reason is ForwardRefusal.MAX_HOPS


def test_follow_me_rings_numbers_in_turn_and_drops_refused_ones() -> None:
    t = table()
    assert t.set("alice", ForwardKind.FOLLOW_ME, ("202", MOBILE)) is None
    d = t.divert("alice", DiversionReason.ALWAYS, 0.0)
    assert d is not None and d.kind is ForwardKind.FOLLOW_ME and d.step_s == 20.0
    assert [x.number for x in d.targets] == ["202", MOBILE]
    assert d.targets[1].request.action is Action.FOLLOW_ME
    # A caller restricted to internal calls gets only the internal step.
    d = t.divert("alice", DiversionReason.ALWAYS, 0.0, caller=subject("lobby"))
    assert d is not None and [x.number for x in d.targets] == ["202"]
    refused = t.set("alice", ForwardKind.FOLLOW_ME, ("202", "203", "204", "200", "600", "299"))
    assert refused is not None and refused.reason is ForwardRefusal.TOO_MANY_NUMBERS


def test_forward_always_wins_over_follow_me() -> None:
    t = table()
    t.set("alice", ForwardKind.FOLLOW_ME, ("202",))
    t.set("alice", ForwardKind.ALWAYS, "203")
    d = t.divert("alice", DiversionReason.ALWAYS, 0.0)
    assert d is not None and d.kind is ForwardKind.ALWAYS
    t.cancel("alice", ForwardKind.ALWAYS)
    d = t.divert("alice", DiversionReason.ALWAYS, 0.0)
    assert d is not None and d.kind is ForwardKind.FOLLOW_ME
    t.cancel("alice")
    assert t.state("alice") == UserForwarding()


def test_no_answer_timer_fires_after_default_15_s() -> None:
    t = table()
    t.set("alice", ForwardKind.NO_ANSWER, "202")
    assert t.no_answer_s("alice") == 15.0
    t.ringing(CallId("c1"), "alice", 100.0)
    t.ringing(CallId("c2"), "bob", 100.0)      # bob has nothing set: no timer
    assert t.next_deadline() == 115.0
    t.handle_timers(114.99)
    assert events(t) == []
    t.handle_timers(115.0)
    [ev] = events(t)
    assert isinstance(ev, NoAnswerDiverted) and ev.call == CallId("c1")
    assert ev.diversion.targets[0].number == "202" and t.next_deadline() is None


def test_answered_call_is_not_diverted_and_custom_delay_applies() -> None:
    t = table()
    t.set("alice", ForwardKind.NO_ANSWER, "202", no_answer_s=25.0)
    t.ringing(CallId("c1"), "alice", 0.0)
    assert t.next_deadline() == 25.0
    t.stopped(CallId("c1"))
    t.handle_timers(30.0)
    assert events(t) == []
    with pytest.raises(ValueError):
        t.set("alice", ForwardKind.NO_ANSWER, "202", no_answer_s=2.0)


def test_json_round_trip_survives_a_restart() -> None:
    t = table()
    t.set("alice", ForwardKind.NO_ANSWER, MOBILE, no_answer_s=30.0)
    t.set("alice", ForwardKind.FOLLOW_ME, ("202", "600"))
    t.set("bob", ForwardKind.DND)
    text = t.to_json()
    assert json.loads(text)["version"] == 1
    restored = table()
    restored.load_json(text)
    for user in ("alice", "bob", "carol"):
        assert restored.state(user) == t.state(user)
    assert restored.state("alice").no_answer_s == 30.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "top level"),
        ('{"version": 2, "users": {}}', "version 2"),
        ('{"users": {}}', "version None"),
        ('{"version": 1, "users": []}', "'users' must be an object"),
        ('{"version": 1, "users": {"alice": {"dnd": "yes"}}}', "users.alice.dnd must be bool"),
        ('{"version": 1, "users": {"alice": {"colour": 1}}}', "unknown keys colour"),
        ('{"version": 1, "users": {"alice": {"no_answer_s": 1}}}', "no_answer_s must be 5-120"),
        ('{"version": 1, "users": {"a": {"follow_me": [1]}}}', "follow_me must be at most"),
    ],
)
def test_bad_json_raises_a_clear_value_error(text: str, message: str) -> None:
    t = table()
    t.set("alice", ForwardKind.DND)
    with pytest.raises(ValueError, match=message):
        t.load_json(text)
    assert t.state("alice").dnd      # unchanged


_numbers = st.sampled_from(["", "202", "600", MOBILE, "203"])


@settings(max_examples=60, deadline=None)
@given(dnd=st.booleans(), always=_numbers, busy=_numbers, no_answer=_numbers,
       delay=st.floats(5.0, 120.0), follow=st.lists(_numbers.filter(bool), max_size=5))
def test_any_state_round_trips(dnd: bool, always: str, busy: str, no_answer: str,
                               delay: float, follow: list[str]) -> None:
    state = UserForwarding(dnd, always, busy, no_answer, delay, "", tuple(follow))
    t = table()
    t._users["alice"] = state
    assert from_json(t.to_json())["alice"] == state
