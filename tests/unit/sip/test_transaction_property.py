"""Property: whatever sequence of messages, TU actions and clock steps a layer sees, it raises
nothing but SipError, never leaves its deadline in the past, and forgets everything in time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.sip.errors import SipError
from firmware.sip.message import Request, Response, make_response, parse_message
from firmware.sip.peer import Peer, Transport
from firmware.sip.transaction import (
    RequestReceived,
    ServerTransactionId,
    TransactionLayer,
)

SOURCES = [
    Peer(Transport.UDP, "192.0.2.1", 5060),
    Peer(Transport.UDP, "192.0.2.2", 40000),
    Peer(Transport.TCP, "192.0.2.3", 50000, connection=1),
]
BRANCHES = ["z9hG4bKa", "z9hG4bKb", "z9hG4bKc", "rfc2543"]
METHODS = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"]
STATUSES = [100, 180, 200, 202, 302, 404, 486, 487, 500, 603]


def _request(method: str, branch: str, cseq: int, to_tag: bool, rport: bool) -> Request:
    text = (
        f"{method} sip:x@pbx SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP host.example:5060;branch={branch}{';rport' if rport else ''}\r\n"
        "From: <sip:a@pbx>;tag=f\r\n"
        f"To: <sip:x@pbx>{';tag=t' if to_tag else ''}\r\n"
        "Call-ID: c1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:a@192.0.2.1>\r\n"
        "\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


requests = st.builds(
    _request, st.sampled_from(METHODS), st.sampled_from(BRANCHES), st.integers(1, 3),
    st.booleans(), st.booleans(),
)

# One step: a request from the network, a response from the network (to one of our client
# transactions or not), a TU request, a TU response to a known server transaction, or time.
steps = st.one_of(
    st.tuples(st.just("recv_req"), requests, st.sampled_from(SOURCES)),
    st.tuples(st.just("recv_resp"), requests, st.sampled_from(STATUSES)),
    st.tuples(st.just("send_req"), requests, st.sampled_from(SOURCES)),
    st.tuples(st.just("send_resp"), st.integers(0, 7), st.sampled_from(STATUSES)),
    st.tuples(st.just("time"), st.floats(0.0, 40.0, allow_nan=False), st.just(None)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=40), st.integers(1, 6))
def test_layer_survives_any_sequence_and_drains_to_empty(
    script: list[tuple[str, object, object]], limit: int,
) -> None:
    layer = TransactionLayer(max_transactions=limit)
    now = 0.0
    known: list[tuple[ServerTransactionId, Request]] = []
    for kind, a, b in script:
        try:
            if kind == "recv_req":
                assert isinstance(a, Request) and isinstance(b, Peer)
                layer.receive(a, b, now)
            elif kind == "recv_resp":
                assert isinstance(a, Request) and isinstance(b, int)
                if a.method != "ACK":
                    layer.receive(make_response(a, b, to_tag="t"), SOURCES[0], now)
            elif kind == "send_req":
                assert isinstance(a, Request) and isinstance(b, Peer)
                if a.method != "ACK":
                    try:
                        layer.send_request(a, b, now)
                    except ValueError:
                        pass  # a branch already in use: the TU's mistake, refused
                else:
                    layer.send_stateless(a, b)
            elif kind == "send_resp":
                assert isinstance(a, int) and isinstance(b, int)
                if known:
                    tx, req = known[a % len(known)]
                    layer.send_response(tx, make_response(req, b, to_tag="t"), now)
            else:
                assert isinstance(a, float)
                now += a
                layer.handle_timers(now)
                deadline = layer.next_deadline()
                assert deadline is None or deadline > now
        except SipError:
            pass
        while (ev := layer.next_event()) is not None:
            if isinstance(ev, RequestReceived):
                known.append((ev.tx, ev.request))
        for data, _ in layer.outgoing():
            assert isinstance(parse_message(data), Request | Response)

    # Run the clock to the end: every transaction ends (B/F/D/H/I/J/K/L/M and the TU guards).
    steps_left = 10_000
    while (deadline := layer.next_deadline()) is not None and steps_left:
        assert deadline >= now
        now = deadline
        layer.handle_timers(now)
        steps_left -= 1
    assert len(layer) == 0
    assert layer.stats()["awaiting_ack"] == 0
