"""RFC 3261 §17 / RFC 6026 transaction state machines and the TransactionLayer, with chosen
`now` values: every timer, every transition, matching, CANCEL, Via stamping and overload."""

from __future__ import annotations

import pytest

from firmware.sip.headers import parse_name_addr, parse_via
from firmware.sip.ids import new_branch, new_call_id, new_tag
from firmware.sip.message import Request, Response, make_response, parse_message
from firmware.sip.peer import Peer, Transport
from firmware.sip.transaction import (
    AckReceived,
    AckTimedOut,
    CancelReceived,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransactionId,
    RequestReceived,
    ResponseOverdue,
    ResponseReceived,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransactionId,
    State,
    TransactionEvent,
    TransactionLayer,
    TransactionTimedOut,
    make_ack,
    make_cancel,
)

PHONE = Peer(Transport.UDP, "192.0.2.10", 5060)
PHONE_TCP = Peer(Transport.TCP, "192.0.2.10", 40123, connection=7)
TRUNK = Peer(Transport.UDP, "198.51.100.1", 5060)


def request(
    method: str = "INVITE", *, branch: str = "z9hG4bKabc", cseq: int = 1, host: str = "192.0.2.10",
    port: int | None = 5060, rport: bool = False, call_id: str = "call-1", to_tag: str = "",
    transport: str = "UDP",
) -> Request:
    hp = host if port is None else f"{host}:{port}"
    via = f"SIP/2.0/{transport} {hp};branch={branch}" + (";rport" if rport else "")
    to = "<sip:200@pbx.example>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} sip:200@pbx.example SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        "From: \"Alice\" <sip:100@pbx.example>;tag=from1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:100@192.0.2.10:5060>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def response(req: Request, status: int, to_tag: str | None = "totag") -> Response:
    return make_response(req, status, to_tag=to_tag if status > 100 else None)


def events(layer: TransactionLayer) -> list[TransactionEvent]:
    out: list[TransactionEvent] = []
    while (ev := layer.next_event()) is not None:
        out.append(ev)
    return out


def drain(tx: ClientInviteTransaction | ClientNonInviteTransaction | ServerInviteTransaction
          | ServerNonInviteTransaction) -> list[TransactionEvent]:
    out: list[TransactionEvent] = []
    while (ev := tx.next_event()) is not None:
        out.append(ev)
    return out


def state_of(tx: ClientInviteTransaction | ClientNonInviteTransaction
             | ServerInviteTransaction | ServerNonInviteTransaction) -> State:
    """Read the state through a call, so that mypy does not narrow it across transitions."""
    return tx.state


# --- ids --------------------------------------------------------------------------------------


def test_ids_are_fresh_and_shaped() -> None:
    branches = {new_branch() for _ in range(1000)}
    assert len(branches) == 1000
    assert all(b.startswith("z9hG4bK") and len(b) == 7 + 20 for b in branches)
    assert len(new_tag()) == 16 and new_tag() != new_tag()
    cid = new_call_id("10.0.0.1")
    assert cid.endswith("@10.0.0.1") and len(cid.split("@")[0]) == 32


# --- client INVITE (Fig. 5, RFC 6026) ---------------------------------------------------------


INVITE = request()


def test_invite_retransmits_on_timer_a_then_times_out_on_timer_b() -> None:
    tx = ClientInviteTransaction(INVITE, now=0.0)
    assert tx.outgoing() == [bytes(INVITE)]
    sent_at = []
    now = 0.0
    while not tx.terminated:
        deadline = tx.next_deadline()
        assert deadline is not None
        now = deadline
        tx.handle_timers(now)
        if tx.outgoing():
            sent_at.append(now)
    assert sent_at == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # A doubles without a cap
    assert now == 32.0  # Timer B = 64·T1
    assert drain(tx) == [TransactionTimedOut(tx.key, INVITE)]


def test_invite_provisional_stops_retransmission_and_passes_up() -> None:
    tx = ClientInviteTransaction(INVITE, now=0.0)
    tx.outgoing()
    ringing = response(INVITE, 180)
    assert tx.receive(ringing, now=0.2)
    assert state_of(tx) is State.PROCEEDING
    assert drain(tx) == [ResponseReceived(ringing, tx.key)]
    tx.handle_timers(0.5)
    tx.handle_timers(32.0)
    assert tx.outgoing() == [] and tx.state is State.PROCEEDING  # no A, no B in Proceeding
    assert tx.next_deadline() == pytest.approx(0.2 + 180.0)  # the Timer C guard


def test_invite_proceeding_guard_times_out_after_timer_c() -> None:
    tx = ClientInviteTransaction(INVITE, now=0.0)
    tx.receive(response(INVITE, 180), now=1.0)
    tx.receive(response(INVITE, 183), now=100.0)  # each 1xx restarts the guard
    drain(tx)
    tx.handle_timers(181.0)
    assert not tx.terminated
    tx.handle_timers(280.0)
    assert tx.terminated and drain(tx) == [TransactionTimedOut(tx.key, INVITE)]


def test_invite_non2xx_final_is_acked_and_completed_until_timer_d() -> None:
    tx = ClientInviteTransaction(INVITE, now=0.0)
    tx.outgoing()
    busy = response(INVITE, 486)
    tx.receive(busy, now=1.0)
    assert state_of(tx) is State.COMPLETED
    (ack_bytes,) = tx.outgoing()
    ack = parse_message(ack_bytes)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.uri == INVITE.uri and ack.cseq == (1, "ACK")
    assert ack.headers.get_all("Via") == INVITE.headers.get_all("Via")
    assert parse_name_addr(ack.headers.get("To") or "").tag == "totag"  # §17.1.1.3
    assert ack.headers.get("From") == INVITE.headers.get("From")
    assert drain(tx) == [ResponseReceived(busy, tx.key)]
    # A retransmitted final gets the same ACK and is not passed up again.
    tx.receive(busy, now=2.0)
    assert tx.outgoing() == [ack_bytes] and drain(tx) == []
    assert tx.next_deadline() == 33.0  # Timer D = 32 s from the final
    tx.handle_timers(33.0)
    assert tx.terminated and tx.outgoing() == []


def test_invite_non2xx_on_reliable_transport_terminates_at_once() -> None:
    tx = ClientInviteTransaction(INVITE, now=0.0, reliable=True)
    tx.outgoing()
    assert tx.next_deadline() == 32.0  # only Timer B; no Timer A on TCP
    tx.receive(response(INVITE, 603), now=1.0)
    assert len(tx.outgoing()) == 1  # the ACK
    assert tx.terminated  # Timer D = 0


def test_invite_2xx_goes_to_accepted_and_passes_retransmissions_up_until_timer_m() -> None:
    tx = ClientInviteTransaction(INVITE, now=0.0)
    tx.outgoing()
    ok = response(INVITE, 200)
    tx.receive(ok, now=1.0)
    assert state_of(tx) is State.ACCEPTED and tx.outgoing() == []  # the TU ACKs a 2xx
    tx.receive(ok, now=2.0)
    assert drain(tx) == [ResponseReceived(ok, tx.key), ResponseReceived(ok, tx.key)]
    tx.receive(response(INVITE, 486), now=3.0)  # non-2xx in Accepted: absorbed
    assert drain(tx) == [] and tx.outgoing() == []
    assert tx.next_deadline() == 33.0  # Timer M = 64·T1
    tx.handle_timers(33.0)
    assert tx.terminated


# --- client non-INVITE (Fig. 6) ---------------------------------------------------------------


OPTIONS = request("OPTIONS")


def test_non_invite_timer_e_caps_at_t2_then_timer_f() -> None:
    tx = ClientNonInviteTransaction(OPTIONS, now=0.0)
    tx.outgoing()
    sent_at = []
    while not tx.terminated:
        now = tx.next_deadline()
        assert now is not None
        tx.handle_timers(now)
        if tx.outgoing():
            sent_at.append(now)
    assert sent_at[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]  # 0.5, 1, 2, 4, then T2 = 4
    assert sent_at[-1] == 31.5
    assert drain(tx) == [TransactionTimedOut(tx.key, OPTIONS)]


def test_non_invite_proceeding_retransmits_every_t2() -> None:
    tx = ClientNonInviteTransaction(OPTIONS, now=0.0)
    tx.handle_timers(0.5)
    tx.receive(response(OPTIONS, 100), now=0.6)
    assert state_of(tx) is State.PROCEEDING
    tx.outgoing()
    tx.handle_timers(1.5)  # E was armed at 1.5 (1 s after 0.5); fires, then T2 flat
    assert len(tx.outgoing()) == 1
    assert tx.next_deadline() == 5.5


def test_non_invite_final_completes_and_absorbs_retransmissions_until_timer_k() -> None:
    tx = ClientNonInviteTransaction(OPTIONS, now=0.0)
    ok = response(OPTIONS, 200)
    tx.receive(ok, now=1.0)
    assert state_of(tx) is State.COMPLETED
    tx.receive(ok, now=2.0)
    assert drain(tx) == [ResponseReceived(ok, tx.key)]
    assert tx.next_deadline() == 6.0  # Timer K = T4
    tx.handle_timers(6.0)
    assert tx.terminated


def test_non_invite_on_reliable_transport_never_retransmits() -> None:
    tx = ClientNonInviteTransaction(OPTIONS, now=0.0, reliable=True)
    assert len(tx.outgoing()) == 1
    assert tx.next_deadline() == 32.0  # only Timer F
    tx.receive(response(OPTIONS, 404), now=1.0)
    assert tx.terminated  # Timer K = 0


# --- server INVITE (Fig. 7, RFC 6026) ---------------------------------------------------------


def test_server_invite_sends_100_at_once_and_resends_last_provisional() -> None:
    tx = ServerInviteTransaction(INVITE, now=0.0)
    (trying,) = tx.outgoing()
    assert trying.startswith(b"SIP/2.0 100 Trying")
    ringing = response(INVITE, 180)
    tx.send(ringing, now=0.1)
    assert tx.outgoing() == [bytes(ringing)]
    tx.receive_retransmission(now=0.5)
    assert tx.outgoing() == [bytes(ringing)]


def test_server_invite_non2xx_retransmits_on_g_until_ack_then_timer_i() -> None:
    tx = ServerInviteTransaction(INVITE, now=0.0)
    tx.outgoing()
    busy = response(INVITE, 486)
    tx.send(busy, now=1.0)
    assert state_of(tx) is State.COMPLETED and tx.outgoing() == [bytes(busy)]
    sent_at = []
    for now in (1.5, 2.5, 4.5, 8.5, 12.5):
        assert tx.next_deadline() == now
        tx.handle_timers(now)
        sent_at.append(len(tx.outgoing()))
    assert sent_at == [1, 1, 1, 1, 1]  # G: 0.5, 1, 2, 4, 4 (capped at T2)
    tx.receive_retransmission(now=13.0)
    assert tx.outgoing() == [bytes(busy)]
    tx.receive_ack(now=13.0)
    assert state_of(tx) is State.CONFIRMED
    assert tx.next_deadline() == 18.0  # Timer I = T4
    tx.receive_ack(now=14.0)  # absorbed
    tx.handle_timers(18.0)
    assert tx.terminated and tx.outgoing() == []


def test_server_invite_timer_h_without_ack_reports_ack_timed_out() -> None:
    tx = ServerInviteTransaction(INVITE, now=0.0)
    tx.send(response(INVITE, 480), now=0.0)
    now = 0.0
    while not tx.terminated:
        deadline = tx.next_deadline()
        assert deadline is not None
        now = deadline
        tx.handle_timers(now)
    assert now == 32.0  # Timer H = 64·T1
    assert drain(tx) == [AckTimedOut(tx.key)]


def test_server_invite_2xx_is_retransmitted_until_acked() -> None:
    tx = ServerInviteTransaction(INVITE, now=0.0)
    tx.outgoing()
    ok = response(INVITE, 200)
    tx.send(ok, now=0.0)
    assert state_of(tx) is State.ACCEPTED and tx.outgoing() == [bytes(ok)]
    for now in (0.5, 1.5, 3.5, 7.5, 11.5):  # §13.3.1.4: T1 doubling to T2
        assert tx.next_deadline() == now
        tx.handle_timers(now)
        assert tx.outgoing() == [bytes(ok)]
    tx.receive_retransmission(now=12.0)  # RFC 6026 §8.5: absorbed in Accepted
    assert tx.outgoing() == []
    tx.receive_ack(now=12.0)
    assert tx.acked and tx.next_deadline() == 32.0  # retransmission stopped; Timer L remains
    tx.handle_timers(32.0)
    assert tx.terminated and drain(tx) == []


def test_server_invite_2xx_never_acked_reports_ack_timed_out_at_64_t1() -> None:
    tx = ServerInviteTransaction(INVITE, now=0.0, reliable=True)
    tx.send(response(INVITE, 200), now=2.0)
    assert tx.next_deadline() == 34.0  # no retransmission on TCP, only Timer L
    tx.handle_timers(34.0)
    assert tx.terminated and drain(tx) == [AckTimedOut(tx.key)]


def test_server_invite_unanswered_by_tu_gets_408_after_guard() -> None:
    tx = ServerInviteTransaction(INVITE, now=0.0)
    tx.outgoing()
    tx.handle_timers(180.0)
    assert state_of(tx) is State.COMPLETED
    (timeout,) = tx.outgoing()
    assert timeout.startswith(b"SIP/2.0 408 ")
    assert drain(tx) == [ResponseOverdue(tx.key)]


def test_server_invite_ignores_responses_after_final() -> None:
    tx = ServerInviteTransaction(INVITE, now=0.0)
    tx.send(response(INVITE, 486), now=0.0)
    assert not tx.send(response(INVITE, 180), now=0.1)
    assert not tx.send(response(INVITE, 200), now=0.1)


# --- server non-INVITE (Fig. 8) ---------------------------------------------------------------


def test_server_non_invite_trying_proceeding_completed_terminated() -> None:
    tx = ServerNonInviteTransaction(OPTIONS, now=0.0)
    assert tx.outgoing() == [] and tx.state is State.TRYING
    tx.receive_retransmission(now=0.5)
    assert tx.outgoing() == []  # nothing to re-send yet
    trying = response(OPTIONS, 100)
    tx.send(trying, now=0.6)
    assert state_of(tx) is State.PROCEEDING
    tx.receive_retransmission(now=1.5)
    assert tx.outgoing() == [bytes(trying), bytes(trying)]
    ok = response(OPTIONS, 200)
    tx.send(ok, now=2.0)
    assert state_of(tx) is State.COMPLETED
    tx.receive_retransmission(now=3.0)
    assert tx.outgoing() == [bytes(ok), bytes(ok)]
    assert tx.next_deadline() == 34.0  # Timer J = 64·T1
    tx.handle_timers(34.0)
    assert tx.terminated


def test_server_non_invite_reliable_terminates_on_final() -> None:
    tx = ServerNonInviteTransaction(OPTIONS, now=0.0, reliable=True)
    tx.send(response(OPTIONS, 200), now=0.0)
    assert tx.terminated  # Timer J = 0


def test_server_non_invite_unanswered_is_dropped_after_64_t1() -> None:
    tx = ServerNonInviteTransaction(OPTIONS, now=0.0)
    tx.handle_timers(32.0)
    assert tx.terminated and drain(tx) == [ResponseOverdue(tx.key)]


# --- the layer --------------------------------------------------------------------------------


def test_layer_server_request_event_and_response_routing() -> None:
    layer = TransactionLayer()
    layer.receive(request("OPTIONS"), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived) and ev.source == PHONE
    assert ev.tx == ServerTransactionId("z9hG4bKabc", "192.0.2.10:5060", "OPTIONS")
    layer.send_response(ev.tx, make_response(ev.request, 200, to_tag="t"), now=0.1)
    ((data, dest),) = layer.outgoing()
    assert dest == PHONE and data.startswith(b"SIP/2.0 200 OK")
    assert layer.stats()["server_non_invite"] == 1


def test_layer_fills_received_and_rport_before_the_tu_sees_the_request() -> None:
    layer = TransactionLayer()
    nat = Peer(Transport.UDP, "203.0.113.7", 61000)
    layer.receive(request("REGISTER", host="10.1.1.5", rport=True), nat, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    via = parse_via(ev.request.headers.get("Via") or "")
    assert via.received == "203.0.113.7" and via.rport == 61000
    layer.send_response(ev.tx, make_response(ev.request, 200, to_tag="t"), now=0.0)
    ((data, dest),) = layer.outgoing()
    assert dest == nat  # RFC 3581 §4: back to the source address and port
    assert b"received=203.0.113.7" in data and b"rport=61000" in data


def test_layer_adds_received_without_rport_and_answers_to_sent_by_port() -> None:
    layer = TransactionLayer()
    layer.receive(request("OPTIONS", host="phone.example", port=5070), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    via = parse_via(ev.request.headers.get("Via") or "")
    assert via.received == "192.0.2.10" and not via.has_rport
    layer.send_response(ev.tx, make_response(ev.request, 200, to_tag="t"), now=0.0)
    ((_, dest),) = layer.outgoing()
    assert dest == Peer(Transport.UDP, "192.0.2.10", 5070)  # §18.2.2: received + sent-by port


def test_layer_leaves_via_alone_when_sent_by_is_the_source() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    before = req.headers.get("Via")
    layer.receive(req, PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived) and ev.request.headers.get("Via") == before


def test_layer_overwrites_a_forged_received() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    via = req.headers.remove_first("Via")
    req.headers.add("Via", f"{via};received=198.51.100.99", first=True)
    layer.receive(req, PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    assert parse_via(ev.request.headers.get("Via") or "").received == "192.0.2.10"


def test_layer_stream_responses_use_the_same_connection() -> None:
    layer = TransactionLayer()
    layer.receive(request("OPTIONS", transport="TCP", port=None), PHONE_TCP, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(ev.tx, make_response(ev.request, 200, to_tag="t"), now=0.0)
    ((_, dest),) = layer.outgoing()
    assert dest == PHONE_TCP
    assert layer.stats()["transactions"] == 0  # reliable: Timer J = 0


def test_layer_absorbs_retransmitted_request_and_resends_last_response() -> None:
    layer = TransactionLayer()
    layer.receive(request("INVITE"), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    (trying,) = layer.outgoing()
    layer.receive(request("INVITE"), PHONE, now=0.4)
    assert layer.outgoing() == [trying] and events(layer) == []
    ringing = make_response(ev.request, 180, to_tag="t")
    layer.send_response(ev.tx, ringing, now=0.5)
    layer.outgoing()
    layer.receive(request("INVITE"), PHONE, now=1.0)
    assert layer.outgoing() == [(bytes(ringing), PHONE)]


def test_layer_invite_non2xx_ack_is_absorbed_by_the_transaction() -> None:
    layer = TransactionLayer()
    layer.receive(request("INVITE"), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(ev.tx, make_response(ev.request, 486, to_tag="t"), now=0.1)
    layer.receive(request("ACK", to_tag="t"), PHONE, now=0.2)  # same branch: §17.1.1.3
    assert events(layer) == []
    layer.outgoing()
    layer.handle_timers(0.6)
    assert layer.outgoing() == []  # Timer G stopped: Confirmed
    layer.handle_timers(5.2)  # Timer I = T4
    assert len(layer) == 0


def test_layer_2xx_retransmission_stops_at_ack_with_same_call_id_and_cseq() -> None:
    layer = TransactionLayer()
    layer.receive(request("INVITE", cseq=7), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    ok = make_response(ev.request, 200, to_tag="t")
    layer.send_response(ev.tx, ok, now=1.0)
    layer.outgoing()
    layer.handle_timers(1.5)
    assert layer.outgoing() == [(bytes(ok), PHONE)]
    ack = request("ACK", cseq=7, branch="z9hG4bKack", to_tag="t")
    layer.receive(ack, PHONE, now=1.6)
    assert events(layer) == [AckReceived(ack, PHONE)]
    layer.handle_timers(10.0)
    assert layer.outgoing() == []
    layer.handle_timers(33.0)  # Timer L = 64·T1 from the 2xx
    assert len(layer) == 0 and events(layer) == []


def test_layer_2xx_never_acked_gives_ack_timed_out() -> None:
    layer = TransactionLayer()
    layer.receive(request("INVITE"), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(ev.tx, make_response(ev.request, 200, to_tag="t"), now=0.0)
    layer.outgoing()
    now = 0.0
    sent = 0
    while (deadline := layer.next_deadline()) is not None:
        now = deadline
        layer.handle_timers(now)
        sent += len(layer.outgoing())
    assert now == 32.0 and sent == 10  # 0.5 1.5 3.5 7.5 11.5 15.5 … 31.5
    assert events(layer) == [AckTimedOut(ev.tx)]
    assert layer.stats()["awaiting_ack"] == 0


def test_layer_cancel_matching_proceeding_invite_gets_200_and_event() -> None:
    layer = TransactionLayer()
    layer.receive(request("INVITE"), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(ev.tx, make_response(ev.request, 180, to_tag="ring1"), now=0.1)
    layer.outgoing()
    cancel = make_cancel(request("INVITE"))
    layer.receive(cancel, PHONE, now=1.0)
    (cancelled,) = events(layer)
    assert cancelled == CancelReceived(cancel, PHONE, ev.tx)
    ((data, dest),) = layer.outgoing()
    ok = parse_message(data)
    assert isinstance(ok, Response) and ok.status == 200 and ok.cseq == (1, "CANCEL")
    assert parse_name_addr(ok.headers.get("To") or "").tag == "ring1"  # §9.2: same To tag
    # The TU answers the INVITE 487; the phone ACKs it.
    layer.send_response(ev.tx, make_response(ev.request, 487, to_tag="ring1"), now=1.1)
    layer.receive(request("ACK", to_tag="ring1"), PHONE, now=1.2)
    assert events(layer) == []
    # A retransmitted CANCEL gets the same 200 and no second event.
    layer.outgoing()
    layer.receive(make_cancel(request("INVITE")), PHONE, now=1.3)
    assert layer.outgoing() == [(data, dest)] and events(layer) == []


def test_layer_cancel_after_final_gets_200_without_event() -> None:
    layer = TransactionLayer()
    layer.receive(request("INVITE"), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(ev.tx, make_response(ev.request, 200, to_tag="t"), now=0.1)
    layer.outgoing()
    layer.receive(make_cancel(request("INVITE")), PHONE, now=0.2)
    assert events(layer) == []
    assert any(d.startswith(b"SIP/2.0 200 OK") and b"CANCEL" in d for d, _ in layer.outgoing())


def test_layer_unmatched_cancel_gets_481() -> None:
    layer = TransactionLayer()
    layer.receive(make_cancel(request("INVITE", branch="z9hG4bKnothere")), PHONE, now=0.0)
    assert events(layer) == []
    ((data, dest),) = layer.outgoing()
    assert data.startswith(b"SIP/2.0 481 ") and dest == PHONE
    assert layer.stats()["drop.cancel_unmatched"] == 1


def test_layer_sends_request_and_matches_response_by_branch_and_method() -> None:
    layer = TransactionLayer()
    invite = request("INVITE", branch="z9hG4bKout")
    tx = layer.send_request(invite, TRUNK, now=0.0)
    assert tx == ClientTransactionId("z9hG4bKout", "INVITE")
    assert layer.outgoing() == [(bytes(invite), TRUNK)]
    # Same branch, other method (our CANCEL's 200) must not match the INVITE.
    layer.receive(response(make_cancel(invite), 200), TRUNK, now=0.1)
    assert events(layer) == [] and layer.stats()["drop.stray_response"] == 1
    ringing = response(invite, 180)
    layer.receive(ringing, TRUNK, now=0.2)
    assert events(layer) == [ResponseReceived(ringing, tx)]


def test_layer_stray_response_is_dropped_and_counted() -> None:
    layer = TransactionLayer()
    layer.receive(response(request("INVITE", branch="z9hG4bKnope"), 200), TRUNK, now=0.0)
    assert events(layer) == [] and layer.outgoing() == []
    assert layer.stats()["drop.stray_response"] == 1


def test_layer_auto_acks_non2xx_to_the_invite_destination() -> None:
    layer = TransactionLayer()
    invite = request("INVITE", branch="z9hG4bKout")
    layer.send_request(invite, TRUNK, now=0.0)
    layer.outgoing()
    layer.receive(response(invite, 404), TRUNK, now=0.1)
    ((data, dest),) = layer.outgoing()
    assert data.startswith(b"ACK sip:200@pbx.example SIP/2.0") and dest == TRUNK


def test_layer_refuses_new_requests_over_the_limit_with_503() -> None:
    layer = TransactionLayer(max_transactions=2)
    layer.receive(request("OPTIONS", branch="z9hG4bK1"), PHONE, now=0.0)
    layer.receive(request("OPTIONS", branch="z9hG4bK2"), PHONE, now=0.0)
    layer.receive(request("OPTIONS", branch="z9hG4bK3"), PHONE, now=0.0)
    assert len(events(layer)) == 2
    ((data, dest),) = layer.outgoing()
    busy = parse_message(data)
    assert isinstance(busy, Response) and busy.status == 503 and dest == PHONE
    assert busy.headers.get("Retry-After") == "5"
    assert layer.stats()["drop.overload"] == 1 and len(layer) == 2


def test_layer_serves_cancel_for_a_held_invite_even_when_full() -> None:
    layer = TransactionLayer(max_transactions=1)
    layer.receive(request("INVITE"), PHONE, now=0.0)
    layer.receive(make_cancel(request("INVITE")), PHONE, now=0.1)
    assert isinstance(events(layer)[-1], CancelReceived)


def test_layer_serves_bye_beyond_the_limit_but_not_without_bound() -> None:
    # A refused BYE would leave its call up; a BYE flood still meets a limit (a quarter more).
    layer = TransactionLayer(max_transactions=4)
    for n in range(4):
        layer.receive(request("OPTIONS", branch=f"z9hG4bKo{n}"), PHONE, now=0.0)
    for n in range(3):
        layer.receive(request("BYE", branch=f"z9hG4bKb{n}"), PHONE, now=0.0)
    assert [type(e) for e in events(layer)].count(RequestReceived) == 5
    assert layer.stats()["drop.overload"] == 2 and len(layer) == 5


def test_layer_reliable_transport_sends_no_retransmissions() -> None:
    layer = TransactionLayer()
    trunk_tcp = Peer(Transport.TCP, "198.51.100.1", 5060, connection=3)
    layer.send_request(request("INVITE", branch="z9hG4bKt1", transport="TCP"), trunk_tcp, 0.0)
    layer.send_request(request("BYE", branch="z9hG4bKt2", transport="TCP"), trunk_tcp, 0.0)
    layer.receive(request("INVITE", transport="TCP"), PHONE_TCP, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.send_response(ev.tx, make_response(ev.request, 486, to_tag="t"), now=0.0)
    assert len(layer.outgoing()) == 4  # INVITE, BYE, 100, 486
    for now in (0.5, 1.5, 3.5, 7.5, 15.5):
        layer.handle_timers(now)
        assert layer.outgoing() == []
    assert layer.next_deadline() == 32.0  # B, F and H only


def test_layer_timeout_event_for_unanswered_client_request() -> None:
    layer = TransactionLayer()
    bye = request("BYE", branch="z9hG4bKbye")
    tx = layer.send_request(bye, TRUNK, now=0.0)
    layer.handle_timers(32.0)
    assert events(layer)[-1] == TransactionTimedOut(tx, bye)
    assert len(layer) == 0 and layer.next_deadline() is None


def test_transport_failure_ends_pending_requests_to_that_peer_only() -> None:
    layer = TransactionLayer()
    invite = request("INVITE", branch="z9hG4bKdead", transport="TCP")
    dead = layer.send_request(invite, PHONE_TCP, now=0.0)
    alive = layer.send_request(request("OPTIONS", branch="z9hG4bKalive"), TRUNK, now=0.0)
    layer.outgoing()
    layer.transport_failed(Peer(Transport.TCP, PHONE_TCP.host, PHONE_TCP.port), now=0.2)
    assert events(layer) == [TransactionTimedOut(dead, invite)]  # at once, not after Timer B
    assert layer.stats()["transactions"] == 1
    layer.transport_failed(PHONE, now=0.3)  # a peer with nothing pending: no effect
    assert events(layer) == [] and alive in layer._clients


def test_layer_rejects_ack_and_duplicate_branch_from_the_tu() -> None:
    layer = TransactionLayer()
    with pytest.raises(ValueError):
        layer.send_request(request("ACK"), TRUNK, now=0.0)
    layer.send_request(request("OPTIONS"), TRUNK, now=0.0)
    with pytest.raises(ValueError):
        layer.send_request(request("OPTIONS"), TRUNK, now=0.0)


def test_layer_late_response_from_tu_is_counted_not_sent() -> None:
    layer = TransactionLayer()
    layer.send_response(ServerTransactionId("z9hG4bKx", "h:5060", "BYE"),
                        response(request("BYE"), 200), now=0.0)
    assert layer.outgoing() == [] and layer.stats()["drop.late_response"] == 1


def test_layer_matches_rfc2543_requests_without_magic_cookie() -> None:
    layer = TransactionLayer()
    layer.receive(request("INVITE", branch="old1"), PHONE, now=0.0)
    (ev,) = events(layer)
    assert isinstance(ev, RequestReceived)
    layer.receive(request("INVITE", branch="old1"), PHONE, now=0.5)
    assert events(layer) == []  # retransmission absorbed
    layer.send_response(ev.tx, make_response(ev.request, 486, to_tag="t"), now=0.6)
    layer.receive(request("ACK", branch="old1", to_tag="t"), PHONE, now=0.7)
    assert events(layer) == []  # matched the INVITE transaction


def test_layer_next_deadline_is_heap_min_and_skips_stale_entries() -> None:
    layer = TransactionLayer()
    invite = request("INVITE", branch="z9hG4bKh1")
    layer.send_request(invite, TRUNK, now=0.0)
    assert layer.next_deadline() == 0.5
    layer.receive(response(invite, 180), TRUNK, now=0.1)  # Timer A gone: stale entry at 0.5
    assert layer.next_deadline() == pytest.approx(180.1)


def test_make_ack_copies_route_and_single_via() -> None:
    invite = request("INVITE")
    invite.headers.add("Via", "SIP/2.0/UDP proxy.example;branch=z9hG4bKp")
    invite.headers.add("Route", "<sip:proxy.example;lr>")
    ack = make_ack(invite, response(invite, 486))
    assert ack.headers.get_all("Via") == [invite.headers.get("Via")]
    assert ack.headers.get_all("Route") == ["<sip:proxy.example;lr>"]
    assert ack.headers.get("Max-Forwards") == "70"


def test_layer_timer_heap_stays_bounded_when_transactions_end_early() -> None:
    layer = TransactionLayer()
    trunk_tcp = Peer(Transport.TCP, "198.51.100.1", 5060, connection=3)
    for i in range(5000):
        req = request("OPTIONS", branch=f"z9hG4bKbound{i}", transport="TCP")
        layer.send_request(req, trunk_tcp, now=i * 0.001)
        # A final on TCP ends the transaction at once (Timer K = 0): its Timer F entry is stale.
        layer.receive(response(req, 200), trunk_tcp, now=i * 0.001)
    assert len(layer) == 0
    assert layer.stats()["timer_heap"] <= 1024 + 1
    assert layer.next_deadline() is None


def test_layer_passes_up_an_ack_nobody_waits_for() -> None:
    layer = TransactionLayer()
    ack = request("ACK", branch="z9hG4bKlate", to_tag="t")
    layer.receive(ack, PHONE, now=0.0)
    assert events(layer) == [AckReceived(ack, PHONE)] and len(layer) == 0
