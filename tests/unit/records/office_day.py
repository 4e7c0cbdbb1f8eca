"""A simulated office day fed to the call recorder as bus events (times in local +03:00).

Hand-computed figures for it live in test_records_reports.py; keep them in step.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from firmware.calls.events import Answered, CallEnded, CallId, CallStarted, Cause, LegId, LegRinging
from firmware.calls.numbers import NumberClass
from firmware.media.quality import CallQuality
from firmware.records.cdr import CallRecord, CallRecorder
from firmware.records.facts import (
    Direction,
    GroupKind,
    LegEnded,
    QualityMeasured,
    QueueJoined,
    QueueLeft,
    QueueOutcome,
    TransferKind,
    Transferred,
    TrunkUsed,
)
from firmware.records.tariff import (
    PER_MINUTE,
    SIXTY_PLUS_ONE,
    Rate,
    Tariff,
    TariffTable,
)

OFFICE_TZ = timezone(timedelta(hours=3))
MIDNIGHT = datetime(2024, 5, 6, tzinfo=OFFICE_TZ)
"""Monotonic 0.0 is this wall-clock instant, so `at` = seconds since local midnight."""

TARIFFS = TariffTable(
    by_trunk={
        "city1": Tariff("RUB", 2, (
            Rate("local", Decimal("1.20"), number_class=NumberClass.LOCAL,
                 increment=PER_MINUTE),
        )),
        "sip1": Tariff("RUB", 2, (
            Rate("mts", Decimal("2.50"), prefix="+7916", setup=Decimal("0.10"),
                 increment=SIXTY_PLUS_ONE),
            Rate("ru-mobile", Decimal("5.00"), prefix="+79"),
            Rate("mobile", Decimal("3.00"), number_class=NumberClass.MOBILE),
            Rate("local", Decimal("0.50"), number_class=NumberClass.LOCAL),
        )),
    }
)


def quality(mos: float) -> CallQuality:
    return CallQuality("G711_PLC", 6000, 12, 0.2, 4.5, 11.0, 40.0, 43.75, 0.1, 3.0, 88.0, mos)


def h(hour: int, minute: int = 0) -> float:
    return hour * 3600.0 + minute * 60.0


def _c(n: int) -> CallId:
    return CallId(f"c{n}")


def _l(name: str) -> LegId:
    return LegId(name)


def day_events() -> list[object]:
    ev: list[object] = []

    # C1 09:00 inbound on city1 to department sales: 201 and 202 ring, 202 answers at +8 s,
    # talks 120 s.
    t = h(9)
    c = _c(1)
    ev += [
        CallStarted(c, "+74951110001", "+74950000000", t),
        TrunkUsed(c, "city1", Direction.INBOUND, "+74951110001", t, NumberClass.LOCAL),
        QueueJoined(c, "sales", t, GroupKind.DEPARTMENT),
        LegRinging(c, _l("c1-201"), "201", t),
        LegRinging(c, _l("c1-202"), "202", t),
        Answered(c, _l("c1-202"), "202", t + 8),
        QualityMeasured(c, _l("c1-202"), quality(4.2), t + 128),
        CallEnded(c, "+74951110001", "+74950000000", Cause.NORMAL, 200, t, t + 8, t + 128,
                  "202", ("201", "202")),
    ]
    # C2 09:30 inbound city1 to sales, rings 30 s, caller hangs up: missed.
    t = h(9, 30)
    c = _c(2)
    ev += [
        CallStarted(c, "+74951110002", "+74950000000", t),
        TrunkUsed(c, "city1", Direction.INBOUND, "+74951110002", t),
        QueueJoined(c, "sales", t, GroupKind.DEPARTMENT),
        LegRinging(c, _l("c2-201"), "201", t),
        LegRinging(c, _l("c2-202"), "202", t),
        CallEnded(c, "+74951110002", "+74950000000", Cause.CANCELLED, 487, t, None, t + 30,
                  None, ("201", "202")),
    ]
    # C3 10:05 inbound sip1 into queue support: 45 s in line, 203 answers, talks 60 s, blind
    # transfer to 204, who answers 5 s later and talks 60 s.
    t = h(10, 5)
    c = _c(3)
    ev += [
        CallStarted(c, "+74951110003", "+74950000001", t),
        TrunkUsed(c, "sip1", Direction.INBOUND, "+74951110003", t),
        QueueJoined(c, "support", t, GroupKind.QUEUE, position=1),
        LegRinging(c, _l("c3-203"), "203", t + 40),
        Answered(c, _l("c3-203"), "203", t + 45),
        QueueLeft(c, "support", QueueOutcome.ANSWERED, t + 45),
        Transferred(c, _l("c3-203"), "204", TransferKind.BLIND, t + 105),
        LegRinging(c, _l("c3-204"), "204", t + 105),
        Answered(c, _l("c3-204"), "204", t + 110),
        QualityMeasured(c, _l("c3-204"), quality(3.5), t + 170),
        QualityMeasured(c, _l("c3-203"), quality(4.1), t + 105),
        CallEnded(c, "+74951110003", "+74950000001", Cause.NORMAL, 200, t, t + 45, t + 170,
                  "203", ("203", "204")),
    ]
    # C4 10:20 inbound sip1, queue support, abandons after 15 s in line (no phone rang).
    t = h(10, 20)
    c = _c(4)
    ev += [
        CallStarted(c, "+74951110004", "+74950000001", t),
        TrunkUsed(c, "sip1", Direction.INBOUND, "+74951110004", t),
        QueueJoined(c, "support", t, GroupKind.QUEUE, position=1),
        QueueLeft(c, "support", QueueOutcome.ABANDONED, t + 15),
        CallEnded(c, "+74951110004", "+74950000001", Cause.CANCELLED, 487, t, None, t + 15),
    ]
    # C5 10:40 the C3 caller again, queue support, answered by 203 after 10 s, talks 60 s.
    t = h(10, 40)
    c = _c(5)
    ev += [
        CallStarted(c, "+74951110003", "+74950000001", t),
        TrunkUsed(c, "sip1", Direction.INBOUND, "+74951110003", t),
        QueueJoined(c, "support", t, GroupKind.QUEUE, position=1),
        LegRinging(c, _l("c5-203"), "203", t + 5),
        Answered(c, _l("c5-203"), "203", t + 10),
        QueueLeft(c, "support", QueueOutcome.ANSWERED, t + 10),
        CallEnded(c, "+74951110003", "+74950000001", Cause.NORMAL, 200, t, t + 10, t + 70,
                  "203", ("203",)),
    ]
    # C6 11:00 internal: 201 calls 202, busy.
    t = h(11)
    c = _c(6)
    ev += [
        CallStarted(c, "201", "202", t),
        CallEnded(c, "201", "202", Cause.BUSY, 486, t, None, t + 1),
    ]
    # C7 14:15 outbound: 201 dials a local number on city1, answered at +12, talks 95.5 s.
    t = h(14, 15)
    c = _c(7)
    ev += [
        CallStarted(c, "201", "84951234567", t),
        TrunkUsed(c, "city1", Direction.OUTBOUND, "+74951234567", t, NumberClass.LOCAL),
        LegRinging(c, _l("c7-out"), "trunk:city1", t + 1),
        Answered(c, _l("c7-out"), "trunk:city1", t + 12),
        CallEnded(c, "201", "84951234567", Cause.NORMAL, 200, t, t + 12, t + 107.5,
                  "trunk:city1", ("trunk:city1",)),
    ]
    # C8 14:30 outbound: 202 calls an MTS mobile on sip1, answered at +20, talks 61.2 s.
    t = h(14, 30)
    c = _c(8)
    ev += [
        CallStarted(c, "202", "89161234567", t),
        TrunkUsed(c, "sip1", Direction.OUTBOUND, "+79161234567", t, NumberClass.MOBILE),
        Answered(c, _l("c8-out"), "trunk:sip1", t + 20),
        CallEnded(c, "202", "89161234567", Cause.NORMAL, 200, t, t + 20, t + 81.2,
                  "trunk:sip1"),
    ]
    # C9 15:00 outbound: 202 calls a local number on sip1, no answer after 30 s.
    t = h(15)
    c = _c(9)
    ev += [
        CallStarted(c, "202", "4951110009", t),
        TrunkUsed(c, "sip1", Direction.OUTBOUND, "+74951110009", t, NumberClass.LOCAL),
        CallEnded(c, "202", "4951110009", Cause.NO_ANSWER, 480, t, None, t + 30),
    ]
    # C10 16:10 inbound city1 to sales, in turn: 201 for 15 s, then 202 for 15 s; the strategy
    # runs out (overflow) and the call ends unanswered.
    t = h(16, 10)
    c = _c(10)
    ev += [
        CallStarted(c, "+74951110005", "+74950000000", t),
        TrunkUsed(c, "city1", Direction.INBOUND, "+74951110005", t),
        QueueJoined(c, "sales", t, GroupKind.DEPARTMENT),
        LegRinging(c, _l("c10-201"), "201", t),
        LegEnded(c, _l("c10-201"), Cause.NO_ANSWER, t + 15),
        LegRinging(c, _l("c10-202"), "202", t + 15),
        LegEnded(c, _l("c10-202"), Cause.NO_ANSWER, t + 30),
        QueueLeft(c, "sales", QueueOutcome.OVERFLOW, t + 30),
        CallEnded(c, "+74951110005", "+74950000000", Cause.NO_ANSWER, 480, t, None, t + 30,
                  None, ("201", "202")),
    ]
    return ev


def feed(events: list[object], recorder: CallRecorder | None = None) -> list[CallRecord]:
    """Feed events as the service would, each processed 0.5 s after it happened."""
    rec = recorder or CallRecorder(TARIFFS)
    out = []
    for event in events:
        at = getattr(event, "at")  # noqa: B009 - every event here has `at`
        now = at + 0.5
        wall = MIDNIGHT + timedelta(seconds=now)
        record = rec.handle(event, now, wall)
        if record is not None:
            out.append(record)
    return out
