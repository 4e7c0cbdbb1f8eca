"""The DECT link core (pure): stop-and-wait matching by SEQ and CMD, retransmission of the
same bytes, timeouts, stray confirms, and lost indications counted from the module's SEQ."""

from __future__ import annotations

import pytest

from drivers.dect.frames import Frame, FrameErrorReason, FrameKind, encode
from drivers.dect.protocol import (
    MAX_QUEUED_REQUESTS,
    Confirmed,
    DectLink,
    IndicationReceived,
    RequestTimedOut,
)


def confirm(seq: int, command: int, payload: bytes = b"\x00") -> bytes:
    return encode(Frame(FrameKind.CONFIRM, seq, command, payload))


def indication(seq: int, command: int, payload: bytes) -> bytes:
    return encode(Frame(FrameKind.INDICATION, seq, command, payload))


def events(link: DectLink) -> list[object]:
    out = []
    while (event := link.next_event()) is not None:
        out.append(event)
    return out


def test_requests_go_one_at_a_time_and_confirms_match_seq_and_command() -> None:
    link = DectLink()
    first = link.request(0x03, b"", now=0.0)
    second = link.request(0x24, b"\x01\x02hi", now=0.0)
    assert link.outgoing() == [encode(Frame(FrameKind.REQUEST, 1, 0x03))]  # only the first
    link.receive(confirm(1, 0x24), now=0.01)       # right SEQ, wrong command: stray
    link.receive(confirm(9, 0x03), now=0.01)       # wrong SEQ: stray
    assert events(link) == [] and link.stray_confirms == 2
    link.receive(confirm(1, 0x03), now=0.02)
    assert events(link) == [Confirmed(first, 0x03, 0, b"")]
    assert link.outgoing() == [encode(Frame(FrameKind.REQUEST, 2, 0x24, b"\x01\x02hi"))]
    link.receive(confirm(2, 0x24, b"\x05"), now=0.03)
    assert events(link) == [Confirmed(second, 0x24, 5, b"")]
    assert not link.busy and link.next_deadline() is None


def test_an_unanswered_request_is_resent_byte_for_byte_then_times_out() -> None:
    link = DectLink(timeout_s=0.3, retries=2)
    handle = link.request(0x03, b"", now=0.0)
    sent = link.outgoing()
    assert link.next_deadline() == pytest.approx(0.3)
    link.handle_timers(0.29)
    assert link.outgoing() == []
    link.handle_timers(0.3)
    assert link.outgoing() == sent                 # same SEQ: the module answers from cache
    link.handle_timers(0.6)
    assert link.outgoing() == sent
    link.handle_timers(0.9)
    assert link.outgoing() == [] and events(link) == [RequestTimedOut(handle, 0x03)]
    assert link.retransmissions == 2 and not link.busy


def test_a_late_confirm_after_a_retransmission_still_completes_the_request() -> None:
    link = DectLink(timeout_s=0.3, retries=2)
    handle = link.request(0x02, b"", now=0.0)
    link.handle_timers(0.3)
    link.receive(confirm(1, 0x02), now=0.35)
    assert events(link) == [Confirmed(handle, 0x02, 0, b"")]
    link.receive(confirm(1, 0x02), now=0.36)       # the second copy answers nothing
    assert events(link) == [] and link.stray_confirms == 1


def test_lost_indications_are_counted_from_the_module_seq_and_ready_restarts_it() -> None:
    link = DectLink()
    link.receive(indication(3, 0x85, b"\x01"), now=0.0)
    link.receive(indication(4, 0x86, b"\x01\x00"), now=0.0)
    broken = bytearray(indication(5, 0x85, b"\x02"))
    broken[-1] ^= 0xFF
    link.receive(bytes(broken), now=0.0)           # a CRC error eats SEQ 5
    link.receive(indication(6, 0x86, b"\x02\x00"), now=0.0)
    link.receive(indication(0, 0x80, b"\x02\x01"), now=0.0)  # the module rebooted
    assert [(e.code, e.lost) for e in events(link) if isinstance(e, IndicationReceived)] == [
        (0x85, 0), (0x86, 0), (0x86, 1), (0x80, 0)]
    assert link.indications_lost == 1 and link.frame_errors[FrameErrorReason.CRC] == 1


def test_abort_drops_everything_and_the_queue_is_bounded() -> None:
    link = DectLink()
    handles = [link.request(0x03, b"", now=0.0) for _ in range(MAX_QUEUED_REQUESTS + 1)]
    with pytest.raises(OverflowError):
        link.request(0x03, b"", now=0.0)
    assert link.abort() == handles
    assert not link.busy and link.outgoing() == [] and link.next_deadline() is None
