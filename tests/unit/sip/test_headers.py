"""Structured headers: Via, name-addr, digest params, contact expiry."""

from __future__ import annotations

import pytest

from firmware.sip.errors import SipParseError
from firmware.sip.headers import (
    AuthParams,
    contact_expires,
    parse_auth,
    parse_name_addr,
    parse_via,
)
from firmware.sip.status import SipStatus


def test_via_with_rport_and_received() -> None:
    via = parse_via("SIP/2.0/udp 192.0.2.1:5062;branch=z9hG4bK1;rport=5070;received=198.51.100.7")
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "192.0.2.1", 5062, "z9hG4bK1")
    assert via.response_address() == ("198.51.100.7", 5070)
    assert str(parse_via(str(via))) == str(via)


def test_via_with_lws_around_slashes_and_ipv6() -> None:
    via = parse_via("SIP  / 2.0  / TCP  [2001:db8::1] : 5060 ; branch = z9hG4bKx ; rport")
    assert (via.transport, via.host, via.port, via.branch, via.has_rport) == (
        "TCP", "[2001:db8::1]", 5060, "z9hG4bKx", True)
    assert via.response_address() == ("2001:db8::1", 5060)


@pytest.mark.parametrize("bad", ["", "SIP/2.0/UDP", "HTTP/1.1/TCP h", "SIP/2.0 h",
                                 "SIP/2.0/UDP h:99999", "SIP/2.0/UDP [::1"])
def test_malformed_via(bad: str) -> None:
    with pytest.raises(SipParseError, match="malformed Via"):
        parse_via(bad)


def test_name_addr_forms() -> None:
    quoted = parse_name_addr('"Reception \\"Desk\\"" <sip:200@pbx;transport=udp>;tag=abc')
    assert (quoted.display, quoted.uri.user, quoted.tag) == ('Reception "Desk"', "200", "abc")
    assert quoted.uri.param("transport") == "udp"
    bare = parse_name_addr("sip:201@pbx;tag=x")
    assert bare.tag == "x" and bare.uri.params == ()
    token = parse_name_addr("caller<sip:caller@example.com>;tag=323")
    assert token.display == "caller"
    assert str(parse_name_addr(str(quoted))) == str(quoted)


@pytest.mark.parametrize(
    ("bad", "status", "reason"),
    [('"unterminated <sip:a@b>', 400, "unterminated display name"),
     ("<sip:a@b", 400, "unterminated <URI>"),
     ('"x" sip:a@b', 400, "display name without <URI>"),
     ("sip:a@b?Route=x", 400, "URI with headers needs <>"),
     ("<http://example.com>", 416, "unsupported URI scheme")],
)
def test_malformed_name_addr(bad: str, status: int, reason: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_name_addr(bad)
    assert (info.value.status, info.value.reason) == (SipStatus(status), reason)


def test_auth_params_parse_and_render_round_trip() -> None:
    value = ('Digest realm="switchbox", nonce="n\\"1", algorithm=SHA-256, qop="auth", '
             "stale=true")
    params = parse_auth(value)
    assert params.scheme == "Digest" and params.get("nonce") == 'n"1'
    assert params.render() == value
    assert parse_auth(params.render()) == params
    assert AuthParams("Digest", (("nc", "00000001"),)).render() == "Digest nc=00000001"


def test_contact_expires_prefers_contact_param() -> None:
    contact = parse_name_addr("<sip:200@10.0.0.2>;expires=60")
    assert contact_expires(contact, "3600", 120) == 60
    assert contact_expires(parse_name_addr("<sip:200@h>"), " 30 ", 120) == 30
    assert contact_expires(parse_name_addr("<sip:200@h>;expires=\u00b2"), None, 120) == 120
