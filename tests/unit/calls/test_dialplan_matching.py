"""The numbering plan's matcher: overlap dialling with timeouts (analog, DECT) and en-bloc (SIP).

Times are chosen `now` values in seconds; timeouts are the defaults (15 s first digit, 4 s
between digits, 2 s once the digits could be whole) unless a test sets them.
"""

from __future__ import annotations

import pytest

from firmware.calls.dialplan import (
    ArgumentKind,
    Department,
    DepartmentTarget,
    DialPlan,
    DialTimeouts,
    DigitCollector,
    EmergencyTarget,
    Extension,
    ExtensionTarget,
    ExternalTarget,
    FeatureCode,
    FeatureTarget,
    Invalid,
    Match,
    MatchState,
    TrunkAccess,
)
from firmware.calls.numbers import NumberClass, NumberingContext

FEATURES = (
    FeatureCode("*8", "pickup"),
    FeatureCode("**", "directed_pickup", ArgumentKind.EXTENSION),
    FeatureCode("*72", "forward_always", ArgumentKind.DESTINATION),
    FeatureCode("*73", "forward_cancel"),
    FeatureCode("*71", "park_retrieve", ArgumentKind.DIGITS, min_digits=1, max_digits=2),
    FeatureCode("*60", "mode", ArgumentKind.DIGITS, min_digits=1, max_digits=1),
)
EXTENSIONS = tuple(Extension(n, f"user{n}") for n in ("201", "202", "301"))
DEPARTMENTS = (Department("500", "sales"),)


def plan(country: str = "RU", city: str = "495", access: str = "9", **kw: object) -> DialPlan:
    return DialPlan(
        numbering=NumberingContext(country, city),
        extensions=EXTENSIONS,
        departments=DEPARTMENTS,
        features=FEATURES,
        trunk_access=(TrunkAccess(access, "city"),),
        **kw,  # type: ignore[arg-type]
    )


RU9 = plan()
RU8 = plan(access="8")


def dial(p: DialPlan, digits: str, start: float = 0.0, step: float = 1.0) -> tuple[
    DigitCollector, list[Match]
]:
    """Feed `digits` one per `step` seconds; the matches after each digit."""
    collector = DigitCollector(p, start)
    matches = []
    for i, digit in enumerate(digits):
        matches.append(collector.feed(digit, start + (i + 1) * step))
    return collector, matches


def external(match: Match | None) -> ExternalTarget:
    assert match is not None and match.state is MatchState.COMPLETE
    assert isinstance(match.target, ExternalTarget)
    return match.target


# --- overlap dialling ---------------------------------------------------------------------------


def test_extension_completes_on_its_last_digit() -> None:
    collector, matches = dial(RU9, "201")
    assert [m.state for m in matches] == [MatchState.INCOMPLETE, MatchState.INCOMPLETE,
                                          MatchState.COMPLETE]
    assert matches[0].timeout_s == 4.0 and collector.next_deadline() is None
    assert collector.result == Match(MatchState.COMPLETE, ExtensionTarget("201", "user201"))


def test_nothing_dialled_times_out_after_the_first_digit_timeout() -> None:
    collector = DigitCollector(RU9, now=100.0)
    assert collector.next_deadline() == 115.0
    assert collector.expire(114.9) is None
    final = collector.expire(115.0)
    assert final is not None and final.invalid is Invalid.NOTHING_DIALLED


def test_stopping_halfway_through_an_extension_is_invalid_after_inter_digit_timeout() -> None:
    collector, _ = dial(RU9, "20", start=0.0)
    assert collector.next_deadline() == 2.0 + 4.0
    assert collector.expire(5.9) is None
    final = collector.expire(6.0)
    assert final == Match(MatchState.INVALID, invalid=Invalid.INCOMPLETE)


def test_each_digit_restarts_the_inter_digit_timer() -> None:
    collector = DigitCollector(RU9, 0.0)
    collector.feed("2", 3.0)
    assert collector.next_deadline() == 7.0
    collector.feed("0", 6.5)
    assert collector.next_deadline() == 10.5


def test_a_digit_after_the_deadline_comes_too_late() -> None:
    collector = DigitCollector(RU9, 0.0)
    collector.feed("2", 1.0)
    late = collector.feed("0", 5.0)  # deadline was 5.0: the timer fired first
    assert late.invalid is Invalid.INCOMPLETE and collector.digits == "2"


def test_unknown_first_digit_is_invalid_at_once() -> None:
    _, matches = dial(RU9, "4")
    assert matches == [Match(MatchState.INVALID, invalid=Invalid.NO_MATCH)]


def test_digits_after_the_result_do_not_change_it() -> None:
    collector, _ = dial(RU9, "201")
    assert collector.feed("5", 10.0).target == ExtensionTarget("201", "user201")
    assert collector.digits == "201"


def test_dtmf_letter_is_not_a_dial_digit() -> None:
    collector = DigitCollector(RU9, 0.0)
    assert collector.feed("A", 1.0).invalid is Invalid.BAD_DIGIT


def test_department_number() -> None:
    assert RU9.match("500").target == DepartmentTarget("500", "sales")


# Russian trunk access: 9 and 8


def test_ru_access_9_local_number_dials_on_its_seventh_digit_without_waiting() -> None:
    collector, matches = dial(RU9, "91234567")
    assert matches[0].state is MatchState.INCOMPLETE  # outside dial tone after 9
    assert all(m.timeout_s == 4.0 for m in matches[:-1])
    target = external(matches[-1])
    assert (target.trunk_group, target.access_code) == ("city", "9")
    assert target.number.dialled == "1234567" and target.number.e164 == "+74951234567"


def test_ru_access_9_the_8_belongs_to_the_number() -> None:
    target = external(dial(RU9, "989161234567")[1][-1])
    assert target.number.number_class is NumberClass.MOBILE
    assert target.number.dialled == "89161234567"


def test_ru_access_8_then_russian_national_rules() -> None:
    assert external(RU8.match("81234567")).number.e164 == "+74951234567"  # local
    long_distance = external(RU8.match("888121234567"))
    assert long_distance.number.number_class is NumberClass.LONG_DISTANCE
    assert long_distance.number.e164 == "+78121234567"
    abroad = external(RU8.match("8810442079460958"))  # access 8, then 8~10 44 …
    assert abroad.number.number_class is NumberClass.INTERNATIONAL
    assert abroad.number.e164 == "+442079460958"


def test_ru_access_8_waits_after_the_second_8() -> None:
    # "88" may become 8 8 495… (long distance) or 8 8 10… (abroad): keep collecting.
    for digits in ("8", "88", "881", "8810", "88104"):
        assert RU8.match(digits).state is MatchState.INCOMPLETE, digits


@pytest.mark.parametrize(("digits", "via"), [("112", None), ("101", None), ("01", None),
                                             ("9112", "city"), ("9103", "city")])
def test_emergency_goes_at_once_with_or_without_access_code(digits: str, via: str | None) -> None:
    _, matches = dial(RU9, digits)
    assert matches[-1] == Match(MatchState.COMPLETE, EmergencyTarget(digits.removeprefix("9"), via))


def test_emergency_after_access_code_8_in_russia() -> None:
    assert RU8.match("8112").target == EmergencyTarget("112", "city")


@pytest.mark.parametrize(("country", "city", "number"), [("US", "212", "911"), ("GB", "20", "999"),
                                                         ("DE", "30", "110")])
def test_emergency_without_access_code_per_country(country: str, city: str, number: str) -> None:
    # Access code 9 in every case: 911 and 999 begin with it and still go at once.
    _, matches = dial(plan(country, city), number)
    assert matches[-1] == Match(MatchState.COMPLETE, EmergencyTarget(number, None))


def test_us_911_after_access_code_9_also_reaches_emergency() -> None:
    assert plan("US", "212").match("9911").target == EmergencyTarget("911", "city")


def test_forward_to_emergency_is_recognised_for_class_of_service_to_refuse() -> None:
    found = RU9.match("*729112")
    assert isinstance(found.target, FeatureTarget)
    assert found.target.destination == EmergencyTarget("112", "city")


# Numbers that could be whole: the short timeout


def test_german_number_waits_the_short_timeout_then_dials() -> None:
    de = plan("DE", "30", access="0")
    collector, matches = dial(de, "01234567")
    last = matches[-1]
    assert last.state is MatchState.INCOMPLETE and last.timeout_s == 2.0
    assert collector.next_deadline() == 8.0 + 2.0
    assert external(collector.expire(10.0)).number.e164 == "+49301234567"


def test_us_seven_digit_local_number_waits_for_a_possible_ten_digit_one() -> None:
    us = plan("US", "212")
    seven = us.match("93105550")
    assert seven.timeout_s == 2.0
    assert external(Match(MatchState.COMPLETE, seven.on_timeout)).number.e164 == "+12123105550"
    ten = external(us.match("93105550123"))
    assert ten.number.e164 == "+13105550123"


def test_terminator_dials_a_number_that_could_be_longer_at_once() -> None:
    de = plan("DE", "30", access="0")
    found = de.match("01234567#")
    assert external(found).number.e164 == "+49301234567"


def test_terminator_after_a_number_that_cannot_be_whole_is_invalid() -> None:
    # 8 495 12: too short for any Russian number (phonenumbers: 10 digits after the 8).
    assert RU9.match("9849512#").invalid is Invalid.INCOMPLETE


def test_terminator_sends_a_possible_short_number() -> None:
    # Russia has 2- and 3-digit service numbers; phonenumbers knows the lengths, not them all.
    found = external(RU9.match("912#"))
    assert found.number.number_class is NumberClass.UNKNOWN


def test_terminator_after_a_whole_extension() -> None:
    assert RU9.resolve("201#").target == ExtensionTarget("201", "user201")


def test_timeouts_are_configurable() -> None:
    quick = plan(timeouts=DialTimeouts(first_digit_s=8.0, inter_digit_s=3.0, maybe_complete_s=1.0))
    collector = DigitCollector(quick, 0.0)
    assert collector.next_deadline() == 8.0
    collector.feed("2", 1.0)
    assert collector.next_deadline() == 4.0


def test_conflicting_plan_still_answers_exact_match_after_short_timeout() -> None:
    clash = DialPlan(numbering=NumberingContext("RU", "495"),
                     extensions=(Extension("20", "a"), Extension("201", "b")))
    found = clash.match("20")
    assert found.state is MatchState.INCOMPLETE and found.timeout_s == 2.0
    assert found.on_timeout == ExtensionTarget("20", "a")


# Feature codes


def test_feature_without_argument() -> None:
    assert RU9.match("*8") == Match(MatchState.COMPLETE, FeatureTarget("pickup", "*8"))
    assert RU9.match("*81").invalid is Invalid.BAD_ARGUMENT


def test_forward_to_extension() -> None:
    found = RU9.match("*72201")
    assert found.target == FeatureTarget("forward_always", "*72", "201",
                                         ExtensionTarget("201", "user201"))


def test_forward_to_a_mobile_through_the_trunk() -> None:
    _, matches = dial(RU9, "*72989161234567")
    target = matches[-1].target
    assert isinstance(target, FeatureTarget) and isinstance(target.destination, ExternalTarget)
    assert target.destination.number.number_class is NumberClass.MOBILE
    assert target.argument == "989161234567"


def test_forward_argument_that_could_be_longer_waits_the_short_timeout() -> None:
    de = DialPlan(numbering=NumberingContext("DE", "30"), features=FEATURES,
                  trunk_access=(TrunkAccess("0", "city"),))
    found = de.match("*7201234567")
    assert found.timeout_s == 2.0
    assert isinstance(found.on_timeout, FeatureTarget)
    assert isinstance(found.on_timeout.destination, ExternalTarget)


def test_directed_pickup_takes_only_internal_numbers() -> None:
    assert RU9.match("**201").target == FeatureTarget("directed_pickup", "**", "201",
                                                      ExtensionTarget("201", "user201"))
    assert RU9.match("**9").invalid is Invalid.BAD_ARGUMENT


def test_digits_argument_completes_at_max_or_after_short_timeout() -> None:
    assert RU9.match("*7112").target == FeatureTarget("park_retrieve", "*71", "12")
    one = RU9.match("*711")
    assert one.timeout_s == 2.0 and one.on_timeout == FeatureTarget("park_retrieve", "*71", "1")
    assert RU9.match("*71123").invalid is Invalid.BAD_ARGUMENT
    assert RU9.match("*601").target == FeatureTarget("mode", "*60", "1")


# --- en-bloc ------------------------------------------------------------------------------------


def test_en_bloc_resolves_without_timeouts() -> None:
    assert RU9.resolve("201").target == ExtensionTarget("201", "user201")
    de = plan("DE", "30", access="0")
    assert external(de.resolve("01234567")).number.e164 == "+49301234567"


def test_en_bloc_incomplete_number_is_invalid_incomplete_for_484() -> None:
    assert RU9.resolve("20") == Match(MatchState.INVALID, invalid=Invalid.INCOMPLETE)
    assert RU9.resolve("98495123") == Match(MatchState.INVALID, invalid=Invalid.INCOMPLETE)


def test_en_bloc_ignores_visual_separators() -> None:
    found = external(RU9.resolve("9 8 (495) 123-45-67"))
    assert found.number.e164 == "+74951234567"


def test_en_bloc_e164_goes_out_on_the_first_trunk_group() -> None:
    found = external(RU9.resolve("+442079460958"))
    assert (found.trunk_group, found.access_code) == ("city", "")
    assert found.number.number_class is NumberClass.INTERNATIONAL


def test_en_bloc_e164_without_trunks_has_no_route() -> None:
    bare = DialPlan(numbering=NumberingContext("RU", "495"), extensions=EXTENSIONS)
    assert bare.resolve("+74951234567").invalid is Invalid.NO_TRUNK


def test_en_bloc_unknown_number() -> None:
    assert RU9.resolve("777").invalid is Invalid.NO_MATCH
    assert RU9.resolve("").invalid is Invalid.NOTHING_DIALLED
    assert RU9.resolve("2x1").invalid is Invalid.BAD_DIGIT


def test_en_bloc_number_unknown_to_phonenumbers_but_possible_goes_out_as_unknown() -> None:
    # phonenumbers: RU numbers have 10 digits and a valid range; 8 000 … has the length only.
    found = external(RU9.resolve("980001234567"))
    assert found.number.number_class is NumberClass.UNKNOWN
