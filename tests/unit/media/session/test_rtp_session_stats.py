"""RTP sender numbering, receiver statistics (RFC 3550 A.1/A.3/A.8) and RTCP scheduling."""

from __future__ import annotations

import random

import pytest

from firmware.media.rtcp import (
    ReceiverReport,
    RtcpError,
    SenderReport,
    SourceDescription,
    parse_rtcp,
)
from firmware.media.rtp import RtpHeader, parse_rtp, rtp_payload
from firmware.media.rtp_session import (
    COMPENSATION,
    Arrival,
    RtcpSession,
    RtpReceiver,
    RtpSender,
    rtcp_interval_s,
)


class FixedRandom:
    """A random source that returns chosen values, to check where each one goes."""

    def __init__(self, bits: list[int], floats: list[float] | None = None) -> None:
        self._bits = list(bits)
        self._floats = list(floats or [0.5])

    def getrandbits(self, k: int, /) -> int:
        value = self._bits.pop(0)
        assert 0 <= value < 1 << k
        return value

    def random(self) -> float:
        return self._floats.pop(0) if len(self._floats) > 1 else self._floats[0]


def hdr(seq: int, ts: int = 0, ssrc: int = 0xABCD, *, marker: bool = False) -> RtpHeader:
    return RtpHeader(0, seq & 0xFFFF, ts & 0xFFFF_FFFF, ssrc, marker=marker)


def feed(receiver: RtpReceiver, seqs: list[int], ssrc: int = 0xABCD) -> list[Arrival]:
    return [receiver.receive(hdr(s, 160 * i, ssrc), now=0.02 * i) for i, s in enumerate(seqs)]


# -- sender --------------------------------------------------------------------------------------


def test_sender_takes_ssrc_sequence_and_timestamp_from_the_random_source() -> None:
    sender = RtpSender(0, rng=FixedRandom([0xDEADBEEF, 0xFFFE, 0xFFFF_FF00]))
    assert (sender.ssrc, sender.next_sequence_number, sender.next_timestamp) == (
        0xDEADBEEF,
        0xFFFE,
        0xFFFF_FF00,
    )
    packets = [parse_rtp(sender.audio(bytes(160), 160, now=0.02 * i)) for i in range(3)]
    assert [p.sequence_number for p in packets] == [0xFFFE, 0xFFFF, 0]
    assert [p.timestamp for p in packets] == [0xFFFF_FF00, 0xFFFF_FFA0, 0x40]  # wraps at 2³²
    assert [p.ssrc for p in packets] == [0xDEADBEEF] * 3


def test_two_senders_pick_different_identifiers() -> None:
    a, b = (RtpSender(0, rng=random.Random(seed)) for seed in (1, 2))
    assert a.ssrc != b.ssrc and a.next_timestamp != b.next_timestamp


def test_marker_is_set_on_first_packet_and_each_talkspurt_start() -> None:
    sender = RtpSender(8, rng=FixedRandom([1, 100, 8000]))
    first = parse_rtp(sender.audio(b"a" * 160, 160, now=0.0))
    second = parse_rtp(sender.audio(b"b" * 160, 160, now=0.02))
    sender.advance(160)  # one frame of silence suppressed
    sender.advance(160)
    resumed = parse_rtp(sender.audio(b"c" * 160, 160, now=0.08))
    vad = parse_rtp(sender.audio(b"d" * 160, 160, now=0.1, talkspurt_start=True))
    assert [first.marker, second.marker, resumed.marker, vad.marker] == [True, False, True, True]
    assert resumed.timestamp == 8000 + 4 * 160  # the clock ran through the silence
    assert resumed.sequence_number == 102  # but no sequence numbers were used
    assert first.payload_type == 8


def test_telephone_event_shares_ssrc_sequence_and_clock_and_keeps_its_start_timestamp() -> None:
    sender = RtpSender(0, rng=FixedRandom([7, 10, 1000]))
    sender.audio(bytes(160), 160, now=0.0)
    start = parse_rtp(sender.event(b"\x05\x0a\x00\xa0", 101, now=0.02, start=True))
    sender.advance(160)
    update = parse_rtp(sender.event(b"\x05\x0a\x01\x40", 101, now=0.04, start=False))
    sender.advance(160)
    end = parse_rtp(sender.event(b"\x05\x8a\x01\xe0", 101, now=0.06, start=False))
    sender.advance(160)
    audio = parse_rtp(sender.audio(bytes(160), 160, now=0.08))
    assert [p.payload_type for p in (start, update, end, audio)] == [101, 101, 101, 0]
    assert [p.sequence_number for p in (start, update, end, audio)] == [11, 12, 13, 14]
    assert start.timestamp == update.timestamp == end.timestamp == 1160
    assert [start.marker, update.marker, end.marker] == [True, False, False]
    assert audio.timestamp == 1160 + 3 * 160 and audio.marker
    assert {p.ssrc for p in (start, update, end, audio)} == {7}


def test_sender_info_counts_payload_octets_and_extrapolates_the_rtp_timestamp() -> None:
    sender = RtpSender(0, rng=FixedRandom([7, 0, 5000]))
    for i in range(10):
        packet = sender.audio(bytes(160), 160, now=1.0 + 0.02 * i)
        assert rtp_payload(packet, parse_rtp(packet)) == bytes(160)
    info = sender.sender_info(ntp_timestamp=123, now=1.18 + 0.05)
    assert (info.packet_count, info.octet_count) == (10, 1600)
    # last packet: timestamp 5000 + 9·160 sent at 1.18 s; 50 ms later is 400 ticks on.
    assert info.rtp_timestamp == 5000 + 9 * 160 + 400


# -- receiver: A.1 sequence validation and A.3 loss ----------------------------------------------


def test_new_source_is_on_probation_for_min_sequential_packets() -> None:
    receiver = RtpReceiver()
    assert feed(receiver, [100, 101, 102]) == [
        Arrival.PROBATION,
        Arrival.NEW_SOURCE,
        Arrival.ACCEPTED,
    ]
    assert receiver.ssrc == 0xABCD


def test_probation_restarts_when_packets_are_not_in_sequence() -> None:
    receiver = RtpReceiver()
    assert feed(receiver, [100, 105, 106]) == [
        Arrival.PROBATION,
        Arrival.PROBATION,
        Arrival.NEW_SOURCE,
    ]


def test_statistics_count_across_the_sequence_wrap_at_65535() -> None:
    receiver = RtpReceiver()
    feed(receiver, [65532, 65533, 65534, 65535, 0, 1, 2])
    stats = receiver.statistics()
    # Validated at 65533 (base); extended highest = 65536 + 2.
    assert stats.extended_highest_sequence == 65538
    assert (stats.expected, stats.received, stats.lost) == (6, 6, 0)
    block = receiver.report_block(now=1.0)
    assert block is not None and block.highest_sequence == 65538


def test_loss_reorder_and_duplicates_are_counted_as_rfc3550_a1_does() -> None:
    receiver = RtpReceiver()
    # validated at 10; 13 and 17 lost; 15/14 reordered; 16 duplicated.
    feed(receiver, [9, 10, 11, 12, 15, 14, 16, 16, 18, 19])
    stats = receiver.statistics()
    assert stats.expected == 19 - 10 + 1
    assert stats.received == 9  # 10,11,12,15,14,16,16,18,19
    assert stats.lost == 1  # 2 lost, 1 duplicate: A.3 counts net
    assert stats.loss_fraction == pytest.approx(0.1)


def test_duplicates_make_cumulative_lost_negative_in_the_report() -> None:
    receiver = RtpReceiver()
    feed(receiver, [1, 2, 3, 3, 3, 4])
    block = receiver.report_block(now=0.0)
    assert block is not None
    assert block.cumulative_lost == -2
    assert block.fraction_lost == 0  # A.3: a negative interval loss reports 0


def test_fraction_lost_is_per_interval_and_cumulative_lost_is_not() -> None:
    receiver = RtpReceiver()
    seqs = [0, *range(1, 11)]  # validated at 1
    seqs = [s for s in seqs if s not in (4, 8)]  # interval 1: expected 10, received 8
    feed(receiver, seqs)
    first = receiver.report_block(now=1.0)
    assert first is not None
    assert (first.fraction_lost, first.cumulative_lost) == ((2 << 8) // 10, 2)  # 51
    for i, s in enumerate(range(11, 21)):  # interval 2: expected 10, received 10
        receiver.receive(hdr(s, 160 * (20 + i)), now=1.0 + 0.02 * i)
    second = receiver.report_block(now=2.0)
    assert second is not None
    assert (second.fraction_lost, second.cumulative_lost) == (0, 2)


def test_large_jump_is_a_restart_only_when_confirmed_by_the_next_packet() -> None:
    receiver = RtpReceiver()
    feed(receiver, [100, 101, 102, 103])  # 3 counted (validated at 101)
    assert receiver.receive(hdr(40_000), now=1.0) is Arrival.BAD_SEQUENCE
    assert receiver.receive(hdr(20_000), now=1.02) is Arrival.BAD_SEQUENCE  # not 40 001
    assert receiver.receive(hdr(40_001), now=1.04) is Arrival.BAD_SEQUENCE  # expected 20 001
    assert receiver.receive(hdr(40_002), now=1.06) is Arrival.RESTARTED
    assert receiver.receive(hdr(40_003), now=1.08) is Arrival.ACCEPTED
    stats = receiver.statistics()
    # Before: 101..103 (3 of 3); after: 40 002..40 003 (2 of 2). The jump is not loss.
    assert (stats.expected, stats.received, stats.lost) == (5, 5, 0)


def test_ssrc_change_is_followed_after_probation_and_totals_survive() -> None:
    receiver = RtpReceiver()
    feed(receiver, [10, 11, 12, 14], ssrc=1)  # counted 11, 12, 14; 13 lost
    assert receiver.receive(hdr(500, ssrc=2), now=1.0) is Arrival.PROBATION
    assert receiver.receive(hdr(501, ssrc=2), now=1.02) is Arrival.NEW_SOURCE
    assert receiver.receive(hdr(502, ssrc=2), now=1.04) is Arrival.ACCEPTED
    assert receiver.ssrc == 2
    stats = receiver.statistics()
    assert (stats.expected, stats.received, stats.lost, stats.sources) == (4 + 2, 3 + 2, 1, 2)
    block = receiver.report_block(now=1.1)
    assert block is not None and block.ssrc == 2 and block.cumulative_lost == 0


def test_interleaved_stray_source_does_not_take_the_call_over() -> None:
    receiver = RtpReceiver()
    feed(receiver, [10, 11], ssrc=1)
    for i in range(10):
        assert receiver.receive(hdr(500 + i, ssrc=2), now=1.0 + 0.02 * i) is Arrival.PROBATION
        assert receiver.receive(hdr(12 + i, ssrc=1), now=1.01 + 0.02 * i) is Arrival.ACCEPTED
    assert receiver.ssrc == 1


# -- receiver: A.8 interarrival jitter -----------------------------------------------------------


def test_interarrival_jitter_matches_a_hand_computed_example() -> None:
    receiver = RtpReceiver(clock_rate_hz=8000)
    # (seq, timestamp, arrival s). The first packet is probation only; A.8 runs from the second.
    # transit (ticks) = arrival·8000 − ts: 40, 80, 40, 40, 120
    packets = [(1, 0, 0.005), (2, 160, 0.030), (3, 320, 0.045), (4, 480, 0.065), (5, 640, 0.095)]
    for seq, ts, now in packets:
        receiver.receive(hdr(seq, ts), now)
    # |D| = 40, 0, 80 → J = 40/16 = 2.5; 2.5 + (0 − 2.5)/16 = 2.34375;
    # 2.34375 + (80 − 2.34375)/16 = 7.197265625 ticks
    expected_ticks = 7.197265625
    stats = receiver.statistics()
    assert stats.jitter_ms == pytest.approx(expected_ticks / 8)
    block = receiver.report_block(now=0.1)
    assert block is not None and block.jitter == 7  # reported as an integer number of ticks


def test_jitter_ignores_repeated_timestamps_of_telephone_events() -> None:
    receiver = RtpReceiver()
    feed(receiver, [1, 2, 3])  # steady, 20 ms apart: zero jitter
    for i in range(6):  # one event from 60 ms: six packets with its start timestamp, 50 ms apart
        receiver.receive(hdr(4 + i, 480), now=0.06 + 0.05 * i)
    assert receiver.statistics().max_jitter_ms < 1.0


def test_jitter_is_not_disturbed_by_the_timestamp_wrap() -> None:
    receiver = RtpReceiver()
    start = 0xFFFF_FFFF - 400
    for i in range(6):
        receiver.receive(hdr(i, start + 160 * i), now=0.02 * i)
    assert receiver.statistics().max_jitter_ms < 0.01


# -- RTCP interval (RFC 3550 §6.3, A.7) and the session ------------------------------------------


@pytest.mark.parametrize(
    ("u", "initial", "expected_s"),
    [(0.0, True, 2.5 * 0.5), (1.0, True, 2.5 * 1.5), (0.0, False, 5.0 * 0.5), (1.0, False, 7.5)],
)
def test_two_party_interval_is_the_minimum_randomised(
    u: float, initial: bool, expected_s: float
) -> None:
    interval = rtcp_interval_s(
        members=2,
        senders=2,
        rtcp_bandwidth_bytes_s=500.0,  # 5 % of 80 kbit/s
        we_sent=True,
        avg_rtcp_size_bytes=100.0,
        initial=initial,
        rng=FixedRandom([], [u]),
    )
    assert interval == pytest.approx(expected_s / (2.718281828459045 - 1.5))


def test_interval_grows_with_members_and_senders_share_a_quarter() -> None:
    def interval(**kw: object) -> float:
        args: dict[str, object] = {
            "rtcp_bandwidth_bytes_s": 100.0,
            "avg_rtcp_size_bytes": 200.0,
            "initial": False,
            "rng": FixedRandom([], [0.5]),
        }
        args.update(kw)
        return rtcp_interval_s(**args)  # type: ignore[arg-type]

    # 20 members, 2 senders (≤ 1/4): a receiver uses 3/4 of the bandwidth over 18 receivers.
    assert interval(members=20, senders=2, we_sent=False) == pytest.approx(
        200 * 18 / 75 / COMPENSATION
    )
    # a sender uses 1/4 over the 2 senders.
    assert interval(members=20, senders=2, we_sent=True) == pytest.approx(
        200 * 2 / 25 / COMPENSATION
    )


def _pair(now: float) -> tuple[RtcpSession, RtcpSession]:
    a = RtcpSession(
        RtpSender(0, rng=FixedRandom([0xA, 1, 1000])),
        RtpReceiver(),
        cname="a@pbx",
        now=now,
        rng=FixedRandom([], [0.5]),
    )
    b = RtcpSession(
        RtpSender(0, rng=FixedRandom([0xB, 1, 9000])),
        RtpReceiver(),
        cname="b@phone",
        now=now,
        rng=FixedRandom([], [0.5]),
    )
    return a, b


def _send_rtp(src: RtcpSession, dst: RtcpSession, t0: float, frames: int, delay_s: float) -> None:
    for i in range(frames):
        packet = src.sender.audio(bytes(160), 160, now=t0 + 0.02 * i)
        dst.receiver.receive(parse_rtp(packet), now=t0 + 0.02 * i + delay_s)


def test_rtt_from_an_sr_and_the_peers_rr_is_the_two_network_delays() -> None:
    a, b = _pair(now=100.0)
    _send_rtp(a, b, 100.0, 50, delay_s=0.030)
    _send_rtp(b, a, 100.0, 50, delay_s=0.030)
    sr = a.report(now=101.0)
    assert isinstance(parse_rtcp(sr)[0], SenderReport)
    b.receive(sr, now=101.0 + 0.030)  # A → B takes 30 ms
    rr = b.report(now=101.7)  # B holds it 670 ms
    a.receive(rr, now=101.7 + 0.045)  # B → A takes 45 ms
    assert a.rtt_s == pytest.approx(0.075, abs=2 / 65536)
    assert a.remote_block is not None and a.remote_block.cumulative_lost == 0
    assert b.peer_cname == "a@pbx" and a.peer_cname == "b@phone"


def test_report_is_rr_when_we_sent_nothing_and_carries_a_cname() -> None:
    a, b = _pair(now=0.0)
    _send_rtp(b, a, 0.0, 10, delay_s=0.01)
    packets = parse_rtcp(a.report(now=1.0))
    assert isinstance(packets[0], ReceiverReport)
    assert packets[0].reports[0].ssrc == 0xB
    assert isinstance(packets[1], SourceDescription)
    assert packets[1].chunks[0].cname == "a@pbx"


def test_report_timer_fires_at_the_deadline_and_reschedules() -> None:
    a, _ = _pair(now=10.0)
    first = a.next_deadline()
    assert first == pytest.approx(10.0 + 2.5 / COMPENSATION)  # initial: half the minimum
    assert a.handle_timer(first - 0.001) is None
    packet = a.handle_timer(first)
    assert packet is not None and parse_rtcp(packet)
    assert a.next_deadline() == pytest.approx(first + 5.0 / COMPENSATION)


def test_bye_is_a_compound_with_report_cname_and_bye_and_the_peer_notices() -> None:
    a, b = _pair(now=0.0)
    packets = parse_rtcp(a.bye(now=1.0, reason="hangup"))
    assert [type(p).__name__ for p in packets] == ["ReceiverReport", "SourceDescription", "Bye"]
    b.receive(a.bye(now=1.0), now=1.01)
    assert b.peer_left


def test_session_refuses_malformed_rtcp() -> None:
    a, _ = _pair(now=0.0)
    with pytest.raises(RtcpError):
        a.receive(b"\x80\xc9\x00\x05garbage", now=1.0)
