"""Call pickup: groups, listening groups, longest-ringing first, own calls never, claims once."""

from __future__ import annotations

from firmware.calls.events import CallId
from firmware.features.pickup import PickupGroups, PickupMember

X, Y, Z = CallId("x"), CallId("y"), CallId("z")


def office(**kw: bool) -> PickupGroups:
    return PickupGroups(
        [
            PickupMember("sales1", frozenset({"sales"})),
            PickupMember("sales2", frozenset({"sales"})),
            PickupMember("both", frozenset({"sales", "support"})),
            PickupMember("support1", frozenset({"support"})),
            PickupMember("reception", frozenset(), listens=frozenset({"sales", "support"})),
            PickupMember("sales3", frozenset({"sales"})),
            PickupMember("loner"),
        ],
        **kw,
    )


def test_group_pickup_takes_longest_ringing_call_in_my_group() -> None:
    groups = office()
    groups.ringing(Y, "sales2", now=5.0)
    groups.ringing(X, "sales1", now=2.0)
    assert groups.group_pickup("both") == X
    assert groups.group_pickup("both") == Y
    assert groups.group_pickup("both") is None


def test_group_pickup_ignores_other_groups() -> None:
    groups = office()
    groups.ringing(X, "support1", now=0.0)
    assert groups.group_pickup("sales1") is None
    assert groups.group_pickup("loner") is None
    assert groups.group_pickup("both") == X


def test_listening_device_picks_up_but_is_not_picked_up() -> None:
    groups = office()
    groups.ringing(X, "support1", now=0.0)
    assert groups.group_pickup("reception") == X
    groups.ringing(Y, "reception", now=1.0)
    assert groups.group_pickup("sales1") is None


def test_group_pickup_never_takes_the_pickers_own_call() -> None:
    groups = office()
    groups.ringing(X, "sales1", now=0.0)
    groups.ringing(X, "sales2", now=0.0)      # a call forked to both phones
    assert groups.group_pickup("sales1") is None
    groups.ringing(Y, "sales2", now=1.0, caller_device="sales1")  # placed by sales1
    assert groups.group_pickup("sales1") is None
    assert groups.group_pickup("both") == X


def test_stopped_call_cannot_be_picked_up() -> None:
    groups = office()
    groups.ringing(X, "sales1", now=0.0)
    groups.ringing(X, "sales2", now=0.0)
    groups.stopped(X, "sales1")
    assert groups.ringing_at("sales2") == (X,)
    groups.stopped(X)
    assert groups.group_pickup("both") is None


def test_longest_ringing_counts_from_when_it_rang_in_my_group() -> None:
    def rung() -> PickupGroups:
        groups = office()
        groups.ringing(X, "support1", now=0.0)   # support only, at first
        groups.ringing(X, "sales1", now=9.0)     # then also in sales
        groups.ringing(Y, "sales2", now=5.0)
        return groups

    assert rung().group_pickup("reception") == X   # listens to both: X rang first
    # Seen from sales only, X rang at 9.0 and Y at 5.0: Y has rung longer there.
    assert rung().group_pickup("sales3") == Y
    # For sales2's colleague "both" X rang at 0.0 too (support1 is its group).
    assert rung().group_pickup("both") == X
    # "sales1" is in X's ring list itself, so it cannot group-pickup X; Y is free.
    assert rung().group_pickup("sales1") == Y
    groups = rung()
    groups.stopped(X, "sales1")
    # Seen from sales only, X rang at 9.0 and Y at 5.0; sales1 no longer rings for X, but
    # X rings at no sales device now, so Y is the only sales call.
    assert groups.group_pickup("sales1") == Y


def test_directed_pickup_targets_the_named_devices() -> None:
    groups = office()
    groups.ringing(X, "sales1", now=0.0)
    groups.ringing(Y, "support1", now=3.0)
    groups.ringing(Z, "support1", now=1.0)
    assert groups.directed_pickup("loner", ["support1"]) == Z
    assert groups.directed_pickup("loner", ["nobody"]) is None
    assert groups.directed_pickup("loner", ["support1"]) == Y


def test_directed_pickup_within_groups_when_restricted() -> None:
    groups = office(directed_within_groups=True)
    groups.ringing(X, "support1", now=0.0)
    assert groups.directed_pickup("sales1", ["support1"]) is None
    assert groups.directed_pickup("reception", ["support1"]) == X


def test_a_call_is_claimed_once() -> None:
    groups = office()
    groups.ringing(X, "sales1", now=0.0)
    assert groups.directed_pickup("loner", ["sales1"]) == X
    assert groups.group_pickup("sales2") is None
    assert groups.next_deadline() is None
