"""Requests the box answers by itself: stray in-dialog requests, REFER, OPTIONS pings."""

from __future__ import annotations

from firmware.sip.dialog import Dialog
from firmware.sip.ids import new_call_id, new_tag
from firmware.sip.peer import Transport
from firmware.sip.uri import parse_uri

from .harness import LOOPBACK, Office


async def test_bye_for_a_call_the_box_never_had_gets_481(office: Office) -> None:
    alice = await office.phone("201")
    alice.dialog = Dialog(
        call_id=new_call_id(LOOPBACK), local_tag=new_tag(), remote_tag=new_tag(),
        local_uri=f"<sip:201@{LOOPBACK}>", remote_uri=f"<sip:203@{LOOPBACK}>",
        remote_target=parse_uri(f"sip:switchbox@{LOOPBACK}:{office.box.port}"), local_cseq=7)
    assert (await alice.hangup()).status == 481


async def test_transfer_inside_a_call_is_refused_with_405(office: Office) -> None:
    alice, carol = await office.phone("201"), await office.phone("203")
    await alice.dial("203")
    await carol.ringing()
    carol.answer()
    assert (await alice.connected()).status == 200

    alice.in_dialog("REFER")
    refused = await alice.final_response("REFER")
    assert refused.status == 405
    assert "INVITE" in (refused.headers.get("Allow") or "")
    assert not carol.got("REFER")
    assert (await alice.hangup()).status == 200  # the call itself is unharmed
    await carol.expect_request("BYE")


async def test_options_ping_lists_what_the_box_allows(office: Office) -> None:
    phone = await office.phone("201", register=False)
    dialog = Dialog(
        call_id=new_call_id(LOOPBACK), local_tag=new_tag(), remote_tag="",
        local_uri=f"<sip:201@{LOOPBACK}>", remote_uri=f"<sip:{LOOPBACK}>",
        remote_target=parse_uri(f"sip:{LOOPBACK}:{office.box.port}"))
    ping = dialog.create_request("OPTIONS", via_host=LOOPBACK, via_port=phone.sip_port,
                                 transport=Transport.UDP)
    phone.send(ping)
    pong = await phone.final_response("OPTIONS")
    assert pong.status == 200
    allowed = {m.strip() for m in (pong.headers.get("Allow") or "").split(",")}
    assert {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"} <= allowed
