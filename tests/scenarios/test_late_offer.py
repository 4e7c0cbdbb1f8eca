"""A phone that calls without SDP (late offer, RFC 3261 §13.2.1): the callee's 200 carries the
offer and the caller's ACK the answer, both rewritten so that media flows through the box."""

from __future__ import annotations

from .harness import LOOPBACK, Media, Office, offer_sdp


async def test_late_offer_call_is_anchored_in_both_directions(office: Office) -> None:
    alice, carol = await office.phone("201"), await office.phone("203")
    await alice.dial("203", offer=None)
    invite = await carol.ringing()
    assert invite.body == b""

    carol.answer()  # the offer, pointing at Carol's RTP socket
    ok = await alice.connected()  # ACKs with Alice's answer
    assert ok.status == 200
    offer = Media.of(ok.body)
    assert (offer.host, offer.port) != (LOOPBACK, carol.rtp_port)  # rewritten to the box

    ack = await carol.expect_request("ACK")
    answer = Media.of(ack.body)
    assert answer.host == LOOPBACK and answer.port not in (alice.rtp_port, offer.port)
    assert carol.remote_media == answer

    alice.send_rtp(b"late hello")
    await carol.expect_rtp(b"late hello")
    carol.send_rtp(b"late reply")
    await alice.expect_rtp(b"late reply")


async def test_late_offer_answer_in_ack_is_what_reaches_the_callee(office: Office) -> None:
    alice, carol = await office.phone("201"), await office.phone("203")
    await alice.dial("203", offer=None)
    await carol.ringing()
    carol.answer()
    await alice.connected(answer=offer_sdp(LOOPBACK, alice.rtp_port, "recvonly"))
    ack = await carol.expect_request("ACK")
    assert ack.headers.get("Content-Type") == "application/sdp"
    assert Media.of(ack.body).direction.value == "recvonly"
