"""Hold and resume pass across the box with the media still anchored on it."""

from __future__ import annotations

from pathlib import Path

from firmware.calls.events import CallHeld
from firmware.sip.sdp import Direction

from .harness import LOOPBACK, Box, Media, Office, TestPhone


async def _answered_call(office: Office) -> tuple[TestPhone, TestPhone]:
    alice, carol = await office.phone("201"), await office.phone("203")
    await alice.dial("203")
    await carol.ringing()
    carol.answer()
    assert (await alice.connected()).status == 200
    await carol.expect_request("ACK")
    return alice, carol


async def test_hold_and_resume_reach_the_other_phone_through_the_box(office: Office) -> None:
    alice, carol = await _answered_call(office)
    assert carol.remote_media is not None
    relay_port_for_carol = carol.remote_media.port

    held = await alice.hold()
    assert held.status == 200
    reinvite = await carol.expect_request("INVITE")
    offer = Media.of(reinvite.body)
    assert offer.direction is Direction.SENDONLY
    assert (offer.host, offer.port) == (LOOPBACK, relay_port_for_carol)  # the box, not Alice
    assert offer.port != alice.rtp_port
    assert alice.remote_media is not None
    assert alice.remote_media.direction is Direction.RECVONLY  # Carol's answer, via the box
    assert alice.remote_media.port != carol.rtp_port
    await carol.expect_request("ACK")

    resumed = await alice.resume()
    assert resumed.status == 200
    assert Media.of((await carol.expect_request("INVITE")).body).direction is Direction.SENDRECV

    alice.send_rtp(b"back again")
    await carol.expect_rtp(b"back again")
    carol.send_rtp(b"welcome back")
    await alice.expect_rtp(b"welcome back")


async def test_hold_and_resume_are_published_on_the_bus(tmp_path: Path) -> None:
    box = await Box.serve(tmp_path)
    with box.bus.subscribe(CallHeld) as held_events:
        async with Office(box) as office:
            alice, _ = await _answered_call(office)
            await alice.hold()
            await alice.resume()
        events = [held_events.get_nowait(), held_events.get_nowait()]
    assert [(e.held, e.leg) for e in events if isinstance(e, CallHeld)] == [
        (True, "c1-a"), (False, "c1-a")]


async def test_callee_can_hold_the_caller_too(office: Office) -> None:
    alice, carol = await _answered_call(office)
    assert alice.remote_media is not None
    assert (await carol.hold()).status == 200
    offer = Media.of((await alice.expect_request("INVITE")).body)
    assert offer.direction is Direction.SENDONLY
    assert (offer.host, offer.port) == (LOOPBACK, alice.remote_media.port)
    assert (await carol.resume()).status == 200
    carol.send_rtp(b"still here")
    await alice.expect_rtp(b"still here")
