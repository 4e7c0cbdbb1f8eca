"""A phone that sends nonsense in its SDP does not take the box down: that call proceeds or
ends cleanly, and the next call in the office works as usual."""

from __future__ import annotations

import pytest

from .harness import Office

NONSENSE = {
    "not SDP at all": b"this is not a session description\r\n",
    "not UTF-8": b"v=0\r\no=- 1 1 IN IP4 \xff\xfe\r\ns=-\r\n",
    "host name instead of an address": (
        b"v=0\r\no=- 1 1 IN IP4 phone.invalid\r\ns=-\r\nc=IN IP4 phone.invalid\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 0\r\n"),
    "no connection line": (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
}


@pytest.mark.parametrize("body", NONSENSE.values(), ids=NONSENSE.keys())
async def test_nonsense_sdp_call_ends_cleanly_and_the_next_call_works(
        office: Office, body: bytes) -> None:
    alice, bob, carol = (await office.phone("201"), await office.phone("202"),
                         await office.phone("203"))
    await alice.dial("203", offer=body)
    await carol.ringing()
    carol.answer()
    answered = await alice.connected()
    assert answered.status == 200
    assert (await alice.hangup()).status == 200
    await carol.expect_request("BYE")

    await bob.dial("203")
    await carol.ringing()
    carol.answer()
    assert (await bob.connected()).status == 200
    bob.send_rtp(b"all is well")
    await carol.expect_rtp(b"all is well")
    carol.send_rtp(b"indeed")
    await bob.expect_rtp(b"indeed")
