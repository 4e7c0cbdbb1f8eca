from decimal import Decimal

import pytest

from firmware.calls.numbers import NumberClass
from firmware.records.tariff import (
    PER_MINUTE,
    PER_SECOND,
    SIXTY_PLUS_ONE,
    BillingIncrement,
    Rate,
    Tariff,
    format_money,
    parse_increment,
)


@pytest.mark.parametrize(
    ("increment", "talk_s", "billed_s"),
    [
        (PER_SECOND, 0.0, 0),
        (PER_SECOND, 0.4, 1),
        (PER_SECOND, 59.0000001, 59),  # float noise below a millisecond is not a second
        (PER_SECOND, 59.002, 60),
        (PER_MINUTE, 1.0, 60),
        (PER_MINUTE, 60.0, 60),
        (PER_MINUTE, 61.0, 120),
        (SIXTY_PLUS_ONE, 5.0, 60),
        (SIXTY_PLUS_ONE, 60.0, 60),
        (SIXTY_PLUS_ONE, 60.2, 61),
        (SIXTY_PLUS_ONE, 125.0, 125),
        (BillingIncrement(30, 6), 31.0, 36),
        (BillingIncrement(30, 6), 36.5, 42),
    ],
)
def test_billing_increment_rounds_talk_up(
    increment: BillingIncrement, talk_s: float, billed_s: int
) -> None:
    assert increment.billed_s(talk_s) == billed_s


def test_parse_increment_names_and_pairs() -> None:
    assert parse_increment("60+1") == SIXTY_PLUS_ONE
    assert parse_increment("per_minute") == PER_MINUTE
    assert parse_increment("30/6") == BillingIncrement(30, 6)
    with pytest.raises(ValueError, match="billing increment"):
        parse_increment("60-1")
    with pytest.raises(ValueError):
        parse_increment("0/1")


TARIFF = Tariff("RUB", 2, (
    Rate("mts", Decimal("2.50"), prefix="+7916", setup=Decimal("0.10"), increment=SIXTY_PLUS_ONE),
    Rate("ru-mobile", Decimal("5.00"), prefix="+79"),
    Rate("mobile", Decimal("3.00"), number_class=NumberClass.MOBILE),
))


def test_longest_prefix_wins_then_class_then_nothing() -> None:
    assert TARIFF.rate_for("+79161234567", NumberClass.MOBILE).name == "mts"  # type: ignore[union-attr]
    assert TARIFF.rate_for("+79031234567", NumberClass.MOBILE).name == "ru-mobile"  # type: ignore[union-attr]
    assert TARIFF.rate_for("+380501234567", NumberClass.MOBILE).name == "mobile"  # type: ignore[union-attr]
    assert TARIFF.price("+4420123456", NumberClass.INTERNATIONAL, 30.0) is None


def test_cost_is_setup_plus_rate_rounded_half_up_in_minor_units() -> None:
    # 61.2 s → 62 s billed (60+1); 0.10 + 2.50 * 62/60 = 2.68333 RUB → 268 kopecks.
    charge = TARIFF.price("+79161234567", NumberClass.MOBILE, 61.2)
    assert charge is not None and (charge.billed_s, charge.cost_minor) == (62, 268)
    # 5.00/min per second, 9 s: 0.75 RUB exactly; 3 s: 0.25; 1 s: 0.0833 → 8.
    assert TARIFF.price("+79031234567", None, 9.0).cost_minor == 75  # type: ignore[union-attr]
    assert TARIFF.price("+79031234567", None, 1.0).cost_minor == 8  # type: ignore[union-attr]
    # Half a kopeck rounds up: 0.30/min for 1 s = 0.5 kopeck.
    half = Tariff("RUB", 2, (Rate("x", Decimal("0.30"), prefix="+7"),))
    assert half.price("+7495", None, 1.0).cost_minor == 1  # type: ignore[union-attr]


def test_unanswered_call_costs_nothing_not_even_setup() -> None:
    charge = TARIFF.price("+79161234567", NumberClass.MOBILE, 0.0)
    assert charge is not None and (charge.billed_s, charge.cost_minor) == (0, 0)


def test_rate_needs_exactly_one_match_rule() -> None:
    with pytest.raises(ValueError):
        Rate("bad", Decimal(1))
    with pytest.raises(ValueError):
        Rate("bad", Decimal(1), prefix="+7", number_class=NumberClass.LOCAL)


def test_format_money_uses_minor_digits() -> None:
    assert format_money(1234, 2) == "12.34"
    assert format_money(1200, 0) == "1200"
    assert format_money(5, 3) == "0.005"
