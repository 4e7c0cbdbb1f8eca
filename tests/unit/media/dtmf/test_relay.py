"""RFC 4733 telephone-events and SIP INFO DTMF bodies.

Golden bytes are written out by hand from RFC 4733 §2.3 (event | E R volume | duration) and
RFC 3550 §5.1 (the RTP header), not produced by the encoder under test.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.media.dtmf_relay import (
    FLASH,
    DigitEnded,
    DigitStarted,
    DtmfEventReceiver,
    DtmfInfo,
    DtmfInfoError,
    DtmfRelayError,
    DtmfSender,
    TelephoneEvent,
    decode_event,
    encode_event,
    event_code,
    format_dtmf,
    format_dtmf_relay,
    parse_dtmf,
    parse_dtmf_relay,
)
from firmware.media.rtp import RtpHeader, parse_rtp, rtp_payload

PT = 101


# -- payload ---------------------------------------------------------------------------------


def test_payload_golden_bytes() -> None:
    # '5', not end, volume 10 (-10 dBm0), duration 160 units (20 ms at 8 kHz)
    assert encode_event(TelephoneEvent(5, False, 10, 160)) == bytes([0x05, 0x0A, 0x00, 0xA0])
    # '#' (event 11), end, volume 63, duration 0xFFFF
    assert encode_event(TelephoneEvent(11, True, 63, 0xFFFF)) == bytes([0x0B, 0xBF, 0xFF, 0xFF])
    # 'D' (event 15), end, volume 0, duration 1000 = 0x03E8
    assert decode_event(bytes([0x0F, 0x80, 0x03, 0xE8])) == TelephoneEvent(15, True, 0, 1000)


def test_reserved_bit_is_ignored_on_receipt() -> None:
    assert decode_event(bytes([0x01, 0x4A, 0x00, 0x50])) == TelephoneEvent(1, False, 10, 80)


def test_event_codes_are_rfc_4733_section_3_2() -> None:
    assert [event_code(k) for k in "0123456789*#ABCD"] == list(range(16))
    assert event_code("a") == 12 and event_code(FLASH) == 16


@given(st.binary(max_size=8))
def test_any_bytes_decode_or_raise_the_relay_error(data: bytes) -> None:
    try:
        ev = decode_event(data)
    except DtmfRelayError:
        assert len(data) != 4
    else:
        assert encode_event(ev) == bytes([data[0], data[1] & 0xBF, data[2], data[3]])


@pytest.mark.parametrize(
    "bad",
    [
        TelephoneEvent(256, False, 0, 0),
        TelephoneEvent(1, False, 64, 0),
        TelephoneEvent(1, False, 0, 0x10000),
    ],
)
def test_fields_that_do_not_fit_are_refused(bad: TelephoneEvent) -> None:
    with pytest.raises(DtmfRelayError):
        encode_event(bad)


# -- sender ----------------------------------------------------------------------------------


def _parsed(packets: list[bytes]) -> list[tuple[RtpHeader, TelephoneEvent]]:
    out = []
    for p in packets:
        h = parse_rtp(p)
        out.append((h, decode_event(rtp_payload(p, h))))
    return out


def test_first_packet_golden_bytes() -> None:
    sender = DtmfSender(PT, ssrc=0x12345678, sequence_number=1000)
    sender.start("5", timestamp=160000, now=0.0, volume_dbm0=-10, elapsed_ms=20)
    (packet,) = sender.poll(0.0)
    assert packet == bytes(
        [
            0x80,
            0xE5,
            0x03,
            0xE8,  # V=2; M=1, PT=101; sequence 1000
            0x00,
            0x02,
            0x71,
            0x00,  # timestamp 160000
            0x12,
            0x34,
            0x56,
            0x78,  # SSRC
            0x05,
            0x0A,
            0x00,
            0xA0,  # event 5, volume 10, duration 160
        ]
    )


def test_a_press_is_one_timestamp_growing_durations_and_three_end_packets() -> None:
    sender = DtmfSender(PT, ssrc=7, sequence_number=65534)
    sent = sender.press("9", timestamp=4000, now=1.0, duration_ms=120)
    times = [t for t, _ in sent]
    pkts = _parsed([p for _, p in sent])
    assert [h.sequence_number for h, _ in pkts] == [65534, 65535, 0, 1, 2, 3]
    assert {h.timestamp for h, _ in pkts} == {4000}
    assert [h.marker for h, _ in pkts] == [True] + [False] * 5
    assert [e.duration for _, e in pkts] == [0, 400, 800, 960, 960, 960]
    assert [e.end for _, e in pkts] == [False, False, False, True, True, True]
    assert times == pytest.approx([1.0, 1.05, 1.1, 1.12, 1.17, 1.22])
    assert sender.next_deadline() is None and sender.sequence_number == 4


def test_a_long_press_is_cut_into_segments_of_0xffff() -> None:
    sender = DtmfSender(PT, ssrc=7, sequence_number=0, interval_ms=1000)
    sent = _parsed([p for _, p in sender.press("1", timestamp=100, now=0.0, duration_ms=20000)])
    seg_ends = [(h.timestamp, e) for h, e in sent if e.duration == 0xFFFF]
    assert len(seg_ends) == 6  # two segments closed, each final packet sent three times
    assert {ts for ts, _ in seg_ends} == {100, 100 + 0xFFFF}
    assert not any(e.end for _, e in seg_ends)
    final = [(h, e) for h, e in sent if e.end]
    assert len(final) == 3
    assert {h.timestamp for h, _ in final} == {100 + 2 * 0xFFFF}
    assert final[0][1].duration == 160000 - 2 * 0xFFFF
    assert sum(h.marker for h, _ in sent) == 1


# -- receiver --------------------------------------------------------------------------------


def _pkt(
    seq: int,
    ts: int,
    code: int,
    duration: int,
    end: bool = False,
    marker: bool = False,
    volume: int = 10,
) -> tuple[RtpHeader, bytes]:
    return (
        RtpHeader(PT, seq, ts, 42, marker),
        encode_event(TelephoneEvent(code, end, volume, duration)),
    )


def _drain(rx: DtmfEventReceiver) -> list[object]:
    out = []
    while (ev := rx.next_event()) is not None:
        out.append(ev)
    return out


def test_redundant_end_packets_give_one_end() -> None:
    rx = DtmfEventReceiver(PT)
    rx.receive(*_pkt(1, 800, 3, 0, marker=True), now=0.0)
    rx.receive(*_pkt(2, 800, 3, 400), now=0.05)
    for seq in (3, 4, 5):
        rx.receive(*_pkt(seq, 800, 3, 640, end=True), now=0.08)
    assert _drain(rx) == [
        DigitStarted("3", 800, -10, 0.0),
        DigitEnded("3", 800, 80, True, 0.08),
    ]
    assert rx.next_deadline() is None


def test_lost_start_packet_starts_on_the_first_packet_seen() -> None:
    rx = DtmfEventReceiver(PT)
    rx.receive(*_pkt(9, 1600, 10, 640, end=True), now=1.0)
    assert _drain(rx) == [DigitStarted("*", 1600, -10, 1.0), DigitEnded("*", 1600, 80, True, 1.0)]


def test_lost_end_packets_end_the_event_after_the_timeout() -> None:
    rx = DtmfEventReceiver(PT, end_timeout_s=0.3)
    rx.receive(*_pkt(1, 0, 1, 0, marker=True), now=0.0)
    rx.receive(*_pkt(2, 0, 1, 400), now=0.05)
    assert rx.next_deadline() == pytest.approx(0.35)
    rx.handle_timers(0.3)
    assert [type(e) for e in _drain(rx)] == [DigitStarted]
    rx.handle_timers(0.35)
    assert _drain(rx) == [DigitEnded("1", 0, 50, False, 0.35)]
    rx.receive(*_pkt(3, 0, 1, 640, end=True), now=0.4)  # a late end changes nothing
    assert _drain(rx) == []


def test_a_new_event_ends_one_whose_end_was_lost() -> None:
    rx = DtmfEventReceiver(PT)
    rx.receive(*_pkt(1, 0, 2, 400), now=0.0)
    rx.receive(*_pkt(2, 1600, 4, 0, marker=True), now=0.1)
    assert _drain(rx) == [
        DigitStarted("2", 0, -10, 0.0),
        DigitEnded("2", 0, 50, False, 0.1),
        DigitStarted("4", 1600, -10, 0.1),
    ]


def test_older_and_other_payload_packets_are_ignored() -> None:
    rx = DtmfEventReceiver(PT)
    rx.receive(*_pkt(5, 8000, 7, 160, end=True), now=0.0)
    rx.receive(*_pkt(4, 7000, 8, 160), now=0.01)  # reordered from before the last event
    rx.receive(RtpHeader(0, 6, 9000, 42), b"\xff" * 160, now=0.02)  # PCMU
    rx.receive(*_pkt(7, 9000, 200, 160), now=0.03)  # not a DTMF event
    assert [type(e) for e in _drain(rx)] == [DigitStarted, DigitEnded]
    assert rx.drops == {"not a DTMF event": 1}


@pytest.mark.parametrize("seed", range(20))
def test_encode_lose_reorder_decode_gives_each_press_once(seed: int) -> None:
    rnd = random.Random(seed)
    sender = DtmfSender(PT, ssrc=1, sequence_number=rnd.randrange(65536))
    presses = []
    sent: list[tuple[float, bytes]] = []
    now, ts = 0.0, rnd.randrange(2**32)
    for _ in range(12):
        digit = rnd.choice("0123456789*#ABCD")
        duration_ms = rnd.choice([40, 60, 100, 250, 900])
        presses.append((digit, ts, duration_ms))
        sent += sender.press(digit, ts, now, duration_ms)
        now += duration_ms / 1000 + 0.3
        ts = (ts + round((duration_ms / 1000 + 0.3) * 8000)) & 0xFFFFFFFF
    # lose 30 % of the packets, but never every end packet of a press (checked below)
    kept = [(t + rnd.uniform(0, 0.03), p) for t, p in sent if rnd.random() > 0.3]
    kept.sort(key=lambda tp: tp[0])
    rx = DtmfEventReceiver(PT)
    events: list[object] = []
    for t, p in kept:
        deadline = rx.next_deadline()
        if deadline is not None and deadline <= t:
            rx.handle_timers(deadline)
        h = parse_rtp(p)
        rx.receive(h, rtp_payload(p, h), t)
        events += _drain(rx)
    rx.handle_timers(now + 1)
    events += _drain(rx)
    starts = [e for e in events if isinstance(e, DigitStarted)]
    ends = [e for e in events if isinstance(e, DigitEnded)]
    kept_ts = {parse_rtp(p).timestamp for _, p in kept}
    expected = [(d, ts) for d, ts, _ in presses if ts in kept_ts]
    assert [(e.digit, e.timestamp) for e in starts] == expected
    assert [(e.digit, e.timestamp) for e in ends] == expected
    for e in ends:
        duration = next(ms for d, ts, ms in presses if ts == e.timestamp)
        if e.complete:
            assert e.duration_ms == duration
        else:
            assert e.duration_ms <= duration


def test_a_long_event_in_segments_is_one_digit() -> None:
    sender = DtmfSender(PT, ssrc=1, sequence_number=0)
    sent = sender.press("0", 5000, 0.0, 20000)
    rx = DtmfEventReceiver(PT)
    for t, p in sent:
        h = parse_rtp(p)
        rx.receive(h, rtp_payload(p, h), t)
    assert _drain(rx) == [
        DigitStarted("0", 5000, -10, 0.0),
        DigitEnded("0", 5000, 20000, True, pytest.approx(20.0)),
    ]


# -- SIP INFO --------------------------------------------------------------------------------


def test_dtmf_relay_body_round_trip() -> None:
    assert format_dtmf_relay(DtmfInfo("5", 160)) == "Signal=5\r\nDuration=160\r\n"
    assert parse_dtmf_relay(b"Signal=5\r\nDuration=160\r\n") == DtmfInfo("5", 160)


@pytest.mark.parametrize(
    ("body", "info"),
    [
        ("signal= *\nduration = 250\n", DtmfInfo("*", 250)),
        ("Signal=#\r\n", DtmfInfo("#", None)),
        ("Signal=10\r\nDuration=100\r\n", DtmfInfo("*", 100)),
        ("Signal=16\r\nDuration=500\r\n", DtmfInfo(FLASH, 500)),
        ("Signal=d\r\nFoo=bar\r\n", DtmfInfo("D", None)),
    ],
)
def test_dtmf_relay_bodies_from_the_field(body: str, info: DtmfInfo) -> None:
    assert parse_dtmf_relay(body) == info


@pytest.mark.parametrize(
    "body",
    [
        "Duration=100\r\n",
        "Signal=E\r\n",
        "Signal=5\r\nDuration=0\r\n",
        "Signal=5\r\nDuration=x\r\n",
        "Signal=5\r\nDuration=99999999\r\n",
        "Signal=\xe9\r\n",
        "Signal=5\r\n" + "X=" * 300,
    ],
)
def test_bad_dtmf_relay_bodies_are_refused(body: str) -> None:
    with pytest.raises(DtmfInfoError):
        parse_dtmf_relay(body)


def test_application_dtmf_body() -> None:
    assert parse_dtmf(b"5") == DtmfInfo("5")
    assert parse_dtmf(" #\r\n") == DtmfInfo("#")
    assert format_dtmf(DtmfInfo("A")) == "A"
    with pytest.raises(DtmfInfoError):
        parse_dtmf("55")


@given(st.binary(max_size=600))
def test_any_info_body_parses_or_raises_the_info_error(body: bytes) -> None:
    for parse in (parse_dtmf_relay, parse_dtmf):
        try:
            info = parse(body)
        except DtmfInfoError:
            continue
        assert info.digit in "0123456789*#ABCD" or info.digit == FLASH
