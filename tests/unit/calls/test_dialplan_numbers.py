"""Number classification and normalisation per country (firmware.calls.numbers).

Expected classes come from the regulators' numbering plans, not from the code: Russia
(Rossvyaz: 8 = long-distance prefix, 8~10 international, DEF 9xx mobile, 8 800 freephone,
8 809 premium), Germany (BNetzA: 0 / 00, 015x–017x mobile, 0800 freephone, 0180 shared cost,
0900 premium), the UK (Ofcom: 0 / 00, 07 mobile, 070 personal, 08 0800 freephone, 084/087
service, 09 premium), the US (NANP: 1 / 011, 800 toll free, 900 premium, 876 Jamaica).
Where the box relies on phonenumbers' metadata the test names the phonenumbers behaviour.
"""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import shortnumberinfo

from firmware.calls.numbers import (
    Completeness,
    DialFormat,
    NumberClass,
    NumberingContext,
    classify,
    completeness,
    dial_out,
    emergency_numbers,
    is_emergency,
    to_e164,
)

MOSCOW = NumberingContext("RU", "495", local_codes=("499",))
BERLIN = NumberingContext("DE", "30")
LONDON = NumberingContext("GB", "20")
NEW_YORK = NumberingContext("US", "212")

C = NumberClass

# (context, dialled after the access code, class, E.164)
TABLE = [
    # Russia: local numbers of 7 digits in Moscow, 8 + 10 digits long distance, 8 10 abroad.
    (MOSCOW, "1234567", C.LOCAL, "+74951234567"),
    (MOSCOW, "84951234567", C.LOCAL, "+74951234567"),
    (MOSCOW, "84991234567", C.LOCAL, "+74991234567"),  # 499: Moscow's other code, local tariff
    (MOSCOW, "88121234567", C.LONG_DISTANCE, "+78121234567"),  # St Petersburg; 812 starts with 8
    (MOSCOW, "89161234567", C.MOBILE, "+79161234567"),
    (MOSCOW, "88001234567", C.TOLL_FREE, "+78001234567"),
    (MOSCOW, "88091234567", C.PREMIUM, "+78091234567"),
    (MOSCOW, "810442079460958", C.INTERNATIONAL, "+442079460958"),
    (MOSCOW, "+442079460958", C.INTERNATIONAL, "+442079460958"),
    (MOSCOW, "87172123456", C.INTERNATIONAL, "+77172123456"),  # Astana: +7 but Kazakhstan
    (MOSCOW, "112", C.EMERGENCY, None),
    (MOSCOW, "01", C.EMERGENCY, None),
    (MOSCOW, "104", C.EMERGENCY, None),
    (MOSCOW, "4951234567", C.UNKNOWN, None),  # 10 digits without 8: not how a line dials
    # Germany: Berlin numbers of varying length, 0 + area code, 00 abroad.
    (BERLIN, "1234567", C.LOCAL, "+49301234567"),
    (BERLIN, "030123456", C.LOCAL, "+4930123456"),
    (BERLIN, "0401234567", C.LONG_DISTANCE, "+49401234567"),  # Hamburg
    (BERLIN, "01711234567", C.MOBILE, "+491711234567"),
    (BERLIN, "08001234567", C.TOLL_FREE, "+498001234567"),
    (BERLIN, "0180512345", C.SHARED_COST, "+49180512345"),
    (BERLIN, "09001234567", C.PREMIUM, "+499001234567"),
    (BERLIN, "00442079460958", C.INTERNATIONAL, "+442079460958"),
    (BERLIN, "110", C.EMERGENCY, None),
    (BERLIN, "11833", C.SERVICE, None),  # directory enquiries, not Berlin 30 11833
    # UK: London 8-digit local numbers, 0 + 10 digits national.
    (LONDON, "79460958", C.LOCAL, "+442079460958"),
    (LONDON, "02079460958", C.LOCAL, "+442079460958"),
    (LONDON, "01612345678", C.LONG_DISTANCE, "+441612345678"),  # Manchester
    (LONDON, "07400123456", C.MOBILE, "+447400123456"),
    (LONDON, "0800123456", C.TOLL_FREE, "+44800123456"),
    (LONDON, "09001234567", C.PREMIUM, "+449001234567"),
    (LONDON, "07012345678", C.PREMIUM, "+447012345678"),  # 070 personal number
    (LONDON, "999", C.EMERGENCY, None),
    (LONDON, "118118", C.SERVICE, None),
    # US: 7-digit local, 1 + 10 digits long distance; 10 digits without the 1 also work.
    (NEW_YORK, "2125550123", C.LOCAL, "+12125550123"),
    (NEW_YORK, "12125550123", C.LOCAL, "+12125550123"),
    (NEW_YORK, "13105550123", C.LONG_DISTANCE, "+13105550123"),  # Los Angeles
    (NEW_YORK, "18005550123", C.TOLL_FREE, "+18005550123"),
    (NEW_YORK, "19005550123", C.PREMIUM, "+19005550123"),
    (NEW_YORK, "18765551234", C.INTERNATIONAL, "+18765551234"),  # Jamaica: the one-ring scam
    (NEW_YORK, "011442079460958", C.INTERNATIONAL, "+442079460958"),
    (NEW_YORK, "911", C.EMERGENCY, None),
    (NEW_YORK, "411", C.SERVICE, None),
]


@pytest.mark.parametrize(("ctx", "dialled", "cls", "e164"), TABLE)
def test_dialled_number_is_classified_as_the_numbering_plan_says(
    ctx: NumberingContext, dialled: str, cls: NumberClass, e164: str | None
) -> None:
    found = classify(dialled, ctx)
    assert (found.number_class, found.e164) == (cls, e164)
    assert to_e164(dialled, ctx) == e164


def test_local_number_takes_the_configured_city_code() -> None:
    samara = NumberingContext("RU", "846")
    assert classify("2123456", samara).e164 == "+78462123456"
    assert classify("2123456", samara).number_class is NumberClass.LOCAL


def test_without_city_code_a_bare_number_is_read_nationally() -> None:
    assert classify("4951234567", NumberingContext("RU")).e164 == "+74951234567"


def test_kazakhstan_is_international_although_phonenumbers_gives_it_country_code_7() -> None:
    number = phonenumbers.parse("+77172123456")
    assert number.country_code == 7 and phonenumbers.region_code_for_number(number) == "KZ"
    assert classify("87172123456", MOSCOW).region == "KZ"


def test_unknown_country_code_after_the_international_prefix_is_still_international() -> None:
    # 999 is a spare ITU-T country code: phonenumbers cannot parse it, the line still charges it.
    assert classify("8109991234567", MOSCOW).number_class is NumberClass.INTERNATIONAL
    assert classify("009991234567", BERLIN).number_class is NumberClass.INTERNATIONAL


@pytest.mark.parametrize("text", ["", "12a4", "+", "++7495", "8" * 40, "٣٣٣", " 112"])
def test_unreadable_input_is_unknown_not_an_error(text: str) -> None:
    assert classify(text, MOSCOW).number_class is NumberClass.UNKNOWN


# --- emergency ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "numbers"),
    [
        ("RU", {"112", "101", "102", "103", "104", "01", "02", "03", "04"}),
        ("UA", {"112", "101", "102", "103", "104"}),
        ("US", {"911", "112"}),
        ("GB", {"999", "112"}),
        ("DE", {"110", "112"}),
    ],
)
def test_emergency_numbers_per_country(country: str, numbers: set[str]) -> None:
    assert numbers <= emergency_numbers(NumberingContext(country))


def test_emergency_numbers_from_metadata_are_those_shortnumberinfo_accepts() -> None:
    # Every number the box enumerates from the metadata is one phonenumbers calls emergency;
    # the only additions are 112 and the gas service (104, legacy 04) it lacks.
    additions = {"112", "104", "04"}
    for country in ("RU", "UA", "BY", "KZ", "US", "GB", "DE", "FR", "IT", "PL"):
        for number in emergency_numbers(NumberingContext(country)) - additions:
            assert shortnumberinfo.is_emergency_number(number, country), (country, number)


def test_legacy_russian_emergency_numbers_can_be_turned_off() -> None:
    modern = NumberingContext("RU", "495", legacy_emergency=False)
    assert not {"01", "02", "03", "04"} & emergency_numbers(modern)
    assert {"101", "102", "103", "104", "112"} <= emergency_numbers(modern)


def test_emergency_is_exact_not_a_prefix() -> None:
    # shortnumberinfo.connects_to_emergency_number("1120", "RU") is True (prefix match); a box
    # must not send 1120 to the emergency services.
    assert shortnumberinfo.connects_to_emergency_number("1120", "RU")
    assert not is_emergency("1120", MOSCOW)
    assert is_emergency("112", MOSCOW)


def test_site_specific_emergency_number() -> None:
    site = NumberingContext("RU", "495", extra_emergency=("2222",))
    assert classify("2222", site).number_class is NumberClass.EMERGENCY


# --- completeness -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctx", "dialled", "state"),
    [
        (MOSCOW, "8", Completeness.INCOMPLETE),  # national prefix, or the start of 8~10
        (MOSCOW, "810", Completeness.INCOMPLETE),
        (MOSCOW, "123456", Completeness.INCOMPLETE),
        (MOSCOW, "1234567", Completeness.COMPLETE),  # all Russian numbers have 10 digits
        (MOSCOW, "8495123456", Completeness.INCOMPLETE),
        (MOSCOW, "84951234567", Completeness.COMPLETE),
        (MOSCOW, "112", Completeness.COMPLETE),
        (MOSCOW, "10", Completeness.INCOMPLETE),  # 101..104 may follow
        (MOSCOW, "810442079460958", Completeness.COMPLETE),  # London numbers have 10 digits
        (MOSCOW, "8104420794609581", Completeness.INVALID),
        (BERLIN, "1234567", Completeness.MAYBE_COMPLETE),  # German numbers vary in length
        (BERLIN, "09001234567", Completeness.COMPLETE),
        (LONDON, "79460958", Completeness.COMPLETE),
        (NEW_YORK, "3105550", Completeness.MAYBE_COMPLETE),  # 7-digit local or 310-555-0…
        (NEW_YORK, "3105550123", Completeness.COMPLETE),
        (NEW_YORK, "011", Completeness.INCOMPLETE),
        (NEW_YORK, "01144", Completeness.INCOMPLETE),
    ],
)
def test_completeness_of_digits_so_far(
    ctx: NumberingContext, dialled: str, state: Completeness
) -> None:
    assert completeness(dialled, ctx) is state


# --- dialling out -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctx", "e164", "fmt", "groups"),
    [
        (MOSCOW, "+74951234567", DialFormat.LOCAL, ("1234567",)),
        (MOSCOW, "+74951234567", DialFormat.NATIONAL, ("84951234567",)),
        (MOSCOW, "+74991234567", DialFormat.LOCAL, ("84991234567",)),  # local tariff, not dialling
        (MOSCOW, "+79161234567", DialFormat.LOCAL, ("89161234567",)),
        (MOSCOW, "+442079460958", DialFormat.LOCAL, ("8", "10442079460958")),  # 8, tone, 10…
        (MOSCOW, "+442079460958", DialFormat.E164, ("+442079460958",)),
        (BERLIN, "+4930123456", DialFormat.LOCAL, ("123456",)),
        (BERLIN, "+4940123456", DialFormat.LOCAL, ("040123456",)),
        (BERLIN, "+74951234567", DialFormat.NATIONAL, ("0074951234567",)),
        (LONDON, "+442079460958", DialFormat.LOCAL, ("79460958",)),
        (NEW_YORK, "+12125550123", DialFormat.NATIONAL, ("12125550123",)),
        (NEW_YORK, "+442079460958", DialFormat.NATIONAL, ("011442079460958",)),
        (NumberingContext("UA", "44"), "+4930123456", DialFormat.LOCAL, ("0", "04930123456")),
    ],
)
def test_dial_out_as_a_subscriber_of_the_country_dials(
    ctx: NumberingContext, e164: str, fmt: DialFormat, groups: tuple[str, ...]
) -> None:
    dial = dial_out(e164, ctx, fmt)
    assert dial is not None and dial.groups == groups


@pytest.mark.parametrize("country", ["RU", "DE", "GB", "US", "UA", "FR"])
def test_international_dial_out_matches_phonenumbers_out_of_country_format(country: str) -> None:
    # An independent path through phonenumbers: its out-of-country formatter writes the wait
    # for a second dial tone as "~" (RU "8~10 44 20 …").
    ctx = NumberingContext(country)
    for e164 in ("+442079460958", "+74951234567", "+12125550123", "+4930123456"):
        number = phonenumbers.parse(e164)
        if phonenumbers.region_code_for_number(number) == country:
            continue
        expected = phonenumbers.format_out_of_country_calling_number(number, country)
        groups = tuple("".join(ch for ch in part if ch.isdigit()) for part in expected.split("~"))
        dial = dial_out(e164, ctx, DialFormat.LOCAL)
        assert dial is not None and dial.groups == groups, (country, e164, expected)


def test_dialled_out_number_reads_back_as_the_same_number() -> None:
    for ctx in (MOSCOW, BERLIN, LONDON, NEW_YORK):
        for e164 in ("+74951234567", "+79161234567", "+4930123456", "+442079460958",
                     "+12125550123", "+13105550123"):
            for fmt in (DialFormat.LOCAL, DialFormat.NATIONAL):
                dial = dial_out(e164, ctx, fmt)
                assert dial is not None
                assert classify(dial.digits, ctx).e164 == e164, (ctx.country, e164, fmt)


@pytest.mark.parametrize("text", ["74951234567", "+", "+999", "+7abc", ""])
def test_dial_out_refuses_what_is_not_e164(text: str) -> None:
    assert dial_out(text, MOSCOW, DialFormat.NATIONAL) is None
