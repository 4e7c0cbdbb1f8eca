"""RTCP packets: SR, RR, SDES, BYE and compound packets (RFC 3550 §6.4–§6.6, Appendix A.2).

Pure: bytes in, frozen dataclasses out, and back. A compound packet is validated as Appendix A.2
asks (every packet version 2, padding only in the last one, lengths that add up to the datagram
exactly; the first packet an SR or RR unless the caller accepts RFC 5506 reduced-size RTCP).
Packet types we do not interpret (APP, RTPFB, PSFB, XR, …) are kept whole as `RtcpUnknown` so a
relay or a logger loses nothing. Anything malformed raises `RtcpError` (a `ValueError`) whose
`reason` is short stable text for a drop counter; no other exception escapes `parse_rtcp` for
any input (a property test feeds it arbitrary bytes).

Report-block arithmetic lives here too: cumulative loss is a 24-bit two's-complement field
(§6.4.1), LSR/DLSR are the middle 32 bits of a 64-bit NTP timestamp and 1/65536 s units, and the
round-trip time is A − LSR − DLSR (§6.4.1, Figure 2), computed modulo 2³² so it survives the NTP
middle-word wrap every 18.2 hours.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from firmware.media.rtp import MAX_PACKET_BYTES, RTP_VERSION

NTP_UNIX_OFFSET_S = 2_208_988_800
"""Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01)."""

_NTP_FRAC = 1 << 32
_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IIIII")
_REPORT_BLOCK = struct.Struct("!IIIIII")
_WORD = struct.Struct("!I")
_REPORT_BLOCK_BYTES = 24
_MAX_COUNT = 31
_CUMULATIVE_LOST_MIN = -(1 << 23)
_CUMULATIVE_LOST_MAX = (1 << 23) - 1


class RtcpError(ValueError):
    """Bytes that are not RTCP we can act on; `reason` names why (stable text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RtcpPacketType(IntEnum):
    """RTCP packet types (RFC 3550 §12.1; RFC 4585 §6.1; RFC 3611 §2)."""

    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204
    RTPFB = 205
    PSFB = 206
    XR = 207


class SdesItemType(IntEnum):
    """SDES item types (RFC 3550 §6.5, §12.2)."""

    END = 0
    CNAME = 1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1).

    `fraction_lost` is the 8-bit fixed-point fraction (lost/expected × 256) since the previous
    report; `cumulative_lost` is signed (duplicates can make it negative), −2²³…2²³−1;
    `highest_sequence` is the extended highest sequence number (cycles << 16 | seq);
    `jitter` is the interarrival jitter in RTP timestamp units; `lsr` the middle 32 bits of the
    NTP timestamp of the last SR received from the source (0 if none); `dlsr` the delay since
    that SR in 1/65536 s (0 if none).
    """

    ssrc: int
    fraction_lost: int = 0
    cumulative_lost: int = 0
    highest_sequence: int = 0
    jitter: int = 0
    lsr: int = 0
    dlsr: int = 0


@dataclass(frozen=True, slots=True)
class SenderInfo:
    """The sender-information part of an SR (RFC 3550 §6.4.1).

    `ntp_timestamp` is the full 64-bit NTP timestamp (seconds since 1900 << 32 | fraction);
    `rtp_timestamp` is the same instant on the RTP media clock; the counts are of RTP data
    packets and of payload octets sent since the SSRC started (both wrap at 2³²).
    """

    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int


@dataclass(frozen=True, slots=True)
class SenderReport:
    """RTCP SR (PT 200). `extension` is the profile-specific tail, a whole number of words."""

    ssrc: int
    sender_info: SenderInfo
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RTCP RR (PT 201). `extension` is the profile-specific tail, a whole number of words."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""


@dataclass(frozen=True, slots=True)
class SdesItem:
    """One SDES item. `value` is the raw octets (UTF-8 text for every standard type), ≤ 255."""

    item_type: int
    value: bytes

    @property
    def text(self) -> str:
        """The value as text; bytes that are not UTF-8 become U+FFFD."""
        return self.value.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """The SDES items of one SSRC/CSRC (RFC 3550 §6.5)."""

    ssrc: int
    items: tuple[SdesItem, ...] = ()

    @property
    def cname(self) -> str | None:
        """The CNAME item as text, or None if the chunk carries none."""
        for item in self.items:
            if item.item_type == SdesItemType.CNAME:
                return item.text
        return None


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """RTCP SDES (PT 202): up to 31 chunks."""

    chunks: tuple[SdesChunk, ...] = ()


@dataclass(frozen=True, slots=True)
class Bye:
    """RTCP BYE (PT 203): the sources leaving and an optional reason (raw octets, ≤ 255)."""

    sources: tuple[int, ...] = ()
    reason: bytes = b""


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    """An RTCP packet we carry but do not interpret: its type, count field and body octets.

    `body` is everything after the 4-octet common header, padding excluded.
    """

    packet_type: int
    count: int
    body: bytes = b""


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | RtcpUnknown


# -- NTP timestamps ------------------------------------------------------------------------------


def ntp_from_seconds(ntp_s: float) -> int:
    """The 64-bit NTP timestamp of `ntp_s` seconds since 1900-01-01 (modulo 2⁶⁴).

    Unix time converts with `ntp_from_seconds(unix_s + NTP_UNIX_OFFSET_S)`.
    """
    return round(ntp_s * _NTP_FRAC) & 0xFFFF_FFFF_FFFF_FFFF


def ntp_to_seconds(ntp_timestamp: int) -> float:
    """Seconds since 1900-01-01 of a 64-bit NTP timestamp."""
    return ntp_timestamp / _NTP_FRAC


def ntp_middle32(ntp_timestamp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp, the form LSR and A take (§6.4.1)."""
    return (ntp_timestamp >> 16) & 0xFFFF_FFFF


def dlsr_from_seconds(delay_s: float) -> int:
    """A DLSR field value (1/65536 s units, saturating at 32 bits) for `delay_s` ≥ 0."""
    return min(max(round(delay_s * 65536), 0), 0xFFFF_FFFF)


def round_trip_s(arrival_ntp: int, block: ReportBlock) -> float | None:
    """Round-trip time in seconds from a report block about us (RFC 3550 §6.4.1, Figure 2).

    `arrival_ntp` is the 64-bit NTP time at which the report arrived, on the same clock our SRs
    were stamped with. Returns None when the block carries no LSR (the peer has had no SR from
    us yet) or when A − LSR − DLSR is negative (a peer's bogus DLSR or a stale block), which
    modulo 2³² shows as a value ≥ 2³¹.
    """
    if block.lsr == 0:
        return None
    rtt = (ntp_middle32(arrival_ntp) - block.lsr - block.dlsr) & 0xFFFF_FFFF
    if rtt >= 0x8000_0000:
        return None
    return rtt / 65536


# -- parsing -------------------------------------------------------------------------------------

_REPORT_TYPES = (RtcpPacketType.SR, RtcpPacketType.RR)


def parse_rtcp(data: bytes, *, reduced_size: bool = False) -> list[RtcpPacket]:
    """Parse the compound RTCP packet `data` (one whole UDP payload) into its packets.

    Validates as RFC 3550 Appendix A.2: every packet is version 2, only the last may have the
    padding bit, the length fields account for every octet, and the first packet is an SR or RR
    (not required when `reduced_size`, RFC 5506 §3). Raises `RtcpError` on any violation or on
    a malformed SR, RR, SDES or BYE body.
    """
    size = len(data)
    if size > MAX_PACKET_BYTES:
        raise RtcpError("packet too long")
    if size < 4:
        raise RtcpError("packet shorter than the RTCP header")
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < size:
        if size - pos < 4:
            raise RtcpError("trailing octets after the last RTCP packet")
        first, packet_type, length_words = _HEADER.unpack_from(data, pos)
        if first >> 6 != RTP_VERSION:
            raise RtcpError("RTCP version is not 2")
        end = pos + 4 * (length_words + 1)
        if end > size:
            raise RtcpError("RTCP length runs past the end of the packet")
        body_end = end
        if first & 0x20:
            # RFC 3550 A.2: only the last packet of a compound may be padded.
            if end != size:
                raise RtcpError("padding bit set on a packet that is not the last")
            pad = data[end - 1]
            if pad == 0 or pad > end - pos - 4:
                raise RtcpError("padding count is invalid")
            body_end = end - pad
        count = first & 0x1F
        body = bytes(data[pos + 4 : body_end])
        if not packets and not reduced_size and packet_type not in _REPORT_TYPES:
            raise RtcpError("compound packet does not start with an SR or RR")
        packets.append(_parse_one(packet_type, count, body))
        pos = end
    return packets


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == RtcpPacketType.SR:
        return _parse_sr(count, body)
    if packet_type == RtcpPacketType.RR:
        return _parse_rr(count, body)
    if packet_type == RtcpPacketType.SDES:
        return _parse_sdes(count, body)
    if packet_type == RtcpPacketType.BYE:
        return _parse_bye(count, body)
    return RtcpUnknown(packet_type, count, body)


def _parse_report_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for i in range(count):
        ssrc, loss, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(
            body, offset + i * _REPORT_BLOCK_BYTES
        )
        cumulative = loss & 0xFF_FFFF
        if cumulative & 0x80_0000:
            cumulative -= 1 << 24
        blocks.append(ReportBlock(ssrc, loss >> 24, cumulative, highest, jitter, lsr, dlsr))
    return tuple(blocks)


def _parse_sr(count: int, body: bytes) -> SenderReport:
    blocks_at = 4 + _SENDER_INFO.size
    end = blocks_at + count * _REPORT_BLOCK_BYTES
    if len(body) < end:
        raise RtcpError("SR shorter than its report count says")
    (ssrc,) = _WORD.unpack_from(body)
    ntp_hi, ntp_lo, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body, 4)
    info = SenderInfo((ntp_hi << 32) | ntp_lo, rtp_ts, packets, octets)
    return SenderReport(ssrc, info, _parse_report_blocks(body, blocks_at, count), body[end:])


def _parse_rr(count: int, body: bytes) -> ReceiverReport:
    end = 4 + count * _REPORT_BLOCK_BYTES
    if len(body) < end:
        raise RtcpError("RR shorter than its report count says")
    (ssrc,) = _WORD.unpack_from(body)
    return ReceiverReport(ssrc, _parse_report_blocks(body, 4, count), body[end:])


def _parse_sdes(count: int, body: bytes) -> SourceDescription:
    chunks = []
    pos = 0
    size = len(body)
    for _ in range(count):
        if size - pos < 4:
            raise RtcpError("SDES chunk runs past the end of the packet")
        (ssrc,) = _WORD.unpack_from(body, pos)
        pos += 4
        items = []
        while True:
            if pos >= size:
                raise RtcpError("SDES item list is not terminated")
            item_type = body[pos]
            if item_type == SdesItemType.END:
                # RFC 3550 §6.5: the null octet(s) pad the chunk to the next 32-bit boundary.
                pos = (pos + 4) & ~3
                break
            if pos + 2 > size or pos + 2 + body[pos + 1] > size:
                raise RtcpError("SDES item runs past the end of the packet")
            length = body[pos + 1]
            items.append(SdesItem(item_type, body[pos + 2 : pos + 2 + length]))
            pos += 2 + length
        chunks.append(SdesChunk(ssrc, tuple(items)))
    if pos != size:
        raise RtcpError("SDES length does not match its chunks")
    return SourceDescription(tuple(chunks))


def _parse_bye(count: int, body: bytes) -> Bye:
    end = 4 * count
    if len(body) < end:
        raise RtcpError("BYE shorter than its source count says")
    sources = struct.unpack_from(f"!{count}I", body)
    reason = b""
    if len(body) > end:
        length = body[end]
        if end + 1 + length > len(body):
            raise RtcpError("BYE reason runs past the end of the packet")
        reason = body[end + 1 : end + 1 + length]
    return Bye(sources, reason)


# -- building ------------------------------------------------------------------------------------


def build_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """Serialise `packets` back to back as one compound RTCP packet (no padding).

    The caller orders them (RFC 3550 §6.1: SR or RR first, then SDES with a CNAME). Raises
    `RtcpError` if a field does not fit its wire width or the result exceeds `MAX_PACKET_BYTES`.
    """
    out = b"".join(build_rtcp_packet(packet) for packet in packets)
    if len(out) > MAX_PACKET_BYTES:
        raise RtcpError("packet too long")
    return out


def build_rtcp_packet(packet: RtcpPacket) -> bytes:
    """Serialise one RTCP packet with its common header. Raises `RtcpError` as `build_rtcp`."""
    if isinstance(packet, SenderReport):
        info = packet.sender_info
        _check_u64(info.ntp_timestamp, "NTP timestamp")
        for value, name in (
            (packet.ssrc, "SSRC"),
            (info.rtp_timestamp, "RTP timestamp"),
            (info.packet_count, "packet count"),
            (info.octet_count, "octet count"),
        ):
            _check_u32(value, name)
        body = b"".join(
            (
                _WORD.pack(packet.ssrc),
                _SENDER_INFO.pack(
                    info.ntp_timestamp >> 32,
                    info.ntp_timestamp & 0xFFFF_FFFF,
                    info.rtp_timestamp,
                    info.packet_count,
                    info.octet_count,
                ),
                _build_report_blocks(packet.reports),
                _check_words(packet.extension, "SR extension"),
            )
        )
        return _frame(RtcpPacketType.SR, len(packet.reports), body)
    if isinstance(packet, ReceiverReport):
        _check_u32(packet.ssrc, "SSRC")
        body = b"".join(
            (
                _WORD.pack(packet.ssrc),
                _build_report_blocks(packet.reports),
                _check_words(packet.extension, "RR extension"),
            )
        )
        return _frame(RtcpPacketType.RR, len(packet.reports), body)
    if isinstance(packet, SourceDescription):
        return _frame(
            RtcpPacketType.SDES,
            len(packet.chunks),
            b"".join(_build_chunk(chunk) for chunk in packet.chunks),
        )
    if isinstance(packet, Bye):
        for source in packet.sources:
            _check_u32(source, "SSRC")
        body = struct.pack(f"!{len(packet.sources)}I", *packet.sources)
        if packet.reason:
            if len(packet.reason) > 0xFF:
                raise RtcpError("BYE reason longer than 255 octets")
            reason = bytes((len(packet.reason),)) + packet.reason
            body += reason + bytes(-len(reason) % 4)
        return _frame(RtcpPacketType.BYE, len(packet.sources), body)
    if not 0 <= packet.packet_type <= 0xFF:
        raise RtcpError("packet type does not fit 8 bits")
    return _frame(packet.packet_type, packet.count, _check_words(packet.body, "packet body"))


def _frame(packet_type: int, count: int, body: bytes) -> bytes:
    if not 0 <= count <= _MAX_COUNT:
        raise RtcpError("count does not fit 5 bits")
    if len(body) % 4:
        raise RtcpError("RTCP body is not a whole number of 32-bit words")
    return _HEADER.pack((RTP_VERSION << 6) | count, packet_type, len(body) // 4) + body


def _build_report_blocks(blocks: tuple[ReportBlock, ...]) -> bytes:
    out = []
    for block in blocks:
        if not 0 <= block.fraction_lost <= 0xFF:
            raise RtcpError("fraction lost does not fit 8 bits")
        if not _CUMULATIVE_LOST_MIN <= block.cumulative_lost <= _CUMULATIVE_LOST_MAX:
            raise RtcpError("cumulative lost does not fit 24 bits signed")
        for value, name in (
            (block.ssrc, "SSRC"),
            (block.highest_sequence, "extended highest sequence"),
            (block.jitter, "jitter"),
            (block.lsr, "LSR"),
            (block.dlsr, "DLSR"),
        ):
            _check_u32(value, name)
        loss = (block.fraction_lost << 24) | (block.cumulative_lost & 0xFF_FFFF)
        out.append(
            _REPORT_BLOCK.pack(
                block.ssrc, loss, block.highest_sequence, block.jitter, block.lsr, block.dlsr
            )
        )
    return b"".join(out)


def _build_chunk(chunk: SdesChunk) -> bytes:
    _check_u32(chunk.ssrc, "SSRC")
    parts = [_WORD.pack(chunk.ssrc)]
    for item in chunk.items:
        if not 1 <= item.item_type <= 0xFF:
            raise RtcpError("SDES item type does not fit 1–255")
        if len(item.value) > 0xFF:
            raise RtcpError("SDES item longer than 255 octets")
        parts.append(bytes((item.item_type, len(item.value))) + item.value)
    items = b"".join(parts[1:])
    # RFC 3550 §6.5: at least one null octet ends the list, then pad to a 32-bit boundary.
    return parts[0] + items + bytes(4 - len(items) % 4)


def _check_u32(value: int, name: str) -> None:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise RtcpError(f"{name} does not fit 32 bits")


def _check_u64(value: int, name: str) -> None:
    if not 0 <= value <= 0xFFFF_FFFF_FFFF_FFFF:
        raise RtcpError(f"{name} does not fit 64 bits")


def _check_words(data: bytes, name: str) -> bytes:
    if len(data) % 4:
        raise RtcpError(f"{name} is not a whole number of 32-bit words")
    return data
