"""Message parser and serializer: golden round trips, Headers, limits, responses."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.sip.errors import SipParseError
from firmware.sip.message import (
    Headers,
    Limits,
    Request,
    Response,
    canonical_name,
    error_response_bytes,
    make_response,
    parse_cseq,
    parse_message,
    split_list,
)
from firmware.sip.status import SipStatus

DATA = Path(__file__).parents[2] / "data" / "sip" / "messages"
GOLDEN = sorted(p for p in DATA.glob("*.sip") if not p.name.endswith(".canonical.sip"))

INVITE = (
    b"INVITE sip:201@pbx.example SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.23:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:200@pbx.example>;tag=1928301774\r\n'
    b"To: <sip:201@pbx.example>\r\n"
    b"Call-ID: a84b4c76e66710@192.168.1.23\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:200@192.168.1.23>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def parse_error(data: bytes, limits: Limits | None = None) -> SipParseError:
    with pytest.raises(SipParseError) as info:
        parse_message(data, limits or Limits())
    return info.value


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_message_serializes_to_its_canonical_form(path: Path) -> None:
    canonical = path.with_name(path.stem + ".canonical.sip").read_bytes()
    assert parse_message(path.read_bytes()).to_bytes() == canonical
    assert parse_message(canonical).to_bytes() == canonical  # canonical is a fixed point


def test_invite_parses_into_request() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri, msg.call_id, msg.cseq) == (
        "INVITE", "sip:201@pbx.example", "a84b4c76e66710@192.168.1.23", (314159, "INVITE"))
    assert msg.body == b"v=0\n"
    assert bytes(msg) == INVITE


def test_headers_multimap_keeps_order_and_canonical_names() -> None:
    h = Headers([("via", "a"), ("v", "b"), ("x-foo-bar", "1"), ("Route", "r1")])
    assert list(h) == [("Via", "a"), ("Via", "b"), ("X-Foo-Bar", "1"), ("Route", "r1")]
    assert h.get("VIA") == "a" and h.get_all("v") == ["a", "b"]
    assert h.get("missing") is None and h.get("missing", "d") == "d"
    assert "x-FOO-bar" in h and "nope" not in h and 3 not in h
    h.add("Via", "c", first=True)
    assert h.get_all("Via") == ["c", "a", "b"]
    h.set("via", "only")
    assert list(h)[0] == ("Via", "only") and h.get_all("Via") == ["only"]
    assert h.remove_first("Route") == "r1" and h.remove_first("Route") is None
    h.remove("x-foo-bar")
    assert len(h) == 1
    copy = h.copy()
    copy.add("To", "t")
    assert copy != h and len(h) == 1


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("i", "Call-ID"), ("m", "Contact"), ("l", "Content-Length"), ("c", "Content-Type"),
     ("f", "From"), ("t", "To"), ("v", "Via"), ("k", "Supported"), ("s", "Subject"),
     ("e", "Content-Encoding"), ("o", "Event"), ("r", "Refer-To"), ("b", "Referred-By"),
     ("u", "Allow-Events"), ("x", "Session-Expires"), ("CALL-ID", "Call-ID"),
     ("cseq", "CSeq"), ("Cseq", "CSeq"), ("www-authenticate", "WWW-Authenticate"),
     ("x-custom-HEADER", "X-Custom-Header"), ("P-Asserted-Identity", "P-Asserted-Identity")],
)
def test_canonical_names_expand_compact_forms(raw: str, canonical: str) -> None:
    assert canonical_name(raw) == canonical


def test_compact_forms_and_lf_line_ends_parse() -> None:
    data = (b"OPTIONS sip:x@y SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nf: <sip:a@b>;tag=1\n"
            b"t: <sip:x@y>\ni: c1\nCSeq: 1 OPTIONS\nl: 0\n\n")
    msg = parse_message(data)
    assert [n for n, _ in msg.headers] == ["Via", "From", "To", "Call-ID", "CSeq",
                                           "Content-Length"]


def test_header_folding_joins_with_one_space() -> None:
    data = INVITE.replace(b"Contact: <sip:200@192.168.1.23>",
                          b"Contact:\r\n <sip:200@192.168.1.23>\r\nSubject: hello\r\n\t  world")
    msg = parse_message(data)
    assert msg.headers.get("Contact") == "<sip:200@192.168.1.23>"
    assert msg.headers.get("Subject") == "hello world"


def test_comma_lists_split_for_via_contact_route_but_not_others() -> None:
    data = INVITE.replace(
        b"Contact: <sip:200@192.168.1.23>",
        b'Contact: "A, B" <sip:a@h>, <sip:b@h;x=1,2>\r\nAllow: INVITE, ACK\r\n'
        b"Route: <sip:p1;lr>,<sip:p2;lr>")
    h = parse_message(data).headers
    assert h.get_all("Contact") == ['"A, B" <sip:a@h>', "<sip:b@h;x=1,2>"]
    assert h.get_all("Route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert h.get_all("Allow") == ["INVITE, ACK"]


def test_contact_star_is_kept_whole() -> None:
    data = INVITE.replace(b"Contact: <sip:200@192.168.1.23>", b"Contact: *")
    assert parse_message(data).headers.get_all("Contact") == ["*"]


def test_split_list_ignores_commas_in_quotes_and_brackets() -> None:
    assert split_list('"a,b" <sip:x>, <sip:y;p=1,2>,, z') == ['"a,b" <sip:x>', "<sip:y;p=1,2>", "z"]


def test_content_length_truncates_extra_bytes() -> None:
    msg = parse_message(INVITE + b"garbage")
    assert msg.body == b"v=0\n"


def test_missing_content_length_takes_the_rest_of_the_datagram() -> None:
    data = INVITE.replace(b"Content-Length: 4\r\n", b"")
    assert parse_message(data).body == b"v=0\n"


@pytest.mark.parametrize(
    ("replacement", "status", "reason"),
    [(b"Content-Length: 40", 400, "Content-Length exceeds message"),
     (b"Content-Length: -1", 400, "malformed Content-Length"),
     (b"Content-Length: 4x", 400, "malformed Content-Length"),
     (b"Content-Length: \xc2\xb2", 400, "malformed Content-Length"),
     (b"Content-Length: 99999999", 413, "body too large"),
     (b"Content-Length: 4\r\nl: 4", 400, "duplicate Content-Length")],
)
def test_content_length_rules(replacement: bytes, status: int, reason: str) -> None:
    err = parse_error(INVITE.replace(b"Content-Length: 4", replacement))
    assert (err.status, err.reason) == (status, reason)


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [(b"", 400, "empty message"),
     (b"\r\n\r\n", 400, "empty message"),
     (INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505, "unsupported SIP version"),
     (INVITE.replace(b"INVITE sip", b"INV<ITE sip"), 400, "malformed method"),
     (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 1 BYE"), 400,
      "CSeq method does not match request"),
     (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 2147483648 INVITE"), 400,
      "CSeq out of range"),
     (INVITE.replace(b"Call-ID: a84b4c76e66710@192.168.1.23\r\n", b""), 400, "missing Call-ID"),
     (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 256"), 400,
      "malformed Max-Forwards"),
     (INVITE.replace(b"Max-Forwards: 70", b"Max Forwards: 70"), 400, "malformed header name"),
     (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards 70"), 400, "malformed header line"),
     (INVITE.replace(b"Max-Forwards: 70", b"X-Evil: a\rInjected: b"), 400, "bare CR in header"),
     (INVITE.replace(b"Alice", b"\xff"), 400, "header not UTF-8"),
     (b"SIP/2.0 99 Odd\r\n\r\n", 400, "malformed status code")],
)
def test_malformed_messages_raise_with_exact_reason(data: bytes, status: int, reason: str) -> None:
    err = parse_error(data)
    assert (err.status, err.reason) == (status, reason)


def test_limits_bound_every_input() -> None:
    assert parse_error(INVITE, Limits(max_message_bytes=100)).status == 513
    assert parse_error(INVITE, Limits(max_headers=5)).reason == "too many headers"
    assert parse_error(INVITE, Limits(max_header_line_bytes=40)).reason == "header line too long"
    assert parse_error(INVITE, Limits(max_body_bytes=2)).status == 413
    assert parse_error(INVITE, Limits(max_uri_bytes=10)).status == 414
    folded = INVITE.replace(b"To: <sip:201@pbx.example>",
                            b"To: <sip:201@pbx.example>" + b"\r\n ;x=1" * 40)
    assert parse_error(folded, Limits(max_header_line_bytes=200)).reason == (
        "header line too long")


def test_parse_cseq() -> None:
    assert parse_cseq(" 7   ACK ") == (7, "ACK")
    for bad in ("", "x INVITE", "1", "1 2 3", "12345678901 INVITE", "\u00b2 INVITE"):
        with pytest.raises(SipParseError, match="CSeq"):
            parse_cseq(bad)


def test_make_response_copies_dialog_headers_and_adds_to_tag() -> None:
    req = parse_message(INVITE.replace(
        b"Via: SIP/2.0/UDP 192.168.1.23:5060;branch=z9hG4bK776asdhds;rport",
        b"Via: SIP/2.0/UDP p1;branch=z9hG4bKp1\r\nVia: SIP/2.0/UDP 192.168.1.23;branch=z9hG4bK2"))
    assert isinstance(req, Request)
    resp = make_response(req, 180, to_tag="abc", extra=[("contact", "<sip:201@10.0.0.1>")])
    assert isinstance(resp, Response) and resp.reason == "Ringing"
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    for name in ("From", "Call-ID", "CSeq"):
        assert resp.headers.get(name) == req.headers.get(name)
    assert resp.headers.get("To") == "<sip:201@pbx.example>;tag=abc"
    assert resp.headers.get("Contact") == "<sip:201@10.0.0.1>"
    assert isinstance(parse_message(bytes(resp)), Response)
    req.headers.set("To", "<sip:201@pbx.example>;tag=kept")
    assert make_response(req, 200, to_tag="new").headers.get("To") == (
        "<sip:201@pbx.example>;tag=kept")


def test_error_response_answers_malformed_request_with_readable_headers() -> None:
    data = INVITE.replace(b"Content-Length: 4", b"Content-Length: 40")
    err = parse_error(data)
    answer = error_response_bytes(data, err)
    assert answer is not None
    resp = parse_message(answer)
    assert isinstance(resp, Response)
    assert (resp.status, resp.reason) == (400, "Bad Request (Content-Length exceeds message)")
    assert resp.headers.get("Via") == "SIP/2.0/UDP 192.168.1.23:5060;branch=z9hG4bK776asdhds;rport"
    assert resp.headers.get("CSeq") == "314159 INVITE"
    to = resp.headers.get("To") or ""
    assert ";tag=" in to
    assert error_response_bytes(data, err) == answer  # same tag for a retransmission
    assert error_response_bytes(data, err, to_tag="t1") != answer


def test_error_response_is_none_for_responses_acks_and_unreadable_requests() -> None:
    err = SipParseError(SipStatus.BAD_REQUEST, "x")
    assert error_response_bytes(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", err) is None
    ack = INVITE.replace(b"INVITE sip", b"ACK sip").replace(b"314159 INVITE", b"314159 ACK")
    assert error_response_bytes(ack, err) is None
    no_call_id = INVITE.replace(b"Call-ID: a84b4c76e66710@192.168.1.23\r\n", b"")
    assert error_response_bytes(no_call_id, err) is None
    assert error_response_bytes(b"\x00\xff garbage", err) is None
