"""RFC 3261 §12 dialogs: creation on both sides, in-dialog requests, routing, CSeq, refresh."""

from __future__ import annotations

import pytest

from firmware.sip.dialog import Dialog, DialogId, dialog_id_of
from firmware.sip.errors import SipError
from firmware.sip.headers import parse_name_addr, parse_via
from firmware.sip.message import Request, Response, make_response, parse_message
from firmware.sip.peer import Transport
from firmware.sip.status import SipStatus


def _invite(extra: str = "", uri: str = "sip:201@pbx.example") -> Request:
    text = (
        f"INVITE {uri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n"
        "Max-Forwards: 70\r\n"
        "From: \"Alice\" <sip:100@pbx.example>;tag=alice\r\n"
        "To: <sip:201@pbx.example>\r\n"
        "Call-ID: abc@192.0.2.10\r\n"
        "CSeq: 10 INVITE\r\n"
        "Contact: <sip:100@192.0.2.10:5062;transport=tcp>\r\n"
        f"{extra}"
        "\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def _ok(invite: Request, status: int = 200, tag: str = "bob", rr: tuple[str, ...] = (),
        contact: str = "<sip:201@198.51.100.5:5070>") -> Response:
    extra = [("Record-Route", r) for r in rr] + [("Contact", contact)]
    return make_response(invite, status, to_tag=tag, extra=extra)


def test_uac_dialog_from_2xx_reverses_record_route() -> None:
    invite = _invite()
    ok = _ok(invite, rr=("<sip:p2.example;lr>", "<sip:p1.example;lr>"))
    d = Dialog.as_uac(invite, ok)
    assert d.dialog_id == DialogId("abc@192.0.2.10", "alice", "bob")
    assert d.route_set == ("<sip:p1.example;lr>", "<sip:p2.example;lr>")
    assert str(d.remote_target) == "sip:201@198.51.100.5:5070"
    assert d.local_cseq == 10 and d.remote_cseq is None and not d.early and not d.secure
    assert d.local_uri == '"Alice" <sip:100@pbx.example>'
    assert d.remote_uri == "<sip:201@pbx.example>"


def test_uas_dialog_keeps_record_route_order_and_remote_cseq() -> None:
    invite = _invite("Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n")
    d = Dialog.as_uas(invite, "bob", "<sip:201@10.0.0.2>")
    assert d.dialog_id == DialogId("abc@192.0.2.10", "bob", "alice")
    assert d.route_set == ("<sip:p1.example;lr>", "<sip:p2.example;lr>")
    assert d.remote_cseq == 10 and d.local_cseq == 0
    assert d.local_contact == "<sip:201@10.0.0.2>"
    assert str(d.remote_target) == "sip:100@192.0.2.10:5062;transport=tcp"


def test_uas_dialog_requires_contact_and_from_tag() -> None:
    invite = _invite()
    invite.headers.remove("Contact")
    with pytest.raises(SipError) as err:
        Dialog.as_uas(invite, "bob")
    assert err.value.status is SipStatus.BAD_REQUEST


def test_create_request_increments_cseq_and_sets_tags_and_route() -> None:
    invite = _invite()
    d = Dialog.as_uac(invite, _ok(invite, rr=("<sip:p1.example;lr>",)))
    bye = d.create_request("BYE", via_host="10.0.0.1", via_port=5060, transport=Transport.UDP)
    assert bye.method == "BYE" and bye.cseq == (11, "BYE")
    assert bye.uri == "sip:201@198.51.100.5:5070"  # loose routing: target stays in the R-URI
    assert bye.headers.get_all("Route") == ["<sip:p1.example;lr>"]
    assert parse_name_addr(bye.headers.get("From") or "").tag == "alice"
    assert parse_name_addr(bye.headers.get("To") or "").tag == "bob"
    via = parse_via(bye.headers.get("Via") or "")
    assert via.branch and via.branch.startswith("z9hG4bK") and via.has_rport
    assert via.transport == "UDP" and via.host == "10.0.0.1" and via.port == 5060
    again = d.create_request("INFO", via_host="10.0.0.1", via_port=5060, transport=Transport.UDP,
                             body=b"Signal=1\r\n", content_type="application/dtmf-relay")
    assert again.cseq == (12, "INFO") and again.headers.get("Content-Type")
    wire = parse_message(again.to_bytes())  # well-formed on the wire
    assert isinstance(wire, Request) and wire.body == b"Signal=1\r\n"
    assert wire.headers.get_all("Route") == again.headers.get_all("Route")


def test_ack_and_cancel_do_not_increment_cseq() -> None:
    invite = _invite()
    d = Dialog.as_uac(invite, _ok(invite))
    ack = d.create_ack(10, via_host="10.0.0.1", via_port=5060, transport=Transport.UDP)
    assert ack.cseq == (10, "ACK") and d.local_cseq == 10
    other = d.create_ack(10, via_host="10.0.0.1", via_port=5060, transport=Transport.UDP)
    assert parse_via(ack.headers.get("Via") or "").branch != parse_via(
        other.headers.get("Via") or "").branch  # §13.2.2.4: the ACK is its own transaction


def test_strict_router_gets_the_request_uri_and_target_goes_last() -> None:
    invite = _invite()
    d = Dialog.as_uac(invite, _ok(invite, rr=("<sip:p2.example>", "<sip:strict.example;ttl=5>")))
    req = d.create_request("BYE", via_host="h", via_port=5060, transport=Transport.UDP)
    assert req.uri == "sip:strict.example"  # §12.2.1.1, ttl not allowed in the R-URI
    assert req.headers.get_all("Route") == ["<sip:p2.example>", "<sip:201@198.51.100.5:5070>"]


def test_out_of_order_cseq_is_refused_with_500() -> None:
    invite = _invite()
    d = Dialog.as_uas(invite, "bob")
    bye = d.create_request("BYE", via_host="h", via_port=5060, transport=Transport.UDP)
    assert bye.cseq == (1, "BYE")  # UAS's own CSeq space starts empty
    info = _in_dialog("INFO", 11)
    d.receive_request(info)
    assert d.remote_cseq == 11
    with pytest.raises(SipError) as err:
        d.receive_request(_in_dialog("INFO", 9))
    assert err.value.status is SipStatus.SERVER_INTERNAL_ERROR
    d.receive_request(_in_dialog("ACK", 10))  # ACK carries the INVITE's CSeq: not counted
    assert d.remote_cseq == 11


def _in_dialog(method: str, cseq: int, contact: str | None = None) -> Request:
    text = (
        f"{method} sip:201@10.0.0.2 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK9\r\n"
        "From: <sip:100@pbx.example>;tag=alice\r\n"
        "To: <sip:201@pbx.example>;tag=bob\r\n"
        "Call-ID: abc@192.0.2.10\r\n"
        f"CSeq: {cseq} {method}\r\n"
        + (f"Contact: {contact}\r\n" if contact else "")
        + "\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def test_reinvite_and_update_refresh_the_remote_target() -> None:
    d = Dialog.as_uas(_invite(), "bob")
    d.receive_request(_in_dialog("INVITE", 11, "<sip:100@203.0.113.9:6000>"))
    assert str(d.remote_target) == "sip:100@203.0.113.9:6000"
    d.receive_request(_in_dialog("UPDATE", 12, "<sip:100@203.0.113.9:6001>"))
    assert d.remote_target.port == 6001
    d.receive_request(_in_dialog("INFO", 13, "<sip:100@203.0.113.9:7000>"))
    assert d.remote_target.port == 6001  # INFO is not a target refresh


def test_early_dialog_is_confirmed_by_2xx_which_recomputes_route_set() -> None:
    invite = _invite()
    ringing = _ok(invite, 180, rr=("<sip:old.example;lr>",))
    d = Dialog.as_uac(invite, ringing)
    assert d.early
    ok = _ok(invite, rr=("<sip:new.example;lr>",), contact="<sip:201@198.51.100.6>")
    d.update_from_response(ok)
    assert not d.early and d.route_set == ("<sip:new.example;lr>",)
    assert str(d.remote_target) == "sip:201@198.51.100.6"


def test_next_hop_prefers_first_route_then_target() -> None:
    invite = _invite()
    d = Dialog.as_uac(invite, _ok(invite, rr=("<sip:10.9.9.9:5080;lr;transport=tcp>",)))
    assert d.next_hop() == ("10.9.9.9", 5080, Transport.TCP)
    d2 = Dialog.as_uac(invite, _ok(invite, contact="<sip:201@[2001:db8::1]>"))
    assert d2.next_hop() == ("2001:db8::1", 5060, Transport.UDP)
    d3 = Dialog.as_uac(invite, _ok(invite, contact="<sips:201@198.51.100.5>"))
    assert d3.next_hop() == ("198.51.100.5", 5061, Transport.TLS)


def test_secure_follows_sips_request_uri() -> None:
    invite = _invite(uri="sips:201@pbx.example")
    assert Dialog.as_uac(invite, _ok(invite)).secure


def test_dialog_id_of_from_either_side() -> None:
    req = _in_dialog("BYE", 11)
    assert dialog_id_of(req) == DialogId("abc@192.0.2.10", "bob", "alice")  # we are bob
    assert dialog_id_of(req, incoming=False) == DialogId("abc@192.0.2.10", "alice", "bob")
    resp = make_response(req, 200)
    assert dialog_id_of(resp) == DialogId("abc@192.0.2.10", "alice", "bob")  # we sent the BYE
    assert dialog_id_of(_invite()) is None  # no To tag: not in a dialog yet
