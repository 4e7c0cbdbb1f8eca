"""RTCP wire format: golden packets laid out by hand from RFC 3550 §6.4–§6.6, RTT, robustness."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.media.rtcp import (
    NTP_UNIX_OFFSET_S,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpUnknown,
    SdesChunk,
    SdesItem,
    SdesItemType,
    SenderInfo,
    SenderReport,
    SourceDescription,
    build_rtcp,
    build_rtcp_packet,
    dlsr_from_seconds,
    ntp_from_seconds,
    ntp_middle32,
    ntp_to_seconds,
    parse_rtcp,
    round_trip_s,
)

# RFC 3550 §6.4.1 SR layout, written out word by word (not produced by the builder):
#   V=2 P=0 RC=1 | PT=200 | length=12 (13 words - 1)
#   SSRC of sender | NTP MSW | NTP LSW | RTP ts | packet count | octet count
#   report block: SSRC_1 | fraction lost (8) + cumulative lost (24) | ext. highest seq |
#                 jitter | LSR | DLSR
GOLDEN_SR = bytes.fromhex(
    "81c8000c"
    "11223344"
    "e1b2c3d4"
    "80000000"
    "00abcdef"
    "000003e8"  # 1000 packets
    "00027100"  # 160 000 octets
    "55667788"
    "40000005"  # fraction 64/256, cumulative lost 5
    "0001ffff"  # one cycle, highest seq 65535
    "00000020"  # jitter 32 timestamp units
    "12345678"
    "00018000"  # DLSR 1.5 s
)
SR = SenderReport(
    ssrc=0x11223344,
    sender_info=SenderInfo(0xE1B2C3D4_80000000, 0x00ABCDEF, 1000, 160_000),
    reports=(ReportBlock(0x55667788, 64, 5, 0x0001FFFF, 32, 0x12345678, 0x00018000),),
)

# RFC 3550 §6.4.2 RR layout: V=2 P=0 RC=1 | PT=201 | length=7; cumulative lost −3 is 0xfffffd.
GOLDEN_RR = bytes.fromhex(
    "81c90007"
    "0a0b0c0d"
    "11223344"
    "00fffffd"  # fraction 0, cumulative lost −3 (duplicates)
    "00000100"
    "000004d2"
    "00000000"
    "00000000"
)
RR = ReceiverReport(0x0A0B0C0D, (ReportBlock(0x11223344, 0, -3, 0x100, 1234, 0, 0),))

# RFC 3550 §6.5 SDES: one chunk, CNAME "pbx@10.0.0.1" (12 octets), then 2 null octets to pad
# the 18-octet chunk body to 20.
GOLDEN_SDES = bytes.fromhex("81ca0005" "11223344" "010c" + b"pbx@10.0.0.1".hex() + "0000")
SDES = SourceDescription(
    (SdesChunk(0x11223344, (SdesItem(SdesItemType.CNAME, b"pbx@10.0.0.1"),)),)
)

# RFC 3550 §6.6 BYE with reason "bye": length octet 3 + 3 octets fill one word exactly.
GOLDEN_BYE = bytes.fromhex("81cb0002" "11223344" "03627965")
BYE = Bye((0x11223344,), b"bye")


@pytest.mark.parametrize(
    ("wire", "packet"),
    [(GOLDEN_SR, SR), (GOLDEN_RR, RR), (GOLDEN_SDES, SDES), (GOLDEN_BYE, BYE)],
    ids=["SR", "RR", "SDES", "BYE"],
)
def test_golden_packet_parses_and_rebuilds(wire: bytes, packet: object) -> None:
    packets = parse_rtcp(wire, reduced_size=True)
    assert packets == [packet]
    assert build_rtcp(packets) == wire


def test_compound_sr_sdes_bye_round_trips() -> None:
    wire = GOLDEN_SR + GOLDEN_SDES + GOLDEN_BYE
    assert parse_rtcp(wire) == [SR, SDES, BYE]
    assert build_rtcp([SR, SDES, BYE]) == wire


def test_sdes_cname_reads_as_text() -> None:
    assert SDES.chunks[0].cname == "pbx@10.0.0.1"


def test_sdes_item_ending_on_word_boundary_gets_a_whole_null_word() -> None:
    # 4 (SSRC) + 2 + 2 ("ab") = 8 octets: the null terminator needs a word of its own.
    sdes = SourceDescription((SdesChunk(1, (SdesItem(SdesItemType.CNAME, b"ab"),)),))
    wire = build_rtcp_packet(sdes)
    assert wire == bytes.fromhex("81ca0003" "00000001" "01026162" "00000000")
    assert parse_rtcp(wire, reduced_size=True) == [sdes]


def test_bye_without_reason_is_two_words() -> None:
    assert build_rtcp_packet(Bye((7,))) == bytes.fromhex("81cb0001" "00000007")


def test_unknown_packet_types_are_carried_whole() -> None:
    app = bytes.fromhex("81cc0002" "11223344" "74657374")  # APP, subtype 1, name "test"
    packets = parse_rtcp(GOLDEN_RR + app)
    assert packets[1] == RtcpUnknown(204, 1, bytes.fromhex("11223344" "74657374"))
    assert build_rtcp(packets) == GOLDEN_RR + app


def test_padding_on_last_packet_is_removed() -> None:
    # BYE with P set: one extra word of padding whose last octet counts 4.
    padded = bytes.fromhex("a1cb0002" "11223344" "00000004")
    assert parse_rtcp(GOLDEN_RR + padded)[1] == Bye((0x11223344,))


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\x81\xc9", "packet shorter than the RTCP header"),
        (bytes.fromhex("41c90001" "00000000"), "RTCP version is not 2"),
        (GOLDEN_RR[:-4], "RTCP length runs past the end of the packet"),
        (GOLDEN_RR + b"\x00\x00", "trailing octets after the last RTCP packet"),
        (GOLDEN_SDES, "compound packet does not start with an SR or RR"),
        (bytes.fromhex("82c90001" "00000001"), "RR shorter than its report count says"),
        (bytes.fromhex("81c80001" "00000001"), "SR shorter than its report count says"),
        (
            bytes.fromhex("a1c90001" "00000001") + GOLDEN_RR,
            "padding bit set on a packet that is not the last",
        ),
        (bytes.fromhex("a0c90001" "00000000"), "padding count is invalid"),
        (GOLDEN_RR + bytes.fromhex("81ca0001" "00000001"), "SDES item list is not terminated"),
        (
            GOLDEN_RR + bytes.fromhex("81ca0002" "00000001" "01056162"),
            "SDES item runs past the end of the packet",
        ),
        (
            GOLDEN_RR + bytes.fromhex("82ca0002" "00000001" "00000000"),
            "SDES chunk runs past the end of the packet",
        ),
        (
            GOLDEN_RR + bytes.fromhex("81ca0003" "00000001" "00000000" "00000000"),
            "SDES length does not match its chunks",
        ),
        (
            GOLDEN_RR + bytes.fromhex("82cb0001" "00000001"),
            "BYE shorter than its source count says",
        ),
        (
            GOLDEN_RR + bytes.fromhex("81cb0002" "00000001" "09616263"),
            "BYE reason runs past the end of the packet",
        ),
        (bytes(8193), "packet too long"),
    ],
)
def test_malformed_packet_is_refused_with_its_reason(wire: bytes, reason: str) -> None:
    with pytest.raises(RtcpError) as info:
        parse_rtcp(wire)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (ReceiverReport(0, (ReportBlock(1, cumulative_lost=1 << 23),)), "cumulative lost"),
        (ReceiverReport(0, (ReportBlock(1, fraction_lost=256),)), "fraction lost"),
        (ReceiverReport(1 << 32), "SSRC does not fit 32 bits"),
        (ReceiverReport(0, tuple(ReportBlock(i) for i in range(32))), "count does not fit"),
        (Bye((1,), b"x" * 256), "BYE reason longer than 255 octets"),
        (RtcpUnknown(204, 0, b"abc"), "not a whole number of 32-bit words"),
    ],
)
def test_builder_refuses_fields_that_do_not_fit(packet: object, reason: str) -> None:
    with pytest.raises(RtcpError, match=reason):
        build_rtcp_packet(packet)  # type: ignore[arg-type]


# -- NTP and round-trip time ---------------------------------------------------------------------


def test_ntp_offset_matches_the_calendar() -> None:
    ntp_epoch = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
    unix_epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert NTP_UNIX_OFFSET_S == (unix_epoch - ntp_epoch).total_seconds()


def test_ntp_conversion_of_rfc3550_figure_2_sender_report_time() -> None:
    # RFC 3550 Figure 2: SR sent 10 Nov 1995 11:33:25.125 UTC, ntp_sec 0xb44db705,
    # ntp_frac 0x20000000, LSR 0xb705:2000.
    sent = dt.datetime(1995, 11, 10, 11, 33, 25, 125_000, tzinfo=dt.UTC).timestamp()
    ntp = ntp_from_seconds(sent + NTP_UNIX_OFFSET_S)
    assert ntp == 0xB44DB705_20000000
    assert ntp_middle32(ntp) == 0xB7052000
    assert ntp_to_seconds(ntp) == 3024992005.125


def test_round_trip_time_of_rfc3550_figure_2_is_6_125_s() -> None:
    # A = 0xb710:8000 (46864.500 s), DLSR 0x0005:4000 (5.250 s), LSR 0xb705:2000.
    arrival = 0xB44DB710_80000000
    block = ReportBlock(ssrc=1, lsr=0xB7052000, dlsr=0x00054000)
    assert round_trip_s(arrival, block) == 6.125


def test_round_trip_survives_the_middle_word_wrap() -> None:
    # LSR 0.25 s before the 32-bit middle word wraps; the report arrives 1.5 s later, 1.25 s
    # after the wrap (middle word 0x0001:4000), having been held 0.5 s by the peer.
    block = ReportBlock(ssrc=1, lsr=0xFFFF_C000, dlsr=dlsr_from_seconds(0.5))
    arrival = (0x1234_0001 << 32) | 0x4000_0000
    assert round_trip_s(arrival, block) == 1.0


def test_round_trip_is_unknown_without_lsr_or_when_negative() -> None:
    assert round_trip_s(0xB44DB710_80000000, ReportBlock(ssrc=1)) is None
    late_dlsr = ReportBlock(ssrc=1, lsr=0xB7100000, dlsr=0x00010000)  # DLSR beyond arrival
    assert round_trip_s(0xB44DB710_80000000, late_dlsr) is None


# -- robustness ----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_packets_or_rtcp_error(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except RtcpError:
        return
    assert build_rtcp(packets)  # whatever parsed can be written back


_RTCP_HEADERS = st.builds(
    lambda first, pt, words: bytes((first, pt)) + words.to_bytes(2, "big"),
    st.integers(0x80, 0xBF),
    st.sampled_from([200, 201, 202, 203, 204, 207]),
    st.integers(0, 12),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_RTCP_HEADERS, st.binary(max_size=60)), min_size=1, max_size=4))
def test_plausible_headers_with_random_bodies_give_packets_or_rtcp_error(
    parts: list[tuple[bytes, bytes]],
) -> None:
    data = b"".join(header + body for header, body in parts)
    try:
        parse_rtcp(data, reduced_size=True)
    except RtcpError:
        pass


_U32 = st.integers(0, 0xFFFF_FFFF)
_BLOCKS = st.lists(
    st.builds(
        ReportBlock,
        _U32,
        st.integers(0, 255),
        st.integers(-(1 << 23), (1 << 23) - 1),
        _U32,
        _U32,
        _U32,
        _U32,
    ),
    max_size=3,
).map(tuple)
_PACKETS = st.one_of(
    st.builds(
        SenderReport,
        _U32,
        st.builds(SenderInfo, st.integers(0, (1 << 64) - 1), _U32, _U32, _U32),
        _BLOCKS,
    ),
    st.builds(ReceiverReport, _U32, _BLOCKS),
    st.builds(
        SourceDescription,
        st.lists(
            st.builds(
                SdesChunk,
                _U32,
                st.lists(
                    st.builds(SdesItem, st.integers(1, 8), st.binary(max_size=40)), max_size=3
                ).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(Bye, st.lists(_U32, max_size=3).map(tuple), st.binary(max_size=20)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PACKETS, min_size=1, max_size=4))
def test_built_packets_parse_back_equal(packets: list[object]) -> None:
    wire = build_rtcp(packets)  # type: ignore[arg-type]
    assert parse_rtcp(wire, reduced_size=True) == packets
