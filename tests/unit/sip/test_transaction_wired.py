"""Two transaction layers wired together in memory: a whole INVITE/180/200/ACK/BYE exchange,
with dialogs on both sides, over a perfect and over a lossy wire."""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.sip.dialog import Dialog, dialog_id_of
from firmware.sip.ids import new_branch, new_call_id, new_tag
from firmware.sip.message import Headers, Request, make_response, parse_message
from firmware.sip.peer import Peer, Transport
from firmware.sip.transaction import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    TransactionEvent,
    TransactionLayer,
    make_cancel,
)

PBX = Peer(Transport.UDP, "10.0.0.1", 5060)
PHONE = Peer(Transport.UDP, "10.0.0.2", 5060)


@dataclass
class Wire:
    """Moves bytes between the two layers; `drop` says which datagrams (by index) are lost."""

    pbx: TransactionLayer
    phone: TransactionLayer
    drop: set[int] = field(default_factory=set)
    sent: list[bytes] = field(default_factory=list)

    def pump(self, now: float) -> None:
        moved = True
        while moved:
            moved = False
            for layer, source, other, other_addr in (
                (self.pbx, PBX, self.phone, PHONE),
                (self.phone, PHONE, self.pbx, PBX),
            ):
                for data, dest in layer.outgoing():
                    assert dest.address == other_addr.address
                    index = len(self.sent)
                    self.sent.append(data)
                    if index in self.drop:
                        continue
                    other.receive(parse_message(data), source, now)
                    moved = True

    def tick(self, now: float) -> None:
        self.pbx.handle_timers(now)
        self.phone.handle_timers(now)
        self.pump(now)


def drain(layer: TransactionLayer) -> list[TransactionEvent]:
    out: list[TransactionEvent] = []
    while (ev := layer.next_event()) is not None:
        out.append(ev)
    return out


def make_invite() -> Request:
    headers = Headers([
        ("Via", f"SIP/2.0/UDP 10.0.0.1:5060;branch={new_branch()};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:100@10.0.0.1>;tag={new_tag()}"),
        ("To", "<sip:201@10.0.0.2>"),
        ("Call-ID", new_call_id("10.0.0.1")),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:100@10.0.0.1:5060>"),
        ("Content-Type", "application/sdp"),
    ])
    return Request("INVITE", "sip:201@10.0.0.2", headers, b"v=0\r\n")


def run_call(wire: Wire) -> list[str]:
    """PBX calls the phone; the phone rings, answers; PBX ACKs, then hangs up. Returns the
    phone-side log of what its TU saw."""
    pbx, phone = wire.pbx, wire.phone
    log: list[str] = []
    invite = make_invite()
    invite_tx = pbx.send_request(invite, PHONE, now=0.0)
    wire.pump(0.0)

    # Phone TU: ring, then answer at t=2.
    now = 0.0
    phone_dialog: Dialog | None = None
    server_tx = None
    answered = acked = False
    pbx_dialog: Dialog | None = None
    bye_sent = bye_done = False
    while now < 40.0 and not bye_done:
        for ev in drain(phone):
            log.append(type(ev).__name__ + ":" + getattr(getattr(ev, "request", None), "method",
                                                        ""))
            if isinstance(ev, RequestReceived) and ev.request.method == "INVITE":
                server_tx = ev.tx
                tag = new_tag()
                phone_dialog = Dialog.as_uas(ev.request, tag, "<sip:201@10.0.0.2:5060>")
                phone.send_response(ev.tx, make_response(ev.request, 180, to_tag=tag), now)
                invite_seen = ev.request
            elif isinstance(ev, AckReceived):
                assert phone_dialog is not None
                assert dialog_id_of(ev.request) == phone_dialog.dialog_id
                acked = True
            elif isinstance(ev, RequestReceived) and ev.request.method == "BYE":
                assert phone_dialog is not None
                assert dialog_id_of(ev.request) == phone_dialog.dialog_id
                phone_dialog.receive_request(ev.request)
                phone.send_response(ev.tx, make_response(ev.request, 200), now)
        if server_tx is not None and not answered and now >= 2.0:
            assert phone_dialog is not None
            ok = make_response(invite_seen, 200, to_tag=phone_dialog.local_tag,
                               extra=[("Contact", "<sip:201@10.0.0.2:5060>")])
            phone.send_response(server_tx, ok, now)
            answered = True
        for ev in drain(pbx):
            if isinstance(ev, ResponseReceived) and ev.tx == invite_tx:
                response = ev.response
                if 200 <= response.status < 300:
                    if pbx_dialog is None:
                        pbx_dialog = Dialog.as_uac(invite, response)
                    pbx_dialog.update_from_response(response)
                    # §13.2.2.4: ACK every 2xx (retransmissions included) statelessly.
                    ack = pbx_dialog.create_ack(1, via_host="10.0.0.1", via_port=5060,
                                                transport=Transport.UDP)
                    host, port, transport = pbx_dialog.next_hop()
                    pbx.send_stateless(ack, Peer(transport, host, port))
            elif isinstance(ev, ResponseReceived) and ev.response.cseq[1] == "BYE":
                assert ev.response.status == 200
                bye_done = True
        if pbx_dialog is not None and acked and not bye_sent and now >= 5.0:
            bye = pbx_dialog.create_request("BYE", via_host="10.0.0.1", via_port=5060,
                                            transport=Transport.UDP)
            assert bye.cseq == (2, "BYE")
            pbx.send_request(bye, PHONE, now)
            bye_sent = True
        wire.pump(now)
        now = round(now + 0.25, 2)
        wire.tick(now)
    assert bye_done and acked
    return log


def settle(wire: Wire, until: float = 100.0) -> None:
    now = 40.0
    while now < until:
        wire.tick(now)
        now += 1.0
    drain(wire.pbx)
    drain(wire.phone)


def test_whole_call_over_a_perfect_wire() -> None:
    wire = Wire(TransactionLayer(), TransactionLayer())
    log = run_call(wire)
    assert log == ["RequestReceived:INVITE", "AckReceived:ACK", "RequestReceived:BYE"]
    methods = [d.split(b" ", 2)[:2] for d in wire.sent]
    assert methods[:4] == [[b"INVITE", b"sip:201@10.0.0.2"], [b"SIP/2.0", b"100"],
                           [b"SIP/2.0", b"180"], [b"SIP/2.0", b"200"]]
    settle(wire)
    assert len(wire.pbx) == 0 and len(wire.phone) == 0
    assert wire.pbx.next_deadline() is None and wire.phone.next_deadline() is None


def test_whole_call_recovers_from_lost_invite_200_and_ack() -> None:
    # Datagram 0 is the first INVITE; with it lost the INVITE is retransmitted at 0.5 s.
    wire = Wire(TransactionLayer(), TransactionLayer(), drop={0})
    run_call(wire)
    assert wire.sent[0] == wire.sent[1]  # Timer A retransmission
    settle(wire)
    assert len(wire.pbx) == 0 and len(wire.phone) == 0


def test_lost_ack_is_repaired_by_2xx_retransmission() -> None:
    wire = Wire(TransactionLayer(), TransactionLayer())
    # Find the index the first ACK will have: INVITE, 100, 180, 200, ACK → 4.
    wire.drop = {4}
    log = run_call(wire)
    assert wire.sent[4].startswith(b"ACK ")
    assert log.count("AckReceived:ACK") >= 1
    assert sum(1 for d in wire.sent if d.startswith(b"SIP/2.0 200 OK") and b"INVITE" in d) >= 2
    settle(wire)
    assert len(wire.pbx) == 0 and len(wire.phone) == 0


def test_cancelled_call_over_the_wire() -> None:
    wire = Wire(TransactionLayer(), TransactionLayer())
    pbx, phone = wire.pbx, wire.phone
    invite = make_invite()
    pbx.send_request(invite, PHONE, now=0.0)
    wire.pump(0.0)
    (ev,) = drain(phone)
    assert isinstance(ev, RequestReceived)
    tag = new_tag()
    phone.send_response(ev.tx, make_response(ev.request, 180, to_tag=tag), 0.1)
    wire.pump(0.1)
    pbx.send_request(make_cancel(invite), PHONE, now=1.0)
    wire.pump(1.0)
    (cancelled,) = drain(phone)
    phone.send_response(ev.tx, make_response(ev.request, 487, to_tag=tag), 1.0)
    wire.pump(1.0)
    statuses = sorted(
        (e.response.cseq[1], e.response.status)
        for e in drain(pbx) if isinstance(e, ResponseReceived)
    )
    assert statuses == [("CANCEL", 200), ("INVITE", 100), ("INVITE", 180), ("INVITE", 487)]
    assert any(d.startswith(b"ACK ") for d in wire.sent)  # the auto-ACK of the 487
    settle(wire)
    assert len(pbx) == 0 and len(phone) == 0
