"""Property tests: any bytes give a message or a SipParseError; valid messages round-trip."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.sip.errors import SipError, SipParseError
from firmware.sip.headers import parse_auth, parse_name_addr, parse_via
from firmware.sip.message import Headers, Request, Response, parse_message
from firmware.sip.uri import parse_uri

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
DATA = Path(__file__).parents[2] / "data" / "sip"
SEEDS = [p.read_bytes() for p in sorted((DATA / "messages").glob("*.sip"))] + [
    p.read_bytes() for p in sorted((DATA / "torture").glob("*.sip"))]
SIPISH = st.sampled_from(
    ["INVITE ", "SIP/2.0", " ", "\r\n", "\n", ":", ";", ",", "<", ">", '"', "\\", "Via", "v",
     "From", "To", "Call-ID", "CSeq", "Content-Length", "l", "1", "0", "-", "tag=", "sip:",
     "@", "\t", "\r", "\x00", "é", "SIP/2.0/UDP h;branch=z9hG4bK", "2 INVITE"])


def parse_or_error(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    assert isinstance(msg, Request | Response)
    assert isinstance(msg.to_bytes(), bytes)


@SETTINGS
@given(st.binary(max_size=2048))
def test_any_bytes_give_message_or_parse_error(data: bytes) -> None:
    parse_or_error(data)


@SETTINGS
@given(st.lists(SIPISH, max_size=80).map(lambda parts: "".join(parts).encode()))
def test_sip_shaped_text_gives_message_or_parse_error(data: bytes) -> None:
    parse_or_error(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "duplicate", "length", "insert"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "duplicate":
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            if end > 0:
                data[end + 1 : end + 1] = data[start : end + 1]
        elif kind == "length":
            digits = draw(st.sampled_from(
                [b"99999999999999999999", b"4294967296", b"-1", b"65536"]))
            data = bytearray(bytes(data).replace(b"Content-Length: ", b"Content-Length: " + digits,
                                                 1))
        else:
            data[at:at] = draw(st.sampled_from([b"\r", b"\n", b" ", b",", b";", b":", b"\xff"]))
    return bytes(data)


@settings(max_examples=500, deadline=None)
@given(mutated())
def test_mutated_valid_messages_give_message_or_parse_error(data: bytes) -> None:
    parse_or_error(data)
    if data:
        try:
            msg = parse_message(data)
        except SipParseError:
            return
        # What the parser accepted, the structured parsers must handle without crashing.
        for value in msg.headers.get_all("Via"):
            try:
                parse_via(value)
            except SipError:
                pass


TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
                min_size=1, max_size=12)
HOST = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
VALUE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
                              blacklist_characters="\x85"), max_size=40).map(str.strip)


@st.composite
def messages(draw: st.DrawFn) -> Request | Response:
    items = [
        ("Via", f"SIP/2.0/UDP {draw(HOST)}.example;branch=z9hG4bK{draw(TOKEN)}"),
        ("From", f"<sip:{draw(TOKEN)}@example.com>;tag={draw(TOKEN)}"),
        ("To", f'"{draw(VALUE).replace(chr(34), "").replace(chr(92), "")}" <sip:b@example.com>'),
        ("Call-ID", draw(TOKEN) + "@host"),
    ]
    for _ in range(draw(st.integers(0, 6))):
        items.append(("X-" + draw(TOKEN), draw(VALUE).replace(",", "")))
    body = draw(st.binary(max_size=64))
    method = draw(st.sampled_from(["INVITE", "OPTIONS", "BYE", draw(TOKEN).upper()]))
    seq = draw(st.integers(0, 2**31 - 1))
    if draw(st.booleans()):
        items.append(("CSeq", f"{seq} {method}"))
        return Request(method, f"sip:{draw(TOKEN)}@example.com", Headers(items), body)
    items.append(("CSeq", f"{seq} INVITE"))
    return Response(draw(st.integers(100, 699)), draw(VALUE), Headers(items), body)


@SETTINGS
@given(messages())
def test_serialized_messages_parse_back_equal(msg: Request | Response) -> None:
    parsed = parse_message(msg.to_bytes())
    assert parsed.to_bytes() == msg.to_bytes()
    expected = [(n, v) for n, v in msg.headers] + [("Content-Length", str(len(msg.body)))]
    assert list(parsed.headers) == expected
    assert parsed.body == msg.body


TEXT = st.one_of(st.text(max_size=120),
                 st.lists(SIPISH, max_size=30).map("".join))


@SETTINGS
@given(TEXT)
def test_structured_parsers_give_value_or_sip_error(text: str) -> None:
    for parser in (parse_uri, parse_name_addr, parse_via, parse_auth):
        try:
            parser(text)
        except SipError:
            pass
