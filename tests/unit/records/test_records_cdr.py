from datetime import UTC, datetime

from firmware.calls.events import Answered, CallEnded, CallId, CallStarted, Cause, LegId, LegRinging
from firmware.records.cdr import CallRecorder, Disposition, LegOutcome

from .office_day import MIDNIGHT, day_events, feed, h

WALL = datetime(2024, 5, 6, 12, tzinfo=UTC)


def _by_call() -> dict[str, object]:
    return {r.call: r for r in feed(day_events())}


def test_every_call_of_the_day_gets_one_record() -> None:
    records = feed(day_events())
    assert [r.call for r in records] == [f"c{i}" for i in range(1, 11)]


def test_answered_call_has_ring_talk_and_legs() -> None:
    c1 = feed(day_events())[0]
    assert c1.started == MIDNIGHT.replace(hour=9)
    assert (c1.disposition, c1.answered_by, c1.ring_s, c1.talk_s) == (
        Disposition.ANSWERED, "202", 8.0, 120.0)
    legs = {leg.device: leg for leg in c1.legs}
    assert legs["201"].outcome is LegOutcome.ANSWERED_ELSEWHERE and legs["201"].ring_s == 8.0
    assert legs["202"].outcome is LegOutcome.ANSWERED and legs["202"].talk_s == 120.0
    assert legs["202"].quality is not None and legs["202"].quality.mos == 4.2
    assert c1.trunk == "city1" and c1.external_number == "+74951110001"


def test_transfer_splits_talk_between_legs() -> None:
    c3 = feed(day_events())[2]
    assert c3.talk_s == 125.0 and len(c3.transfers) == 1
    assert (c3.transfers[0].from_device, c3.transfers[0].target, c3.transfers[0].at_s) == (
        "203", "204", 105.0)
    legs = {leg.device: leg for leg in c3.legs}
    assert (legs["203"].outcome, legs["203"].talk_s) == (LegOutcome.TRANSFERRED, 60.0)
    assert (legs["204"].outcome, legs["204"].talk_s) == (LegOutcome.ANSWERED, 60.0)
    assert c3.mos_min == 3.5
    assert c3.queues[0].wait_s == 45.0


def test_in_turn_legs_stop_at_leg_ended() -> None:
    c10 = feed(day_events())[9]
    assert [(leg.device, leg.rang_s, leg.ended_s) for leg in c10.legs] == [
        ("201", 0.0, 15.0), ("202", 15.0, 30.0)]
    assert all(leg.outcome is LegOutcome.NOT_ANSWERED for leg in c10.legs)


def test_missed_call_says_whom_it_rang_even_without_ringing_events() -> None:
    recorder = CallRecorder()
    ended = CallEnded(CallId("x"), "+74951112233", "100", Cause.CANCELLED, 487, 10.0, None, 40.0,
                      None, ("201", "205"))
    record = recorder.handle(ended, now=41.0, wall=WALL)
    assert record is not None
    assert record.rung == ("201", "205")
    assert record.disposition is Disposition.CANCELLED and record.ring_s == 30.0
    assert (WALL - record.started).total_seconds() == 31.0


def test_unanswered_dispositions_follow_the_cause() -> None:
    recorder = CallRecorder()
    for cause, disposition in [(Cause.BUSY, Disposition.BUSY),
                               (Cause.NO_ANSWER, Disposition.NO_ANSWER),
                               (Cause.CANCELLED, Disposition.CANCELLED),
                               (Cause.NOT_FOUND, Disposition.FAILED)]:
        rec = recorder.handle(CallEnded(CallId(cause.value), "201", "299", cause, 0, 0.0, None,
                                        1.0), 1.0, WALL)
        assert rec is not None and rec.disposition is disposition


def test_open_calls_are_bounded() -> None:
    recorder = CallRecorder(max_open_calls=3)
    for i in range(5):
        recorder.handle(CallStarted(CallId(f"o{i}"), "201", "202", 0.0), 0.0, WALL)
        recorder.handle(LegRinging(CallId(f"o{i}"), LegId("l"), "202", 0.0), 0.0, WALL)
    assert recorder.open_calls == 3 and recorder.evicted == 2
    # An evicted call still gets a record from its CallEnded.
    rec = recorder.handle(CallEnded(CallId("o0"), "201", "202", Cause.NORMAL, 200, 0.0, 2.0,
                                    h(0) + 9.0, "202", ("202",)), 9.0, WALL)
    assert rec is not None and rec.answered_by == "202" and rec.talk_s == 7.0
    assert rec.legs[0].talk_s == 7.0


def test_answer_without_ringing_event_makes_a_leg() -> None:
    recorder = CallRecorder()
    recorder.handle(Answered(CallId("a"), LegId("a1"), "207", 3.0), 3.0, WALL)
    rec = recorder.handle(CallEnded(CallId("a"), "201", "207", Cause.NORMAL, 200, 1.0, 3.0, 13.0,
                                    "207", ("207",)), 13.0, WALL)
    assert rec is not None and len(rec.legs) == 1 and rec.legs[0].talk_s == 10.0
