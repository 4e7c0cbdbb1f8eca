"""Caller IDs and CRM phone fields to E.164, as a Russian office's trunks and CRMs write them.

Caller IDs arrive in every form a trunk or a person uses: `+7 495 123-45-67`, `8 (495)
123-45-67`, `74951234567` (trunks that drop the "+"), `4951234567` (ten national digits) and the
local `1234567` of a city line, which only means something with the configured city code. All
of them must meet in one key, or the history and the CRM never recognise a returning caller.

`calls.numbers` reads what a subscriber *dials* (prefixes of the country, local numbers with the
city code); here that reading is tried first and then the forms only a caller ID takes: the
national significant number without prefix, and the international number without "+". Only a
number phonenumbers knows as valid is accepted: a wrong match would ring a stranger's manager.
Pure; ≈0.1 ms per number after phonenumbers has loaded the country (x86 development machine).
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException

from firmware.calls import numbers
from firmware.calls.numbers import NumberingContext

MAX_PHONE_CHARS = 64
"""Longest phone text considered (a CRM field with a comment); longer text is not a number."""

_SEPARATORS = str.maketrans("", "", " -().\u00a0\t/")


def _valid_e164(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(raw: str, ctx: NumberingContext) -> str | None:
    """The E.164 form (`+74951234567`) of a caller ID or CRM phone field, or None when it is not
    a valid number (anonymous, short, garbage). Never raises."""
    if len(raw) > MAX_PHONE_CHARS:
        return None
    text = raw.strip().translate(_SEPARATORS)
    if text.startswith("+"):
        return _valid_e164(text) if text[1:].isdigit() else None
    if not text.isdigit() or not text.isascii():
        return None
    dialled = numbers.to_e164(text, ctx)
    if dialled is not None and (valid := _valid_e164(dialled)) is not None:
        return valid
    country_code = phonenumbers.country_code_for_region(ctx.country)
    if country_code:
        as_national = _valid_e164(f"+{country_code}{text}")  # "4951234567"
        if as_national is not None:
            return as_national
    return _valid_e164(f"+{text}")  # "74951234567": a trunk that drops the "+"


def national_digits(e164: str) -> str:
    """The national significant number (`4951234567` for `+74951234567`): the part every way
    of writing the number shares, for CRM searches that match substrings."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164.lstrip("+")
    return phonenumbers.national_significant_number(number)


def search_forms(e164: str, ctx: NumberingContext) -> tuple[str, ...]:
    """The ways a CRM may have stored the number, for exact-match searches: E.164, the
    national form with prefix (`84951234567`), the national digits, and digits without "+"."""
    forms = [e164, national_digits(e164), e164.lstrip("+")]
    dial = numbers.dial_out(e164, ctx, numbers.DialFormat.NATIONAL)
    if dial is not None and len(dial.groups) == 1:
        forms.insert(1, dial.digits)
    return tuple(dict.fromkeys(forms))
