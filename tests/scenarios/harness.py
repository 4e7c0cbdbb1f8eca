"""The office rehearsal kit: the real box on loopback, and scripted phones that talk to it.

`Box.serve()` runs `firmware.app.serve` in the test's event loop exactly as the service does,
from a configuration file written here (free ports on 127.0.0.1), with the box's event bus in
the test's hands and, where a test needs it, a short ring timeout or faster SIP timers.

`TestPhone` is a SIP phone scripted from the firmware's own pure SIP modules (message, dialog,
auth, sdp) over a real UDP socket, with an RTP socket beside it. It behaves as a plain phone
does on its own — answers BYE and CANCEL, ACKs failures, answers re-INVITEs by mirroring the
direction — and leaves every other decision to the test: `ring()`, `answer()`, `reject()`,
`hangup()`, `hold()`. Every wait is bounded by `WAIT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from interop.ports import free_port, free_udp_range

from firmware.app import serve
from firmware.bus import EventBus
from firmware.cli import RunOptions, prepare
from firmware.media.rtp import RtpHeader, build_rtp, parse_rtp, rtp_payload
from firmware.sip import sdp as sdp_mod
from firmware.sip.auth import (
    choose_challenge,
    compute_response,
)
from firmware.sip.dialog import Dialog
from firmware.sip.headers import parse_via
from firmware.sip.ids import new_branch, new_call_id, new_tag
from firmware.sip.message import Headers, Request, Response, make_response, parse_message
from firmware.sip.peer import Transport
from firmware.sip.transaction import TransactionLayer, make_ack, make_cancel
from hal.board import Board

LOOPBACK = "127.0.0.1"
WAIT_S = 5.0
"""Longest any scenario step may take; a box that needs longer has failed."""
RTP_PORTS = 40


# --- the office ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Device:
    """A phone's SIP account on the box."""

    id: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Extension:
    number: str
    name: str
    devices: tuple[Device, ...]


def _password(username: str) -> str:
    letters = "".join(chr(ord("a") + int(c)) if c.isdigit() else c for c in username)
    return f"rehearse-{letters[::-1]}-Pw!7"


def _device(device_id: str, username: str) -> Device:
    return Device(device_id, username, _password(username))


OFFICE = {
    "201": Extension("201", "Alice", (_device("alice-desk", "201"),)),
    "202": Extension("202", "Bob", (_device("bob-desk", "202"), _device("bob-soft", "202-soft"))),
    "203": Extension("203", "Carol", (_device("carol-desk", "203"),)),
}
"""Alice and Carol have a desk phone each; Bob has a desk phone and a softphone."""


def account(username: str) -> Device:
    """The device that registers as `username`."""
    for ext in OFFICE.values():
        for device in ext.devices:
            if device.username == username:
                return device
    raise KeyError(username)


def office_config(sip_port: int, rtp_start: int,
                  calls: dict[str, float | int] | None = None) -> dict[str, Any]:
    """The configuration document an installer would write for `OFFICE` (`calls`: settings
    of the `calls` section, e.g. a short ring timeout)."""
    return ({"calls": calls} if calls else {}) | {
        "sip": {
            "listen": LOOPBACK, "advertise": LOOPBACK, "port": sip_port,
            "rtp_ports": {"start": rtp_start, "end": rtp_start + RTP_PORTS - 1},
            # In-process tests read relay counters at once; the kernel path has its own tests.
            "kernel_forwarding": False,
        },
        "users": [{"id": f"u{e.number}", "name": e.name, "extension": e.number}
                  for e in OFFICE.values()],
        "devices": [{"id": d.id, "user": f"u{e.number}", "username": d.username,
                     "password": d.password}
                    for e in OFFICE.values() for d in e.devices],
    }


def free_sip_port() -> int:
    """A loopback port free for UDP and TCP right now (the box listens on both)."""
    return free_port()


def free_rtp_range() -> int:
    """First of `RTP_PORTS` consecutive free UDP ports, below the kernel's ephemeral range so
    that no SIP port picked by `free_sip_port` falls inside."""
    return free_udp_range(RTP_PORTS)


# --- the box ------------------------------------------------------------------------------


class _ReadyWatch(io.StringIO):
    """The service's stdout: sets `ready` when the ready line is written."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = asyncio.Event()

    def write(self, text: str) -> int:
        if "switchbox ready" in text:
            self.ready.set()
        return super().write(text)


@dataclass
class Box:
    """The PBX under rehearsal, run by `firmware.app.serve` as the service runs it."""

    port: int
    stop: asyncio.Event
    task: asyncio.Task[Any]
    bus: EventBus

    @property
    def address(self) -> tuple[str, int]:
        return LOOPBACK, self.port

    @classmethod
    async def serve(cls, workdir: Path, *, ring_timeout_s: float | None = None,
                    media_timeout_s: float | None = None, t1_s: float | None = None,
                    max_calls_per_source: int | None = None, board: Board | None = None,
                    extra: Callable[[dict[str, Any]], None] | None = None) -> Box:
        """The service as installed: config file → `prepare` → `serve`, ready line awaited.

        `t1_s` runs the SIP timers faster (Timer B = 64·T1) so that a phone that never answers
        is given up on within the test's patience."""
        port, rtp_start = free_sip_port(), free_rtp_range()
        config = workdir / "switchbox.yaml"
        calls = {name: value for name, value in (("ring_timeout_s", ring_timeout_s),
                                                 ("media_timeout_s", media_timeout_s),
                                                 ("max_calls_per_source", max_calls_per_source))
                 if value is not None}
        document = office_config(port, rtp_start, calls)
        if extra is not None:
            extra(document)
        config.write_text(yaml.safe_dump(document), encoding="utf-8")
        options = RunOptions(data_dir=workdir / "data", config_path=config)
        assert prepare(options, io.StringIO()) == 0, "the office configuration was refused"
        out, stop, bus = _ReadyWatch(), asyncio.Event(), EventBus()
        layer = TransactionLayer() if t1_s is None else TransactionLayer(t1_s=t1_s)
        task = asyncio.get_running_loop().create_task(
            serve(options, out, stop, bus=bus, layer=layer, board=board))
        async with asyncio.timeout(WAIT_S):
            ready = asyncio.ensure_future(out.ready.wait())
            done, _ = await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
        if task in done:
            raise AssertionError(f"serve() exited early with {task.result()}")
        return cls(port, stop, task, bus)

    async def close(self) -> None:
        """Stop the box as SIGTERM does; it must be gone within 2 s."""
        self.stop.set()
        async with asyncio.timeout(2.0):
            result = await self.task
        assert result == 0, f"serve() returned {result}"


# --- the phone ----------------------------------------------------------------------------


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, receive: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.receive = receive

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.receive(data, addr)


def offer_sdp(host: str, rtp_port: int, direction: str = "sendrecv", version: int = 1) -> bytes:
    """A G.711 µ-law audio offer/answer with telephone-event, as desk phones send."""
    return (
        f"v=0\r\no=- 4242 {version} IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        f"a=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class Media:
    """What an SDP body says: where to send RTP and in which direction."""

    host: str
    port: int
    direction: sdp_mod.Direction

    @classmethod
    def of(cls, body: bytes) -> Media:
        session = sdp_mod.parse_sdp(body)
        audio = session.media[0]
        address = sdp_mod.remote_rtp_address(session, 0)
        assert address is not None, f"SDP has no usable audio address: {body!r}"
        return cls(address[0], address[1], sdp_mod.direction(audio, session))


_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


class TestPhone:
    """A scripted SIP phone registered as `username` (see `OFFICE`)."""

    __test__ = False  # not a pytest test class

    def __init__(self, username: str, box: tuple[str, int], *, host: str = LOOPBACK,
                 password: str | None = None, first_nc: int | None = None) -> None:
        self.username = username
        self.password = password if password is not None else account(username).password
        self.box = box
        self.host = host
        self.deaf = False
        """When True the phone drops every SIP packet it receives (unplugged network)."""
        self.requests: list[Request] = []
        self.responses: list[Response] = []
        self.rtp: list[bytes] = []
        """Payloads of every RTP packet received, in order."""
        self.dialog: Dialog | None = None
        self.remote_media: Media | None = None
        self.incoming: Request | None = None
        self._sip: asyncio.DatagramTransport | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self._changed = asyncio.Event()
        self._seen_requests: dict[tuple[str, str], Response | None] = {}
        self._invites: dict[str, Request] = {}  # branch → INVITE we sent
        self._acks: dict[tuple[str, int], Request] = {}  # (Call-ID, CSeq) → our ACK of a 2xx
        self._cseq = itertools.count(1)
        self._nc = itertools.count(first_nc or 1)  # RFC 7616 §3.4: nc starts at 1
        self._seq = itertools.count(1)
        self._local_tag = ""
        self._invite: Request | None = None  # our current outgoing INVITE

    # -- sockets

    async def __aenter__(self) -> TestPhone:
        loop = asyncio.get_running_loop()
        self._sip, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self._on_sip), local_addr=(self.host, 0))
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self._on_rtp), local_addr=(self.host, 0))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for transport in (self._sip, self._rtp):
            if transport is not None:
                transport.close()

    @property
    def sip_port(self) -> int:
        assert self._sip is not None
        port: int = self._sip.get_extra_info("sockname")[1]
        return port

    @property
    def rtp_port(self) -> int:
        assert self._rtp is not None
        port: int = self._rtp.get_extra_info("sockname")[1]
        return port

    @property
    def contact(self) -> str:
        return f"<sip:{self.username}@{self.host}:{self.sip_port}>"

    def send(self, message: Request | Response) -> None:
        assert self._sip is not None
        self._sip.sendto(message.to_bytes(), self.box)

    # -- what arrives

    def _on_sip(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.deaf:
            return
        message = parse_message(data)
        if isinstance(message, Response):
            self._on_response(message)
        else:
            self._on_request(message)
        self._changed.set()

    def _on_request(self, request: Request) -> None:
        branch = parse_via(request.headers.get("Via") or "").branch or ""
        key = (branch, request.method)
        if key in self._seen_requests:  # a retransmission: repeat our answer, if any
            answer = self._seen_requests[key]
            if answer is not None:
                self.send(answer)
            return
        self._seen_requests[key] = None
        self.requests.append(request)
        in_dialog = self.dialog is not None and request.call_id == self.dialog.call_id
        if request.method == "BYE":
            self.respond(request, 200)
            if in_dialog:
                self.dialog = None
        elif request.method == "CANCEL":
            self.respond(request, 200)
            if self.incoming is not None and self.incoming.call_id == request.call_id:
                self.respond(self.incoming, 487, to_tag=self._local_tag)
                self.incoming = None
        elif request.method == "ACK" and in_dialog and request.body:
            self.remote_media = Media.of(request.body)  # late offer: the answer
        elif request.method == "INVITE" and in_dialog:
            assert self.dialog is not None
            self.dialog.receive_request(request)
            direction = Media.of(request.body).direction.value if request.body else "sendrecv"
            self.remote_media = Media.of(request.body) if request.body else self.remote_media
            self.respond(request, 200, body=offer_sdp(self.host, self.rtp_port,
                                                      _MIRROR.get(direction, "sendrecv")),
                         extra=[("Contact", self.contact)])
        elif request.method == "INVITE":
            self.incoming = request
            self._local_tag = new_tag()

    def _on_response(self, response: Response) -> None:
        number, method = response.cseq
        if method == "INVITE" and response.status >= 200:
            branch = parse_via(response.headers.get("Via") or "").branch or ""
            invite = self._invites.get(branch)
            if response.status >= 300 and invite is not None:
                self.send(make_ack(invite, response))  # §17.1.1.3, every copy
            ack = self._acks.get((response.call_id, number))
            if response.status < 300 and ack is not None:
                self.send(ack)  # §13.2.2.4: a retransmitted 2xx means our ACK was lost
                return
        self.responses.append(response)

    def _on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        self.rtp.append(rtp_payload(data, parse_rtp(data)))
        self._changed.set()

    async def _until(self, found: Callable[[], Any], what: str) -> Any:
        try:
            async with asyncio.timeout(WAIT_S):
                while (result := found()) is None:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{self.username}: no {what} within {WAIT_S} s; requests "
                                 f"{[r.method for r in self.requests]}, responses "
                                 f"{[r.status for r in self.responses]}") from None
        return result

    async def expect_request(self, method: str) -> Request:
        """The next unconsumed `method` request (consumed now)."""
        def find() -> Request | None:
            for request in self.requests:
                if request.method == method:
                    self.requests.remove(request)
                    return request
            return None
        result: Request = await self._until(find, f"{method} request")
        return result

    async def expect_response(self, status: int, method: str | None = None) -> Response:
        """The next unconsumed response with `status` (and CSeq `method`), consumed now."""
        def find() -> Response | None:
            for response in self.responses:
                if response.status == status and method in (None, response.cseq[1]):
                    self.responses.remove(response)
                    return response
            return None
        result: Response = await self._until(find, f"{status} response")
        return result

    async def final_response(self, method: str) -> Response:
        """The next final (≥ 200) response to `method`, whatever its status."""
        def find() -> Response | None:
            for response in self.responses:
                if response.status >= 200 and response.cseq[1] == method:
                    self.responses.remove(response)
                    return response
            return None
        result: Response = await self._until(find, f"final response to {method}")
        return result

    def got(self, method: str) -> bool:
        """Whether an unconsumed `method` request has arrived (no waiting)."""
        return any(r.method == method for r in self.requests)

    # -- registration

    def _request(self, method: str, uri: str, to: str, *, call_id: str, from_tag: str,
                 extra: list[tuple[str, str]] | None = None, body: bytes = b"") -> Request:
        headers = Headers([
            ("Via", f"SIP/2.0/UDP {self.host}:{self.sip_port};branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{self.username}@{LOOPBACK}>;tag={from_tag}"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{next(self._cseq)} {method}"),
            ("Contact", self.contact),
            ("User-Agent", "Rehearsal/1"),
            *(extra or []),
        ])
        if body:
            headers.add("Content-Type", "application/sdp")
        return Request(method, uri, headers, body)

    def _authorized(self, request: Request, challenge: Response) -> Request:
        """`request` again with credentials for `challenge` (401 or 407), next CSeq."""
        www = challenge.status == 401
        params = choose_challenge(challenge.headers.get_all(
            "WWW-Authenticate" if www else "Proxy-Authenticate"))
        assert params is not None, "the box sent no usable digest challenge"
        credentials = compute_response(params, request.method, request.uri, self.username,
                                       self.password, next(self._nc), new_tag())
        headers = request.headers.copy()
        headers.set("Via", f"SIP/2.0/UDP {self.host}:{self.sip_port};branch={new_branch()};rport")
        headers.set("CSeq", f"{next(self._cseq)} {request.method}")
        headers.add("Authorization" if www else "Proxy-Authorization", credentials)
        return Request(request.method, request.uri, headers, request.body)

    async def register(self, expires_s: int = 600) -> Response:
        """REGISTER, answering the 401 challenge; the final response (200 when accepted)."""
        aor = f"<sip:{self.username}@{LOOPBACK}>"
        request = self._request("REGISTER", f"sip:{LOOPBACK}:{self.box[1]}", aor,
                                call_id=new_call_id(self.host), from_tag=new_tag(),
                                extra=[("Expires", str(expires_s))])
        self.send(request)
        response = await self.final_response("REGISTER")
        if response.status == 401:
            self.send(self._authorized(request, response))
            response = await self.final_response("REGISTER")
        return response

    async def unregister(self) -> Response:
        return await self.register(expires_s=0)

    # -- calling

    async def dial(self, number: str, *, offer: bytes | None = b"auto",
                   content_type: str = "application/sdp") -> None:
        """Send INVITE for `number`, answering the 407 challenge with our credentials.

        `offer` is the SDP to send: by default one pointing at this phone's RTP socket; None
        sends no body (late offer)."""
        body = offer_sdp(self.host, self.rtp_port) if offer == b"auto" else (offer or b"")
        self._local_tag = new_tag()
        request = self._request("INVITE", f"sip:{number}@{LOOPBACK}:{self.box[1]}",
                                f"<sip:{number}@{LOOPBACK}>", call_id=new_call_id(self.host),
                                from_tag=self._local_tag, body=body)
        if body:
            request.headers.set("Content-Type", content_type)
        self._send_invite(request)
        # The box challenges every INVITE without credentials; anything else (415, 403) is
        # left for the test to read with `connected()`.
        challenge = await self.final_response("INVITE")
        if challenge.status != 407:
            self.responses.insert(0, challenge)
            return
        self._send_invite(self._authorized(request, challenge))

    def _send_invite(self, invite: Request) -> None:
        branch = parse_via(invite.headers.get("Via") or "").branch or ""
        self._invites[branch] = invite
        self._invite = invite
        self.send(invite)

    async def connected(self, *, answer: bytes | None = None) -> Response:
        """Await the final response to our INVITE; on 2xx, ACK it (with `answer` for a late
        offer: by default our SDP when the 2xx carried an offer) and keep the dialog."""
        response = await self.final_response("INVITE")
        if response.status >= 300:
            return response
        assert self._invite is not None
        self.dialog = Dialog.as_uac(self._invite, response)
        if response.body:
            self.remote_media = Media.of(response.body)
        if answer is None and response.body and not self._invite.body:
            answer = offer_sdp(self.host, self.rtp_port)
        ack = self.dialog.create_ack(response.cseq[0], via_host=self.host, via_port=self.sip_port,
                                     transport=Transport.UDP, body=answer or b"",
                                     content_type="application/sdp" if answer else None)
        self._acks[(response.call_id, response.cseq[0])] = ack
        self.send(ack)
        return response

    async def call(self, number: str) -> Response:
        """Dial `number` and wait for the final answer (ACKed when 2xx)."""
        await self.dial(number)
        return await self.connected()

    def cancel(self) -> None:
        """CANCEL our ringing INVITE (§9.1)."""
        assert self._invite is not None
        self.send(make_cancel(self._invite))

    # -- being called

    async def ringing(self) -> Request:
        """Await an incoming INVITE and answer 180 Ringing."""
        invite = await self.expect_request("INVITE")
        self.ring()
        return invite

    def ring(self) -> None:
        assert self.incoming is not None, "no call is ringing here"
        self.respond(self.incoming, 180, to_tag=self._local_tag, extra=[("Contact", self.contact)])

    def answer(self, body: bytes | None = None) -> None:
        """200 OK with our SDP (the answer, or the offer when the INVITE had none)."""
        invite = self.incoming
        assert invite is not None, "no call is ringing here"
        self.incoming = None
        self.dialog = Dialog.as_uas(invite, self._local_tag, self.contact)
        if invite.body:
            with contextlib.suppress(AssertionError, IndexError, sdp_mod.SdpError):
                self.remote_media = Media.of(invite.body)
        self.respond(invite, 200, to_tag=self._local_tag, extra=[("Contact", self.contact)],
                     body=body if body is not None else offer_sdp(self.host, self.rtp_port))

    def reject(self, status: int = 486) -> None:
        assert self.incoming is not None, "no call is ringing here"
        self.respond(self.incoming, status, to_tag=self._local_tag)
        self.incoming = None

    def respond(self, request: Request, status: int, *, to_tag: str | None = None,
                extra: list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        headers = list(extra or [])
        if body:
            headers.append(("Content-Type", "application/sdp"))
        response = make_response(request, status, to_tag=to_tag, extra=headers, body=body)
        branch = parse_via(request.headers.get("Via") or "").branch or ""
        self._seen_requests[(branch, request.method)] = response
        self.send(response)

    # -- in the call

    def in_dialog(self, method: str, body: bytes = b"") -> Request:
        """Send `method` within the current dialog; returns it."""
        assert self.dialog is not None, "not in a call"
        request = self.dialog.create_request(
            method, via_host=self.host, via_port=self.sip_port, transport=Transport.UDP,
            contact=self.contact if method == "INVITE" else None, body=body,
            content_type="application/sdp" if body else None)
        self.send(request)
        return request

    async def hangup(self) -> Response:
        """BYE; the final response to it."""
        self.in_dialog("BYE")
        self.dialog = None
        return await self.final_response("BYE")

    async def reinvite(self, direction: str) -> Response:
        """Re-INVITE with our SDP in `direction`; ACKs the 2xx and returns it."""
        assert self.dialog is not None, "not in a call"
        request = self.in_dialog("INVITE", offer_sdp(self.host, self.rtp_port, direction, 2))
        response = await self.final_response("INVITE")
        if response.status < 300:
            self.dialog.update_from_response(response)
            ack = self.dialog.create_ack(request.cseq[0], via_host=self.host,
                                         via_port=self.sip_port, transport=Transport.UDP)
            self.send(ack)
            if response.body:
                self.remote_media = Media.of(response.body)
        return response

    async def hold(self) -> Response:
        return await self.reinvite("sendonly")

    async def resume(self) -> Response:
        return await self.reinvite("sendrecv")

    # -- media

    def send_rtp(self, payload: bytes, count: int = 1) -> None:
        """Send `count` PCMU packets carrying `payload` to where the box's SDP said."""
        assert self._rtp is not None and self.remote_media is not None, "no media yet"
        for _ in range(count):
            seq = next(self._seq)
            packet = build_rtp(RtpHeader(0, seq & 0xFFFF, seq * 160, 0x5B0C), payload)
            self._rtp.sendto(packet, (self.remote_media.host, self.remote_media.port))

    async def expect_rtp(self, payload: bytes) -> None:
        """Await an RTP packet carrying `payload`."""
        await self._until(lambda: True if payload in self.rtp else None, f"RTP {payload!r}")


# --- the office ----------------------------------------------------------------------------


class Office:
    """A box and the phones opened on it; `async with` closes them all, box last."""

    def __init__(self, box: Box) -> None:
        self.box = box
        self._phones: list[TestPhone] = []

    async def phone(self, username: str, *, register: bool = True, host: str = LOOPBACK,
                    password: str | None = None, first_nc: int | None = None) -> TestPhone:
        """A phone for `username` on `host`, registered (and checked to be) unless told not."""
        phone = await TestPhone(username, self.box.address, host=host, password=password,
                                first_nc=first_nc).__aenter__()
        self._phones.append(phone)
        if register:
            response = await phone.register()
            assert response.status == 200, f"{username} could not register: {response.status}"
        return phone

    async def __aenter__(self) -> Office:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for phone in self._phones:
            await phone.__aexit__()
        await self.box.close()
