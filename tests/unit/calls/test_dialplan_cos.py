"""Class of service decisions, fraud guardrails by default, and the forward-escape case."""

from __future__ import annotations

import pytest

from firmware.calls.cos import (
    GUARDED_CLASSES,
    INTERNAL_ONLY,
    STANDARD,
    Action,
    CallRequest,
    ClassOfService,
    CosPolicy,
    DenyReason,
    Destination,
    Limits,
    Subject,
    SubjectKind,
    decide,
    destination_of,
)
from firmware.calls.dialplan import (
    ArgumentKind,
    DialPlan,
    Extension,
    FeatureCode,
    FeatureTarget,
    TrunkAccess,
)
from firmware.calls.numbers import NumberClass, NumberingContext

C = NumberClass
ALICE = Subject(SubjectKind.EXTENSION, "201")  # standard class
LOBBY = Subject(SubjectKind.EXTENSION, "299")  # internal only
BOSS = Subject(SubjectKind.EXTENSION, "200")  # may call abroad
CITY_IN = Subject(SubjectKind.INBOUND, "city")
DISA = Subject(SubjectKind.DISA, "road-warriors")

WORLD = ClassOfService("world", STANDARD.number_classes | {C.INTERNATIONAL})
POLICY = CosPolicy(
    classes=(STANDARD, INTERNAL_ONLY, WORLD,
             ClassOfService("city_only", STANDARD.number_classes, frozenset({"city"}))),
    assignments={LOBBY: "internal_only", BOSS: "world"},
)
PLAN = DialPlan(
    numbering=NumberingContext("RU", "495"),
    extensions=(Extension("200", "boss"), Extension("201", "alice"), Extension("299", "lobby")),
    features=(FeatureCode("*72", "forward_always", ArgumentKind.DESTINATION),),
    trunk_access=(TrunkAccess("9", "city"), TrunkAccess("7", "sip")),
)


def out(number_class: NumberClass, group: str = "city") -> Destination:
    return Destination(number_class, group, "x")


def call(who: Subject, dest: Destination, action: Action = Action.CALL,
         via: tuple[Subject, ...] = ()) -> CallRequest:
    return CallRequest(action, who, dest, via)


def dialled(digits: str) -> Destination:
    found = PLAN.resolve(digits)
    assert found.target is not None, found
    return destination_of(found.target)


@pytest.mark.parametrize(
    ("digits", "allowed"),
    [
        ("200", True),  # internal
        ("91234567", True),  # local
        ("988121234567", True),  # long distance
        ("989161234567", True),  # mobile
        ("988001234567", True),  # toll free
        ("9810442079460958", False),  # international: guardrail
        ("988091234567", False),  # premium: guardrail
        ("980001234567", False),  # unknown to phonenumbers: guardrail
        ("112", True),
    ],
)
def test_default_class_of_service_denies_international_premium_and_unknown(
    digits: str, allowed: bool
) -> None:
    assert decide(CosPolicy(), call(ALICE, dialled(digits))).allowed is allowed


def test_guarded_classes_are_not_in_the_default_class() -> None:
    assert not GUARDED_CLASSES & STANDARD.number_classes
    assert {C.INTERNATIONAL, C.PREMIUM, C.SHARED_COST, C.UNKNOWN} == GUARDED_CLASSES


def test_denial_names_the_party_and_the_class() -> None:
    decision = decide(POLICY, call(ALICE, dialled("9810442079460958")))
    assert (decision.reason, decision.subject) == (DenyReason.NUMBER_CLASS, ALICE)
    assert decision.detail == ("extension 201 (class of service standard) may not reach "
                               "international numbers")


def test_enabling_international_for_one_class() -> None:
    assert decide(POLICY, call(BOSS, dialled("9810442079460958"))).allowed
    assert not decide(POLICY, call(BOSS, dialled("988091234567"))).allowed  # premium still off


@pytest.mark.parametrize("who", [ALICE, LOBBY, BOSS, DISA, CITY_IN])
@pytest.mark.parametrize("digits", ["112", "01", "9112", "9103"])
def test_emergency_always_allowed(who: Subject, digits: str) -> None:
    assert decide(POLICY, call(who, dialled(digits))).allowed


def test_emergency_allowed_even_for_a_class_that_forgot_it() -> None:
    bare = CosPolicy(classes=(ClassOfService("bare", frozenset(), frozenset()),),
                     default_class="bare")
    assert decide(bare, call(ALICE, Destination(C.EMERGENCY, None, "112"))).allowed
    assert not decide(bare, call(ALICE, Destination(C.INTERNAL))).allowed


def test_internal_only_phone() -> None:
    assert decide(POLICY, call(LOBBY, dialled("201"))).allowed
    decision = decide(POLICY, call(LOBBY, dialled("91234567")))
    assert (decision.allowed, decision.subject) == (False, LOBBY)


def test_trunk_group_restriction() -> None:
    policy = CosPolicy(classes=POLICY.classes, assignments={ALICE: "city_only"})
    assert decide(policy, call(ALICE, dialled("91234567"))).allowed
    decision = decide(policy, call(ALICE, dialled("71234567")))
    assert decision.reason is DenyReason.TRUNK_GROUP
    assert decision.detail == ("extension 201 (class of service city_only) may not use trunk "
                               "group sip")


def test_unknown_class_name_fails_closed() -> None:
    policy = CosPolicy(assignments={ALICE: "typo"})
    assert policy.cos_for(ALICE) is INTERNAL_ONLY
    assert not decide(policy, call(ALICE, out(C.LOCAL))).allowed
    assert policy.problems() == ["extension 201 has class of service 'typo', which does not exist"]


# --- the forward escape -------------------------------------------------------------------------


def test_restricted_phone_cannot_escape_through_another_extensions_forward() -> None:
    # The lobby phone calls Alice; Alice forwards to a mobile. The lobby's class applies to the
    # forwarded destination: it may not reach mobiles, so the forward is refused.
    mobile = dialled("989161234567")
    assert decide(POLICY, call(ALICE, mobile)).allowed
    decision = decide(POLICY, call(LOBBY, mobile, Action.FORWARD, via=(ALICE,)))
    assert (decision.allowed, decision.subject) == (False, LOBBY)


def test_forward_abroad_needs_the_forwarding_extension_class_too() -> None:
    # Boss may call abroad; Alice may not. A call from Boss to Alice forwarded abroad is
    # refused by Alice's class: the forward is hers.
    abroad = dialled("9810442079460958")
    decision = decide(POLICY, call(BOSS, abroad, Action.FORWARD, via=(ALICE,)))
    assert (decision.allowed, decision.subject) == (False, ALICE)


def test_external_caller_forwarded_to_a_mobile_needs_the_inbound_class() -> None:
    mobile = dialled("989161234567")
    assert decide(POLICY, call(CITY_IN, mobile, Action.FORWARD, via=(ALICE,))).allowed
    no_call_through = CosPolicy(classes=POLICY.classes, assignments={CITY_IN: "internal_only"})
    decision = decide(no_call_through, call(CITY_IN, mobile, Action.FORWARD, via=(ALICE,)))
    assert (decision.allowed, decision.subject) == (False, CITY_IN)


def test_forward_set_up_from_a_restricted_phone_is_refused_at_the_feature_code() -> None:
    found = PLAN.match("*72989161234567")
    assert isinstance(found.target, FeatureTarget) and found.target.destination is not None
    dest = destination_of(found.target.destination)
    assert dest.number_class is C.MOBILE
    assert not decide(POLICY, call(LOBBY, dest, Action.FORWARD)).allowed
    assert decide(POLICY, call(ALICE, dest, Action.FORWARD)).allowed


def test_follow_me_and_transfer_apply_the_same_classes() -> None:
    abroad = dialled("9810442079460958")
    for action in (Action.FOLLOW_ME, Action.TRANSFER):
        assert not decide(POLICY, call(CITY_IN, abroad, action, via=(BOSS,))).allowed
        assert not decide(POLICY, call(ALICE, abroad, action, via=(BOSS,))).allowed
        assert decide(POLICY, call(BOSS, abroad, action, via=(BOSS,))).allowed


def test_disa_uses_the_disa_profile_class() -> None:
    policy = CosPolicy(classes=POLICY.classes, assignments={DISA: "internal_only"})
    assert decide(policy, call(DISA, dialled("201"), Action.DISA)).allowed
    assert not decide(policy, call(DISA, dialled("91234567"), Action.DISA)).allowed
    assert decide(policy, call(DISA, dialled("112"), Action.DISA)).allowed


def test_forwarding_to_an_emergency_number_is_refused_but_transfer_is_not() -> None:
    found = PLAN.match("*729112")
    assert isinstance(found.target, FeatureTarget) and found.target.destination is not None
    emergency = destination_of(found.target.destination)
    for action in (Action.FORWARD, Action.FOLLOW_ME):
        decision = decide(POLICY, call(CITY_IN, emergency, action, via=(ALICE,)))
        assert (decision.reason, decision.subject) == (DenyReason.EMERGENCY_REDIRECT, ALICE)
    assert decide(POLICY, call(CITY_IN, emergency, Action.TRANSFER, via=(ALICE,))).allowed


def test_policy_problems() -> None:
    policy = CosPolicy(
        classes=(STANDARD, ClassOfService("x", trunk_groups=frozenset({"nope"}),
                                          limits=Limits(calls_per_hour=0))),
        default_class="missing",
        route_limits={"city": Limits(cost_per_day_minor=-5)},
    )
    found = policy.problems(trunk_groups=frozenset({"city"}))
    assert "default class of service 'missing' does not exist" in found
    assert "class of service 'x' names unknown trunk groups nope" in found
    assert "class of service 'x': limits must be at least 1 (or none)" in found
    assert "route 'city': limits must be at least 1 (or none)" in found
