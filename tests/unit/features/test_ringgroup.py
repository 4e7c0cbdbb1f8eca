"""Departments: each strategy's ring plan as a timeline, fallbacks, forward-to-mobile timing.

Expected timelines are worked out by hand from the issue's wording (step_s per member, previous
phone stops / keeps ringing, mobile after N s), not taken from the implementation's output.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.features.destination import Destination, DestinationKind
from firmware.features.ringgroup import (
    Connected,
    Fallback,
    FallbackReason,
    Member,
    MemberStats,
    Presence,
    Ring,
    RingCommand,
    RingGroup,
    RingGroupCall,
    RingGroupLedger,
    RingStrategy,
    StopRinging,
    Target,
    TargetKind,
    members_of,
)

VM_SALES = Destination(DestinationKind.VOICEMAIL, "sales")


def group(strategy: RingStrategy, members: tuple[Member, ...] | None = None,
          **kw: object) -> RingGroup:
    return RingGroup("sales", members or members_of(["a", "b", "c"]), strategy,  # type: ignore[arg-type]
                     **kw)


def run(call: RingGroupCall, until: float) -> list[tuple[float, RingCommand]]:
    """Start the call and fire each deadline in turn up to `until`, stamping outputs."""
    out = [(0.0, c) for c in call.start()]
    while (due := call.next_deadline()) is not None and due <= until:
        out += [(due, c) for c in call.handle_timers(due)]
    return out


def phone(m: str) -> Target:
    return Target(m)


def test_everyone_rings_all_available_at_once_and_falls_back_at_max_ring() -> None:
    call = RingGroupCall(group(RingStrategy.EVERYONE, max_ring_s=40.0), 0.0,
                         presence={"b": Presence.DND})
    assert run(call, 100.0) == [
        (0.0, Ring(phone("a"))), (0.0, Ring(phone("c"))),
        (40.0, StopRinging(phone("a"))), (40.0, StopRinging(phone("c"))),
        (40.0, Fallback(VM_SALES, FallbackReason.TIMEOUT)),
    ]
    assert call.finished and call.next_deadline() is None


def test_in_turn_rings_one_member_per_step_and_stops_the_previous() -> None:
    call = RingGroupCall(group(RingStrategy.IN_TURN, step_s=15.0, max_ring_s=300.0), 0.0)
    assert run(call, 1000.0) == [
        (0.0, Ring(phone("a"))),
        (15.0, StopRinging(phone("a"))), (15.0, Ring(phone("b"))),
        (30.0, StopRinging(phone("b"))), (30.0, Ring(phone("c"))),
        (45.0, StopRinging(phone("c"))), (45.0, Fallback(VM_SALES, FallbackReason.EXHAUSTED)),
    ]


def test_in_turn_uses_each_members_own_step_and_skips_busy_and_offline() -> None:
    members = (Member("a", step_s=20.0), Member("b"), Member("c", step_s=5.0), Member("d"))
    call = RingGroupCall(group(RingStrategy.IN_TURN, members, step_s=10.0, max_ring_s=300.0),
                         0.0, presence={"b": Presence.BUSY, "d": Presence.OFFLINE})
    assert run(call, 1000.0) == [
        (0.0, Ring(phone("a"))),
        (20.0, StopRinging(phone("a"))), (20.0, Ring(phone("c"))),
        (25.0, StopRinging(phone("c"))), (25.0, Fallback(VM_SALES, FallbackReason.EXHAUSTED)),
    ]


def test_in_turn_rounds_go_through_the_members_again() -> None:
    call = RingGroupCall(group(RingStrategy.IN_TURN, members_of(["a", "b"]), step_s=10.0,
                               rounds=2, max_ring_s=300.0), 0.0)
    rings = [(t, c.target.member) for t, c in run(call, 1000.0) if isinstance(c, Ring)]
    assert rings == [(0.0, "a"), (10.0, "b"), (20.0, "a"), (30.0, "b")]


def test_increasingly_adds_a_member_per_step_and_keeps_the_earlier_ones_ringing() -> None:
    call = RingGroupCall(group(RingStrategy.INCREASINGLY, step_s=10.0, max_ring_s=300.0), 0.0)
    assert run(call, 1000.0) == [
        (0.0, Ring(phone("a"))),
        (10.0, Ring(phone("b"))),
        (20.0, Ring(phone("c"))),
        (30.0, StopRinging(phone("a"))), (30.0, StopRinging(phone("b"))),
        (30.0, StopRinging(phone("c"))), (30.0, Fallback(VM_SALES, FallbackReason.EXHAUSTED)),
    ]
    assert call.ringing() == frozenset()


def test_max_ring_cuts_a_hunt_short() -> None:
    call = RingGroupCall(group(RingStrategy.IN_TURN, step_s=15.0, max_ring_s=20.0), 0.0)
    assert run(call, 1000.0)[-3:] == [
        (15.0, Ring(phone("b"))),
        (20.0, StopRinging(phone("b"))), (20.0, Fallback(VM_SALES, FallbackReason.TIMEOUT)),
    ]


class ReversingRandom(random.Random):
    def shuffle(self, x: list[object]) -> None:  # type: ignore[override]
        x.reverse()


def test_random_order_comes_from_the_injected_rng() -> None:
    call = RingGroupCall(group(RingStrategy.RANDOM, max_ring_s=300.0), 0.0,
                         rng=ReversingRandom())
    rings = [c.target.member for _, c in run(call, 1000.0) if isinstance(c, Ring)]
    assert rings == ["c", "b", "a"]


def test_random_order_differs_between_calls_and_covers_every_member_first() -> None:
    rng = random.Random(7)
    firsts = set()
    for _ in range(60):
        first = RingGroupCall(group(RingStrategy.RANDOM), 0.0, rng=rng).start()[0]
        assert isinstance(first, Ring)
        firsts.add(first.target.member)
    assert firsts == {"a", "b", "c"}


def test_least_recent_rings_never_called_first_then_the_oldest_call() -> None:
    stats = {"a": MemberStats(3, 100.0), "c": MemberStats(1, 50.0)}
    call = RingGroupCall(group(RingStrategy.LEAST_RECENT, max_ring_s=300.0), 200.0,
                         stats=stats)
    rings = [c.target.member for _, c in run(call, 1000.0) if isinstance(c, Ring)]
    assert rings == ["b", "c", "a"]


def test_fewest_calls_rings_the_least_loaded_first_ties_in_configured_order() -> None:
    ledger = RingGroupLedger()
    for member, at in [("a", 1.0), ("a", 2.0), ("c", 3.0), ("b", 4.0), ("a", 5.0)]:
        ledger.record_answered(member, at)
    assert ledger.stats()["a"] == MemberStats(3, 5.0)
    call = RingGroupCall(group(RingStrategy.FEWEST_CALLS, max_ring_s=300.0), 10.0,
                         stats=ledger.stats())
    rings = [c.target.member for _, c in run(call, 1000.0) if isinstance(c, Ring)]
    assert rings == ["b", "c", "a"]


def test_busy_member_in_turn_moves_on_at_once_with_a_full_step() -> None:
    call = RingGroupCall(group(RingStrategy.IN_TURN, step_s=15.0, max_ring_s=300.0), 0.0)
    call.start()
    assert call.on_member_busy("a", 3.0) == [Ring(phone("b"))]
    assert call.next_deadline() == 18.0


def test_everyone_declining_falls_back_immediately() -> None:
    call = RingGroupCall(group(RingStrategy.EVERYONE), 0.0)
    call.start()
    assert call.on_member_declined("a", 1.0) == []
    assert call.on_member_busy("b", 2.0) == []
    assert call.on_member_declined("c", 3.0) == [Fallback(VM_SALES, FallbackReason.EXHAUSTED)]


@pytest.mark.parametrize("fallback", [
    Destination(DestinationKind.DEPARTMENT, "support"),
    Destination(DestinationKind.QUEUE, "callcentre"),
    Destination(DestinationKind.VOICEMAIL, "boss"),
])
def test_nobody_available_goes_to_the_configured_fallback_at_once(
        fallback: Destination) -> None:
    call = RingGroupCall(group(RingStrategy.IN_TURN, fallback=fallback), 0.0,
                         presence={u: Presence.OFFLINE for u in "abc"})
    assert call.start() == [Fallback(fallback, FallbackReason.NOBODY_AVAILABLE)]
    assert call.finished


def test_empty_department_falls_back_to_its_own_voicemail() -> None:
    call = RingGroupCall(RingGroup("sales"), 0.0)
    assert call.start() == [Fallback(VM_SALES, FallbackReason.NOBODY_AVAILABLE)]


def test_answer_stops_every_other_target_and_ends_the_call() -> None:
    call = RingGroupCall(group(RingStrategy.EVERYONE), 0.0)
    call.start()
    assert call.on_member_answered("b", 4.0) == [
        StopRinging(phone("a")), StopRinging(phone("c")), Connected("b", phone("b"))]
    assert call.next_deadline() is None
    assert call.on_member_answered("a", 5.0) == []
    assert call.handle_timers(1000.0) == []


def test_answer_from_a_member_not_ringing_is_ignored() -> None:
    call = RingGroupCall(group(RingStrategy.IN_TURN), 0.0)
    call.start()
    assert call.on_member_answered("c", 1.0) == []
    assert call.on_member_answered("zed", 1.0) == []
    assert not call.finished


def test_everyone_adds_the_mobile_after_its_delay_and_it_can_answer() -> None:
    members = (Member("a", mobile="+79161234567", mobile_after_s=10.0), Member("b"))
    call = RingGroupCall(group(RingStrategy.EVERYONE, members, max_ring_s=60.0), 0.0)
    mobile = Target("a", TargetKind.MOBILE, "+79161234567")
    assert run(call, 12.0) == [(0.0, Ring(phone("a"))), (0.0, Ring(phone("b"))),
                               (10.0, Ring(mobile))]
    assert call.on_member_answered("a", 12.0, TargetKind.MOBILE) == [
        StopRinging(phone("a")), StopRinging(phone("b")), Connected("a", mobile)]


def test_in_turn_stretches_the_turn_so_the_mobile_really_rings() -> None:
    members = (Member("a", mobile="89161234567", mobile_after_s=10.0, mobile_ring_s=20.0),
               Member("b"))
    call = RingGroupCall(group(RingStrategy.IN_TURN, members, step_s=15.0, max_ring_s=300.0),
                         0.0)
    mobile = Target("a", TargetKind.MOBILE, "89161234567")
    assert run(call, 1000.0) == [
        (0.0, Ring(phone("a"))),
        (10.0, Ring(mobile)),
        (30.0, StopRinging(phone("a"))), (30.0, StopRinging(mobile)), (30.0, Ring(phone("b"))),
        (45.0, StopRinging(phone("b"))), (45.0, Fallback(VM_SALES, FallbackReason.EXHAUSTED)),
    ]


def test_mobile_busy_stops_only_the_mobile() -> None:
    members = (Member("a", mobile="+79161234567", mobile_after_s=0.0),)
    call = RingGroupCall(group(RingStrategy.EVERYONE, members, max_ring_s=60.0), 0.0)
    run(call, 0.0)
    assert call.on_member_busy("a", 1.0, TargetKind.MOBILE) == []
    assert call.ringing() == frozenset({phone("a")})
    assert call.next_deadline() == 60.0


def test_declining_on_the_desk_phone_stops_the_mobile_too() -> None:
    members = (Member("a", mobile="+79161234567", mobile_after_s=5.0), Member("b"))
    call = RingGroupCall(group(RingStrategy.EVERYONE, members), 0.0)
    run(call, 6.0)
    assert call.on_member_declined("a", 7.0) == [
        StopRinging(Target("a", TargetKind.MOBILE, "+79161234567"))]
    assert call.ringing() == frozenset({phone("b")})


def test_late_handle_timers_replays_each_step_at_its_own_time() -> None:
    call = RingGroupCall(group(RingStrategy.IN_TURN, step_s=15.0, max_ring_s=300.0), 0.0)
    call.start()
    out = call.handle_timers(500.0)
    assert out[-1] == Fallback(VM_SALES, FallbackReason.EXHAUSTED)
    assert [c.target.member for c in out if isinstance(c, Ring)] == ["b", "c"]


def test_cancel_stops_everything_without_a_fallback() -> None:
    call = RingGroupCall(group(RingStrategy.INCREASINGLY, step_s=10.0), 0.0)
    run(call, 10.0)
    assert call.cancel(11.0) == [StopRinging(phone("a")), StopRinging(phone("b"))]
    assert call.finished and call.handle_timers(1000.0) == []


_ACTIONS = st.lists(st.tuples(
    st.sampled_from(["answer", "busy", "decline", "timers"]),
    st.sampled_from(["a", "b", "c", "x"]),
    st.sampled_from(list(TargetKind)),
    st.floats(0.0, 30.0),
), max_size=25)


@settings(max_examples=300, deadline=None)
@given(strategy=st.sampled_from(list(RingStrategy)), actions=_ACTIONS,
       offline=st.sets(st.sampled_from(["a", "b", "c"])), seed=st.integers(0, 99))
def test_any_event_sequence_ends_in_exactly_one_answer_or_fallback(
        strategy: RingStrategy, actions: list[tuple[str, str, TargetKind, float]],
        offline: set[str], seed: int) -> None:
    members = (Member("a", mobile="+1", mobile_after_s=4.0), Member("b"),
               Member("c", mobile="+2", mobile_after_s=0.0))
    call = RingGroupCall(group(strategy, members, step_s=5.0, max_ring_s=40.0), 0.0,
                         presence={u: Presence.OFFLINE for u in offline},
                         rng=random.Random(seed))
    ringing: set[Target] = set()
    out: list[RingCommand] = []

    def track(commands: list[RingCommand]) -> None:
        for c in commands:
            if isinstance(c, Ring):
                assert c.target not in ringing and c.target.member not in offline
                ringing.add(c.target)
            elif isinstance(c, StopRinging):
                assert c.target in ringing
                ringing.discard(c.target)
        out.extend(commands)

    track(call.start())
    now = 0.0
    for action, member, kind, dt in actions:
        now += dt
        track(call.handle_timers(now))
        before = call.ringing()
        if action == "answer":
            track(call.on_member_answered(member, now, kind))
        elif action == "busy":
            track(call.on_member_busy(member, now, kind))
        elif action == "decline":
            track(call.on_member_declined(member, now, kind))
        if action in ("busy", "decline"):  # the reporting phone stopped by itself
            ringing.difference_update(before - call.ringing())
    track(call.handle_timers(now + 1000.0))  # nobody answers any more: the call must end
    endings = [c for c in out if isinstance(c, Connected | Fallback)]
    assert len(endings) == 1 and endings[0] is out[-1]
    if isinstance(out[-1], Connected):
        ringing.discard(out[-1].target)
    assert ringing == set() and call.ringing() == frozenset()
