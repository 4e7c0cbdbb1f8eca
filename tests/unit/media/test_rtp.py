"""RTP header parse/build (RFC 3550 §5.1) and RTP/RTCP demultiplexing (RFC 5761 §4)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.media.rtp import (
    MAX_PACKET_BYTES,
    RtpError,
    RtpExtension,
    RtpHeader,
    build_rtp,
    is_rtcp,
    parse_rtp,
    rtp_payload,
)

# A G.711 µ-law packet as a phone sends it: V=2, M=1, PT=0, seq 0x1234, ts 0xDEADBEEF.
PCMU = bytes.fromhex("80801234deadbeef01020304") + bytes(range(160))


def test_parse_pcmu_packet() -> None:
    header = parse_rtp(PCMU)
    assert header == RtpHeader(
        payload_type=0, sequence_number=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304, marker=True
    )
    assert header.header_bytes == 12
    assert rtp_payload(PCMU, header) == bytes(range(160))


def test_build_is_byte_exact() -> None:
    header = RtpHeader(0, 0x1234, 0xDEADBEEF, 0x01020304, marker=True)
    assert build_rtp(header, bytes(range(160))) == PCMU


def test_csrc_extension_and_padding_round_trip() -> None:
    header = RtpHeader(
        payload_type=101,
        sequence_number=65535,
        timestamp=0,
        ssrc=0xFFFFFFFF,
        csrc=(1, 2, 3),
        extension=RtpExtension(0xBEDE, b"\x10\xff\x00\x00"),
        padding_bytes=4,
    )
    packet = build_rtp(header, b"\x05\x0a\x00\xa0")
    assert packet[0] == 0x80 | 0x20 | 0x10 | 3
    assert len(packet) == 12 + 12 + 8 + 4 + 4
    assert packet[-4:] == b"\x00\x00\x00\x04"
    parsed = parse_rtp(packet)
    assert parsed == header
    assert parsed.header_bytes == 32
    assert rtp_payload(packet, parsed) == b"\x05\x0a\x00\xa0"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "packet shorter than the RTP fixed header"),
        (PCMU[:11], "packet shorter than the RTP fixed header"),
        (b"\x40" + PCMU[1:], "RTP version is not 2"),
        (b"\x8f" + PCMU[1:12], "CSRC list runs past the end of the packet"),
        (b"\x90" + PCMU[1:12] + b"\xbe\xde", "header extension runs past the end of the packet"),
        (
            b"\x90" + PCMU[1:12] + b"\xbe\xde\x00\x02" + bytes(4),
            "header extension runs past the end of the packet",
        ),
        (b"\xa0" + PCMU[1:12] + b"\x00", "padding count is invalid"),
        (b"\xa0" + PCMU[1:12] + b"\x00\x03", "padding count is invalid"),
        (PCMU[:12] + bytes(MAX_PACKET_BYTES), "packet too long"),
    ],
)
def test_parse_rejects_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError) as caught:
        parse_rtp(data)
    assert caught.value.reason == reason
    assert str(caught.value) == reason
    assert isinstance(caught.value, ValueError)


def test_padding_may_fill_everything_after_the_header() -> None:
    header = parse_rtp(b"\xa0" + PCMU[1:12] + b"\x00\x00\x03")
    assert header.padding_bytes == 3
    assert rtp_payload(b"\xa0" + PCMU[1:12] + b"\x00\x00\x03", header) == b""


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (RtpHeader(128, 0, 0, 0), "payload type does not fit 7 bits"),
        (RtpHeader(0, 65536, 0, 0), "sequence number does not fit 16 bits"),
        (RtpHeader(0, 0, -1, 0), "timestamp does not fit 32 bits"),
        (RtpHeader(0, 0, 0, 1 << 32), "SSRC does not fit 32 bits"),
        (RtpHeader(0, 0, 0, 0, csrc=tuple(range(16))), "more than 15 CSRCs"),
        (RtpHeader(0, 0, 0, 0, csrc=(1 << 32,)), "CSRC does not fit 32 bits"),
        (RtpHeader(0, 0, 0, 0, padding_bytes=256), "padding count does not fit 8 bits"),
        (
            RtpHeader(0, 0, 0, 0, extension=RtpExtension(1, b"abc")),
            "extension data is not a whole number of 32-bit words ≤ 65535",
        ),
        (
            RtpHeader(0, 0, 0, 0, extension=RtpExtension(1 << 16)),
            "extension profile does not fit 16 bits",
        ),
    ],
)
def test_build_rejects_fields_that_do_not_fit(header: RtpHeader, reason: str) -> None:
    with pytest.raises(RtpError, match=reason):
        build_rtp(header)


def test_build_rejects_oversized_packet() -> None:
    with pytest.raises(RtpError, match="packet too long"):
        build_rtp(RtpHeader(0, 0, 0, 0), bytes(MAX_PACKET_BYTES))


def test_is_rtcp_by_packet_type() -> None:
    sender_report = struct.pack("!BBH", 0x80, 200, 6) + bytes(24)
    receiver_report = struct.pack("!BBH", 0x81, 201, 7) + bytes(28)
    assert is_rtcp(sender_report)
    assert is_rtcp(receiver_report)
    assert not is_rtcp(PCMU)
    # Marker set on payload type 0..63 gives 128..191: still RTP.
    assert not is_rtcp(b"\x80\xbf" + PCMU[2:])
    assert not is_rtcp(b"\x80\xe0" + PCMU[2:])  # 224: outside RFC 5761's range
    assert not is_rtcp(b"\x00\xc8\x00\x01")  # STUN-like first bits: not version 2
    assert not is_rtcp(b"\x80\xc8")


@given(st.binary(max_size=200))
def test_any_bytes_give_a_header_or_rtp_error(data: bytes) -> None:
    try:
        header = parse_rtp(data)
    except RtpError:
        return
    assert header.header_bytes + header.padding_bytes <= len(data)
    payload = rtp_payload(data, header)
    assert len(payload) == len(data) - header.header_bytes - header.padding_bytes


headers = st.builds(
    RtpHeader,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        profile=st.integers(0, 0xFFFF),
        data=st.binary(max_size=40).map(lambda b: b[: len(b) - len(b) % 4]),
    ),
    padding_bytes=st.integers(0, 255),
)


@given(headers, st.binary(max_size=200))
def test_build_then_parse_round_trips(header: RtpHeader, payload: bytes) -> None:
    packet = build_rtp(header, payload)
    parsed = parse_rtp(packet)
    assert parsed == header
    assert rtp_payload(packet, parsed) == payload
    # RFC 5761 §4: only marker + payload types 64–95 collide with RTCP; they are not in use.
    assert is_rtcp(packet) == (header.marker and 64 <= header.payload_type <= 95)
