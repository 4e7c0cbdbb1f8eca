"""External numbers: classify what a phone dialled for a city line, normalise it, dial it out.

A number dialled after a trunk access code (or sent by a SIP phone) is read as a subscriber of
the configured country and city would dial it on a city line, with Google's libphonenumber
metadata (the `phonenumbers` package) for the country's prefixes, number lengths and number
types:

- no prefix: a local number, the city code is put in front ("1234567" in Moscow, city code 495,
  is +7 495 123-45-67). Where the national prefix is optional (North America, ITU-T E.164
  country code 1) or no city code is configured, it is also tried as a national number;
- the national prefix (RU "8", DE/UK/UA "0", US "1") starts a national number;
- the international prefix (RU "8~10" — 8, second dial tone, 10 —, DE/UK "00", US "011") or
  "+" starts an international one;
- emergency numbers are recognised exactly: the ones phonenumbers' short-number metadata knows
  (`shortnumberinfo.is_emergency_number`: RU 112, 101–103 and the legacy 01–03, US 911, UK 999,
  DE 110, UA 101–103, …), 112 everywhere (3GPP TS 22.101 §10.1.1 makes 112 an emergency number
  on every GSM network, and the EU's universal number), and what the metadata lacks: 104 (gas
  emergency service) in RU, UA, BY and KZ, the legacy 04 in RU.

Classes follow who pays what, not the metadata's type names: a number in another region is
international even when it shares the country code (Kazakhstan +7 seen from Russia; Jamaica +1
876 seen from the US — the "one ring" toll-fraud range dialled like a domestic number); UK 070
personal numbers and 076 pagers count as premium (charged up to premium rates and used in toll
fraud). A number phonenumbers does not know as valid is UNKNOWN, never guessed into a cheaper
class.

Everything here is pure (no I/O) and never raises on what a phone dialled: any string gives a
class. phonenumbers loads a country's metadata on first use (≈3 ms); then classifying a number
takes ≈60 µs and judging its completeness ≈100 µs (x86 development machine).
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
import regex
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
    shortnumberinfo,
)

MAX_DIALLED = 32
"""Longest external number considered: E.164 allows 15 digits (ITU-T E.164 §6.1) after an
international prefix of at most 4 digits; anything longer is refused before any parsing."""

_DIGITS = frozenset("0123456789")
_SHORT_MAX = 8  # longest short number in phonenumbers' short-number metadata is 6 digits


class NumberClass(StrEnum):
    """What a destination costs and risks: the unit of class of service (see calls.cos)."""

    INTERNAL = "internal"
    """An extension, department or feature of this box."""
    EMERGENCY = "emergency"
    """Police, fire, ambulance, gas: always allowed, never counted against limits."""
    LOCAL = "local"
    """A fixed line in the configured city (or another code billed as local)."""
    LONG_DISTANCE = "long_distance"
    """A fixed line or non-geographic number elsewhere in the country."""
    MOBILE = "mobile"
    """A mobile number in the country."""
    INTERNATIONAL = "international"
    """Any number in another region; a guardrail class: denied until enabled."""
    PREMIUM = "premium"
    """Premium-rate services (and UK personal numbers, pagers); denied until enabled."""
    SHARED_COST = "shared_cost"
    """Shared-cost numbers (DE 0180, UK 084/087): billed above the normal rate; denied until
    enabled, like premium."""
    TOLL_FREE = "toll_free"
    """Freephone (RU 8 800, DE 0800, US 800)."""
    SERVICE = "service"
    """Short numbers that are not emergency: directory, operator, utilities."""
    UNKNOWN = "unknown"
    """Not a valid number for phonenumbers: denied unless a class of service allows it."""


class Completeness(StrEnum):
    """Whether the digits dialled so far make a whole external number (overlap dialling)."""

    COMPLETE = "complete"
    """Valid, and no longer number can be: dial now."""
    MAYBE_COMPLETE = "maybe_complete"
    """Valid, but a longer number could be too: dial after a short wait."""
    INCOMPLETE = "incomplete"
    """Not valid yet, and more digits could make it valid: wait."""
    INVALID = "invalid"
    """Not valid, and no more digits can make it valid (too long, no such country code)."""


class DialFormat(StrEnum):
    """How a number is presented to a trunk (see `dial_out`)."""

    E164 = "e164"
    """`+74951234567`: SIP trunks."""
    NATIONAL = "national"
    """As a subscriber dials on the country's lines, always with the national prefix for a
    national number (`84951234567`); lines that refuse local dialling."""
    LOCAL = "local"
    """As NATIONAL, but a fixed line in the configured city without prefix and city code
    (`1234567`): analog lines (FXO) of the city exchange."""


@dataclass(frozen=True, slots=True)
class NumberingContext:
    """Where the box is: the country and city its city lines are in."""

    country: str = "RU"
    """ISO 3166-1 alpha-2 code, as phonenumbers spells regions ("GB" for the UK)."""
    city_code: str = ""
    """Area code without the national prefix ("495" Moscow, "30" Berlin, "20" London, "212"
    New York); empty: no local dialling without the code."""
    local_codes: tuple[str, ...] = ()
    """Further area codes billed as local calls (Moscow's 499 next to 495)."""
    extra_emergency: tuple[str, ...] = ()
    """Further numbers that always go out (a site's own security desk on a city line)."""
    legacy_emergency: bool = True
    """Keep legacy emergency numbers (RU 01–04, replaced by 101–104 but still answered by
    most exchanges). Turn off to use 0 as a trunk access code in Russia."""


@dataclass(frozen=True, slots=True)
class ClassifiedNumber:
    """An external number as dialled, what it is, and where it goes."""

    dialled: str
    """The digits as dialled (after any trunk access code)."""
    number_class: NumberClass
    e164: str | None
    """`+74951234567`; None for short numbers (emergency, service) and numbers that cannot be
    read."""
    region: str | None
    """Destination region (ISO 3166-1 alpha-2, "001" for non-geographic codes), when known."""
    number_type: str | None = None
    """phonenumbers' type name (FIXED_LINE, PREMIUM_RATE, …) for call records; None for
    short numbers."""


@dataclass(frozen=True, slots=True)
class DialString:
    """Digits to send to a line, in groups: after each group but the last, wait for the next
    dial tone (RU international: "8", tone, "10…" — phonenumbers' "8~10")."""

    groups: tuple[str, ...]

    @property
    def digits(self) -> str:
        return "".join(self.groups)


# --- countries ----------------------------------------------------------------------------------

# ITU-T E.164 country code 1 (NANP): 10-digit national dialling without the "1" is normal.
_NATIONAL_PREFIX_OPTIONAL = frozenset({1})

# Emergency numbers phonenumbers' short-number metadata (v9.0) lacks: gas emergency service 104
# (RU, UA, BY, KZ) and its legacy RU form 04. 112 is added for every country in `_country`.
_EMERGENCY_SUPPLEMENT: dict[str, tuple[str, ...]] = {
    "RU": ("104", "04"),
    "UA": ("104",),
    "BY": ("104",),
    "KZ": ("104",),
}
# Legacy two-digit forms, kept unless `NumberingContext.legacy_emergency` is off.
_LEGACY_EMERGENCY: dict[str, frozenset[str]] = {"RU": frozenset({"01", "02", "03", "04"})}
# Enumerate the metadata's emergency patterns up to this length (10^4 candidates, ≈5 ms once
# per country); longer emergency numbers (SE 90000) are still recognised after an access code.
_EMERGENCY_ENUMERATE_MAX = 4


@dataclass(frozen=True, slots=True)
class _Country:
    region: str
    country_code: int
    national_prefix: str
    idd: tuple[str, ...]
    """International prefix as dial groups (("8", "10") RU); () when the metadata gives only a
    pattern (the number is then dialled as E.164)."""
    max_nsn: int
    emergency: frozenset[str]
    legacy: frozenset[str]


@functools.lru_cache(maxsize=64)
def _country(region: str) -> _Country | None:
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.country_code is None:
        return None
    prefix = meta.preferred_international_prefix or meta.international_prefix or ""
    groups = tuple(prefix.split("~"))
    idd = groups if all(g and set(g) <= _DIGITS for g in groups) else ()
    lengths = meta.general_desc.possible_length if meta.general_desc else ()
    return _Country(
        region=region,
        country_code=meta.country_code,
        national_prefix=meta.national_prefix or "",
        idd=idd,
        max_nsn=max(lengths, default=15),
        emergency=(
            _metadata_emergency(region) | {"112"} | set(_EMERGENCY_SUPPLEMENT.get(region, ()))
        ),
        legacy=_LEGACY_EMERGENCY.get(region, frozenset()),
    )


def _metadata_emergency(region: str) -> frozenset[str]:
    """Every emergency number of `region` in phonenumbers' short-number metadata, enumerated."""
    meta = PhoneMetadata.short_metadata_for_region(region)
    if meta is None or meta.emergency is None or meta.emergency.national_number_pattern is None:
        return frozenset()
    pattern = re.compile(meta.emergency.national_number_pattern)
    found: set[str] = set()
    for length in meta.emergency.possible_length:
        if length > _EMERGENCY_ENUMERATE_MAX:
            continue
        for digits in itertools.product("0123456789", repeat=length):
            candidate = "".join(digits)
            if pattern.fullmatch(candidate):
                found.add(candidate)
    return frozenset(found)


def known_country(region: str) -> bool:
    """Whether phonenumbers has metadata for `region` (configuration check)."""
    return _country(region) is not None


def emergency_numbers(ctx: NumberingContext) -> frozenset[str]:
    """The numbers that always go out from this box, with or without an access code."""
    country = _country(ctx.country)
    base = country.emergency if country else frozenset({"112"})
    if country and not ctx.legacy_emergency:
        base = base - country.legacy
    return base | frozenset(ctx.extra_emergency)


def is_emergency(dialled: str, ctx: NumberingContext) -> bool:
    """Exactly an emergency number of the country (no prefix match: "1120" is not 112)."""
    if dialled in emergency_numbers(ctx):
        return True
    if not dialled or not set(dialled) <= _DIGITS or len(dialled) > 8:
        return False
    return shortnumberinfo.is_emergency_number(dialled, ctx.country)


# --- classification -----------------------------------------------------------------------------

_TYPE_CLASS: dict[int, NumberClass] = {
    PhoneNumberType.MOBILE: NumberClass.MOBILE,
    PhoneNumberType.VOICEMAIL: NumberClass.MOBILE,  # mobile operators' voicemail access
    PhoneNumberType.TOLL_FREE: NumberClass.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberClass.PREMIUM,
    PhoneNumberType.PERSONAL_NUMBER: NumberClass.PREMIUM,  # UK 070: up to premium rates, fraud
    PhoneNumberType.PAGER: NumberClass.PREMIUM,  # UK 076: likewise
    PhoneNumberType.SHARED_COST: NumberClass.SHARED_COST,
    PhoneNumberType.VOIP: NumberClass.LONG_DISTANCE,  # non-geographic, national rate
    PhoneNumberType.UAN: NumberClass.LONG_DISTANCE,  # UK 03: charged as 01/02
    PhoneNumberType.UNKNOWN: NumberClass.UNKNOWN,
}
_GEOGRAPHIC = frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_TYPE_DESCS = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
    "voip", "pager", "uan", "voicemail",
)


@functools.lru_cache(maxsize=256)
def _type_patterns(country_code: int) -> tuple[regex.Pattern[str], ...]:
    """The national-number patterns of every number type of a country code, for partial
    matching (the `regex` module's `partial=True`: is this a prefix of some valid number?)."""
    region = phonenumbers.region_code_for_country_code(country_code)
    meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if meta is None:
        return ()
    patterns = []
    for name in _TYPE_DESCS:
        desc = getattr(meta, name, None)
        if desc is not None and desc.national_number_pattern:
            patterns.append(regex.compile(desc.national_number_pattern))
    return tuple(patterns)


def _can_grow(reading: _Reading) -> bool:
    """Some valid number of the reading's country is longer and starts with its digits."""
    patterns = _type_patterns(reading.country_code)
    return any(
        p.fullmatch(reading.nsn + digit, partial=True) is not None
        for p in patterns
        for digit in "0123456789"
    )


@dataclass(frozen=True, slots=True)
class _Reading:
    """One way to read the dialled digits: country code and national significant number."""

    country_code: int
    nsn: str
    local: bool
    """Read as a local number (the city code put in front)."""
    via_idd: bool


def _readings(dialled: str, country: _Country, ctx: NumberingContext) -> list[_Reading]:
    """How a subscriber's line would read the digits, most likely first; [] while the digits
    are only a prefix of the international or national prefix."""
    cc = country.country_code
    if dialled.startswith("+"):
        return _international(dialled[1:])
    idd = "".join(country.idd)
    if idd and dialled.startswith(idd):
        return _international(dialled[len(idd) :])
    if idd and idd.startswith(dialled):
        return []
    np = country.national_prefix
    if np and dialled.startswith(np):
        return [_Reading(cc, dialled[len(np) :], local=False, via_idd=False)]
    readings = []
    if ctx.city_code:
        readings.append(_Reading(cc, ctx.city_code + dialled, local=True, via_idd=False))
    if not ctx.city_code or cc in _NATIONAL_PREFIX_OPTIONAL:
        readings.append(_Reading(cc, dialled, local=False, via_idd=False))
    return readings


def _international(rest: str) -> list[_Reading]:
    """Country code (1–3 digits, ITU-T E.164 §6.2.1: prefix-free) and the rest."""
    for length in (1, 2, 3):
        code = rest[:length]
        if len(code) == length and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return [_Reading(int(code), rest[length:], local=False, via_idd=True)]
    return []


def _parse(reading: _Reading) -> PhoneNumber | None:
    if not reading.nsn:
        return None
    try:
        # "+cc nsn" parses without national-prefix stripping, so a city code that starts
        # with the national prefix (RU 812, 8 being the prefix) stays whole.
        return phonenumbers.parse(f"+{reading.country_code}{reading.nsn}", None)
    except NumberParseException:
        return None


def _max_nsn(country_code: int) -> int:
    region = phonenumbers.region_code_for_country_code(country_code)
    meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    lengths = meta.general_desc.possible_length if meta and meta.general_desc else ()
    return max(lengths, default=15)


def _well_formed(dialled: str) -> bool:
    if not dialled or len(dialled) > MAX_DIALLED:
        return False
    digits = dialled[1:] if dialled.startswith("+") else dialled
    return bool(digits) and set(digits) <= _DIGITS


def classify(dialled: str, ctx: NumberingContext) -> ClassifiedNumber:
    """The class, E.164 form and region of an external number dialled in `ctx`.

    `dialled` is what follows the trunk access code, or a SIP user part ("+" allowed first).
    Never raises: anything unreadable is UNKNOWN.
    """
    unknown = ClassifiedNumber(dialled, NumberClass.UNKNOWN, None, None)
    if not _well_formed(dialled):
        return unknown
    if not dialled.startswith("+") and is_emergency(dialled, ctx):
        return ClassifiedNumber(dialled, NumberClass.EMERGENCY, None, ctx.country)
    country = _country(ctx.country)
    if country is None:
        return unknown
    # A valid short number wins over a local reading: subscriber numbers in these countries
    # never start with the 1 of service codes (DE 11833 is directory enquiries, not Berlin
    # 30 11833, although phonenumbers' loose DE fixed-line pattern accepts both).
    short = _short_class(dialled, ctx)
    if short is not None:
        return ClassifiedNumber(dialled, short, None, ctx.country)
    readings = _readings(dialled, country, ctx)
    for reading in readings:
        number = _parse(reading)
        if number is not None and phonenumbers.is_valid_number(number):
            return _classified(dialled, number, reading, country, ctx)
    # Dialled abroad, whatever phonenumbers thinks of the rest (an unknown range, a spare
    # country code): international by how it is dialled, never a cheaper class.
    if readings and readings[0].via_idd and readings[0].country_code != country.country_code:
        reading = readings[0]
        region = phonenumbers.region_code_for_country_code(reading.country_code)
        e164 = f"+{reading.country_code}{reading.nsn}" if reading.nsn else None
        return ClassifiedNumber(dialled, NumberClass.INTERNATIONAL, e164, region)
    if not readings and _after_idd(dialled, country):
        return ClassifiedNumber(dialled, NumberClass.INTERNATIONAL, None, None)
    return unknown


def _after_idd(dialled: str, country: _Country) -> str:
    """The digits after "+" or the international prefix; "" when there is none."""
    if dialled.startswith("+"):
        return dialled[1:]
    idd = "".join(country.idd)
    return dialled[len(idd) :] if idd and dialled.startswith(idd) else ""


def _classified(
    dialled: str,
    number: PhoneNumber,
    reading: _Reading,
    country: _Country,
    ctx: NumberingContext,
) -> ClassifiedNumber:
    region = phonenumbers.region_code_for_number(number)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    kind = phonenumbers.number_type(number)
    type_name = PhoneNumberType.to_string(kind)
    if region != country.region:
        # Also within a shared country code: KZ seen from RU, JM (+1 876) seen from the US.
        return ClassifiedNumber(dialled, NumberClass.INTERNATIONAL, e164, region, type_name)
    if kind in _GEOGRAPHIC:
        nsn = phonenumbers.national_significant_number(number)
        codes = (ctx.city_code, *ctx.local_codes)
        local = reading.local or any(code and nsn.startswith(code) for code in codes)
        cls = NumberClass.LOCAL if local else NumberClass.LONG_DISTANCE
        return ClassifiedNumber(dialled, cls, e164, region, type_name)
    cls = _TYPE_CLASS.get(kind, NumberClass.UNKNOWN)
    return ClassifiedNumber(dialled, cls, e164, region, type_name)


def _short_class(dialled: str, ctx: NumberingContext) -> NumberClass | None:
    """SERVICE or PREMIUM for a valid short number of the country (ShortNumberInfo), else None."""
    short = _short_number(dialled, ctx)
    if short is None or not shortnumberinfo.is_valid_short_number_for_region(short, ctx.country):
        return None
    cost = shortnumberinfo.expected_cost_for_region(short, ctx.country)
    if cost == shortnumberinfo.ShortNumberCost.PREMIUM_RATE:
        return NumberClass.PREMIUM
    return NumberClass.SERVICE


def _short_number(dialled: str, ctx: NumberingContext) -> PhoneNumber | None:
    if dialled.startswith("+") or len(dialled) > _SHORT_MAX:
        return None
    try:
        return phonenumbers.parse(dialled, ctx.country)
    except NumberParseException:
        return None


# --- overlap dialling ---------------------------------------------------------------------------


def completeness(dialled: str, ctx: NumberingContext) -> Completeness:
    """Whether `dialled` (digits after a trunk access code, so far) is a whole number.

    Emergency numbers are COMPLETE at once. Otherwise the digits are valid now when some
    reading of them (local, national, international, short number) is valid for phonenumbers,
    and can grow when some number type's pattern of the country matches a longer number
    starting with them. Digits that are not valid and cannot grow by the patterns are
    INCOMPLETE while shorter than the country's longest possible number, so that a range newer
    than the metadata can still be dialled (it then classifies as UNKNOWN); INVALID beyond.
    """
    if not dialled:
        return Completeness.INCOMPLETE
    if not _well_formed(dialled):
        return Completeness.INVALID
    if not dialled.startswith("+") and is_emergency(dialled, ctx):
        return Completeness.COMPLETE  # emergency goes at once, whatever might follow
    country = _country(ctx.country)
    if country is None:
        return Completeness.INVALID
    readings = _readings(dialled, country, ctx)
    valid = _short_class(dialled, ctx) is not None
    grows = _prefix_of_prefix(dialled, country) or _growing_country_code(dialled, country)
    grows = grows or any(e.startswith(dialled) and e != dialled for e in emergency_numbers(ctx))
    for reading in readings:
        number = _parse(reading)
        valid = valid or (number is not None and phonenumbers.is_valid_number(number))
        grows = grows or _can_grow(reading)
    if valid:
        return Completeness.MAYBE_COMPLETE if grows else Completeness.COMPLETE
    if grows or any(len(r.nsn) < _max_nsn(r.country_code) for r in readings):
        return Completeness.INCOMPLETE
    return Completeness.INVALID


def could_begin(dialled: str, ctx: NumberingContext) -> bool:
    """Whether some valid full number begins with `dialled`: a reading's digits match the
    start of a number type's pattern, or are still the national or international prefix.
    Short numbers do not count (their metadata patterns are too broad: US `11…` short codes
    would make access code 9 clash with 911). For configuration checks."""
    if not _well_formed(dialled):
        return False
    country = _country(ctx.country)
    if country is None:
        return False
    if _prefix_of_prefix(dialled, country) or _growing_country_code(dialled, country):
        return True
    for reading in _readings(dialled, country, ctx):
        patterns = _type_patterns(reading.country_code)
        if any(p.fullmatch(reading.nsn, partial=True) for p in patterns):
            return True
    return False


def _prefix_of_prefix(dialled: str, country: _Country) -> bool:
    """The digits are the international or national prefix or part of it ("8", "81", "810"
    in RU): the number itself is still to come."""
    idd = "".join(country.idd)
    np = country.national_prefix
    return (bool(idd) and idd.startswith(dialled)) or (bool(np) and np.startswith(dialled))


def _growing_country_code(dialled: str, country: _Country) -> bool:
    """After an international prefix, the digits so far begin some country code."""
    rest = _after_idd(dialled, country)
    if not rest or len(rest) >= 3:
        return False
    return any(str(code).startswith(rest) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def is_possible(dialled: str, ctx: NumberingContext) -> bool:
    """Whether the digits have a possible length for some reading (phonenumbers'
    `is_possible_number_with_reason` is IS_POSSIBLE), or are a possible short number: worth
    sending out when the caller stops dialling although phonenumbers does not know the number
    as valid."""
    if not _well_formed(dialled):
        return False
    country = _country(ctx.country)
    if country is None:
        return False
    for reading in _readings(dialled, country, ctx):
        number = _parse(reading)
        # IS_POSSIBLE only: IS_POSSIBLE_LOCAL_ONLY would accept "1234" in Moscow as 495 1234,
        # the city code being already in the reading.
        if number is not None and phonenumbers.is_possible_number_with_reason(number) == (
            phonenumbers.ValidationResult.IS_POSSIBLE
        ):
            return True
    short = _short_number(dialled, ctx)
    return short is not None and shortnumberinfo.is_possible_short_number_for_region(
        short, ctx.country
    )


# --- dialling out -------------------------------------------------------------------------------


def to_e164(dialled: str, ctx: NumberingContext) -> str | None:
    """The E.164 form of a dialled external number, or None (short, unknown, unreadable)."""
    return classify(dialled, ctx).e164


def dial_out(e164: str, ctx: NumberingContext, fmt: DialFormat) -> DialString | None:
    """How to dial `e164` ("+442079460958") on a trunk in `ctx`'s country, or None when it is
    not a readable E.164 number.

    International numbers get the country's international prefix (RU "8", tone, "10"; DE/UK
    "00"; US "011"); national ones the national prefix; with LOCAL a fixed line in the city
    code (or a `local_codes` code) loses prefix and code. A country whose international prefix
    is only a pattern in the metadata gets E.164 for international numbers.
    """
    if not e164.startswith("+") or not _well_formed(e164):
        return None
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None
    if fmt is DialFormat.E164:
        e164_form = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return DialString((e164_form,))
    country = _country(ctx.country)
    if country is None:
        return None
    nsn = phonenumbers.national_significant_number(number)
    if number.country_code != country.country_code:
        if not country.idd:
            return DialString((f"+{number.country_code}{nsn}",))
        *first, last = country.idd
        return DialString((*first, f"{last}{number.country_code}{nsn}"))
    city = ctx.city_code
    # Only the city itself is dialled without its code: other codes billed as local (Moscow
    # 499 seen from 495) still take prefix and code on the line.
    geographic = phonenumbers.number_type(number) in _GEOGRAPHIC
    if fmt is DialFormat.LOCAL and city and geographic and nsn.startswith(city):
        return DialString((nsn[len(city) :],))
    return DialString((f"{country.national_prefix}{nsn}",))
