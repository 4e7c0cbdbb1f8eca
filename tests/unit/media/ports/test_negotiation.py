"""SDP for legs the box terminates, against offers and answers shaped like real phones' SDP.

The samples below follow what baresip, Linphone, Yealink and Grandstream send (their m= order,
dynamic numbers, attribute habits); expected results come from RFC 3264 §6.1 (the offerer's
order and payload numbers rule), RFC 3551 table 4 (static 0 PCMU, 8 PCMA, 18 G729) and
RFC 4733 §7.1.1, not from this module's output.
"""

from __future__ import annotations

import pytest

from firmware.media.codecs.codec import Encoding
from firmware.media.negotiation import (
    LocalMedia,
    accepted,
    answer_offer,
    local_offer,
    remote_address,
)
from firmware.sip.sdp import SdpError, parse_sdp
from firmware.sip.status import SipStatus


def sdp(text: str) -> bytes:
    return "\r\n".join(line.strip() for line in text.strip().splitlines()).encode() + b"\r\n"


BARESIP_OFFER = sdp("""
    v=0
    o=- 1288414434 3285447211 IN IP4 192.168.1.20
    s=-
    c=IN IP4 192.168.1.20
    t=0 0
    m=audio 10470 RTP/AVP 0 8 101
    b=AS:64
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=sendrecv
    a=label:1
    a=rtcp-rsize
    a=ptime:20
""")

# Linphone: opus and speex first, telephone-event at three clock rates (8 kHz is 100, not 101),
# no a=rtpmap for the static 0/8/18, and a video stream.
LINPHONE_OFFER = sdp("""
    v=0
    o=alice 3219 1127 IN IP4 10.0.0.5
    s=Talk
    c=IN IP4 10.0.0.5
    t=0 0
    a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
    m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
    a=rtpmap:96 opus/48000/2
    a=fmtp:96 useinbandfec=1
    a=rtpmap:97 speex/16000
    a=fmtp:97 vbr=on
    a=rtpmap:98 speex/8000
    a=fmtp:98 vbr=on
    a=fmtp:18 annexb=yes
    a=rtpmap:101 telephone-event/48000
    a=rtpmap:99 telephone-event/16000
    a=rtpmap:100 telephone-event/8000
    a=rtcp-fb:* trr-int 1000
    m=video 9078 RTP/AVP 96 97
    a=rtpmap:96 VP8/90000
    a=rtpmap:97 H264/90000
    a=fmtp:97 profile-level-id=42801F
""")

YEALINK_OFFER = sdp("""
    v=0
    o=- 20001 20001 IN IP4 192.168.10.31
    s=SDP data
    c=IN IP4 192.168.10.31
    t=0 0
    m=audio 11792 RTP/AVP 9 8 0 18 101
    a=rtpmap:9 G722/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=ptime:20
    a=sendrecv
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
""")

# Grandstream: G.729 first, static types without a=rtpmap, telephone-event under 96.
GRANDSTREAM_OFFER = sdp("""
    v=0
    o=1000 8000 8000 IN IP4 192.168.2.40
    s=SIP Call
    c=IN IP4 192.168.2.40
    t=0 0
    m=audio 5004 RTP/AVP 18 0 8 96
    a=fmtp:18 annexb=no
    a=rtpmap:96 telephone-event/8000
    a=fmtp:96 0-15
    a=ptime:20
    a=sendrecv
""")

# A North American handset: PCMU only, c= at media level only.
PCMU_ONLY_OFFER = sdp("""
    v=0
    o=- 7 7 IN IP4 10.1.1.9
    s=-
    t=0 0
    m=audio 16384 RTP/AVP 0 101
    c=IN IP4 10.1.1.9
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
""")

G729_ONLY_OFFER = sdp("""
    v=0
    o=- 1 1 IN IP4 10.1.1.9
    s=-
    c=IN IP4 10.1.1.9
    t=0 0
    m=audio 5004 RTP/AVP 18 101
    a=rtpmap:101 telephone-event/8000
""")

HOLD_OFFER = sdp("""
    v=0
    o=- 20001 20002 IN IP4 192.168.10.31
    s=SDP data
    c=IN IP4 0.0.0.0
    t=0 0
    m=audio 11792 RTP/AVP 8 101
    a=rtpmap:101 telephone-event/8000
    a=sendonly
""")


@pytest.mark.parametrize(
    ("offer", "expected", "remote"),
    [
        (BARESIP_OFFER, LocalMedia(Encoding.PCMU, 0, 101), ("192.168.1.20", 10470)),
        (LINPHONE_OFFER, LocalMedia(Encoding.PCMU, 0, 100), ("10.0.0.5", 7078)),
        (YEALINK_OFFER, LocalMedia(Encoding.PCMA, 8, 101), ("192.168.10.31", 11792)),
        (GRANDSTREAM_OFFER, LocalMedia(Encoding.PCMU, 0, 96), ("192.168.2.40", 5004)),
        (PCMU_ONLY_OFFER, LocalMedia(Encoding.PCMU, 0, 101), ("10.1.1.9", 16384)),
    ],
    ids=["baresip", "linphone", "yealink", "grandstream", "pcmu-only"],
)
def test_answer_takes_the_offerers_first_g711_with_its_numbers(
    offer: bytes, expected: LocalMedia, remote: tuple[str, int]
) -> None:
    body, media = answer_offer(offer, "192.168.1.2", 40000, prefer=Encoding.PCMA)
    assert media == expected
    assert remote_address(offer) == remote
    answer = parse_sdp(body)
    audio = answer.media[0]
    assert (audio.media, audio.port, audio.proto) == ("audio", 40000, "RTP/AVP")
    # Exactly one voice format, so the far side can send nothing the engine would drop.
    event = [] if expected.telephone_event_pt is None else [str(expected.telephone_event_pt)]
    assert list(audio.formats) == [str(expected.payload_type), *event]
    assert f"rtpmap:{expected.payload_type} {expected.codec.value}/8000" in [
        v for k, v in audio.lines if k == "a"]
    assert remote_address(body) == ("192.168.1.2", 40000)
    assert accepted(body) == expected          # the answer reads back the same way


def test_answer_rejects_video_with_port_zero_and_keeps_the_stream_count() -> None:
    body, _ = answer_offer(LINPHONE_OFFER, "192.168.1.2", 40000)
    answer = parse_sdp(body)
    assert [(m.media, m.port) for m in answer.media] == [("audio", 40000), ("video", 0)]


def test_answer_intersects_the_offered_events_with_0_to_16() -> None:
    body, _ = answer_offer(BARESIP_OFFER, "192.168.1.2", 40000)
    assert parse_sdp(body).media[0].attribute("fmtp") == "101 0-15"


def test_answer_to_a_held_offer_is_recvonly_and_the_hold_has_no_address() -> None:
    body, media = answer_offer(HOLD_OFFER, "192.168.1.2", 40000)
    assert media == LocalMedia(Encoding.PCMA, 8, 101)
    assert parse_sdp(body).media[0].attribute("recvonly") == ""
    assert remote_address(HOLD_OFFER) is None


def test_offer_without_g711_is_not_acceptable_here() -> None:
    with pytest.raises(SdpError) as caught:
        answer_offer(G729_ONLY_OFFER, "192.168.1.2", 40000)
    assert caught.value.status is SipStatus.NOT_ACCEPTABLE_HERE


def test_malformed_offer_is_a_bad_request() -> None:
    with pytest.raises(SdpError) as caught:
        answer_offer(b"v=0\r\nm=audio\r\n", "192.168.1.2", 40000)
    assert caught.value.status is SipStatus.BAD_REQUEST


@pytest.mark.parametrize(
    ("prefer", "formats"), [(Encoding.PCMA, ["8", "0", "101"]), (Encoding.PCMU, ["0", "8", "101"])]
)
def test_offer_lists_both_g711_preferred_first_and_events_0_to_16(
    prefer: Encoding, formats: list[str]
) -> None:
    body = local_offer("10.0.0.1", 30000, prefer=prefer, session_id=42)
    offer = parse_sdp(body)
    assert offer.origin.session_id == "42"
    (audio,) = offer.media
    assert (audio.port, audio.proto, list(audio.formats)) == (30000, "RTP/AVP", formats)
    assert sorted(audio.attributes("rtpmap")) == [
        "0 PCMU/8000", "101 telephone-event/8000", "8 PCMA/8000"]
    assert audio.attributes("fmtp") == ["101 0-16"]
    assert audio.attribute("sendrecv") == ""
    assert remote_address(body) == ("10.0.0.1", 30000)


def test_offer_refuses_a_static_number_for_telephone_event() -> None:
    with pytest.raises(ValueError, match="96-127"):
        local_offer("10.0.0.1", 30000, telephone_event_pt=8)


def test_two_boxes_agree_on_the_offerers_preference() -> None:
    offer = local_offer("10.0.0.1", 30000, prefer=Encoding.PCMU)
    body, theirs = answer_offer(offer, "10.0.0.2", 30002, prefer=Encoding.PCMA)
    assert theirs == LocalMedia(Encoding.PCMU, 0, 101) == accepted(body)


YEALINK_ANSWER = sdp("""
    v=0
    o=- 20002 20002 IN IP4 192.168.10.31
    s=SDP data
    c=IN IP4 192.168.10.31
    t=0 0
    m=audio 11800 RTP/AVP 8 101
    a=rtpmap:8 PCMA/8000
    a=ptime:20
    a=sendrecv
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
""")

GRANDSTREAM_ANSWER_NO_EVENTS = sdp("""
    v=0
    o=1000 8001 8001 IN IP4 192.168.2.40
    s=SIP Call
    c=IN IP4 192.168.2.40
    t=0 0
    m=audio 5006 RTP/AVP 0
    a=ptime:20
    a=sendrecv
""")

LINPHONE_ANSWER = sdp("""
    v=0
    o=bob 1 2 IN IP4 10.0.0.6
    s=Talk
    c=IN IP4 10.0.0.6
    t=0 0
    m=audio 7080 RTP/AVP 8 0 101
    a=rtpmap:101 telephone-event/8000
    a=rtcp-fb:* trr-int 1000
""")

REJECTING_ANSWER = sdp("""
    v=0
    o=- 3 3 IN IP4 10.0.0.6
    s=-
    c=IN IP4 10.0.0.6
    t=0 0
    m=audio 0 RTP/AVP 8
""")

G729_ANSWER = sdp("""
    v=0
    o=- 3 3 IN IP4 10.0.0.6
    s=-
    c=IN IP4 10.0.0.6
    t=0 0
    m=audio 5004 RTP/AVP 18
""")


@pytest.mark.parametrize(
    ("answer", "expected", "remote"),
    [
        (YEALINK_ANSWER, LocalMedia(Encoding.PCMA, 8, 101), ("192.168.10.31", 11800)),
        (GRANDSTREAM_ANSWER_NO_EVENTS, LocalMedia(Encoding.PCMU, 0, None),
         ("192.168.2.40", 5006)),
        (LINPHONE_ANSWER, LocalMedia(Encoding.PCMA, 8, 101), ("10.0.0.6", 7080)),
    ],
    ids=["yealink", "grandstream", "linphone"],
)
def test_accepted_reads_what_the_answer_fixed(
    answer: bytes, expected: LocalMedia, remote: tuple[str, int]
) -> None:
    assert accepted(answer) == expected
    assert remote_address(answer) == remote


@pytest.mark.parametrize("answer", [REJECTING_ANSWER, G729_ANSWER], ids=["port-0", "g729"])
def test_an_answer_choosing_nothing_we_offered_is_488(answer: bytes) -> None:
    with pytest.raises(SdpError) as caught:
        accepted(answer)
    assert caught.value.status is SipStatus.NOT_ACCEPTABLE_HERE
    if answer is REJECTING_ANSWER:
        assert remote_address(answer) is None
