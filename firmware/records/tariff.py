"""Call pricing: a tariff table of rates by number prefix or number class, billed in increments.

A rate is chosen for the external number of an outbound call: the longest matching prefix
(`+7495`, `+7800`, `+44`) wins; with none, the rate for the number's class (`calls.numbers`
`NumberClass`: local, mobile, international, …); with neither, the call stays unpriced (cost
None, reported as such, never guessed). Unanswered calls cost nothing, setup included.

Billing increments follow carrier practice, written as "first/next" seconds: per second (1/1),
per minute (60/60), "60+1" (the first minute whole, then per second: 60/1), and any other
pair (30/6). Talk time is rounded up to whole seconds first (a carrier bills any part of a
second), after rounding to the millisecond so that float noise (60.0000001 s) does not cost a
second.

Money is exact: rates are `Decimal` major currency units per minute (0.035 USD/min is fine);
the cost of a call is `setup + per_minute · billed_s / 60`, rounded half-up once per call to
integer minor units (kopecks, cents) — `minor_digits` of the currency (ISO 4217: RUB, USD, EUR
2; JPY 0; KWD 3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from firmware.calls.numbers import NumberClass


@dataclass(frozen=True, slots=True)
class BillingIncrement:
    """The first charged block and every following block, in seconds."""

    first_s: int
    next_s: int

    def __post_init__(self) -> None:
        if self.first_s < 1 or self.next_s < 1:
            raise ValueError(f"billing increments must be ≥ 1 s, got {self.first_s}/{self.next_s}")

    def billed_s(self, talk_s: float) -> int:
        """Seconds charged for `talk_s` seconds of conversation (0 for no conversation)."""
        whole_s = math.ceil(round(max(talk_s, 0.0) * 1000) / 1000)
        if whole_s == 0:
            return 0
        if whole_s <= self.first_s:
            return self.first_s
        return self.first_s + math.ceil((whole_s - self.first_s) / self.next_s) * self.next_s

    def __str__(self) -> str:
        return f"{self.first_s}/{self.next_s}"


PER_SECOND = BillingIncrement(1, 1)
PER_MINUTE = BillingIncrement(60, 60)
SIXTY_PLUS_ONE = BillingIncrement(60, 1)


def parse_increment(text: str) -> BillingIncrement:
    """`"per_second"`, `"per_minute"`, `"60+1"` or `"first/next"` (`"30/6"`); ValueError else."""
    named = {"per_second": PER_SECOND, "per_minute": PER_MINUTE, "60+1": SIXTY_PLUS_ONE}
    if text in named:
        return named[text]
    first, sep, nxt = text.partition("/")
    if not sep or not first.isdigit() or not nxt.isdigit():
        raise ValueError(f"billing increment {text!r}: use per_second, per_minute, 60+1 or N/M")
    return BillingIncrement(int(first), int(nxt))


@dataclass(frozen=True, slots=True)
class Rate:
    """One line of a tariff: what matches, and what it costs."""

    name: str
    per_minute: Decimal
    """Major currency units per billed minute (Decimal("1.50") RUB)."""
    prefix: str = ""
    """E.164 prefix with "+" ("+7495"); empty for a class rate."""
    number_class: NumberClass | None = None
    """Class this rate prices when no prefix matches; None for a prefix rate."""
    setup: Decimal = Decimal(0)
    """Connection charge per answered call, major units."""
    increment: BillingIncrement = PER_SECOND

    def __post_init__(self) -> None:
        if bool(self.prefix) == (self.number_class is not None):
            raise ValueError(f"rate {self.name!r}: give exactly one of prefix and number_class")
        if self.per_minute < 0 or self.setup < 0:
            raise ValueError(f"rate {self.name!r}: negative price")


@dataclass(frozen=True, slots=True)
class Charge:
    """The price of one call."""

    rate: str
    billed_s: int
    cost_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Tariff:
    """The rates of one carrier (trunk), in one currency."""

    currency: str = "RUB"
    """ISO 4217 code."""
    minor_digits: int = 2
    """Digits of the minor unit (ISO 4217 exponent): 2 for RUB, USD, EUR; 0 for JPY."""
    rates: tuple[Rate, ...] = ()

    def rate_for(self, number: str, number_class: NumberClass | None) -> Rate | None:
        """Longest matching prefix, else the class rate, else None."""
        best: Rate | None = None
        for rate in self.rates:
            if rate.prefix and number.startswith(rate.prefix):
                if best is None or len(rate.prefix) > len(best.prefix):
                    best = rate
        if best is not None:
            return best
        if number_class is None:
            return None
        return next((r for r in self.rates if r.number_class is number_class), None)

    def price(self, number: str, number_class: NumberClass | None, talk_s: float) -> Charge | None:
        """The charge for a call to `number` that talked `talk_s` seconds; None if no rate."""
        rate = self.rate_for(number, number_class)
        if rate is None:
            return None
        billed_s = rate.increment.billed_s(talk_s)
        if billed_s == 0:
            return Charge(rate.name, 0, 0, self.currency)
        scale = Decimal(10) ** self.minor_digits
        cost = (rate.setup + rate.per_minute * billed_s / 60) * scale
        cost_minor = int(cost.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return Charge(rate.name, billed_s, cost_minor, self.currency)

    def format_minor(self, cost_minor: int) -> str:
        """"12.34" for 1234 minor units with two digits."""
        return format_money(cost_minor, self.minor_digits)


MINOR_DIGITS: dict[str, int] = {
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}
"""ISO 4217 exponents other than 2 (the usual one) for currencies a report may show."""


def minor_digits_of(currency: str) -> int:
    return MINOR_DIGITS.get(currency.upper(), 2)


def format_money(cost_minor: int, minor_digits: int) -> str:
    """Minor units as a decimal string in major units ("-0.05", "1200")."""
    return str(Decimal(cost_minor).scaleb(-minor_digits))


@dataclass(frozen=True, slots=True)
class TariffTable:
    """Tariffs by trunk name, with a default for trunks not listed."""

    by_trunk: Mapping[str, Tariff] = field(default_factory=dict)
    default: Tariff | None = None

    def price(
        self, trunk: str, number: str, number_class: NumberClass | None, talk_s: float
    ) -> Charge | None:
        tariff = self.by_trunk.get(trunk, self.default)
        return None if tariff is None else tariff.price(number, number_class, talk_s)
