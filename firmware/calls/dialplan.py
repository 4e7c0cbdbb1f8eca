"""The numbering plan of the box and the matcher that tells when a dialled number is complete.

One plan serves every phone: extensions (2–5 digits), department numbers, feature codes (`*8`,
`*72` + a destination, …), trunk access codes (`9`, or `8` as Russian installers expect) and the
emergency numbers of the country, which always go out, with or without an access code and for
every class of service.

Analog and DECT phones dial digit by digit (overlap dialling, ITU-T Q.931 §5.1.3 calls it
"overlap sending"): `DigitCollector` is told each digit with `now` and answers COMPLETE (the
target), INCOMPLETE (with the time to wait for the next digit) or INVALID. The waits follow
Asterisk's chan_dahdi (firstdigittimeout 16 s, gendigittimeout 8 s, matchdigittimeout 3 s for a
number that could be complete): here 15 s for the first digit, 4 s between digits, 2 s once the
digits could already be a whole number (a German number, a US 7-digit local number, an
extension that another extension extends), all configurable. A terminator (`#`) dials at once.
SIP phones send the whole number (en-bloc, RFC 3261 §8.1.1.1): `DialPlan.resolve` answers
COMPLETE or INVALID, INCOMPLETE being the reason for 484 Address Incomplete.

After a trunk access code the digits are read with the country's rules (calls.numbers): with
access code 9 in Russia, "9 8 495 1234567" is long distance and "9 1234567" local; with access
code 8, the digits after it follow the same rules, so "8 8 495 1234567" is long distance, "8 8
10 44…" international and "8 1234567" local. The price of 8 as access code is that no extension
may start with 8; `validate` reports that and every other ambiguity (an extension that is a
prefix of another, an extension starting with the trunk code, an emergency number taken by an
extension) with the setting to change.

Pure: no I/O, time passed in; any string gives a match, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from firmware.calls.numbers import (
    ClassifiedNumber,
    Completeness,
    NumberingContext,
    classify,
    completeness,
    could_begin,
    emergency_numbers,
    is_emergency,
    is_possible,
    known_country,
)
from firmware.config.errors import Problem

MAX_DIALLED = 40
"""Longest digit string matched: a feature code, an access code and a 15-digit E.164 number
after an international prefix fit; longer input is INVALID without further work."""

DIAL_DIGITS = frozenset("0123456789*#")
"""What a phone can dial (DTMF A–D are not dial digits here)."""

# RFC 3966 §5.1.1 visual separators, stripped from en-bloc numbers ("8 (495) 123-45-67").
_VISUAL_SEPARATORS = re.compile(r"[-.() ]")


class ArgumentKind(StrEnum):
    """What follows a feature code."""

    NONE = "none"
    """Nothing: `*8` group pickup."""
    DIGITS = "digits"
    """`min_digits`..`max_digits` digits: a park slot, an operating-mode number."""
    EXTENSION = "extension"
    """An extension or department number: `**201` directed pickup."""
    DESTINATION = "destination"
    """Anything that can be called, internal or through a trunk access code: `*72` forward."""


class MatchState(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    INVALID = "invalid"


class Invalid(StrEnum):
    """Why a number cannot be dialled (SIP: 404 Not Found, or 484 Address Incomplete for
    INCOMPLETE and TOO_LONG, RFC 3261 §21.4.22)."""

    NO_MATCH = "no_match"
    """No extension, department, feature or access code starts so, or the digits after an
    access code cannot be a number (too long, no such country code)."""
    INCOMPLETE = "incomplete"
    """The caller stopped dialling (or a SIP phone sent) a number that is not whole."""
    TOO_LONG = "too_long"
    """More than `MAX_DIALLED` characters."""
    BAD_DIGIT = "bad_digit"
    """A character a phone cannot dial."""
    BAD_ARGUMENT = "bad_argument"
    """A feature code followed by digits it does not take."""
    NOTHING_DIALLED = "nothing_dialled"
    """No digit before the first-digit timeout."""
    NO_TRUNK = "no_trunk"
    """An E.164 number sent en-bloc, but the plan has no trunk access code to send it on."""


@dataclass(frozen=True, slots=True)
class Extension:
    number: str
    user: str
    setting: str | None = None
    """Configuration path of the number, for problem reports (`users[3].extension`); None:
    the plan's own path (`extensions[0].number`)."""


@dataclass(frozen=True, slots=True)
class Department:
    number: str
    department: str
    setting: str | None = None


@dataclass(frozen=True, slots=True)
class FeatureCode:
    """A configured `*` code; the plan recognises it and its argument, the feature acts."""

    code: str
    """`*` or `#`, then up to five of 0-9, `*`, `#`."""
    feature: str
    """Which feature (`pickup`, `forward_always`, …): the controller's key."""
    argument: ArgumentKind = ArgumentKind.NONE
    min_digits: int = 1
    """DIGITS only: fewest argument digits."""
    max_digits: int = 1
    """DIGITS only: most argument digits; the code completes at once when reached."""
    setting: str | None = None


@dataclass(frozen=True, slots=True)
class TrunkAccess:
    """Digits that take the caller to a group of trunks (city lines, a SIP provider)."""

    code: str
    trunk_group: str
    setting: str | None = None


@dataclass(frozen=True, slots=True)
class DialTimeouts:
    first_digit_s: float = 15.0
    """Dial tone without a digit for this long: INVALID(NOTHING_DIALLED) (howler next)."""
    inter_digit_s: float = 4.0
    """Wait for the next digit while the number cannot be whole yet."""
    maybe_complete_s: float = 2.0
    """Wait for the next digit once the digits could be a whole number; then dial them."""


# --- what a number reaches ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExtensionTarget:
    number: str
    user: str


@dataclass(frozen=True, slots=True)
class DepartmentTarget:
    number: str
    department: str


@dataclass(frozen=True, slots=True)
class ExternalTarget:
    """A number out through a trunk group; `number.dialled` is what follows the access code."""

    trunk_group: str
    access_code: str
    number: ClassifiedNumber


@dataclass(frozen=True, slots=True)
class EmergencyTarget:
    """An emergency number: out on any free trunk (`trunk_group` None: dialled without access
    code), never refused by class of service or limits."""

    number: str
    trunk_group: str | None


@dataclass(frozen=True, slots=True)
class FeatureTarget:
    feature: str
    code: str
    argument: str = ""
    """The digits after the code."""
    destination: ExtensionTarget | DepartmentTarget | ExternalTarget | EmergencyTarget | None = None
    """The argument read as a number (EXTENSION and DESTINATION arguments); an emergency
    number only after an access code, for class of service to refuse a forward to it."""


Target = ExtensionTarget | DepartmentTarget | ExternalTarget | EmergencyTarget | FeatureTarget


@dataclass(frozen=True, slots=True)
class Match:
    """The matcher's answer for the digits so far."""

    state: MatchState
    target: Target | None = None
    """COMPLETE: what to call."""
    timeout_s: float | None = None
    """INCOMPLETE: how long to wait for the next digit."""
    on_timeout: Target | None = None
    """INCOMPLETE: what the digits reach if no more come; None: they are INVALID then."""
    invalid: Invalid | None = None
    """INVALID: why."""


# --- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Partial:
    """One family's (extensions, a feature, a trunk code) reading of the digits."""

    now: Target | None = None
    """The digits are exactly this target, and nothing longer in this family."""
    grows: bool = False
    """More digits could still match in this family."""
    later: Target | None = None
    """What the digits reach if no more come (while `grows`)."""
    soon: bool = False
    """`later` is already a whole number: wait only the short timeout."""
    invalid: Invalid | None = None


@dataclass(frozen=True, slots=True)
class DialPlan:
    """One box's numbering plan. Build it from a validated configuration revision; a plan with
    problems still matches (first entry wins), but `validate` must come back empty first."""

    numbering: NumberingContext = field(default_factory=NumberingContext)
    extensions: tuple[Extension, ...] = ()
    departments: tuple[Department, ...] = ()
    features: tuple[FeatureCode, ...] = ()
    trunk_access: tuple[TrunkAccess, ...] = ()
    timeouts: DialTimeouts = field(default_factory=DialTimeouts)
    terminator: str = "#"
    """Dialled after an incomplete number: dial it now. Empty: no terminator."""
    _internal: Mapping[str, ExtensionTarget | DepartmentTarget] = field(
        init=False, repr=False, compare=False
    )
    _emergency: frozenset[str] = field(init=False, repr=False, compare=False)
    _prefixes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        internal: dict[str, ExtensionTarget | DepartmentTarget] = {}
        for ext in self.extensions:
            internal.setdefault(ext.number, ExtensionTarget(ext.number, ext.user))
        for dept in self.departments:
            internal.setdefault(dept.number, DepartmentTarget(dept.number, dept.department))
        # Every proper prefix of an internal number, so that matching is O(length).
        prefixes = {n[:i] for n in internal for i in range(len(n))}
        object.__setattr__(self, "_internal", MappingProxyType(internal))
        object.__setattr__(self, "_emergency", emergency_numbers(self.numbering))
        object.__setattr__(self, "_prefixes", frozenset(prefixes))

    # -- matching --

    def match(self, digits: str) -> Match:
        """The state of `digits` dialled so far (overlap dialling). Empty digits are
        INCOMPLETE with the first-digit timeout."""
        if not digits:
            return Match(MatchState.INCOMPLETE, timeout_s=self.timeouts.first_digit_s)
        if len(digits) > MAX_DIALLED:
            return Match(MatchState.INVALID, invalid=Invalid.TOO_LONG)
        if not set(digits) <= DIAL_DIGITS:
            return Match(MatchState.INVALID, invalid=Invalid.BAD_DIGIT)
        if digits in self._emergency:
            # Emergency wins over every other reading and goes at once: 911 with access code
            # 9 in the US (47 U.S.C. § 623, Kari's Law: no prefix needed for 911).
            return Match(MatchState.COMPLETE, target=EmergencyTarget(digits, None))
        found = self._combine(self._partials(digits, features=True, external=True))
        term = self.terminator
        if found.state is MatchState.INVALID and term and digits.endswith(term):
            before = self._combine(
                self._partials(digits[: -len(term)], features=True, external=True)
            )
            if before.state is MatchState.COMPLETE:
                return before
            if before.state is MatchState.INCOMPLETE:
                if before.on_timeout is not None:
                    return Match(MatchState.COMPLETE, target=before.on_timeout)
                return Match(MatchState.INVALID, invalid=Invalid.INCOMPLETE)
        return found

    def resolve(self, number: str) -> Match:
        """A whole number sent at once (SIP): COMPLETE or INVALID, never INCOMPLETE.

        Visual separators are ignored; "+" and E.164 go out on the first trunk access code's
        group as if dialled after it.
        """
        digits = _VISUAL_SEPARATORS.sub("", number)
        if digits.startswith("+"):
            return self._resolve_e164(digits)
        found = self.match(digits)
        if found.state is MatchState.INCOMPLETE:
            if found.on_timeout is not None:
                return Match(MatchState.COMPLETE, target=found.on_timeout)
            reason = Invalid.NOTHING_DIALLED if not digits else Invalid.INCOMPLETE
            return Match(MatchState.INVALID, invalid=reason)
        return found

    def _resolve_e164(self, digits: str) -> Match:
        if len(digits) > MAX_DIALLED or not set(digits[1:]) <= frozenset("0123456789"):
            return Match(MatchState.INVALID, invalid=Invalid.BAD_DIGIT)
        if not self.trunk_access:
            return Match(MatchState.INVALID, invalid=Invalid.NO_TRUNK)
        access = self.trunk_access[0]
        state = completeness(digits, self.numbering)
        if state is Completeness.INVALID or (
            state is Completeness.INCOMPLETE and not is_possible(digits, self.numbering)
        ):
            return Match(MatchState.INVALID, invalid=Invalid.INCOMPLETE)
        target = ExternalTarget(access.trunk_group, "", classify(digits, self.numbering))
        return Match(MatchState.COMPLETE, target=target)

    def _partials(self, digits: str, features: bool, external: bool) -> list[_Partial]:
        partials: list[_Partial] = []
        internal = self._internal.get(digits)
        if internal is not None:
            partials.append(_Partial(now=internal))
        if digits in self._prefixes:
            partials.append(_Partial(grows=True))
        if features:
            if any(e.startswith(digits) and e != digits for e in self._emergency):
                partials.append(_Partial(grows=True))
            for feature in self.features:
                if digits.startswith(feature.code):
                    partials.append(self._feature(feature, digits[len(feature.code) :]))
                elif feature.code.startswith(digits):
                    partials.append(_Partial(grows=True))
        if external:
            for access in self.trunk_access:
                if digits.startswith(access.code):
                    partials.append(self._external(access, digits[len(access.code) :]))
                elif access.code.startswith(digits):
                    partials.append(_Partial(grows=True))
        return partials

    def _feature(self, feature: FeatureCode, arg: str) -> _Partial:
        def wrap(target: Target | None, arg: str = arg) -> FeatureTarget | None:
            if target is None:
                return None
            if isinstance(target, FeatureTarget):  # not produced: arguments hold no features
                return None
            return FeatureTarget(feature.feature, feature.code, arg, target)

        kind = feature.argument
        if kind is ArgumentKind.NONE:
            if arg:
                return _Partial(invalid=Invalid.BAD_ARGUMENT)
            return _Partial(now=FeatureTarget(feature.feature, feature.code))
        if kind is ArgumentKind.DIGITS:
            if not set(arg) <= frozenset("0123456789") or len(arg) > feature.max_digits:
                return _Partial(invalid=Invalid.BAD_ARGUMENT)
            target = FeatureTarget(feature.feature, feature.code, arg)
            if len(arg) == feature.max_digits:
                return _Partial(now=target)
            if len(arg) >= feature.min_digits:
                return _Partial(grows=True, later=target, soon=True)
            return _Partial(grows=True)
        if not arg:
            return _Partial(grows=True)
        inner = self._partials(arg, features=False, external=kind is ArgumentKind.DESTINATION)
        if not inner:
            return _Partial(invalid=Invalid.BAD_ARGUMENT)
        sub = self._combine(inner)
        if sub.state is MatchState.COMPLETE:
            return _Partial(now=wrap(sub.target))
        if sub.state is MatchState.INVALID:
            return _Partial(invalid=Invalid.BAD_ARGUMENT)
        # The inner match chose the short wait exactly when its digits could be whole.
        soon = sub.timeout_s == self.timeouts.maybe_complete_s
        return _Partial(grows=True, later=wrap(sub.on_timeout), soon=soon)

    def _external(self, access: TrunkAccess, rest: str) -> _Partial:
        if not rest:
            return _Partial(grows=True)  # the controller may play the outside dial tone
        ctx = self.numbering
        if not set(rest) <= frozenset("0123456789"):
            return _Partial(invalid=Invalid.NO_MATCH)
        if is_emergency(rest, ctx):
            return _Partial(now=EmergencyTarget(rest, access.trunk_group))
        state = completeness(rest, ctx)
        if state is Completeness.INVALID:  # too long, or no such country code
            return _Partial(invalid=Invalid.NO_MATCH)
        target = ExternalTarget(access.trunk_group, access.code, classify(rest, ctx))
        if state is Completeness.COMPLETE:
            return _Partial(now=target)
        if state is Completeness.MAYBE_COMPLETE:
            return _Partial(grows=True, later=target, soon=True)
        # Not valid for phonenumbers yet: sent when the caller stops, if its length is possible
        # (a range newer than the metadata; it classifies as UNKNOWN for class of service).
        return _Partial(grows=True, later=target if is_possible(rest, ctx) else None)

    def _combine(self, partials: list[_Partial]) -> Match:
        """One answer from every family's reading. A well-formed plan gives at most one family
        per digit string; with conflicts the first exact match waits the short timeout."""
        exact = [p.now for p in partials if p.now is not None]
        growing = [p for p in partials if p.grows]
        if exact and not growing:
            return Match(MatchState.COMPLETE, target=exact[0])
        if exact:
            return Match(
                MatchState.INCOMPLETE, timeout_s=self.timeouts.maybe_complete_s, on_timeout=exact[0]
            )
        if growing:
            soon = [p.later for p in growing if p.soon and p.later is not None]
            if soon:
                return Match(
                    MatchState.INCOMPLETE,
                    timeout_s=self.timeouts.maybe_complete_s,
                    on_timeout=soon[0],
                )
            later = [p.later for p in growing if p.later is not None]
            return Match(
                MatchState.INCOMPLETE,
                timeout_s=self.timeouts.inter_digit_s,
                on_timeout=later[0] if later else None,
            )
        reasons = [p.invalid for p in partials if p.invalid is not None]
        return Match(MatchState.INVALID, invalid=reasons[0] if reasons else Invalid.NO_MATCH)


# --- overlap dialling ---------------------------------------------------------------------------


class DigitCollector:
    """Digits of one off-hook (analog, DECT) until they make a number or cannot.

    Sans-I/O: the caller feeds digits with `now`, arms a timer for `next_deadline()` and calls
    `expire(now)` when it fires. Once `result` is set the collector is done: later digits are
    the call's (DTMF to the far end), and `feed` returns the result unchanged.
    """

    def __init__(self, plan: DialPlan, now: float) -> None:
        self._plan = plan
        self._digits = ""
        self._current = plan.match("")
        self._deadline: float | None = now + plan.timeouts.first_digit_s
        self._result: Match | None = None

    @property
    def digits(self) -> str:
        return self._digits

    @property
    def result(self) -> Match | None:
        """The final COMPLETE or INVALID match, once there is one."""
        return self._result

    def next_deadline(self) -> float | None:
        return self._deadline

    def feed(self, digit: str, now: float) -> Match:
        """One dialled digit (0-9, `*`, `#`). A digit at or after the deadline comes too late:
        the timeout is applied first and the digit dropped."""
        if self._result is not None:
            return self._result
        if self._deadline is not None and now >= self._deadline:
            expired = self.expire(now)
            if expired is not None:
                return expired
        if len(digit) != 1 or digit not in DIAL_DIGITS:
            return self._finish(Match(MatchState.INVALID, invalid=Invalid.BAD_DIGIT))
        self._digits += digit
        found = self._plan.match(self._digits)
        if found.state is not MatchState.INCOMPLETE:
            return self._finish(found)
        self._current = found
        self._deadline = now + (found.timeout_s or self._plan.timeouts.inter_digit_s)
        return found

    def expire(self, now: float) -> Match | None:
        """The final match if the deadline has passed, else None (a stale timer)."""
        if self._result is not None or self._deadline is None or now < self._deadline:
            return None
        if self._current.on_timeout is not None:
            return self._finish(Match(MatchState.COMPLETE, target=self._current.on_timeout))
        reason = Invalid.INCOMPLETE if self._digits else Invalid.NOTHING_DIALLED
        return self._finish(Match(MatchState.INVALID, invalid=reason))

    def _finish(self, found: Match) -> Match:
        self._result = found
        self._deadline = None
        return found


# --- validation ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"[0-9]{2,5}")
_FEATURE = re.compile(r"[*#][0-9*#]{0,5}")
_ACCESS = re.compile(r"[0-9]{1,3}")
_CITY = re.compile(r"[0-9]{1,5}")
_EXTRA_EMERGENCY = re.compile(r"[0-9]{2,6}")


@dataclass(frozen=True, slots=True)
class _Code:
    code: str
    what: str
    """How an installer names it: "extension 201", "trunk access code 9 (group city)"."""
    path: str
    kind: str
    takes_more: bool = False
    """Digits follow it (a feature with an argument, a trunk access code)."""
    country: str = ""
    """Emergency numbers: the country they are emergency numbers in."""


def validate(plan: DialPlan) -> list[Problem]:
    """Every problem of the plan, in plan order; empty when the plan is usable.

    Checks formats, duplicates and prefix conflicts between extensions, departments, feature
    codes, trunk access codes and the country's emergency numbers, and the timeouts' order.
    Problems name the entry's `setting` path (or the plan's own) and say what to change.
    """
    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(path, None, None, message))

    ctx = plan.numbering
    if not known_country(ctx.country):
        bad("numbering.country", f"{ctx.country!r} is not a country phonenumbers knows; use "
            "an ISO 3166-1 alpha-2 code such as RU, DE, GB, US")
    if ctx.city_code and not _CITY.fullmatch(ctx.city_code):
        bad("numbering.city_code", f"city code {ctx.city_code!r} must be 1 to 5 digits, "
            "without the national prefix (495, not 8495)")
    for i, code in enumerate(ctx.local_codes):
        if not _CITY.fullmatch(code):
            bad(f"numbering.local_codes[{i}]", f"area code {code!r} must be 1 to 5 digits")
    for i, number in enumerate(ctx.extra_emergency):
        if not _EXTRA_EMERGENCY.fullmatch(number):
            bad(f"numbering.extra_emergency[{i}]", f"{number!r} must be 2 to 6 digits")

    codes: list[_Code] = []
    for i, ext in enumerate(plan.extensions):
        path = ext.setting or f"extensions[{i}].number"
        if not _NUMBER.fullmatch(ext.number):
            bad(path, f"extension {ext.number!r} must be 2 to 5 digits")
        codes.append(_Code(ext.number, f"extension {ext.number}", path, "extension"))
    for i, dept in enumerate(plan.departments):
        path = dept.setting or f"departments[{i}].number"
        if not _NUMBER.fullmatch(dept.number):
            bad(path, f"department number {dept.number!r} must be 2 to 5 digits")
        codes.append(_Code(dept.number, f"department {dept.number}", path, "department"))
    for i, feature in enumerate(plan.features):
        path = feature.setting or f"features[{i}].code"
        if not _FEATURE.fullmatch(feature.code):
            bad(path, f"feature code {feature.code!r} must start with * or # and have at most "
                "6 characters of 0-9, * and #")
        if feature.argument is ArgumentKind.DIGITS and not (
            1 <= feature.min_digits <= feature.max_digits <= 20
        ):
            bad(path, f"feature code {feature.code}: argument digits must satisfy 1 <= "
                f"min_digits ({feature.min_digits}) <= max_digits ({feature.max_digits}) <= 20")
        takes_more = feature.argument is not ArgumentKind.NONE
        codes.append(_Code(feature.code, f"feature code {feature.code} ({feature.feature})",
                           path, "feature", takes_more))
    for i, access in enumerate(plan.trunk_access):
        path = access.setting or f"trunk_access[{i}].code"
        if not _ACCESS.fullmatch(access.code):
            bad(path, f"trunk access code {access.code!r} must be 1 to 3 digits")
        if not access.trunk_group:
            bad(path, f"trunk access code {access.code} names no trunk group")
        codes.append(_Code(access.code, f"trunk access code {access.code} of trunk group "
                           f"{access.trunk_group}", path, "trunk", True))
    for number in sorted(emergency_numbers(ctx)):
        codes.append(_Code(number, f"emergency number {number} in {ctx.country}",
                           "numbering.country", "emergency", country=ctx.country))

    _conflicts(codes, ctx, bad)
    if plan.terminator not in ("", "#", "*"):
        bad("terminator", f"terminator {plan.terminator!r} must be #, * or empty")
    t = plan.timeouts
    if not 0 < t.maybe_complete_s <= t.inter_digit_s <= t.first_digit_s:
        bad("timeouts", "timeouts must satisfy 0 < maybe_complete_s "
            f"({t.maybe_complete_s}) <= inter_digit_s ({t.inter_digit_s}) <= first_digit_s "
            f"({t.first_digit_s})")
    return problems


def _conflicts(
    codes: Iterable[_Code], ctx: NumberingContext, bad: Callable[[str, str], None]
) -> None:
    """Duplicates and prefixes, in O(codes × length): each code's prefixes are looked up."""
    first: dict[str, _Code] = {}
    ordered = list(codes)
    for code in ordered:
        seen = first.get(code.code)
        if seen is None:
            first[code.code] = code
            continue
        if code.kind == "emergency":  # listed last: `seen` is the configured entry
            if seen.kind != "emergency":
                bad(seen.path, f"{seen.what} is {code.what}: emergency numbers always go out "
                    "and cannot be used here; choose another number")
        else:
            bad(code.path, f"{code.what} is also {seen.what} ({seen.path}); a number must be "
                "unique")
    # An entry that begins several emergency numbers (access code 0 and RU 01–04) is one
    # problem, not four.
    emergency_after: dict[str, list[_Code]] = {}
    for code in ordered:
        for length in range(1, len(code.code)):
            shorter = first.get(code.code[:length])
            if shorter is None or shorter is code:
                continue
            if code.kind == "emergency" and shorter.kind == "trunk":
                # Emergency wins at once, so the clash costs only outside numbers that would
                # begin like it after the access code (none for 9 + 911 in the US).
                if could_begin(code.code[length:], ctx):
                    emergency_after.setdefault(shorter.code, []).append(code)
            elif code.kind == "emergency" and shorter.kind != "emergency":
                emergency_after.setdefault(shorter.code, []).append(code)
            elif code.kind != "emergency":
                bad(*_prefix_problem(shorter, code))
    for prefix, numbers in emergency_after.items():
        bad(*_prefix_problem(first[prefix], *numbers))


def _prefix_problem(shorter: _Code, *longer: _Code) -> tuple[str, str]:
    """The path to blame and the message for `shorter` being a prefix of `longer` (several
    only when they are emergency numbers)."""
    first = longer[0]
    if first.kind == "emergency":
        numbers = ", ".join(c.code for c in longer)
        plural = "s" if len(longer) > 1 else ""
        what = f"emergency number{plural} {numbers} in {first.country}"
        if shorter.kind == "trunk":
            rests = ", ".join(c.code[len(shorter.code) :] for c in longer)
            return (shorter.path, f"{shorter.what} is the start of {what}: the emergency "
                    f"number wins, so outside numbers beginning {rests} cannot be dialled after "
                    f"{shorter.code}; choose another access code (or turn off legacy "
                    "emergency numbers if only those clash)")
        return (shorter.path, f"{shorter.what} is the start of {what}: emergency calls would "
                "wait for the inter-digit timeout; renumber it")
    if shorter.kind == "trunk":
        return (first.path, f"{first.what} starts with {shorter.what} ({shorter.path}): "
                f"every number starting with {shorter.code} goes to the trunks, so it can never "
                "be dialled; renumber it or choose another access code")
    if shorter.kind == "emergency":
        return (first.path, f"{first.what} starts with {shorter.what}: the emergency number "
                "goes out as soon as it is dialled, so it can never be dialled; renumber it")
    if shorter.takes_more:
        return (first.path, f"{first.what} starts with {shorter.what} ({shorter.path}), "
                f"which takes digits after it: {first.code} would be read as "
                f"{shorter.code} and an argument; change one of them")
    return (first.path, f"{shorter.what} ({shorter.path}) is the start of {first.what}: "
            f"after {shorter.code} the box must wait to know which is meant; change one of "
            "them (all extensions of one length avoid this)")
