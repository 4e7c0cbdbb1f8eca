"""Bob has a desk phone and a softphone: a call to 202 rings both, the first to answer wins."""

from __future__ import annotations

from .harness import Office


async def test_softphone_answers_and_desk_phone_is_cancelled(office: Office) -> None:
    alice = await office.phone("201")
    bob_desk, bob_soft = await office.phone("202"), await office.phone("202-soft")

    await alice.dial("202")
    desk_invite = await bob_desk.ringing()
    await bob_soft.ringing()
    await alice.expect_response(180, "INVITE")

    bob_soft.answer()
    cancel = await bob_desk.expect_request("CANCEL")
    assert cancel.call_id == desk_invite.call_id
    await bob_desk.expect_request("ACK")  # the box acknowledged the desk phone's 487
    assert (await alice.connected()).status == 200

    alice.send_rtp(b"for bob")
    await bob_soft.expect_rtp(b"for bob")
    bob_soft.send_rtp(b"for alice")
    await alice.expect_rtp(b"for alice")
    assert bob_desk.rtp == []  # the cancelled fork hears nothing

    await alice.hangup()
    await bob_soft.expect_request("BYE")
    assert not bob_desk.got("BYE")


async def test_caller_gives_up_while_both_of_bobs_phones_ring(office: Office) -> None:
    alice = await office.phone("201")
    bob_desk, bob_soft = await office.phone("202"), await office.phone("202-soft")

    await alice.dial("202")
    await bob_desk.ringing()
    await bob_soft.ringing()
    await alice.expect_response(180, "INVITE")

    alice.cancel()
    assert (await alice.expect_response(200, "CANCEL")).cseq[1] == "CANCEL"
    assert (await alice.final_response("INVITE")).status == 487
    await bob_desk.expect_request("CANCEL")
    await bob_soft.expect_request("CANCEL")


async def test_both_of_bobs_phones_answer_at_once_and_the_late_one_is_released(
        office: Office) -> None:
    alice = await office.phone("201")
    bob_desk, bob_soft = await office.phone("202"), await office.phone("202-soft")
    await alice.dial("202")
    await bob_desk.ringing()
    await bob_soft.ringing()
    bob_desk.answer()
    bob_soft.answer()  # before the box's CANCEL reaches it

    assert (await alice.connected()).status == 200
    await bob_soft.expect_request("ACK")
    await bob_soft.expect_request("BYE")  # the box hangs up the fork that lost the race
    await bob_desk.expect_request("ACK")
    alice.send_rtp(b"who won")
    await bob_desk.expect_rtp(b"who won")
    assert bob_soft.rtp == [] and not bob_desk.got("BYE")


async def test_every_phone_of_bob_refusing_gives_the_caller_busy(office: Office) -> None:
    alice = await office.phone("201")
    bob_desk, bob_soft = await office.phone("202"), await office.phone("202-soft")
    await alice.dial("202")
    await bob_desk.ringing()
    await bob_soft.ringing()
    bob_soft.reject(603)
    await bob_soft.expect_request("ACK")
    assert not alice.responses or all(r.status < 200 for r in alice.responses)
    bob_desk.reject(486)
    assert (await alice.final_response("INVITE")).status == 486
