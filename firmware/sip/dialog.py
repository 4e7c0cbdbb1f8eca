"""SIP dialogs (RFC 3261 §12): the state two user agents share for the life of a call, and the
in-dialog requests built from it.

Pure. What is met, by section:

- §12.1.1 (UAS) and §12.1.2 (UAC): dialog id, route set from Record-Route (in order for the UAS,
  reversed for the UAC), remote target from Contact, local and remote CSeq, `secure` for a SIPS
  Request-URI. An early dialog (1xx with a To tag) is confirmed by the 2xx, which also
  recomputes the route set (§13.2.2.4).
- §12.2.1.1: requests within the dialog — From/To with the tags, Call-ID, CSeq incremented by
  one (not for ACK and CANCEL, §13.2.2.4, §9.1), Request-URI and Route from the route set with
  loose routing (`;lr`) and the strict-routing fallback (remote target appended as last Route).
- §12.2.2: a request with a CSeq lower than the last one is rejected (`SipError` 500), and a
  target refresh request (re-INVITE, UPDATE; SUBSCRIBE, NOTIFY, REFER by RFC 6665 §4.1 and
  RFC 3515 §2.4.2) replaces the remote target; §12.2.1.2 does the same for a 2xx/1xx response
  to one of ours.
- `next_hop()`: the first Route URI, else the remote target (RFC 3263 without DNS: port 5060,
  5061 for TLS; `transport=` param; `sips` means TLS).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from firmware.sip.errors import SipError, SipParseError
from firmware.sip.headers import NameAddr, parse_name_addr
from firmware.sip.ids import new_branch
from firmware.sip.message import Headers, Request, Response
from firmware.sip.peer import Transport
from firmware.sip.status import SipStatus
from firmware.sip.uri import SipUri, parse_uri

MAX_FORWARDS = 70
"""§8.1.1.6: the recommended initial Max-Forwards."""

TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
"""Requests whose Contact replaces the remote target (§12.2, RFC 3311, RFC 6665, RFC 3515)."""

# §19.1.1: parameters a Request-URI may not carry when a Route URI is promoted into it.
_NOT_IN_REQUEST_URI = frozenset({"method", "ttl"})


class DialogId(NamedTuple):
    """§12: Call-ID, local tag and remote tag, seen from our side."""

    call_id: str
    local_tag: str
    remote_tag: str


def _tag_of(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parse_name_addr(value).tag
    except SipParseError:
        return None


def dialog_id_of(message: Request | Response, *, incoming: bool = True) -> DialogId | None:
    """The id of the dialog `message` belongs to, seen from our side, or None when it lacks a
    tag (not in a dialog).

    For a request we received (or a response we send) our tag is in To; for a request we send
    (or a response we received) it is in From. `incoming` says which way the message travels:
    True for what arrived from the network.
    """
    ours_in_to = isinstance(message, Request) == incoming
    from_tag = _tag_of(message.headers.get("From"))
    to_tag = _tag_of(message.headers.get("To"))
    if from_tag is None or to_tag is None:
        return None
    if ours_in_to:
        return DialogId(message.call_id, to_tag, from_tag)
    return DialogId(message.call_id, from_tag, to_tag)


def _without_tag(value: str) -> str:
    """The header's name-addr with the tag removed (we store tags separately)."""
    na = parse_name_addr(value)
    return str(NameAddr(na.uri, na.display, tuple(p for p in na.params if p[0] != "tag")))


def _contact_uri(headers: Headers) -> SipUri | None:
    value = headers.get("Contact")
    if value is None or value.strip() == "*":
        return None
    return parse_name_addr(value).uri


@dataclass(slots=True)
class Dialog:
    """One dialog. `local_uri`/`remote_uri` are the From/To name-addr text without the tag;
    `route_set` holds Route header values in the order they are sent."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: SipUri
    route_set: tuple[str, ...] = ()
    local_cseq: int = 0
    remote_cseq: int | None = None
    secure: bool = False
    early: bool = False
    is_uac: bool = False
    local_contact: str | None = None

    @property
    def dialog_id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # -- creation

    @classmethod
    def as_uac(cls, invite: Request, response: Response) -> Dialog:
        """The dialog our `invite` created on `response` (a 1xx with a To tag → early, or a
        2xx → confirmed), §12.1.2. Raises `SipError` (400) when the response has no To tag or
        an unreadable From/To/Contact/Record-Route."""
        to = response.headers.get("To") or ""
        remote_tag = _tag_of(to)
        local_tag = _tag_of(invite.headers.get("From"))
        if not remote_tag or not local_tag:
            raise SipError(SipStatus.BAD_REQUEST, "dialog needs From and To tags")
        # §12.1.2: a 2xx without Contact is broken; the Request-URI is the best target we have.
        target = _contact_uri(response.headers) or parse_uri(invite.uri)
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_without_tag(invite.headers.get("From") or ""),
            remote_uri=_without_tag(to),
            remote_target=target,
            route_set=tuple(reversed(response.headers.get_all("Record-Route"))),
            local_cseq=invite.cseq[0],
            remote_cseq=None,  # §12.1.2: empty until the peer sends a request
            secure=invite.uri.lower().startswith("sips:"),
            early=response.status < 200,
            is_uac=True,
        )

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str, local_contact: str | None = None) -> Dialog:
        """The dialog we create by answering `invite` with To tag `local_tag`, §12.1.1.

        `local_contact` is our Contact header value, kept for the caller's later requests.
        Raises `SipError` (400) when the INVITE lacks a From tag or a readable Contact."""
        from_value = invite.headers.get("From") or ""
        remote_tag = _tag_of(from_value)
        if not remote_tag:
            raise SipError(SipStatus.BAD_REQUEST, "missing From tag")
        target = _contact_uri(invite.headers)
        if target is None:
            raise SipError(SipStatus.BAD_REQUEST, "missing Contact")  # §8.1.1.8: MUST
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_without_tag(invite.headers.get("To") or ""),
            remote_uri=_without_tag(from_value),
            remote_target=target,
            route_set=tuple(invite.headers.get_all("Record-Route")),
            local_cseq=0,  # §12.1.1: empty; our first request gets CSeq 1
            remote_cseq=invite.cseq[0],
            secure=invite.uri.lower().startswith("sips:"),
            early=False,
            is_uac=False,
            local_contact=local_contact,
        )

    # -- requests we send

    def create_request(
        self, method: str, *, via_host: str, via_port: int, transport: Transport,
        contact: str | None = None, body: bytes = b"", content_type: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """A request within the dialog (§12.2.1.1) with a fresh branch and `rport` (RFC 3581).

        CSeq is incremented for every method but ACK and CANCEL. `contact` is required by
        target refresh requests (re-INVITE, UPDATE…); the caller supplies it.
        """
        if method not in ("ACK", "CANCEL"):
            self.local_cseq += 1
        return self._build(method, self.local_cseq, via_host, via_port, transport, contact,
                           body, content_type, extra)

    def create_ack(
        self, cseq: int, *, via_host: str, via_port: int, transport: Transport,
        body: bytes = b"", content_type: str | None = None, extra: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """The ACK for a 2xx to the INVITE with CSeq number `cseq` (§13.2.2.4): its own
        transaction (fresh branch), sent with `TransactionLayer.send_stateless`."""
        return self._build("ACK", cseq, via_host, via_port, transport, None, body, content_type,
                           extra)

    def _build(
        self, method: str, cseq: int, via_host: str, via_port: int, transport: Transport,
        contact: str | None, body: bytes, content_type: str | None,
        extra: Iterable[tuple[str, str]],
    ) -> Request:
        uri, routes = self._request_uri_and_routes()
        items = [
            ("Via", f"SIP/2.0/{transport} {via_host}:{via_port};branch={new_branch()};rport"),
            ("Max-Forwards", str(MAX_FORWARDS)),
        ]
        items.extend(("Route", r) for r in routes)
        items.append(("From", self._with_tag(self.local_uri, self.local_tag)))
        items.append(("To", self._with_tag(self.remote_uri, self.remote_tag)))
        items.append(("Call-ID", self.call_id))
        items.append(("CSeq", f"{cseq} {method}"))
        if contact is not None:
            items.append(("Contact", contact))
        if body and content_type is not None:
            items.append(("Content-Type", content_type))
        items.extend(extra)
        return Request(method, uri, Headers(items), body)

    @staticmethod
    def _with_tag(uri: str, tag: str) -> str:
        return f"{uri};tag={tag}" if tag else uri

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        """§12.2.1.1: loose routing keeps the target in the Request-URI; a strict router in
        the first Route takes the Request-URI and the target becomes the last Route."""
        if not self.route_set:
            return str(self.remote_target), []
        first = parse_name_addr(self.route_set[0]).uri
        if first.has_param("lr"):
            return str(self.remote_target), list(self.route_set)
        params = tuple(p for p in first.params if p[0] not in _NOT_IN_REQUEST_URI)
        strict = SipUri(first.scheme, first.user, first.host, first.port, params, None,
                        first.password)
        return str(strict), [*self.route_set[1:], f"<{self.remote_target}>"]

    # -- what we receive

    def receive_request(self, request: Request) -> None:
        """Account for an in-dialog request from the peer (§12.2.2).

        Raises `SipError` (500) for a CSeq lower than the last one (out of order; answer 500),
        `SipError` (400) for an unreadable CSeq or Contact. ACK and CANCEL carry the INVITE's
        CSeq and are not counted. A target refresh request with a Contact replaces the remote
        target.
        """
        number, _ = request.cseq
        method = request.method
        if method in ("ACK", "CANCEL"):
            return
        if self.remote_cseq is not None and number < self.remote_cseq:
            raise SipError(SipStatus.SERVER_INTERNAL_ERROR, "CSeq out of order")
        if method in TARGET_REFRESH_METHODS:
            target = _contact_uri(request.headers)
            if target is not None:
                self.remote_target = target
        self.remote_cseq = number

    def update_from_response(self, response: Response) -> None:
        """Account for a response to one of our requests in this dialog.

        A 2xx to INVITE confirms an early dialog and, for the UAC, recomputes the route set
        (§13.2.2.4); a 1xx/2xx to a target refresh request replaces the remote target
        (§12.2.1.2). Raises `SipError` (400) for an unreadable Contact.
        """
        status = response.status
        if status >= 300:
            return
        _, method = response.cseq
        if method == "INVITE" and 200 <= status < 300 and self.early:
            self.early = False
            if self.is_uac:
                self.route_set = tuple(reversed(response.headers.get_all("Record-Route")))
        if method in TARGET_REFRESH_METHODS:
            target = _contact_uri(response.headers)
            if target is not None:
                self.remote_target = target

    # -- where to send

    def next_hop(self) -> tuple[str, int, Transport]:
        """(host, port, transport) of the first Route URI, else of the remote target.

        Without DNS (RFC 3263 §4 reduced to literals): `transport=` picks the transport, `sips`
        means TLS; the port defaults to 5060 (5061 for TLS). IPv6 hosts come without brackets.
        """
        uri = parse_name_addr(self.route_set[0]).uri if self.route_set else self.remote_target
        name = (uri.param("transport") or "").upper()
        if uri.scheme == "sips" or name == "TLS":
            transport = Transport.TLS
        elif name == "TCP":
            transport = Transport.TCP
        else:
            transport = Transport.UDP
        port = uri.port or (5061 if transport is Transport.TLS else 5060)
        return uri.host.strip("[]"), port, transport


__all__ = [
    "MAX_FORWARDS",
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogId",
    "dialog_id_of",
]
