"""The toll guard: limits on calls and cost per hour and day lock, alert, and unlock next period.

Expected times are worked out by hand from the limits: periods are fixed hours and days from
`period_origin`; cost accrues at the per-minute rate from the answer.
"""

from __future__ import annotations

from firmware.calls.cos import (
    HOUR_S,
    Action,
    CallRequest,
    ClassOfService,
    CosPolicy,
    DenyReason,
    Destination,
    LimitKind,
    Limits,
    Locked,
    Subject,
    SubjectKind,
    TollGuard,
    Unlocked,
)
from firmware.calls.events import CallId
from firmware.calls.numbers import NumberClass

ALICE = Subject(SubjectKind.EXTENSION, "201")
BOB = Subject(SubjectKind.EXTENSION, "202")
CITY = Subject(SubjectKind.ROUTE, "city")
LOCAL = Destination(NumberClass.LOCAL, "city", "+74951234567")
MOBILE = Destination(NumberClass.MOBILE, "city", "+79161234567")
EMERGENCY = Destination(NumberClass.EMERGENCY, "city", "112")
INTERNAL = Destination(NumberClass.INTERNAL, None, "202")


def guard(limits: Limits, route: Limits | None = None, origin: float = 0.0) -> TollGuard:
    policy = CosPolicy(
        classes=(ClassOfService("limited", limits=limits),),
        default_class="limited",
        route_limits={"city": route} if route else {},
    )
    return TollGuard(policy, period_origin=origin)


def req(who: Subject = ALICE, dest: Destination = LOCAL) -> CallRequest:
    return CallRequest(Action.CALL, who, dest)


def events(g: TollGuard) -> list[Locked | Unlocked]:
    found = []
    while (event := g.next_event()) is not None:
        found.append(event)
    return found


def test_third_call_of_three_per_hour_locks_and_the_fourth_is_refused() -> None:
    g = guard(Limits(calls_per_hour=3))
    for i in range(3):
        assert g.call_started(CallId(f"c{i}"), req(), now=10.0 * i).allowed
        assert [type(e) for e in events(g)] == ([Locked] if i == 2 else [])
    locked = g.authorise(req(), now=100.0)
    assert (locked.allowed, locked.reason, locked.subject) == (False, DenyReason.LOCKED, ALICE)
    assert "until 3600 s (calls per hour reached)" in locked.detail


def test_lock_alert_names_the_limit_and_the_calls_in_progress() -> None:
    g = guard(Limits(calls_per_hour=2))
    g.call_started(CallId("a"), req(), now=1.0)
    g.call_ended(CallId("a"), now=2.0)
    g.call_started(CallId("b"), req(), now=3.0)
    assert events(g) == [Locked(ALICE, LimitKind.CALLS_PER_HOUR, 2, 2, 3.0, HOUR_S,
                                (CallId("b"),))]


def test_lock_lifts_at_the_start_of_the_next_hour() -> None:
    g = guard(Limits(calls_per_hour=1))
    g.call_started(CallId("a"), req(), now=1800.0)
    events(g)
    assert g.next_deadline() == 3600.0
    g.handle_timers(3599.0)
    assert events(g) == [] and not g.authorise(req(), 3599.0).allowed
    g.handle_timers(3600.0)
    assert events(g) == [Unlocked(ALICE, 3600.0)]
    assert g.call_started(CallId("b"), req(), now=3600.5).allowed


def test_periods_follow_the_origin() -> None:
    g = guard(Limits(calls_per_hour=1), origin=100.0)  # e.g. local midnight on the board clock
    g.call_started(CallId("a"), req(), now=200.0)
    assert g.next_deadline() == 3700.0


def test_day_limit_spans_hours() -> None:
    g = guard(Limits(calls_per_hour=100, calls_per_day=5))
    for i in range(5):
        assert g.call_started(CallId(f"c{i}"), req(), now=i * HOUR_S + 1).allowed
    [lock] = events(g)
    assert isinstance(lock, Locked)
    assert (lock.limit, lock.until) == (LimitKind.CALLS_PER_DAY, 86400.0)
    assert not g.authorise(req(), now=10 * HOUR_S).allowed
    g.handle_timers(86400.0)
    assert g.authorise(req(), now=86400.0).allowed


def test_extensions_count_separately_but_share_the_route_limit() -> None:
    g = guard(Limits(calls_per_hour=2), route=Limits(calls_per_hour=3))
    assert g.call_started(CallId("a1"), req(ALICE), 1.0).allowed
    assert g.call_started(CallId("b1"), req(BOB), 2.0).allowed
    assert g.call_started(CallId("b2"), req(BOB), 3.0).allowed  # Bob locked, route at 3
    assert [(e.subject, e.limit) for e in events(g) if isinstance(e, Locked)] == [
        (BOB, LimitKind.CALLS_PER_HOUR), (CITY, LimitKind.CALLS_PER_HOUR)]
    refused = g.authorise(req(ALICE), 4.0)
    assert (refused.reason, refused.subject) == (DenyReason.LOCKED, CITY)


def test_running_call_locks_when_its_cost_reaches_the_hourly_limit() -> None:
    # 600 kopecks a minute = 10 a second; 3000 allowed: 300 s after the answer.
    g = guard(Limits(cost_per_hour_minor=3000))
    g.call_started(CallId("x"), req(dest=MOBILE), now=5.0, rate_minor_per_min=600.0)
    assert g.next_deadline() is None  # ringing costs nothing
    g.call_answered(CallId("x"), now=10.0)
    assert g.next_deadline() == 310.0
    g.handle_timers(309.0)
    assert events(g) == []
    g.handle_timers(310.0)
    [lock] = events(g)
    assert isinstance(lock, Locked)
    assert (lock.limit, lock.used, lock.calls) == (LimitKind.COST_PER_HOUR, 3000.0, (CallId("x"),))


def test_cost_of_two_calls_adds_up() -> None:
    g = guard(Limits(cost_per_hour_minor=3000))
    for name, at in (("x", 0.0), ("y", 100.0)):
        g.call_started(CallId(name), req(dest=MOBILE), now=at, rate_minor_per_min=600.0)
        g.call_answered(CallId(name), now=at)
    # From 100 s: 1000 booked, 20 a second together: 3000 at 200 s.
    assert g.next_deadline() == 200.0


def test_cost_accrued_before_the_hour_stays_in_that_hour() -> None:
    g = guard(Limits(cost_per_hour_minor=3000))
    g.call_started(CallId("x"), req(dest=MOBILE), now=3400.0, rate_minor_per_min=600.0)
    g.call_answered(CallId("x"), now=3400.0)
    assert g.next_deadline() == 3600.0  # 2000 by the hour: no lock, the new hour starts at 0
    g.handle_timers(3600.0)
    assert g.next_deadline() == 3900.0
    assert g.usage(ALICE, 3650.0).cost_hour_minor == 500.0


def test_final_cost_replaces_the_estimate() -> None:
    g = guard(Limits(cost_per_day_minor=10_000))
    g.call_started(CallId("x"), req(dest=MOBILE), now=0.0)
    g.call_answered(CallId("x"), now=1.0)
    g.call_ended(CallId("x"), now=61.0, cost_minor=12_000.0)  # the bill says 120 roubles
    [lock] = events(g)
    assert isinstance(lock, Locked)
    assert (lock.limit, lock.until, lock.calls) == (LimitKind.COST_PER_DAY, 86400.0, ())


def test_setup_cost_counts_at_the_start() -> None:
    g = guard(Limits(cost_per_hour_minor=100))
    g.call_started(CallId("x"), req(), now=0.0, setup_cost_minor=100.0)
    assert not g.authorise(req(), 1.0).allowed


def test_emergency_is_allowed_while_locked_and_never_counted() -> None:
    g = guard(Limits(calls_per_hour=1))
    g.call_started(CallId("a"), req(), 0.0)
    assert not g.authorise(req(), 1.0).allowed
    assert g.call_started(CallId("e"), req(dest=EMERGENCY), 2.0).allowed
    fresh = guard(Limits(calls_per_hour=1))
    for i in range(5):
        assert fresh.call_started(CallId(f"e{i}"), req(dest=EMERGENCY), float(i)).allowed
    assert fresh.usage(ALICE, 10.0).calls_hour == 0


def test_internal_calls_neither_count_nor_lock() -> None:
    g = guard(Limits(calls_per_hour=1))
    g.call_started(CallId("a"), req(), 0.0)
    for i in range(3):
        assert g.call_started(CallId(f"i{i}"), req(dest=INTERNAL), 1.0 + i).allowed


def test_administrator_unlock_starts_the_period_afresh() -> None:
    g = guard(Limits(calls_per_hour=2))
    g.call_started(CallId("a"), req(), 0.0)
    g.call_started(CallId("b"), req(), 1.0)
    events(g)
    g.unlock(ALICE, 10.0)
    assert events(g) == [Unlocked(ALICE, 10.0, by_admin=True)]
    assert g.call_started(CallId("c"), req(), 11.0).allowed
    assert events(g) == []
    assert g.call_started(CallId("d"), req(), 12.0).allowed
    assert [e.limit for e in events(g) if isinstance(e, Locked)] == [LimitKind.CALLS_PER_HOUR]


def test_forwarded_call_counts_for_the_forwarding_extension() -> None:
    g = guard(Limits(calls_per_hour=1))
    inbound = Subject(SubjectKind.INBOUND, "city")
    forwarded = CallRequest(Action.FORWARD, inbound, MOBILE, (ALICE,))
    assert g.call_started(CallId("f"), forwarded, 0.0).allowed
    assert not g.authorise(req(ALICE), 1.0).allowed


def test_class_denial_comes_before_limits_and_counts_nothing() -> None:
    g = guard(Limits(calls_per_hour=1))
    abroad = Destination(NumberClass.INTERNATIONAL, "city", "+442079460958")
    assert g.call_started(CallId("x"), req(dest=abroad), 0.0).reason is DenyReason.NUMBER_CLASS
    assert g.usage(ALICE, 1.0).calls_hour == 0
