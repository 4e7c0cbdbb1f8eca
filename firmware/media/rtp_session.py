"""RTP sender and receiver state and the RTCP that reports on it (RFC 3550 §5–§6, Appendix A).

Pure: headers or bytes and `now` (monotonic seconds) in; packets, reports and the next RTCP
deadline out. The caller moves the datagrams.

* `RtpSender` numbers packets: a random SSRC, initial sequence number and timestamp (§5.1), the
  timestamp advancing by the samples of each frame (also through silence, `advance`), the marker
  on the first packet of every talkspurt (RFC 3551 §4.1), and RFC 4733 telephone-event packets
  that share the SSRC, sequence space and media clock and carry the event's start timestamp.
* `RtpReceiver` keeps the statistics of Appendix A.1 (sequence validation with a probation of
  `MIN_SEQUENTIAL` packets, 16-bit wrap counting, restart detection after a jump of more than
  `MAX_DROPOUT`), A.3 (expected, cumulative and interval loss, the 8-bit loss fraction) and A.8
  (interarrival jitter in timestamp units, J += (|D| − J)/16). An SSRC change is followed only
  after the new source has sent `MIN_SEQUENTIAL` in-sequence packets with the old one silent
  meanwhile, so a stray or interleaved stream cannot take the call over; totals for the call
  record survive the change.
* `RtcpSession` schedules reports as §6.3 / A.7 (interval from the RTCP bandwidth share, the
  5 s minimum halved for the first report, randomised over [0.5, 1.5] and divided by e − 3/2,
  with the random source injected) with the member count fixed at two, a call's two ends;
  timer reconsideration (§6.3.6) and the SSRC collision loop (§8.2) are left out as they only
  matter in large groups. It builds SR or RR + SDES CNAME compounds and a BYE, and reads the
  peer's reports: round-trip time (§6.4.1) and the loss and jitter the peer saw from us.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from firmware.media.rtcp import (
    NTP_UNIX_OFFSET_S,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SdesItem,
    SdesItemType,
    SenderInfo,
    SenderReport,
    SourceDescription,
    build_rtcp,
    dlsr_from_seconds,
    ntp_from_seconds,
    ntp_middle32,
    parse_rtcp,
    round_trip_s,
)
from firmware.media.rtp import RtpHeader, build_rtp

log = logging.getLogger(__name__)

RTP_SEQ_MOD = 1 << 16
MIN_SEQUENTIAL = 2
"""Packets in sequence before a source is valid (RFC 3550 A.1, the value it suggests)."""
MAX_DROPOUT = 3000
"""A forward jump up to this many sequence numbers is loss; beyond it, a possible restart."""
MAX_MISORDER = 100
"""A backward step up to this many sequence numbers is a late or duplicate packet."""

RTCP_MIN_TIME_S = 5.0
"""RFC 3550 §6.2: the minimum report interval; half of it before the first report."""
RTCP_BANDWIDTH_FRACTION = 0.05
"""RFC 3550 §6.2: RTCP takes 5 % of the session bandwidth."""
RTCP_SENDER_BANDWIDTH_FRACTION = 0.25
COMPENSATION = math.e - 1.5
"""RFC 3550 A.7: compensates the randomisation of the interval for timer reconsideration."""
UDP_IP_OVERHEAD_BYTES = 28
"""IPv4 + UDP header octets counted in the average RTCP packet size (§6.3.1)."""
DEFAULT_SESSION_BANDWIDTH_BPS = 80_000
"""G.711 at 20 ms: 50 packets/s of 160 + 12 + 28 octets."""


class RandomSource(Protocol):
    """What the session needs from a random generator: `random.Random` or `SystemRandom`."""

    def random(self) -> float: ...

    def getrandbits(self, k: int, /) -> int: ...


# -- sender --------------------------------------------------------------------------------------


class RtpSender:
    """Numbers the RTP packets of one SSRC (RFC 3550 §5.1; RFC 3551 §4.1; RFC 4733 §2.3).

    Audio: `audio(payload, samples, now)` once per frame, `advance(samples)` for each frame not
    sent (silence suppression, or audio held back during a DTMF event). The timestamp of a frame
    is the media clock at its first sample; the clock starts at a random value.
    """

    def __init__(
        self,
        payload_type: int,
        *,
        rng: RandomSource,
        clock_rate_hz: int = 8000,
        ssrc: int | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.clock_rate_hz = clock_rate_hz
        self.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        self._rng = rng
        self._sequence = rng.getrandbits(16)
        self._timestamp = rng.getrandbits(32)
        self._talkspurt_pending = True
        self._event_timestamp: int | None = None
        self.packet_count = 0
        self.octet_count = 0
        self._last_timestamp = self._timestamp
        self._last_sent_at: float | None = None

    @property
    def next_sequence_number(self) -> int:
        """The sequence number the next packet will carry."""
        return self._sequence

    @property
    def next_timestamp(self) -> int:
        """The media-clock timestamp of the next audio frame."""
        return self._timestamp

    def audio(
        self, payload: bytes, samples: int, now: float, *, talkspurt_start: bool = False
    ) -> bytes:
        """The RTP packet carrying `payload`, a frame of `samples` media-clock ticks.

        The marker is set on the first packet, after `advance` or an event, and when the caller
        says `talkspurt_start` (its voice activity detector).
        """
        marker = talkspurt_start or self._talkspurt_pending
        packet = self._packet(self.payload_type, self._timestamp, marker, payload, now)
        self._timestamp = (self._timestamp + samples) & 0xFFFF_FFFF
        self._talkspurt_pending = False
        self._event_timestamp = None
        return packet

    def advance(self, samples: int) -> None:
        """Let the media clock run over `samples` ticks not sent; the next frame starts a talkspurt.

        Call it for every frame suppressed by VAD and for every frame an event replaces, so that
        the timestamp keeps pace with the sampling clock (RFC 3550 §5.1).
        """
        self._timestamp = (self._timestamp + samples) & 0xFFFF_FFFF
        self._talkspurt_pending = True

    def event(self, payload: bytes, payload_type: int, now: float, *, start: bool) -> bytes:
        """An RFC 4733 telephone-event packet (same SSRC, sequence space and clock).

        `start` begins a new event: its timestamp is the media clock now and the marker is set
        (§2.5.1.2); the following packets of the event, updates and the repeated end packets,
        carry the same timestamp. The caller keeps the clock running with `advance`.
        """
        if start or self._event_timestamp is None:
            self._event_timestamp = self._timestamp
        self._talkspurt_pending = True
        return self._packet(payload_type, self._event_timestamp, start, payload, now)

    def _packet(
        self, payload_type: int, timestamp: int, marker: bool, payload: bytes, now: float
    ) -> bytes:
        header = RtpHeader(payload_type, self._sequence, timestamp, self.ssrc, marker=marker)
        packet = build_rtp(header, payload)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self.packet_count = (self.packet_count + 1) & 0xFFFF_FFFF
        self.octet_count = (self.octet_count + len(payload)) & 0xFFFF_FFFF
        self._last_timestamp = timestamp
        self._last_sent_at = now
        return packet

    def sender_info(self, ntp_timestamp: int, now: float) -> SenderInfo:
        """The SR sender-info block for the instant `now` stamped `ntp_timestamp` (§6.4.1).

        The RTP timestamp is extrapolated from the last packet sent on the media clock, so it
        corresponds to the same instant as the NTP timestamp, as lip sync and RTT need.
        """
        if self._last_sent_at is None:
            rtp_timestamp = self._timestamp
        else:
            elapsed = round((now - self._last_sent_at) * self.clock_rate_hz)
            rtp_timestamp = (self._last_timestamp + elapsed) & 0xFFFF_FFFF
        return SenderInfo(ntp_timestamp, rtp_timestamp, self.packet_count, self.octet_count)

    def change_ssrc(self) -> None:
        """Pick a new random SSRC and reset the counts (a collision, RFC 3550 §8.2)."""
        self.ssrc = self._rng.getrandbits(32)
        self.packet_count = 0
        self.octet_count = 0
        self._talkspurt_pending = True


# -- receiver ------------------------------------------------------------------------------------


class Arrival(Enum):
    """What `RtpReceiver.receive` made of a packet."""

    ACCEPTED = "accepted"
    """In sequence, late or duplicate: counted (A.1 counts duplicates as received)."""
    NEW_SOURCE = "new_source"
    """The packet that validated a new SSRC (the first of a call, or a change): counted.
    The caller resets whatever depended on the old stream (the jitter buffer)."""
    RESTARTED = "restarted"
    """Two sequential packets after a large jump: the sender restarted; statistics restart."""
    PROBATION = "probation"
    """A packet of a source not yet validated; not counted. It may still be played."""
    BAD_SEQUENCE = "bad_sequence"
    """A jump larger than MAX_DROPOUT not yet confirmed: not counted, should not be played."""

    @property
    def counted(self) -> bool:
        """True for packets that went into the statistics."""
        return self in _COUNTED


_COUNTED = frozenset((Arrival.ACCEPTED, Arrival.NEW_SOURCE, Arrival.RESTARTED))


@dataclass(frozen=True, slots=True)
class ReceptionStatistics:
    """Cumulative reception figures of a call (all SSRCs the peer used, RFC 3550 A.3).

    `lost` is expected − received and can be negative when duplicates arrive; `loss_fraction`
    is clamped to [0, 1]. Jitter figures are the A.8 estimator sampled at every packet,
    converted to milliseconds.
    """

    ssrc: int | None
    received: int
    expected: int
    lost: int
    jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    extended_highest_sequence: int
    sources: int

    @property
    def loss_fraction(self) -> float:
        """Lost / expected in [0, 1]; 0 when nothing was expected."""
        if self.expected <= 0:
            return 0.0
        return min(max(self.lost / self.expected, 0.0), 1.0)


class _Source:
    """Per-SSRC state of RFC 3550 A.1 (`source` struct), A.3 and A.8."""

    __slots__ = (
        "ssrc",
        "max_seq",
        "cycles",
        "base_seq",
        "bad_seq",
        "probation",
        "received",
        "expected_prior",
        "received_prior",
        "transit",
        "jitter",
        "last_timestamp",
        "lsr",
        "lsr_at",
        "expected_before",
        "received_before",
    )

    def __init__(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self._init_seq(seq)
        # A.1: a new source starts on probation with max_seq just before its first packet.
        self.max_seq = (seq - 1) & 0xFFFF
        self.probation = MIN_SEQUENTIAL
        self.transit: float | None = None
        self.jitter = 0.0
        self.last_timestamp: int | None = None
        self.lsr = 0
        self.lsr_at = 0.0
        self.expected_before = 0
        self.received_before = 0

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1  # so seq == bad_seq is false
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update_seq(self, seq: int) -> Arrival:
        """RFC 3550 A.1 `update_seq`, returning what happened instead of 0/1."""
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return Arrival.NEW_SOURCE
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return Arrival.PROBATION
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD  # wrapped
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                # Two sequential packets after a jump: the other side restarted. A.1 starts
                # the statistics afresh; the call record keeps what came before.
                self.expected_before += self.expected
                self.received_before += self.received
                self._init_seq(seq)
                self.received += 1
                return Arrival.RESTARTED
            self.bad_seq = (seq + 1) & 0xFFFF
            return Arrival.BAD_SEQUENCE
        # else: a duplicate or a reordered packet, counted as A.1 does.
        self.received += 1
        return Arrival.ACCEPTED

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    @property
    def total_expected(self) -> int:
        return self.expected_before + self.expected

    @property
    def total_received(self) -> int:
        return self.received_before + self.received


class RtpReceiver:
    """Reception statistics of the RTP stream from one peer (RFC 3550 A.1, A.3, A.8).

    Feed every RTP packet of the call to `receive`; play those whose `Arrival` is not
    `BAD_SEQUENCE`. `report_block` produces the RR block and starts a new loss interval.
    """

    def __init__(self, clock_rate_hz: int = 8000) -> None:
        self.clock_rate_hz = clock_rate_hz
        self._source: _Source | None = None
        self._candidate: _Source | None = None
        self._sources = 0
        self._retired_received = 0
        self._retired_expected = 0
        self._jitter_sum = 0.0
        self._jitter_samples = 0
        self._jitter_max = 0.0

    @property
    def ssrc(self) -> int | None:
        """The validated source being followed, or None before the first is validated."""
        return None if self._source is None else self._source.ssrc

    @property
    def received(self) -> int:
        """Packets counted so far over the call (all sources)."""
        current = 0 if self._source is None else self._source.total_received
        return self._retired_received + current

    def receive(self, header: RtpHeader, now: float) -> Arrival:
        """Account for one RTP packet that arrived at `now` (monotonic seconds)."""
        source = self._source
        if source is not None and header.ssrc == source.ssrc:
            self._candidate = None  # the current source still talks: no change of SSRC
            arrival = source.update_seq(header.sequence_number)
            if arrival.counted:
                self._update_jitter(source, header.timestamp, now, arrival)
            return arrival
        candidate = self._candidate
        if candidate is None or candidate.ssrc != header.ssrc:
            candidate = self._candidate = _Source(header.ssrc, header.sequence_number)
        arrival = candidate.update_seq(header.sequence_number)
        if arrival is Arrival.NEW_SOURCE:
            if source is not None:
                log.debug("RTP source changed from %08x to %08x", source.ssrc, header.ssrc)
                self._retire(source)
            self._source = candidate
            self._candidate = None
            self._sources += 1
            self._update_jitter(candidate, header.timestamp, now, arrival)
        return arrival

    def _retire(self, source: _Source) -> None:
        self._retired_received += source.total_received
        self._retired_expected += source.total_expected

    def _update_jitter(self, source: _Source, timestamp: int, now: float, arrival: Arrival) -> None:
        # RFC 4733 events repeat one timestamp over many packets: their arrival spread is not
        # network jitter, so only a packet with a new timestamp takes part (A.8 assumes that).
        if timestamp == source.last_timestamp:
            return
        source.last_timestamp = timestamp
        transit = now * self.clock_rate_hz - timestamp
        if source.transit is None or arrival is not Arrival.ACCEPTED:
            source.transit = transit
            return
        d = transit - source.transit
        # The timestamp wraps at 2³²: the true difference is the one nearest zero.
        d = (d + 2**31) % 2**32 - 2**31
        source.transit = transit
        source.jitter += (abs(d) - source.jitter) / 16.0
        jitter_ms = source.jitter * 1000.0 / self.clock_rate_hz
        self._jitter_sum += jitter_ms
        self._jitter_samples += 1
        if jitter_ms > self._jitter_max:
            self._jitter_max = jitter_ms

    def note_sender_report(self, ssrc: int, ntp_timestamp: int, now: float) -> None:
        """Remember an SR from the peer for our next report's LSR and DLSR (§6.4.1)."""
        for source in (self._source, self._candidate):
            if source is not None and source.ssrc == ssrc:
                source.lsr = ntp_middle32(ntp_timestamp)
                source.lsr_at = now

    def report_block(self, now: float) -> ReportBlock | None:
        """The reception report block on the current source, or None before one is valid.

        Starts a new interval for the loss fraction (A.3), so call it once per report sent.
        """
        source = self._source
        if source is None:
            return None
        expected = source.expected
        lost = expected - source.received
        # A.3: the cumulative count is clamped to the 24-bit signed field.
        lost = min(max(lost, -(1 << 23)), (1 << 23) - 1)
        expected_interval = expected - source.expected_prior
        source.expected_prior = expected
        received_interval = source.received - source.received_prior
        source.received_prior = source.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min((lost_interval << 8) // expected_interval, 255)
        dlsr = dlsr_from_seconds(now - source.lsr_at) if source.lsr else 0
        return ReportBlock(
            ssrc=source.ssrc,
            fraction_lost=fraction,
            cumulative_lost=lost,
            highest_sequence=source.extended_max & 0xFFFF_FFFF,
            jitter=min(int(source.jitter), 0xFFFF_FFFF),
            lsr=source.lsr,
            dlsr=dlsr,
        )

    def statistics(self) -> ReceptionStatistics:
        """Cumulative figures for the call record (all sources so far)."""
        source = self._source
        expected = self._retired_expected + (0 if source is None else source.total_expected)
        received = self.received
        rate = self.clock_rate_hz
        return ReceptionStatistics(
            ssrc=None if source is None else source.ssrc,
            received=received,
            expected=expected,
            lost=expected - received,
            jitter_ms=0.0 if source is None else source.jitter * 1000.0 / rate,
            mean_jitter_ms=self._jitter_sum / self._jitter_samples if self._jitter_samples else 0.0,
            max_jitter_ms=self._jitter_max,
            extended_highest_sequence=0 if source is None else source.extended_max,
            sources=self._sources,
        )


# -- RTCP scheduling and reports -----------------------------------------------------------------


def rtcp_interval_s(
    *,
    members: int,
    senders: int,
    rtcp_bandwidth_bytes_s: float,
    we_sent: bool,
    avg_rtcp_size_bytes: float,
    initial: bool,
    rng: RandomSource,
) -> float:
    """The randomised RTCP transmission interval of RFC 3550 §6.3.1 / A.7, in seconds.

    `rtcp_bandwidth_bytes_s` is the whole RTCP share (5 % of the session bandwidth) in octets
    per second; `avg_rtcp_size_bytes` includes UDP/IP headers.
    """
    min_time_s = RTCP_MIN_TIME_S / 2 if initial else RTCP_MIN_TIME_S
    n = members
    bandwidth = rtcp_bandwidth_bytes_s
    # A.7: senders share 1/4 of the RTCP bandwidth when they are at most 1/4 of the members.
    if senders <= members * RTCP_SENDER_BANDWIDTH_FRACTION:
        if we_sent:
            bandwidth *= RTCP_SENDER_BANDWIDTH_FRACTION
            n = senders
        else:
            bandwidth *= 1 - RTCP_SENDER_BANDWIDTH_FRACTION
            n -= senders
    deterministic = avg_rtcp_size_bytes * max(n, 1) / bandwidth
    deterministic = max(deterministic, min_time_s)
    return deterministic * (rng.random() + 0.5) / COMPENSATION


class RtcpSession:
    """The RTCP of one call leg's RTP session: two members, us and the peer (RFC 3550 §6).

    `handle_timer(now)` returns the compound report when `next_deadline()` has come; feed every
    RTCP datagram from the peer to `receive`, which raises `RtcpError` for malformed ones. NTP
    timestamps are `now + ntp_offset_s` seconds after 1900: the adapter passes the offset from
    its monotonic clock to wall-clock NTP; only consistency matters for RTT.
    """

    def __init__(
        self,
        sender: RtpSender,
        receiver: RtpReceiver,
        *,
        cname: str,
        now: float,
        rng: RandomSource,
        session_bandwidth_bps: float = DEFAULT_SESSION_BANDWIDTH_BPS,
        ntp_offset_s: float = NTP_UNIX_OFFSET_S,
    ) -> None:
        self.sender = sender
        self.receiver = receiver
        self.cname = cname
        self._rng = rng
        self._rtcp_bandwidth = session_bandwidth_bps / 8 * RTCP_BANDWIDTH_FRACTION
        self._ntp_offset_s = ntp_offset_s
        # §6.3.2: start avg_rtcp_size at the probable size of the first compound: an RR with
        # one block (32 octets) and an SDES CNAME chunk, plus UDP/IP.
        sdes_bytes = 8 + (len(cname.encode()) + 2 + 4) // 4 * 4
        self._avg_rtcp_size = float(UDP_IP_OVERHEAD_BYTES + 32 + sdes_bytes)
        self._counts_at_reports: deque[int] = deque([0, 0], maxlen=2)
        self._received_at_reports: deque[int] = deque([0, 0], maxlen=2)
        self._initial = True
        self._next_at = now + self._interval()
        self.rtt_s: float | None = None
        """The latest round-trip time from the peer's reports, or None before one."""
        self.remote_block: ReportBlock | None = None
        """The peer's latest report block about our stream (what it lost and its jitter)."""
        self.peer_cname: str | None = None
        self.peer_left = False
        """True once the peer sent a BYE."""
        self.reports_sent = 0

    def _ntp(self, now: float) -> int:
        return ntp_from_seconds(now + self._ntp_offset_s)

    def _we_sent(self) -> bool:
        # §6.3.8: a sender is one that sent RTP since the report before last.
        return self.sender.packet_count != self._counts_at_reports[0]

    def _peer_sent(self) -> bool:
        return self.receiver.received != self._received_at_reports[0]

    def _interval(self) -> float:
        we_sent = self._we_sent()
        return rtcp_interval_s(
            members=2,
            senders=int(we_sent) + int(self._peer_sent()),
            rtcp_bandwidth_bytes_s=self._rtcp_bandwidth,
            we_sent=we_sent,
            avg_rtcp_size_bytes=self._avg_rtcp_size,
            initial=self._initial,
            rng=self._rng,
        )

    def next_deadline(self) -> float:
        """When the next report is due (monotonic seconds)."""
        return self._next_at

    def handle_timer(self, now: float) -> bytes | None:
        """The compound report if its time has come, else None; reschedules itself."""
        if now < self._next_at:
            return None
        packet = self.report(now)
        self._initial = False
        self._next_at = now + self._interval()
        return packet

    def _report_packet(self, now: float) -> SenderReport | ReceiverReport:
        block = self.receiver.report_block(now)
        blocks = () if block is None else (block,)
        if self._we_sent():
            info = self.sender.sender_info(self._ntp(now), now)
            return SenderReport(self.sender.ssrc, info, blocks)
        return ReceiverReport(self.sender.ssrc, blocks)

    def _sdes(self) -> SourceDescription:
        item = SdesItem(SdesItemType.CNAME, self.cname.encode()[:255])
        return SourceDescription((SdesChunk(self.sender.ssrc, (item,)),))

    def report(self, now: float) -> bytes:
        """Build the compound report now: SR (if we sent RTP lately) or RR, then SDES CNAME."""
        packet = build_rtcp((self._report_packet(now), self._sdes()))
        self._sent(packet)
        return packet

    def bye(self, now: float, reason: str = "") -> bytes:
        """The compound BYE that ends our participation: report, SDES CNAME, BYE (§6.1, §6.6)."""
        bye = Bye((self.sender.ssrc,), reason.encode()[:255])
        packet = build_rtcp((self._report_packet(now), self._sdes(), bye))
        self._sent(packet)
        return packet

    def _sent(self, packet: bytes) -> None:
        self.reports_sent += 1
        self._counts_at_reports.append(self.sender.packet_count)
        self._received_at_reports.append(self.receiver.received)
        self._update_avg_size(len(packet))

    def _update_avg_size(self, size: int) -> None:
        # §6.3.3: avg_rtcp_size = 1/16 · packet_size + 15/16 · avg_rtcp_size.
        self._avg_rtcp_size += (size + UDP_IP_OVERHEAD_BYTES - self._avg_rtcp_size) / 16

    def receive(self, data: bytes, now: float) -> list[RtcpPacket]:
        """Read one RTCP datagram from the peer. Raises `RtcpError` if it is malformed."""
        packets = parse_rtcp(data)
        self._update_avg_size(len(data))
        for packet in packets:
            if isinstance(packet, SenderReport):
                self.receiver.note_sender_report(
                    packet.ssrc, packet.sender_info.ntp_timestamp, now
                )
                self._take_blocks(packet.reports, now)
            elif isinstance(packet, ReceiverReport):
                self._take_blocks(packet.reports, now)
            elif isinstance(packet, SourceDescription):
                for chunk in packet.chunks:
                    if chunk.ssrc != self.sender.ssrc and chunk.cname is not None:
                        self.peer_cname = chunk.cname
            elif isinstance(packet, Bye) and self.sender.ssrc not in packet.sources:
                self.peer_left = True
        return packets

    def _take_blocks(self, blocks: tuple[ReportBlock, ...], now: float) -> None:
        for block in blocks:
            if block.ssrc != self.sender.ssrc:
                continue
            self.remote_block = block
            rtt = round_trip_s(self._ntp(now), block)
            if rtt is not None:
                self.rtt_s = rtt
