"""SDP: golden descriptions from real phones, offer/answer helpers, bounds, property test."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.sip.errors import SipError
from firmware.sip.sdp import (
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    Direction,
    SdpError,
    SdpLimits,
    direction,
    negotiate_answer,
    parse_sdp,
    payloads,
    remote_rtp_address,
    rewrite_connection,
)
from firmware.sip.status import SipStatus

DATA = Path(__file__).parents[2] / "data" / "sip" / "sdp"
GOLDEN = sorted(DATA.glob("*.sdp"))


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_sdp_round_trips_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    assert parse_sdp(data).to_bytes() == data


def test_lf_only_sdp_serializes_with_crlf() -> None:
    data = load("sipp_uac.sdp")
    assert parse_sdp(data.replace(b"\r\n", b"\n")).to_bytes() == data


def test_yealink_payloads_and_direction() -> None:
    sdp = parse_sdp(load("yealink_t46s_offer.sdp"))
    (audio,) = sdp.media
    codecs = payloads(audio)
    assert list(codecs) == [0, 8, 9, 18, 101]
    assert (codecs[0].encoding, codecs[0].clock_rate_hz, codecs[0].channels) == ("PCMU", 8000, 1)
    assert codecs[101].encoding == "telephone-event" and codecs[101].fmtp == "0-15"
    assert codecs[18].fmtp == "annexb=no"
    assert direction(audio, sdp) is Direction.SENDRECV
    assert remote_rtp_address(sdp, 0) == ("192.168.1.23", 11800)


def test_static_payloads_need_no_rtpmap_and_opus_has_two_channels() -> None:
    sipp = parse_sdp(load("sipp_uac.sdp").replace(b"a=rtpmap:0 PCMU/8000\r\n", b""))
    assert payloads(sipp.media[0])[0].encoding == "PCMU"
    cisco = parse_sdp(load("cisco_cp8841_offer.sdp"))
    assert payloads(cisco.media[0])[114] == Codec(
        "opus", 48000, 2, cisco.media[0].attributes("fmtp")[0].split(" ", 1)[1], 114)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("yealink_t46s_hold.sdp", Direction.SENDONLY),
     ("grandstream_legacy_hold.sdp", Direction.SENDONLY),  # RFC 3264 §8.4 c=0.0.0.0
     ("polycom_vvx410_offer.sdp", Direction.SENDRECV),     # session-level a=sendrecv
     ("baresip_offer.sdp", Direction.SENDRECV)],
)
def test_direction(name: str, expected: Direction) -> None:
    sdp = parse_sdp(load(name))
    assert direction(sdp.media[0], sdp) is expected


def test_legacy_hold_has_no_remote_address() -> None:
    assert remote_rtp_address(parse_sdp(load("grandstream_legacy_hold.sdp")), 0) is None


def test_media_level_connection_wins_over_session() -> None:
    sdp = parse_sdp(load("cisco_cp8841_offer.sdp"))
    assert sdp.connection is None
    assert remote_rtp_address(sdp, 0) == ("192.168.1.40", 24580)
    with pytest.raises(SdpError, match="no such SDP media"):
        remote_rtp_address(sdp, 1)


def test_rewrite_connection_anchors_media_and_bumps_version() -> None:
    sdp = parse_sdp(load("baresip_offer.sdp"))
    out = rewrite_connection(sdp, "10.0.0.1", {0: 40000})
    text = out.to_bytes().decode()
    assert "c=IN IP4 10.0.0.1\r\n" in text and "192.168.1.50" not in text
    assert "m=audio 40000 RTP/AVP 96 9 0 8 101\r\n" in text
    assert out.origin.session_version == sdp.origin.session_version + 1
    assert out.origin.session_id == sdp.origin.session_id
    assert "a=rtcp:" not in text                       # the phone's RTCP port is not ours
    assert "a=ssrc:2518293511" in text and "a=tool:baresip 3.10.1" in text
    assert remote_rtp_address(parse_sdp(out.to_bytes()), 0) == ("10.0.0.1", 40000)


def test_rewrite_connection_media_level_c_and_rejected_streams() -> None:
    sdp = parse_sdp(load("linphone_video_offer.sdp"))
    rejected = rewrite_connection(sdp, "10.0.0.1", lambda i: 40000 + 2 * i, session_version=7)
    assert [m.port for m in rejected.media] == [40000, 40002]
    assert rejected.origin.session_version == 7
    cisco = rewrite_connection(parse_sdp(load("cisco_cp8841_offer.sdp")), "2001:db8::1", {0: 5})
    assert cisco.media[0].connection is not None
    assert str(cisco.media[0].connection) == "IN IP6 2001:db8::1"
    assert cisco.connection is None
    zero = parse_sdp(load("sipp_uac.sdp").replace(b"m=audio 6000", b"m=audio 0"))
    assert rewrite_connection(zero, "10.0.0.1", {}).media[0].port == 0


def test_negotiate_answer_keeps_offer_order_and_payload_numbers() -> None:
    offer = parse_sdp(load("polycom_vvx410_offer.sdp"))
    answer = negotiate_answer(offer, host="10.0.0.1", ports={0: 30000}, session_id="42")
    (audio,) = answer.media
    assert audio.formats == ("0", "8", "127")
    assert audio.port == 30000
    assert audio.attributes("fmtp") == ["127 0-15"]   # no fmtp offered means 0-15
    assert direction(audio, answer) is Direction.SENDRECV
    assert parse_sdp(answer.to_bytes()) == answer


def test_negotiate_answer_reverses_direction_and_rejects_other_streams() -> None:
    hold = parse_sdp(load("yealink_t46s_hold.sdp"))
    answer = negotiate_answer(hold, host="10.0.0.1", ports={0: 30000}, session_id="1")
    assert direction(answer.media[0], answer) is Direction.RECVONLY
    video = parse_sdp(load("linphone_video_offer.sdp"))
    answer = negotiate_answer(video, host="10.0.0.1", ports=lambda i: 30000, session_id="1")
    assert [m.port for m in answer.media] == [30000, 0]
    assert answer.media[0].formats == ("0", "8", "97")   # telephone-event/8000, not /48000
    assert answer.media[1].formats == ("98",)


def test_negotiate_answer_intersects_telephone_events() -> None:
    offer = parse_sdp(load("yealink_t46s_offer.sdp").replace(b"fmtp:101 0-15",
                                                             b"fmtp:101 0-16,32-36"))
    answer = negotiate_answer(offer, [PCMU, TELEPHONE_EVENT], host="h", ports={0: 1},
                              session_id="1")
    assert answer.media[0].attributes("fmtp") == ["101 0-16"]
    assert answer.media[0].formats == ("0", "101")


def test_negotiate_answer_without_common_codec_is_488() -> None:
    offer = parse_sdp(load("cisco_cp8841_offer.sdp"))
    with pytest.raises(SdpError) as info:
        negotiate_answer(offer, [Codec("AMR", 8000)], host="h", ports={0: 1}, session_id="1")
    assert info.value.status is SipStatus.NOT_ACCEPTABLE_HERE


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "SDP must start with v=, o=, s="),
     (b"v=0\r\ns=-\r\n", "SDP must start with v=, o=, s="),
     (b"v=1\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", "unsupported SDP version"),
     (b"v=0\r\no=- 1 x IN IP4 h\r\ns=-\r\n", "malformed SDP o= line"),
     (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio x RTP/AVP 0\r\n", "malformed SDP m= port"),
     (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP\r\n", "malformed SDP m= line"),
     (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4\r\n", "malformed SDP c= line"),
     (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nbogus\r\n", "malformed SDP line"),
     (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\r\n", "SDP not UTF-8")],
)
def test_malformed_sdp_is_400_with_exact_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SdpError) as info:
        parse_sdp(data)
    assert (info.value.status, info.value.reason) == (SipStatus.BAD_REQUEST, reason)


def test_sdp_limits() -> None:
    data = load("cisco_cp8841_offer.sdp")
    with pytest.raises(SdpError, match="SDP too large"):
        parse_sdp(data, SdpLimits(max_bytes=100))
    with pytest.raises(SdpError, match="too many SDP lines"):
        parse_sdp(data, SdpLimits(max_lines=5))
    with pytest.raises(SdpError, match="SDP line too long"):
        parse_sdp(data, SdpLimits(max_line_bytes=40))
    with pytest.raises(SdpError, match="too many SDP media"):
        parse_sdp(load("linphone_video_offer.sdp"), SdpLimits(max_media=1))


SDPISH = st.sampled_from(["v=0", "o=- 1 1 IN IP4 h", "s=-", "c=IN IP4 0.0.0.0",
                          "m=audio 0 RTP/AVP 0", "a=rtpmap:101 telephone-event/8000",
                          "a=fmtp:101 0-16,x", "\r\n", "\n",
                          "a=sendonly", "m=audio 70000 RTP/AVP 1", " ", "=", "é", "\x00"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.lists(SDPISH, max_size=40).map(
    lambda parts: "".join(parts).encode())))
def test_any_bytes_give_sdp_or_sip_error(data: bytes) -> None:
    try:
        sdp = parse_sdp(data)
    except SipError:
        return
    assert parse_sdp(sdp.to_bytes()).to_bytes() == sdp.to_bytes()
    for index, media in enumerate(sdp.media):
        payloads(media)
        direction(media, sdp)
        try:
            remote_rtp_address(sdp, index)
            negotiate_answer(sdp, host="h", ports=lambda i: 1, session_id="1")
        except SipError:
            pass
        rewrite_connection(sdp, "10.0.0.1", lambda i: 2000)
