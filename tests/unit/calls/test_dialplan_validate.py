"""Numbering-plan conflicts are configuration errors, reported with the setting and the fix."""

from __future__ import annotations

from firmware.calls.dialplan import (
    ArgumentKind,
    Department,
    DialPlan,
    DialTimeouts,
    Extension,
    FeatureCode,
    TrunkAccess,
    validate,
)
from firmware.calls.numbers import NumberingContext
from firmware.config.errors import Problem

MOSCOW = NumberingContext("RU", "495")


def problems(**kw: object) -> list[Problem]:
    kw.setdefault("numbering", MOSCOW)
    return validate(DialPlan(**kw))  # type: ignore[arg-type]


def messages(found: list[Problem]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in found]


def test_typical_russian_office_plan_is_valid() -> None:
    assert problems(
        extensions=tuple(Extension(str(n), f"u{n}") for n in range(201, 230)),
        departments=(Department("500", "sales"), Department("501", "support")),
        features=(FeatureCode("*8", "pickup"),
                  FeatureCode("*72", "forward", ArgumentKind.DESTINATION),
                  FeatureCode("*71", "park", ArgumentKind.DIGITS, 1, 2)),
        trunk_access=(TrunkAccess("9", "city"),),
    ) == []


def test_us_office_with_access_code_9_and_911_is_valid() -> None:
    # The emergency number wins at once, and no US number begins 1 1 after the 9.
    plan = DialPlan(numbering=NumberingContext("US", "212"),
                    extensions=(Extension("201", "a"),), trunk_access=(TrunkAccess("9", "pstn"),))
    assert validate(plan) == []


def test_extension_that_is_a_prefix_of_another() -> None:
    found = problems(extensions=(Extension("20", "a"), Extension("201", "b")))
    assert len(found) == 1
    path, message = messages(found)[0]
    assert path == "extensions[1].number"
    assert "extension 20 (extensions[0].number) is the start of extension 201" in message


def test_extension_starting_with_the_trunk_access_code_8() -> None:
    found = problems(extensions=(Extension("801", "a"),), trunk_access=(TrunkAccess("8", "city"),))
    assert messages(found) == [(
        "extensions[0].number",
        "extension 801 starts with trunk access code 8 of trunk group city "
        "(trunk_access[0].code): every number starting with 8 goes to the trunks, so it can "
        "never be dialled; renumber it or choose another access code",
    )]


def test_extension_that_is_an_emergency_number() -> None:
    found = problems(extensions=(Extension("101", "a", setting="users[4].extension"),))
    assert [p.path for p in found] == ["users[4].extension"]
    assert "emergency number 101 in RU" in found[0].message


def test_extension_that_begins_an_emergency_number() -> None:
    found = problems(extensions=(Extension("11", "a"),))
    assert "extension 11 is the start of emergency number 112 in RU" in found[0].message


def test_extension_that_starts_with_an_emergency_number() -> None:
    found = problems(extensions=(Extension("1120", "a"),))
    assert "extension 1120 starts with emergency number 112 in RU" in found[0].message


def test_access_code_0_clashes_with_legacy_russian_emergency_numbers_once() -> None:
    found = problems(trunk_access=(TrunkAccess("0", "city"),))
    assert len(found) == 1 and found[0].path == "trunk_access[0].code"
    assert "emergency numbers 01, 02, 03, 04 in RU" in found[0].message
    legacy_off = NumberingContext("RU", "495", legacy_emergency=False)
    assert problems(numbering=legacy_off, trunk_access=(TrunkAccess("0", "city"),)) == []


def test_duplicate_number_across_extension_and_department() -> None:
    found = problems(extensions=(Extension("500", "a"),), departments=(Department("500", "d"),))
    assert messages(found) == [(
        "departments[0].number",
        "department 500 is also extension 500 (extensions[0].number); a number must be unique",
    )]


def test_feature_code_with_argument_that_begins_another_code() -> None:
    found = problems(features=(FeatureCode("*7", "mode", ArgumentKind.DIGITS, 1, 1),
                               FeatureCode("*72", "forward", ArgumentKind.DESTINATION)))
    assert [p.path for p in found] == ["features[1].code"]
    assert "which takes digits after it: *72 would be read as *7 and an argument" in (
        found[0].message
    )


def test_two_trunk_access_codes_one_a_prefix_of_the_other() -> None:
    found = problems(trunk_access=(TrunkAccess("9", "a"), TrunkAccess("90", "b")))
    assert [p.path for p in found] == ["trunk_access[1].code"]


def test_formats() -> None:
    found = problems(
        numbering=NumberingContext("XX", "8495", extra_emergency=("1",)),
        extensions=(Extension("2", "a"), Extension("123456", "b")),
        features=(FeatureCode("72", "forward"), FeatureCode("*9", "x", ArgumentKind.DIGITS, 3, 2)),
        trunk_access=(TrunkAccess("9999", "city"), TrunkAccess("7", "")),
        terminator="0",
        timeouts=DialTimeouts(first_digit_s=10.0, inter_digit_s=4.0, maybe_complete_s=5.0),
    )
    paths = [p.path for p in found]
    for expected in ("numbering.country", "numbering.extra_emergency[0]", "extensions[0].number",
                     "extensions[1].number", "features[0].code", "features[1].code",
                     "trunk_access[0].code", "trunk_access[1].code", "terminator", "timeouts"):
        assert expected in paths, expected
    assert "must be 2 to 5 digits" in dict(messages(found))["extensions[0].number"]


def test_city_code_longer_than_five_digits_is_refused() -> None:
    # ITU-T E.164 national destination codes in these countries have at most 5 digits.
    assert problems(numbering=NumberingContext("RU", "81377")) == []
    found = problems(numbering=NumberingContext("RU", "849512"))
    assert [p.path for p in found] == ["numbering.city_code"]
