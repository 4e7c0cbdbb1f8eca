"""Registrar bindings (RFC 3261 §10.3) with chosen `now` values."""

from __future__ import annotations

import pytest

from firmware.sip.errors import SipError
from firmware.sip.message import Headers, Request
from firmware.sip.peer import Peer, Transport
from firmware.sip.registrar import Registrar, RegistrarPolicy
from firmware.sip.status import SipStatus

SOURCE = Peer(Transport.UDP, "192.0.2.7", 40000)


def register(
    *contacts: str, expires: str | None = None, call_id: str = "reg-1", cseq: int = 1
) -> Request:
    headers = Headers([
        ("Via", "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKr1"),
        ("From", "<sip:201@pbx>;tag=a"),
        ("To", "<sip:201@pbx>"),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} REGISTER"),
    ])
    for contact in contacts:
        headers.add("Contact", contact)
    if expires is not None:
        headers.add("Expires", expires)
    return Request("REGISTER", "sip:pbx", headers)


def test_two_contacts_ring_together_and_expire_separately() -> None:
    reg = Registrar()
    reg.register("d201", register("<sip:201@10.0.0.7:5060>;expires=120"), SOURCE, now=0.0)
    outcome = reg.register(
        "d201", register("<sip:201@10.0.0.8:5062>", expires="300", call_id="reg-2"), SOURCE, 1.0
    )
    assert {str(b.contact.uri) for b in outcome.bindings} == {
        "sip:201@10.0.0.7:5060", "sip:201@10.0.0.8:5062"}
    assert len(reg.bindings("d201", now=119.0)) == 2
    assert [str(b.contact.uri) for b in reg.bindings("d201", now=121.0)] == [
        "sip:201@10.0.0.8:5062"]
    assert reg.next_deadline() == 301.0
    expired = reg.handle_timers(now=302.0)
    assert [b.aor for b in expired] == ["d201"] and len(reg) == 0


def test_binding_remembers_the_flow_not_the_private_contact() -> None:
    reg = Registrar()
    reg.register("d201", register("<sip:201@10.0.0.7:5060>"), SOURCE, now=0.0)
    (binding,) = reg.bindings("d201", now=1.0)
    assert binding.source == SOURCE


def test_expiry_is_clamped_and_too_brief_is_refused() -> None:
    reg = Registrar(RegistrarPolicy(min_expires_s=60, max_expires_s=3600))
    outcome = reg.register("d201", register("<sip:201@h>", expires="99999"), SOURCE, now=0.0)
    assert outcome.bindings[0].expires_at == 3600.0
    with pytest.raises(SipError) as err:
        reg.register("d201", register("<sip:201@h>", expires="10"), SOURCE, now=0.0)
    assert err.value.status == SipStatus.INTERVAL_TOO_BRIEF


def test_expires_zero_and_star_remove_bindings() -> None:
    reg = Registrar()
    reg.register("d201", register("<sip:201@a>", "<sip:201@b>"), SOURCE, now=0.0)
    outcome = reg.register("d201", register("<sip:201@a>;expires=0", cseq=2), SOURCE, now=1.0)
    assert [str(b.contact.uri) for b in outcome.removed] == ["sip:201@a"]
    outcome = reg.register("d201", register("*", expires="0", cseq=3), SOURCE, now=2.0)
    assert [str(b.contact.uri) for b in outcome.removed] == ["sip:201@b"]
    assert reg.bindings("d201", now=2.0) == ()


def test_star_without_expires_zero_is_a_bad_request() -> None:
    reg = Registrar()
    with pytest.raises(SipError) as err:
        reg.register("d201", register("*", expires="60"), SOURCE, now=0.0)
    assert err.value.status == SipStatus.BAD_REQUEST


def test_an_older_cseq_of_the_same_call_id_does_not_undo_a_newer_one() -> None:
    reg = Registrar()
    reg.register("d201", register("<sip:201@a>", expires="300", cseq=5), SOURCE, now=0.0)
    reg.register("d201", register("<sip:201@a>", expires="0", cseq=4), SOURCE, now=1.0)
    assert len(reg.bindings("d201", now=2.0)) == 1


def test_bindings_per_aor_are_bounded() -> None:
    reg = Registrar(RegistrarPolicy(max_bindings_per_aor=3))
    for n in range(5):
        reg.register("d201", register(f"<sip:201@h{n}>", call_id=f"c{n}"), SOURCE, now=float(n))
    assert len(reg.bindings("d201", now=5.0)) == 3


def test_closed_stream_drops_its_bindings() -> None:
    reg = Registrar()
    tcp = Peer(Transport.TCP, "192.0.2.9", 50000, connection=7)
    reg.register("d201", register("<sip:201@a;transport=tcp>"), tcp, now=0.0)
    reg.register("d202", register("<sip:202@b>"), SOURCE, now=0.0)
    assert [b.aor for b in reg.remove_source(tcp)] == ["d201"]
    assert len(reg) == 1
