"""Registrar bindings (RFC 3261 §10.3), pure: the caller authenticates and passes `now`.

Several contacts per address-of-record ring together (desk phone + softphone). Each binding
remembers the flow the REGISTER arrived on (`source`): requests to a phone behind NAT go back
to where it sent from, not to the private address in its Contact (the behaviour of RFC 5626
outbound, which phones rarely implement but every installer expects).

Bounds: at most `max_bindings_per_aor` contacts per AOR (the oldest is evicted), expiry clamped
to [min_expires_s, max_expires_s], 423 Interval Too Brief below the minimum.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

from firmware.sip.errors import SipError
from firmware.sip.headers import NameAddr, contact_expires, parse_name_addr
from firmware.sip.message import Request
from firmware.sip.peer import Peer
from firmware.sip.status import SipStatus


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an AOR."""

    aor: str
    contact: NameAddr
    source: Peer
    expires_at: float
    call_id: str
    cseq: int
    user_agent: str = ""

    @property
    def key(self) -> str:
        """Bindings are identified by their contact URI (RFC 3261 §10.3 step 7), or by the
        instance id when the phone sends one (RFC 5626 §4.1)."""
        return self.contact.param("+sip.instance") or str(self.contact.uri)

    def remaining_s(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    min_expires_s: int = 60
    max_expires_s: int = 3600
    default_expires_s: int = 600
    max_bindings_per_aor: int = 10


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """What a REGISTER did: the bindings now current, and which appeared or went away."""

    bindings: tuple[Binding, ...]
    added: tuple[Binding, ...] = ()
    removed: tuple[Binding, ...] = ()


@dataclass(slots=True)
class _Aor:
    bindings: dict[str, Binding] = field(default_factory=dict)


class Registrar:
    """In-memory location service. Registrations are soft state: phones re-register within
    their expiry, so a restart loses nothing that is not restored within minutes."""

    def __init__(self, policy: RegistrarPolicy = RegistrarPolicy()) -> None:
        self.policy = policy
        self._aors: dict[str, _Aor] = {}
        self._expiry: list[tuple[float, str, str]] = []  # (expires_at, aor, key), lazy

    def register(self, aor: str, request: Request, source: Peer, now: float) -> RegisterOutcome:
        """Apply an authenticated REGISTER for `aor`.

        Raises `SipError`: 400 for a malformed Contact or `*` misuse, 423 (the caller adds
        Min-Expires) when an expiry is below the minimum.
        """
        self._expire(now)
        contacts = request.headers.get_all("Contact")
        header_expires = request.headers.get("Expires")
        call_id = request.call_id
        cseq, _ = request.cseq
        entry = self._aors.get(aor)
        if not contacts:  # a query: list current bindings
            return RegisterOutcome(self._current(aor))
        if contacts == ["*"]:
            # RFC 3261 §10.3 step 6: "*" only with Expires: 0, alone.
            if (header_expires or "").strip() != "0":
                raise SipError(SipStatus.BAD_REQUEST, "Contact * needs Expires: 0")
            cleared = tuple(entry.bindings.values()) if entry else ()
            self._aors.pop(aor, None)
            return RegisterOutcome((), removed=cleared)
        if "*" in contacts:
            raise SipError(SipStatus.BAD_REQUEST, "Contact * must stand alone")
        parsed: list[tuple[NameAddr, int]] = []
        for text in contacts:
            contact = parse_name_addr(text)
            expires = contact_expires(contact, header_expires, self.policy.default_expires_s)
            if 0 < expires < self.policy.min_expires_s:
                raise SipError(SipStatus.INTERVAL_TOO_BRIEF, "expiry too brief")
            parsed.append((contact, min(expires, self.policy.max_expires_s)))
        if entry is None:
            entry = self._aors[aor] = _Aor()
        added: list[Binding] = []
        removed: list[Binding] = []
        user_agent = request.headers.get("User-Agent") or ""
        for contact, expires in parsed:
            binding = Binding(aor, contact, source, now + expires, call_id, cseq, user_agent)
            old = entry.bindings.get(binding.key)
            # Step 7: an older request of the same Call-ID must not undo a newer one.
            if old is not None and old.call_id == call_id and old.cseq > cseq:
                continue
            if expires == 0:
                if old is not None:
                    del entry.bindings[binding.key]
                    removed.append(old)
                continue
            if old is None:
                added.append(binding)
            entry.bindings[binding.key] = binding
            heapq.heappush(self._expiry, (binding.expires_at, aor, binding.key))
        while len(entry.bindings) > self.policy.max_bindings_per_aor:
            oldest = min(entry.bindings.values(), key=lambda b: b.expires_at)
            del entry.bindings[oldest.key]
            removed.append(oldest)
        if not entry.bindings:
            del self._aors[aor]
        return RegisterOutcome(self._current(aor), tuple(added), tuple(removed))

    def bindings(self, aor: str, now: float) -> tuple[Binding, ...]:
        """The live contacts of `aor` (expired ones are dropped first)."""
        self._expire(now)
        return self._current(aor)

    def remove_source(self, source: Peer) -> tuple[Binding, ...]:
        """Drop every binding learnt over a stream that closed (its flow is gone)."""
        removed: list[Binding] = []
        for aor in list(self._aors):
            entry = self._aors[aor]
            for key, binding in list(entry.bindings.items()):
                if binding.source == source:
                    del entry.bindings[key]
                    removed.append(binding)
            if not entry.bindings:
                del self._aors[aor]
        return tuple(removed)

    def handle_timers(self, now: float) -> tuple[Binding, ...]:
        """Expire due bindings; returns them so the caller can publish `Unregistered`."""
        return self._expire(now)

    def next_deadline(self) -> float | None:
        while self._expiry:
            at, aor, key = self._expiry[0]
            binding = self._aors.get(aor, _Aor()).bindings.get(key)
            if binding is not None and binding.expires_at == at:
                return at
            heapq.heappop(self._expiry)
        return None

    def __iter__(self) -> Iterator[Binding]:
        for entry in self._aors.values():
            yield from entry.bindings.values()

    def __len__(self) -> int:
        return sum(len(e.bindings) for e in self._aors.values())

    def _current(self, aor: str) -> tuple[Binding, ...]:
        entry = self._aors.get(aor)
        return tuple(entry.bindings.values()) if entry else ()

    def _expire(self, now: float) -> tuple[Binding, ...]:
        gone: list[Binding] = []
        while self._expiry and self._expiry[0][0] <= now:
            at, aor, key = heapq.heappop(self._expiry)
            entry = self._aors.get(aor)
            if entry is None:
                continue
            binding = entry.bindings.get(key)
            if binding is not None and binding.expires_at == at:
                del entry.bindings[key]
                gone.append(binding)
                if not entry.bindings:
                    del self._aors[aor]
        return tuple(gone)
