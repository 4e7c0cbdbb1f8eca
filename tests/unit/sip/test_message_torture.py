"""RFC 4475 torture messages: the table in tests/data/sip/torture/expected.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from firmware.sip.errors import SipError
from firmware.sip.headers import parse_name_addr, parse_via
from firmware.sip.message import Request, parse_message
from firmware.sip.uri import parse_uri

DATA = Path(__file__).parents[2] / "data" / "sip" / "torture"
TABLE = tomllib.loads((DATA / "expected.toml").read_text())


def check(data: bytes) -> None:
    """What the stack does with a message, stage by stage, in the order the table names."""
    msg = parse_message(data)
    for via in msg.headers.get_all("Via"):
        parse_via(via)
    parse_name_addr(msg.headers.get("From") or "")
    parse_name_addr(msg.headers.get("To") or "")
    for contact in msg.headers.get_all("Contact"):
        if contact != "*":
            parse_name_addr(contact)
    if isinstance(msg, Request):
        parse_uri(msg.uri)


def stage_of(data: bytes) -> str:
    try:
        msg = parse_message(data)
    except SipError:
        return "parse_message"
    try:
        for via in msg.headers.get_all("Via"):
            parse_via(via)
    except SipError:
        return "parse_via"
    try:
        parse_name_addr(msg.headers.get("From") or "")
        parse_name_addr(msg.headers.get("To") or "")
    except SipError:
        return "parse_name_addr(From/To)"
    try:
        for contact in msg.headers.get_all("Contact"):
            if contact != "*":
                parse_name_addr(contact)
    except SipError:
        return "parse_name_addr(Contact)"
    return "parse_uri(Request-URI)"


def test_every_torture_file_is_in_the_table() -> None:
    files = {p.stem for p in DATA.glob("*.sip") if not p.name.endswith(".canonical.sip")}
    assert files == set(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_torture_message_outcome(name: str) -> None:
    expected = TABLE[name]
    data = (DATA / f"{name}.sip").read_bytes()
    if expected["outcome"] == "ok":
        check(data)
        canonical = (DATA / f"{name}.canonical.sip").read_bytes()
        assert parse_message(data).to_bytes() == canonical
        assert parse_message(canonical).to_bytes() == canonical
        return
    with pytest.raises(SipError) as info:
        check(data)
    assert (int(info.value.status), info.value.reason) == (expected["status"], expected["reason"])
    assert stage_of(data) == expected["stage"]


def test_double_request_keeps_only_the_first() -> None:
    msg = parse_message((DATA / "dblreq.sip").read_bytes())
    assert isinstance(msg, Request) and msg.method == "REGISTER" and msg.body == b""


def test_tortuous_invite_values_are_unfolded() -> None:
    msg = parse_message((DATA / "wsinv.sip").read_bytes())
    assert msg.cseq == (9, "INVITE")
    vias = [parse_via(v) for v in msg.headers.get_all("Via")]
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    sender = parse_name_addr(msg.headers.get("From") or "")
    assert (sender.display, sender.tag) == ('J Rosenberg \\"', "98asjd8")
    assert len(msg.body) == 150
