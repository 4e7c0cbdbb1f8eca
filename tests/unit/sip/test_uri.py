"""SIP and tel URIs."""

from __future__ import annotations

import pytest

from firmware.sip.errors import SipParseError
from firmware.sip.uri import (
    format_params,
    has_param,
    param_value,
    parse_params,
    parse_uri,
    set_param,
    split_host_port,
)


def test_full_sip_uri_round_trips() -> None:
    text = "sips:alice:pw@Example.COM:5061;transport=tls;lr?subject=hi"
    uri = parse_uri(text)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips", "alice", "pw", "example.com", 5061)
    assert uri.param("transport") == "tls" and uri.has_param("lr") and uri.headers == "subject=hi"
    assert str(uri) == text.replace("Example.COM", "example.com")


def test_userinfo_may_hold_question_marks_and_semicolons() -> None:
    # RFC 4475 §3.1.1.2 and §3.1.1.9
    uri = parse_uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1@example.com")
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1" and uri.host == "example.com" and uri.headers is None
    assert parse_uri("sip:user;par=u%40example.net@example.com").user == "user;par=u%40example.net"


def test_tel_uri() -> None:
    uri = parse_uri("tel:+4930123;phone-context=example.com")
    assert (uri.scheme, uri.user, uri.param("phone-context")) == ("tel", "+4930123", "example.com")
    assert str(uri) == "tel:+4930123;phone-context=example.com"


@pytest.mark.parametrize(
    ("bad", "status"),
    [("sip:", 400), ("nocolon", 400), ("http://x", 416), ("sip:a@", 400), ("sip:h:0", 400),
     ("sip:h:\u00b2", 400), ("sip:[::1", 400), ("sip:a b@h<", 400)],
)
def test_malformed_uri(bad: str, status: int) -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri(bad)
    assert info.value.status == status


def test_params_helpers() -> None:
    params = parse_params(";Lr;branch=z9hG4bKAbC; received = 10.0.0.1")
    assert params == (("lr", None), ("branch", "z9hG4bKAbC"), ("received", "10.0.0.1"))
    assert has_param(params, "lr") and param_value(params, "lr") is None
    assert param_value(set_param(params, "lr", "1"), "lr") == "1"
    assert format_params(params) == ";lr;branch=z9hG4bKAbC;received=10.0.0.1"
    assert split_host_port("[::1]:5060") == ("[::1]", 5060)
    assert split_host_port("host") == ("host", None)
