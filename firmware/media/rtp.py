"""RTP fixed header: parse, build and classify (RFC 3550 §5.1, §5.3.1; RFC 5761 §4).

Pure: bytes in, a frozen `RtpHeader` out, and back. The relay's fast path never parses (it
forwards bytes untouched); this module serves the features that tap a call (recording, DTMF,
music on hold) and the tests. Work is bounded: a packet longer than `MAX_PACKET_BYTES` is refused
before any field is read, and every length field (CSRC count, extension length, padding count)
is checked against the bytes actually present. Anything else raises `RtpError`, a `ValueError`
whose `reason` is short stable text usable as a drop-counter key.

Sessions, RTCP and jitter buffering build on this (rtp_session.py, rtcp.py, jitter.py);
`is_rtcp` only tells RTCP from RTP when both share a port (RFC 5761 §4: RTCP packet types
192–223 collide with no RTP payload type in use).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
RTP_FIXED_HEADER_BYTES = 12
MAX_PACKET_BYTES = 8192
"""Largest datagram we parse: far above any voice or SD-video packet on an office LAN."""

_MAX_CSRC = 15
_FIXED = struct.Struct("!BBHII")
_EXT_HEAD = struct.Struct("!HH")


class RtpError(ValueError):
    """Bytes that are not an RTP packet we can act on; `reason` names why (stable text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """The one header extension of RFC 3550 §5.3.1: a 16-bit profile word and its data.

    `data` is a whole number of 32-bit words (its length in words goes on the wire).
    """

    profile: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """An RTP fixed header with its CSRC list and extension (RFC 3550 §5.1).

    `padding_bytes` is the count of padding octets at the end of the packet including the
    count octet itself; 0 means the P bit is clear. The version is always 2 and is not stored.
    """

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding_bytes: int = 0

    @property
    def header_bytes(self) -> int:
        """Octets from the start of the packet to the first payload octet."""
        size = RTP_FIXED_HEADER_BYTES + 4 * len(self.csrc)
        if self.extension is not None:
            size += 4 + len(self.extension.data)
        return size


def parse_rtp(data: bytes) -> RtpHeader:
    """Parse the header of the RTP packet `data` (one whole UDP payload).

    Raises `RtpError` if the packet is too short or too long, is not version 2, or if the CSRC
    count, the extension length or the padding count point outside the packet.
    """
    size = len(data)
    if size > MAX_PACKET_BYTES:
        raise RtpError("packet too long")
    if size < RTP_FIXED_HEADER_BYTES:
        raise RtpError("packet shorter than the RTP fixed header")
    first, second, sequence_number, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError("RTP version is not 2")
    has_padding = bool(first & 0x20)
    has_extension = bool(first & 0x10)
    csrc_count = first & 0x0F
    pos = RTP_FIXED_HEADER_BYTES + 4 * csrc_count
    if pos > size:
        raise RtpError("CSRC list runs past the end of the packet")
    csrc = struct.unpack_from(f"!{csrc_count}I", data, RTP_FIXED_HEADER_BYTES)

    extension: RtpExtension | None = None
    if has_extension:
        if pos + 4 > size:
            raise RtpError("header extension runs past the end of the packet")
        profile, words = _EXT_HEAD.unpack_from(data, pos)
        pos += 4
        end = pos + 4 * words
        if end > size:
            raise RtpError("header extension runs past the end of the packet")
        extension = RtpExtension(profile, bytes(data[pos:end]))
        pos = end

    padding_bytes = 0
    if has_padding:
        # RFC 3550 §5.1: the last octet counts the padding, itself included, so it is ≥ 1.
        padding_bytes = data[-1]
        if padding_bytes == 0 or padding_bytes > size - pos:
            raise RtpError("padding count is invalid")

    return RtpHeader(
        payload_type=second & 0x7F,
        sequence_number=sequence_number,
        timestamp=timestamp,
        ssrc=ssrc,
        marker=bool(second & 0x80),
        csrc=csrc,
        extension=extension,
        padding_bytes=padding_bytes,
    )


def rtp_payload(data: bytes, header: RtpHeader) -> bytes:
    """The payload of `data`, whose header `parse_rtp(data)` returned: no header, no padding."""
    return bytes(data[header.header_bytes : len(data) - header.padding_bytes])


def build_rtp(header: RtpHeader, payload: bytes = b"") -> bytes:
    """Serialise `header` followed by `payload` and, if `padding_bytes` > 0, zero padding.

    Raises `RtpError` if a field does not fit its wire width (payload type 7 bits, sequence
    number 16, timestamp and SSRC 32, at most 15 CSRCs, extension data a multiple of 4 octets
    and at most 65535 words, padding 0–255) or the packet would exceed `MAX_PACKET_BYTES`.
    """
    if not 0 <= header.payload_type <= 0x7F:
        raise RtpError("payload type does not fit 7 bits")
    if not 0 <= header.sequence_number <= 0xFFFF:
        raise RtpError("sequence number does not fit 16 bits")
    if not 0 <= header.timestamp <= 0xFFFF_FFFF:
        raise RtpError("timestamp does not fit 32 bits")
    if not 0 <= header.ssrc <= 0xFFFF_FFFF:
        raise RtpError("SSRC does not fit 32 bits")
    if len(header.csrc) > _MAX_CSRC:
        raise RtpError("more than 15 CSRCs")
    if any(not 0 <= c <= 0xFFFF_FFFF for c in header.csrc):
        raise RtpError("CSRC does not fit 32 bits")
    if not 0 <= header.padding_bytes <= 0xFF:
        raise RtpError("padding count does not fit 8 bits")

    first = (RTP_VERSION << 6) | len(header.csrc)
    if header.padding_bytes:
        first |= 0x20
    if header.extension is not None:
        first |= 0x10
    second = header.payload_type | (0x80 if header.marker else 0)
    parts = [
        _FIXED.pack(first, second, header.sequence_number, header.timestamp, header.ssrc),
        struct.pack(f"!{len(header.csrc)}I", *header.csrc),
    ]
    if header.extension is not None:
        ext = header.extension
        if len(ext.data) % 4 or len(ext.data) // 4 > 0xFFFF:
            raise RtpError("extension data is not a whole number of 32-bit words ≤ 65535")
        if not 0 <= ext.profile <= 0xFFFF:
            raise RtpError("extension profile does not fit 16 bits")
        parts.append(_EXT_HEAD.pack(ext.profile, len(ext.data) // 4))
        parts.append(ext.data)
    parts.append(payload)
    if header.padding_bytes:
        parts.append(bytes(header.padding_bytes - 1) + bytes((header.padding_bytes,)))
    packet = b"".join(parts)
    if len(packet) > MAX_PACKET_BYTES:
        raise RtpError("packet too long")
    return packet


def is_rtcp(data: bytes) -> bool:
    """True if `data` looks like RTCP rather than RTP (RFC 5761 §4).

    Checks the version and that the second octet (RTCP packet type; marker + payload type in
    RTP) lies in 192–223. It classifies; it does not validate the RTCP packet.
    """
    return len(data) >= 4 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223
