"""Properties: any dialled string gives a decision, never an exception, and the answers agree.

- `classify`, `completeness` and `DialPlan.match`/`resolve` answer any text;
- a match is well formed (COMPLETE has a target, INCOMPLETE a timeout, INVALID a reason);
- overlap dialling of a string ends where en-bloc resolution of it does;
- a COMPLETE external number is never UNKNOWN, and the collector's deadline never lies in the
  past of the last digit.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.calls.cos import Action, CallRequest, CosPolicy, Subject, SubjectKind, decide
from firmware.calls.cos import destination_of as dest_of
from firmware.calls.dialplan import (
    ArgumentKind,
    Department,
    DialPlan,
    DigitCollector,
    Extension,
    ExternalTarget,
    FeatureCode,
    Match,
    MatchState,
    TrunkAccess,
)
from firmware.calls.numbers import (
    Completeness,
    NumberClass,
    NumberingContext,
    classify,
    completeness,
)

CONTEXTS = [NumberingContext("RU", "495"), NumberingContext("DE", "30"),
            NumberingContext("GB", "20"), NumberingContext("US", "212"),
            NumberingContext("UA", "44"), NumberingContext("ZZ")]
PLANS = [
    DialPlan(
        numbering=ctx,
        extensions=(Extension("201", "a"), Extension("202", "b"), Extension("3001", "c")),
        departments=(Department("500", "sales"),),
        features=(FeatureCode("*8", "pickup"),
                  FeatureCode("*72", "forward", ArgumentKind.DESTINATION),
                  FeatureCode("**", "directed", ArgumentKind.EXTENSION),
                  FeatureCode("*71", "park", ArgumentKind.DIGITS, 1, 2)),
        trunk_access=(TrunkAccess(code, "city"),),
    )
    for ctx, code in zip(CONTEXTS, ["8", "0", "9", "9", "0", "9"], strict=True)
]
# Random digits after the prefixes that matter, so that access codes, national and
# international prefixes and feature arguments are reached often.
PREFIXES = st.sampled_from(["", "9", "98", "9810", "8", "88", "8810", "*72", "*729", "**", "20",
                            "0", "00", "011", "01", "1", "11"])
DIAL = st.builds(str.__add__, PREFIXES, st.text(alphabet="0123456789*#", max_size=16))
DIGITS = st.builds(str.__add__, PREFIXES.filter(lambda p: "*" not in p),
                   st.text(alphabet="0123456789", max_size=16))
ANY = st.text(max_size=48)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def well_formed(found: Match) -> bool:
    if found.state is MatchState.COMPLETE:
        return found.target is not None and found.invalid is None
    if found.state is MatchState.INCOMPLETE:
        return found.timeout_s is not None and found.timeout_s > 0 and found.target is None
    return found.invalid is not None and found.target is None


@FAST
@given(st.sampled_from(CONTEXTS), st.one_of(ANY, DIGITS, DIGITS.map(lambda d: "+" + d)))
def test_any_text_classifies_and_has_a_completeness(ctx: NumberingContext, text: str) -> None:
    found = classify(text, ctx)
    assert isinstance(found.number_class, NumberClass)
    assert isinstance(completeness(text, ctx), Completeness)


@FAST
@given(st.sampled_from(CONTEXTS), DIGITS)
def test_complete_external_number_is_never_unknown(ctx: NumberingContext, digits: str) -> None:
    if completeness(digits, ctx) is Completeness.COMPLETE:
        assert classify(digits, ctx).number_class is not NumberClass.UNKNOWN


@FAST
@given(st.sampled_from(PLANS), st.one_of(ANY, DIAL))
def test_any_text_gives_a_well_formed_match(plan: DialPlan, text: str) -> None:
    assert well_formed(plan.match(text))
    resolved = plan.resolve(text)
    assert well_formed(resolved) and resolved.state is not MatchState.INCOMPLETE


@FAST
@given(st.sampled_from(PLANS), DIAL, st.lists(st.floats(0.0, 20.0), min_size=24, max_size=24))
def test_overlap_dialling_never_raises_and_ends_as_en_bloc(
    plan: DialPlan, digits: str, gaps: list[float]
) -> None:
    now = 0.0
    collector = DigitCollector(plan, now)
    for digit, gap in zip(digits, gaps, strict=False):
        now += gap
        deadline = collector.next_deadline()
        if deadline is not None and deadline <= now:
            collector.expire(deadline)
        collector.feed(digit, now)
        deadline = collector.next_deadline()
        assert deadline is None or deadline > now
        if collector.result is not None:
            break
    deadline = collector.next_deadline()
    if deadline is not None:
        collector.expire(deadline)
    final = collector.result
    assert final is not None and final.state is not MatchState.INCOMPLETE and well_formed(final)
    if final.state is MatchState.COMPLETE:
        # What overlap dialling reached, en-bloc reaches from the same digits.
        assert plan.resolve(collector.digits).target == final.target


@FAST
@given(st.sampled_from(PLANS), DIAL)
def test_every_complete_target_gets_a_class_of_service_decision(
    plan: DialPlan, digits: str
) -> None:
    found = plan.resolve(digits)
    if found.target is None:
        return
    dest = dest_of(found.target)
    decision = decide(CosPolicy(), CallRequest(Action.CALL, Subject(SubjectKind.EXTENSION, "201"),
                                               dest))
    if dest.number_class is NumberClass.EMERGENCY:
        assert decision.allowed
    if isinstance(found.target, ExternalTarget) and dest.number_class in (
        NumberClass.INTERNATIONAL, NumberClass.PREMIUM, NumberClass.UNKNOWN
    ):
        assert not decision.allowed
