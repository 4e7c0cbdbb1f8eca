"""The call controller: the SIP transaction user of the box (registrar front door and B2BUA).

Every call is two or more legs joined here. An INVITE from a registered phone is
authenticated (407), the dialled number looked up in the directory (404 unknown, 480 nobody
registered, 486 busy), the media anchored in a relay session, and the call forked to every
contact of the called user (desk phone + softphone ring together). The first 2xx wins; the
other forks are cancelled. Re-INVITEs (hold/resume), INFO and UPDATE pass across with their
SDP rewritten so that media keeps flowing through the box. Every call ends in exactly one
`CallEnded` event, answered or not: no call is lost without a trace.

Concurrency: everything runs on the loop thread. Handling a SIP event never blocks; the one
awaited step of a call (binding its relay sockets) runs as a supervised task, and an unexpected
exception in it ends that call with `internal_error` while the others stay up.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from firmware.bus import EventBus
from firmware.calls.cos import (
    Action,
    CallRequest,
    CosPolicy,
    Subject,
    SubjectKind,
    TollGuard,
    destination_of,
)
from firmware.calls.dialplan import (
    DialPlan,
    EmergencyTarget,
    ExtensionTarget,
    ExternalTarget,
    FeatureTarget,
    MatchState,
    Target,
)
from firmware.calls.directory import DeviceEntry, Directory, UserEntry
from firmware.calls.events import (
    Answered,
    CallEnded,
    CallHeld,
    CallId,
    CallStarted,
    Cause,
    Diverted,
    LegId,
    LegRinging,
    Registered,
    Transferred,
    Unregistered,
)
from firmware.calls.leg import CallerInfo, LegKind, PortLeg, PortSide
from firmware.calls.modes import ModeService, ModeSwitch
from firmware.calls.sip_leg import LegRole, LegState, SipLeg
from firmware.clock import Clock
from firmware.features.forwarding import (
    Diversion,
    DiversionReason,
    DivertTarget,
    ForwardingTable,
    ForwardKind,
)
from firmware.media import negotiation
from firmware.media.codecs.codec import Encoding
from firmware.media.hold import HoldMusic
from firmware.media.negotiation import LocalMedia
from firmware.media.relay import Direction, MediaEndpoint, MediaRelay, RelayError, RelaySession
from firmware.sip import sdp as sdp_mod
from firmware.sip.auth import AuthOutcome, DigestAuthenticator, FailureThrottle
from firmware.sip.dialog import Dialog
from firmware.sip.errors import SipError
from firmware.sip.headers import parse_name_addr
from firmware.sip.ids import new_branch, new_call_id, new_tag
from firmware.sip.message import Headers, Request, Response, make_response
from firmware.sip.peer import Peer, Transport
from firmware.sip.registrar import Binding, Registrar
from firmware.sip.stack import SipStack
from firmware.sip.status import SipStatus
from firmware.sip.transaction import (
    AckReceived,
    AckTimedOut,
    CancelReceived,
    ClientTransactionId,
    RequestReceived,
    ResponseOverdue,
    ResponseReceived,
    ServerTransactionId,
    TransactionEvent,
    TransactionTimedOut,
    make_cancel,
)
from firmware.sip.uri import parse_uri

log = logging.getLogger(__name__)

USER_AGENT = "Switchbox/0.1"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
# Requests we understand but do not serve yet: 405 with Allow, not 501 (RFC 3261 §8.2.1).
_KNOWN_NOT_ALLOWED = frozenset({"MESSAGE", "PUBLISH", "NOTIFY", "REFER", "PRACK"})
_FORWARDED_IN_DIALOG = frozenset({"INVITE", "INFO", "UPDATE"})
_BAD_EVENT = 489  # RFC 6665 §8.3.2 Bad Event: we publish no event packages yet


_FORWARD_CODES: dict[str, ForwardKind | None] = {
    "dnd_on": ForwardKind.DND,
    "dnd_off": ForwardKind.DND,
    "forward_always": ForwardKind.ALWAYS,
    "forward_busy": ForwardKind.BUSY,
    "forward_no_answer": ForwardKind.NO_ANSWER,
    "forward_cancel": None,
}
"""Feature codes that change the caller's forwarding, and the forward each sets."""

RETRY_AFTER_S = 5
"""Retry-After of a 503 for too many calls from one address (RFC 3261 §20.33)."""


class CallState(StrEnum):
    SETUP = "setup"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """What the controller takes from the configuration."""

    advertise_host: str
    ring_timeout_s: float = 60.0
    media_timeout_s: float = 120.0
    """0: never hang up for lack of media."""
    max_calls_per_source: int = 100
    """Calls in progress from one IP address; more get 503 with Retry-After."""


Leg = SipLeg | PortLeg


@dataclass(frozen=True, slots=True)
class _SipTarget:
    device: DeviceEntry
    uri: str
    peer: Peer


@dataclass(frozen=True, slots=True)
class _PortTarget:
    device: str
    kind: LegKind
    port: str
    dial: str = ""
    handset: int | None = None


_Target = _SipTarget | _PortTarget

PORT_MEDIA = LocalMedia(Encoding.PCMA, 8, 101)
"""What two ports of the box agree between themselves (G.711 A-law, RFC 4733 on 101)."""


@dataclass(eq=False, slots=True)
class Call:
    id: CallId
    caller: str
    caller_device: str
    dialled: str
    a: Leg
    started_at: float
    source: str = ""
    """Whom the per-source call limit counts it against: the caller's address or port."""
    caller_name: str = ""
    state: CallState = CallState.SETUP
    forks: dict[LegId, Leg] = field(default_factory=dict)
    b: Leg | None = None
    relay: RelaySession | None = None
    users: set[str] = field(default_factory=set)
    answered_at: float | None = None
    answered_by: str | None = None
    rung: list[str] = field(default_factory=list)
    forked: int = 0
    """Forks offered so far (numbers their leg ids)."""
    fork_statuses: list[int] = field(default_factory=list)
    ring_timer: asyncio.TimerHandle | None = None
    a_answered_final: bool = False
    pending_b_ack: SipLeg | None = None  # late offer: B's ACK waits for A's answer
    pending_port: PortLeg | None = None  # late offer to a port: its media waits for A's ACK
    subject: Subject | None = None
    """Whose class of service and limits an outside call counts against."""
    action: Action = Action.CALL
    joined: Call | None = None
    """A transfer spliced this call's media to `joined`'s: one ends, the other ends too."""
    splice_on_answer: tuple[Call, PortLeg] | None = None
    """A blind transfer: when this call is answered, splice it to that call (its held leg)."""
    held: bool = False
    chain: tuple[str, ...] = ()
    """Users whose forwarding sent this call on so far (loop and hop limits, class of service)."""
    ringing_user: str | None = None
    """The user whose phones ring now (forward on busy and no answer are theirs)."""
    follow: list[DivertTarget] = field(default_factory=list)
    """Follow-me numbers still to ring, in turn."""
    divert_timer: asyncio.TimerHandle | None = None
    """Forward on no answer, or the next follow-me step."""
    media_packets: int = 0  # RTP + RTCP relayed, last time we looked
    media_seen_at: float = 0.0

    def other(self, leg: Leg) -> Leg | None:
        return self.b if leg is self.a else self.a


@dataclass(frozen=True, slots=True)
class _Forwarded:
    """An in-dialog request we passed from `origin` to the other leg."""

    call: Call
    origin: SipLeg
    target: SipLeg
    request: Request
    server_tx: ServerTransactionId

    @property
    def method(self) -> str:
        return self.request.method


class CallController:
    """The TU of the box. `handle` is called by `SipStack` for every transaction event."""

    def __init__(
        self,
        *,
        stack: SipStack[TransactionEvent, ClientTransactionId, ServerTransactionId],
        directory: Directory,
        registrar: Registrar,
        authenticator: DigestAuthenticator,
        relay: MediaRelay,
        bus: EventBus,
        clock: Clock,
        settings: ControllerSettings,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self._stack = stack
        self.directory = directory
        self._registrar = registrar
        self._auth = authenticator
        self._relay = relay
        self._bus = bus
        self._clock = clock
        self.settings = settings
        self._throttle = throttle
        self.calls: dict[CallId, Call] = {}
        self._calls_from: collections.Counter[str] = collections.Counter()
        """Calls in progress per source address (the caller's leg's host)."""
        self._by_server_tx: dict[ServerTransactionId, Call] = {}
        self._by_client_tx: dict[ClientTransactionId, SipLeg] = {}
        self._legs_call: dict[LegId, Call] = {}
        self._dialogs: dict[tuple[str, str], SipLeg] = {}  # (Call-ID, our tag) → leg
        self._forwarded: dict[ClientTransactionId, _Forwarded] = {}
        self._busy: dict[str, set[CallId]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._leg_ids = itertools.count(1)
        self.internal_errors = 0
        self._sides: dict[LegKind, PortSide] = {}
        self.dial_plan: DialPlan | None = None
        """Routes what is not an extension (trunk access codes, emergency numbers); None:
        extensions only."""
        self.trunk_groups: dict[str, tuple[str, ...]] = {}
        """Trunk group → its city lines (FXO port names) in hunting order."""
        self._hunt_next: dict[str, int] = {}
        self._port_busy: dict[str, int] = {}
        """Calls in progress per port (a line with a held call and a consultation has two)."""
        self._port_legs: dict[LegId, str] = {}
        self.hold_music: HoldMusic | None = None
        """Plays to the party a port put on hold; None: the held party hears silence."""
        self.toll_guard = TollGuard(CosPolicy())
        """Class of service and limits on every outside call (counts survive revisions)."""
        self.forwarding = ForwardingTable(CosPolicy(), self._resolve_number, self._subject_of)
        """Every user's do-not-disturb, forwards and follow-me (set by feature code)."""
        self.forwarding_changed: Callable[[], None] | None = None
        """Called after a feature code changed `forwarding` (the app stores it durably)."""
        self.modes: ModeService | None = None
        """The operating mode (switched by feature code from authorised phones)."""

    @property
    def clock(self) -> Clock:
        return self._clock

    def stats(self) -> dict[str, int]:
        """Sizes of every per-call index: all return to 0 when no call is up (leak check)."""
        return {
            "calls": len(self.calls),
            "server_transactions": len(self._by_server_tx),
            "client_transactions": len(self._by_client_tx),
            "legs": len(self._legs_call),
            "dialogs": len(self._dialogs),
            "forwarded": len(self._forwarded),
            "busy_users": len(self._busy),
            "tasks": len(self._tasks),
            "busy_ports": len(self._port_busy),
            "internal_errors": self.internal_errors,
        }

    # -- configuration --------------------------------------------------------------------------

    def apply_directory(self, directory: Directory) -> None:
        """Take a new configuration revision. Calls in progress keep their legs and media."""
        self.directory = directory

    def apply_routes(self, dial_plan: DialPlan | None,
                     trunk_groups: dict[str, tuple[str, ...]],
                     cos: CosPolicy | None = None) -> None:
        """Take a revision's dial plan, trunk groups and classes of service (calls in
        progress keep theirs; toll counts and locks carry over)."""
        self.dial_plan = dial_plan
        self.trunk_groups = dict(trunk_groups)
        if cos is not None:
            self.toll_guard.policy = cos
            self.forwarding.policy = cos

    def _resolve_number(self, number: str) -> Target | None:
        """A number as a user would dial it, read by the dial plan (forward targets)."""
        user = self.directory.user_by_extension(number)
        if user is not None:
            return ExtensionTarget(number, user.id)
        match = self.dial_plan.resolve(number) if self.dial_plan is not None else None
        if match is None or match.state is not MatchState.COMPLETE:
            return None
        return match.target

    def _subject_of(self, user_id: str) -> Subject:
        entry = self.directory.users.get(user_id)
        return Subject(SubjectKind.EXTENSION, entry.extension if entry else user_id)

    def attach(self, kind: LegKind, side: PortSide) -> None:
        """Let the service that runs `kind` of port take part in calls."""
        self._sides[kind] = side

    # -- entry point ----------------------------------------------------------------------------

    def handle(self, event: TransactionEvent) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event.request, event.source, event.tx)
        elif isinstance(event, ResponseReceived):
            self._on_response(event.response, event.tx)
        elif isinstance(event, AckReceived):
            self._on_ack(event.request)
        elif isinstance(event, CancelReceived):
            self._on_cancel(event.invite_tx)
        elif isinstance(event, TransactionTimedOut):
            self._on_client_timeout(event.tx)
        elif isinstance(event, AckTimedOut):
            self._on_ack_timeout(event.tx)
        elif isinstance(event, ResponseOverdue):
            log.warning("no final response in time for %s", event.tx)

    # -- requests -------------------------------------------------------------------------------

    def _on_request(self, request: Request, source: Peer, tx: ServerTransactionId) -> None:
        method = request.method
        to_tag = _tag(request.headers.get("To"))
        try:
            if to_tag:
                leg = self._dialogs.get((request.call_id, to_tag))
                if leg is None:
                    self._reply(request, tx, SipStatus.CALL_DOES_NOT_EXIST)
                    return
                self._in_dialog(leg, request, tx)
            elif method == "INVITE":
                self._new_call(request, source, tx)
            elif method == "REGISTER":
                self._register(request, source, tx)
            elif method == "OPTIONS":
                self._reply(request, tx, SipStatus.OK, extra=self._capabilities())
            elif method == "SUBSCRIBE":
                self._reply(request, tx, _BAD_EVENT, "Bad Event")
            elif method in ("BYE", "INFO", "UPDATE"):
                self._reply(request, tx, SipStatus.CALL_DOES_NOT_EXIST)
            elif method in _KNOWN_NOT_ALLOWED:
                self._reply(request, tx, SipStatus.METHOD_NOT_ALLOWED, extra=[("Allow", ALLOW)])
            else:
                self._reply(request, tx, SipStatus.NOT_IMPLEMENTED, extra=[("Allow", ALLOW)])
        except SipError as exc:
            log.info("refusing %s %s call-id=%r: %s", method, exc.status, request.call_id,
                     exc.reason)
            if method != "ACK":
                self._reply(request, tx, exc.status, f"{exc.status.phrase} ({exc.reason})")

    def _reply(
        self,
        request: Request,
        tx: ServerTransactionId,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        headers = list(extra)
        if status >= 200 or to_tag:
            headers.append(("Server", USER_AGENT))
        response = make_response(request, status, reason, to_tag=to_tag or _reply_tag(status),
                                 extra=headers, body=body)
        self._stack.send_response(tx, response)

    def _capabilities(self) -> list[tuple[str, str]]:
        return [("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "replaces")]

    # -- registration ---------------------------------------------------------------------------

    def _register(self, request: Request, source: Peer, tx: ServerTransactionId) -> None:
        now = self._clock.now()
        to_uri = parse_name_addr(request.headers.get("To") or "").uri
        aor_user = to_uri.user or ""
        device = self._authenticate(request, source, tx, "Authorization", now)
        if device is None:
            return
        if device.username != aor_user:
            # A phone may only register its own address (no hijacking of another's calls).
            self._reply(request, tx, SipStatus.FORBIDDEN, "Forbidden (wrong address of record)")
            return
        policy = self._registrar.policy
        try:
            outcome = self._registrar.register(device.id, request, source, now)
        except SipError as exc:
            extra = []
            if exc.status == SipStatus.INTERVAL_TOO_BRIEF:
                extra.append(("Min-Expires", str(policy.min_expires_s)))
            self._reply(request, tx, exc.status, extra=extra)
            return
        for binding in outcome.added:
            log.info("registered %s contact %s from %s", device.id, binding.contact.uri, source)
            self._bus.publish(Registered(device.id, str(binding.contact.uri), str(source), now))
        for binding in outcome.removed:
            self._bus.publish(Unregistered(device.id, str(binding.contact.uri), now))
        contacts = [
            ("Contact", str(b.contact.with_param("expires", str(b.remaining_s(now)))))
            for b in outcome.bindings
        ]
        self._reply(request, tx, SipStatus.OK, extra=contacts)

    def connection_closed(self, peer: Peer) -> None:
        """A TCP connection closed: the contacts registered over it cannot be reached any
        more (requests to a phone behind NAT must use the flow it registered on)."""
        now = self._clock.now()
        for binding in self._registrar.remove_source(peer):
            log.info("%s: contact %s dropped, its connection closed", binding.aor,
                     binding.contact.uri)
            self._bus.publish(Unregistered(binding.aor, str(binding.contact.uri), now))

    def expire_registrations(self) -> None:
        """Drop due bindings; the app calls this periodically."""
        now = self._clock.now()
        for binding in self._registrar.handle_timers(now):
            self._bus.publish(Unregistered(binding.aor, str(binding.contact.uri), now))

    def check_media(self) -> None:
        """Hang up answered calls through which no media has passed for `media_timeout_s`
        (the app calls this periodically). RTCP counts: phones send it even during silence
        suppression. Calls on hold are left alone: a held call may be silent by design."""
        timeout = self.settings.media_timeout_s
        if timeout <= 0:
            return
        now = self._clock.now()
        for call in list(self.calls.values()):
            if call.state is not CallState.ANSWERED or call.relay is None:
                continue
            stats = call.relay.stats()
            packets = sum(d.packets + d.rtcp_packets for d in (stats.a_to_b, stats.b_to_a))
            if packets != call.media_packets or call.held:
                call.media_packets = packets
                call.media_seen_at = now
            elif now - call.media_seen_at >= timeout:
                log.warning("%s: no media for %.0f s; hanging up", call.id, timeout)
                self._hang_up(call, None, Cause.TIMEOUT)

    def _authenticate(
        self, request: Request, source: Peer, tx: ServerTransactionId, header: str, now: float
    ) -> DeviceEntry | None:
        """The device a request comes from, or None after answering the challenge/refusal.

        Known and unknown usernames get the same challenge and the same refusal; repeated
        failures from one address are refused outright for a while (toll-fraud guard)."""
        trusted = self.directory.trusted_device_at(source.host)
        if trusted is not None and header == "Proxy-Authorization":
            return trusted
        if self._throttle is not None and not self._throttle.allowed(source.host, now):
            self._reply(request, tx, SipStatus.FORBIDDEN, "Forbidden (too many failures)")
            return None
        challenge_header = "WWW-Authenticate" if header == "Authorization" else "Proxy-Authenticate"
        challenge_status = (
            SipStatus.UNAUTHORIZED if header == "Authorization"
            else SipStatus.PROXY_AUTHENTICATION_REQUIRED
        )
        credentials = request.headers.get(header)
        if credentials is None:
            self._reply(request, tx, challenge_status,
                        extra=[(challenge_header, c) for c in self._auth.challenge(now)])
            return None

        def password_of(username: str) -> str | None:
            device = self.directory.device_by_username(username)
            return device.password if device is not None else None

        result = self._auth.verify(request.method, credentials, password_of, now)
        if result.outcome is AuthOutcome.OK and result.username is not None:
            device = self.directory.device_by_username(result.username)
            if device is not None:
                if self._throttle is not None:
                    self._throttle.record_success(source.host)
                return device
        if result.outcome is AuthOutcome.STALE:
            fresh = self._auth.challenge(now, stale=True)
            self._reply(request, tx, challenge_status,
                        extra=[(challenge_header, c) for c in fresh])
            return None
        if self._throttle is not None:
            self._throttle.record_failure(source.host, now)
        log.info("authentication failed for %s from %s: %s", request.method, source.host,
                 result.reason)
        self._reply(request, tx, SipStatus.FORBIDDEN, "Forbidden")
        return None

    # -- new calls ------------------------------------------------------------------------------

    def _new_call(self, request: Request, source: Peer, tx: ServerTransactionId) -> None:
        now = self._clock.now()
        max_forwards = (request.headers.get("Max-Forwards") or "70").strip()
        if not (max_forwards.isascii() and max_forwards.isdigit()):
            raise SipError(SipStatus.BAD_REQUEST, "malformed Max-Forwards")
        if int(max_forwards) == 0:
            self._reply(request, tx, SipStatus.TOO_MANY_HOPS)
            return
        if request.body and "sdp" not in (request.headers.get("Content-Type") or "").lower():
            self._reply(request, tx, SipStatus.UNSUPPORTED_MEDIA_TYPE,
                        extra=[("Accept", "application/sdp")])
            return
        caller_device = self._authenticate(request, source, tx, "Proxy-Authorization", now)
        if caller_device is None:
            return
        if self._calls_from[source.host] >= self.settings.max_calls_per_source:
            # A phone, a SIP-DECT base or a trunk gone mad must not take every port and line.
            log.warning("refusing a call from %s: %d calls in progress from there",
                        source.host, self._calls_from[source.host])
            self._reply(request, tx, SipStatus.SERVICE_UNAVAILABLE, "Too many calls",
                        extra=[("Retry-After", str(RETRY_AFTER_S))])
            return
        caller_user = self.directory.users.get(caller_device.user)
        dialled = parse_uri(request.uri).user or ""
        call_id = CallId(f"c{next(self._ids)}")
        a = SipLeg(LegId(f"{call_id}-a"), LegRole.INBOUND, source, request, caller_device.id,
                   new_tag(), server_tx=tx)
        call = Call(call_id, caller_user.extension if caller_user else caller_device.id,
                    caller_device.id, dialled, a, now, source=source.host,
                    caller_name=caller_user.name if caller_user else "",
                    subject=Subject(SubjectKind.EXTENSION, caller_user.extension)
                    if caller_user else None)
        if caller_user is not None:
            call.users.add(caller_user.id)
        self._register_call(call)
        self._bus.publish(CallStarted(call_id, call.caller, dialled, now))
        log.info("%s: %s (%s) calls %r", call_id, call.caller, caller_device.id, dialled)
        self._route(call, max(0, int(max_forwards) - 1))

    def originate(self, leg: PortLeg, dialled: str, caller: CallerInfo,
                  user: str | None = None, *, subject: Subject | None = None,
                  action: Action = Action.CALL) -> CallId:
        """A port places a call: an analog phone or handset dialled `dialled`, or a city line
        rings in (`dialled` is where its calls go). `subject` is whose class of service an
        outside call needs (default: `user`'s extension; DISA passes the PIN's owner). Every
        outcome comes back through the port's `PortSide`; the call always ends in one
        `CallEnded`."""
        now = self._clock.now()
        call_id = CallId(f"c{next(self._ids)}")
        leg.id = LegId(f"{call_id}-a")
        if subject is None and user is not None:
            entry = self.directory.users.get(user)
            if entry is not None:
                subject = Subject(SubjectKind.EXTENSION, entry.extension)
        call = Call(call_id, caller.number, leg.device, dialled, leg, now, source=leg.port,
                    caller_name=caller.name, subject=subject, action=action)
        if user is not None:
            call.users.add(user)
        self._hold_port(leg)
        self._register_call(call)
        self._bus.publish(CallStarted(call_id, call.caller, dialled, now))
        log.info("%s: %s (%s) calls %r", call_id, call.caller, leg.device, dialled)
        self._route(call, 70)
        return call_id

    def _route(self, call: Call, max_forwards: int) -> None:
        """Find where `call.dialled` goes and start ringing it; fail the call otherwise."""
        dialled = call.dialled
        if self.directory.user_by_extension(dialled) is None:
            match = self.dial_plan.resolve(dialled) if self.dial_plan is not None else None
            if (match is not None and match.state is MatchState.COMPLETE
                    and isinstance(match.target, FeatureTarget)):
                self._feature(call, match.target)
                return
        targets = self._destination(call, dialled)
        if targets is None:
            return
        self._respond_a(call, SipStatus.TRYING)
        self._spawn(call, self._setup(call, targets, call.caller_name or call.caller,
                                      max_forwards))

    def _destination(self, call: Call, number: str,
                     request: CallRequest | None = None) -> list[_Target] | None:
        """What to ring for `number`, the users' forwarding followed; None after failing the
        call. `request` is a forward's class-of-service request for an outside number."""
        now = self._clock.now()
        user = self.directory.user_by_extension(number)
        if user is None:
            return self._external_targets(call, number, request)
        diversion = self._divert(call, user.id, DiversionReason.ALWAYS)
        if diversion is not None:
            return self._follow(call, diversion)
        targets = self._targets(user, now)
        if not targets:
            diversion = self._divert(call, user.id, DiversionReason.NOT_REACHABLE)
            if diversion is not None:
                return self._follow(call, diversion)
            self._fail(call, SipStatus.TEMPORARILY_UNAVAILABLE, Cause.UNAVAILABLE)
            return None
        if self._busy.get(user.id):
            diversion = self._divert(call, user.id, DiversionReason.BUSY)
            if diversion is not None:
                return self._follow(call, diversion)
            # Call waiting on analog phones and handsets: the station decides (the waiting
            # tone, or busy when it is off or a call already waits). A busy user's SIP
            # phones are not rung: the box answers busy for them.
            targets = [t for t in targets if isinstance(t, _PortTarget)]
            if not targets:
                self._fail(call, SipStatus.BUSY_HERE, Cause.BUSY)
                return None
        call.users.add(user.id)
        call.ringing_user = user.id
        self._busy.setdefault(user.id, set()).add(call.id)
        return targets

    def _divert(self, call: Call, user: str, reason: DiversionReason) -> Diversion | None:
        """`user`'s forwarding for `reason`, or None. Do-not-disturb answers busy at once (a
        `Diversion` without targets), whatever else is set."""
        caller = call.subject or Subject(SubjectKind.INBOUND, call.source)
        diversion = self.forwarding.divert(user, reason, self._clock.now(),
                                           caller=caller, chain=call.chain)
        while (event := self.forwarding.next_event()) is not None:
            log.warning("%s: %s", call.id, event)
        return diversion

    def _follow(self, call: Call, diversion: Diversion) -> list[_Target] | None:
        """Send `call` where `diversion` says: the first of its targets (follow-me keeps the
        others for later steps); busy for do-not-disturb."""
        if not diversion.targets:
            self._fail(call, SipStatus.BUSY_HERE, Cause.BUSY)
            return None
        call.chain = diversion.chain
        first, *rest = diversion.targets
        if diversion.kind is ForwardKind.FOLLOW_ME:
            call.follow = list(rest)
        self._bus.publish(Diverted(call.id, diversion.user, diversion.kind.value, first.number,
                                   self._clock.now()))
        log.info("%s: %s forwards (%s) to %r", call.id, diversion.user, diversion.kind,
                 first.number)
        return self._destination(call, first.number, first.request)

    def _redirect(self, call: Call, diversion: Diversion | DivertTarget) -> None:
        """A ringing call moves on (no answer, busy, the next follow-me number): the phones
        ringing now stop and the new destination rings, over the same relay."""
        if call.state is not CallState.RINGING:
            return
        for leg in list(call.forks.values()):
            self._cancel_fork(leg, Cause.CANCELLED)
        self._unmark_busy(call, call.ringing_user)
        call.ringing_user = None
        if isinstance(diversion, Diversion):
            targets = self._follow(call, diversion)
        else:
            self._bus.publish(Diverted(call.id, call.chain[-1] if call.chain else "",
                                       ForwardKind.FOLLOW_ME.value, diversion.number,
                                       self._clock.now()))
            targets = self._destination(call, diversion.number, diversion.request)
        if targets is not None:
            self._ring(call, targets, call.caller_name or call.caller, 70)

    def _arm_divert(self, call: Call) -> None:
        """After ringing starts: the next follow-me step, or the ringing user's forward on
        no answer."""
        if call.divert_timer is not None:
            call.divert_timer.cancel()
            call.divert_timer = None
        loop = asyncio.get_running_loop()
        if call.follow:
            step = self.forwarding.state(call.chain[-1]).follow_me_step_s if call.chain else 20.0
            call.divert_timer = loop.call_later(step, self._next_follow, call)
        elif call.ringing_user is not None:
            after = self.forwarding.no_answer_s(call.ringing_user)
            if after is not None:
                call.divert_timer = loop.call_later(after, self._no_answer, call,
                                                    call.ringing_user)

    def _next_follow(self, call: Call) -> None:
        call.divert_timer = None
        if call.follow and call.state is CallState.RINGING:
            self._redirect(call, call.follow.pop(0))

    def _no_answer(self, call: Call, user: str) -> None:
        call.divert_timer = None
        if call.state is not CallState.RINGING or call.ringing_user != user:
            return
        diversion = self._divert(call, user, DiversionReason.NO_ANSWER)
        if diversion is not None and diversion.targets:
            self._redirect(call, diversion)

    def _unmark_busy(self, call: Call, user: str | None) -> None:
        if user is None:
            return
        call.users.discard(user)
        ids = self._busy.get(user)
        if ids is not None:
            ids.discard(call.id)
            if not ids:
                del self._busy[user]

    def _external_targets(self, call: Call, number: str,
                          request: CallRequest | None = None) -> list[_Target] | None:
        """A free city line for a number dialled through a trunk access code (or an
        emergency number), or None after failing the call."""
        plan = self.dial_plan
        match = plan.resolve(number) if plan is not None else None
        if match is None or match.state is not MatchState.COMPLETE:
            self._fail(call, SipStatus.NOT_FOUND, Cause.NOT_FOUND)
            return None
        target = match.target
        if isinstance(target, ExternalTarget):
            groups = [target.trunk_group]
            digits = target.number.dialled
        elif isinstance(target, EmergencyTarget):
            # An emergency call takes any free line of any group (never refused).
            groups = [target.trunk_group] if target.trunk_group else list(self.trunk_groups)
            digits = target.number
        else:
            self._fail(call, SipStatus.NOT_FOUND, Cause.NOT_FOUND)
            return None
        if not self._allowed_out(call, target, request):
            return None
        side = self._sides.get(LegKind.FXO)
        for group in groups:
            lines = self.trunk_groups.get(group, ())
            if not lines or side is None:
                continue
            start = self._hunt_next.get(group, 0) % len(lines)
            for i in range(len(lines)):
                port = lines[(start + i) % len(lines)]
                if side.is_free(port) and not self._port_busy.get(port):
                    self._hunt_next[group] = (start + i + 1) % len(lines)
                    log.info("%s: out on %s (group %s)", call.id, port, group)
                    return [_PortTarget(port, LegKind.FXO, port, dial=digits)]
        log.info("%s: no free line for %r", call.id, number)
        self._fail(call, SipStatus.SERVICE_UNAVAILABLE, Cause.UNAVAILABLE)
        return None

    # -- feature codes -----------------------------------------------------------------------

    def _feature(self, call: Call, target: FeatureTarget) -> None:
        """A feature code: do it and confirm (confirmation tone on a port), or fail."""
        feature = target.feature
        caller_user = next(iter(call.users), None)
        log.info("%s: feature %s %r by %s", call.id, feature, target.argument, call.caller)
        if feature in ("pickup", "directed_pickup"):
            victim = self._ringing_call_for(call, target)
            if victim is None or not isinstance(call.a, PortLeg):
                self._fail(call, SipStatus.NOT_FOUND, Cause.NOT_FOUND)
                return
            self._pick_up(call, call.a, victim)
        elif feature in _FORWARD_CODES and caller_user is not None:
            self._set_forwarding(call, caller_user, feature, target.argument)
        elif feature == "mode" and self.modes is not None:
            result = self.modes.switch_by_code(caller_user, target.argument, datetime.now(UTC))
            log.info("%s: mode switch %r by %s: %s", call.id, target.argument, caller_user,
                     result.outcome)
            if result.outcome is ModeSwitch.DONE:
                self._confirm(call)
            else:
                self._fail(call, SipStatus.FORBIDDEN, Cause.REJECTED)
        else:
            log.info("%s: feature %s is not available yet", call.id, feature)
            self._fail(call, SipStatus.NOT_IMPLEMENTED, Cause.NOT_FOUND)

    def _set_forwarding(self, call: Call, user: str, feature: str, argument: str) -> None:
        """Do-not-disturb and forwards from the user's own phone; a forward the user's class
        of service could not dial is refused (403, congestion) and nothing changes."""
        table = self.forwarding
        if feature == "dnd_on":
            table.set(user, ForwardKind.DND)
        elif feature == "dnd_off":
            table.cancel(user, ForwardKind.DND)
        elif feature == "forward_cancel":
            table.cancel(user, None)
        else:
            kind = _FORWARD_CODES[feature]
            assert kind is not None
            refusal = table.set(user, kind, argument)
            if refusal is not None:
                log.info("%s: forward of %s to %r refused: %s %s", call.id, user, argument,
                         refusal.reason, refusal.detail)
                self._fail(call, SipStatus.FORBIDDEN, Cause.REJECTED)
                return
        log.info("%s: %s now %s", call.id, user, table.state(user))
        if self.forwarding_changed is not None:
            self.forwarding_changed()
        self._confirm(call)

    def _confirm(self, call: Call) -> None:
        a = call.a
        call.a_answered_final = True
        if isinstance(a, PortLeg):
            self._sides[a.kind].confirmed(a)
        elif a.server_tx is not None:
            # A SIP phone's feature call: there is no media to confirm with; 603 with the
            # reason says it was done without a call (RFC 3261 §21.6.2).
            self._reply(a.invite, a.server_tx, SipStatus.DECLINE, "Done",
                        to_tag=a.local_tag)
        self._end(call, Cause.NORMAL, SipStatus.OK)

    def _ringing_call_for(self, call: Call, target: FeatureTarget) -> Call | None:
        """The call a pickup takes: the longest-ringing call (the office is one pickup
        group), or for directed pickup the one ringing the dialled extension's devices;
        never a call the picker placed or one that rings the picker."""
        wanted: set[str] | None = None
        if isinstance(target.destination, ExtensionTarget):
            wanted = {d.id for d in self.directory.devices_of(target.destination.user)}
        elif target.feature == "directed_pickup":
            return None
        picker = call.a.device
        for other in sorted(self.calls.values(), key=lambda c: c.started_at):
            if other is call or other.state is not CallState.RINGING or not other.forks:
                continue
            devices = {leg.device for leg in other.forks.values()}
            if other.a.device == picker or picker in devices:
                continue
            if wanted is None or devices & wanted:
                return other
        return None

    def _pick_up(self, call: Call, leg: PortLeg, victim: Call) -> None:
        """Answer `victim` on the picker's phone: its feature call ends quietly and its leg
        becomes the answering fork of the ringing call."""
        self._free_port(leg)
        call.a = PortLeg(leg.id, leg.kind, leg.role, leg.device, leg.port, leg.ref,
                         state=LegState.TERMINATED)
        call.a_answered_final = True
        call.answered_by = leg.device
        self._end(call, Cause.NORMAL, SipStatus.OK)
        leg.id = LegId(f"{victim.id}-p{next(self._leg_ids)}")
        leg.state = LegState.CALLING
        victim.forks[leg.id] = leg
        self._legs_call[leg.id] = victim
        self._hold_port(leg)
        log.info("%s: picked up by %s", victim.id, leg.device)
        self.port_answered(leg)

    def _allowed_out(self, call: Call, target: ExternalTarget | EmergencyTarget,
                     request: CallRequest | None = None) -> bool:
        """Class of service and limits, in the core for every caller (toll restriction is
        never a feature's business); a caller without a user (a city caller sent back out)
        is judged as the inbound callers of its line; a forward's `request` names every
        user whose forward sent the call out. False after failing the call (403; a port
        hears congestion)."""
        if request is None:
            subject = call.subject or Subject(SubjectKind.INBOUND, call.source)
            request = CallRequest(call.action, subject, destination_of(target))
        decision = self.toll_guard.call_started(call.id, request, self._clock.now())
        if decision.allowed:
            return True
        log.warning("%s: refused: %s", call.id, decision.detail)
        self._fail(call, SipStatus.FORBIDDEN, Cause.REJECTED)
        return False

    def _targets(self, user: UserEntry, now: float) -> list[_Target]:
        """Every reachable device of `user`: SIP flows (registered or fixed) and ports."""
        out: list[_Target] = []
        for device in self.directory.devices_of(user.id):
            kind = _device_kind(device)
            if kind is not LegKind.SIP:
                side = self._sides.get(kind)
                if side is not None and device.port is not None:
                    out.append(_PortTarget(device.id, kind, device.port,
                                           handset=device.handset))
                continue
            if device.contact is not None:
                transport = Transport((device.contact.param("transport") or "udp").upper())
                out.append(_SipTarget(device, str(device.contact),
                                      Peer(transport, device.contact.host,
                                           device.contact.port or 5060)))
                continue
            binding: Binding
            for binding in self._registrar.bindings(device.id, now):
                out.append(_SipTarget(device, str(binding.contact.uri), binding.source))
        return out

    async def _setup(
        self, call: Call, targets: list[_Target], caller_name: str, max_forwards: int,
    ) -> None:
        try:
            relay = await self._relay.open_session(label=call.id)
        except RelayError:
            log.error("%s: no media ports free", call.id)
            self._fail(call, SipStatus.SERVICE_UNAVAILABLE, Cause.INTERNAL_ERROR)
            return
        if call.state is CallState.ENDED:  # cancelled while the sockets were being bound
            relay.close()
            return
        call.relay = relay
        a = call.a
        if isinstance(a, PortLeg):
            address = self._port_address(a)
            if address is None:
                self._fail(call, SipStatus.SERVICE_UNAVAILABLE, Cause.INTERNAL_ERROR)
                return
            relay.a.set_remote(address)
        call.state = CallState.RINGING
        self._ring(call, targets, caller_name, max_forwards)

    def _fork_offer(self, call: Call) -> bytes:
        """The SDP offer forks get: the caller's own, pointed at the box; a port's, ours."""
        relay = call.relay
        assert relay is not None
        a = call.a
        if isinstance(a, SipLeg):
            if not a.invite.body:
                return b""
            return self._anchor(a.invite.body, learn=relay.a, expose=relay.b)
        return negotiation.local_offer(self.settings.advertise_host, relay.b.local[1])

    def _ring(self, call: Call, targets: list[_Target], caller_name: str,
              max_forwards: int) -> None:
        """Offer the call to `targets` (SIP forks and ports) and arm the ring timers; fail
        the call when none of them can ring."""
        now = self._clock.now()
        offer = self._fork_offer(call)
        caller = CallerInfo(call.caller, caller_name if caller_name != call.caller else "")
        for target in targets:
            n = call.forked
            call.forked += 1
            if isinstance(target, _SipTarget):
                leg: Leg = self._send_fork(call, n, target.device, target.uri, target.peer,
                                           caller_name, max_forwards, offer)
            else:
                port_leg = self._offer_port(call, n, target, caller)
                if port_leg is None:
                    continue
                leg = port_leg
            call.rung.append(target.device if isinstance(target, _PortTarget)
                             else target.device.id)
            self._bus.publish(LegRinging(call.id, leg.id, leg.device, now))
        if call.state is not CallState.RINGING:
            return  # every port refused at once: the call has failed already
        if not call.forks:
            self._forks_failed(call)
            return
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        loop = asyncio.get_running_loop()
        call.ring_timer = loop.call_later(self.settings.ring_timeout_s, self._ring_timeout, call)
        self._arm_divert(call)

    def _forks_failed(self, call: Call) -> None:
        """Every phone rung refused or failed: the next follow-me number, the ringing user's
        forward on busy, or the caller hears the best failure."""
        if call.state is not CallState.RINGING:
            return
        status, cause = _best_failure(call.fork_statuses)
        if call.follow:
            call.fork_statuses.clear()
            self._redirect(call, call.follow.pop(0))
            return
        user = call.ringing_user
        if user is not None and cause is Cause.BUSY:
            diversion = self._divert(call, user, DiversionReason.BUSY)
            if diversion is not None and diversion.targets:
                call.fork_statuses.clear()
                self._redirect(call, diversion)
                return
        self._fail(call, status, cause)

    def _send_fork(
        self, call: Call, n: int, device: DeviceEntry, uri: str, peer: Peer, caller_name: str,
        max_forwards: int, offer: bytes,
    ) -> SipLeg:
        host, port = self._local(peer.transport)
        tag = new_tag()
        escaped = caller_name.replace("\\", "\\\\").replace('"', '\\"')
        dialled_user = self.directory.users.get(device.user)
        to_user = dialled_user.extension if dialled_user else call.dialled
        headers = Headers([
            ("Via", f"SIP/2.0/{peer.transport} {host}:{port};branch={new_branch()};rport"),
            ("Max-Forwards", str(max_forwards)),
            ("From", f'"{escaped}" <sip:{call.caller}@{host}>;tag={tag}'),
            ("To", f"<sip:{to_user}@{host}>"),
            ("Call-ID", new_call_id(host)),
            ("CSeq", "1 INVITE"),
            ("Contact", self._contact(peer.transport)),
            ("Allow", ALLOW),
            ("User-Agent", USER_AGENT),
        ])
        if offer:
            headers.add("Content-Type", "application/sdp")
        invite = Request("INVITE", uri, headers, offer)
        leg = SipLeg(LegId(f"{call.id}-b{n}"), LegRole.OUTBOUND, peer, invite, device.id, tag)
        call.forks[leg.id] = leg
        self._legs_call[leg.id] = call
        leg.client_tx = self._stack.send_request(invite, peer)
        self._by_client_tx[leg.client_tx] = leg
        return leg

    # -- port legs ----------------------------------------------------------------------------

    def _offer_port(self, call: Call, n: int, target: _PortTarget,
                    caller: CallerInfo) -> PortLeg | None:
        side = self._sides.get(target.kind)
        leg = PortLeg(LegId(f"{call.id}-b{n}"), target.kind, LegRole.OUTBOUND, target.device,
                      target.port, ref=f"{call.id}-b{n}", dial=target.dial,
                      handset=target.handset)
        call.forks[leg.id] = leg
        self._legs_call[leg.id] = call
        self._hold_port(leg)
        if side is None or not side.offer(leg, caller):
            log.info("%s: %s cannot take the call", call.id, target.device)
            self._port_leg_failed(call, leg, SipStatus.BUSY_HERE)
            return None
        if target.kind is LegKind.FXO:
            # A city line is dialled at once; the caller hears the exchange's own tones.
            self._respond_a(call, SipStatus.SESSION_PROGRESS)
        else:
            self._respond_a(call, SipStatus.RINGING)
        return leg

    def _port_address(self, leg: PortLeg) -> tuple[str, int] | None:
        side = self._sides.get(leg.kind)
        return side.media_address(leg) if side is not None else None

    def port_answered(self, leg: PortLeg) -> None:
        """The phone of an offered port leg was lifted (or the city line was dialled)."""
        call = self._legs_call.get(leg.id)
        if call is None or leg is call.a:
            return
        side = self._sides[leg.kind]
        if call.state is not CallState.RINGING or call.b is not None or call.relay is None:
            side.released(leg, Cause.ANSWERED_ELSEWHERE)
            self._port_leg_done(call, leg)
            return
        address = side.media_address(leg)
        if address is None:
            side.released(leg, Cause.INTERNAL_ERROR)
            self._port_leg_failed(call, leg, SipStatus.SERVER_INTERNAL_ERROR)
            return
        relay = call.relay
        relay.b.set_remote(address)
        a = call.a
        now = self._clock.now()
        if isinstance(a, SipLeg):
            if a.invite.body:
                try:
                    body, media = negotiation.answer_offer(
                        a.invite.body, self.settings.advertise_host, relay.a.local[1])
                except SipError as exc:
                    log.info("%s: caller's offer unusable for %s: %s", call.id, leg.device,
                             exc.reason)
                    side.released(leg, Cause.REJECTED)
                    self._port_leg_done(call, leg)
                    self._fail(call, SipStatus.NOT_ACCEPTABLE_HERE, Cause.REJECTED)
                    return
                leg.media = media
                side.answered(leg, relay.b.local, media)
            else:  # late offer: ours goes in the 200, the caller answers in its ACK
                body = negotiation.local_offer(self.settings.advertise_host, relay.a.local[1])
                call.pending_port = leg
            self._connect(call, leg, now)
            contact = self._contact(a.peer.transport)
            a.dialog = Dialog.as_uas(a.invite, a.local_tag, contact)
            a.state = LegState.CONFIRMED
            self._dialogs[(a.call_id, a.local_tag)] = a
            self._respond_a(call, SipStatus.OK,
                            extra=[("Contact", contact), ("Allow", ALLOW),
                                   ("Content-Type", "application/sdp")], body=body)
        else:
            leg.media = PORT_MEDIA
            side.answered(leg, relay.b.local, PORT_MEDIA)
            self._connect(call, leg, now)
            self._answer_port_a(call, a, PORT_MEDIA)
        log.info("%s: answered by %s", call.id, leg.device)

    def _answer_port_a(self, call: Call, a: PortLeg, media: LocalMedia) -> None:
        """The called party answered a port's call: connect the port, or, for the second
        call of a blind transfer, splice the answering party to the held one."""
        a.media = media
        if call.splice_on_answer is not None and call.relay is not None:
            held_call, held_leg = call.splice_on_answer
            call.splice_on_answer = None
            self._splice(held_call, held_leg, call, a)
            return
        if call.relay is not None:
            self._sides[a.kind].answered(a, call.relay.a.local, media)

    def _connect(self, call: Call, leg: Leg, now: float) -> None:
        """`leg` answered: it is the call's B side; every other fork is withdrawn."""
        leg.state = LegState.CONFIRMED
        call.b = leg
        call.state = CallState.ANSWERED
        call.answered_at = now
        call.media_seen_at = now
        call.answered_by = leg.device
        self.toll_guard.call_answered(call.id, now)
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        if call.divert_timer is not None:
            call.divert_timer.cancel()
            call.divert_timer = None
        for other in list(call.forks.values()):
            if other is not leg:
                self._cancel_fork(other, Cause.ANSWERED_ELSEWHERE)
        self._bus.publish(Answered(call.id, leg.id, leg.device, now))

    def port_released(self, leg: PortLeg, cause: Cause = Cause.NORMAL) -> None:
        """A port leaves its call: hang-up, the caller giving up, an offer refused (BUSY) or
        not taken (NO_ANSWER), a city line's exchange clearing."""
        call = self._legs_call.get(leg.id)
        if call is None or leg.state is LegState.TERMINATED:
            return
        leg.state = LegState.TERMINATED
        if leg is call.a:
            if call.state is CallState.ANSWERED:
                log.info("%s: %s hung up", call.id, leg.device)
                self._hang_up(call, leg, Cause.NORMAL)
            else:
                log.info("%s: %s gave up", call.id, leg.device)
                self._fail(call, SipStatus.REQUEST_TERMINATED, Cause.CANCELLED)
        elif leg is call.b:
            log.info("%s: %s hung up", call.id, leg.device)
            self._hang_up(call, leg, Cause.NORMAL)
        else:
            status = {Cause.BUSY: SipStatus.BUSY_HERE, Cause.REJECTED: SipStatus.DECLINE}.get(
                cause, SipStatus.TEMPORARILY_UNAVAILABLE)
            self._port_leg_failed(call, leg, status)

    def _port_leg_failed(self, call: Call, leg: PortLeg, status: int) -> None:
        leg.state = LegState.TERMINATED
        call.fork_statuses.append(status)
        self._port_leg_done(call, leg)
        if call.state is CallState.RINGING and not call.forks:
            self._forks_failed(call)

    def _port_leg_done(self, call: Call, leg: PortLeg) -> None:
        """Forget a port leg that is no part of the call any more."""
        call.forks.pop(leg.id, None)
        self._free_port(leg)  # idempotent: a leg is counted once
        if call.b is not leg and call.a is not leg:
            self._legs_call.pop(leg.id, None)

    def _hold_port(self, leg: PortLeg) -> None:
        self._port_legs[leg.id] = leg.port
        self._port_busy[leg.port] = self._port_busy.get(leg.port, 0) + 1

    def _free_port(self, leg: PortLeg) -> None:
        if self._port_legs.pop(leg.id, None) is None:
            return
        count = self._port_busy.get(leg.port, 0) - 1
        if count > 0:
            self._port_busy[leg.port] = count
        else:
            self._port_busy.pop(leg.port, None)

    def port_hold(self, leg: PortLeg, held: bool) -> None:
        """A port put its call on hold (`held`) or took it back: music to the other party
        meanwhile, and a `CallHeld` event either way."""
        call = self._legs_call.get(leg.id)
        if call is None or call.state is not CallState.ANSWERED or call.relay is None:
            return
        if held == call.held:
            return
        call.held = held
        music = self.hold_music
        if music is not None:
            if held and leg.media is not None:
                direction = Direction.A_TO_B if leg is call.a else Direction.B_TO_A
                music.start(call.id, call.relay, direction, leg.media.codec,
                            leg.media.payload_type)
            else:
                music.stop(call.id)
        self._bus.publish(CallHeld(call.id, leg.id, held, self._clock.now()))
        log.info("%s: %s %s", call.id, leg.device, "holds" if held else "takes it back")

    # -- transfer -------------------------------------------------------------------------------

    def transfer(self, held: PortLeg, active: PortLeg) -> None:
        """A phone joins the far ends of two of its calls and leaves both (flash, dial, hang
        up). The second call may still ring or be routed (a blind transfer): the splice then
        waits for its answer."""
        first, second = self._legs_call.get(held.id), self._legs_call.get(active.id)
        if (first is None or second is None or first is second
                or first.state is not CallState.ANSWERED or first.relay is None):
            log.info("transfer by %s refused: the held call is not up", held.device)
            for leg in (held, active):
                self.port_released(leg)
            return
        now = self._clock.now()
        first.joined, second.joined = second, first
        self._bus.publish(Transferred(first.id, second.id, held.device, now))
        log.info("%s: %s transfers it to %s", first.id, held.device, second.id)
        if second.state is CallState.ANSWERED and second.relay is not None:
            self._splice(first, held, second, active)
        elif second.state in (CallState.SETUP, CallState.RINGING):
            second.splice_on_answer = (first, held)
            self._leave(first, held)
            self._leave(second, active)
        else:
            self.port_released(held)

    def _splice(self, first: Call, held: PortLeg, second: Call, active: PortLeg) -> None:
        """Join the far ends of `first` and `second`: the relay endpoints that faced the
        transferring phone send to each other, so each far end hears the other through both
        relay sessions. Codecs must agree: a port at a far end takes the other's codec."""
        assert first.relay is not None and second.relay is not None
        e1 = first.relay.a if held is first.a else first.relay.b
        e2 = second.relay.a if active is second.a else second.relay.b
        e1.set_remote(e2.local)
        e2.set_remote(e1.local)
        x, y = first.other(held), second.other(active)
        if held.media != active.media and held.media is not None and active.media is not None:
            if isinstance(y, PortLeg):
                ey = second.relay.b if e2 is second.relay.a else second.relay.a
                self._sides[y.kind].answered(y, ey.local, held.media)
            elif isinstance(x, PortLeg):
                ex = first.relay.b if e1 is first.relay.a else first.relay.a
                self._sides[x.kind].answered(x, ex.local, active.media)
            else:
                log.warning("%s: spliced to %s with different codecs (%s, %s)", first.id,
                            second.id, held.media.codec, active.media.codec)
        self._leave(first, held)
        self._leave(second, active)

    def _leave(self, call: Call, leg: PortLeg) -> None:
        """`leg`'s phone is out of `call` without ending it (it transferred the call)."""
        leg.state = LegState.TERMINATED
        call.held = False
        if self.hold_music is not None:
            self.hold_music.stop(call.id)
        self._free_port(leg)
        entry = self.directory.user_of_device(leg.device)
        if entry is not None:
            call.users.discard(entry.id)
            ids = self._busy.get(entry.id)
            if ids is not None:
                ids.discard(call.id)
                if not ids:
                    del self._busy[entry.id]

    # -- responses ------------------------------------------------------------------------------

    def _on_response(self, response: Response, tx: ClientTransactionId) -> None:
        forwarded = self._forwarded.get(tx)
        if forwarded is not None:
            self._on_forwarded_response(forwarded, tx, response)
            return
        leg = self._by_client_tx.get(tx)
        if leg is None or tx.method != "INVITE":
            return  # BYE/CANCEL answers: nothing to do
        call = self._legs_call.get(leg.id)
        if call is None:
            self._settle_orphan(leg, tx, response)
            return
        status = response.status
        if status < 200:
            self._on_fork_provisional(call, leg, response)
        elif status < 300:
            self._on_fork_answered(call, leg, response)
        else:
            self._on_fork_failed(call, leg, status)

    def _on_fork_provisional(self, call: Call, leg: SipLeg, response: Response) -> None:
        if leg.state is LegState.CALLING and response.status > 100:
            leg.state = LegState.EARLY
        leg.provisional = True
        if leg.cancel_pending:
            self._cancel_fork(leg)
            return
        if response.status == 100 or call.state is not CallState.RINGING:
            return
        body = b""
        if response.body and call.relay is not None:
            body = self._anchor(response.body, learn=call.relay.b, expose=call.relay.a)
        status = SipStatus.SESSION_PROGRESS if body else SipStatus.RINGING
        if isinstance(call.a, PortLeg):
            self._respond_a(call, SipStatus.RINGING)  # the port plays its own ringback
            return
        extra = [("Contact", self._contact(call.a.peer.transport))]
        if body:
            extra.append(("Content-Type", "application/sdp"))
        self._respond_a(call, status, extra=extra, body=body)

    def _on_fork_answered(self, call: Call, leg: SipLeg, response: Response) -> None:
        if leg.ack is not None:  # a retransmitted 2xx: our ACK was lost (§13.2.2.4)
            self._stack.send_stateless(leg.ack, leg.peer)
            return
        leg.final_status = response.status
        if call.state is not CallState.RINGING or call.b is not None:
            # Lost the race (another fork answered, or the caller hung up): release it.
            self._release_late_answer(leg, response)
            self._drop_leg(call, leg)
            return
        try:
            leg.dialog = Dialog.as_uac(leg.invite, response)
        except SipError as exc:
            log.warning("%s: unusable 2xx from %s: %s", call.id, leg.device, exc.reason)
            self._on_fork_failed(call, leg, SipStatus.BAD_REQUEST)
            return
        leg.state = LegState.CONFIRMED
        self._dialogs[(leg.dialog.call_id, leg.dialog.local_tag)] = leg
        a = call.a
        if isinstance(a, PortLeg):
            self._port_caller_answered(call, a, leg, response)
            return
        if a.invite.body:
            self._send_ack(leg)
        else:  # late offer: B's ACK carries the answer that A's ACK will bring
            call.pending_b_ack = leg
        now = self._clock.now()
        body = b""
        if response.body and call.relay is not None:
            body = self._anchor(response.body, learn=call.relay.b, expose=call.relay.a)
        self._connect(call, leg, now)
        contact = self._contact(a.peer.transport)
        a.dialog = Dialog.as_uas(a.invite, a.local_tag, contact)
        a.state = LegState.CONFIRMED
        self._dialogs[(a.call_id, a.local_tag)] = a
        extra = [("Contact", contact), ("Allow", ALLOW)]
        if body:
            extra.append(("Content-Type", "application/sdp"))
        self._respond_a(call, SipStatus.OK, extra=extra, body=body)
        log.info("%s: answered by %s", call.id, leg.device)

    def _port_caller_answered(self, call: Call, a: PortLeg, leg: SipLeg,
                              response: Response) -> None:
        """A SIP phone answered a port's call: agree the port's codec from its answer."""
        self._send_ack(leg)
        relay = call.relay
        try:
            if relay is None or not response.body:
                raise SipError(SipStatus.NOT_ACCEPTABLE_HERE, "2xx without an SDP answer")
            self._anchor(response.body, learn=relay.b, expose=relay.a)
            media = negotiation.accepted(response.body)
        except SipError as exc:
            log.warning("%s: %s answered without usable media: %s", call.id, leg.device,
                        exc.reason)
            self._send_bye(leg)
            self._on_fork_failed(call, leg, SipStatus.NOT_ACCEPTABLE_HERE)
            return
        self._connect(call, leg, self._clock.now())
        self._answer_port_a(call, a, media)
        log.info("%s: answered by %s", call.id, leg.device)

    def _on_fork_failed(self, call: Call, leg: SipLeg, status: int) -> None:
        leg.state = LegState.TERMINATED
        leg.final_status = status
        call.fork_statuses.append(status)
        self._drop_leg(call, leg)
        if call.state is CallState.RINGING and not call.forks:
            self._forks_failed(call)

    def _drop_leg(self, call: Call, leg: SipLeg) -> None:
        call.forks.pop(leg.id, None)
        if leg.client_tx is not None:
            self._by_client_tx.pop(leg.client_tx, None)
        if call.b is not leg:
            self._legs_call.pop(leg.id, None)
            if leg.dialog is not None:
                self._dialogs.pop((leg.dialog.call_id, leg.dialog.local_tag), None)

    def _settle_orphan(self, leg: SipLeg, tx: ClientTransactionId, response: Response) -> None:
        """A fork of a call that has ended still answers: cancel it once it rings, release it
        if it answered, forget it on its final response."""
        status = response.status
        if status < 200:
            leg.provisional = True
            if leg.cancel_pending:
                self._cancel_fork(leg)
            return
        self._by_client_tx.pop(tx, None)
        leg.final_status = status
        if status < 300:
            self._release_late_answer(leg, response)

    def _release_late_answer(self, leg: SipLeg, response: Response) -> None:
        """ACK then BYE a 2xx that came too late to be used: a callee must never be left in a
        call nobody hears."""
        try:
            leg.dialog = Dialog.as_uac(leg.invite, response)
        except SipError as exc:
            log.warning("unusable late 2xx from %s: %s", leg.device, exc.reason)
            return
        leg.state = LegState.CONFIRMED
        self._send_ack(leg)
        self._send_bye(leg)

    def _on_client_timeout(self, tx: ClientTransactionId) -> None:
        forwarded = self._forwarded.pop(tx, None)
        if forwarded is not None:
            self._answer_forwarded(forwarded, SipStatus.REQUEST_TIMEOUT)
            return
        leg = self._by_client_tx.get(tx)
        if leg is None:
            return
        call = self._legs_call.get(leg.id)
        if tx.method == "INVITE" and call is not None and leg in call.forks.values():
            self._on_fork_failed(call, leg, SipStatus.REQUEST_TIMEOUT)
        else:
            self._by_client_tx.pop(tx, None)
            leg.final_status = SipStatus.REQUEST_TIMEOUT

    # -- cancel, timeouts, teardown ------------------------------------------------------------

    def _on_cancel(self, invite_tx: ServerTransactionId) -> None:
        call = self._by_server_tx.get(invite_tx)
        if call is None or call.a_answered_final:
            return
        log.info("%s: caller cancelled", call.id)
        self._fail(call, SipStatus.REQUEST_TERMINATED, Cause.CANCELLED)

    def _ring_timeout(self, call: Call) -> None:
        call.ring_timer = None
        if call.state is CallState.RINGING:
            log.info("%s: no answer in %.0f s", call.id, self.settings.ring_timeout_s)
            self._fail(call, SipStatus.TEMPORARILY_UNAVAILABLE, Cause.NO_ANSWER)

    def _on_ack_timeout(self, tx: ServerTransactionId) -> None:
        call = self._by_server_tx.get(tx)
        if call is not None and call.state is CallState.ANSWERED:
            log.warning("%s: caller never acknowledged the answer; hanging up", call.id)
            self._hang_up(call, None, Cause.TIMEOUT)

    def _cancel_fork(self, leg: Leg, cause: Cause = Cause.CANCELLED) -> None:
        if leg.state in (LegState.TERMINATED, LegState.CONFIRMED):
            return
        if isinstance(leg, PortLeg):
            leg.state = LegState.TERMINATED
            call = self._legs_call.get(leg.id)
            self._sides[leg.kind].released(leg, cause)
            if call is not None:
                self._port_leg_done(call, leg)
            return
        if not leg.provisional:
            leg.cancel_pending = True  # §9.1: CANCEL only after a provisional response
            return
        leg.cancel_pending = False
        cancel = make_cancel(leg.invite)
        self._stack.send_request(cancel, leg.peer)

    def _fail(self, call: Call, status: int, cause: Cause) -> None:
        """End an unanswered call: answer the caller `status`, cancel every fork."""
        if call.state is CallState.ENDED:
            return
        if not call.a_answered_final:
            self._respond_a(call, status)
        for leg in list(call.forks.values()):
            self._cancel_fork(leg)
        self._end(call, cause, status)

    def _respond_a(
        self, call: Call, status: int, *, extra: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> None:
        """Tell the caller how its call goes: a SIP response, or the port's tones."""
        a = call.a
        if call.a_answered_final:
            return
        if status >= 200:
            call.a_answered_final = True
        if isinstance(a, PortLeg):
            if a.state is LegState.TERMINATED:
                return
            side = self._sides[a.kind]
            if status >= 300:
                side.failed(a, _cause_of(status))
            elif status in (SipStatus.RINGING, SipStatus.SESSION_PROGRESS) and not a.media:
                if a.state is LegState.CALLING:
                    a.state = LegState.EARLY
                    side.alerting(a)
            return
        if a.server_tx is None:
            return
        if status == SipStatus.TRYING:
            self._reply(a.invite, a.server_tx, status)
            return
        if status < 200:
            extra = [*extra] or [("Contact", self._contact(a.peer.transport))]
        self._reply(a.invite, a.server_tx, status, to_tag=a.local_tag, extra=extra, body=body)

    def _hang_up(self, call: Call, by: Leg | None, cause: Cause) -> None:
        """End an answered call: BYE every confirmed SIP leg except the one that hung up,
        and tell every port but that one."""
        for leg in (call.a, call.b):
            if leg is None or leg is by:
                continue
            if isinstance(leg, PortLeg):
                if leg.state is not LegState.TERMINATED:
                    leg.state = LegState.TERMINATED
                    self._sides[leg.kind].released(leg, cause)
            elif leg.state is LegState.CONFIRMED:
                self._send_bye(leg)
        self._end(call, cause, SipStatus.OK)

    def _end(self, call: Call, cause: Cause, status: int) -> None:
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        now = self._clock.now()
        for timer in (call.ring_timer, call.divert_timer):
            if timer is not None:
                timer.cancel()
        call.ring_timer = call.divert_timer = None
        if call.relay is not None:
            call.relay.close()
        if self.hold_music is not None:
            self.hold_music.stop(call.id)
        self.toll_guard.call_ended(call.id, now)
        for user in call.users:
            ids = self._busy.get(user)
            if ids is not None:
                ids.discard(call.id)
                if not ids:
                    del self._busy[user]
        for leg in (call.a, call.b):
            if leg is not None:
                leg.state = LegState.TERMINATED
                if isinstance(leg, PortLeg):
                    self._free_port(leg)
        for fork in call.forks.values():
            if isinstance(fork, PortLeg):
                self._free_port(fork)
        if self.calls.pop(call.id, None) is not None:
            host = call.source
            self._calls_from[host] -= 1
            if not self._calls_from[host]:
                del self._calls_from[host]
        self._bus.publish(CallEnded(
            call.id, call.caller, call.dialled, cause, status, call.started_at,
            call.answered_at, now, call.answered_by, tuple(call.rung),
        ))
        log.info("%s: ended (%s, %s)", call.id, cause, status)
        joined, call.joined = call.joined, None
        if joined is not None and joined.state is not CallState.ENDED:
            joined.joined = None
            # The transferred party is alone now: a splice that never happened (nobody
            # answered the blind transfer) or the other party left.
            if joined.state is CallState.ANSWERED:
                self._hang_up(joined, None, cause)
            else:
                self._fail(joined, SipStatus.TEMPORARILY_UNAVAILABLE, cause)
        # Indexes of legs still finishing (CANCEL/BYE in flight) are dropped lazily: responses
        # to them find no call and are ignored; in-dialog requests get 481.
        self._forget(call)

    def _forget(self, call: Call) -> None:
        if isinstance(call.a, SipLeg) and call.a.server_tx is not None:
            self._by_server_tx.pop(call.a.server_tx, None)
        for leg in [call.a, call.b, *call.forks.values()]:
            if leg is None:
                continue
            self._legs_call.pop(leg.id, None)
            if isinstance(leg, PortLeg):
                continue
            if leg.dialog is not None:
                self._dialogs.pop((leg.dialog.call_id, leg.dialog.local_tag), None)
            # A fork still waiting for its final response stays known: `_settle_orphan`
            # cancels or releases it and forgets it when that response comes.
            if leg.client_tx is not None and leg.final_status is not None:
                self._by_client_tx.pop(leg.client_tx, None)

    # -- in-dialog requests ---------------------------------------------------------------------

    def _in_dialog(self, leg: SipLeg, request: Request, tx: ServerTransactionId) -> None:
        call = self._legs_call.get(leg.id)
        if call is None or leg.dialog is None or call.state is CallState.ENDED:
            self._reply(request, tx, SipStatus.CALL_DOES_NOT_EXIST)
            return
        leg.dialog.receive_request(request)  # SipError 500 on an out-of-order CSeq
        method = request.method
        if method == "BYE":
            self._reply(request, tx, SipStatus.OK)
            log.info("%s: %s hung up", call.id, leg.device)
            leg.state = LegState.TERMINATED
            self._hang_up(call, leg, Cause.NORMAL)
        elif method in _FORWARDED_IN_DIALOG:
            self._forward(call, leg, request, tx)
        elif method == "OPTIONS":
            self._reply(request, tx, SipStatus.OK, extra=self._capabilities())
        else:
            self._reply(request, tx, SipStatus.METHOD_NOT_ALLOWED, extra=[("Allow", ALLOW)])

    def _port_late_answer(self, call: Call, leg: PortLeg, ack: Request) -> None:
        """The SIP caller's ACK answers the offer we made for a port (late offer)."""
        call.pending_port = None
        relay = call.relay
        try:
            if relay is None or not ack.body:
                raise SipError(SipStatus.NOT_ACCEPTABLE_HERE, "ACK without an SDP answer")
            address = negotiation.remote_address(ack.body)
            if address is not None:
                relay.a.set_remote(address)
            media = negotiation.accepted(ack.body)
        except (SipError, ValueError) as exc:
            log.warning("%s: caller's answer unusable: %s", call.id, exc)
            self._hang_up(call, None, Cause.REJECTED)
            return
        leg.media = media
        self._sides[leg.kind].answered(leg, relay.b.local, media)

    def _answer_for_port(self, call: Call, origin: SipLeg, request: Request,
                         tx: ServerTransactionId) -> None:
        """An in-dialog request from a SIP phone whose other side is a port: the box is
        that side's user agent and answers it (hold, resume, media change, INFO)."""
        if request.method != "INVITE" or not request.body or call.relay is None:
            self._reply(request, tx, SipStatus.OK)
            return
        learn, expose = self._endpoints_from(call, origin)
        try:
            address = negotiation.remote_address(request.body)
            if address is not None:
                learn.set_remote(address)
            body, _ = negotiation.answer_offer(request.body, self.settings.advertise_host,
                                               learn.local[1])
        except (SipError, ValueError) as exc:
            log.info("%s: re-INVITE refused: %s", call.id, exc)
            self._reply(request, tx, SipStatus.NOT_ACCEPTABLE_HERE)
            return
        held = _is_hold(request.body)  # the answer mirrors its direction (RFC 3264 §6.1)
        if held is not None and held != call.held:
            call.held = held
            self._bus.publish(CallHeld(call.id, origin.id, held, self._clock.now()))
        contact = self._contact(origin.peer.transport)
        self._reply(request, tx, SipStatus.OK, to_tag=origin.local_tag,
                    extra=[("Contact", contact), ("Content-Type", "application/sdp")],
                    body=body)

    def _forward(self, call: Call, origin: SipLeg, request: Request,
                 tx: ServerTransactionId) -> None:
        target = call.other(origin)
        if isinstance(target, PortLeg):
            self._answer_for_port(call, origin, request, tx)
            return
        if target is None or target.dialog is None or call.relay is None:
            self._reply(request, tx, SipStatus.REQUEST_PENDING)
            return
        if request.method == "INVITE":
            self._reply(request, tx, SipStatus.TRYING)
        body = request.body
        content_type = request.headers.get("Content-Type")
        if body and content_type and "sdp" in content_type.lower():
            learn, expose = self._endpoints_from(call, origin)
            body = self._anchor(body, learn=learn, expose=expose)
            held = _is_hold(request.body)
            if held is not None:
                call.held = held
                self._bus.publish(CallHeld(call.id, origin.id, held, self._clock.now()))
        host, port = self._local(target.peer.transport)
        contact = self._contact(target.peer.transport) if request.method != "INFO" else None
        out = target.dialog.create_request(
            request.method, via_host=host, via_port=port, transport=target.peer.transport,
            contact=contact, body=body, content_type=content_type if body else None,
        )
        ctx = self._stack.send_request(out, target.peer)
        self._forwarded[ctx] = _Forwarded(call, origin, target, request, tx)

    def _on_forwarded_response(self, fwd: _Forwarded, tx: ClientTransactionId,
                               response: Response) -> None:
        if response.status < 200:
            return
        self._forwarded.pop(tx, None)
        if fwd.method == "INVITE" and response.status < 300 and fwd.target.dialog is not None:
            fwd.target.dialog.update_from_response(response)
            host, port = self._local(fwd.target.peer.transport)
            ack = fwd.target.dialog.create_ack(
                response.cseq[0], via_host=host, via_port=port, transport=fwd.target.peer.transport)
            self._stack.send_stateless(ack, fwd.target.peer)
        body = response.body
        extra: list[tuple[str, str]] = []
        if body and fwd.call.relay is not None:
            learn, expose = self._endpoints_from(fwd.call, fwd.target)
            body = self._anchor(body, learn=learn, expose=expose)
            extra.append(("Content-Type", "application/sdp"))
        if fwd.method == "INVITE" and response.status < 300:
            extra.append(("Contact", self._contact(fwd.origin.peer.transport)))
        self._answer_forwarded(fwd, response.status, response.reason, extra, body)

    def _answer_forwarded(self, fwd: _Forwarded, status: int, reason: str | None = None,
                          extra: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self._reply(fwd.request, fwd.server_tx, status, reason, extra=extra, body=body)

    def _on_ack(self, request: Request) -> None:
        leg = self._dialogs.get((request.call_id, _tag(request.headers.get("To")) or ""))
        if leg is None:
            return
        call = self._legs_call.get(leg.id)
        if call is None or leg is not call.a:
            return
        if call.pending_port is not None:
            self._port_late_answer(call, call.pending_port, request)
            return
        if call.pending_b_ack is None:
            return
        b_leg, call.pending_b_ack = call.pending_b_ack, None
        body = b""
        if request.body and call.relay is not None:
            body = self._anchor(request.body, learn=call.relay.a, expose=call.relay.b)
        self._send_ack(b_leg, body)

    # -- building blocks ------------------------------------------------------------------------

    def _endpoints_from(self, call: Call, origin: SipLeg) -> tuple[MediaEndpoint, MediaEndpoint]:
        """SDP from `origin` teaches its endpoint and exposes the other leg's endpoint."""
        assert call.relay is not None
        if origin is call.a:
            return call.relay.a, call.relay.b
        return call.relay.b, call.relay.a

    def _anchor(self, body: bytes, *, learn: MediaEndpoint, expose: MediaEndpoint) -> bytes:
        """Point the SDP `body` at the box: its audio goes to `expose`'s ports, and the
        sender's own address (from the SDP) primes `learn` until the first packet latches."""
        try:
            session = sdp_mod.parse_sdp(body)
            audio = _audio_index(session)
            if audio is None:
                return body
            remote = sdp_mod.remote_rtp_address(session, audio)
        except SipError as exc:
            log.info("passing unreadable SDP untouched: %s", exc.reason)
            return body
        if remote is not None:
            try:
                learn.set_remote(remote)
            except (ValueError, OSError) as exc:
                log.info("SDP address %r not usable: %s", remote, exc)
        port = expose.local[1]
        # One relayed audio stream per call: other streams (video) are declined with port 0.
        rewritten = sdp_mod.rewrite_connection(
            session, self.settings.advertise_host, lambda i: port if i == audio else 0)
        return rewritten.to_bytes()

    def _send_ack(self, leg: SipLeg, body: bytes = b"") -> None:
        assert leg.dialog is not None
        host, port = self._local(leg.peer.transport)
        leg.ack = leg.dialog.create_ack(
            leg.invite.cseq[0], via_host=host, via_port=port, transport=leg.peer.transport,
            body=body, content_type="application/sdp" if body else None)
        self._stack.send_stateless(leg.ack, leg.peer)

    def _send_bye(self, leg: SipLeg) -> None:
        if leg.dialog is None:
            return
        host, port = self._local(leg.peer.transport)
        bye = leg.dialog.create_request("BYE", via_host=host, via_port=port,
                                        transport=leg.peer.transport)
        leg.state = LegState.TERMINATED
        self._stack.send_request(bye, leg.peer)

    def _local(self, transport: Transport) -> tuple[str, int]:
        _, port = self._stack.local_address(transport)
        return self.settings.advertise_host, port

    def _contact(self, transport: Transport) -> str:
        host, port = self._local(transport)
        suffix = "" if transport is Transport.UDP else f";transport={transport.lower()}"
        return f"<sip:switchbox@{host}:{port}{suffix}>"

    def _register_call(self, call: Call) -> None:
        self.calls[call.id] = call
        self._calls_from[call.source] += 1
        self._legs_call[call.a.id] = call
        if isinstance(call.a, SipLeg) and call.a.server_tx is not None:
            self._by_server_tx[call.a.server_tx] = call

    # -- supervision ----------------------------------------------------------------------------

    def _spawn(self, call: Call, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"call-{call.id}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(call, t))

    def _task_done(self, call: Call, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.internal_errors += 1
            log.error("%s: internal error, ending the call", call.id, exc_info=exc)
            if call.state is CallState.ANSWERED:
                self._hang_up(call, None, Cause.INTERNAL_ERROR)
            else:
                self._fail(call, SipStatus.SERVER_INTERNAL_ERROR, Cause.INTERNAL_ERROR)

    async def shutdown(self, grace_s: float = 0.5) -> None:
        """End every call (BYE the answered, 503 the ringing) and give the BYEs a moment
        (none when there was no call to end)."""
        ended = len(self.calls)
        for call in list(self.calls.values()):
            if call.state is CallState.ANSWERED:
                self._hang_up(call, None, Cause.SHUTDOWN)
            else:
                self._fail(call, SipStatus.SERVICE_UNAVAILABLE, Cause.SHUTDOWN)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if grace_s > 0 and ended:
            # Lets the BYEs leave and most of their answers come back before sockets close.
            await asyncio.sleep(grace_s)


def _audio_index(session: sdp_mod.SessionDescription) -> int | None:
    for index, media in enumerate(session.media):
        if media.media == "audio" and media.port != 0:
            return index
    return None


def _is_hold(body: bytes) -> bool | None:
    """Whether an SDP offer puts the call on hold (sendonly/inactive, RFC 3264 §8.4);
    None when the body says nothing we can read."""
    try:
        session = sdp_mod.parse_sdp(body)
    except SipError:
        return None
    index = _audio_index(session)
    if index is None:
        return None
    return sdp_mod.direction(session.media[index], session) in (
        sdp_mod.Direction.SENDONLY, sdp_mod.Direction.INACTIVE)


def _tag(value: str | None) -> str | None:
    if not value or "tag=" not in value:
        return None
    try:
        return parse_name_addr(value).tag
    except SipError:
        return None


def _reply_tag(status: int) -> str | None:
    """Final responses outside a call carry a To tag of their own (§8.2.6.2)."""
    return new_tag() if status >= 200 else None


def _best_failure(statuses: list[int]) -> tuple[int, Cause]:
    """The response the caller hears when every fork failed (§16.7 step 6, simplified):
    busy beats unavailable, a decline is passed on, otherwise temporarily unavailable."""
    if any(s in (486, 600) for s in statuses):
        return SipStatus.BUSY_HERE, Cause.BUSY
    if 603 in statuses:
        return SipStatus.DECLINE, Cause.REJECTED
    return SipStatus.TEMPORARILY_UNAVAILABLE, Cause.UNAVAILABLE


def _cause_of(status: int) -> Cause:
    """What a port's caller hears for a SIP failure: busy tone for busy, else congestion."""
    if status in (486, 600):
        return Cause.BUSY
    if status == 404:
        return Cause.NOT_FOUND
    if status == 487:
        return Cause.CANCELLED
    if status in (480, 408):
        return Cause.NO_ANSWER
    return Cause.UNAVAILABLE


def _device_kind(device: DeviceEntry) -> LegKind:
    """The technology of a configured device (the config's kinds are the leg kinds)."""
    return LegKind(device.kind.value)

