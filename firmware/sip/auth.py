"""Digest authentication for SIP: server (registrar, calls) and client (trunks).

RFC 3261 §22.4 (Digest in SIP), RFC 7616 §3.3-§3.4 (SHA-256, qop=auth), RFC 8760 §2.4 (SIP
allows SHA-256; a challenge offers SHA-256 first, then MD5), RFC 2069 (no qop) for old phones.

Pure: `now` is passed in (monotonic seconds). The server keeps no state per challenge: a nonce
is `base64url(timestamp_ms ‖ HMAC-SHA-256(secret, realm ‖ timestamp_ms)[:16])`, so a flood of
REGISTERs grows nothing. What does grow is bounded: the replay window of (nonce, nc) pairs
(LRU, 4096 by default) and `FailureThrottle`'s sources (LRU, 4096 by default).

Known and unknown users are treated alike (style §4): an unknown user's response is checked
against a dummy password, and both fail with the same reason. Digests are compared with
`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from firmware.sip.errors import SipParseError
from firmware.sip.headers import AuthParams, parse_auth


class Algorithm(StrEnum):
    """Digest algorithms we speak (RFC 7616 §3.2; RFC 8760 §2.2 for SIP)."""

    SHA256 = "SHA-256"
    MD5 = "MD5"

    @classmethod
    def parse(cls, text: str | None) -> Algorithm | None:
        """The algorithm named by a challenge or credentials (absent means MD5); None for
        one we do not support (e.g. the -sess variants)."""
        if text is None:
            return cls.MD5
        return _ALGORITHMS.get(text.upper())


_ALGORITHMS = {"MD5": Algorithm.MD5, "SHA-256": Algorithm.SHA256}
_CHALLENGE_ORDER = (Algorithm.SHA256, Algorithm.MD5)  # RFC 8760 §2.4: preferred first


def _h(algorithm: Algorithm, text: str) -> str:
    data = text.encode("utf-8")
    if algorithm is Algorithm.SHA256:
        return hashlib.sha256(data).hexdigest()
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def digest_response(
    algorithm: Algorithm,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The `response` value (RFC 7616 §3.4.1; RFC 2069 when `qop` is None).

    HA1 = H(username:realm:password), HA2 = H(method:uri); with qop=auth
    response = H(HA1:nonce:nc:cnonce:qop:HA2), else H(HA1:nonce:HA2).
    """
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop is None:
        return _h(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


class AuthOutcome(StrEnum):
    OK = "ok"
    STALE = "stale"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AuthResult:
    """What `DigestAuthenticator.verify` decided.

    OK: `username` is authenticated. STALE: the credentials were right but the nonce expired;
    answer with `challenge(now, stale=True)`. FAILED: answer 401/407 again (and count it in
    `FailureThrottle`); `reason` is for logs and counters only, never for the peer.
    """

    outcome: AuthOutcome
    username: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is AuthOutcome.OK


# Reasons: stable texts (drop counters). "bad credentials" covers wrong password AND unknown
# user, so that neither replies nor counters tell an attacker which users exist.
BAD_CREDENTIALS = "bad credentials"

_NONCE_TS_BYTES = 8
_NONCE_RANDOM_BYTES = 8
_NONCE_MAC_BYTES = 16
_NONCE_BYTES = _NONCE_TS_BYTES + _NONCE_RANDOM_BYTES + _NONCE_MAC_BYTES
_NONCE_CHARS = 43  # base64url of 32 bytes, padding stripped


class DigestAuthenticator:
    """Server side of digest authentication for one realm.

    `secret` keys the nonce HMAC (≥ 16 random bytes, kept for the life of the process or
    longer); `nonce_ttl_s` is how long a nonce stays fresh; `replay_window` bounds the memory
    of (nonce, nc) pairs used with qop=auth; `algorithms` are offered in that order (default
    SHA-256 then MD5, RFC 8760 §2.4), and credentials using any other are refused.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        nonce_ttl_s: float = 300.0,
        *,
        replay_window: int = 4096,
        algorithms: Sequence[Algorithm] = _CHALLENGE_ORDER,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("digest secret must be at least 16 bytes")
        self.realm = realm
        self._secret = secret
        self._ttl_s = nonce_ttl_s
        self._window = replay_window
        if not algorithms:
            raise ValueError("at least one digest algorithm must be offered")
        # Order matters: many deployed phones (and SIPp) read only the first challenge, so the
        # installer chooses between RFC 8760 preference (SHA-256 first) and compatibility.
        self._algorithms = tuple(algorithms)
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._dummy_password = hmac.new(secret, b"dummy-password", "sha256").hexdigest()

    # --- nonces ---------------------------------------------------------------------------

    def _mac(self, stamp: bytes) -> bytes:
        message = self.realm.encode("utf-8") + b"\x00" + stamp
        return hmac.new(self._secret, message, "sha256").digest()[:_NONCE_MAC_BYTES]

    def make_nonce(self, now: float) -> str:
        """A fresh nonce stamped with `now` (ms resolution). Random bytes make every nonce
        unique: phones start each nonce's count at 1, so two challenges issued in the same
        millisecond must differ or the second phone's credentials look like a replay."""
        stamp = max(0, int(now * 1000)).to_bytes(_NONCE_TS_BYTES, "big")
        stamp += secrets.token_bytes(_NONCE_RANDOM_BYTES)
        return base64.urlsafe_b64encode(stamp + self._mac(stamp)).decode("ascii").rstrip("=")

    def nonce_age_s(self, nonce: str, now: float) -> float | None:
        """Age of a nonce we issued, or None when it is not ours (bad format or signature)."""
        if len(nonce) != _NONCE_CHARS:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return None
        if len(raw) != _NONCE_BYTES:
            return None
        stamp, mac = raw[:-_NONCE_MAC_BYTES], raw[-_NONCE_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(stamp)):
            return None
        return now - int.from_bytes(stamp[:_NONCE_TS_BYTES], "big") / 1000

    # --- challenge and verify -------------------------------------------------------------

    def challenge(self, now: float, *, stale: bool = False) -> list[str]:
        """WWW-Authenticate / Proxy-Authenticate values, one per algorithm in the configured
        order (default SHA-256 first, RFC 8760 §2.4), sharing one nonce; `stale=True` after an
        AuthResult STALE (RFC 7616 §3.3)."""
        nonce = self.make_nonce(now)
        out: list[str] = []
        for algorithm in self._algorithms:
            params: list[tuple[str, str]] = [
                ("realm", self.realm), ("nonce", nonce), ("algorithm", algorithm.value),
                ("qop", "auth"),
            ]
            if stale:
                params.append(("stale", "true"))
            out.append(AuthParams("Digest", tuple(params)).render())
        return out

    def verify(
        self,
        request_method: str,
        auth_header_value: str,
        password_lookup: Callable[[str], str | None],
        now: float,
        *,
        request_uri: str | None = None,
    ) -> AuthResult:
        """Check an Authorization / Proxy-Authorization value for a request.

        `password_lookup(username)` returns the user's SIP password or None for an unknown
        user. With `request_uri`, the credentials' uri must equal it (RFC 7616 §3.4.6). Never
        raises on peer input.
        """
        if auth_header_value.strip().partition(" ")[0].lower() != "digest":
            return _failed("not digest")
        try:
            creds = parse_auth(auth_header_value)
        except SipParseError:
            return _failed("malformed credentials")
        username = creds.get("username")
        realm = creds.get("realm")
        nonce = creds.get("nonce")
        uri = creds.get("uri")
        response = creds.get("response")
        if username is None or realm is None or nonce is None or uri is None or response is None:
            return _failed("incomplete credentials")
        if realm != self.realm:
            return _failed("wrong realm")
        algorithm = Algorithm.parse(creds.get("algorithm"))
        if algorithm is None or algorithm not in self._algorithms:
            # Credentials must use an algorithm we offered: disabling MD5 must mean it.
            return _failed("unsupported algorithm")
        if request_uri is not None and uri != request_uri:
            return _failed("uri mismatch")
        qop = creds.get("qop")
        nc = creds.get("nc")
        cnonce = creds.get("cnonce")
        if qop is not None:
            if qop.lower() != "auth":
                return _failed("unsupported qop")
            if nc is None or cnonce is None or len(nc) != 8 or not _is_hex(nc):
                return _failed("malformed nc or cnonce")
        age_s = self.nonce_age_s(nonce, now)
        if age_s is None:
            return _failed("unknown nonce")

        password = password_lookup(username)
        known = password is not None
        expected = digest_response(
            algorithm, username, realm, password if password is not None else
            self._dummy_password, request_method, uri, nonce, qop=qop, nc=nc, cnonce=cnonce,
        )
        matches = hmac.compare_digest(expected.encode(), response.lower().encode("utf-8"))
        if not (matches and known):
            return _failed(BAD_CREDENTIALS)
        if age_s > self._ttl_s or age_s < -1.0:
            # A nonce from the future is one from before a reboot of the monotonic clock.
            return AuthResult(AuthOutcome.STALE, username, "stale nonce")
        if qop is not None and nc is not None:
            key = (nonce, nc.lower())
            if key in self._seen:
                return _failed("replayed nonce count")
            self._seen[key] = None
            if len(self._seen) > self._window:
                self._seen.popitem(last=False)
        return AuthResult(AuthOutcome.OK, username)


def _failed(reason: str) -> AuthResult:
    return AuthResult(AuthOutcome.FAILED, None, reason)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


# --- client side -------------------------------------------------------------------------


def choose_challenge(values: Iterable[str]) -> AuthParams | None:
    """The challenge a client answers among WWW-/Proxy-Authenticate values: the first
    SHA-256 one, else the first MD5 one (RFC 8760 §2.4); None when none is usable."""
    best: AuthParams | None = None
    for value in values:
        try:
            params = parse_auth(value)
        except SipParseError:
            continue
        if params.scheme.lower() != "digest" or params.get("nonce") is None:
            continue
        algorithm = Algorithm.parse(params.get("algorithm"))
        if algorithm is Algorithm.SHA256:
            return params
        if algorithm is Algorithm.MD5 and best is None:
            best = params
    return best


def compute_response(
    challenge: AuthParams,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int,
    cnonce: str,
) -> str:
    """The Authorization / Proxy-Authorization value answering `challenge` (RFC 7616 §3.4).

    Uses qop=auth when the challenge offers it, else RFC 2069 style (nc and cnonce unused).
    Raises `ValueError` for a challenge without nonce or with an algorithm we lack.
    """
    nonce = challenge.get("nonce")
    realm = challenge.get("realm") or ""
    algorithm = Algorithm.parse(challenge.get("algorithm"))
    if nonce is None or algorithm is None:
        raise ValueError("unusable digest challenge")
    offered = [q.strip().lower() for q in (challenge.get("qop") or "").split(",")]
    qop = "auth" if "auth" in offered else None
    nc_text = f"{nc:08x}"
    response = digest_response(algorithm, username, realm, password, method, uri, nonce,
                               qop=qop, nc=nc_text, cnonce=cnonce)
    params: list[tuple[str, str]] = [
        ("username", username), ("realm", realm), ("nonce", nonce), ("uri", uri),
        ("response", response), ("algorithm", algorithm.value),
    ]
    if qop is not None:
        params += [("cnonce", cnonce), ("qop", qop), ("nc", nc_text)]
    opaque = challenge.get("opaque")
    if opaque is not None:
        params.append(("opaque", opaque))
    return AuthParams("Digest", tuple(params)).render(
        frozenset({"algorithm", "qop", "nc"})  # RFC 7616 §3.4: these are unquoted
    )


# --- throttling --------------------------------------------------------------------------


class FailureThrottle:
    """Locks out a source after `max_failures` auth (or PIN) failures within `window_s`, for
    `lockout_s` seconds (style §4: failures are throttled per source).

    Memory is bounded: at most `max_sources` sources (least recently failed evicted first),
    each with at most `max_failures` timestamps.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        lockout_s: float = 300.0,
        *,
        max_sources: int = 4096,
    ) -> None:
        if max_failures < 1 or max_sources < 1:
            raise ValueError("max_failures and max_sources must be positive")
        self._max = max_failures
        self._window_s = window_s
        self._lockout_s = lockout_s
        self._max_sources = max_sources
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked_until: OrderedDict[str, float] = OrderedDict()

    def retry_after_s(self, source: str, now: float) -> float | None:
        """Seconds until `source` may try again, or None when it is not locked out."""
        until = self._locked_until.get(source)
        if until is None:
            return None
        if now >= until:
            del self._locked_until[source]
            return None
        return until - now

    def allowed(self, source: str, now: float) -> bool:
        return self.retry_after_s(source, now) is None

    def record_failure(self, source: str, now: float) -> bool:
        """Count a failure; True when `source` is (now) locked out."""
        if self.retry_after_s(source, now) is not None:
            return True
        times = self._failures.pop(source, None)
        if times is None:
            times = deque(maxlen=self._max)
        times.append(now)
        while times and now - times[0] > self._window_s:
            times.popleft()
        if len(times) >= self._max:
            self._locked_until[source] = now + self._lockout_s
            self._locked_until.move_to_end(source)
            if len(self._locked_until) > self._max_sources:
                self._locked_until.popitem(last=False)
            return True
        self._failures[source] = times
        if len(self._failures) > self._max_sources:
            self._failures.popitem(last=False)
        return False

    def record_success(self, source: str) -> None:
        """Forget the failures of `source` (a lockout, if any, still runs out)."""
        self._failures.pop(source, None)

    def __len__(self) -> int:
        """Sources currently remembered (failing or locked out)."""
        return len(self._failures) + len(self._locked_until)


__all__ = [
    "BAD_CREDENTIALS",
    "Algorithm",
    "AuthOutcome",
    "AuthResult",
    "DigestAuthenticator",
    "FailureThrottle",
    "choose_challenge",
    "compute_response",
    "digest_response",
]
