"""Caller IDs in every Russian form meet in one E.164 key."""

from __future__ import annotations

import pytest

from firmware.calls.numbers import NumberingContext
from firmware.contacts.phone import normalise, search_forms

from .conftest import MOSCOW


@pytest.mark.parametrize(
    "raw",
    [
        "+7 495 123-45-67",
        "8 495 123-45-67",
        "8 (495) 123-45-67",
        "495 123 45 67",
        "4951234567",
        "74951234567",  # trunks that drop the "+"
        "123-45-67",  # local, with the configured city code 495
        "1234567",
    ],
)
def test_russian_forms_of_one_number_normalise_alike(raw: str) -> None:
    assert normalise(raw, MOSCOW) == "+74951234567"


def test_mobile_forms_normalise_alike() -> None:
    forms = ["+7 916 123-45-67", "8 916 123 45 67", "9161234567", "79161234567"]
    assert {normalise(f, MOSCOW) for f in forms} == {"+79161234567"}


def test_local_number_needs_the_city_code() -> None:
    assert normalise("1234567", NumberingContext(country="RU", city_code="812")) == ("+78121234567")


@pytest.mark.parametrize(
    "raw", ["", "anonymous", "+7", "1234", "+7 495 12", "1" * 80, "８４９５１２３４５６７"]
)
def test_unreadable_caller_ids_give_none(raw: str) -> None:
    assert normalise(raw, MOSCOW) is None


def test_international_number_keeps_its_country() -> None:
    assert normalise("810 44 20 7946 0958", MOSCOW) == "+442079460958"
    assert normalise("+44 20 7946 0958", MOSCOW) == "+442079460958"


def test_search_forms_cover_how_crms_store_numbers() -> None:
    forms = search_forms("+74951234567", MOSCOW)
    assert {"+74951234567", "84951234567", "4951234567", "74951234567"} <= set(forms)
