"""Call park: slots, refusals, retrieval from any phone, abandon, timeout back to the parker."""

from __future__ import annotations

import pytest

from firmware.calls.events import CallId
from firmware.features.park import (
    ParkAbandoned,
    Parked,
    ParkingLot,
    ParkRefusalReason,
    ParkTimedOut,
    Refusal,
    Retrieved,
)

A, B, C = CallId("a"), CallId("b"), CallId("c")


def drain(lot: ParkingLot) -> list[object]:
    out = []
    while (ev := lot.next_event()) is not None:
        out.append(ev)
    return out


def test_park_takes_first_free_slot_and_requested_slot() -> None:
    lot = ParkingLot(range(71, 74), timeout_s=60)
    first = lot.park(A, "fxs1", now=0.0)
    assert isinstance(first, Parked) and first.slot == 71
    chosen = lot.park(B, "fxs2", now=1.0, slot=73)
    assert isinstance(chosen, Parked) and chosen.slot == 73
    third = lot.park(C, "fxs3", now=2.0)
    assert isinstance(third, Parked) and third.slot == 72
    assert dict(lot.occupied()) == {71: A, 73: B, 72: C}


def test_park_into_occupied_slot_is_refused_and_keeps_the_first_call() -> None:
    lot = ParkingLot((71, 72), timeout_s=60)
    lot.park(A, "fxs1", now=0.0, slot=71)
    assert lot.park(B, "fxs2", now=1.0, slot=71) == Refusal(ParkRefusalReason.SLOT_OCCUPIED, 71)
    assert lot.occupied()[71] == A


def test_park_refusals_for_full_lot_unknown_slot_and_double_park() -> None:
    lot = ParkingLot((71,), timeout_s=60)
    lot.park(A, "fxs1", now=0.0)
    assert lot.park(A, "fxs1", now=0.0) == Refusal(ParkRefusalReason.ALREADY_PARKED, 71)
    assert lot.park(B, "fxs2", now=0.0) == Refusal(ParkRefusalReason.NO_FREE_SLOT)
    assert lot.park(B, "fxs2", now=0.0, slot=99) == Refusal(ParkRefusalReason.NO_SUCH_SLOT, 99)


def test_retrieve_from_any_phone_frees_the_slot() -> None:
    lot = ParkingLot((71, 72), timeout_s=60)
    lot.park(A, "fxs1", now=0.0)
    drain(lot)
    assert lot.retrieve(71, "sip-202", now=10.0) == A
    assert drain(lot) == [Retrieved(A, 71, "sip-202", 10.0)]
    assert dict(lot.occupied()) == {}
    assert lot.retrieve(71, "sip-202", now=11.0) == Refusal(ParkRefusalReason.SLOT_EMPTY, 71)
    assert lot.retrieve(5, "sip-202", now=11.0) == Refusal(ParkRefusalReason.NO_SUCH_SLOT, 5)


def test_abandoned_call_frees_slot_and_never_times_out() -> None:
    lot = ParkingLot((71,), timeout_s=30)
    lot.park(A, "fxs1", now=0.0)
    drain(lot)
    assert lot.abandon(A, now=5.0) == 71
    assert drain(lot) == [ParkAbandoned(A, 71, 5.0)]
    assert lot.next_deadline() is None
    lot.handle_timers(100.0)
    assert drain(lot) == []
    assert isinstance(lot.park(B, "fxs2", now=6.0, slot=71), Parked)


def test_timeout_rings_the_parker_back_exactly_at_the_deadline() -> None:
    lot = ParkingLot((71, 72), timeout_s=45)
    lot.park(A, "fxs1", now=10.0)
    lot.park(B, "dect1", now=20.0)
    drain(lot)
    assert lot.next_deadline() == 55.0
    lot.handle_timers(54.9)
    assert drain(lot) == []
    lot.handle_timers(55.0)
    assert drain(lot) == [ParkTimedOut(A, 71, "fxs1", 55.0)]
    assert dict(lot.occupied()) == {72: B}
    assert lot.next_deadline() == 65.0
    # A retrieve after the timeout finds the slot empty: the call went back to the parker.
    assert lot.retrieve(71, "fxs3", now=56.0) == Refusal(ParkRefusalReason.SLOT_EMPTY, 71)


def test_lot_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        ParkingLot((), timeout_s=60)
    with pytest.raises(ValueError):
        ParkingLot((71,), timeout_s=1)
